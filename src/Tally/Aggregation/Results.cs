using System.Collections.Immutable;
using System.Runtime.InteropServices;
using Tally.Data;

namespace Tally.Aggregation;

/// <summary>An immutable row-major matrix of doubles (e.g. task × class posteriors).</summary>
public sealed class RowMatrix
{
    private readonly double[] _values;

    /// <summary>Wraps <paramref name="values"/> (taken over, not copied: the caller must not keep writing to it).</summary>
    internal RowMatrix(int rows, int columns, double[] values)
    {
        if (values.Length != (long)rows * columns) throw new ArgumentException("Size mismatch.", nameof(values));
        Rows = rows; Columns = columns; _values = values;
    }

    /// <summary>Copies a jagged array into a matrix.</summary>
    public static RowMatrix From(double[][] rows)
    {
        int c = rows.Length == 0 ? 0 : rows[0].Length;
        var v = new double[rows.Length * c];
        for (int i = 0; i < rows.Length; i++) rows[i].AsSpan().CopyTo(v.AsSpan(i * c, c));
        return new RowMatrix(rows.Length, c, v);
    }

    /// <summary>Number of rows.</summary>
    public int Rows { get; }
    /// <summary>Number of columns.</summary>
    public int Columns { get; }
    /// <summary>Element (row, column).</summary>
    public double this[int row, int column] => _values[row * Columns + column];
    /// <summary>One row.</summary>
    public ReadOnlySpan<double> Row(int row) => _values.AsSpan(row * Columns, Columns);
    /// <summary>All values, row after row.</summary>
    public ReadOnlySpan<double> Values => _values;
}

/// <summary>
/// One K × K confusion matrix per worker: <c>this[w, j, l]</c> = P(worker w answers l | true class j); rows sum to 1.
/// </summary>
public sealed class ConfusionMatrices
{
    private readonly double[] _values;

    internal ConfusionMatrices(int workers, int classes, double[] values)
    {
        if (values.Length != (long)workers * classes * classes) throw new ArgumentException("Size mismatch.", nameof(values));
        WorkerCount = workers; ClassCount = classes; _values = values;
    }

    /// <summary>Number of workers.</summary>
    public int WorkerCount { get; }
    /// <summary>K.</summary>
    public int ClassCount { get; }
    /// <summary>P(answer = <paramref name="label"/> | truth = <paramref name="trueClass"/>) for worker <paramref name="worker"/>.</summary>
    public double this[int worker, int trueClass, int label] => _values[(worker * ClassCount + trueClass) * ClassCount + label];
    /// <summary>All matrices, worker after worker, each K×K row-major.</summary>
    public ReadOnlySpan<double> Values => _values;
    /// <summary>Worker w's matrix, K×K row-major (row = true class).</summary>
    public ReadOnlySpan<double> Of(int worker) => _values.AsSpan(worker * ClassCount * ClassCount, ClassCount * ClassCount);
}

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

/// <summary>Progress of an iterative method, for progress bars.</summary>
/// <param name="Iteration">Iterations done.</param>
/// <param name="MaxIterations">Iteration limit.</param>
/// <param name="Objective">Current objective value, NaN if none.</param>
public readonly record struct IterationProgress(int Iteration, int MaxIterations, double Objective);

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
