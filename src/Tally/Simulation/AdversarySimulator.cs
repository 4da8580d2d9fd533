using System.Collections.Immutable;
using System.Runtime.InteropServices;
using Tally.Aggregation;
using Tally.Core;

namespace Tally.Simulation;

/// <summary>
/// A crowd from the symmetric Dawid-Skene model (every honest worker shares class weights w and confusion Γ) plus a
/// fraction α of adversarial workers who all follow one coordinated strategy.
/// </summary>
public sealed record AdversaryScenario
{
    /// <summary>Number of tasks.</summary>
    public int Tasks { get; init; } = 1000;
    /// <summary>Number of workers (honest and adversarial).</summary>
    public int Workers { get; init; } = 100;
    /// <summary>Distinct workers answering each task, chosen uniformly (at most <see cref="Workers"/>).</summary>
    public int PerTask { get; init; } = 5;
    /// <summary>K (used when <see cref="ClassWeights"/> and <see cref="Confusion"/> are not given).</summary>
    public int Classes { get; init; } = 2;
    /// <summary>Honest accuracy when <see cref="Confusion"/> is not given: Γ = accuracy on the diagonal, the rest spread evenly.</summary>
    public double Accuracy { get; init; } = 0.7;
    /// <summary>w, the class prior (K entries summing to 1); null = uniform.</summary>
    public double[]? ClassWeights { get; init; }
    /// <summary>Γ, K×K row-major (row = true class, rows sum to 1), shared by all honest workers; null = one-coin from <see cref="Accuracy"/>.</summary>
    public double[]? Confusion { get; init; }
    /// <summary>α, the fraction of adversarial workers (rounded to a whole number of workers).</summary>
    public double AdversaryFraction { get; init; } = 0.2;
    /// <summary>The adversaries' strategy.</summary>
    public AdversaryStrategy Strategy { get; init; } = AdversaryStrategy.Flip;
    /// <summary>The label of <see cref="AdversaryStrategy.Constant"/>.</summary>
    public int ConstantLabel { get; init; }
    /// <summary>Seed.</summary>
    public int Seed { get; init; }

    /// <summary>K as implied by the given w or Γ, else <see cref="Classes"/>.</summary>
    public int ClassCount => ClassWeights?.Length ?? (Confusion is { } g ? (int)Math.Round(Math.Sqrt(g.Length)) : Classes);

    /// <summary>Throws <see cref="InvalidOptionException"/> (or another <see cref="TallyUserException"/>) naming the problem if the scenario is impossible.</summary>
    public void Validate()
    {
        int k = ClassCount;
        if (Tasks < 1) throw new InvalidOptionException("Tasks", "must be at least 1");
        if (Workers < 1) throw new InvalidOptionException("Workers", "must be at least 1");
        if (PerTask < 1 || PerTask > Workers) throw new InvalidOptionException("PerTask", $"must be between 1 and Workers ({Workers})");
        if (k < 1) throw new InvalidOptionException("Classes", "must be at least 1");
        if (!(AdversaryFraction >= 0 && AdversaryFraction <= 1)) throw new InvalidOptionException("AdversaryFraction", "must be in [0, 1]");
        if (ConstantLabel < 0 || ConstantLabel >= k) throw new InvalidOptionException("ConstantLabel", $"must be a class index below {k}");
        if (Confusion is null && !(Accuracy >= 0 && Accuracy <= 1)) throw new InvalidOptionException("Accuracy", "must be in [0, 1]");
        if (ClassWeights is { } w) CheckDistribution(w, "class weights");
        if (Confusion is { } g)
        {
            if (g.Length != k * k) throw new TallyUserException($"The confusion matrix must have K×K = {k * k} entries.");
            for (int j = 0; j < k; j++) CheckDistribution(g.AsSpan(j * k, k), $"confusion row {j}");
        }
        if ((long)Tasks * PerTask > int.MaxValue) throw new TallyUserException("tasks × per-task exceeds 2^31 answers.");
    }

    private static void CheckDistribution(ReadOnlySpan<double> p, string what)
    {
        double s = 0;
        foreach (var x in p)
        {
            if (!(x >= 0) || !double.IsFinite(x)) throw new TallyUserException($"{what} must be non-negative numbers.");
            s += x;
        }
        if (Math.Abs(s - 1) > 1e-6) throw new TallyUserException($"{what} must sum to 1 (sum is {s}).");
    }
}

/// <summary>What <see cref="AdversarySimulator"/> drew.</summary>
/// <param name="Answers">The answers (task i is named "i", worker j "j", class c "c").</param>
/// <param name="Truth">True class of every task.</param>
/// <param name="IsAdversary">Which workers are adversarial.</param>
/// <param name="ClassWeights">The honest model's w.</param>
/// <param name="Confusion">The honest model's Γ (K × K).</param>
public sealed record AdversarialCrowd(LabelMatrix Answers, GoldLabels Truth, ImmutableArray<bool> IsAdversary,
    ImmutableArray<double> ClassWeights, RowMatrix Confusion)
{
    /// <summary>The adversaries' strategy (set by <see cref="AdversarySimulator"/>).</summary>
    public AdversaryStrategy Strategy { get; init; } = AdversaryStrategy.Flip;
    /// <summary>The class constant adversaries give (set by <see cref="AdversarySimulator"/>).</summary>
    public int ConstantLabel { get; init; }

    /// <summary>As <see cref="ToSimulatedCrowd(AdversaryStrategy, int)"/> with the strategy the crowd was drawn with.</summary>
    public SimulatedCrowd ToSimulatedCrowd() => ToSimulatedCrowd(Strategy, ConstantLabel);

    /// <summary>
    /// The same crowd as a <see cref="SimulatedCrowd"/>: honest workers answer with Γ; adversaries' matrices are their
    /// marginal behaviour (a fixed column for constant, the cyclic shift for flip, uniform for random and pattern — the
    /// pattern's dependence across adversaries is not a per-worker property).
    /// </summary>
    public SimulatedCrowd ToSimulatedCrowd(AdversaryStrategy strategy, int constantLabel)
    {
        int k = Answers.ClassCount, W = Answers.WorkerCount;
        var conf = new double[MemoryBudget.Length(W, k, k)];
        for (int w = 0; w < W; w++)
            for (int j = 0; j < k; j++)
                for (int l = 0; l < k; l++)
                    conf[(w * k + j) * k + l] = !IsAdversary[w] ? Confusion[j, l] : strategy switch
                    {
                        AdversaryStrategy.Constant => l == constantLabel ? 1 : 0,
                        AdversaryStrategy.Flip => l == (j + 1) % k ? 1 : 0,
                        _ => 1.0 / k,
                    };
        return new SimulatedCrowd(Answers, Truth, new ConfusionMatrices(W, k, conf));
    }
}

