using System.Diagnostics;
using Tally.Aggregation;
using Tally.Catalogs;
using Tally.Core;

namespace Tally.Application;

/// <summary>One method's row in a comparison.</summary>
/// <param name="Method">Method name.</param>
/// <param name="Accuracy">Accuracy against the truth (fraction), or null when the method could not run on this input.</param>
/// <param name="Seconds">Wall time of the fit.</param>
/// <param name="Iterations">Iterations run.</param>
/// <param name="Converged">Whether it converged.</param>
/// <param name="Note">Why it did not run (e.g. "binary only"), else empty.</param>
public sealed record ComparisonRow(string Method, double? Accuracy, double Seconds, int Iterations, bool Converged, string Note);

/// <summary>Runs several truth-inference methods on the same answers and scores them against the same truth.</summary>
public static class MethodComparison
{
    /// <summary>
    /// Runs each method in turn (sequentially, so timings are comparable; each may use <paramref name="compute"/>'s
    /// threads) and reports accuracy and time. A method that is not defined for the input (a binary-only method on
    /// K &gt; 2) or would not fit in memory (<see cref="MemoryLimitException"/>) gets a row with a note instead of
    /// failing the run.
    /// </summary>
    /// <param name="answers">The answers.</param>
    /// <param name="truth">The truth to score against.</param>
    /// <param name="methods">The methods, in the order of the rows.</param>
    /// <param name="options">Overrides applied to every method.</param>
    /// <param name="compute">Threads each method may use.</param>
    /// <param name="progress">"Running NAME" and the fraction of methods done.</param>
    /// <param name="cancellationToken">Stops the running method.</param>
    public static IReadOnlyList<ComparisonRow> Run(LabelMatrix answers, GoldLabels truth, IReadOnlyList<AggregatorInfo> methods,
        CommonMethodOptions options, ComputeOptions? compute = null, IProgress<JobProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(answers);
        ArgumentNullException.ThrowIfNull(truth);
        ArgumentNullException.ThrowIfNull(methods);
        ArgumentNullException.ThrowIfNull(options);
        var rows = new List<ComparisonRow>();
        for (int i = 0; i < methods.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var info = methods[i];
            progress?.Report(new JobProgress("Running " + info.Name, (double)i / methods.Count));
            if (info.BinaryOnly && answers.ClassCount != 2)
            {
                rows.Add(new ComparisonRow(info.Name, null, 0, 0, false, $"binary only (K = {answers.ClassCount})"));
                continue;
            }
            var clock = Stopwatch.StartNew();
            AggregationResult result;
            try { result = info.Create(options).Aggregate(answers, compute, null, cancellationToken); }
            catch (MemoryLimitException e)
            {
                // Refused before allocating: the other methods still run, and the row says why this one did not.
                rows.Add(new ComparisonRow(info.Name, null, 0, 0, false, e.LimitBytes > 0
                    ? $"too large: needs about {MemoryBudget.Size(e.EstimatedBytes)} (limit {MemoryBudget.Size(e.LimitBytes)})"
                    : "too large: an array would exceed .NET's maximum length"));
                continue;
            }
            double seconds = clock.Elapsed.TotalSeconds;
            rows.Add(new ComparisonRow(info.Name, Accuracy.Of(result.Labels.AsSpan(), truth).Value, seconds,
                result.Iterations, result.Converged, ""));
        }
        return rows;
    }
}
