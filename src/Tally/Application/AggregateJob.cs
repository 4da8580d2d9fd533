using System.Diagnostics;
using Tally.Aggregation;
using Tally.Catalogs;
using Tally.Core;

namespace Tally.Application;

/// <summary>What <see cref="AggregateJob"/> should do.</summary>
public sealed record AggregateRequest
{
    /// <summary>The answers.</summary>
    public required InputSource Answers { get; init; }
    /// <summary>How to read them (columns, classes, class order, duplicates, encoding — the encoding also of the truth and gold files).</summary>
    public AnswerFileOptions Format { get; init; } = new();
    /// <summary>Method name or alias (see <see cref="AggregatorCatalog"/>); null = <c>ds</c>, or the model's method with <see cref="ModelPath"/>.</summary>
    public string? Method { get; init; }
    /// <summary>Overrides of the method's defaults (iterations, tolerance, seed, prior); null fields keep the defaults.</summary>
    public CommonMethodOptions Overrides { get; init; } = new();
    /// <summary>Truth file (<c>task,truth</c>) to score against; a bundled dataset brings its own.</summary>
    public string? TruthPath { get; init; }
    /// <summary>Gold file whose labels are clamped during inference (methods that support gold only).</summary>
    public string? GoldPath { get; init; }
    /// <summary>
    /// A saved model (<see cref="AggregationModel.Save"/>) to label the answers with instead of fitting: its classes
    /// fix the class order, and its method is used.
    /// </summary>
    public string? ModelPath { get; init; }
    /// <summary>With <see cref="ModelPath"/>: refit starting from the model (<see cref="IAggregator.Refine"/>) instead of only predicting.</summary>
    public bool Refine { get; init; }
    /// <summary>
    /// With <see cref="ModelPath"/> (predicting, not refining): answers of workers the model has not seen; null =
    /// <see cref="UnseenWorkerPolicy.Average"/>. Given without a model to predict with, it is refused: it would do nothing.
    /// </summary>
    public UnseenWorkerPolicy? UnseenWorkers { get; init; }
    /// <summary>Folder for labels, workers and confusions (null = write nothing).</summary>
    public string? OutputDirectory { get; init; }
    /// <summary>File format of the outputs in <see cref="OutputDirectory"/>; null = CSV. Given without a folder, it is refused.</summary>
    public OutputFormat? OutputFormat { get; init; }
    /// <summary>Where to save the fitted model (JSON), or null.</summary>
    public string? SaveModelPath { get; init; }
}

/// <summary>What <see cref="AggregateJob"/> did.</summary>
/// <param name="Result">The result (labels, posteriors, skills, model).</param>
/// <param name="Method">The method's catalog entry.</param>
/// <param name="Source">The input, for display.</param>
/// <param name="DroppedDuplicates">Answers dropped under the duplicate policy.</param>
/// <param name="Truth">The truth read, or null.</param>
/// <param name="Accuracy">Accuracy against <paramref name="Truth"/>, or null.</param>
/// <param name="Mode">"fit", "predict" (with a saved model) or "refine".</param>
/// <param name="ReadSeconds">Time spent reading.</param>
/// <param name="FitSeconds">Time spent in the method.</param>
/// <param name="Written">Files written.</param>
public sealed record AggregateOutcome(AggregationResult Result, AggregatorInfo Method, string Source, int DroppedDuplicates,
    TruthRead? Truth, Accuracy? Accuracy, string Mode, double ReadSeconds, double FitSeconds, IReadOnlyList<string> Written);

/// <summary>
/// The aggregate job: read answers (and truth, gold, a saved model), infer the labels with one method, score, write
/// the outputs and the model. Used by <c>tally aggregate</c> and by the server.
/// </summary>
public static class AggregateJob
{
    /// <summary>The method used when none is named (and no saved model names one).</summary>
    public const string DefaultMethod = Catalogs.AggregatorCatalog.DefaultMethod;

