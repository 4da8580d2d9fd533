using Tally.Core;
using MathNet.Numerics.Distributions;

namespace Tally.Sharing;

/// <summary>Which sharing rule the <see cref="SharingLab"/> simulates.</summary>
public enum SharingRule
{
    /// <summary>The mechanism of Chen, Zhu &amp; Kandasamy (<see cref="CollaborativeMeanMechanism"/>).</summary>
    Collaborative,

    /// <summary>Naive rule from the slides: pool all submissions and give everyone all the others' raw data.</summary>
    PoolAndShare,

    /// <summary>
    /// Naive rule from the slides: give an agent all the others' raw data only if she submitted at least n* points,
    /// nothing otherwise. Defeated by fabricating n* points.
    /// </summary>
    PoolIfContributeEnough,
}

/// <summary>
/// What the focal agent does: how many samples she collects (and pays for), what she submits given her true sample
/// (and randomness for fabrication), and whether she weights the noisy share as recommended.
/// </summary>
/// <param name="Name">Short label used in reports.</param>
/// <param name="Collect">Samples collected (cost c each).</param>
/// <param name="Submit">Maps her true sample X to the reported sample.</param>
/// <param name="UseNoiseWeights">false = plain mean of X ∪ Z ∪ Z' (ignores η²).</param>
public sealed record SharingStrategy(string Name, int Collect, Func<IReadOnlyList<double>, Random, double[]> Submit,
    bool UseNoiseWeights = true)
{
    /// <summary>Collect n and submit truthfully (the recommended strategy when n = n*).</summary>
    public static SharingStrategy Truthful(int n, string? name = null) =>
        new(name ?? $"collect {n}", n, (x, _) => [.. x]);

    /// <summary>Collect n, submit only the first <paramref name="submitted"/> points.</summary>
    public static SharingStrategy Withhold(int n, int submitted) =>
        new($"withhold {n - submitted} of {n}", n, (x, _) => [.. x.Take(submitted)]);

    /// <summary>Collect n, submit every point shifted by δ.</summary>
    public static SharingStrategy Shift(int n, double delta) =>
        new($"shift by {delta:0.###}", n, (x, _) => [.. x.Select(v => v + delta)]);

    /// <summary>Collect n, submit every point multiplied by s.</summary>
    public static SharingStrategy Scale(int n, double s) =>
        new($"scale by {s:0.###}", n, (x, _) => [.. x.Select(v => v * s)]);

    /// <summary>Collect n, submit every point twice.</summary>
    public static SharingStrategy Duplicate(int n) =>
        new("duplicate", n, (x, _) => [.. x, .. x]);

    /// <summary>Collect n, submit (1 − λ)x + λ·guess for each point.</summary>
    public static SharingStrategy ShrinkToward(int n, double guess, double lambda) =>
        new($"shrink {lambda:0.###} toward {guess:0.###}", n, (x, _) => [.. x.Select(v => (1 - lambda) * v + lambda * guess)]);

    /// <summary>Collect n, submit truthfully, but estimate with the plain mean of everything received.</summary>
    public static SharingStrategy IgnoreNoiseWeights(int n) =>
        new("ignore noise weights", n, (x, _) => [.. x], UseNoiseWeights: false);

    /// <summary>Collect nothing and submit nothing.</summary>
    public static SharingStrategy FreeRide() => new("free-ride", 0, (_, _) => []);

    /// <summary>Collect nothing; submit k fabricated points drawn from N(guess, σ²) so they look like data.</summary>
    public static SharingStrategy Fabricate(int k, double guess, double sigma) =>
        new($"fabricate {k} around {guess:0.###}", 0, (_, rng) =>
        {
            var fake = new double[k];
            for (int t = 0; t < k; t++) fake[t] = guess + Normal.Sample(rng, 0, sigma);
            return fake;
        });
}

/// <summary>Options of <see cref="SharingLab"/>.</summary>
public sealed record SharingLabOptions
{
    /// <summary>Monte-Carlo replications per (strategy, μ). Default 2000: standard errors ≈ 2–3% of the penalty.</summary>
    public int Replications { get; init; } = 2000;

    /// <summary>
    /// True means tried, in units of σ. Default {0, 1, 3}: the penalty is a worst case over μ, and deviations that
    /// shrink toward a guess only pay off when μ happens to be near it.
    /// </summary>
    public IReadOnlyList<double> MeansInSigmas { get; init; } = [0, 1, 3];

