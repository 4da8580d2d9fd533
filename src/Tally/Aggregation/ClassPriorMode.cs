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
}
