using Tally.Core;

namespace Tally.Aggregation.Numeric;

/// <summary>Options of <see cref="Mean"/>.</summary>
public sealed record MeanOptions : NumericOptions;

/// <summary>
/// The plain mean of each task's answers — the baseline the truth-inference survey of Zheng et al. ("Truth Inference
/// in Crowdsourcing: Is the Problem Solved?", PVLDB 10(5), 2017, §6.3) finds hard to beat on numeric data.
/// Interval: mean ± t_{n−1}·s/√n with s the task's standard deviation; for a task with one answer, s is the pooled
/// within-task standard deviation of all tasks (0 if no task has two answers).
/// Worker bias and variance: of each worker's residuals about the means.
/// </summary>
public sealed class Mean(MeanOptions? options = null) : INumericAggregator
{
    /// <summary>The options in use.</summary>
    public MeanOptions Options { get; } = options ?? new MeanOptions();

    /// <inheritdoc />
    public string Name => "mean";

    /// <inheritdoc />
    public NumericResult Aggregate(NumericAnswerMatrix answers, ComputeOptions? compute = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(answers);
        Options.Validate();
        var z = NumericKernel.Means(answers);
        var (lower, upper) = Baseline.TIntervals(answers, z, Options.IntervalLevel);
        return Baseline.Finish(Name, answers, Options, z, lower, upper);
    }
}

/// <summary>Options of <see cref="Median"/>.</summary>
public sealed record MedianOptions : NumericOptions;

/// <summary>
/// The median of each task's answers: robust to a minority of wild answers. Interval: the distribution-free
/// order-statistic interval [x_(j), x_(n+1−j)] with the largest j whose binomial coverage 1 − 2·P(Bin(n, ½) &lt; j) is
/// at least the level (the whole range when n is too small for any such j).
/// </summary>
public sealed class Median(MedianOptions? options = null) : INumericAggregator
{
    /// <summary>The options in use.</summary>
    public MedianOptions Options { get; } = options ?? new MedianOptions();

    /// <inheritdoc />
    public string Name => "median";

    /// <inheritdoc />
    public NumericResult Aggregate(NumericAnswerMatrix answers, ComputeOptions? compute = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(answers);
        Options.Validate();
        var z = NumericKernel.Medians(answers);
        int T = answers.TaskCount;
        var lower = new double[T];
        var upper = new double[T];
        var buffer = new double[NumericKernel.MaxTaskDegree(answers)];
        for (int t = 0; t < T; t++)
        {
            var v = answers.TaskAnswers(t);
            var s = buffer.AsSpan(0, v.Length);
            v.CopyTo(s);
            s.Sort();
            int j = OrderStatistic(v.Length, Options.IntervalLevel);
            lower[t] = s.Length == 0 ? z[t] : s[j - 1];
            upper[t] = s.Length == 0 ? z[t] : s[s.Length - j];
        }
        return Baseline.Finish(Name, answers, Options, z, lower, upper);
    }

    /// <summary>The largest j in 1..n/2 with coverage 1 − 2·P(Bin(n, ½) ≤ j − 1) ≥ level; 1 if none.</summary>
    internal static int OrderStatistic(int n, double level)
    {
        int best = 1;
        double cdf = 0, pmf = Math.Pow(0.5, n); // pmf = P(Bin = j − 1)
        for (int j = 1; j <= n / 2; j++)
        {
            cdf += pmf;
            if (1 - 2 * cdf >= level) best = j; else break;
            pmf = pmf * (n - (j - 1)) / j;
        }
        return best;
    }
}

/// <summary>Options of <see cref="TrimmedMean"/>.</summary>
public sealed record TrimmedMeanOptions : NumericOptions
{
    /// <summary>Share γ of the answers cut from each end before averaging; default 0.2 (Wilcox's usual choice). In [0, 0.5).</summary>
    public double Trim { get; init; } = 0.2;

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        if (!(Trim >= 0 && Trim < 0.5)) throw new InvalidOptionException(nameof(Trim), $"must be in [0, 0.5) (got {NumberFormat.Number(Trim)})");
    }
}

