using System.Diagnostics;
using Tally.Aggregation.Pairwise;
using Tally.Catalogs;
using Tally.Core;
using Tally.Metrics;

namespace Tally.Application;

/// <summary>What <see cref="PairwiseJob"/> should do.</summary>
public sealed record PairwiseRequest
{
    /// <summary>The comparisons file (<c>worker,left,right,label</c>); bundled datasets are categorical and refused.</summary>
    public required InputSource Answers { get; init; }
    /// <summary>How to read it.</summary>
    public ComparisonFileOptions Format { get; init; } = new();
    /// <summary>Method name or alias (see <see cref="PairwiseCatalog"/>); null = <see cref="PairwiseCatalog.DefaultMethod"/>.</summary>
    public string? Method { get; init; }
    /// <summary>Overrides of the method's defaults; null fields keep them.</summary>
    public PairwiseMethodOptions Overrides { get; init; } = new();
    /// <summary>True scores (<c>item,score</c>, higher = better) to report Kendall's τ against, or null.</summary>
    public string? TruthPath { get; init; }
    /// <summary>Folder for <c>scores</c> and <c>workers</c> (null = write nothing).</summary>
    public string? OutputDirectory { get; init; }
    /// <summary>Format of the files; null = CSV. Given without a folder, it is refused.</summary>
    public OutputFormat? OutputFormat { get; init; }
}

/// <summary>What <see cref="PairwiseJob"/> did.</summary>
/// <param name="Result">Scores, ranks, confidences, worker parameters.</param>
/// <param name="Method">The method's catalog entry.</param>
/// <param name="Source">The input, for display.</param>
/// <param name="KendallTau">Kendall's τ-b against the true scores (items with a true score only), or null.</param>
/// <param name="ScoredItems">Items with a true score.</param>
/// <param name="UnknownTruthItems">Truth rows naming items without comparisons (not used).</param>
/// <param name="ReadSeconds">Time spent reading.</param>
/// <param name="FitSeconds">Time spent in the method.</param>
/// <param name="Written">Files written.</param>
public sealed record PairwiseOutcome(PairwiseResult Result, PairwiseMethodInfo Method, string Source, double? KendallTau,
    int ScoredItems, int UnknownTruthItems, double ReadSeconds, double FitSeconds, IReadOnlyList<string> Written)
{
    /// <summary>
    /// When the comparison graph falls apart, a sentence saying into which groups (their sizes and first items) and that
    /// no order between them is claimed; null when it is connected.
    /// </summary>
    public string? ComponentsNotice
    {
        get
        {
            var r = Result;
            if (r.ComponentCount <= 1) return null;
            var first = new string?[r.ComponentCount];
            for (int i = 0; i < r.Components.Length; i++) first[r.Components[i]] ??= r.Comparisons.Items[i];
            var parts = Enumerable.Range(0, r.ComponentCount).Take(5)
                .Select(k => $"{k}: {r.ComponentSizes[k]} items from {Quote.Value(first[k])}");
            return $"the comparisons fall into {r.ComponentCount} groups that are never compared with each other ({string.Join("; ", parts)}{(r.ComponentCount > 5 ? "; …" : "")}); "
                + "items are scored and ranked within their group only (column component), and no order between groups is claimed";
        }
    }
}

/// <summary>
/// The pairwise job: read comparisons, score and rank the items with one Bradley-Terry-family method, compare with true
/// scores, write the tables. Used by <c>tally aggregate --type pairwise</c> and open to the server.
/// </summary>
public static class PairwiseJob
{
    /// <summary>Columns of the per-item table.</summary>
    public static IReadOnlyList<string> ScoreColumns { get; } =
        ["item", "component", "rank", "score", "std_error", "low", "high", "confidence", "wins", "losses"];

    /// <summary>Runs the job. Output locations are checked before any work.</summary>
    /// <exception cref="TallyUserException">Bad input or options.</exception>
    public static PairwiseOutcome Run(PairwiseRequest request, ComputeOptions? compute = null, IProgress<JobProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Answers.Dataset is not null)
            throw new TallyUserException("the bundled datasets hold categorical answers; --type pairwise reads a comparisons file (worker,left,right,label)");
        var (path, _, source) = request.Answers.Resolve();
        if (request.OutputDirectory is { } outDir) OutputChecks.WritableDirectory(outDir);
        if (request.OutputFormat is not null && request.OutputDirectory is null)
            throw new TallyUserException("--format applies to the files written with --out; give --out DIR (or drop --format)");
        string name = request.Method ?? PairwiseCatalog.DefaultMethod;
        var info = PairwiseCatalog.Find(name)
            ?? throw new TallyUserException($"unknown pairwise method {Quote.Value(name)} (known: {string.Join(", ", PairwiseCatalog.All.Select(m => m.Name))})");
        var method = info.Create(request.Overrides);

