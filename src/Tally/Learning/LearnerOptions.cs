using Tally.Core;

namespace Tally.Learning;

/// <summary>
/// Options shared by the learners that fit an <see cref="IClassifier"/> on soft targets (two-stage, EM, deepMF,
/// deepBP): the classifier and the seed.
/// </summary>
public abstract record ClassifierLearnerOptions
{
    /// <summary>The default classifier's options (used when <see cref="Classifier"/> is null); default <see cref="CrowdLearnerDefaults.Network"/>.</summary>
    public DenseNetworkOptions Network { get; init; } = CrowdLearnerDefaults.Network;

    /// <summary>Creates a fresh, unfitted classifier for each fit; null (the default) = <c>new DenseNetwork(Network)</c>.</summary>
    public Func<IClassifier>? Classifier { get; init; }

    /// <summary>
    /// Seed of every random choice of the run: it replaces <c>Network.Seed</c> and the seeds of the inner inference
    /// (belief propagation's Monte-Carlo draws, majority vote's random ties), so one number fixes the run. Default 0.
    /// </summary>
    public int Seed { get; init; }

    /// <summary>Checks the options; throws <see cref="InvalidOptionException"/> naming the first bad one (nested options as <c>Network.Epochs</c>).</summary>
    public virtual void Validate() => OptionPath.Nested(nameof(Network), Check.NotNull(Network, nameof(Network)).Validate);
}

/// <summary>Options of the learners that alternate inference of the true labels with fitting the classifier (EM, deepMF, deepBP).</summary>
public abstract record AlternatingLearnerOptions : ClassifierLearnerOptions
{
    /// <summary>
    /// Most inference–learning rounds ("while not converged" in the papers' algorithms). Default 10 (deepMF and deepBP:
    /// on the tests' blobs q(z) settles, tolerance 1e-3, in 7 rounds; on sparse crowds with overlapping features it
    /// still moves by a few 1e-3 after 10); EM's default is 20 (see <see cref="EmLearnerOptions"/>).
    /// </summary>
    public int Rounds { get; init; } = 10;

    /// <summary>Stop when no posterior probability moves by more than this between rounds; 0 = always run <see cref="Rounds"/>. Default 1e-3.</summary>
    public double Tolerance { get; init; } = 1e-3;

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        Check.AtLeast(Rounds, 1, nameof(Rounds));
        Check.AtLeast(Tolerance, 0, nameof(Tolerance));
    }
}

/// <summary>Options of deepMF and deepBP (paper 003), which differ only in their inference step.</summary>
public abstract record DeepLearnerOptions : AlternatingLearnerOptions
{
    /// <summary>
    /// Clipping parameter c of paper 003 §3.3: no class of the classifier's output may exceed c before it enters the
    /// inference (the excess goes evenly to the other classes). Default 0.9, the value of all the paper's experiments
    /// but one (Appendix F.2); c = 1 disables clipping, c ≤ 1/K ignores the features.
    /// </summary>
    public double Clip { get; init; } = 0.9;

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        if (!(Clip > 0 && Clip <= 1)) throw new InvalidOptionException(nameof(Clip), $"must be above 0 and at most 1 (got {NumberFormat.Number(Clip)})");
    }
}

/// <summary>
/// Options shared by the end-to-end learners that train an <see cref="IDifferentiableClassifier"/> with their own loss
/// next to crowd-side parameters (Max-MIG, Crowd Layer).
/// </summary>
public abstract record JointLearnerOptions
{
    /// <summary>
    /// The classifier when <see cref="Classifier"/> is null: a <see cref="DenseNetwork"/> with these options, of which
    /// Hidden, LearningRate (the classifier's Adam step), WeightDecay and Dropout apply; epochs, batches and seed are
    /// this record's. Default: softmax regression, step 1e-3, L2 1e-4.
    /// </summary>
    public DenseNetworkOptions Network { get; init; } = new();

    /// <summary>Creates the classifier instead of <see cref="Network"/> (a fresh, untrained one per call). Default null.</summary>
    public Func<IDifferentiableClassifier>? Classifier { get; init; }

    /// <summary>Passes over the answered tasks. Default 50.</summary>
    public int Epochs { get; init; } = 50;

    /// <summary>Tasks per mini-batch (a remainder too small for a batch joins the previous one). Default 64.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>
    /// Skip each epoch's last, partial batch instead of training on it (PyTorch's <c>drop_last</c>, which the Max-MIG
    /// authors' scripts set; the shuffle changes which tasks it leaves out). Default false: every task counts in every
    /// epoch, which matters when there are only a few hundred tasks.
    /// </summary>
    public bool DropPartialBatch { get; init; }

    /// <summary>Adam step size of the crowd-side parameters (not the classifier's: that is <c>Network.LearningRate</c>). Default 1e-3, Adam's default.</summary>
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>Seed of the classifier's initialisation and dropout and of the batch shuffles. Default 0.</summary>
    public int Seed { get; init; }

    /// <summary>Checks the options; throws <see cref="InvalidOptionException"/> naming the first bad one.</summary>
    public virtual void Validate()
    {
        OptionPath.Nested(nameof(Network), Check.NotNull(Network, nameof(Network)).Validate);
        Check.AtLeast(Epochs, 0, nameof(Epochs));
        Check.AtLeast(BatchSize, 1, nameof(BatchSize));
        Check.Above(LearningRate, 0, nameof(LearningRate));
    }
}

/// <summary>Names of nested options in validation errors.</summary>
internal static class OptionPath
{
    /// <summary>
    /// Runs a nested record's <paramref name="validate"/>, reporting its errors under <paramref name="prefix"/>
    /// (<c>Network</c> + <c>Epochs</c> → <c>Network.Epochs</c>), so the message says which record holds the option.
    /// </summary>
    public static void Nested(string prefix, Action validate)
    {
        try { validate(); }
        catch (InvalidOptionException e) { throw new InvalidOptionException(prefix + "." + e.Option, e.Problem); }
    }
}