/// <summary>
/// The γ-trimmed mean of each task's answers: the mean after dropping the ⌊γn⌋ lowest and highest answers. Interval:
/// Tukey and McLaughlin's, trimmed mean ± t_{h−1}·s_w/((1 − 2γ)√n), with s_w the winsorised standard deviation and
/// h = n − 2⌊γn⌋ answers kept (as in R. R. Wilcox, "Introduction to Robust Estimation and Hypothesis Testing").
/// </summary>
public sealed class TrimmedMean(TrimmedMeanOptions? options = null) : INumericAggregator
{
    /// <summary>The options in use.</summary>
    public TrimmedMeanOptions Options { get; } = options ?? new TrimmedMeanOptions();

    /// <inheritdoc />
    public string Name => "trimmed-mean";

    /// <inheritdoc />
    public NumericResult Aggregate(NumericAnswerMatrix answers, ComputeOptions? compute = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(answers);
        Options.Validate();
        int T = answers.TaskCount;
        var z = new double[T];
        var lower = new double[T];
        var upper = new double[T];
        var buffer = new double[NumericKernel.MaxTaskDegree(answers)];
        for (int t = 0; t < T; t++)
        {
            var v = answers.TaskAnswers(t);
            int n = v.Length;
            if (n == 0) continue;
            var s = buffer.AsSpan(0, n);
            v.CopyTo(s);
            s.Sort();
            int g = (int)Math.Floor(Options.Trim * n), h = n - 2 * g;
            double sum = 0;
            for (int i = g; i < n - g; i++) sum += s[i];
            z[t] = sum / h;
            if (h < 2) { lower[t] = s[0]; upper[t] = s[n - 1]; continue; }
            // Winsorised variance: the cut answers replaced by the nearest kept ones.
            double wm = 0;
            for (int i = 0; i < n; i++) wm += s[Math.Clamp(i, g, n - g - 1)];
            wm /= n;
            double wv = 0;
            for (int i = 0; i < n; i++) { double d = s[Math.Clamp(i, g, n - g - 1)] - wm; wv += d * d; }
            wv /= n - 1;
            double half = NumericKernel.StudentQuantile(Options.IntervalLevel, h - 1) * Math.Sqrt(wv) / ((1 - 2.0 * g / n) * Math.Sqrt(n));
            lower[t] = z[t] - half; upper[t] = z[t] + half;
        }
        return Baseline.Finish(Name, answers, Options, z, lower, upper);
    }
}

/// <summary>Pieces of the baselines.</summary>
internal static class Baseline
{
    /// <summary>Mean ± t_{n−1}·s/√n per task (pooled s for single answers).</summary>
    public static (double[] Lower, double[] Upper) TIntervals(NumericAnswerMatrix a, double[] z, double level)
    {
        int T = a.TaskCount;
        double pooled = 0;
        long df = 0;
        for (int t = 0; t < T; t++)
        {
            var v = a.TaskAnswers(t);
            foreach (var x in v) pooled += (x - z[t]) * (x - z[t]);
            df += Math.Max(0, v.Length - 1);
        }
        double pooledSd = df > 0 ? Math.Sqrt(pooled / df) : 0;
        var lower = new double[T];
        var upper = new double[T];
        for (int t = 0; t < T; t++)
        {
            var v = a.TaskAnswers(t);
            int n = v.Length;
            double half;
            if (n >= 2)
            {
                double s = 0;
                foreach (var x in v) s += (x - z[t]) * (x - z[t]);
                half = NumericKernel.StudentQuantile(level, n - 1) * Math.Sqrt(s / (n - 1) / n);
            }
            else half = df > 0 ? NumericKernel.StudentQuantile(level, df) * pooledSd : 0;
            lower[t] = z[t] - half; upper[t] = z[t] + half;
        }
        return (lower, upper);
    }

    public static NumericResult Finish(string name, NumericAnswerMatrix a, NumericOptions o, double[] z, double[] lower, double[] upper)
    {
        var (bias, variance) = NumericKernel.Residuals(a, z);
        var weight = new double[a.WorkerCount];
        Array.Fill(weight, 1.0);
        return NumericKernel.Result(name, a, o, z, lower, upper, bias, variance, weight, 0, true);
    }
}
