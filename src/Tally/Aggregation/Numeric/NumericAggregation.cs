using System.Collections.Immutable;
using MathNet.Numerics.Distributions;
using Tally.Core;

namespace Tally.Aggregation.Numeric;

/// <summary>A truth-inference method for numeric answers: one estimate per task from the values the workers gave.</summary>
public interface INumericAggregator
{
    /// <summary>Short name, as in the catalog.</summary>
    string Name { get; }

    /// <summary>Estimates every task's true value, with an interval, and every worker's bias and variance.</summary>
    /// <exception cref="InvalidOptionException">The options are out of range.</exception>
    NumericResult Aggregate(NumericAnswerMatrix answers, ComputeOptions? compute = null, CancellationToken cancellationToken = default);
}

/// <summary>Options every numeric method shares.</summary>
public abstract record NumericOptions
{
    /// <summary>Coverage of the uncertainty interval of each estimate; default 0.95.</summary>
    public double IntervalLevel { get; init; } = 0.95;

    /// <summary>Checks the options; derived records add their own checks and call this.</summary>
    /// <exception cref="InvalidOptionException">An option is out of range.</exception>
    public virtual void Validate()
    {
        if (!(IntervalLevel > 0 && IntervalLevel < 1)) throw new InvalidOptionException(nameof(IntervalLevel), $"must be strictly between 0 and 1 (got {NumberFormat.Number(IntervalLevel)})");
    }
}

/// <summary>Options of the iterative numeric methods.</summary>
public abstract record NumericIterativeOptions : NumericOptions
{
    /// <summary>Iteration limit; default 100.</summary>
    public int MaxIterations { get; init; } = 100;
    /// <summary>Stop when no estimate moves by more than this, relative to the answers' standard deviation; 0 = always run <see cref="MaxIterations"/>. Default 1e-6.</summary>
    public double Tolerance { get; init; } = 1e-6;

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        Check.AtLeast(MaxIterations, 0, nameof(MaxIterations));
        Check.AtLeast(Tolerance, 0, nameof(Tolerance));
    }
}

/// <summary>What a numeric method inferred. Immutable; every number is finite.</summary>
public sealed record NumericResult
{
    /// <summary>The method's name.</summary>
    public required string Method { get; init; }
    /// <summary>The answers it was run on.</summary>
    public required NumericAnswerMatrix Answers { get; init; }
    /// <summary>The estimated true value of every task.</summary>
    public required ImmutableArray<double> Estimates { get; init; }
    /// <summary>Lower end of each estimate's interval (coverage <see cref="IntervalLevel"/>).</summary>
    public required ImmutableArray<double> Lower { get; init; }
    /// <summary>Upper end of each estimate's interval.</summary>
    public required ImmutableArray<double> Upper { get; init; }
    /// <summary>The intervals' nominal coverage.</summary>
    public required double IntervalLevel { get; init; }
    /// <summary>
    /// Each worker's bias: how far above the truth her answers lie on average — the fitted parameter for models with a
    /// bias (lfc, lfc-t), otherwise the mean of her answers minus the estimates.
    /// </summary>
    public required ImmutableArray<double> WorkerBias { get; init; }
    /// <summary>
    /// Each worker's noise variance — fitted for lfc and lfc-t (lfc-t: the t distribution's squared scale), the
    /// variance the weights imply for catd and pm (see each method), otherwise the variance of her residuals about her bias.
    /// </summary>
    public required ImmutableArray<double> WorkerVariance { get; init; }
    /// <summary>Each worker's weight in the estimates (1 for the unweighted methods).</summary>
    public required ImmutableArray<double> WorkerWeight { get; init; }
    /// <summary>Iterations run (0 for the methods that do not iterate).</summary>
    public int Iterations { get; init; }
    /// <summary>Whether the tolerance was reached (true for the methods that do not iterate).</summary>
    public bool Converged { get; init; } = true;
}

