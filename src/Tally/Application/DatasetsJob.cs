using Tally.Core;

namespace Tally.Application;

/// <summary>A bundled dataset with its counts.</summary>
/// <param name="Name">Name to pass as <c>--dataset</c>.</param>
/// <param name="Description">Where it comes from.</param>
/// <param name="Tasks">Tasks answered.</param>
/// <param name="Workers">Workers.</param>
/// <param name="Answers">Answers.</param>
/// <param name="Classes">Classes.</param>
/// <param name="TasksWithTruth">Tasks with a known true label.</param>
public sealed record DatasetSummary(string Name, string Description, int Tasks, int Workers, int Answers, int Classes, int TasksWithTruth)
{
    /// <summary>The kind of answers (numeric datasets have no classes: <see cref="Classes"/> is 0).</summary>
    public AnswerType Type { get; init; } = AnswerType.Categorical;
}

/// <summary>Lists the bundled datasets with their counts (read from the files, so they are never out of date).</summary>
public static class DatasetsJob
{
    /// <summary>Reads every bundled dataset and counts it.</summary>
    /// <exception cref="TallyUserException">No bundled datasets were found.</exception>
    public static IReadOnlyList<DatasetSummary> Run(CancellationToken cancellationToken = default)
    {
        var all = BundledDatasets.All();
        if (all.Count == 0) throw new TallyUserException("no bundled datasets found (looked for a data/ folder; set TALLY_DATA)");
        var list = new List<DatasetSummary>();
        foreach (var d in all)
        {
            cancellationToken.ThrowIfCancellationRequested();
            list.Add(d.Type switch
            {
                AnswerType.Numeric => Numeric(d),
                AnswerType.Categorical => Categorical(d),
                // Read by the jobs of those types; listed here by name until they report their counts.
                _ => new DatasetSummary(d.Name, d.Description, 0, 0, 0, 0, 0) { Type = d.Type },
            });
        }
        return list;
    }

    private static DatasetSummary Categorical(BundledDataset d)
    {
        var m = AnswerFiles.ReadAnswers(d.AnswersPath).Matrix;
        int withTruth = d.TruthPath is null ? 0 : AnswerFiles.ReadTruth(d.TruthPath, m).Labels.KnownCount;
        return new DatasetSummary(d.Name, d.Description, m.TaskCount, m.WorkerCount, m.AnswerCount, m.ClassCount, withTruth);
    }

    private static DatasetSummary Numeric(BundledDataset d)
    {
        var m = NumericAnswerFiles.ReadAnswers(d.AnswersPath).Matrix;
        int withTruth = d.TruthPath is null ? 0 : NumericAnswerFiles.ReadTruth(d.TruthPath, m).KnownCount;
        return new DatasetSummary(d.Name, d.Description, m.TaskCount, m.WorkerCount, m.AnswerCount, 0, withTruth) { Type = AnswerType.Numeric };
    }
}
