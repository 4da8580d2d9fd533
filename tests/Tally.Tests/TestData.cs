using Tally.Catalogs;
using Tally.Aggregation;
using Tally.Core;

namespace Tally.Tests;

/// <summary>Shared fixtures: the repository's bundled data and random crowds for property tests.</summary>
public static class TestData
{
    /// <summary>The repository root (the folder holding Tally.sln).</summary>
    public static string RepoRoot
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "Tally.sln"))) return d.FullName;
            throw new InvalidOperationException("Tally.sln not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>A bundled dataset's answers and truth.</summary>
    public static (LabelMatrix Answers, GoldLabels Truth) Dataset(string name)
    {
        var dir = Path.Combine(RepoRoot, "data", name);
        var m = AnswerFiles.ReadAnswers(Path.Combine(dir, "answers.csv")).Matrix;
        return (m, AnswerFiles.ReadTruth(Path.Combine(dir, "truth.csv"), m).Labels);
    }

    /// <summary>Accuracy (%) of a method on a bundled dataset.</summary>
    public static double AccuracyPercent(IAggregator method, string dataset)
    {
        var (m, truth) = Dataset(dataset);
        return 100 * Accuracy.Of(method.Aggregate(m).Labels.AsSpan(), truth).Value;
    }

    /// <summary>
    /// A random sparse crowd: T tasks, W workers, K classes, each task answered by 1..W distinct workers,
    /// answers random; workers with no answers are possible (they stay in the vocabulary).
    /// </summary>
    public static LabelMatrix RandomMatrix(int seed, int maxTasks = 12, int maxWorkers = 6, int maxClasses = 4)
    {
        var rng = new Random(seed);
        int T = rng.Next(1, maxTasks + 1), W = rng.Next(1, maxWorkers + 1), K = rng.Next(1, maxClasses + 1);
        var ts = new List<int>(); var ws = new List<int>(); var ls = new List<int>();
        for (int t = 0; t < T; t++)
        {
            int n = rng.Next(1, W + 1);
            foreach (var w in Enumerable.Range(0, W).OrderBy(_ => rng.Next()).Take(n))
            {
                ts.Add(t); ws.Add(w); ls.Add(rng.Next(K));
            }
        }
        return LabelMatrix.FromTriples(T, W, K, ts.ToArray(), ws.ToArray(), ls.ToArray());
    }

    /// <summary>Builds a matrix from (task, worker, label) string triples, classes in first-appearance order unless given.</summary>
    public static LabelMatrix Matrix(IEnumerable<(string Task, string Worker, string Label)> answers, IEnumerable<string>? classes = null)
    {
        var b = new LabelMatrixBuilder(classes);
        foreach (var (t, w, l) in answers) b.Add(t, w, l);
        return b.Build().Matrix;
    }

    /// <summary>Every method of the catalog with default options.</summary>
    public static IEnumerable<object[]> AllMethods() => AggregatorCatalog.All.Select(m => new object[] { m.Name });

    /// <summary>True if all posterior rows are finite, non-negative and sum to 1 within 1e-9.</summary>
    public static void AssertValidResult(AggregationResult r)
    {
        var a = r.Answers;
        Assert.Equal(a.TaskCount, r.Posteriors.Rows);
        Assert.Equal(a.ClassCount, r.Posteriors.Columns);
        Assert.Equal(a.TaskCount, r.Labels.Length);
        Assert.Equal(a.WorkerCount, r.WorkerSkills.Length);
        for (int t = 0; t < a.TaskCount; t++)
        {
            double sum = 0;
            foreach (var p in r.Posteriors.Row(t))
            {
                Assert.True(double.IsFinite(p) && p >= 0, $"{r.Method}: posterior {p} of task {t}");
                sum += p;
            }
            Assert.True(Math.Abs(sum - 1) < 1e-9, $"{r.Method}: posterior of task {t} sums to {sum}");
            Assert.InRange(r.Labels[t], 0, a.ClassCount - 1);
            // The label is a most probable class (ties may go either way).
            foreach (var p in r.Posteriors.Row(t)) Assert.True(r.Posteriors[t, r.Labels[t]] >= p - 1e-12, $"{r.Method}: label of task {t} is not a most probable class");
        }
        foreach (var s in r.WorkerSkills) Assert.True(double.IsFinite(s), $"{r.Method}: worker skill {s}");
        foreach (var x in r.LogLikelihoods) Assert.True(double.IsFinite(x), $"{r.Method}: objective {x}");
        foreach (var x in r.ClassPriors) Assert.True(double.IsFinite(x), $"{r.Method}: prior {x}");
        if (r.Confusions is { } c)
            for (int w = 0; w < c.WorkerCount; w++)
                for (int j = 0; j < c.ClassCount; j++)
                {
                    double sum = 0;
                    for (int l = 0; l < c.ClassCount; l++) { Assert.True(double.IsFinite(c[w, j, l])); sum += c[w, j, l]; }
                    Assert.True(Math.Abs(sum - 1) < 1e-9, $"{r.Method}: confusion row sums to {sum}");
                }
    }
}
