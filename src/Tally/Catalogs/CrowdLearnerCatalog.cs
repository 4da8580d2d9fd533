using Tally.Aggregation;
using Tally.Learning;
using Tally.Core;
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
    /// <summary>
    /// Runs of a learner that offers label-free restarts (<see cref="CrowdLearnerInfo.SelectionCriterion"/> not null;
    /// <see cref="RestartOptions"/>); null = the method's default, one run.
    /// </summary>
    public int? Restarts { get; init; }

    /// <summary>Checks the settings; throws <see cref="InvalidOptionException"/> naming the first bad one.</summary>
    public void Validate()
    {
        if (Hidden is { } hidden)
        {
            if (hidden.IsDefault) throw new InvalidOptionException(nameof(Hidden), "must be set (use [] for no hidden layer)");
            foreach (int h in hidden)
                if (h < 1) throw new InvalidOptionException(nameof(Hidden), $"widths must be at least 1 (got {h})");
        }
        if (Epochs is int e) Check.AtLeast(e, 1, nameof(Epochs));
        if (LearningRate is double lr) Check.Above(lr, 0, nameof(LearningRate));
        if (Restarts is int r) Check.AtLeast(r, 1, nameof(Restarts));
    }
}

/// <summary>A learning-from-crowds method the command line offers.</summary>
/// <param name="Name">Method name.</param>
/// <param name="Description">One line on what it does.</param>
/// <param name="Reference">Paper.</param>
/// <param name="DefaultNetwork">The classifier it trains when the settings leave it open (hidden layers, Adam step).</param>
/// <param name="DefaultEpochs">Its epochs when the settings leave them open (per round for the alternating methods).</param>
/// <param name="Build">Builds the learner for validated settings.</param>
/// <param name="SelectionCriterion">What its label-free restarts maximise, for display (<c>training MIG</c>), or null
/// when it has no restarts.</param>
public sealed record CrowdLearnerInfo(string Name, string Description, string Reference, DenseNetworkOptions DefaultNetwork,
    int DefaultEpochs, Func<LearnerSettings, ICrowdLearner> Build, string? SelectionCriterion = null)
{
    /// <summary>Whether the method offers restarts (<see cref="LearnerSettings.Restarts"/>).</summary>
    public bool HasRestarts => SelectionCriterion is not null;

    /// <summary>The default classifier in <see cref="ModelSpec"/> syntax (<c>linear</c>, <c>mlp:128</c>).</summary>
    public string DefaultModel => ModelSpec.Format(DefaultNetwork.Hidden);

    /// <summary>Builds the learner for the user's settings.</summary>
    /// <exception cref="InvalidOptionException">A setting is invalid.</exception>
    public ICrowdLearner Create(LearnerSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        if (settings.Restarts > 1 && !HasRestarts)
            throw new InvalidOptionException(nameof(settings.Restarts),
                $"{Name} has no restarts (methods with restarts: {string.Join(", ", CrowdLearnerCatalog.All.Where(m => m.HasRestarts).Select(m => m.Name))})");
        return Build(settings);
    }

    /// <summary>The hidden layers the learner trains under <paramref name="settings"/>.</summary>
    public ImmutableArray<int> HiddenFor(LearnerSettings settings) => settings.Hidden ?? DefaultNetwork.Hidden;
}

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
            "Cao, Xu, Kong & Wang, ICLR 2019", JointNetwork, new MaxMigOptions().Epochs,
            s => new MaxMig(Joint(new MaxMigOptions(), s) with { Restarts = WithCount(new MaxMigOptions().Restarts, s) }),
            "training MIG"),
        new("crowdlayer", "Crowd Layer (MW): per-worker confusion layers on top of the classifier, trained end to end",
            "Rodrigues & Pereira, AAAI 2018", JointNetwork, new CrowdLayerOptions().Epochs,
            s => new CrowdLayer(Joint(new CrowdLayerOptions(), s))),
        new("conal", "CoNAL: a common confusion layer shared by all workers and one per worker, mixed per task and worker by a learnt gate",
            "Chu, Ma & Wang, AAAI 2021", JointNetwork, new CoNalOptions().Epochs,
            s => new CoNal(Joint(new CoNalOptions(), s))),
        new("deepbp", "deepBP: belief propagation over the workers with the classifier as each task's prior, alternating",
            "Kim et al., robust deep learning from crowds with belief propagation, AISTATS 2022", CrowdLearnerDefaults.Network, CrowdLearnerDefaults.Network.Epochs,
            s => new DeepBeliefPropagation(Alternating(new DeepBeliefPropagationOptions(), s))),
        new("deepmf", "deepMF: mean-field inference over the workers with the classifier as each task's prior, alternating",
            "Kim et al., AISTATS 2022", CrowdLearnerDefaults.Network, CrowdLearnerDefaults.Network.Epochs,
            s => new DeepMeanField(Alternating(new DeepMeanFieldOptions(), s))),
        new("em", "EM with a classifier prior (Raykar / AggNet): Dawid-Skene E-step times the classifier, classifier M-step",
            "Raykar et al., JMLR 2010; Albarqouni et al., IEEE TMI 2016", CrowdLearnerDefaults.Network, CrowdLearnerDefaults.Network.Epochs,
            s => new EmLearner(Alternating(new EmLearnerOptions(), s) with { Restarts = WithCount(new EmLearnerOptions().Restarts, s) }),
            "log-likelihood"),
        new("ds", "two-stage: Dawid-Skene posteriors, then train the classifier on them",
            "Dawid & Skene 1979", CrowdLearnerDefaults.Network, CrowdLearnerDefaults.Network.Epochs,
            s => new TwoStageLearner(Alternating(new TwoStageLearnerOptions { Aggregation = TwoStageAggregation.DawidSkene }, s))),
        new("mv", "two-stage: majority-vote distributions, then train the classifier on them",
            "baseline", CrowdLearnerDefaults.Network, CrowdLearnerDefaults.Network.Epochs,
            s => new TwoStageLearner(Alternating(new TwoStageLearnerOptions { Aggregation = TwoStageAggregation.MajorityVote }, s))),
    ];

    /// <summary>The method <c>tally learn</c> runs when none is named: Max-MIG.</summary>
    public static CrowdLearnerInfo Default => All[0];

    /// <summary>The method called <paramref name="name"/> (case-insensitive), or null.</summary>
    public static CrowdLearnerInfo? Find(string name)
    {
        foreach (var m in All) if (string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase)) return m;
        return null;
    }

    /// <summary>The method called <paramref name="name"/>, or a user error listing the known ones.</summary>
    /// <exception cref="TallyUserException">No such method.</exception>
    public static CrowdLearnerInfo Get(string name) =>
        Find(name) ?? throw new TallyUserException($"unknown method {Quote.Value(name)} (known: {string.Join(", ", All.Select(m => m.Name))})");

    /// <summary>A joint learner's options with the settings applied: the classifier from <see cref="JointNetwork"/>, its epochs unless given.</summary>
    private static T Joint<T>(T defaults, LearnerSettings s) where T : JointLearnerOptions => defaults with
    {
        Network = JointNetwork with
        {
            Hidden = s.Hidden ?? JointNetwork.Hidden,
            LearningRate = s.LearningRate ?? JointNetwork.LearningRate,
            Seed = s.Seed,
        },
        Epochs = s.Epochs ?? defaults.Epochs,
        Seed = s.Seed,
    };

    /// <summary>The method's restart options with the settings' run count, if given.</summary>
    private static RestartOptions WithCount(RestartOptions defaults, LearnerSettings s) =>
        s.Restarts is int n ? defaults with { Count = n } : defaults;

    /// <summary>A classifier learner's options with the settings applied to <see cref="CrowdLearnerDefaults.Network"/>.</summary>
    private static T Alternating<T>(T defaults, LearnerSettings s) where T : ClassifierLearnerOptions => defaults with
    {
        Network = defaults.Network with
        {
            Hidden = s.Hidden ?? defaults.Network.Hidden,
            Epochs = s.Epochs ?? defaults.Network.Epochs,
            LearningRate = s.LearningRate ?? defaults.Network.LearningRate,
            Seed = s.Seed,
        },
        Seed = s.Seed,
    };
}
