using MathNet.Numerics.Distributions;
using Tally.Core;

namespace Tally.Aggregation.Numeric;

/// <summary>Options of <see cref="Catd"/>.</summary>
public sealed record CatdOptions : NumericIterativeOptions
{
    /// <summary>Defaults: 100 iterations, tolerance 1e-6 (relative to the answers' standard deviation).</summary>
    public CatdOptions() { MaxIterations = 100; Tolerance = 1e-6; }

    /// <summary>Significance α of the chi-squared bound on each worker's variance; default 0.05, as in the paper.</summary>
    public double Significance { get; init; } = 0.05;

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        if (!(Significance > 0 && Significance < 1)) throw new InvalidOptionException(nameof(Significance), $"must be strictly between 0 and 1 (got {NumberFormat.Number(Significance)})");
    }
}

/// <summary>
/// CATD, confidence-aware truth discovery: each worker's weight is the reciprocal of an upper confidence bound on her
/// error variance, w_j = χ²_{α/2}(n_j) / Σ_i (y_ij − ẑ_i)² (the α/2 quantile of the chi-squared distribution with n_j
/// degrees of freedom), so workers with few answers are trusted less than their small error sum alone would suggest;
/// the truths are the weighted means ẑ_i = Σ_j w_j y_ij / Σ_j w_j; the two steps alternate from the per-task median.
/// Q. Li, Y. Li, J. Gao, L. Su, B. Zhao, M. Demirbas, W. Fan and J. Han, "A Confidence-Aware Approach for Truth
/// Discovery on Long-Tail Data", PVLDB 8(4), 2014, §3 (the chi-squared weight) and its Algorithm 1.
/// </summary>
/// <remarks>An error sum of 0 is floored at a tiny fraction of the answers' variance (a worker who always matches the
/// estimate gets a large but finite weight). Interval and worker variance: the weights read as precisions up to one
/// common factor, fitted to the residuals (see <see cref="NumericResult.WorkerVariance"/>); bias: the mean residual.</remarks>
public sealed class Catd(CatdOptions? options = null) : INumericAggregator
{
    /// <summary>The options in use.</summary>
    public CatdOptions Options { get; } = options ?? new CatdOptions();

    /// <inheritdoc />
    public string Name => "catd";

    /// <inheritdoc />
    public NumericResult Aggregate(NumericAnswerMatrix answers, ComputeOptions? compute = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(answers);
        var o = Options;
        o.Validate();
        var a = answers;
        int W = a.WorkerCount;
        double scale = NumericKernel.Scale(a), floor = NumericKernel.RelativeFloor * scale;
        var chi = new double[W];
        for (int w = 0; w < W; w++)
        {
            int n = a.WorkerAnswerCount(w);
            chi[w] = n > 0 ? ChiSquared.InvCDF(n, o.Significance / 2) : 0;
        }
        var z = NumericKernel.Medians(a);
        var weight = new double[W];
        var (iterations, converged) = WeightedTruth.Iterate(a, z, weight, o, cancellationToken, (errors, counts) =>
        {
            for (int w = 0; w < W; w++) weight[w] = counts[w] > 0 ? chi[w] / Math.Max(errors[w], floor * counts[w]) : 0;
        }, squaredPerTaskScale: false);
        var lower = new double[z.Length];
        var upper = new double[z.Length];
        var variance = NumericKernel.WeightedIntervals(a, z, weight, o.IntervalLevel, lower, upper);
        var (bias, _) = NumericKernel.Residuals(a, z);
        return NumericKernel.Result(Name, a, o, z, lower, upper, bias, variance, weight, iterations, converged);
    }
}

/// <summary>Options of <see cref="Crh"/>.</summary>
public sealed record CrhOptions : NumericIterativeOptions
{
    /// <summary>Defaults: 100 iterations, tolerance 1e-6 (relative to the answers' standard deviation).</summary>
    public CrhOptions() { MaxIterations = 100; Tolerance = 1e-6; }
}

/// <summary>
/// PM / CRH, conflict resolution on heterogeneous data: the truths and the worker weights minimise
/// Σ_j w_j Σ_i d(y_ij, ẑ_i) subject to Σ_j exp(−w_j) = 1, which gives w_j = −log(D_j / Σ_k D_k) with D_j the
/// worker's total loss, and for the continuous loss d(y, ẑ) = (y − ẑ)²/std_i (std_i the standard deviation of task
/// i's answers) the weighted mean ẑ_i = Σ_j w_j y_ij / Σ_j w_j; the two steps alternate from the per-task median.
/// Q. Li, Y. Li, J. Gao, B. Zhao, W. Fan and J. Han, "Resolving Conflicts in Heterogeneous Data by Truth Discovery
/// and Source Reliability Estimation", SIGMOD 2014, §2–3 (the objective, the weight update under its exp constraint,
/// the continuous losses) and its Algorithm 1.
/// </summary>
/// <remarks>A task whose answers all agree (std 0) uses the median over tasks of std_i (or 1) instead, so its loss stays
/// finite. A single worker gets weight 1 (−log 1 = 0 would leave nothing to average). Interval and worker variance as
/// for <see cref="Catd"/>.</remarks>
public sealed class Crh(CrhOptions? options = null) : INumericAggregator
{
    /// <summary>The options in use.</summary>
    public CrhOptions Options { get; } = options ?? new CrhOptions();

