using System.Globalization;
using MathNet.Numerics.Distributions;
using Tally.Aggregation;
using Tally.Core;

namespace Tally.Simulation;

/// <summary>A synthetic crowd drawn from the Dawid-Skene model.</summary>
public sealed record DawidSkeneScenario
{
    /// <summary>Number of tasks.</summary>
    public int Tasks { get; init; } = 1000;
    /// <summary>Number of workers.</summary>
    public int Workers { get; init; } = 100;
    /// <summary>Distinct workers answering each task (at most <see cref="Workers"/>).</summary>
    public int PerTask { get; init; } = 5;
    /// <summary>K.</summary>
    public int Classes { get; init; } = 2;
    /// <summary>Mean worker accuracy (diagonal of the confusion matrix).</summary>
    public double Accuracy { get; init; } = 0.7;
    /// <summary>Standard deviation of worker accuracy across workers (accuracies are Beta-distributed); 0 = all equal.</summary>
    public double AccuracySpread { get; init; } = 0.1;
    /// <summary>Seed.</summary>
    public int Seed { get; init; }
    /// <summary>
    /// Share of each class among the tasks (K non-negative numbers summing to 1, e.g. 0.9, 0.1 for an imbalanced
    /// binary set); null = uniform.
    /// </summary>
    public IReadOnlyList<double>? ClassPrior { get; init; }

    /// <summary>Throws <see cref="InvalidOptionException"/> (or another <see cref="TallyUserException"/>) naming the problem if the scenario is impossible.</summary>
    public void Validate()
    {
        if (Tasks < 1) throw new InvalidOptionException("Tasks", "must be at least 1");
        if (Workers < 1) throw new InvalidOptionException("Workers", "must be at least 1");
        if (PerTask < 1 || PerTask > Workers) throw new InvalidOptionException("PerTask", $"must be between 1 and Workers ({Workers})");
        if (Classes < 2) throw new InvalidOptionException("Classes", "must be at least 2");
        if (!(Accuracy > 0 && Accuracy < 1)) throw new InvalidOptionException("Accuracy", "must be strictly between 0 and 1");
        if (AccuracySpread < 0 || AccuracySpread * AccuracySpread >= Accuracy * (1 - Accuracy))
            throw new InvalidOptionException("AccuracySpread", "must be ≥ 0 and below √(accuracy·(1−accuracy))");
        if (ClassPrior is { } cp)
        {
            if (cp.Count != Classes) throw new InvalidOptionException("ClassPrior", $"needs {Classes} shares, one per class (got {cp.Count})");
            foreach (var x in cp) if (!(x >= 0 && x <= 1)) throw new InvalidOptionException("ClassPrior", "shares must lie in [0, 1]");
            if (Math.Abs(cp.Sum() - 1) > 1e-9) throw new InvalidOptionException("ClassPrior", "shares must sum to 1");
        }
        if ((long)Tasks * PerTask > int.MaxValue) throw new TallyUserException("tasks × per-task exceeds 2^31 answers.");
    }
}

/// <summary>What <see cref="DawidSkeneSimulator"/> drew.</summary>
/// <param name="Answers">The answers (task i is named "i", worker j "j", class c "c").</param>
/// <param name="Truth">True class of every task.</param>
/// <param name="WorkerConfusions">The confusion matrix each worker answered with.</param>
public sealed record SimulatedCrowd(LabelMatrix Answers, GoldLabels Truth, ConfusionMatrices WorkerConfusions);

/// <summary>
/// Draws answers from the Dawid-Skene generative model: task classes uniform over K (or drawn from the scenario's class prior); worker w has accuracy
/// a_w ~ Beta with the scenario's mean and spread, confusion row j = a_w on the diagonal and (1 − a_w) spread over
/// the other classes by a Dirichlet(1) draw; each task is answered by <c>PerTask</c> distinct uniformly chosen workers.
/// The same scenario (seed included) gives the same answers whether built in memory or written to CSV.
/// </summary>
public sealed class DawidSkeneSimulator
{
    /// <summary>Builds the crowd in memory.</summary>
    public SimulatedCrowd Generate(DawidSkeneScenario scenario)
    {
        scenario.Validate();
        var builder = new LabelMatrixBuilder(Vocabulary.Numbered(scenario.Tasks), Vocabulary.Numbered(scenario.Workers),
            Vocabulary.Numbered(scenario.Classes));
        var (truth, conf) = Draw(scenario, builder.Add);
        var matrix = builder.Build(DuplicatePolicy.KeepAll).Matrix;
        return new SimulatedCrowd(matrix, new GoldLabels(truth, scenario.Classes),
            new ConfusionMatrices(scenario.Workers, scenario.Classes, conf));
    }

