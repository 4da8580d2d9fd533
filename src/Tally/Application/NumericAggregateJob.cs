using System.Diagnostics;
using Tally.Aggregation.Numeric;
using Tally.Catalogs;
using Tally.Core;

namespace Tally.Application;

/// <summary>What <see cref="NumericAggregateJob"/> should do.</summary>
public sealed record NumericAggregateRequest
{
    /// <summary>The answers (a file, or a bundled numeric dataset, whose truth then comes along).</summary>
    public required InputSource Answers { get; init; }
    /// <summary>How to read them (columns, duplicates, encoding; the class settings must be unset).</summary>
    public AnswerFileOptions Format { get; init; } = new();
    /// <summary>Method name or alias (see <see cref="NumericAggregatorCatalog"/>); null = <see cref="NumericAggregatorCatalog.DefaultMethod"/>.</summary>
    public string? Method { get; init; }
    /// <summary>Overrides of the method's defaults; null fields keep the defaults.</summary>
    public NumericMethodOverrides Overrides { get; init; } = new();
    /// <summary>Truth file (<c>task,truth</c> with numeric truths) to score against.</summary>
    public string? TruthPath { get; init; }
    /// <summary>Folder for the labels and workers tables (null = write nothing).</summary>
    public string? OutputDirectory { get; init; }
    /// <summary>File format of the tables; null = CSV. Given without a folder, it is refused.</summary>
    public OutputFormat? OutputFormat { get; init; }
}

/// <summary>What <see cref="NumericAggregateJob"/> did.</summary>
/// <param name="Result">The estimates, intervals and worker parameters.</param>
/// <param name="Method">The method's catalog entry.</param>
/// <param name="Source">The input, for display.</param>
/// <param name="DroppedDuplicates">Answers dropped under the duplicate policy.</param>
/// <param name="Truth">The truth read, or null.</param>
/// <param name="Error">MAE, RMSE and interval coverage against the truth, or null.</param>
/// <param name="ReadSeconds">Time spent reading.</param>
/// <param name="FitSeconds">Time spent in the method.</param>
/// <param name="Written">Files written.</param>
public sealed record NumericAggregateOutcome(NumericResult Result, NumericAggregatorInfo Method, string Source, int DroppedDuplicates,
    NumericTruthRead? Truth, NumericError? Error, double ReadSeconds, double FitSeconds, IReadOnlyList<string> Written);

/// <summary>
/// The numeric aggregate job (<c>tally aggregate --type numeric</c>): read numeric answers (and truth), estimate every
/// task's value with one method, score, write <c>labels</c> (task, estimate, lower, upper, answers) and
/// <c>workers</c> (worker, answers, bias, variance, weight). Used by the CLI; the service can call it as it is.
/// </summary>
public static class NumericAggregateJob
{
    /// <summary>The method used when none is named.</summary>
    public const string DefaultMethod = NumericAggregatorCatalog.DefaultMethod;

    /// <summary>Runs the job. Output locations are checked before any work.</summary>
    /// <exception cref="TallyUserException">Bad input or options (with the file and line where there is one).</exception>
    public static NumericAggregateOutcome Run(NumericAggregateRequest request, ComputeOptions? compute = null,
        IProgress<JobProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var (path, datasetTruth, source) = request.Answers.Resolve(AnswerType.Numeric);
        if (request.OutputDirectory is { } outDir) OutputChecks.WritableDirectory(outDir);
        if (request.OutputFormat is not null && request.OutputDirectory is null)
            throw new TallyUserException("--format applies to the files written with --out; give --out DIR (or drop --format)");
        if (request.Format.Classes is { Count: > 0 })
            throw new TallyUserException("--classes applies to categorical answers; numeric answers have no classes");
        if (request.Format.ClassOrder != ClassOrder.Sorted)
            throw new TallyUserException("--class-order applies to categorical answers; numeric answers have no classes");
        string name = request.Method ?? DefaultMethod;
        var info = NumericAggregatorCatalog.Find(name)
            ?? throw new TallyUserException($"unknown numeric method {Quote.Value(name)} (known: {string.Join(", ", NumericAggregatorCatalog.All.Select(m => m.Name))})");
        if (!info.Iterative)
            foreach (var (given, option) in new[] { (request.Overrides.MaxIterations is not null, "--max-iterations"), (request.Overrides.Tolerance is not null, "--tolerance") })
                if (given)
                    throw new TallyUserException($"{option} applies to the iterative numeric methods ({string.Join(", ", NumericAggregatorCatalog.All.Where(m => m.Iterative).Select(m => m.Name))}), not {info.Name}, which runs once");
        var aggregator = info.Create(request.Overrides);

        var clock = Stopwatch.StartNew();
        progress?.Report(new JobProgress("Reading " + request.Answers.What, 0));
        var build = NumericAnswerFiles.ReadAnswers(path, request.Format);
        double readSeconds = clock.Elapsed.TotalSeconds;
        string? truthPath = request.TruthPath ?? datasetTruth;
        var truth = truthPath is null ? null : NumericAnswerFiles.ReadTruth(truthPath, build.Matrix, encoding: request.Format.Encoding);

        clock.Restart();
        progress?.Report(new JobProgress($"Running {info.Name}", 0));
        var result = aggregator.Aggregate(build.Matrix, compute, cancellationToken);
        double fitSeconds = clock.Elapsed.TotalSeconds;

        var written = new List<string>();
        if (request.OutputDirectory is { } dir) written.AddRange(NumericResultWriter.Write(result, dir, request.OutputFormat ?? OutputFormat.Csv));
        var error = truth is null ? null : NumericError.Of(result, truth.Values.AsSpan());
        return new NumericAggregateOutcome(result, info, source, build.DroppedDuplicates, truth, error, readSeconds, fitSeconds, written);
    }
}

/// <summary>Writes a numeric result: <c>labels</c> and <c>workers</c> tables (CSV or JSON, through <see cref="TableFile"/>).</summary>
public static class NumericResultWriter
{
    /// <summary>The columns of the labels table.</summary>
    public static IReadOnlyList<string> LabelColumns { get; } = ["task", "estimate", "lower", "upper", "answers"];
    /// <summary>The columns of the workers table.</summary>
    public static IReadOnlyList<string> WorkerColumns { get; } = ["worker", "answers", "bias", "variance", "weight"];

    /// <summary>Writes both tables into <paramref name="directory"/> (created if needed); returns the paths written.</summary>
    public static IReadOnlyList<string> Write(NumericResult result, string directory, OutputFormat format)
    {
        ArgumentNullException.ThrowIfNull(result);
        var a = result.Answers;
        var labels = TableFile.Write(directory, "labels", format, LabelColumns, table =>
        {
            for (int t = 0; t < a.TaskCount; t++)
                table.Text(a.Tasks[t]).Number(result.Estimates[t]).Number(result.Lower[t]).Number(result.Upper[t])
                    .Integer(a.TaskAnswers(t).Length).EndRow();
        });
        var workers = TableFile.Write(directory, "workers", format, WorkerColumns, table =>
        {
            for (int w = 0; w < a.WorkerCount; w++)
                table.Text(a.Workers[w]).Integer(a.WorkerAnswerCount(w)).Number(result.WorkerBias[w]).Number(result.WorkerVariance[w])
                    .Number(result.WorkerWeight[w]).EndRow();
        });
        return [labels, workers];
    }
}
