using Tally.Core;

namespace Tally.Learning;

/// <summary>A learning-from-crowds dataset: features and crowd answers to train on, truth and a test split to score.</summary>
/// <param name="Train">Crowd answers to the training tasks and their features (row t ↔ task t of the answers).</param>
/// <param name="TrainTruth">True class of every training task, indexed like <c>Train.Answers</c>: for evaluation only.</param>
/// <param name="TestTasks">Ids of the test tasks, in the order of <paramref name="TestFeatures"/> (canonical order: see <see cref="FeatureTable.InNaturalOrder"/>).</param>
/// <param name="TestFeatures">One feature row per test task.</param>
/// <param name="TestLabels">True class index of each test task.</param>
/// <param name="Classes">Class names by index (the same as <c>Train.Answers.Classes</c>).</param>
public sealed record CrowdLearningDataset(
    CrowdTrainingSet Train,
    GoldLabels TrainTruth,
    IReadOnlyList<string> TestTasks,
    double[][] TestFeatures,
    int[] TestLabels,
    IReadOnlyList<string> Classes);

/// <summary>
/// The bundled music-genre dataset (<c>data/music-genre/</c>; Rodrigues, Pereira, Ribeiro, "Gaussian process
/// classification and active learning with multiple annotators", ICML 2014), as used by Max-MIG (Cao et al., ICLR
/// 2019, §4): 700 training songs with 2,945 MTurk answers from 44 workers, 300 test songs, 124 Marsyas features
/// each, 10 genres.
/// </summary>
public static class MusicGenre
{
    /// <summary>The folder name under the data root.</summary>
    public const string Name = "music-genre";

    /// <summary>The ten genres in class-index order (alphabetical, fixed so indexes do not depend on answer order).</summary>
    public static IReadOnlyList<string> Classes => Array.AsReadOnly(ClassArray);

    private static readonly string[] ClassArray =
        ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"];

    /// <summary>
    /// Loads the dataset. Features are returned as stored (not normalised: scaling is the learner's choice).
    /// </summary>
    /// <param name="dataRoot">The data folder holding <c>music-genre/</c>; null = <see cref="BundledDatasets.Root"/>.</param>
    /// <exception cref="TallyDataException">The folder or a file is missing or malformed, a training task has no
    /// feature row or no truth, or a test task has no (or two) truths.</exception>
    public static CrowdLearningDataset Load(string? dataRoot = null)
    {
        string dir = dataRoot is null
            ? BundledDatasets.Get(Name).Directory
            : Path.Combine(dataRoot, Name);
        if (!System.IO.Directory.Exists(dir)) throw new TallyDataException(dir, 0, "music-genre dataset folder not found");
        string F(string file) => Path.Combine(dir, file);

        var answers = AnswerFiles.ReadAnswers(F("answers.csv"),
            new AnswerFileOptions(Classes: Classes, Duplicates: DuplicatePolicy.Error)).Matrix;
        var trainFeatures = FeatureFiles.ReadCsv(F("train-features.csv")).Align(answers);
        var truth = AnswerFiles.ReadTruth(F("train-truth.csv"), answers, truthColumn: "label");
        if (truth.Labels.KnownCount != answers.TaskCount)
            throw new TallyDataException(F("train-truth.csv"), 0,
                $"gives the truth of {truth.Labels.KnownCount} of the {answers.TaskCount} answered songs");
        if (truth.UnknownTasks > 0)
            throw new TallyDataException(F("train-truth.csv"), 0, $"{truth.UnknownTasks} rows name songs without answers");

        // Test songs in canonical order, as every task list Tally writes, whatever the file's row order.
        var test = FeatureFiles.ReadCsv(F("test-features.csv")).InNaturalOrder();
        var testLabels = AnswerFiles.ReadTruth(F("test-truth.csv"), test.Tasks, Classes, requireAll: true);
        var train = new CrowdTrainingSet { Answers = answers, Features = trainFeatures };
        return new CrowdLearningDataset(train, truth.Labels, test.Tasks, test.ToArray(), testLabels, Classes);
    }
}
