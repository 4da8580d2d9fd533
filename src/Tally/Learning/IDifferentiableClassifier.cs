namespace Tally.Learning;

/// <summary>
/// The loss of one mini-batch as a function of the classifier's predicted probabilities, with its gradient; supplied by
/// a joint method (Max-MIG, Crowd Layer, …) to <see cref="IDifferentiableClassifier.TrainStep"/>. The spans are only
/// valid during the call.
/// </summary>
/// <param name="rows">The batch's row indexes into the features given to <see cref="IDifferentiableClassifier.Initialise"/>, in batch order.</param>
/// <param name="probabilities">rows.Length × K predicted probabilities, row-major in batch order (each row sums to 1).</param>
/// <param name="gradient">rows.Length × K, zero on entry: write ∂loss/∂probabilities here.</param>
/// <returns>The batch loss (to be minimised).</returns>
public delegate double BatchLoss(ReadOnlySpan<int> rows, ReadOnlySpan<double> probabilities, Span<double> gradient);

/// <summary>
/// A classifier that a joint learning-from-crowds method trains with its own loss: it owns its parameters, its
/// optimiser (step size, weight decay) and its feature preprocessing, and backpropagates a gradient w.r.t. its output
/// probabilities through its softmax. Predictions use <see cref="IClassifier.PredictProbabilities"/> as usual.
/// </summary>
public interface IDifferentiableClassifier : IClassifier
{
    /// <summary>
    /// Starts training from scratch on <paramref name="features"/> (N rows of D finite values; preprocessing such as
    /// standardisation is fitted on them) for <paramref name="classes"/> classes; <paramref name="seed"/> fixes the
    /// initialisation and any randomness of later steps (dropout).
    /// </summary>
    void Initialise(double[][] features, int classes, int seed);

    /// <summary>
    /// One optimisation step on the rows <paramref name="rows"/> (indexes into the features given to
    /// <see cref="Initialise"/>): computes their output probabilities, calls <paramref name="loss"/> once, and descends
    /// along the gradient it wrote (plus the model's own regularisation). Returns the loss the callback returned.
    /// A step whose loss or gradient is not finite is skipped.
    /// </summary>
    double TrainStep(ReadOnlySpan<int> rows, BatchLoss loss);
}