/// <summary>Error of numeric estimates against known true values.</summary>
/// <param name="Evaluated">Tasks with a true value.</param>
/// <param name="MeanAbsoluteError">MAE.</param>
/// <param name="RootMeanSquaredError">RMSE.</param>
/// <param name="Coverage">Share of the evaluated tasks whose interval holds the truth.</param>
public sealed record NumericError(int Evaluated, double MeanAbsoluteError, double RootMeanSquaredError, double Coverage)
{
    /// <summary>Scores <paramref name="result"/> against <paramref name="truth"/> (NaN = unknown); null when no task has a truth.</summary>
    public static NumericError? Of(NumericResult result, ReadOnlySpan<double> truth)
    {
        ArgumentNullException.ThrowIfNull(result);
        if (truth.Length != result.Estimates.Length) throw new ArgumentException("truth must have one value per task.", nameof(truth));
        int n = 0, inside = 0;
        double abs = 0, sq = 0;
        for (int t = 0; t < truth.Length; t++)
        {
            if (double.IsNaN(truth[t])) continue;
            double e = result.Estimates[t] - truth[t];
            n++; abs += Math.Abs(e); sq += e * e;
            if (truth[t] >= result.Lower[t] && truth[t] <= result.Upper[t]) inside++;
        }
        return n == 0 ? null : new NumericError(n, abs / n, Math.Sqrt(sq / n), (double)inside / n);
    }
}

/// <summary>Pieces the numeric methods share.</summary>
internal static class NumericKernel
{
    /// <summary>Variances and scales below this (relative to the answers' spread) are floored, so no weight is infinite.</summary>
    public const double RelativeFloor = 1e-6;

    /// <summary>The two-sided standard normal quantile for <paramref name="level"/> (1.96 for 0.95).</summary>
    public static double NormalQuantile(double level) => Normal.InvCDF(0, 1, 1 - (1 - level) / 2);

    /// <summary>The two-sided Student-t quantile for <paramref name="level"/> with <paramref name="df"/> degrees of freedom.</summary>
    public static double StudentQuantile(double level, double df) => StudentT.InvCDF(0, 1, df, 1 - (1 - level) / 2);

    /// <summary>Variance of all answers about their mean (population), floored at a tiny positive value: the data's scale.</summary>
    public static double Scale(NumericAnswerMatrix a)
    {
        var v = a.TaskValues;
        if (v.Length == 0) return 1;
        double mean = 0;
        foreach (var x in v) mean += x;
        mean /= v.Length;
        double s = 0;
        foreach (var x in v) s += (x - mean) * (x - mean);
        s /= v.Length;
        double magnitude = Math.Max(1, mean * mean);
        return s > 1e-12 * magnitude ? s : 1e-12 * magnitude;
    }

    /// <summary>The plain per-task means.</summary>
    public static double[] Means(NumericAnswerMatrix a)
    {
        var z = new double[a.TaskCount];
        for (int t = 0; t < z.Length; t++)
        {
            var v = a.TaskAnswers(t);
            double s = 0;
            foreach (var x in v) s += x;
            z[t] = v.Length == 0 ? 0 : s / v.Length;
        }
        return z;
    }

    /// <summary>The per-task medians (mean of the two middle values for an even count).</summary>
    public static double[] Medians(NumericAnswerMatrix a)
    {
        var z = new double[a.TaskCount];
        var buffer = new double[MaxTaskDegree(a)];
        for (int t = 0; t < z.Length; t++)
        {
            var v = a.TaskAnswers(t);
            if (v.Length == 0) continue;
            var s = buffer.AsSpan(0, v.Length);
            v.CopyTo(s);
            s.Sort();
            z[t] = s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
        }
        return z;
    }

    /// <summary>The most answers any task has.</summary>
    public static int MaxTaskDegree(NumericAnswerMatrix a)
    {
        int m = 0;
        for (int t = 0; t < a.TaskCount; t++) m = Math.Max(m, a.TaskOffsets[t + 1] - a.TaskOffsets[t]);
        return m;
    }

