using MathNet.Numerics.Distributions;
using Tally.Aggregation;
using Tally.Core;

namespace Tally.Simulation;

/// <summary>How colluding adversaries answer.</summary>
public enum AdversaryStrategy
{
    /// <summary>All give the wrong class next to the truth ((truth + 1) mod K; for K = 2 the opposite class).</summary>
    Flip,
    /// <summary>All give one fixed class.</summary>
    Constant,
    /// <summary>Each answers uniformly at random.</summary>
    Random,
    /// <summary>
    /// All give the same class on a task, drawn uniformly at random per task independently of the truth: a coordinated
    /// pattern that models assuming independent workers read as strong agreement.
    /// </summary>
    Pattern,
}

/// <summary>
/// A sparse crowd in the setting of Kim, Cho, Kim and Ok (AISTATS 2022, §4.1): tasks and workers joined by a random
/// (l, r)-regular bipartite graph, worker confusion matrices drawn from a Dirichlet prior, optionally extreme spammers
/// (answer many tasks uniformly at random) and a fraction of colluding adversaries.
/// </summary>
public sealed record SparseCrowdScenario
{
    /// <summary>Number of tasks (paper: 1,000).</summary>
    public int Tasks { get; init; } = 1000;
    /// <summary>l, workers per task (paper: 3).</summary>
    public int PerTask { get; init; } = 3;
    /// <summary>r, tasks per worker (paper: 4). Tasks × l must be divisible by r; workers = tasks·l / r.</summary>
    public int PerWorker { get; init; } = 4;
    /// <summary>K (paper: 2).</summary>
    public int Classes { get; init; } = 2;
    /// <summary>Dirichlet weight of the correct answer in a worker's confusion row (paper: Dir(α1, α2)).</summary>
    public double Alpha1 { get; init; } = 2;
    /// <summary>Dirichlet weight of the wrong answers (for K = 2, accuracy ~ Beta(α1, α2)).</summary>
    public double Alpha2 { get; init; } = 1;
    /// <summary>
    /// True (default): one-coin workers — one accuracy p ~ Beta(α1, (K−1)α2) per worker, errors uniform (paper eq. (3));
    /// false: every confusion row drawn independently from Dir(α1 on the diagonal, α2 elsewhere).
    /// </summary>
    public bool OneCoin { get; init; } = true;
    /// <summary>Extreme spammers added on top of the regular workers.</summary>
    public int Spammers { get; init; }
    /// <summary>Share of all tasks each extreme spammer answers (uniformly at random); default all of them.</summary>
    public double SpammerShare { get; init; } = 1.0;
    /// <summary>Fraction of the regular workers replaced by colluding adversaries.</summary>
    public double AdversaryFraction { get; init; }
    /// <summary>What the adversaries do.</summary>
    public AdversaryStrategy Adversary { get; init; } = AdversaryStrategy.Flip;
    /// <summary>The class given by <see cref="AdversaryStrategy.Constant"/> adversaries.</summary>
    public int AdversaryClass { get; init; }
    /// <summary>Seed.</summary>
    public int Seed { get; init; }

    /// <summary>Number of regular workers, tasks·l / r.</summary>
    public int RegularWorkers => Tasks * PerTask / PerWorker;

    /// <summary>Checks the scenario; throws <see cref="InvalidOptionException"/> naming the first option that makes it impossible.</summary>
    public void Validate()
    {
        Check.AtLeast(Tasks, 1, nameof(Tasks));
        Check.AtLeast(PerTask, 1, nameof(PerTask));
        Check.AtLeast(PerWorker, 1, nameof(PerWorker));
        if ((long)Tasks * PerTask % PerWorker != 0)
            throw new InvalidOptionException(nameof(PerWorker), $"(r = {PerWorker}) must divide tasks × l = {(long)Tasks * PerTask}");
        if (PerTask > RegularWorkers) throw new InvalidOptionException(nameof(PerTask), $"(l = {PerTask}) exceeds the number of workers, {RegularWorkers}");
        if (PerWorker > Tasks) throw new InvalidOptionException(nameof(PerWorker), $"(r = {PerWorker}) exceeds the number of tasks, {Tasks}");
        Check.AtLeast(Classes, 2, nameof(Classes));
        Check.Above(Alpha1, 0, nameof(Alpha1));
        Check.Above(Alpha2, 0, nameof(Alpha2));
        Check.AtLeast(Spammers, 0, nameof(Spammers));
        if (!(SpammerShare > 0 && SpammerShare <= 1))
            throw new InvalidOptionException(nameof(SpammerShare), $"must be above 0 and at most 1 (got {NumberFormat.Number(SpammerShare)})");
        Check.InRange(AdversaryFraction, 0, 1, nameof(AdversaryFraction));
        Check.Defined(Adversary, nameof(Adversary));
        Check.InRange(AdversaryClass, 0, Classes - 1, nameof(AdversaryClass));
    }
}

