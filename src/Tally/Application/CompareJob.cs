using System.Diagnostics;
using System.Globalization;
using Tally.Aggregation;
using Tally.Catalogs;
using Tally.Core;

namespace Tally.Application;

/// <summary>What <see cref="CompareJob"/> should do.</summary>
public sealed record CompareRequest
{
    /// <summary>The answers.</summary>
    public required InputSource Answers { get; init; }
    /// <summary>How to read them (columns, classes, class order, duplicates, encoding — the encoding also of the truth file).</summary>
    public AnswerFileOptions Format { get; init; } = new();
    /// <summary>Truth file (<c>task,truth</c>); a bundled dataset brings its own. One of the two is needed.</summary>
    public string? TruthPath { get; init; }
    /// <summary>Method names or aliases (see <see cref="AggregatorCatalog"/>); null, empty or <c>all</c> = every method.</summary>
    public IReadOnlyList<string>? Methods { get; init; }
    /// <summary>Overrides of every method's defaults (iterations, tolerance, seed, prior); null fields keep the defaults.</summary>
    public CommonMethodOptions Overrides { get; init; } = new();
    /// <summary>Folder for the <see cref="CompareJob.Table"/> table (<see cref="CompareJob.Columns"/>), or null.</summary>
    public string? OutputDirectory { get; init; }
    /// <summary>Format of the table.</summary>
    public OutputFormat OutputFormat { get; init; } = OutputFormat.Csv;
}

/// <summary>What <see cref="CompareJob"/> did.</summary>
/// <param name="Answers">The answers read.</param>
/// <param name="Source">The input, for display.</param>
/// <param name="DroppedDuplicates">Answers dropped under the duplicate policy.</param>
/// <param name="Truth">The truth read.</param>
/// <param name="Rows">One row per method, in the order asked.</param>
/// <param name="ReadSeconds">Time spent reading.</param>
/// <param name="Written">Files written.</param>
public sealed record CompareOutcome(LabelMatrix Answers, string Source, int DroppedDuplicates, TruthRead Truth,
    IReadOnlyList<ComparisonRow> Rows, double ReadSeconds, IReadOnlyList<string> Written)
{
    /// <summary>The highest accuracy of any method that ran, or null when none did.</summary>
    public double? BestAccuracy => Rows.Where(r => r.Accuracy is not null).Select(r => r.Accuracy).Max();

    /// <summary>Whether <paramref name="row"/> has the best accuracy (ties: every method that reaches it).</summary>
    public bool IsBest(ComparisonRow row) => row.Accuracy is { } a && BestAccuracy is { } b && Math.Abs(a - b) < 1e-12;
}

/// <summary>
/// The compare job: read answers and truth, run several truth-inference methods on them one after the other, score
/// each, and write the table. Used by <c>tally compare</c> and by the server.
/// </summary>
public static class CompareJob
{
    /// <summary>The header of the CSV table.</summary>
    public static IReadOnlyList<string> Columns { get; } = ["method", "accuracy", "seconds", "iterations", "converged", "note"];

    /// <summary>The table's name in the output folder: <c>comparison.csv</c> or <c>comparison.json</c>.</summary>
    public const string Table = "comparison";

    /// <summary>Runs the job. Inputs, methods and output locations are checked before any work.</summary>
    /// <exception cref="TallyUserException">Bad input or options (with the file and line where there is one).</exception>
    public static CompareOutcome Run(CompareRequest request, ComputeOptions? compute = null,
        IProgress<JobProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var (path, datasetTruth, source) = request.Answers.Resolve();
        string truthPath = request.TruthPath ?? datasetTruth
            ?? throw new TallyUserException("compare needs the truth: give --truth FILE (task,truth) or a bundled --dataset");
        var methods = Specs.Methods(request.Methods);
        CheckOverrides(request.Overrides, methods);
        if (request.OutputDirectory is { } dir) OutputChecks.WritableDirectory(dir);

        var clock = Stopwatch.StartNew();
        progress?.Report(new JobProgress("Reading " + request.Answers.What, 0));
        var build = AnswerFiles.ReadAnswers(path, request.Format, f => progress?.Report(new JobProgress("Reading " + request.Answers.What, f)));
        var truth = AnswerFiles.ReadTruth(truthPath, build.Matrix, encoding: request.Format.Encoding);
        double readSeconds = clock.Elapsed.TotalSeconds;

        var rows = MethodComparison.Run(build.Matrix, truth.Labels, methods, request.Overrides, compute, progress, cancellationToken);
        var written = new List<string>();
        if (request.OutputDirectory is { } outDir) written.Add(Write(rows, outDir, request.OutputFormat));
        return new CompareOutcome(build.Matrix, source, build.DroppedDuplicates, truth, rows, readSeconds, written);
    }

    /// <summary>
    /// Refuses an override that none of the compared methods uses (a prior without mf or bp, iteration settings without
    /// an iterative method, a seed without a method that draws random numbers): it would silently change nothing.
    /// </summary>
    /// <exception cref="TallyUserException">Such an override.</exception>
    public static void CheckOverrides(CommonMethodOptions overrides, IReadOnlyList<AggregatorInfo> methods)
    {
        ArgumentNullException.ThrowIfNull(overrides);
        ArgumentNullException.ThrowIfNull(methods);
        string Names(Func<AggregatorInfo, bool> which) => string.Join(", ", AggregatorCatalog.All.Where(which).Select(m => m.Name));
        if (overrides.Prior is not null && !methods.Any(m => m.AcceptsPrior))
            throw new TallyUserException($"--prior applies to {Names(m => m.AcceptsPrior)}, none of which is compared");
        if (overrides.MaxIterations is not null && !methods.Any(m => m.Iterative))
            throw new TallyUserException($"--max-iterations applies to the iterative methods ({Names(m => m.Iterative)}), none of which is compared");
        if (overrides.Tolerance is not null && !methods.Any(m => m.Iterative))
            throw new TallyUserException($"--tolerance applies to the iterative methods ({Names(m => m.Iterative)}), none of which is compared");
        if (overrides.Seed is not null && !methods.Any(m => m.UsesSeed))
            throw new TallyUserException($"--seed applies to the methods that draw random numbers ({Names(m => m.UsesSeed)}), none of which is compared");
    }

    /// <summary>Writes the rows (<see cref="Columns"/>; accuracy as a fraction, missing when the method did not run) into <paramref name="directory"/>, atomically.</summary>
    public static string Write(IReadOnlyList<ComparisonRow> rows, string directory, OutputFormat format) => TableFile.Write(directory, Table, format, Columns, t =>
    {
        foreach (var r in rows)
        {
            t.Text(r.Method).Number(r.Accuracy).Number(r.Seconds).Integer(r.Iterations).Boolean(r.Converged).Text(r.Note);
            t.EndRow();
        }
    });
}
