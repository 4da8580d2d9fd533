using Tally.Core;

namespace Tally.Aggregation;

/// <summary>Options of <see cref="DawidSkene"/>.</summary>
public sealed record DawidSkeneOptions : IterativeOptions
{
    /// <summary>Defaults: 100 iterations, tolerance 1e-5 on the per-answer log-likelihood (Crowd-Kit's defaults).</summary>
    public DawidSkeneOptions() { MaxIterations = 100; Tolerance = 1e-5; }

    /// <summary>
    /// Additive (Laplace) smoothing added to every expected confusion count in the M-step; 0 = plain maximum
    /// likelihood (zero counts are floored at 1e-12 so logs stay finite). Default 0.01, which keeps a worker who
    /// never gave some answer from making that answer impossible without moving well-observed estimates.
    /// </summary>
    public double Smoothing { get; init; } = 0.01;

    /// <summary>
    /// Optional pseudo-counts added to the expected confusion counts: K×K (true class × answer, row-major) for every
    /// worker, or W×K×K per worker. Acts as a Dirichlet prior (MAP estimate).
    /// </summary>
    public double[]? PriorCounts { get; init; }

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        Check.AtLeast(Smoothing, 0, nameof(Smoothing));
        if (PriorCounts is { } pc)
            foreach (double x in pc)
                if (!double.IsFinite(x) || x < 0) throw new InvalidOptionException(nameof(PriorCounts), "must be finite and non-negative");
    }
}

/// <summary>
/// Dawid-Skene: each worker w has a confusion matrix π_w (π_w[j, l] = P(answer l | true class j)), tasks have
/// i.i.d. classes with prior ρ; EM alternates the posterior over each task's class (E-step) with maximum-likelihood
/// ρ and π (M-step), starting from majority-vote posteriors. Gold labels on the matrix are clamped.
/// A. P. Dawid and A. M. Skene, "Maximum likelihood estimation of observer error-rates using the EM algorithm",
/// Journal of the Royal Statistical Society C 28(1), 1979, eqs. (2.3)–(2.5).
/// Worker skill = Σ_j ρ_j π_w[j, j], the worker's expected accuracy.
/// </summary>
public sealed class DawidSkene(DawidSkeneOptions? options = null) : IAggregator
{
    /// <summary>The options in use.</summary>
    public DawidSkeneOptions Options { get; } = options ?? new DawidSkeneOptions();

    /// <inheritdoc />
    public string Name => "ds";

    /// <inheritdoc />
    public AggregationResult Aggregate(LabelMatrix answers, ComputeOptions? compute = null, IProgress<IterationProgress>? progress = null,
        CancellationToken cancellationToken = default)
        => Fit(answers, null, compute, progress, cancellationToken);

    /// <inheritdoc />
    public bool SupportsWarmStart => true;

    /// <summary>EM from the posteriors <paramref name="start"/> predicts for <paramref name="answers"/> (its confusions held for one E-step).</summary>
    public AggregationResult Refine(AggregationModel start, LabelMatrix answers, ComputeOptions? compute = null,
        IProgress<IterationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        Options.Validate();
        return Fit(answers, AggregationModel.StartingPosteriors(start, Name, answers, compute, cancellationToken), compute, progress, cancellationToken);
    }

    private AggregationResult Fit(LabelMatrix answers, double[]? initialPosteriors, ComputeOptions? compute,
        IProgress<IterationProgress>? progress, CancellationToken cancellationToken)
    {
        Options.Validate();
        int k = answers.ClassCount, W = answers.WorkerCount;
        // EM holds the expected counts and the log-confusions; the result, one public copy.
        Footprints.Require(Name, answers, compute, confusions: 3);
        if (Options.PriorCounts is { } pc && pc.Length != (long)k * k && pc.Length != (long)W * k * k)
            throw new InvalidOptionException(nameof(DawidSkeneOptions.PriorCounts), $"must have K×K = {(long)k * k} or W×K×K = {(long)W * k * k} entries (got {pc.Length})");
        var run = ConfusionEm.Run(answers, Options, Options.PriorCounts, Options.Smoothing,
            (counts, totals, logConf, logPrior) => MStep(answers, counts, totals, logConf, logPrior), compute, progress, cancellationToken,
            initialPosteriors);
        return ConfusionEm.Result(Name, Options, answers, run, null);
    }