    /// <summary>
    /// Each worker's empirical bias (mean of answer − estimate) and variance (of the residuals about that bias; 0 for
    /// a single answer), in worker order.
    /// </summary>
    public static (double[] Bias, double[] Variance) Residuals(NumericAnswerMatrix a, ReadOnlySpan<double> estimates)
    {
        int W = a.WorkerCount;
        var bias = new double[W];
        var variance = new double[W];
        for (int w = 0; w < W; w++)
        {
            int lo = a.WorkerOffsets[w], hi = a.WorkerOffsets[w + 1];
            if (hi == lo) continue;
            double s = 0;
            for (int i = lo; i < hi; i++) s += a.WorkerValues[i] - estimates[a.WorkerTasks[i]];
            double b = s / (hi - lo), q = 0;
            for (int i = lo; i < hi; i++) { double r = a.WorkerValues[i] - estimates[a.WorkerTasks[i]] - b; q += r * r; }
            bias[w] = b;
            variance[w] = q / (hi - lo);
        }
        return (bias, variance);
    }

    /// <summary>The largest change between two estimate vectors.</summary>
    public static double MaxChange(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs(a[i] - b[i]));
        return m;
    }

    /// <summary>Builds the result, replacing any non-finite number (which the methods guard against) by a safe value.</summary>
    public static NumericResult Result(string method, NumericAnswerMatrix a, NumericOptions o, double[] z, double[] lower, double[] upper,
        double[] bias, double[] variance, double[] weight, int iterations, bool converged)
    {
        for (int t = 0; t < z.Length; t++)
        {
            if (!double.IsFinite(z[t])) z[t] = 0;
            if (!double.IsFinite(lower[t]) || lower[t] > z[t]) lower[t] = z[t];
            if (!double.IsFinite(upper[t]) || upper[t] < z[t]) upper[t] = z[t];
        }
        for (int w = 0; w < bias.Length; w++)
        {
            if (!double.IsFinite(bias[w])) bias[w] = 0;
            if (!double.IsFinite(variance[w]) || variance[w] < 0) variance[w] = 0;
            if (!double.IsFinite(weight[w]) || weight[w] < 0) weight[w] = 0;
        }
        return new NumericResult
        {
            Method = method, Answers = a, IntervalLevel = o.IntervalLevel,
            Estimates = [.. z], Lower = [.. lower], Upper = [.. upper],
            WorkerBias = [.. bias], WorkerVariance = [.. variance], WorkerWeight = [.. weight],
            Iterations = iterations, Converged = converged,
        };
    }

    /// <summary>
    /// Interval z ± q·√(c / Σ_j w_j) for weighted-mean methods whose weights w_j are precisions up to a common factor c,
    /// fitted so that the weighted squared residuals average 1 (c = mean over answers of w_j r²); q the normal quantile.
    /// Also returns each worker's implied variance c / w_j.
    /// </summary>
    public static double[] WeightedIntervals(NumericAnswerMatrix a, double[] z, double[] weight, double level, double[] lower, double[] upper)
    {
        double c = 0;
        int n = 0;
        for (int t = 0; t < a.TaskCount; t++)
            for (int i = a.TaskOffsets[t]; i < a.TaskOffsets[t + 1]; i++)
            {
                double r = a.TaskValues[i] - z[t];
                c += weight[a.TaskWorkers[i]] * r * r; n++;
            }
        c = n == 0 ? 0 : c / n;
        double q = NormalQuantile(level);
        for (int t = 0; t < a.TaskCount; t++)
        {
            double s = 0;
            for (int i = a.TaskOffsets[t]; i < a.TaskOffsets[t + 1]; i++) s += weight[a.TaskWorkers[i]];
            double half = s > 0 ? q * Math.Sqrt(c / s) : 0;
            lower[t] = z[t] - half; upper[t] = z[t] + half;
        }
        var variance = new double[a.WorkerCount];
        for (int w = 0; w < variance.Length; w++) variance[w] = weight[w] > 0 ? c / weight[w] : 0;
        return variance;
    }
}
