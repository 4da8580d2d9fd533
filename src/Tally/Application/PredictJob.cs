using Tally.Core;
using Tally.Learning;

namespace Tally.Application;

/// <summary>What <see cref="PredictJob"/> should do.</summary>
public sealed record PredictRequest
{
    /// <summary>A model written by the learn job (<see cref="LearnJob.ModelFile"/>).</summary>
    public required string ModelPath { get; init; }
    /// <summary>Features of the tasks to label, with the model's feature columns.</summary>
    public required string FeaturesPath { get; init; }
    /// <summary>Layout of the features file.</summary>
    public FeatureFileFormat Format { get; init; } = FeatureFileFormat.Auto;
    /// <summary>Sparse features: a file with one task id per line (null = rows are tasks 0, 1, …).</summary>
    public string? IdsPath { get; init; }
    /// <summary>The features (and ids) files' encoding when they have no byte order mark.</summary>
    public FileEncoding Encoding { get; init; } = FileEncoding.Utf8;
    /// <summary>Folder for the <see cref="PredictJob.PredictionsTable"/> table (<see cref="PredictionFile"/> layout); null = write nothing (the caller shows them).</summary>
    public string? OutputDirectory { get; init; }
    /// <summary>Format of the predictions table.</summary>
    public OutputFormat OutputFormat { get; init; } = OutputFormat.Csv;
}

/// <summary>What <see cref="PredictJob"/> did.</summary>
/// <param name="Model">The model used.</param>
/// <param name="Tasks">The tasks labelled, in canonical order (<see cref="FeatureTable.InNaturalOrder"/>).</param>
/// <param name="Probabilities">Class probabilities of each task, over <c>Model.Classes</c>.</param>
/// <param name="Written">The file written, or null.</param>
public sealed record PredictOutcome(LearnedModel Model, IReadOnlyList<string> Tasks, double[][] Probabilities, string? Written)
{
    /// <summary>Writes the predictions (<c>task,label,p_&lt;class&gt;…</c>) to <paramref name="stream"/>.</summary>
    public void WriteTo(Stream stream, OutputFormat format) =>
        TableFile.WriteTo(stream, format, PredictionFile.Columns(Model.Classes), PredictionFile.Rows(Tasks, Model.Classes, Probabilities));
}

/// <summary>
/// The predict job: label new tasks with a model trained by <see cref="LearnJob"/>. Used by <c>tally predict</c> and by
/// the server. The rows come out in canonical task order, so a shuffled features file gives the same output.
/// </summary>
public static class PredictJob
{
    /// <summary>The predictions table's name in the output folder, as <see cref="LearnJob.PredictionsTable"/>.</summary>
    public const string PredictionsTable = LearnJob.PredictionsTable;

    /// <summary>Runs the job; the output location is checked before the model is read.</summary>
    /// <exception cref="TallyUserException">A missing or corrupt model, features that do not fit it (column count; for a
    /// CSV, column names), a bad features file, or an output location that cannot be written.</exception>
    public static PredictOutcome Run(PredictRequest request, IProgress<JobProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.OutputDirectory is { } outDir) OutputChecks.WritableDirectory(outDir);
        progress?.Report(new JobProgress("Reading the model", 0));
        var model = LearnedModel.Load(request.ModelPath);
        progress?.Report(new JobProgress("Reading features", 0));
        int d = model.FeatureNames.Length;
        var table = FeatureFiles.Read(request.FeaturesPath, request.Format, request.IdsPath, d, request.Encoding).InNaturalOrder();
        if (table.Dimension != d)
            throw new TallyDataException(request.FeaturesPath, 1, $"has {table.Dimension} feature columns but the model was trained on {d}");
        // A CSV names its columns: the same count in another order would silently feed the wrong features.
        if (FeatureFiles.Resolve(request.Format, request.FeaturesPath) == FeatureFileFormat.Csv)
            for (int j = 0; j < d; j++)
                if (!string.Equals(table.Columns[j], model.FeatureNames[j], StringComparison.Ordinal))
                    throw new TallyDataException(request.FeaturesPath, 1,
                        $"feature column {j + 1} is {Quote.Value(table.Columns[j])} but the model was trained with {Quote.Value(model.FeatureNames[j])} there");
        cancellationToken.ThrowIfCancellationRequested();
        progress?.Report(new JobProgress("Predicting", 0));
        var probs = model.Classifier.PredictProbabilities(table.ToArray());
        var outcome = new PredictOutcome(model, table.Tasks, probs, null);
        if (request.OutputDirectory is { } dir)
            outcome = outcome with { Written = PredictionFile.Write(dir, PredictionsTable, request.OutputFormat, table.Tasks, model.Classes, probs) };
        return outcome;
    }
}
