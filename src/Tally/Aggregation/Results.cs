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

    /// <summary>Posterior probability of the chosen label of task t.</summary>
    public double Confidence(int task) => Posteriors[task, Labels[task]];

    internal static ImmutableArray<T> Wrap<T>(T[] array) => ImmutableCollectionsMarshal.AsImmutableArray(array);
}

/// <summary>
/// A truth-inference method: from a crowd's answers, the posterior over each task's true class and each worker's reliability.
/// Implementations are stateless apart from their options, so one instance can be used for many matrices and threads.
/// </summary>
public interface IAggregator
{
    /// <summary>Short name as on the command line (e.g. <c>ds</c>).</summary>
    string Name { get; }

    /// <summary>Infers the true labels. Deterministic for given options (including the seed).</summary>
    AggregationResult Aggregate(LabelMatrix answers, IProgress<IterationProgress>? progress = null,
        CancellationToken cancellationToken = default);
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
}