    /// <summary>Seed; every strategy sees the same data and mechanism randomness per replication (common random numbers).</summary>
    public int Seed { get; init; } = Seeding.DefaultSeed;

    /// <summary>Checks the options.</summary>
    /// <exception cref="InvalidOptionException">Fewer than 10 replications (a 95% interval from fewer means little), or no finite mean to try.</exception>
    public void Validate()
    {
        Check.AtLeast(Replications, 10, nameof(Replications));
        if (MeansInSigmas is not { Count: > 0 } || MeansInSigmas.Any(v => !double.IsFinite(v)))
            throw new InvalidOptionException(nameof(MeansInSigmas), "must list at least one mean, all finite");
    }
}

/// <summary>The focal agent's outcome at one true mean.</summary>
/// <param name="Mu">True mean.</param>
/// <param name="Penalty">Mean squared error + c·(samples collected), averaged over replications.</param>
/// <param name="HalfWidth">95% half-width of <paramref name="Penalty"/>.</param>
/// <param name="DifferenceFromRecommended">Mean paired difference (this − recommended); negative = deviation pays.</param>
/// <param name="DifferenceHalfWidth">95% half-width of the paired difference.</param>
public sealed record MeanOutcome(double Mu, double Penalty, double HalfWidth, double DifferenceFromRecommended,
    double DifferenceHalfWidth);

/// <summary>One strategy's penalty: worst case over the tried means.</summary>
/// <param name="Strategy">Strategy label.</param>
/// <param name="Collected">Samples collected.</param>
/// <param name="ByMean">Per-μ outcomes.</param>
/// <param name="Penalty">max over μ of the per-μ penalty.</param>
/// <param name="HalfWidth">95% half-width of the per-μ penalty attaining the max.</param>
/// <param name="Gain">Recommended penalty − this penalty (positive = the deviation is profitable).</param>
/// <param name="GainHalfWidth">
/// 95% half-width for <paramref name="Gain"/>: the largest paired-difference half-width over μ (the paired
/// differences are far less noisy than the penalties themselves thanks to common random numbers).
/// </param>
public sealed record StrategyOutcome(string Strategy, int Collected, IReadOnlyList<MeanOutcome> ByMean, double Penalty,
    double HalfWidth, double Gain, double GainHalfWidth);

/// <summary>Result of a <see cref="SharingLab"/> run (immutable).</summary>
public sealed record SharingLabReport
{
    /// <summary>The problem.</summary>
    public required SharingProblem Problem { get; init; }
    /// <summary>The sharing rule simulated.</summary>
    public required SharingRule Rule { get; init; }
    /// <summary>α of the collaborative mechanism; 0 for the naive rules, which add no noise.</summary>
    public required double Alpha { get; init; }
    /// <summary>Integer sample size everyone is asked to collect.</summary>
    public required int RecommendedSampleSize { get; init; }
    /// <summary>The focal agent following the recommendation.</summary>
    public required StrategyOutcome Recommended { get; init; }
    /// <summary>Unilateral deviations of the focal agent (the others follow the recommendation).</summary>
    public required IReadOnlyList<StrategyOutcome> Deviations { get; init; }
    /// <summary>Penalty working alone, 2σ√c.</summary>
    public double SoloPenalty => Problem.SoloPenalty;
    /// <summary>Recommended penalty ≤ solo penalty (up to the 95% half-width).</summary>
    public bool IndividuallyRational => Recommended.Penalty - Recommended.HalfWidth <= SoloPenalty;
    /// <summary>Social penalty under the recommended profile: m × the (symmetric) per-agent penalty.</summary>
    public double SocialPenalty => Problem.Agents * Recommended.Penalty;
    /// <summary>Global optimum 2σ√(c·m).</summary>
    public double OptimalSocialPenalty => Problem.OptimalSocialPenalty;
    /// <summary>The deviation with the largest gain.</summary>
    public StrategyOutcome BestDeviation => Deviations.MaxBy(d => d.Gain)!;
}

/// <summary>
/// Monte-Carlo laboratory for data-sharing rules: estimates the focal agent's penalty (worst case over a few true
/// means, with 95% confidence intervals) when everyone follows the recommendation and under unilateral deviations,
/// and checks individual rationality and the social penalty against 2σ√(c·m). Stateless; all randomness comes from
/// <see cref="SharingLabOptions.Seed"/>.
/// </summary>
public sealed class SharingLab(SharingLabOptions? options = null)
{
    /// <summary>The options in use.</summary>
    public SharingLabOptions Options { get; } = options ?? new SharingLabOptions();