    /// <summary>Runs the job. Output locations are checked before any work.</summary>
    /// <exception cref="TallyUserException">Bad input or options (with the file and line where there is one).</exception>
    public static AggregateOutcome Run(AggregateRequest request, ComputeOptions? compute = null,
        IProgress<JobProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var (path, datasetTruth, source) = request.Answers.Resolve();
        if (request.OutputDirectory is { } outDir) OutputChecks.WritableDirectory(outDir);
        if (request.SaveModelPath is { } savePath) OutputChecks.WritableFile(savePath, "--save-model");
        if (request.Refine && request.ModelPath is null) throw new TallyUserException("--refine needs --model");
        if (request.OutputFormat is not null && request.OutputDirectory is null)
            throw new TallyUserException("--format applies to the files written with --out; give --out DIR (or drop --format)");
        if (request.UnseenWorkers is not null && (request.ModelPath is null || request.Refine))
            throw new TallyUserException(request.ModelPath is null
                ? "--unseen-workers applies only with --model (to answers of workers the saved model has not seen)"
                : "--unseen-workers applies when predicting with --model; --refine fits every worker anew");

        AggregationModel? start = request.ModelPath is { } mp ? AggregationModel.Load(mp) : null;
        string name = request.Method ?? start?.Method ?? DefaultMethod;
        var info = AggregatorCatalog.Find(name)
            ?? throw new TallyUserException($"unknown method {Quote.Value(name)} (known: {string.Join(", ", AggregatorCatalog.All.Select(m => m.Name))})");
        if (start is not null && info.Name != start.Method)
            throw new TallyUserException($"--method {request.Method} differs from the model's method {Quote.Value(start.Method)}");
        if (request.Overrides.Prior is not null && !info.AcceptsPrior)
            throw new TallyUserException($"--prior applies to {string.Join(" and ", AggregatorCatalog.All.Where(m => m.AcceptsPrior).Select(m => m.Name))}, not {info.Name}");
        if (request.Overrides.ClassPrior is not null && !info.AcceptsClassPrior)
            throw new TallyUserException($"--class-prior applies to {string.Join(", ", AggregatorCatalog.All.Where(m => m.AcceptsClassPrior).Select(m => m.Name))}, not {info.Name}");
        if (request.GoldPath is not null && !info.SupportsGold)
            throw new TallyUserException($"--gold applies to the methods that clamp gold labels ({string.Join(", ", AggregatorCatalog.All.Where(m => m.SupportsGold).Select(m => m.Name))}), not {info.Name}");
        bool predictOnly = start is not null && !request.Refine;
        foreach (var (given, option) in new[] { (request.Overrides.MaxIterations is not null, "--max-iterations"), (request.Overrides.Tolerance is not null, "--tolerance") })
        {
            if (!given) continue;
            if (predictOnly) throw new TallyUserException($"{option} applies to fitting; with --model (and no --refine) the model only predicts");
            if (!info.Iterative)
                throw new TallyUserException($"{option} applies to the iterative methods ({string.Join(", ", AggregatorCatalog.All.Where(m => m.Iterative).Select(m => m.Name))}), not {info.Name}, which runs once");
        }
        if (request.Overrides.Seed is not null)
        {
            if (predictOnly) throw new TallyUserException("--seed applies to fitting; with --model (and no --refine) the model only predicts");
            if (!info.UsesSeed)
                throw new TallyUserException($"--seed applies to the methods that draw random numbers ({string.Join(", ", AggregatorCatalog.All.Where(m => m.UsesSeed).Select(m => m.Name))}), not {info.Name}, which is deterministic");
        }
        if (request.Overrides.ClassPrior is not null && predictOnly)
            throw new TallyUserException("--class-prior applies to fitting; with --model (and no --refine) the model only predicts");
        if (request.Overrides.Prior is not null && predictOnly)
            throw new TallyUserException("--prior applies to fitting; with --model (and no --refine) the model only predicts");
        var aggregator = info.Create(request.Overrides);

        var format = request.Format;
        if (start is not null)
        {
            // The model's class order is the one its numbers refer to; a --classes list must agree with it.
            if (format.Classes is { Count: > 0 } given && !given.SequenceEqual(start.Classes, StringComparer.Ordinal))
                throw new TallyUserException($"--classes {Quote.Value(string.Join(",", given))} differs from the model's classes ({Quote.Bare(string.Join(",", start.Classes))})");
            format = format with { Classes = start.Classes };
        }

        var clock = Stopwatch.StartNew();
        progress?.Report(new JobProgress("Reading " + request.Answers.What, 0));
        var build = AnswerFiles.ReadAnswers(path, format, f => progress?.Report(new JobProgress("Reading " + request.Answers.What, f)));
        double readSeconds = clock.Elapsed.TotalSeconds;
        var matrix = build.Matrix;
        string? truthPath = request.TruthPath ?? datasetTruth;
        TruthRead? truth = truthPath is null ? null : AnswerFiles.ReadTruth(truthPath, matrix, encoding: format.Encoding);
        if (request.GoldPath is { } goldPath) matrix = matrix.WithGold(AnswerFiles.ReadTruth(goldPath, matrix, encoding: format.Encoding).Labels);

        clock.Restart();
        string mode = start is null ? "fit" : request.Refine ? "refine" : "predict";
        string phase = mode == "predict" ? $"Predicting with the {info.Name} model" : $"Running {info.Name}";
        var iterations = new SyncProgress<IterationProgress>(it =>
            progress?.Report(new JobProgress(phase, (double)it.Iteration / Math.Max(1, it.MaxIterations))));
        var result = mode switch
        {
            "predict" => start!.Predict(matrix, new PredictOptions { UnseenWorkers = request.UnseenWorkers ?? UnseenWorkerPolicy.Average }, compute, cancellationToken),
            "refine" => aggregator.Refine(start!, matrix, compute, iterations, cancellationToken),
            _ => aggregator.Aggregate(matrix, compute, iterations, cancellationToken),
        };
        double fitSeconds = clock.Elapsed.TotalSeconds;

        var written = new List<string>();
        if (request.OutputDirectory is { } dir) written.AddRange(AggregationWriter.Write(result, dir, request.OutputFormat ?? OutputFormat.Csv));
        if (request.SaveModelPath is { } save) { result.Model.Save(save); written.Add(save); }
        var accuracy = truth is null ? null : Tally.Aggregation.Accuracy.Of(result.Labels.AsSpan(), truth.Labels);
        return new AggregateOutcome(result, info, source, build.DroppedDuplicates, truth, accuracy, mode, readSeconds, fitSeconds, written);
    }
}

/// <summary>
/// Calls <paramref name="handler"/> on the reporting thread (Progress&lt;T&gt; would post it later, when the reported
/// object may have moved on, e.g. a model that keeps training).
/// </summary>
public sealed class SyncProgress<T>(Action<T> handler) : IProgress<T>
{
    /// <inheritdoc />
    public void Report(T value) => handler(value);
}
