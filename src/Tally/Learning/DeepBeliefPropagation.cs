using Tally.Core;
using Tally.Aggregation;

namespace Tally.Learning;

/// <summary>Options of <see cref="DeepBeliefPropagation"/>: the shared <see cref="DeepLearnerOptions"/> and the BP step.</summary>
public sealed record DeepBeliefPropagationOptions : DeepLearnerOptions
{
    /// <summary>
    /// The inference step: worker prior, message computation, damping, sweeps and tolerance of each BP run (its seed is
    /// replaced by <see cref="ClassifierLearnerOptions.Seed"/>). Default <c>new BeliefPropagationOptions()</c>:
    /// Dirichlet rows α_kk = 2, α_kl = 1 (paper 003's synthetic Dir(2, 1)) with Monte-Carlo messages from 400 draws
    /// (the paper's sample size, Appendix F.2), damping 0.3 (see <see cref="BeliefPropagationOptions.Damping"/>; it
    /// does not move the fixed points), and no shared class prior (<see cref="ClassPriorMode.Uniform"/>, as in the
    /// paper: the classifier is the task factor). Use <c>Prior = WorkerPrior.OneCoin(a, b)</c> for symmetric workers: exact messages.
    /// </summary>
    public BeliefPropagationOptions BeliefPropagation { get; init; } = new() { ClassPrior = ClassPriorMode.Uniform };

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        OptionPath.Nested(nameof(BeliefPropagation), Check.NotNull(BeliefPropagation, nameof(BeliefPropagation)).Validate);
    }
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
        Options.Validate();
        var bp = new BeliefPropagation(Options.BeliefPropagation with { Seed = Options.Seed });
        return LearnerSupport.AlternateInferenceAndLearning(MethodName, data, Options,
            (logPrior, ct) => bp.Aggregate(data.Answers, logPrior, compute, null, ct), progress, cancellationToken);
    }
}
