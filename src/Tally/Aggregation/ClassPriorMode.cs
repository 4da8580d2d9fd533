namespace Tally.Aggregation;

/// <summary>
/// How a method treats the class proportions κ (the share of tasks whose true label is each class). A method that
/// keeps them uniform pulls rare-class answers towards the rare class; on imbalanced crowds (one class ≫ the others,
/// few answers per task) that costs many points (docs/aggregation.md, "Imbalanced classes").
/// </summary>
public enum ClassPriorMode
{
    /// <summary>Estimate κ from the answers along with the workers (EM M-step, or a Dirichlet posterior).</summary>
    Learned,
    /// <summary>Hold κ uniform (1/K each): the classes are assumed equally common.</summary>
    Uniform,
    /// <summary>
    /// Fit both and keep the model the answers support better. For the Bayesian methods (<see cref="MeanField"/>,
    /// <see cref="BeliefPropagation"/>) this is a comparison of (collapsed variational) evidence lower bounds: the
    /// uniform κ against κ ~ Dir(a, …, a) integrated out, whose bound pays for the K − 1 extra degrees of freedom
    /// (Bayesian model selection). For the
    /// maximum-likelihood methods (<see cref="SpectralDawidSkene"/>, robust-ds) it is the same as <see cref="Learned"/>:
    /// the uniform model is nested in the learned one, so the learned maximum is never less likely.
    /// </summary>
    Auto,
}