    /// <inheritdoc />
    public string Name => "pm";

    /// <inheritdoc />
    public NumericResult Aggregate(NumericAnswerMatrix answers, ComputeOptions? compute = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(answers);
        var o = Options;
        o.Validate();
        var a = answers;
        int W = a.WorkerCount;
        double scale = NumericKernel.Scale(a), floor = NumericKernel.RelativeFloor * scale;
        var z = NumericKernel.Medians(a);
        var weight = new double[W];
        var (iterations, converged) = WeightedTruth.Iterate(a, z, weight, o, cancellationToken, (errors, counts) =>
        {
            double total = 0;
            int active = 0;
            for (int w = 0; w < W; w++) if (counts[w] > 0) { total += Math.Max(errors[w], floor); active++; }
            for (int w = 0; w < W; w++)
                weight[w] = counts[w] == 0 ? 0 : active == 1 ? 1 : -Math.Log(Math.Max(errors[w], floor) / total);
        }, squaredPerTaskScale: true);
        var lower = new double[z.Length];
        var upper = new double[z.Length];
        var variance = NumericKernel.WeightedIntervals(a, z, weight, o.IntervalLevel, lower, upper);
        var (bias, _) = NumericKernel.Residuals(a, z);
        return NumericKernel.Result(Name, a, o, z, lower, upper, bias, variance, weight, iterations, converged);
    }
}

/// <summary>The alternation shared by CATD and CRH: worker losses from the truths, weights from the losses, truths as weighted means.</summary>
internal static class WeightedTruth
{
    /// <summary>
    /// Runs the alternation on <paramref name="z"/> (the start, updated in place); <paramref name="weights"/> turns
    /// per-worker loss sums and answer counts into <paramref name="weight"/>. With <paramref name="squaredPerTaskScale"/>
    /// each squared error is divided by its task's answer standard deviation (CRH's continuous loss).
    /// </summary>
    public static (int Iterations, bool Converged) Iterate(NumericAnswerMatrix a, double[] z, double[] weight, NumericIterativeOptions o,
        CancellationToken ct, Action<double[], int[]> weights, bool squaredPerTaskScale)
    {
        int T = a.TaskCount, W = a.WorkerCount;
        double sd = Math.Sqrt(NumericKernel.Scale(a));
        var taskScale = new double[T];
        Array.Fill(taskScale, 1.0);
        if (squaredPerTaskScale)
        {
            var stds = new List<double>();
            for (int i = 0; i < T; i++)
            {
                var v = a.TaskAnswers(i);
                double m = 0;
                foreach (var x in v) m += x;
                m /= Math.Max(1, v.Length);
                double s = 0;
                foreach (var x in v) s += (x - m) * (x - m);
                taskScale[i] = v.Length > 1 ? Math.Sqrt(s / (v.Length - 1)) : 0;
                if (taskScale[i] > 0) stds.Add(taskScale[i]);
            }
            stds.Sort();
            double fallback = stds.Count > 0 ? stds[stds.Count / 2] : 1;
            for (int i = 0; i < T; i++) if (!(taskScale[i] > 0)) taskScale[i] = fallback;
        }
        var errors = new double[W];
        var counts = new int[W];
        for (int w = 0; w < W; w++) counts[w] = a.WorkerAnswerCount(w);
        var previous = new double[T];
        int it = 0;
        bool converged = false;
        while (it < o.MaxIterations)
        {
            ct.ThrowIfCancellationRequested();
            Array.Clear(errors);
            for (int i = 0; i < T; i++)
                for (int e = a.TaskOffsets[i]; e < a.TaskOffsets[i + 1]; e++)
                {
                    double r = a.TaskValues[e] - z[i];
                    errors[a.TaskWorkers[e]] += r * r / taskScale[i];
                }
            weights(errors, counts);
            Array.Copy(z, previous, T);
            for (int i = 0; i < T; i++)
            {
                double num = 0, den = 0;
                for (int e = a.TaskOffsets[i]; e < a.TaskOffsets[i + 1]; e++)
                {
                    double w = weight[a.TaskWorkers[e]];
                    num += w * a.TaskValues[e]; den += w;
                }
                if (den > 0) z[i] = num / den;
            }
            it++;
            if (o.Tolerance > 0 && NumericKernel.MaxChange(z, previous) < o.Tolerance * sd) { converged = true; break; }
        }
        if (it == 0)
        {
            // No iteration: weights of the start, so the result still carries them.
            Array.Clear(errors);
            for (int i = 0; i < T; i++)
                for (int e = a.TaskOffsets[i]; e < a.TaskOffsets[i + 1]; e++)
                {
                    double r = a.TaskValues[e] - z[i];
                    errors[a.TaskWorkers[e]] += r * r / taskScale[i];
                }
            weights(errors, counts);
        }
        return (it, converged);
    }
}
