using Tally.Aggregation;
using Tally.Learning;
using Tally.Mechanisms;
using System.Collections.Immutable;

namespace Tally.Catalogs;

/// <summary>
/// The few choices a user makes for any learner from the command line: the classifier's hidden layers (null = the
/// method's default), epochs and Adam step of the classifier (null = the method's default), and the seed.
/// </summary>
public sealed record LearnerSettings
{
    /// <summary>Hidden layer widths; null = the method's default model, empty = softmax regression.</summary>
    public ImmutableArray<int>? Hidden { get; init; }
    /// <summary>Training epochs (per round for the alternating methods); null = the method's default.</summary>
    public int? Epochs { get; init; }
    /// <summary>Adam step of the classifier; null = the method's default.</summary>
    public double? LearningRate { get; init; }
    /// <summary>Seed of every random choice.</summary>
    public int Seed { get; init; }
}

/// <summary>A learning-from-crowds method the command line offers.</summary>
/// <param name="Name">Method name.</param>
/// <param name="Description">One line on what it does.</param>
/// <param name="Reference">Paper.</param>
/// <param name="DefaultModel">The classifier it trains by default (<see cref="ModelSpec"/> syntax).</param>
/// <param name="Create">Builds the learner for the user's settings.</param>
public sealed record CrowdLearnerInfo(string Name, string Description, string Reference, string DefaultModel, Func<LearnerSettings, ICrowdLearner> Create);

/// <summary>The learners by name, with the defaults the command line uses.</summary>
public static class CrowdLearnerCatalog
{
    /// <summary>
    /// The network the joint (end-to-end) methods train by default: one hidden layer of 128 ReLU units, Adam step 1e-2.
    /// The step is larger than <see cref="DenseNetworkOptions"/>' 1e-3 because a few hundred tasks give only ≈ 10
    /// mini-batches an epoch; at 1e-3 the classifier is still far from fitted after 50 epochs.
    /// </summary>
    public static DenseNetworkOptions JointNetwork { get; } = new() { Hidden = [128], LearningRate = 1e-2, WeightDecay = 1e-4 };

    /// <summary>All methods, in the order the help lists them.</summary>
    public static ImmutableArray<CrowdLearnerInfo> All { get; } =
    [
        new("maxmig", "Max-MIG: classifier and crowd aggregator trained jointly by maximising their f-mutual information",
            "Cao, Xu, Kong & Wang, ICLR 2019", "mlp:128",
            s => new MaxMig(new MaxMigOptions { Network = Joint(s), Epochs = s.Epochs ?? 50, Seed = s.Seed })),
        new("crowdlayer", "Crowd Layer (MW): per-worker confusion layers on top of the classifier, trained end to end",
            "Rodrigues & Pereira, AAAI 2018", "mlp:128",
            s => new CrowdLayer(new CrowdLayerOptions { Network = Joint(s), Epochs = s.Epochs ?? 50, Seed = s.Seed })),
        new("deepbp", "deepBP: belief propagation over the workers with the classifier as each task's prior, alternating",
            "Kim et al., robust deep learning from crowds with belief propagation, AISTATS 2022", "linear",
            s => new DeepBeliefPropagation(new DeepBeliefPropagationOptions { Network = Alternating(s), Seed = s.Seed })),
        new("deepmf", "deepMF: mean-field inference over the workers with the classifier as each task's prior, alternating",
            "Kim et al., AISTATS 2022", "linear",
            s => new DeepMeanField(new DeepMeanFieldOptions { Network = Alternating(s), Seed = s.Seed })),
        new("em", "EM with a classifier prior (Raykar / AggNet): Dawid-Skene E-step times the classifier, classifier M-step",
            "Raykar et al., JMLR 2010; Albarqouni et al., IEEE TMI 2016", "linear",
            s => new EmLearner(new EmLearnerOptions { Network = Alternating(s), Seed = s.Seed })),
        new("ds", "two-stage: Dawid-Skene posteriors, then train the classifier on them",
            "Dawid & Skene 1979", "linear",
            s => new TwoStageLearner(new TwoStageLearnerOptions { Network = Alternating(s), Seed = s.Seed, Aggregation = TwoStageAggregation.DawidSkene })),
        new("mv", "two-stage: majority-vote distributions, then train the classifier on them",
            "baseline", "linear",
            s => new TwoStageLearner(new TwoStageLearnerOptions { Network = Alternating(s), Seed = s.Seed, Aggregation = TwoStageAggregation.MajorityVote })),
    ];

    /// <summary>The method called <paramref name="name"/> (case-insensitive), or null.</summary>
    public static CrowdLearnerInfo? Find(string name)
    {
        foreach (var m in All) if (string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase)) return m;
        return null;
    }

    private static DenseNetworkOptions Joint(LearnerSettings s) => JointNetwork with
    {
        Hidden = s.Hidden ?? JointNetwork.Hidden,
        LearningRate = s.LearningRate ?? JointNetwork.LearningRate,
        Seed = s.Seed,
    };

    private static DenseNetworkOptions Alternating(LearnerSettings s) => CrowdLearnerDefaults.Network with
    {
        Hidden = s.Hidden ?? CrowdLearnerDefaults.Network.Hidden,
        Epochs = s.Epochs ?? CrowdLearnerDefaults.Network.Epochs,
        LearningRate = s.LearningRate ?? CrowdLearnerDefaults.Network.LearningRate,
        Seed = s.Seed,
    };
}
