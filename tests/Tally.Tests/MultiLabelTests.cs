using System.Globalization;
using Tally.Aggregation.MultiLabel;
using Tally.Application;
using Tally.Catalogs;
using Tally.Core;

namespace Tally.Tests;

/// <summary>Multi-label answers by binary relevance: vote shares by hand, recovery of true sets, errors, row order.</summary>
public sealed class MultiLabelTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-multilabel-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string File(string name, params string[] lines)
    {
        var path = Path.Combine(_dir, name);
        System.IO.File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void With_majority_vote_each_label_gets_its_share_of_the_votes()
    {
        // Task 1: {cat, dog}, {cat}, {} → cat 2/3, dog 1/3; task 2: {dog}, {dog, cat}, {dog} → cat 1/3, dog 1.
        var path = File("a.csv", "task,worker,label", "1,w1,cat|dog", "1,w2,cat", "1,w3,", "2,w1,dog", "2,w2,dog|cat", "2,w3,dog|dog");
        var o = MultiLabelJob.Run(new MultiLabelRequest { Answers = new InputSource(path, null), Method = "mv", OutputDirectory = Path.Combine(_dir, "out") });
        Assert.Equal(["cat", "dog"], o.Result.Answers.Labels.Names);
        Assert.Equal(2.0 / 3, o.Result.Probabilities[0, 0], 12);
        Assert.Equal(1.0 / 3, o.Result.Probabilities[0, 1], 12);
        Assert.Equal(1.0 / 3, o.Result.Probabilities[1, 0], 12);
        Assert.Equal(1.0, o.Result.Probabilities[1, 1], 12);
        // From a stream, in memory (as a service would call it): the same probabilities.
        using (var stream = System.IO.File.OpenRead(path))
        {
            var again = MultiLabelJob.Fit(MultiLabelAnswers.Read(stream, "upload"), "mv");
            Assert.Equal(o.Result.Probabilities.Values.ToArray(), again.Probabilities.Values.ToArray());
        }
        var lines = System.IO.File.ReadAllLines(Path.Combine(_dir, "out", "labels.csv"));
        Assert.Equal("task,labels,p_cat,p_dog", lines[0]);
        Assert.StartsWith("1,cat,", lines[1]);
        Assert.StartsWith("2,dog,", lines[2]);
    }

    [Fact]
    public void Binary_relevance_recovers_true_label_sets_of_a_noisy_crowd()
    {
        // 400 tasks, 4 labels each present with probability 0.3; 5 of 30 workers per task; careful workers flip a
        // label's membership with probability 0.15, the 6 sloppy ones with 0.45.
        var rng = new Random(11);
        string[] names = ["a", "b", "c", "d"];
        var truth = new bool[400, 4];
        var lines = new List<string> { "task,worker,label" };
        for (int t = 0; t < 400; t++)
        {
            for (int l = 0; l < 4; l++) truth[t, l] = rng.NextDouble() < 0.3;
            foreach (int w in Enumerable.Range(0, 30).OrderBy(_ => rng.Next()).Take(5))
            {
                double flip = w < 6 ? 0.45 : 0.15;
                var set = Enumerable.Range(0, 4).Where(l => truth[t, l] ^ (rng.NextDouble() < flip)).Select(l => names[l]);
                lines.Add($"{t},{w},{string.Join('|', set)}");
            }
        }
        var path = File("sim.csv", [.. lines]);
        double Accuracy(string method)
        {
            var r = MultiLabelJob.Run(new MultiLabelRequest { Answers = new InputSource(path, null), Method = method }).Result;
            int right = 0;
            for (int t = 0; t < 400; t++)
            {
                int task = r.Answers.Sets.Tasks.IndexOf(t.ToString(CultureInfo.InvariantCulture));
                for (int l = 0; l < 4; l++) if ((r.Probabilities[task, l] >= 0.5) == truth[t, l]) right++;
            }
            return right / 1600.0;
        }
        double mv = Accuracy("mv"), ds = Accuracy("ds");
        // Five answers at these error rates: majority vote gets ≈ 93 % of memberships; DS, weighting the careful, more.
        Assert.InRange(mv, 0.88, 0.98);
        Assert.True(ds >= mv, $"ds {ds} < mv {mv}");
    }

    [Fact]
    public void Shuffled_rows_give_identical_files_for_every_method()
    {
        var rng = new Random(2);
        var lines = new List<string> { "task,worker,label" };
        for (int t = 0; t < 60; t++)
            for (int w = 0; w < 4; w++)
                lines.Add($"t{t},w{(t + w) % 9},{string.Join('|', new[] { "x", "y", "z" }.Where(_ => rng.NextDouble() < 0.4))}");
        var a = File("in.csv", [.. lines]);
        var b = File("shuffled.csv", [lines[0], .. lines.Skip(1).OrderBy(_ => rng.Next())]);
        foreach (var m in AggregatorCatalog.All)
        {
            MultiLabelJob.Run(new MultiLabelRequest { Answers = new InputSource(a, null), Method = m.Name, OutputDirectory = Path.Combine(_dir, m.Name, "a") });
            MultiLabelJob.Run(new MultiLabelRequest { Answers = new InputSource(b, null), Method = m.Name, OutputDirectory = Path.Combine(_dir, m.Name, "b") },
                new ComputeOptions { MaxDegreeOfParallelism = 1 });
            foreach (var f in new[] { "labels.csv", "workers.csv" })
            {
                var x = System.IO.File.ReadAllText(Path.Combine(_dir, m.Name, "a", f));
                Assert.Equal(x, System.IO.File.ReadAllText(Path.Combine(_dir, m.Name, "b", f)));
                Assert.DoesNotContain("NaN", x);
            }
        }
    }

    [Fact]
    public void An_empty_label_between_separators_and_an_unknown_label_are_errors_with_their_line()
    {
        var path = File("bad.csv", "task,worker,label", "1,w1,a|b", "1,w2,a||b");
        var e = Assert.Throws<TallyDataException>(() => MultiLabelAnswers.Read(path));
        Assert.Contains("bad.csv:3:", e.Message);
        Assert.Contains("empty label", e.Message);
        var unknown = File("unknown.csv", "task,worker,label", "1,w1,a|c");
        e = Assert.Throws<TallyDataException>(() => MultiLabelAnswers.Read(unknown, new AnswerFileOptions(Classes: ["a", "b"])));
        Assert.Contains("unknown.csv:2:", e.Message);
        Assert.Contains("label 'c' is not one of the given labels", e.Message);
    }
}
