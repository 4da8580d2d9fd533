using Tally.Aggregation;

namespace Tally.Simulation;

/// <summary>A named experiment: which scenario parameter is swept, over which values, from which base scenario.</summary>
/// <param name="Name">Name on the command line.</param>
/// <param name="Symbol">Short name of the swept parameter (table header).</param>
/// <param name="Parameter">What the x axis is.</param>
/// <param name="Description">One line.</param>
/// <param name="DefaultValues">Values swept by default.</param>
/// <param name="Scenario">The crowd for (value, seed).</param>
/// <param name="ModelPrior">The worker prior given to the Bayesian methods at a value (null: their default).</param>
public sealed record AggregationExperiment(string Name, string Symbol, string Parameter, string Description, IReadOnlyList<double> DefaultValues,
    Func<double, int, SparseCrowdScenario> Scenario, Func<double, WorkerPrior>? ModelPrior = null);

/// <summary>
/// The truth-inference experiments of the documentation (docs/aggregation.md), after Kim, Cho, Kim and Ok,
/// "Robust deep learning from crowds with belief propagation", AISTATS 2022, §4.1 (Figures 2–3, without features),
/// and Schoenebeck, Yu et al., "Information elicitation from rowdy crowds", WWW 2021 (colluding adversaries).
/// </summary>
public static class AggregationLab
{
    /// <summary>The experiments, by name.</summary>
    public static IReadOnlyList<AggregationExperiment> Experiments { get; } =
    [
        new("prior", "α1", "α1 (worker prior Dir(α1, α1/2))",
            "(3, 4)-regular graph, 1,000 tasks, one-coin workers with accuracy ~ Beta(α1, α1/2): sparse priors (small α1) mix hammers and adversaries. MF and BP are given the true prior, as in the paper.",
            [0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0],
            (x, seed) => new SparseCrowdScenario { Alpha1 = x, Alpha2 = x / 2, Seed = seed },
            x => WorkerPrior.OneCoin(x, x / 2)),
        new("spammers", "spammers", "extreme spammers",
            "(3, 4)-regular graph, 1,000 tasks, workers ~ Beta(2, 1), plus N extreme spammers who each answer every task uniformly at random. MF and BP use the mismatched prior Dir(2, 1.4), as in the paper's Figure 3c.",
            [0, 1, 2, 3, 4, 5],
            (x, seed) => new SparseCrowdScenario { Alpha1 = 2, Alpha2 = 1, Spammers = (int)x, Seed = seed },
            _ => WorkerPrior.OneCoin(2, 1.4)),
        new("adversaries", "α", "adversary fraction α",
            "(10, 20)-regular graph, 1,000 tasks, 500 workers ~ Beta(4, 2); a fraction α of them collude and flip every answer.",
            [0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3],
            (x, seed) => new SparseCrowdScenario { PerTask = 10, PerWorker = 20, Alpha1 = 4, Alpha2 = 2, AdversaryFraction = x, Adversary = AdversaryStrategy.Flip, Seed = seed }),
        new("collusion", "α", "adversary fraction α (coordinated pattern)",
            "(10, 20)-regular graph, 1,000 tasks, 500 workers ~ Beta(4, 2); a fraction α of them collude: on each task all give the same random class.",
            [0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3],
            (x, seed) => new SparseCrowdScenario { PerTask = 10, PerWorker = 20, Alpha1 = 4, Alpha2 = 2, AdversaryFraction = x, Adversary = AdversaryStrategy.Pattern, Seed = seed }),
    ];

    /// <summary>Finds an experiment by name; null if unknown.</summary>
    public static AggregationExperiment? Find(string name) =>
        Experiments.FirstOrDefault(e => string.Equals(e.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>Runs an experiment: every method on every (value, seed) crowd.</summary>
    public static IReadOnlyList<SweepPoint> Run(AggregationExperiment experiment, IReadOnlyList<double>? values, int seeds,
        IReadOnlyList<AggregatorInfo> methods, CommonMethodOptions options, double confidence = 0.99, Action<double>? progress = null)
    {
        var simulator = new SparseCrowdSimulator();
        return AccuracySweep.Run(values ?? experiment.DefaultValues, seeds,
            (x, seed) => simulator.Generate(experiment.Scenario(x, seed)), methods,
            x => experiment.ModelPrior is { } prior ? options with { Prior = prior(x) } : options, confidence, progress);
    }
}
