using System.Collections.Immutable;
using Tally.Aggregation;
using Tally.Core;

namespace Tally.Learning;

/// <summary>
/// Training data of a learning-from-crowds method: the crowd's answers and one feature vector per task of
/// <see cref="Answers"/> (row t of <see cref="Features"/> belongs to task t of <c>Answers.Tasks</c>).
/// </summary>
public sealed record CrowdTrainingSet
{
    /// <summary>The crowd's answers (tasks × workers; classes define K).</summary>
    public required LabelMatrix Answers { get; init; }

    /// <summary>One row of D finite features per task of <see cref="Answers"/>, in its task order.</summary>
    public required double[][] Features { get; init; }

    /// <summary>Checks shapes and values; throws <see cref="TallyUserException"/> naming the first problem (and the task).</summary>
    /// <exception cref="ArgumentNullException">Answers or features are null (a programming error).</exception>
    /// <exception cref="TallyUserException">No tasks or classes, a feature row per task missing, ragged or non-finite rows.</exception>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Answers);
        ArgumentNullException.ThrowIfNull(Features);
        if (Answers.TaskCount == 0) throw new TallyUserException("There are no tasks to learn from.");
        if (Answers.ClassCount < 1) throw new TallyUserException("The answers have no classes.");
        if (Features.Length != Answers.TaskCount)
            throw new TallyUserException($"There are {Features.Length} feature rows for {Answers.TaskCount} tasks.");
        int d = Features[0]?.Length ?? 0;
        if (d == 0) throw new TallyUserException($"The feature row of task '{Answers.Tasks[0]}' is empty.");
        for (int t = 0; t < Features.Length; t++)
        {
            var row = Features[t];
            if (row is null || row.Length != d)
                throw new TallyUserException($"The feature row of task '{Answers.Tasks[t]}' has {row?.Length ?? 0} values, not {d}.");
            foreach (double v in row)
                if (!double.IsFinite(v)) throw new TallyUserException($"The feature row of task '{Answers.Tasks[t]}' has a non-finite value.");
        }
    }
}

/// <summary>One training epoch (or one outer EM round for methods that alternate), reported as it finishes.</summary>
/// <param name="Epoch">1-based epoch (or round) index.</param>
/// <param name="Epochs">Planned number of epochs (or rounds).</param>
/// <param name="Loss">The method's training objective for this epoch (lower is better; finite).</param>
/// <param name="Model">The classifier as of the end of this epoch; read it synchronously (it keeps training afterwards).</param>
public sealed record EpochReport(int Epoch, int Epochs, double Loss, IClassifier Model);

/// <summary>What a learning-from-crowds method produced.</summary>
public sealed record CrowdLearningResult
{
    /// <summary>Method name (<c>maxmig</c>, <c>deepbp</c>, …).</summary>
    public required string Method { get; init; }

    /// <summary>The trained classifier: probabilities over <c>Answers.Classes</c> from a feature vector.</summary>
    public required IClassifier Classifier { get; init; }

    /// <summary>Posterior over the true class of every training task (tasks × K; rows sum to 1).</summary>
    public required RowMatrix Posteriors { get; init; }

    /// <summary>Per-worker confusion estimates, where the method has them (null otherwise).</summary>
    public ConfusionMatrices? Confusions { get; init; }

    /// <summary>Per-epoch (or per-round) objective values, in order (with restarts: the selected run's).</summary>
    public required ImmutableArray<double> Losses { get; init; }

    /// <summary>With restarts (<see cref="RestartOptions.Count"/> above 1): every run and which one this result is; null otherwise.</summary>
    public RestartSummary? Restarts { get; init; }
}

/// <summary>
/// A method that trains a classifier from task features and noisy crowd answers (possibly jointly with a model of the
/// workers). Implementations are deterministic for a fixed seed in their options — whatever
/// <see cref="ComputeOptions.MaxDegreeOfParallelism"/> is — and never return NaN.
/// </summary>
public interface ICrowdLearner
{
    /// <summary>Short method name (<c>maxmig</c>, <c>deepbp</c>, …).</summary>
    string Name { get; }

    /// <summary>
    /// Trains on <paramref name="data"/>; reports every epoch to <paramref name="progress"/> synchronously. The options
    /// are validated first; <paramref name="compute"/> goes to every inner inference call; cancellation is checked at
    /// least once per epoch (or round).
    /// </summary>
    /// <exception cref="InvalidOptionException">An option of the learner is invalid.</exception>
    /// <exception cref="TallyUserException">The data cannot be learnt from (see <see cref="CrowdTrainingSet.Validate"/>).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    CrowdLearningResult Learn(CrowdTrainingSet data, ComputeOptions? compute = null, IProgress<EpochReport>? progress = null, CancellationToken cancellationToken = default);
}