    /// <summary>Streams the crowd to an answers CSV (task,worker,label) and a truth CSV (task,truth) without holding it in memory.</summary>
    public void WriteCsv(DawidSkeneScenario scenario, string answersPath, string? truthPath, Action<double>? progress = null)
    {
        scenario.Validate();
        var inv = CultureInfo.InvariantCulture;
        int[] truth;
        AtomicFile.WriteText(answersPath, w =>
        {
            w.WriteLine("task,worker,label");
            long total = (long)scenario.Tasks * scenario.PerTask, n = 0;
            (truth, _) = Draw(scenario, (t, wk, l) =>
            {
                w.Write(t.ToString(inv)); w.Write(','); w.Write(wk.ToString(inv)); w.Write(','); w.WriteLine(l.ToString(inv));
                if (progress is not null && (++n & 0xFFFFF) == 0) progress((double)n / total);
            });
            if (truthPath is not null)
            {
                AtomicFile.WriteText(truthPath, tw =>
                {
                    tw.WriteLine("task,truth");
                    for (int t = 0; t < truth.Length; t++) { tw.Write(t.ToString(inv)); tw.Write(','); tw.WriteLine(truth[t].ToString(inv)); }
                });
            }
        });
    }

    private static (int[] Truth, double[] Confusions) Draw(DawidSkeneScenario s, Action<int, int, int> emit)
    {
        var rng = Seeding.Random(s.Seed);
        int k = s.Classes, W = s.Workers;
        MemoryBudget.Require("simulate ds", 2 * Footprint.Doubles((double)W * k * k), $"{W:N0} workers × {k:N0}² confusion entries",
            "simulate fewer workers or classes", null);
        var conf = new double[MemoryBudget.Length(W, k, k)];
        var cumulative = new double[MemoryBudget.Length(W, k, k)];
        double m = s.Accuracy, sd = s.AccuracySpread;
        double nu = sd > 0 ? m * (1 - m) / (sd * sd) - 1 : 0;
        var other = new double[k - 1];
        for (int w = 0; w < W; w++)
        {
            double acc = sd > 0 ? Beta.Sample(rng, m * nu, (1 - m) * nu) : m;
            for (int j = 0; j < k; j++)
            {
                double sum = 0;
                for (int i = 0; i < other.Length; i++) { other[i] = Exponential.Sample(rng, 1.0); sum += other[i]; }
                var row = conf.AsSpan((w * k + j) * k, k);
                for (int l = 0, i = 0; l < k; l++) row[l] = l == j ? acc : (1 - acc) * other[i++] / sum;
                double c = 0;
                for (int l = 0; l < k; l++) { c += row[l]; cumulative[(w * k + j) * k + l] = c; }
                cumulative[(w * k + j) * k + k - 1] = 1.0;
            }
        }
        var truth = new int[s.Tasks];
        double[]? classCumulative = null;
        if (s.ClassPrior is { } cp)
        {
            classCumulative = new double[k];
            double c = 0;
            for (int j = 0; j < k; j++) classCumulative[j] = c += cp[j];
            classCumulative[k - 1] = 1.0;
        }
        var perm = new int[W];
        for (int i = 0; i < W; i++) perm[i] = i;
        for (int t = 0; t < s.Tasks; t++)
        {
            int y;
            if (classCumulative is null) y = rng.Next(k);
            else
            {
                double u = rng.NextDouble();
                y = 0;
                while (y < k - 1 && u >= classCumulative[y]) y++;
            }
            truth[t] = y;
            // Partial Fisher-Yates: the first PerTask entries become a uniform sample without replacement, and the
            // array stays a permutation, so no reset is needed between tasks.
            for (int i = 0; i < s.PerTask; i++)
            {
                int j = i + rng.Next(W - i);
                (perm[i], perm[j]) = (perm[j], perm[i]);
                int w = perm[i];
                double u = rng.NextDouble();
                var cum = cumulative.AsSpan((w * k + y) * k, k);
                int l = 0;
                while (l < k - 1 && u >= cum[l]) l++;
                emit(t, w, l);
            }
        }
        return (truth, conf);
    }
}
