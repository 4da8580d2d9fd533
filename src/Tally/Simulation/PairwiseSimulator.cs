using MathNet.Numerics.Distributions;
using Tally.Aggregation.Pairwise;
using Tally.Catalogs;
using Tally.Core;
using Tally.Metrics;

namespace Tally.Simulation;

/// <summary>A synthetic crowd comparing items under the Bradley-Terry model, some of its workers clicking at random.</summary>
public sealed record PairwiseScenario
{
    /// <summary>Number of items.</summary>
    public int Items { get; init; } = 200;
    /// <summary>Number of workers, spammers included.</summary>
    public int Workers { get; init; } = 20;
    /// <summary>Workers who answer at random (the last ones).</summary>
    public int Spammers { get; init; } = 4;
    /// <summary>Comparisons each worker makes (pairs drawn uniformly, sides at random).</summary>
    public int ComparisonsPerWorker { get; init; } = 150;
    /// <summary>Standard deviation of the true scores θ ~ N(0, σ²).</summary>
    public double ScoreSpread { get; init; } = 1;
    /// <summary>Probability a spammer clicks the left item (0.5 = a fair coin; higher = position-biased).</summary>
    public double SpammerLeftBias { get; init; } = 0.5;
    /// <summary>Seed.</summary>
    public int Seed { get; init; }

    /// <summary>Checks the scenario.</summary>
    /// <exception cref="InvalidOptionException">A value out of range.</exception>
    public void Validate()
    {
        Check.AtLeast(Items, 2, nameof(Items));
        Check.AtLeast(Workers, 1, nameof(Workers));
        Check.InRange(Spammers, 0, Workers, nameof(Spammers));
        Check.AtLeast(ComparisonsPerWorker, 1, nameof(ComparisonsPerWorker));
        Check.AtLeast(ScoreSpread, 0, nameof(ScoreSpread));
        Check.InRange(SpammerLeftBias, 0, 1, nameof(SpammerLeftBias));
        if ((long)Workers * ComparisonsPerWorker > int.MaxValue) throw new TallyUserException("workers × comparisons exceeds 2^31 comparisons.");
    }
}

/// <summary>What <see cref="PairwiseSimulator"/> drew.</summary>
/// <param name="Comparisons">The comparisons (items named "0"…, workers "0"…).</param>
/// <param name="TrueScores">θ of every item.</param>
/// <param name="Spammer">Whether each worker answered at random.</param>
public sealed record SimulatedComparisons(PairwiseComparisons Comparisons, double[] TrueScores, bool[] Spammer);

/// <summary>
/// Draws comparisons: true scores θ_i ~ N(0, σ²); each worker compares uniformly drawn pairs of distinct items, a careful
/// worker reporting the left item as better with probability σ(θ_l − θ_r), a spammer with a fixed probability.
/// </summary>
public sealed class PairwiseSimulator
{
    /// <summary>Draws the comparisons of <paramref name="scenario"/>.</summary>
    public SimulatedComparisons Generate(PairwiseScenario scenario)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        scenario.Validate();
        var rng = Seeding.Random(scenario.Seed);
        int n = scenario.Items, W = scenario.Workers, per = scenario.ComparisonsPerWorker;
        var theta = new double[n];
        for (int i = 0; i < n; i++) theta[i] = scenario.ScoreSpread * Normal.Sample(rng, 0, 1);
        var spammer = new bool[W];
        for (int w = W - scenario.Spammers; w < W; w++) spammer[w] = true;
        int total = W * per;
        var worker = new int[total]; var left = new int[total]; var right = new int[total]; var leftWon = new bool[total];
        int k = 0;
        for (int w = 0; w < W; w++)
            for (int q = 0; q < per; q++, k++)
            {
                int a = rng.Next(n), b = rng.Next(n - 1);
                if (b >= a) b++;
                double pLeft = spammer[w] ? scenario.SpammerLeftBias : 1 / (1 + Math.Exp(theta[b] - theta[a]));
                worker[k] = w; left[k] = a; right[k] = b; leftWon[k] = rng.NextDouble() < pLeft;
            }
        var c = PairwiseComparisons.FromIndexes(Vocabulary.Numbered(n), Vocabulary.Numbered(W), worker, left, right, leftWon);
        return new SimulatedComparisons(c, theta, spammer);
    }
}

/// <summary>One method on one seed of <see cref="PairwiseLab"/>.</summary>
/// <param name="Method">The method's name.</param>
/// <param name="Seed">The scenario's seed.</param>
/// <param name="KendallTau">Kendall's τ-b between the fitted and the true scores.</param>
/// <param name="SpammerSkill">Mean fitted skill of the spammers (NaN-free: 0 when there are none).</param>
/// <param name="CarefulSkill">Mean fitted skill of the careful workers.</param>
public sealed record PairwiseLabRow(string Method, int Seed, double KendallTau, double SpammerSkill, double CarefulSkill);

/// <summary>
/// The pairwise lab: every pairwise method on the same simulated crowds (one per seed), scored by Kendall's τ against
/// the true scores. Seeds run one after the other; the methods are deterministic, so the table is too.
/// </summary>
public sealed class PairwiseLab
{
    /// <summary>Runs <paramref name="methods"/> (null = all) on <paramref name="scenario"/> with seeds 0 … seeds−1 added to its seed.</summary>
    public IReadOnlyList<PairwiseLabRow> Run(PairwiseScenario scenario, int seeds, IReadOnlyList<PairwiseMethodInfo>? methods = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        Check.AtLeast(seeds, 1, "Seeds");
        methods ??= PairwiseCatalog.All;
        var rows = new List<PairwiseLabRow>();
        for (int s = 0; s < seeds; s++)
        {
            var sim = new PairwiseSimulator().Generate(scenario with { Seed = scenario.Seed + s });
            foreach (var m in methods)
            {
                var r = m.Create(new PairwiseMethodOptions()).Aggregate(sim.Comparisons, ComputeOptions.Sequential, cancellationToken);
                double tau = RankCorrelation.KendallTau(r.Scores.AsSpan(), sim.TrueScores);
                double spam = 0, careful = 0; int ns = 0, nc = 0;
                for (int w = 0; w < sim.Spammer.Length; w++)
                    if (sim.Spammer[w]) { spam += r.WorkerSkills[w]; ns++; } else { careful += r.WorkerSkills[w]; nc++; }
                rows.Add(new PairwiseLabRow(m.Name, scenario.Seed + s, tau, ns > 0 ? spam / ns : 0, nc > 0 ? careful / nc : 0));
            }
        }
        return rows;
    }
}
