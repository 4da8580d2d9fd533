using Tally.Catalogs;
using Tally.Aggregation;
using Tally.Core;

namespace Tally.Simulation;

/// <summary>A named experiment: which scenario parameter is swept, over which values, from which base scenario.</summary>
/// <param name="Name">Name on the command line.</param>
/// <param name="Symbol">Short name of the swept parameter (table header).</param>
/// <param name="Parameter">What the x axis is.</param>
/// <param name="Summary">A short line for lists (help texts).</param>
/// <param name="Description">The scenario in full (table titles, documentation).</param>
/// <param name="DefaultValues">Values swept by default.</param>
/// <param name="Scenario">The crowd for (value, seed).</param>
/// <param name="ModelPrior">The worker prior given to the Bayesian methods at a value (null: their default).</param>
public sealed record AggregationExperiment(string Name, string Symbol, string Parameter, string Summary, string Description,
    IReadOnlyList<double> DefaultValues, Func<double, int, SimulatedCrowd> Scenario, Func<double, WorkerPrior>? ModelPrior = null);

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
            "(3,4)-regular graph, one-coin workers ~ Beta(α1, α1/2), α1 from 0.2 to 2",
            "(3, 4)-regular graph, 1,000 tasks, one-coin workers with accuracy ~ Beta(α1, α1/2): sparse priors (small α1) mix hammers and adversaries. MF and BP are given the true prior, as in the paper.",
            [0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0],
            (x, seed) => Sparse(new SparseCrowdScenario { Alpha1 = x, Alpha2 = x / 2, Seed = seed }),
            x => WorkerPrior.OneCoin(x, x / 2)),
        new("spammers", "spammers", "extreme spammers",
            "(3,4)-regular graph, workers ~ Beta(2,1), plus 0..5 extreme spammers answering every task",
            "(3, 4)-regular graph, 1,000 tasks, workers ~ Beta(2, 1), plus N extreme spammers who each answer every task uniformly at random. MF and BP use the mismatched prior Dir(2, 1.4), as in the paper's Figure 3c.",
            [0, 1, 2, 3, 4, 5],
            (x, seed) => Sparse(new SparseCrowdScenario { Alpha1 = 2, Alpha2 = 1, Spammers = (int)x, Seed = seed }),
            _ => WorkerPrior.OneCoin(2, 1.4)),
        new("adversaries", "α", "adversary fraction α",
            "(10,20)-regular graph, workers ~ Beta(4,2), a fraction α colluding to flip every answer",
            "(10, 20)-regular graph, 1,000 tasks, 500 workers ~ Beta(4, 2); a fraction α of them collude and flip every answer.",
            [0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3],
            (x, seed) => Sparse(new SparseCrowdScenario { PerTask = 10, PerWorker = 20, Alpha1 = 4, Alpha2 = 2, AdversaryFraction = x, Adversary = AdversaryStrategy.Flip, Seed = seed })),
        new("collusion", "α", "adversary fraction α (coordinated pattern)",
            "as adversaries, but the colluders all give the same random class on each task",
            "(10, 20)-regular graph, 1,000 tasks, 500 workers ~ Beta(4, 2); a fraction α of them collude: on each task all give the same random class.",
            [0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3],
            (x, seed) => Sparse(new SparseCrowdScenario { PerTask = 10, PerWorker = 20, Alpha1 = 4, Alpha2 = 2, AdversaryFraction = x, Adversary = AdversaryStrategy.Pattern, Seed = seed })),
        new("rowdy-constant", "α", "adversary fraction α (constant label)",
            "symmetric Dawid-Skene crowd (K = 3, 400 workers, 5 per task); a fraction α always answers class 2",
            "Rowdy crowd (symmetric Dawid-Skene): 2,000 tasks, 400 workers, 5 per task, K = 3, w = (.5, .3, .2), Γ with 0.7 on the diagonal; a fraction α always answers class 2.",
            [0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3],
            (x, seed) => Rowdy(x, AdversaryStrategy.Constant, seed)),
        new("rowdy-flip", "α", "adversary fraction α (flip)",
            "as rowdy-constant; a fraction α answers (truth + 1) mod 3",
            "Rowdy crowd as rowdy-constant; a fraction α answers (truth + 1) mod 3.",
            [0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3],
            (x, seed) => Rowdy(x, AdversaryStrategy.Flip, seed)),
        new("rowdy-pattern", "α", "adversary fraction α (coordinated pattern)",
            "as rowdy-constant; on each task all adversaries give the same random class",
            "Rowdy crowd as rowdy-constant; on each task all adversaries give the same random class.",
            [0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3],
            (x, seed) => Rowdy(x, AdversaryStrategy.Pattern, seed)),
        new("imbalance", "minority", "minority class share",
            "binary Dawid-Skene crowd, 3 answers per task; the minority class is 50% down to 3% of the tasks",
            "Imbalanced binary crowd (Dawid-Skene): 2,000 tasks, 40 workers (150 answers each, as in the product-matching set of Köpcke et al.), 3 answers per task, worker accuracy ~ Beta with mean 0.75 and spread 0.15; the minority class is a share x of the tasks.",
            [0.5, 0.3, 0.2, 0.1, 0.05, 0.03],
            (x, seed) => new DawidSkeneSimulator().Generate(new DawidSkeneScenario
            {
                Tasks = 2000, Workers = 40, PerTask = 3, Classes = 2, Accuracy = 0.75, AccuracySpread = 0.15, ClassPrior = [1 - x, x], Seed = seed,
            })),
    ];

    private static readonly double[] RowdyWeights = [0.5, 0.3, 0.2];
    private static readonly double[] RowdyConfusion = [0.7, 0.2, 0.1, 0.15, 0.7, 0.15, 0.1, 0.2, 0.7];

    private static SimulatedCrowd Sparse(SparseCrowdScenario scenario) => new SparseCrowdSimulator().Generate(scenario);

    private static SimulatedCrowd Rowdy(double alpha, AdversaryStrategy strategy, int seed) =>
        new AdversarySimulator().Generate(new AdversaryScenario
        {
            Tasks = 2000, Workers = 400, PerTask = 5, ClassWeights = RowdyWeights, Confusion = RowdyConfusion,
            AdversaryFraction = alpha, Strategy = strategy, ConstantLabel = 2, Seed = seed,
        }).ToSimulatedCrowd();

    /// <summary>Finds an experiment by name; null if unknown.</summary>
    public static AggregationExperiment? Find(string name) =>
        Experiments.FirstOrDefault(e => string.Equals(e.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// Runs an experiment: every method on every (value, seed) crowd, crowds in parallel up to <paramref name="compute"/>'s
    /// thread limit (see <see cref="AccuracySweep"/>); the points do not depend on the thread count.
    /// </summary>
    /// <param name="experiment">The experiment.</param>
    /// <param name="values">Values of its parameter (null: <see cref="AggregationExperiment.DefaultValues"/>).</param>
    /// <param name="seeds">Crowds per value.</param>
    /// <param name="methods">Methods to run on each crowd.</param>
    /// <param name="options">Options for every method; the Bayesian methods get the experiment's model prior unless it sets one.</param>
    /// <param name="confidence">Confidence level of the intervals.</param>
    /// <param name="compute">Thread limit.</param>
    /// <param name="progress">Crowds done.</param>
    /// <param name="cancellationToken">Stops between crowds.</param>
    public static IReadOnlyList<SweepPoint> Run(AggregationExperiment experiment, IReadOnlyList<double>? values, int seeds,
        IReadOnlyList<AggregatorInfo> methods, CommonMethodOptions options, double confidence = AccuracySweep.DefaultConfidence,
        ComputeOptions? compute = null, IProgress<WorkProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(experiment);
        ArgumentNullException.ThrowIfNull(options);
        return AccuracySweep.Run(values ?? experiment.DefaultValues, seeds, experiment.Scenario, methods,
            x => options.Prior is null && experiment.ModelPrior is { } prior ? options with { Prior = prior(x) } : options,
            confidence, compute, progress, cancellationToken);
    }
}
