using System.Collections.Immutable;
using System.Diagnostics;
using Tally.Catalogs;
using Tally.Core;
using Tally.Learning;

namespace Tally.Application;

/// <summary>What <see cref="LearnJob"/> should do.</summary>
public sealed record LearnRequest
{
    /// <summary>Crowd answers (<c>task,worker,label</c>), or null with <see cref="Dataset"/>.</summary>
    public string? AnswersPath { get; init; }
    /// <summary>Features of the training tasks (one row per task id, any order, extra tasks allowed), or null with <see cref="Dataset"/>.</summary>
    public string? FeaturesPath { get; init; }
    /// <summary>Features of held-out tasks to predict (same columns), or null.</summary>
    public string? TestFeaturesPath { get; init; }
    /// <summary>True labels of the held-out tasks (<c>task,truth</c>), to report test accuracy; needs <see cref="TestFeaturesPath"/>.</summary>
    public string? TestTruthPath { get; init; }
    /// <summary>
    /// True labels of the training tasks (<c>task,truth</c>), to score the method's posteriors; never shown to the
    /// method (gold on the answers would be clamped, i.e. leak the truth). A bundled dataset brings its own.
    /// </summary>
    public string? TruthPath { get; init; }
    /// <summary>A bundled dataset with features (<c>music-genre</c>) instead of the four files.</summary>
    public string? Dataset { get; init; }
    /// <summary>How to read the answers (columns, classes, class order, duplicates) and the encoding of every file
    /// the job reads (answers, truth, features, ids) when it has no byte order mark.</summary>
    public AnswerFileOptions Format { get; init; } = new();
    /// <summary>Layout of both features files.</summary>
    public FeatureFileFormat FeaturesFormat { get; init; } = FeatureFileFormat.Auto;
    /// <summary>Sparse training features: a file with one task id per line for the rows (null = rows are tasks 0, 1, …).</summary>
    public string? FeatureIdsPath { get; init; }
    /// <summary>Sparse test features: a file with one task id per line for the rows.</summary>
    public string? TestIdsPath { get; init; }
    /// <summary>Learner name (see <see cref="CrowdLearnerCatalog"/>); null = <see cref="CrowdLearnerCatalog.Default"/>.</summary>
    public string? Method { get; init; }
    /// <summary>Classifier, epochs, Adam step and seed; null fields keep the method's defaults.</summary>
    public LearnerSettings Settings { get; init; } = new();
    /// <summary>
    /// Folder for <see cref="LearnJob.ModelFile"/> and the tables <see cref="LearnJob.PredictionsTable"/> (with test
    /// features), <see cref="LearnJob.PosteriorsTable"/> and <see cref="LearnJob.EpochsTable"/>; null = write nothing.
    /// </summary>
    public string? OutputDirectory { get; init; }
    /// <summary>Format of the tables.</summary>
    public OutputFormat OutputFormat { get; init; } = OutputFormat.Csv;
}

/// <summary>One epoch (or round) of training as the learn job logs it.</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="Loss">The method's training objective.</param>
/// <param name="TestAccuracy">Accuracy of the classifier on the test tasks after this epoch (null without test truth).</param>
public readonly record struct EpochRecord(int Epoch, double Loss, double? TestAccuracy);

/// <summary>What <see cref="LearnJob"/> did.</summary>
/// <param name="Method">The learner's catalog entry.</param>
/// <param name="Source">The input, for display ("dataset music-genre" or the answers path).</param>
/// <param name="Answers">The training answers (canonical order).</param>
/// <param name="DroppedDuplicates">Repeated (task, worker) answers dropped (under <see cref="LearnRequest.Format"/>'s duplicate policy).</param>
/// <param name="Features">The training features table (as read).</param>
/// <param name="Hidden">Hidden layers of the classifier trained (empty = softmax regression).</param>
/// <param name="Result">The learner's result (classifier, posteriors, confusions, losses).</param>
/// <param name="Model">The saved form of the classifier (method, classes, feature names).</param>
/// <param name="Epochs">The training log.</param>
/// <param name="TestTasks">Held-out tasks in canonical order (empty without test features).</param>
/// <param name="TestProbabilities">Class probabilities of <paramref name="TestTasks"/>, or null.</param>
/// <param name="TestLabelled">Held-out tasks with a true label.</param>
/// <param name="TrainAccuracy">Accuracy of the posteriors on the training tasks with truth, or null.</param>
/// <param name="TestAccuracy">Accuracy of the classifier on the labelled held-out tasks, or null.</param>
/// <param name="ReadSeconds">Time spent reading.</param>
/// <param name="TrainSeconds">Time spent training.</param>
/// <param name="Written">Files written.</param>
public sealed record LearnOutcome(CrowdLearnerInfo Method, string Source, LabelMatrix Answers, int DroppedDuplicates,
    FeatureTable Features, ImmutableArray<int> Hidden, CrowdLearningResult Result, LearnedModel Model,
    ImmutableArray<EpochRecord> Epochs, IReadOnlyList<string> TestTasks, double[][]? TestProbabilities, int TestLabelled,
    double? TrainAccuracy, double? TestAccuracy, double ReadSeconds, double TrainSeconds, IReadOnlyList<string> Written);