/// <summary>Draws crowds for <see cref="SparseCrowdScenario"/>.</summary>
public sealed class SparseCrowdSimulator
{
    /// <summary>Draws one crowd. Workers 0..R−1 are the regular workers (adversaries among them), then the spammers.</summary>
    public SimulatedCrowd Generate(SparseCrowdScenario s)
    {
        s.Validate();
        var rng = Seeding.Random(s.Seed);
        int k = s.Classes, T = s.Tasks, R = s.RegularWorkers, W = R + s.Spammers;
        MemoryBudget.Require("simulate sparse", Footprint.Doubles((double)W * k * k), $"{W:N0} workers × {k:N0}² confusion entries",
            "simulate fewer workers or classes", null);
        var truth = new int[T];
        for (int t = 0; t < T; t++) truth[t] = rng.Next(k);

        // Worker models as cumulative confusion rows; adversaries and spammers get theirs below.
        var conf = new double[MemoryBudget.Length(W, k, k)];
        var alpha = new double[k];
        for (int w = 0; w < R; w++)
        {
            if (s.OneCoin)
            {
                double p = Beta.Sample(rng, s.Alpha1, (k - 1) * s.Alpha2);
                for (int j = 0; j < k; j++)
                    for (int l = 0; l < k; l++) conf[(w * k + j) * k + l] = j == l ? p : (1 - p) / (k - 1);
            }
            else
            {
                for (int j = 0; j < k; j++)
                {
                    for (int l = 0; l < k; l++) alpha[l] = j == l ? s.Alpha1 : s.Alpha2;
                    var row = Dirichlet.Sample(rng, alpha);
                    row.AsSpan().CopyTo(conf.AsSpan((w * k + j) * k, k));
                }
            }
        }
        int adversaries = (int)Math.Round(s.AdversaryFraction * R);
        var isAdversary = new bool[W];
        foreach (int w in SampleWithoutReplacement(rng, R, adversaries)) isAdversary[w] = true;
        for (int w = 0; w < W; w++)
        {
            if (w < R && !isAdversary[w]) continue;
            var strategy = w >= R ? AdversaryStrategy.Random : s.Adversary;
            for (int j = 0; j < k; j++)
                for (int l = 0; l < k; l++)
                    conf[(w * k + j) * k + l] = strategy switch
                    {
                        AdversaryStrategy.Flip => l == (j + 1) % k ? 1 : 0,
                        AdversaryStrategy.Constant => l == s.AdversaryClass ? 1 : 0,
                        // Marginally a pattern follower answers uniformly; the dependence is across workers.
                        _ => 1.0 / k,
                    };
        }

        var pattern = new int[T]; // drawn even when unused, so other strategies see the same random stream
        for (int t = 0; t < T; t++) pattern[t] = rng.Next(k);
        bool patterned = s.Adversary == AdversaryStrategy.Pattern;
        var builder = new LabelMatrixBuilder(Vocabulary.Numbered(T), Vocabulary.Numbered(W), Vocabulary.Numbered(k));
        foreach (var (t, w) in RegularBipartiteEdges(rng, T, R, s.PerTask, s.PerWorker))
            builder.Add(t, w, patterned && isAdversary[w] ? pattern[t] : Answer(rng, conf, w, truth[t], k));
        int spamTasks = Math.Max(1, (int)Math.Round(s.SpammerShare * T));
        for (int w = R; w < W; w++)
            foreach (int t in SampleWithoutReplacement(rng, T, spamTasks))
                builder.Add(t, w, Answer(rng, conf, w, truth[t], k));
        var matrix = builder.Build(DuplicatePolicy.KeepAll).Matrix;
        return new SimulatedCrowd(matrix, new GoldLabels(truth, k), new ConfusionMatrices(W, k, conf));
    }

    private static int Answer(Random rng, double[] conf, int w, int truth, int k)
    {
        double u = rng.NextDouble(), c = 0;
        int b = (w * k + truth) * k;
        for (int l = 0; l < k - 1; l++) { c += conf[b + l]; if (u < c) return l; }
        return k - 1;
    }

    /// <summary>
    /// Edges of a uniformly random simple (l, r)-regular bipartite graph by the configuration model: pair task stubs
    /// with shuffled worker stubs, then remove repeated (task, worker) pairs by swapping with random other edges.
    /// </summary>
    internal static List<(int Task, int Worker)> RegularBipartiteEdges(Random rng, int tasks, int workers, int l, int r)
    {
        int n = tasks * l;
        var w = new int[n];
        for (int i = 0; i < n; i++) w[i] = i / r;
        for (int i = n - 1; i > 0; i--) { int j = rng.Next(i + 1); (w[i], w[j]) = (w[j], w[i]); }
        // Stub i belongs to task i / l. A task's l stubs are contiguous, so duplicates are found within each block.
        for (int round = 0; round < 1000; round++)
        {
            bool clean = true;
            for (int t = 0; t < tasks; t++)
                for (int a = t * l; a < (t + 1) * l; a++)
                    for (int b = t * l; b < a; b++)
                    {
                        if (w[a] != w[b]) continue;
                        clean = false;
                        int other = rng.Next(n);
                        (w[a], w[other]) = (w[other], w[a]);
                    }
            if (clean) break;
        }
        var edges = new List<(int, int)>(n);
        for (int i = 0; i < n; i++) edges.Add((i / l, w[i]));
        return edges;
    }

    private static int[] SampleWithoutReplacement(Random rng, int n, int count)
    {
        var idx = new int[n];
        for (int i = 0; i < n; i++) idx[i] = i;
        for (int i = 0; i < count; i++) { int j = i + rng.Next(n - i); (idx[i], idx[j]) = (idx[j], idx[i]); }
        return idx[..count];
    }
}
