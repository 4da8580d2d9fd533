namespace Tally.Core;

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
        var v = new double[MemoryBudget.Length(rows.Length, c)];
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
    /// <summary>The array behind <see cref="Values"/>, for an immutable holder that may share it instead of copying (never to be written).</summary>
    internal double[] Array => _values;
    /// <summary>Worker w's matrix, K×K row-major (row = true class).</summary>
    public ReadOnlySpan<double> Of(int worker) => _values.AsSpan(worker * ClassCount * ClassCount, ClassCount * ClassCount);
}

/// <summary>Progress of an iterative method, for progress bars.</summary>
/// <param name="Iteration">Iterations done.</param>
/// <param name="MaxIterations">Iteration limit.</param>
/// <param name="Objective">Current objective value, NaN if none.</param>
public readonly record struct IterationProgress(int Iteration, int MaxIterations, double Objective);

