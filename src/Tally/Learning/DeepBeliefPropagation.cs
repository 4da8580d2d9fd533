using Tally.Core;
using Tally.Aggregation;

namespace Tally.Learning;

/// <summary>Options of <see cref="DeepBeliefPropagation"/>.</summary>
public sealed record DeepBeliefPropagationOptions
{
    /// <summary>The default classifier's options (used when <see cref="Classifier"/> is null); default <see cref="CrowdLearnerDefaults.Network"/>.</summary>
    public DenseNetworkOptions Network { get; init; } = CrowdLearnerDefaults.Network;

    /// <summary>Creates a fresh, unfitted classifier for each round; null (the default) = <c>new DenseNetwork(Network)</c>.</summary>
    public Func<IClassifier>? Classifier { get; init; }

    /// <summary>
    /// Seed of the default network and of belief propagation's Monte-Carlo draws (it replaces <c>Network.Seed</c> and
    /// <c>BeliefPropagation.Seed</c>, so one number fixes the run). Default 0.
    /// </summary>
    public int Seed { get; init; }

    /// <summary>
    /// The inference step: worker prior, message computation, damping, sweeps and tolerance of each BP run. Default
    /// <c>new BeliefPropagationOptions()</c>: Dirichlet rows α_kk = 2, α_kl = 1 (paper 003's synthetic Dir(2, 1)) with
    /// Monte-Carlo messages from 400 draws (the paper's sample size, Appendix F.2), damping 0.3 (see
    /// <see cref="BeliefPropagationOptions.Damping"/>; it does not move the fixed points). Use
    /// <c>Prior = WorkerPrior.OneCoin(a, b)</c> for symmetric workers: exact messages.
    /// </summary>
    public BeliefPropagationOptions BeliefPropagation { get; init; } = new();

    /// <summary>
    /// Clipping parameter c of paper 003 §3.3: no class of the classifier's output may exceed c before it enters the
    /// inference (the excess goes evenly to the other classes). Default 0.9, the value of all the paper's experiments
    /// but one (Appendix F.2); c = 1 disables clipping, c ≤ 1/K ignores the features.
    /// </summary>
    public double Clip { get; init; } = 0.9;

    /// <summary>
    /// Most inference–learning rounds ("while not converged" in Algorithm 2); round 1 is plain BP, since no classifier
    /// is trained yet. Default 10: on the tests' blobs q(z) settles (tolerance 1e-3) in 7 rounds; on sparse crowds with overlapping features it still moves by a few 1e-3 after 10.
    /// </summary>
    public int Rounds { get; init; } = 10;

    /// <summary>Stop when no posterior probability moves by more than this between rounds; 0 = always run <see cref="Rounds"/>. Default 1e-3.</summary>
    public double Tolerance { get; init; } = 1e-3;
}

/// <summary>
/// deepBP: EM that alternates sum-product belief propagation on the task–worker factor graph (worker confusion
/// matrices integrated out under their prior), with the (clipped) classifier output as each task's factor
/// m_{h_i→i} = f_φ(z_i; x_i), and training the classifier on the resulting beliefs q(z).
/// J. Kim, H. Cho, J. Kim and J. Ok, "Robust Deep Learning from Crowds with Belief Propagation", AISTATS 2022,
/// Section 3.2, eqs. (18)–(23), Algorithm 2, clipping Section 3.3.
/// </summary>
/// <remarks>
/// <para>Each round: clip f_φ at c (line 2); run <see cref="BeliefPropagation"/> with log Clip(f_φ) as the task log
/// prior, messages starting uniform (eqs. (20)–(21), line 3); train a fresh classifier on q(z), which maximises
/// (22) over φ (line 4, eq. (23)). The classifier is trained from scratch each round (<see cref="IClassifier.Fit"/>)
/// instead of continuing. Round 1 uses a uniform task factor (an untrained classifier carries no information).</para>
/// <para>Losses: per round, the classifier's mean cross-entropy against q(z), i.e. KL(q ‖ h) of (22) up to the
/// entropy of q. Posteriors = the last q(z); Confusions = the workers' posterior mean confusions of the last BP run;
/// the classifier is the one trained on the last q(z).</para>
/// </remarks>
public sealed class DeepBeliefPropagation(DeepBeliefPropagationOptions? options = null) : ICrowdLearner
{
    /// <summary>The method's short name.</summary>
    public const string MethodName = "deepbp";

    /// <summary>The options in use.</summary>
    public DeepBeliefPropagationOptions Options { get; } = options ?? new DeepBeliefPropagationOptions();

    /// <inheritdoc />
    public string Name => MethodName;

    /// <inheritdoc />
    public CrowdLearningResult Learn(CrowdTrainingSet data, ComputeOptions? compute = null, IProgress<EpochReport>? progress = null,
        CancellationToken cancellationToken = default)
    {
        var o = Options;
        ArgumentNullException.ThrowIfNull(o.BeliefPropagation);
        var bp = new BeliefPropagation(o.BeliefPropagation with { Seed = o.Seed });
        return LearnerSupport.AlternateInferenceAndLearning(MethodName, data,
            () => LearnerSupport.NewClassifier(o.Classifier, o.Network, o.Seed), o.Clip, o.Rounds, o.Tolerance,
            (logPrior, ct) => bp.Aggregate(data.Answers, logPrior, compute, null, ct), progress, cancellationToken);
    }
}