/// <summary>
/// Draws a crowd from <see cref="AdversaryScenario"/>: task classes i.i.d. from w; each task answered by
/// <c>PerTask</c> distinct uniformly chosen workers; an honest worker answers from row y of Γ, an adversary by the
/// scenario's strategy. The adversaries are a uniformly random set of round(α·W) workers. Deterministic per seed.
/// This is the "rowdy crowd" of Schoenebeck and Yu et al., "Information Elicitation from Rowdy Crowds", WWW 2021
/// (symmetric Dawid-Skene honest agents plus an α fraction of adversaries with arbitrary, here coordinated, strategies).
/// </summary>
public sealed class AdversarySimulator
{
    /// <summary>Builds the crowd in memory.</summary>
    public AdversarialCrowd Generate(AdversaryScenario scenario)
    {
        scenario.Validate();
        int k = scenario.ClassCount, W = scenario.Workers;
        var w = scenario.ClassWeights is { } cw ? (double[])cw.Clone() : Uniform(k);
        var gamma = scenario.Confusion is { } g ? (double[])g.Clone() : OneCoin(k, scenario.Accuracy);
        var rng = Seeding.Random(scenario.Seed);

        var perm = new int[W];
        for (int i = 0; i < W; i++) perm[i] = i;
        rng.Shuffle(perm);
        var adversary = new bool[W];
        int nAdv = (int)Math.Round(scenario.AdversaryFraction * W);
        for (int i = 0; i < nAdv; i++) adversary[perm[i]] = true;

        var cumW = Cumulative(w);
        var cumG = new double[MemoryBudget.Length(k, k)];
        for (int j = 0; j < k; j++) Cumulative(gamma.AsSpan(j * k, k)).CopyTo(cumG.AsSpan(j * k, k));

        var builder = new LabelMatrixBuilder(Vocabulary.Numbered(scenario.Tasks), Vocabulary.Numbered(W), Vocabulary.Numbered(k));
        var truth = new int[scenario.Tasks];
        for (int i = 0; i < W; i++) perm[i] = i;
        for (int t = 0; t < scenario.Tasks; t++)
        {
            int y = Draw(cumW, rng.NextDouble());
            truth[t] = y;
            int shared = rng.Next(k); // the adversaries' common class for this task (Pattern strategy)
            for (int i = 0; i < scenario.PerTask; i++)
            {
                // Partial Fisher-Yates, as in DawidSkeneSimulator: a uniform sample without replacement.
                int j = i + rng.Next(W - i);
                (perm[i], perm[j]) = (perm[j], perm[i]);
                int worker = perm[i];
                double u = rng.NextDouble(); // drawn for every answer so honest answers do not depend on the strategy
                int label = !adversary[worker] ? Draw(cumG.AsSpan(y * k, k), u) : scenario.Strategy switch
                {
                    AdversaryStrategy.Constant => scenario.ConstantLabel,
                    AdversaryStrategy.Flip => (y + 1) % k,
                    AdversaryStrategy.Random => Math.Min(k - 1, (int)(u * k)),
                    _ => shared,
                };
                builder.Add(t, worker, label);
            }
        }
        var matrix = builder.Build(DuplicatePolicy.KeepAll).Matrix;
        return new AdversarialCrowd(matrix, new GoldLabels(truth, k), ImmutableCollectionsMarshal.AsImmutableArray(adversary),
            ImmutableCollectionsMarshal.AsImmutableArray(w), new RowMatrix(k, k, gamma))
        { Strategy = scenario.Strategy, ConstantLabel = scenario.ConstantLabel };
    }

    private static double[] Uniform(int k)
    {
        var w = new double[k];
        Array.Fill(w, 1.0 / k);
        return w;
    }

    private static double[] OneCoin(int k, double accuracy)
    {
        var g = new double[MemoryBudget.Length(k, k)];
        for (int j = 0; j < k; j++)
            for (int l = 0; l < k; l++)
                g[j * k + l] = k == 1 ? 1 : l == j ? accuracy : (1 - accuracy) / (k - 1);
        return g;
    }

    private static double[] Cumulative(ReadOnlySpan<double> p)
    {
        var c = new double[p.Length];
        double s = 0;
        for (int i = 0; i < p.Length; i++) { s += p[i]; c[i] = s; }
        c[^1] = 1.0; // rounding must not leave a gap above the last class
        return c;
    }

    private static int Draw(ReadOnlySpan<double> cumulative, double u)
    {
        int l = 0;
        while (l < cumulative.Length - 1 && u >= cumulative[l]) l++;
        return l;
    }
}