    /// <summary>
    /// Default deviations: collect n* ± 1 and 2n*, withhold all / half, shift by σ, scale by 0.5, duplicate,
    /// shrink halfway toward 0, ignore noise weights, free-ride, fabricate n* points around 0.
    /// </summary>
    public static IReadOnlyList<SharingStrategy> StandardDeviations(SharingProblem problem)
    {
        int ns = problem.RecommendedSampleSize;
        var list = new List<SharingStrategy>();
        if (ns > 1) list.Add(SharingStrategy.Truthful(ns - 1));
        list.Add(SharingStrategy.Truthful(ns + 1));
        list.Add(SharingStrategy.Truthful(2 * ns));
        list.Add(SharingStrategy.Withhold(ns, 0));
        if (ns > 1) list.Add(SharingStrategy.Withhold(ns, ns / 2));
        list.Add(SharingStrategy.Shift(ns, problem.Sigma));
        list.Add(SharingStrategy.Scale(ns, 0.5));
        list.Add(SharingStrategy.Duplicate(ns));
        list.Add(SharingStrategy.ShrinkToward(ns, 0, 0.5));
        list.Add(SharingStrategy.IgnoreNoiseWeights(ns));
        list.Add(SharingStrategy.FreeRide());
        list.Add(SharingStrategy.Fabricate(ns, 0, problem.Sigma));
        return list;
    }

