using MathNet.Numerics.Distributions;
using Tally.Aggregation;
using Tally.Data;

namespace Tally.Simulation;

/// <summary>A synthetic crowd on an (l, r)-regular random task–worker graph with one-coin workers.</summary>
public sealed record RegularAssignmentScenario
{
    /// <summary>Number of tasks.</summary>
    public int Tasks { get; init; } = 1000;
    /// <summary>l: workers per task.</summary>
    public int PerTask { get; init; } = 3;
    /// <summary>r: tasks per worker; Tasks × PerTask must be a multiple of it (the worker count is their quotient).</summary>
    public int PerWorker { get; init; } = 4;
    /// <summary>K.</summary>
    public int Classes { get; init; } = 2;
    /// <summary>a of the Beta(a, b) that worker accuracies are drawn from (default Beta(2, 1), paper 003's Dir(2, 1)).</summary>
    public double AccuracyA { get; init; } = 2;
    /// <summary>b of the Beta(a, b) that worker accuracies are drawn from.</summary>
    public double AccuracyB { get; init; } = 1;
    /// <summary>Seed.</summary>
    public int Seed { get; init; }

    /// <summary>Number of workers, Tasks × PerTask / PerWorker.</summary>
    public int Workers => (int)((long)Tasks * PerTask / PerWorker);

    /// <summary>Throws <see cref="ArgumentException"/> if the scenario is impossible.</summary>
    public void Validate()
    {
        if (Tasks < 1 || PerTask < 1 || PerWorker < 1) throw new ArgumentException("Tasks, PerTask and PerWorker must be at least 1.");
        if ((long)Tasks * PerTask % PerWorker != 0) throw new ArgumentException("Tasks × PerTask must be a multiple of PerWorker.");
        if (PerTask > Workers) throw new ArgumentException("PerTask exceeds the number of workers.");
        if (PerWorker > Tasks) throw new ArgumentException("PerWorker exceeds the number of tasks.");
        if (Classes < 2) throw new ArgumentException("Classes must be at least 2.");
        if (!(AccuracyA > 0 && AccuracyB > 0)) throw new ArgumentException("The Beta parameters must be positive.");
    }
}

/// <summary>
/// Draws the synthetic setting of Kim, Cho, Kim &amp; Ok (AISTATS 2022, Section 4) and Liu, Peng &amp; Ihler (NIPS
/// 2012): an (l, r)-regular bipartite assignment graph from the configuration model (each task has l slots, each
/// worker r, slots matched by a uniform random permutation, repeated task–worker pairs removed by random swaps), true
/// classes uniform, and one-coin workers: accuracy p_w ~ Beta(a, b), wrong answers uniform over the other classes.
/// Such graphs are locally tree-like, the regime where BP is asymptotically optimal (Ok et al., ICML 2016).
/// </summary>
public sealed class RegularAssignmentSimulator
{
    /// <summary>Builds the crowd in memory.</summary>
    public SimulatedCrowd Generate(RegularAssignmentScenario s)
    {
        s.Validate();
        var rng = new Random(s.Seed);
        int T = s.Tasks, l = s.PerTask, W = s.Workers, k = s.Classes, n = T * l;
        var worker = new int[n];                  // slot e belongs to task e / l
        for (int e = 0; e < n; e++) worker[e] = e / s.PerWorker;
        for (int e = n - 1; e > 0; e--) { int j = rng.Next(e + 1); (worker[e], worker[j]) = (worker[j], worker[e]); }
        // Repair repeated pairs: swap the offending slot's worker with a random slot where neither task then repeats.
        for (int guard = 0; ; guard++)
        {
            int bad = FirstRepeat(worker, l);
            if (bad < 0) break;
            if (guard > 100 * n) throw new InvalidOperationException("Could not draw a simple regular graph; try another seed.");
            int other = rng.Next(n);
            if (other / l == bad / l) continue;
            if (Holds(worker, other / l, l, worker[bad], -1) || Holds(worker, bad / l, l, worker[other], bad)) continue;
            (worker[bad], worker[other]) = (worker[other], worker[bad]);
        }

        var accuracy = new double[W];
        for (int w = 0; w < W; w++) accuracy[w] = Beta.Sample(rng, s.AccuracyA, s.AccuracyB);
        var truth = new int[T];
        var builder = new LabelMatrixBuilder(Vocabulary.Numbered(T), Vocabulary.Numbered(W), Vocabulary.Numbered(k));
        for (int t = 0; t < T; t++)
        {
            int y = rng.Next(k);
            truth[t] = y;
            for (int e = t * l; e < (t + 1) * l; e++)
            {
                int w = worker[e];
                int answer = rng.NextDouble() < accuracy[w] ? y : (y + 1 + rng.Next(k - 1)) % k;
                builder.Add(t, w, answer);
            }
        }
        var conf = new double[W * k * k];
        for (int w = 0; w < W; w++)
            for (int j = 0; j < k; j++)
                for (int c = 0; c < k; c++) conf[(w * k + j) * k + c] = j == c ? accuracy[w] : (1 - accuracy[w]) / (k - 1);
        return new SimulatedCrowd(builder.Build(DuplicatePolicy.KeepAll).Matrix, new GoldLabels(truth, k),
            new ConfusionMatrices(W, k, conf));
    }

    private static int FirstRepeat(int[] worker, int l)
    {
        for (int e = 0; e < worker.Length; e++)
            for (int f = e / l * l; f < e; f++)
                if (worker[f] == worker[e]) return e;
        return -1;
    }

    private static bool Holds(int[] worker, int task, int l, int w, int except)
    {
        for (int f = task * l; f < (task + 1) * l; f++) if (f != except && worker[f] == w) return true;
        return false;
    }
}
