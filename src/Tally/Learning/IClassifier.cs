namespace Tally.Learning;

/// <summary>
/// A probabilistic classifier over dense feature vectors that learns from soft targets, the contract learning-from-crowds
/// methods need: they hand the model class posteriors (not hard labels) and read back its predicted probabilities.
/// Implement this to plug in another model.
/// </summary>
public interface IClassifier
{
    /// <summary>Number of features D the model was fitted on (0 before the first fit).</summary>
    int FeatureCount { get; }

    /// <summary>Number of classes K the model was fitted on (0 before the first fit).</summary>
    int ClassCount { get; }

    /// <summary>
    /// Fits the model from scratch. <paramref name="features"/> is N rows of D finite values; <paramref name="targets"/>
    /// is N rows of K non-negative values, each row a probability distribution over the classes (rows are normalised
    /// to sum to 1, so counts are accepted too); <paramref name="weights"/>, if given, is N non-negative per-row weights.
    /// A long fit should check <paramref name="cancellationToken"/> between epochs.
    /// </summary>
    void Fit(double[][] features, double[][] targets, double[]? weights = null, CancellationToken cancellationToken = default);

    /// <summary>N×K class probabilities for N rows of D features; every row sums to 1 and contains no NaN.</summary>
    double[][] PredictProbabilities(double[][] features);

    /// <summary>Writes the fitted model so that <see cref="Load"/> reproduces its predictions exactly.</summary>
    void Save(Stream stream);

    /// <summary>Replaces this model's state with one written by <see cref="Save"/>.</summary>
    void Load(Stream stream);
}