/// <summary>
/// The learn job: read crowd answers and task features (CSV, LDA-C or SVMlight; or a bundled dataset), train a
/// classifier with one learning-from-crowds method, score it on held-out tasks, and write the model, the predictions,
/// the training posteriors and the epoch log. Used by <c>tally learn</c> and by the server.
/// </summary>
/// <remarks>
/// Outputs depend on the data and the seed only: tasks, workers and classes are in canonical order (the label
/// matrix's; held-out tasks by <see cref="FeatureTable.InNaturalOrder"/>), feature rows are matched to tasks by id,
/// and the learners give bit-identical results for any <see cref="ComputeOptions.MaxDegreeOfParallelism"/>. So the
/// same files with their rows shuffled give byte-identical outputs.
/// </remarks>
public static class LearnJob
{
    /// <summary>The saved model (<see cref="LearnedModel"/>; read by <see cref="PredictJob"/>).</summary>
    public const string ModelFile = "model.tlm";
    /// <summary>Class probabilities of the held-out tasks (<see cref="PredictionFile"/> layout): <c>predictions.csv</c> or <c>.json</c>.</summary>
    public const string PredictionsTable = "predictions";
    /// <summary>The method's posteriors of the training tasks (<see cref="PredictionFile"/> layout).</summary>
    public const string PosteriorsTable = "train-posteriors";
    /// <summary>The training log: <c>epoch,loss[,test_accuracy]</c>.</summary>
    public const string EpochsTable = "epochs";

    /// <summary>Runs the job. The method, the settings and the output folder are checked before anything is read or trained.</summary>
    /// <exception cref="TallyUserException">Bad input, options or output location (with the file and line where there is one).</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public static LearnOutcome Run(LearnRequest request, ComputeOptions? compute = null,
        IProgress<JobProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var inputs = Resolve(request);
        if (request.OutputDirectory is { } outDir) OutputChecks.WritableDirectory(outDir);
        var info = CrowdLearnerCatalog.Get(request.Method ?? CrowdLearnerCatalog.Default.Name);
        var learner = info.Create(request.Settings);

        var clock = Stopwatch.StartNew();
        progress?.Report(new JobProgress("Reading answers", 0));
        var encoding = request.Format.Encoding;
        var build = AnswerFiles.ReadAnswers(inputs.Answers, request.Format, f => progress?.Report(new JobProgress("Reading answers", f)));
        var matrix = build.Matrix;
        GoldLabels? trainTruth = inputs.Truth is null ? null : AnswerFiles.ReadTruth(inputs.Truth, matrix, encoding: encoding).Labels;
        progress?.Report(new JobProgress("Reading features", 0));
        var table = FeatureFiles.Read(inputs.Features, request.FeaturesFormat, request.FeatureIdsPath, encoding: encoding);
        var data = new CrowdTrainingSet { Answers = matrix, Features = table.Align(matrix) };
        FeatureTable? test = null;
        int[]? testLabels = null;
        if (inputs.TestFeatures is { } testPath)
        {
            test = FeatureFiles.Read(testPath, request.FeaturesFormat, request.TestIdsPath, table.Dimension, encoding).InNaturalOrder();
            if (test.Dimension != table.Dimension)
                throw new TallyDataException(testPath, 1, $"has {test.Dimension} feature columns but the training features have {table.Dimension}");
            if (inputs.TestTruth is { } tt) testLabels = AnswerFiles.ReadTruth(tt, test.Tasks, matrix.Classes.Names, encoding: encoding);
        }
        double readSeconds = clock.Elapsed.TotalSeconds;

