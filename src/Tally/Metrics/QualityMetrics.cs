using System.Collections.Immutable;
using System.Runtime.InteropServices;
using Tally.Core;

namespace Tally.Metrics;

/// <summary>Options of <see cref="QualityMetrics"/>.</summary>
public sealed record QualityMetricsOptions
{
    /// <summary>Coverage of the Wilson intervals on worker accuracy (default 0.95).</summary>
    public double ConfidenceLevel { get; init; } = 0.95;

    /// <summary>Checks the options.</summary>
    /// <exception cref="InvalidOptionException">The level is not strictly between 0 and 1.</exception>
    public void Validate()
    {
        if (!(ConfidenceLevel > 0 && ConfidenceLevel < 1))
            throw new InvalidOptionException(nameof(ConfidenceLevel), $"must be strictly between 0 and 1 (got {NumberFormat.Number(ConfidenceLevel)})");
    }
}

/// <summary>What <see cref="QualityMetrics.Compute"/> measured: agreement coefficients, and per task and per worker quality.</summary>
public sealed record QualityReport
{
    /// <summary>The answers measured.</summary>
    public required LabelMatrix Answers { get; init; }
    /// <summary>Krippendorff's α, nominal (null when undefined).</summary>
    public double? AlphaNominal { get; init; }
    /// <summary>Krippendorff's α, ordinal in the class order (null when undefined).</summary>
    public double? AlphaOrdinal { get; init; }
    /// <summary>Krippendorff's α, interval (null when undefined or the classes are not numbers).</summary>
    public double? AlphaInterval { get; init; }
    /// <summary>Fleiss' κ (null when undefined).</summary>
    public double? FleissKappa { get; init; }
    /// <summary>The aggregate label of each task.</summary>
    public required ImmutableArray<int> Labels { get; init; }
    /// <summary>Entropy (nats) of each task's posterior: 0 = certain, ln K = no idea.</summary>
    public required ImmutableArray<double> Entropy { get; init; }
    /// <summary>Fraction of each task's answers equal to its aggregate label.</summary>
    public required ImmutableArray<double> TaskAgreement { get; init; }
    /// <summary>
    /// Posterior probability of the aggregate label under a one-coin model whose worker accuracies are their agreement
    /// with the aggregate (Crowd-Kit's <c>consistency</c>): how strongly the answers, weighted by who gave them, back it.
    /// </summary>
    public required ImmutableArray<double> Consistency { get; init; }
    /// <summary>Fraction of each worker's answers equal to the aggregate label.</summary>
    public required ImmutableArray<double> WorkerAgreement { get; init; }
    /// <summary>Answers of each worker on tasks with a known truth (0 without truth).</summary>
    public required ImmutableArray<int> GoldAnswers { get; init; }
    /// <summary>Correct answers of each worker on tasks with a known truth.</summary>
    public required ImmutableArray<int> GoldCorrect { get; init; }
    /// <summary>Lower end of the Wilson interval on each worker's gold accuracy (0 without gold answers).</summary>
    public required ImmutableArray<double> AccuracyLow { get; init; }
    /// <summary>Upper end of the Wilson interval (1 without gold answers).</summary>
    public required ImmutableArray<double> AccuracyHigh { get; init; }
    /// <summary>Coverage of the accuracy intervals.</summary>
    public required double ConfidenceLevel { get; init; }
    /// <summary>Whether a truth was given (so the gold columns mean something).</summary>
    public bool HasTruth { get; init; }

    /// <summary>Worker w's accuracy on gold, or null without gold answers.</summary>
    public double? Accuracy(int worker) => GoldAnswers[worker] > 0 ? (double)GoldCorrect[worker] / GoldAnswers[worker] : null;

    /// <summary>Mean of <see cref="Entropy"/>.</summary>
    public double MeanEntropy => Mean(Entropy);
    /// <summary>Mean of <see cref="Consistency"/>.</summary>
    public double MeanConsistency => Mean(Consistency);
    /// <summary>Mean of <see cref="TaskAgreement"/>.</summary>
    public double MeanTaskAgreement => Mean(TaskAgreement);

    private static double Mean(ImmutableArray<double> x)
    {
        if (x.IsEmpty) return 0;
        double s = 0;
        foreach (double v in x) s += v;
        return s / x.Length;
    }
}

