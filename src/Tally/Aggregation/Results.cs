using System.Collections.Immutable;
using System.Runtime.InteropServices;
using Tally.Core;

namespace Tally.Aggregation;

/// <summary>What a truth-inference method concluded.</summary>
public sealed record AggregationResult
{
    /// <summary>Short name of the method (as on the command line).</summary>
    public required string Method { get; init; }
    /// <summary>The answers the result refers to (for task, worker and class names).</summary>
    public required LabelMatrix Answers { get; init; }
    /// <summary>Task × class posterior probabilities; every row sums to 1.</summary>
    public required RowMatrix Posteriors { get; init; }
    /// <summary>The most likely class of each task.</summary>
    public required ImmutableArray<int> Labels { get; init; }
    /// <summary>Each worker's reliability in the method's own sense (see the method's docs); higher is better.</summary>
    public required ImmutableArray<double> WorkerSkills { get; init; }
    /// <summary>Per-worker confusion matrices, for methods that model them.</summary>
    public ConfusionMatrices? Confusions { get; init; }
    /// <summary>Estimated class prior, for methods that model one (empty otherwise).</summary>
    public ImmutableArray<double> ClassPriors { get; init; } = ImmutableArray<double>.Empty;
    /// <summary>Iterations run (0 for one-shot methods).</summary>
    public int Iterations { get; init; }
    /// <summary>Whether the tolerance was reached before the iteration limit (true for one-shot methods).</summary>
    public bool Converged { get; init; } = true;
    /// <summary>Objective after each iteration (log-likelihood or bound, per answer), where the method defines one.</summary>
    public ImmutableArray<double> LogLikelihoods { get; init; } = ImmutableArray<double>.Empty;
    /// <summary>Method-specific per-worker parameters worth reporting (e.g. MACE's spamming probability), by name.</summary>
    public ImmutableDictionary<string, ImmutableArray<double>> WorkerParameters { get; init; } =
        ImmutableDictionary<string, ImmutableArray<double>>.Empty;
    /// <summary>What the method learned, to save, to label new tasks with (<see cref="AggregationModel.Predict"/>) or to start from (<see cref="IAggregator.Refine"/>).</summary>
    public required AggregationModel Model { get; init; }
    /// <summary>For <see cref="AggregationModel.Predict"/>: workers of the answers that the model had not seen (0 for a fit).</summary>
    public int UnseenWorkers { get; init; }

    /// <summary>Posterior probability of the chosen label of task t.</summary>
    public double Confidence(int task) => Posteriors[task, Labels[task]];

    internal static ImmutableArray<T> Wrap<T>(T[] array) => ImmutableCollectionsMarshal.AsImmutableArray(array);

    /// <summary>
    /// The one way every method builds its result: posteriors (T×K, taken over), labels = arg max with ties to the lowest
    /// class index (the class order is explicit, so ties do not depend on the input's row order) unless
    /// <paramref name="labels"/> is given, skills per worker, and the fitted model. Refuses NaN or infinite values: they
    /// would be a bug, and no file should ever show them.
    /// </summary>
    internal static AggregationResult Create(string method, LabelMatrix answers, double[] posteriors, double[] skills,
        AggregationModel model, int[]? labels = null)
    {
        int T = answers.TaskCount, k = answers.ClassCount;
        if (posteriors.Length != (long)T * k) throw new InvalidOperationException($"{method}: posteriors are not T×K.");
        if (skills.Length != answers.WorkerCount) throw new InvalidOperationException($"{method}: one skill per worker is needed.");
        for (int i = 0; i < posteriors.Length; i++)
            if (!double.IsFinite(posteriors[i])) throw new InvalidOperationException($"{method}: a posterior of task '{answers.Tasks[i / k]}' is not finite.");
        for (int w = 0; w < skills.Length; w++)
            if (!double.IsFinite(skills[w])) throw new InvalidOperationException($"{method}: the skill of worker '{answers.Workers[w]}' is not finite.");
        return new AggregationResult
        {
            Method = method,
            Answers = answers,
            Posteriors = new RowMatrix(T, k, posteriors),
            Labels = Wrap(labels ?? Numerics.ArgMaxRows(posteriors, T, k)),
            WorkerSkills = Wrap(skills),
            Model = model,
        };
    }
}

/// <summary>
/// A truth-inference method: from a crowd's answers, the posterior over each task's true class and each worker's reliability.
/// Implementations are stateless apart from their options, so one instance can be used for many matrices and threads.
/// </summary>
public interface IAggregator
{
    /// <summary>Short name as on the command line (e.g. <c>ds</c>).</summary>
    string Name { get; }

    /// <summary>
    /// Fits the method to <paramref name="answers"/> and infers the true labels; the result carries the fitted
    /// <see cref="AggregationResult.Model"/>. Deterministic for given options (including the seed) and answers: the
    /// same bytes whatever <paramref name="compute"/> allows, and whatever order the answers were read in.
    /// </summary>
    /// <exception cref="InvalidOptionException">The options are invalid.</exception>
    /// <exception cref="TallyUserException">The method cannot work on these answers (e.g. a binary-only method on K = 3).</exception>
    AggregationResult Aggregate(LabelMatrix answers, ComputeOptions? compute = null, IProgress<IterationProgress>? progress = null,
        CancellationToken cancellationToken = default);

    /// <summary>
    /// Fits the method again, starting from <paramref name="start"/> (a model this method fitted earlier, typically on
    /// fewer answers) instead of its usual initialisation: EM methods start from the posteriors <paramref name="start"/>
    /// predicts, so refining on similar answers takes few iterations. Methods without such a start fit afresh
    /// (<see cref="SupportsWarmStart"/> is false).
    /// </summary>
    /// <exception cref="TallyUserException"><paramref name="start"/> is another method's model or has other classes.</exception>
    AggregationResult Refine(AggregationModel start, LabelMatrix answers, ComputeOptions? compute = null,
        IProgress<IterationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        AggregationModel.CheckStart(start, Name, answers);
        return Aggregate(answers, compute, progress, cancellationToken);
    }

    /// <summary>Whether <see cref="Refine"/> really starts from the given model (otherwise it fits afresh).</summary>
    bool SupportsWarmStart => false;
}

/// <summary>Shortcuts over <see cref="IAggregator"/>.</summary>
public static class AggregatorExtensions
{
    /// <summary>Fits the method and returns only the fitted model (see <see cref="IAggregator.Aggregate"/>).</summary>
    public static AggregationModel Fit(this IAggregator aggregator, LabelMatrix answers, ComputeOptions? compute = null,
        IProgress<IterationProgress>? progress = null, CancellationToken cancellationToken = default) =>
        aggregator.Aggregate(answers, compute, progress, cancellationToken).Model;
}

/// <summary>Options shared by iterative methods.</summary>
public abstract record IterativeOptions
{
    /// <summary>Iteration limit.</summary>
    public int MaxIterations { get; init; } = 100;
    /// <summary>Stop when the objective (per answer) changes by less than this; 0 = always run <see cref="MaxIterations"/>.</summary>
    public double Tolerance { get; init; } = 1e-5;
    /// <summary>Seed for any randomness (initialisation, tie-breaking).</summary>
    public int Seed { get; init; }

    /// <summary>Checks the shared options; derived records add their own checks and call this.</summary>
    /// <exception cref="InvalidOptionException">An option is out of range.</exception>
    public virtual void Validate()
    {
        Check.AtLeast(MaxIterations, 0, nameof(MaxIterations));
        Check.AtLeast(Tolerance, 0, nameof(Tolerance));
    }
}