        double[][]? testRows = test?.ToArray();
        var log = ImmutableArray.CreateBuilder<EpochRecord>();
        string phase = $"Training with {info.Name}";
        var epochs = new SyncProgress<EpochReport>(e =>
        {
            double? acc = testRows is not null && testLabels is not null
                ? LearningEvaluation.Accuracy(e.Model.PredictProbabilities(testRows), testLabels)
                : null;
            log.Add(new EpochRecord(e.Epoch, e.Loss, acc));
            progress?.Report(new JobProgress(phase, (double)e.Epoch / Math.Max(1, e.Epochs)));
        });
        progress?.Report(new JobProgress(phase, 0));
        clock.Restart();
        var result = learner.Learn(data, compute, epochs, cancellationToken);
        double trainSeconds = clock.Elapsed.TotalSeconds;

        var model = new LearnedModel { Method = info.Name, Classes = [.. matrix.Classes.Names], FeatureNames = [.. table.Columns], Classifier = result.Classifier };
        double[][]? testProbs = testRows is null ? null : result.Classifier.PredictProbabilities(testRows);
        double? trainAcc = trainTruth is { } gold ? LearningEvaluation.Accuracy(result.Posteriors, gold) : null;
        double? testAcc = testProbs is not null && testLabels is not null ? LearningEvaluation.Accuracy(testProbs, testLabels) : null;
        int labelled = testLabels?.Count(l => l >= 0) ?? 0;
        var records = log.ToImmutable();

        var written = new List<string>();
        if (request.OutputDirectory is { } dir)
        {
            progress?.Report(new JobProgress("Writing", 0));
            Directory.CreateDirectory(dir);
            written.Add(AtomicFile.Write(Path.Combine(dir, ModelFile), model.Save));
            var format = request.OutputFormat;
            written.Add(PredictionFile.Write(dir, PosteriorsTable, format, matrix.Tasks.Names, matrix.Classes.Names, PredictionFile.RowsOf(result.Posteriors)));
            if (test is not null && testProbs is not null)
                written.Add(PredictionFile.Write(dir, PredictionsTable, format, test.Tasks, matrix.Classes.Names, testProbs));
            bool withTest = testLabels is not null;
            written.Add(TableFile.Write(dir, EpochsTable, format, withTest ? ["epoch", "loss", "test_accuracy"] : ["epoch", "loss"], t => WriteEpochs(t, records, withTest)));
        }
        return new LearnOutcome(info, inputs.Display, matrix, build.DroppedDuplicates, table, info.HiddenFor(request.Settings), result, model,
            records, test?.Tasks ?? [], testProbs, labelled, trainAcc, testAcc, readSeconds, trainSeconds, written);
    }

    /// <summary>The epoch log: <c>epoch,loss</c>, plus <c>test_accuracy</c> when the test tasks have truth.</summary>
    private static void WriteEpochs(TableFile table, IReadOnlyList<EpochRecord> epochs, bool withTestAccuracy)
    {
        foreach (var e in epochs)
        {
            table.Integer(e.Epoch).Number(e.Loss);
            if (withTestAccuracy) table.Number(e.TestAccuracy ?? throw new ArgumentException("An epoch has no test accuracy.", nameof(epochs)));
            table.EndRow();
        }
    }

    private sealed record Inputs(string Answers, string Features, string? TestFeatures, string? TestTruth, string? Truth, string Display);

    /// <summary>The files to read: the request's, or the bundled dataset's four (and its training truth).</summary>
    private static Inputs Resolve(LearnRequest r)
    {
        if (r.Dataset is { } name)
        {
            if (r.AnswersPath is not null || r.FeaturesPath is not null || r.TestFeaturesPath is not null || r.TestTruthPath is not null)
                throw new TallyUserException("give either --dataset or the --answers/--features/--test-features/--test-truth files, not both");
            var (answers, truth, display) = new InputSource(null, name).Resolve();
            var d = BundledDatasets.Get(name);
            return new Inputs(answers, d.File("train-features.csv"), d.File("test-features.csv"), d.File("test-truth.csv"), r.TruthPath ?? truth, display);
        }
        if (r.AnswersPath is null || r.FeaturesPath is null) throw new TallyUserException("give --answers and --features (or --dataset NAME)");
        if (r.TestTruthPath is not null && r.TestFeaturesPath is null) throw new TallyUserException("--test-truth needs --test-features");
        if (r.TestIdsPath is not null && r.TestFeaturesPath is null) throw new TallyUserException("--test-ids needs --test-features");
        return new Inputs(r.AnswersPath, r.FeaturesPath, r.TestFeaturesPath, r.TestTruthPath, r.TruthPath, r.AnswersPath);
    }
}