/// <summary>
/// Quality of a crowd's answers and of an aggregate of them: agreement coefficients (<see cref="Reliability"/>), per task
/// the posterior's entropy, the share of answers backing the label and its consistency, per worker the agreement with the
/// aggregate and, against a truth, the accuracy with a Wilson interval.
/// </summary>
public static class QualityMetrics
{
    /// <summary>Measures <paramref name="answers"/> against an aggregate given as T × K <paramref name="posteriors"/> (rows sum to 1).</summary>
    /// <param name="answers">The answers.</param>
    /// <param name="posteriors">The aggregate: task × class probabilities, row after row.</param>
    /// <param name="truth">Known classes (−1 where unknown), or null.</param>
    /// <param name="options">Options; null = defaults.</param>
    public static QualityReport Compute(LabelMatrix answers, ReadOnlySpan<double> posteriors, GoldLabels? truth = null, QualityMetricsOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(answers);
        options ??= new QualityMetricsOptions();
        options.Validate();
        int T = answers.TaskCount, K = answers.ClassCount, W = answers.WorkerCount;
        if (posteriors.Length != (long)T * K) throw new ArgumentException("posteriors must be tasks × classes.", nameof(posteriors));
        var labels = new int[T];
        var entropy = new double[T];
        for (int t = 0; t < T; t++)
        {
            var row = posteriors.Slice(t * K, K);
            int best = 0;
            double h = 0;
            for (int c = 0; c < K; c++)
            {
                if (row[c] > row[best]) best = c;
                if (row[c] > 0) h -= row[c] * Math.Log(row[c]);
            }
            labels[t] = best;
            entropy[t] = Math.Max(0, h);
        }

        var taskAgreement = new double[T];
        for (int t = 0; t < T; t++)
        {
            int agree = 0;
            foreach (int c in answers.LabelsOf(t)) if (c == labels[t]) agree++;
            taskAgreement[t] = answers.TaskDegree(t) > 0 ? (double)agree / answers.TaskDegree(t) : 0;
        }
        var workerAgreement = new double[W];
        for (int w = 0; w < W; w++)
        {
            int agree = 0;
            var tasks = answers.TasksOf(w); var given = answers.LabelsBy(w);
            for (int i = 0; i < tasks.Length; i++) if (given[i] == labels[tasks[i]]) agree++;
            workerAgreement[w] = tasks.Length > 0 ? (double)agree / tasks.Length : 0;
        }

        // One-coin posterior with the agreement as accuracy, in log space; skills kept off 0 and 1 so no answer is decisive.
        var consistency = new double[T];
        var logp = new double[K];
        for (int t = 0; t < T; t++)
        {
            if (K == 1) { consistency[t] = 1; continue; }
            Array.Clear(logp);
            var ws = answers.WorkersOf(t); var ls = answers.LabelsOf(t);
            for (int i = 0; i < ws.Length; i++)
            {
                double s = Math.Clamp(workerAgreement[ws[i]], 1e-3, 1 - 1e-3);
                double right = Math.Log(s), wrong = Math.Log((1 - s) / (K - 1));
                for (int c = 0; c < K; c++) logp[c] += c == ls[i] ? right : wrong;
            }
            double max = double.NegativeInfinity;
            foreach (double x in logp) max = Math.Max(max, x);
            double z = 0;
            foreach (double x in logp) z += Math.Exp(x - max);
            consistency[t] = Math.Exp(logp[labels[t]] - max) / z;
        }

        var goldAnswers = new int[W]; var goldCorrect = new int[W];
        var low = new double[W]; var high = new double[W];
        for (int w = 0; w < W; w++)
        {
            if (truth is not null)
            {
                var tasks = answers.TasksOf(w); var given = answers.LabelsBy(w);
                for (int i = 0; i < tasks.Length; i++)
                {
                    int g = truth[tasks[i]];
                    if (g < 0) continue;
                    goldAnswers[w]++;
                    if (given[i] == g) goldCorrect[w]++;
                }
            }
            (low[w], high[w]) = Wilson(goldCorrect[w], goldAnswers[w], options.ConfidenceLevel);
        }

        return new QualityReport
        {
            Answers = answers,
            AlphaNominal = Reliability.KrippendorffAlpha(answers, AlphaLevel.Nominal),
            AlphaOrdinal = Reliability.KrippendorffAlpha(answers, AlphaLevel.Ordinal),
            AlphaInterval = Reliability.HasNumericClasses(answers) ? Reliability.KrippendorffAlpha(answers, AlphaLevel.Interval) : null,
            FleissKappa = Reliability.FleissKappa(answers),
            Labels = Wrap(labels),
            Entropy = Wrap(entropy),
            TaskAgreement = Wrap(taskAgreement),
            Consistency = Wrap(consistency),
            WorkerAgreement = Wrap(workerAgreement),
            GoldAnswers = Wrap(goldAnswers),
            GoldCorrect = Wrap(goldCorrect),
            AccuracyLow = Wrap(low),
            AccuracyHigh = Wrap(high),
            ConfidenceLevel = options.ConfidenceLevel,
            HasTruth = truth is not null,
        };
    }

    /// <summary>
    /// The Wilson score interval for a proportion: (p̂ + z²/2n ± z √(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n) (E. B. Wilson,
    /// "Probable inference, the law of succession, and statistical inference", JASA 22, 1927). Unlike p̂ ± z·se it stays
    /// inside [0, 1] and is not empty at 0 or n successes. (0, 1) when n = 0.
    /// </summary>
    public static (double Low, double High) Wilson(int successes, int n, double level = 0.95)
    {
        if (n <= 0) return (0, 1);
        if (successes < 0 || successes > n) throw new ArgumentOutOfRangeException(nameof(successes));
        double z = NormalDistribution.Quantile(0.5 + level / 2), p = (double)successes / n, z2 = z * z;
        double centre = (p + z2 / (2 * n)) / (1 + z2 / n);
        double half = z * Math.Sqrt(p * (1 - p) / n + z2 / (4.0 * n * n)) / (1 + z2 / n);
        // At 0 or n successes the bound is exactly 0 or 1; round-off would leave a speck.
        return (successes == 0 ? 0 : Math.Max(0, centre - half), successes == n ? 1 : Math.Min(1, centre + half));
    }

    private static ImmutableArray<T> Wrap<T>(T[] a) => ImmutableCollectionsMarshal.AsImmutableArray(a);
}