    private static void MStep(LabelMatrix answers, double[] counts, double[] totals, double[] logConf, double[] logPrior) =>
        ConfusionEm.DawidSkeneMStep(answers.WorkerCount, answers.ClassCount, counts, totals, logConf, logPrior);
}

/// <summary>Options of <see cref="OneCoinDawidSkene"/>.</summary>
public sealed record OneCoinDawidSkeneOptions : IterativeOptions
{
    /// <summary>Defaults: 100 iterations, tolerance 1e-5 (Crowd-Kit's defaults).</summary>
    public OneCoinDawidSkeneOptions() { MaxIterations = 100; Tolerance = 1e-5; }

    /// <summary>Pseudo-counts added to each worker's (correct, incorrect) expected counts; default 0.01 keeps skills off 0 and 1.</summary>
    public double Smoothing { get; init; } = 0.01;

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        Check.AtLeast(Smoothing, 0, nameof(Smoothing));
    }
}

/// <summary>
/// One-coin Dawid-Skene: each worker answers correctly with probability p_w and otherwise picks one of the K−1
/// wrong classes uniformly, i.e. π_w[j, j] = p_w, π_w[j, l≠j] = (1 − p_w)/(K − 1); EM as in Dawid-Skene
/// (Dawid and Skene, Journal of the Royal Statistical Society C, 1979), with the M-step p_w = expected fraction of
/// correct answers. Worker skill = p_w.
/// </summary>
public sealed class OneCoinDawidSkene(OneCoinDawidSkeneOptions? options = null) : IAggregator
{
    /// <summary>The options in use.</summary>
    public OneCoinDawidSkeneOptions Options { get; } = options ?? new OneCoinDawidSkeneOptions();

    /// <inheritdoc />
    public string Name => "onecoin";

    /// <inheritdoc />
    public AggregationResult Aggregate(LabelMatrix answers, ComputeOptions? compute = null, IProgress<IterationProgress>? progress = null,
        CancellationToken cancellationToken = default)
        => Fit(answers, null, compute, progress, cancellationToken);

    /// <inheritdoc />
    public bool SupportsWarmStart => true;

    /// <summary>EM from the posteriors <paramref name="start"/> predicts for <paramref name="answers"/>.</summary>
    public AggregationResult Refine(AggregationModel start, LabelMatrix answers, ComputeOptions? compute = null,
        IProgress<IterationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        Options.Validate();
        return Fit(answers, AggregationModel.StartingPosteriors(start, Name, answers, compute, cancellationToken), compute, progress, cancellationToken);
    }

    private AggregationResult Fit(LabelMatrix answers, double[]? initialPosteriors, ComputeOptions? compute,
        IProgress<IterationProgress>? progress, CancellationToken cancellationToken)
    {
        Options.Validate();
        int k = answers.ClassCount, W = answers.WorkerCount;
        // The one-coin EM runs on the full confusion machinery (its counts and log-confusions are W·K²).
        Footprints.Require(Name, answers, compute, confusions: 3);
        var skill = new double[W];
        var run = ConfusionEm.Run(answers, Options, null, 0, (counts, totals, logConf, logPrior) =>
        {
            ConfusionEm.PriorFromTotals(totals, logPrior);
            for (int w = 0; w < W; w++)
            {
                int b = w * k * k;
                double correct = 0, all = 0;
                for (int i = 0; i < k * k; i++) all += counts[b + i];
                for (int c = 0; c < k; c++) correct += counts[b + c * k + c];
                // p_w = expected share of correct answers, smoothed towards 1/2 so it stays inside (0, 1).
                double p = all + 2 * Options.Smoothing > 0 ? (correct + Options.Smoothing) / (all + 2 * Options.Smoothing) : 1.0 / k;
                skill[w] = p;
                double logRight = Math.Log(Math.Max(p, Numerics.MinProbability));
                double logWrong = k > 1 ? Math.Log(Math.Max((1 - p) / (k - 1), Numerics.MinProbability)) : 0;
                for (int l = 0; l < k; l++)
                    for (int j = 0; j < k; j++)
                        logConf[b + l * k + j] = l == j ? logRight : logWrong;
            }
        }, compute, progress, cancellationToken, initialPosteriors);
        return ConfusionEm.Result(Name, Options, answers, run, skill);
    }
}