    /// <summary>Runs the lab with <see cref="StandardDeviations"/>.</summary>
    public SharingLabReport Run(SharingProblem problem, SharingRule rule = SharingRule.Collaborative, ComputeOptions? compute = null,
        IProgress<WorkProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Run(problem, rule, StandardDeviations(problem), compute, progress, cancellationToken);

    /// <summary>
    /// Runs the lab: agent 0 plays each strategy, agents 1..m−1 collect n* and submit truthfully. Replications run in
    /// parallel up to <paramref name="compute"/>'s thread limit; each draws from its own stream of the seed and fills
    /// its own slots, so the report is the same for any thread count. The strategies' <see cref="SharingStrategy.Submit"/>
    /// functions are therefore called from several threads at once and must not share mutable state (the standard
    /// ones are pure).
    /// </summary>
    /// <exception cref="InvalidOptionException">Bad <see cref="Options"/>.</exception>
    public SharingLabReport Run(SharingProblem problem, SharingRule rule, IReadOnlyList<SharingStrategy> deviations,
        ComputeOptions? compute = null, IProgress<WorkProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(deviations);
        Options.Validate();
        compute?.Validate();
        var mech = rule == SharingRule.Collaborative ? new CollaborativeMeanMechanism(problem) : null;
        int ns = problem.RecommendedSampleSize;
        var strategies = new List<SharingStrategy> { SharingStrategy.Truthful(ns, "recommended") };
        strategies.AddRange(deviations);
        foreach (var s in strategies)
            if (s.Collect < 0) throw new TallyUserException($"Strategy '{s.Name}' collects a negative number of samples.");
        int maxCollect = strategies.Max(s => s.Collect), reps = Options.Replications, S = strategies.Count;
        int means = Options.MeansInSigmas.Count;

        // loss[s][k][r]: penalty of strategy s at mean k in replication r; every (k, r) writes only its own slots.
        var loss = new double[S][][];
        for (int s = 0; s < S; s++)
        {
            loss[s] = new double[means][];
            for (int k = 0; k < means; k++) loss[s][k] = new double[reps];
        }
        ulong baseSeed = Seeding.Base(Options.Seed);
        long done = 0, total = (long)means * reps;
        try
        {
            Parallelism.ForEach(means * reps, compute, job => Replicate(job), cancellationToken);
        }
        catch (AggregateException e)
        {
            // A strategy that throws does so on every thread; report it as the one error it is.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.Flatten().InnerExceptions[0]).Throw();
        }

        void Replicate(int job)
        {
            int k = job / reps, r = job % reps;
            double mu = Options.MeansInSigmas[k] * problem.Sigma;
            ulong stream = Seeding.Stream(baseSeed, (ulong)k, (ulong)r);
            var dataRng = new SplitMixRandom(Seeding.Stream(stream, 0));
            var baseX = Draw(dataRng, mu, problem.Sigma, maxCollect);
            var subs = new IReadOnlyList<double>[problem.Agents];
            for (int j = 1; j < problem.Agents; j++) subs[j] = Draw(dataRng, mu, problem.Sigma, ns);
            var mechRng = new SplitMixRandom(0);
            for (int s = 0; s < S; s++)
            {
                var strat = strategies[s];
                // Same mechanism randomness for every strategy: differences then reflect the strategy, not luck.
                mechRng.Reset(Seeding.Stream(stream, 1));
                var x = new ArraySegment<double>(baseX, 0, strat.Collect);
                subs[0] = strat.Submit(x, mechRng);
                double est = Estimate(rule, mech, problem, subs, x, strat, mechRng);
                loss[s][k][r] = (est - mu) * (est - mu) + problem.Cost * strat.Collect;
            }
            progress?.Report(new WorkProgress(Interlocked.Increment(ref done), total));
        }

        var outcomes = new StrategyOutcome[S];
        for (int s = 0; s < S; s++) // Gain is filled in once the recommended penalty is known.
            outcomes[s] = Summarise(strategies[s], loss[s], loss[0], Options.MeansInSigmas, problem.Sigma, 0);
        double recPenalty = outcomes[0].Penalty;
        for (int s = 0; s < S; s++) outcomes[s] = outcomes[s] with { Gain = recPenalty - outcomes[s].Penalty };
        return new SharingLabReport
        {
            Problem = problem,
            Rule = rule,
            Alpha = mech?.NoiseScale ?? 0,
            RecommendedSampleSize = ns,
            Recommended = outcomes[0],
            Deviations = Array.AsReadOnly(outcomes[1..]),
        };
    }

    private static double Estimate(SharingRule rule, CollaborativeMeanMechanism? mech, SharingProblem problem,
        IReadOnlyList<IReadOnlyList<double>> subs, IReadOnlyList<double> x, SharingStrategy strat, Random rng)
    {
        Allocation alloc;
        switch (rule)
        {
            case SharingRule.Collaborative:
                alloc = mech!.AllocateFor(0, subs, rng);
                break;
            default:
                bool share = rule == SharingRule.PoolAndShare || subs[0].Count >= problem.RecommendedSampleSize;
                var others = share ? subs.Skip(1).SelectMany(v => v).ToArray() : [];
                alloc = new Allocation(others, [], 0);
                break;
        }
        if (x.Count + alloc.Z.Count + alloc.ZPrime.Count == 0)
            return 0; // No data at all: she can only guess (0); her error μ² is unbounded over μ in principle.
        if (strat.UseNoiseWeights) return CollaborativeMeanMechanism.RecommendedEstimate(x, alloc, problem.Sigma);
        return (x.Sum() + alloc.Z.Sum() + alloc.ZPrime.Sum()) / (x.Count + alloc.Z.Count + alloc.ZPrime.Count);
    }

    private static StrategyOutcome Summarise(SharingStrategy strat, double[][] loss, double[][] recLoss,
        IReadOnlyList<double> means, double sigma, double recPenalty)
    {
        var byMean = new MeanOutcome[means.Count];
        double worst = double.NegativeInfinity, worstHw = 0, gainHw = 0;
        for (int k = 0; k < means.Count; k++)
        {
            var (m, hw) = MeanAndHalfWidth(loss[k]);
            var diff = new double[loss[k].Length];
            for (int r = 0; r < diff.Length; r++) diff[r] = loss[k][r] - recLoss[k][r];
            var (dm, dhw) = MeanAndHalfWidth(diff);
            byMean[k] = new MeanOutcome(means[k] * sigma, m, hw, dm, dhw);
            if (m > worst) { worst = m; worstHw = hw; }
            gainHw = Math.Max(gainHw, dhw);
        }
        return new StrategyOutcome(strat.Name, strat.Collect, Array.AsReadOnly(byMean), worst, worstHw, recPenalty - worst, gainHw);
    }

    private static (double Mean, double HalfWidth) MeanAndHalfWidth(double[] v)
    {
        double mean = v.Average(), ss = 0;
        foreach (double x in v) ss += (x - mean) * (x - mean);
        return (mean, 1.96 * Math.Sqrt(ss / (v.Length - 1) / v.Length));
    }

    private static double[] Draw(Random rng, double mu, double sigma, int n)
    {
        var x = new double[n];
        for (int t = 0; t < n; t++) x[t] = mu + Normal.Sample(rng, 0, sigma);
        return x;
    }
}
