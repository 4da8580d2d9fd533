using Tally.Catalogs;
using System.Diagnostics;
using Tally.Aggregation;
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
    /// Runs each method in turn (sequentially, so timings are comparable) and reports accuracy and time. A method that
    /// rejects the input (for instance a binary-only method on K &gt; 2) gets a row with a note instead of failing the run.
    /// </summary>
    public static IReadOnlyList<ComparisonRow> Run(LabelMatrix answers, GoldLabels truth, IEnumerable<AggregatorInfo> methods,
        CommonMethodOptions options, Action<string>? starting = null, ComputeOptions? compute = null, CancellationToken ct = default)
    {
        var rows = new List<ComparisonRow>();
        foreach (var info in methods)
        {
            ct.ThrowIfCancellationRequested();
            starting?.Invoke(info.Name);
            if (info.BinaryOnly && answers.ClassCount != 2)
            {
                rows.Add(new ComparisonRow(info.Name, null, 0, 0, false, $"binary only (K = {answers.ClassCount})"));
                continue;
            }
            var clock = Stopwatch.StartNew();
            var result = info.Create(options).Aggregate(answers, compute, null, ct);
            double seconds = clock.Elapsed.TotalSeconds;
            rows.Add(new ComparisonRow(info.Name, Accuracy.Of(result.Labels.AsSpan(), truth).Value, seconds,
                result.Iterations, result.Converged, ""));
        }
        return rows;
    }
}
