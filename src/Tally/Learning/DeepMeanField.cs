using Tally.Core;
using Tally.Aggregation;

namespace Tally.Learning;

/// <summary>Options of <see cref="DeepMeanField"/>: the shared <see cref="DeepLearnerOptions"/> and the mean-field step.</summary>
public sealed record DeepMeanFieldOptions : DeepLearnerOptions
{
    /// <summary>
    /// The inference step: worker prior, iteration limit and tolerance of each mean-field run. Default
    /// <c>new MeanFieldOptions()</c>: Dirichlet rows α_kk = 2, α_kl = 1 — the Dir(2, 1) prior of paper 003's synthetic
    /// experiments — and no shared class prior (<see cref="ClassPriorMode.Uniform"/>), as in the paper's model (the
    /// classifier is the task factor and already carries the class proportions).
    /// </summary>
    public MeanFieldOptions MeanField { get; init; } = new() { ClassPrior = ClassPriorMode.Uniform };

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        OptionPath.Nested(nameof(MeanField), Check.NotNull(MeanField, nameof(MeanField)).Validate);
    }
}

/// <summary>
/// deepMF: EM that alternates mean-field inference of the true labels, with the (clipped) classifier output as each
/// task's prior factor, and training the classifier on the inferred posteriors q(z). The model is Bayesian
/// Dawid-Skene with a Dirichlet (or one-coin) prior on every worker's confusion matrix and
/// p(z_i | x_i) = f_φ(z_i; x_i).
/// J. Kim, H. Cho, J. Kim and J. Ok, "Robust Deep Learning from Crowds with Belief Propagation", AISTATS 2022,
/// Section 3.1, eqs. (15)–(17), Algorithm 1, clipping Section 3.3.
/// </summary>
/// <remarks>
/// <para>Each round: clip f_φ at c (line 2); run <see cref="MeanField"/> with log Clip(f_φ) as the task log prior,
/// which maximises the bound (15) over q(z) and β for fixed φ (line 3, eq. (16)); train a fresh classifier on q(z),
/// which maximises (15) over φ (line 4, eq. (17)). Differences from the paper, both for reuse of the parts: the
/// mean-field run restarts from majority vote each round instead of from the previous β, and the classifier is
/// trained from scratch each round (<see cref="IClassifier.Fit"/>) instead of continuing; both reach the same kind of
/// fixed point. Round 1 uses a uniform task factor (an untrained classifier carries no information).</para>
/// <para>Losses: per round, the classifier's mean cross-entropy against q(z) (the φ-dependent part of −(15)).
/// Posteriors = the last q(z); Confusions = the posterior means E[θ_u] of the last inference; the classifier is the
/// one trained on the last q(z).</para>
/// </remarks>
public sealed class DeepMeanField(DeepMeanFieldOptions? options = null) : ICrowdLearner
{
    /// <summary>The method's short name.</summary>
    public const string MethodName = "deepmf";

    /// <summary>The options in use.</summary>
    public DeepMeanFieldOptions Options { get; } = options ?? new DeepMeanFieldOptions();

    /// <inheritdoc />
    public string Name => MethodName;

    /// <inheritdoc />
    public CrowdLearningResult Learn(CrowdTrainingSet data, ComputeOptions? compute = null, IProgress<EpochReport>? progress = null,
        CancellationToken cancellationToken = default)
    {
        Options.Validate();
        var mf = new MeanField(Options.MeanField);
        return LearnerSupport.AlternateInferenceAndLearning(MethodName, data, Options,
            (logPrior, ct) => mf.Aggregate(data.Answers, logPrior, compute, null, ct), progress, cancellationToken);
    }
}
