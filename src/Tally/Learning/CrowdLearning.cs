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

    /// <summary>Checks shapes and values; throws <see cref="ArgumentException"/> naming the first problem.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Answers);
        ArgumentNullException.ThrowIfNull(Features);
        if (Features.Length != Answers.TaskCount)
            throw new ArgumentException($"There are {Features.Length} feature rows for {Answers.TaskCount} tasks.");
        if (Answers.TaskCount == 0) throw new ArgumentException("There are no tasks to learn from.");
        if (Answers.ClassCount < 1) throw new ArgumentException("The answers have no classes.");
        int d = Features[0]?.Length ?? throw new ArgumentException("Feature row 0 is null.");
        if (d == 0) throw new ArgumentException("Feature rows are empty.");
        for (int t = 0; t < Features.Length; t++)
        {
            var row = Features[t];
            if (row is null || row.Length != d)
                throw new ArgumentException($"Feature row of task '{Answers.Tasks[t]}' does not have {d} values.");
            foreach (double v in row)
                if (!double.IsFinite(v)) throw new ArgumentException($"Feature row of task '{Answers.Tasks[t]}' has a non-finite value.");
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

    /// <summary>Per-epoch (or per-round) objective values, in order.</summary>
    public required ImmutableArray<double> Losses { get; init; }
}

/// <summary>
/// A method that trains a classifier from task features and noisy crowd answers (possibly jointly with a model of the
/// workers). Implementations are deterministic for a fixed seed in their options, and never return NaN.
/// </summary>
public interface ICrowdLearner
{
    /// <summary>Short method name (<c>maxmig</c>, <c>deepbp</c>, …).</summary>
    string Name { get; }

    /// <summary>Trains on <paramref name="data"/>; reports every epoch to <paramref name="progress"/> synchronously.</summary>
    CrowdLearningResult Learn(CrowdTrainingSet data, ComputeOptions? compute = null, IProgress<EpochReport>? progress = null, CancellationToken cancellationToken = default);
}