        var clock = Stopwatch.StartNew();
        progress?.Report(new JobProgress("Reading comparisons", 0));
        var comparisons = ComparisonFiles.Read(path, request.Format);
        double readSeconds = clock.Elapsed.TotalSeconds;
        (double[] Scores, int Known, int Unknown)? truth = request.TruthPath is { } tp ? ComparisonFiles.ReadScores(tp, comparisons, request.Format.Encoding) : null;

        clock.Restart();
        progress?.Report(new JobProgress($"Running {info.Name}", 0));
        var result = method.Aggregate(comparisons, compute, cancellationToken);
        double fitSeconds = clock.Elapsed.TotalSeconds;

        double? tau = null;
        if (truth is { Known: > 1 } t)
        {
            // τ only within a component: across components the fitted scores carry no order.
            tau = WithinComponentTau(result, t.Scores);
        }
        var written = new List<string>();
        if (request.OutputDirectory is { } dir) written.AddRange(Write(result, dir, request.OutputFormat ?? OutputFormat.Csv));
        return new PairwiseOutcome(result, info, source, tau, truth?.Known ?? 0, truth?.Unknown ?? 0, readSeconds, fitSeconds, written);
    }

    /// <summary>
    /// Scores comparisons already in memory (a service project's) with the named method — the same fit as
    /// <see cref="Run"/>, for front ends that do not read files.
    /// </summary>
    /// <exception cref="TallyUserException">An unknown method or invalid options.</exception>
    public static PairwiseResult Fit(PairwiseComparisons comparisons, string? method = null, PairwiseMethodOptions? overrides = null,
        ComputeOptions? compute = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(comparisons);
        string name = method ?? PairwiseCatalog.DefaultMethod;
        var info = PairwiseCatalog.Find(name)
            ?? throw new TallyUserException($"unknown pairwise method {Quote.Value(name)} (known: {string.Join(", ", PairwiseCatalog.All.Select(m => m.Name))})");
        return info.Create(overrides ?? new PairwiseMethodOptions()).Aggregate(comparisons, compute, cancellationToken);
    }

    /// <summary>Kendall's τ-b over the item pairs that share a component (pairs across components say nothing).</summary>
    public static double WithinComponentTau(PairwiseResult result, double[] truth)
    {
        ArgumentNullException.ThrowIfNull(result);
        if (result.ComponentCount == 1) return RankCorrelation.KendallTau(result.Scores.AsSpan(), truth);
        // Weighted by pairs: the τ of each component, combined by its number of scored pairs.
        double sum = 0, pairs = 0;
        for (int k = 0; k < result.ComponentCount; k++)
        {
            var fitted = new List<double>(); var real = new List<double>();
            for (int i = 0; i < truth.Length; i++)
                if (result.Components[i] == k && !double.IsNaN(truth[i])) { fitted.Add(result.Scores[i]); real.Add(truth[i]); }
            double p = fitted.Count * (fitted.Count - 1) / 2.0;
            if (p == 0) continue;
            sum += p * RankCorrelation.KendallTau([.. fitted], [.. real]);
            pairs += p;
        }
        return pairs > 0 ? sum / pairs : 0;
    }

    /// <summary>Writes <c>scores</c> (<see cref="ScoreColumns"/>, by item) and <c>workers</c> (worker, comparisons, skill, agreement and the method's worker parameters).</summary>
    public static IReadOnlyList<string> Write(PairwiseResult r, string directory, OutputFormat format)
    {
        ArgumentNullException.ThrowIfNull(r);
        var c = r.Comparisons;
        var wins = new int[c.ItemCount]; var losses = new int[c.ItemCount]; var perWorker = new int[c.WorkerCount];
        for (int k = 0; k < c.Count; k++) { wins[c.Winner(k)]++; losses[c.Loser(k)]++; perWorker[c.ComparisonWorkers[k]]++; }
        var written = new List<string>
        {
            TableFile.Write(directory, "scores", format, ScoreColumns, t =>
            {
                for (int i = 0; i < c.ItemCount; i++)
                {
                    t.Text(c.Items[i]).Integer(r.Components[i]).Integer(r.Ranks[i]).Number(r.Scores[i]).Number(r.StandardErrors[i])
                     .Number(r.Low[i]).Number(r.High[i]).Number(r.RankConfidence[i]).Integer(wins[i]).Integer(losses[i]);
                    t.EndRow();
                }
            }),
        };
        var extra = r.WorkerParameters.Keys.OrderBy(k => k, StringComparer.Ordinal).ToArray();
        written.Add(TableFile.Write(directory, "workers", format, ["worker", "comparisons", "skill", "agreement", .. extra], t =>
        {
            for (int w = 0; w < c.WorkerCount; w++)
            {
                t.Text(c.Workers[w]).Integer(perWorker[w]).Number(r.WorkerSkills[w]).Number(r.WorkerAgreement[w]);
                foreach (var e in extra) t.Number(r.WorkerParameters[e][w]);
                t.EndRow();
            }
        }));
        return written;
    }
}
