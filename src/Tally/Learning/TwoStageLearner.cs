using Tally.Core;
using Tally.Aggregation;

namespace Tally.Learning;

/// <summary>The truth-inference method of the first stage of <see cref="TwoStageLearner"/>.</summary>
public enum TwoStageAggregation
{
    /// <summary>Majority vote (<c>mv</c>).</summary>
    MajorityVote,
    /// <summary>Dawid-Skene EM (<c>ds</c>): soft posteriors.</summary>
    DawidSkene,
}

/// <summary>Options of <see cref="TwoStageLearner"/>.</summary>
public sealed record TwoStageLearnerOptions : ClassifierLearnerOptions
{
    /// <summary>First stage; default <see cref="TwoStageAggregation.MajorityVote"/> (method name <c>mv</c>).</summary>
    public TwoStageAggregation Aggregation { get; init; } = TwoStageAggregation.MajorityVote;

    /// <summary>
    /// Majority vote only: true (the default) trains on each task's vote shares (2 of 3 votes → target 2/3), false on
    /// the one-hot majority label (ties broken by <see cref="MajorityVote"/>'s options). Why soft: a split vote is a
    /// less certain label, and the cross-entropy against vote shares weights it accordingly instead of trusting it as
    /// much as a unanimous one; hard labels are the classic baseline.
    /// </summary>
    public bool SoftVotes { get; init; } = true;

    /// <summary>Majority-vote options (tie-breaking for hard labels); default <c>new MajorityVoteOptions()</c> (lowest class index).</summary>
    public MajorityVoteOptions MajorityVote { get; init; } = new();

    /// <summary>Dawid-Skene options; default <c>new DawidSkeneOptions()</c> (100 iterations, tolerance 1e-5, smoothing 0.01).</summary>
    public DawidSkeneOptions DawidSkene { get; init; } = new();

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        Check.Defined(Aggregation, nameof(Aggregation));
        OptionPath.Nested(nameof(MajorityVote), Check.NotNull(MajorityVote, nameof(MajorityVote)).Validate);
        OptionPath.Nested(nameof(DawidSkene), Check.NotNull(DawidSkene, nameof(DawidSkene)).Validate);
    }
}

/// <summary>
/// The two-stage baseline of learning from crowds: infer the true labels from the answers alone (majority vote or
/// Dawid-Skene), then train the classifier once on them as soft targets; the features never inform the labels.
/// Dawid-Skene: A. P. Dawid and A. M. Skene, "Maximum likelihood estimation of observer error-rates using the EM
/// algorithm", Journal of the Royal Statistical Society C 28(1), 1979; the baseline as in V. C. Raykar et al.,
/// "Learning from crowds", JMLR 11, 2010, Section 1.
/// </summary>
/// <remarks>Posteriors = the training targets (vote shares, one-hot majority labels or Dawid-Skene posteriors);
/// Confusions = Dawid-Skene's estimates (null for majority vote). One round is reported: the classifier's mean
/// cross-entropy against its targets.</remarks>
public sealed class TwoStageLearner(TwoStageLearnerOptions? options = null) : ICrowdLearner
{
    /// <summary>Name with majority vote as the first stage.</summary>
    public const string MajorityVoteMethodName = "mv";

    /// <summary>Name with Dawid-Skene as the first stage.</summary>
    public const string DawidSkeneMethodName = "ds";

    /// <summary>The options in use.</summary>
    public TwoStageLearnerOptions Options { get; } = options ?? new TwoStageLearnerOptions();

    /// <inheritdoc />
    public string Name => Options.Aggregation == TwoStageAggregation.DawidSkene ? DawidSkeneMethodName : MajorityVoteMethodName;

    /// <inheritdoc />
    public CrowdLearningResult Learn(CrowdTrainingSet data, ComputeOptions? compute = null, IProgress<EpochReport>? progress = null,
        CancellationToken cancellationToken = default)
    {
        var o = Options;
        o.Validate();
        ArgumentNullException.ThrowIfNull(data);
        data.Validate();
        var answers = data.Answers;
        int k = answers.ClassCount, T = answers.TaskCount;
        AggregationResult aggregated = o.Aggregation == TwoStageAggregation.DawidSkene
            ? new DawidSkene(o.DawidSkene).Aggregate(answers, compute, null, cancellationToken)
            : new MajorityVote(o.MajorityVote with { Seed = o.Seed }).Aggregate(answers, compute, null, cancellationToken);
        var targets = aggregated.Posteriors.Values.ToArray();
        if (o.Aggregation == TwoStageAggregation.MajorityVote && !o.SoftVotes)
        {
            Array.Clear(targets);
            for (int t = 0; t < T; t++) targets[t * k + aggregated.Labels[t]] = 1;
        }
        cancellationToken.ThrowIfCancellationRequested();
        var model = LearnerSupport.NewClassifier(o);
        var probs = LearnerSupport.FitAndPredict(model, data.Features, targets, k, cancellationToken);
        double loss = LearnerSupport.CrossEntropy(targets, probs, k);
        progress?.Report(new EpochReport(1, 1, loss, model));
        return new CrowdLearningResult
        {
            Method = Name,
            Classifier = model,
            Posteriors = new RowMatrix(T, k, targets),
            Confusions = aggregated.Confusions,
            Losses = [loss],
        };
    }
}
