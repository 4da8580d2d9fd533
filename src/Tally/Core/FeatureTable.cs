using System.Collections.ObjectModel;
using System.Globalization;

namespace Tally.Core;

/// <summary>
/// Task features: one row of D finite numbers per task id, immutable. Learning-from-crowds methods need the rows in
/// the task order of a <see cref="LabelMatrix"/>; <see cref="Align(LabelMatrix)"/> produces exactly that, so feature
/// files may list tasks in any order and may hold extra tasks (e.g. unanswered ones).
/// </summary>
public sealed class FeatureTable
{
    private readonly string[] _tasks;
    private readonly string[] _columns;
    private readonly double[][] _rows;
    private readonly Dictionary<string, int> _index;

    /// <summary>Creates a table, copying the rows.</summary>
    /// <param name="tasks">Task id of each row (distinct, non-empty).</param>
    /// <param name="rows">The feature rows: at least one, all of the same length D ≥ 1, finite values.</param>
    /// <param name="columns">D column names; null = <c>f0..f(D−1)</c>.</param>
    /// <param name="source">Name used in error messages (a file path); default <c>features</c>.</param>
    /// <exception cref="TallyDataException">Empty table, ragged or non-finite rows, duplicate or empty task ids,
    /// or a column count that differs from D.</exception>
    public FeatureTable(IReadOnlyList<string> tasks, IReadOnlyList<double[]> rows, IReadOnlyList<string>? columns = null,
        string source = "features")
        : this(Copy(tasks), Copy(rows), columns?.ToArray(), source, validate: true)
    {
    }

    private FeatureTable(string[] tasks, double[][] rows, string[]? columns, string source, bool validate)
    {
        Source = source;
        if (tasks.Length != rows.Length)
            throw new TallyDataException(source, 0, $"{tasks.Length} task ids for {rows.Length} feature rows");
        if (rows.Length == 0) throw new TallyDataException(source, 0, "has no feature rows");
        int d = rows[0]?.Length ?? 0;
        if (d == 0) throw new TallyDataException(source, 0, "has no feature columns");
        _index = new Dictionary<string, int>(tasks.Length, StringComparer.Ordinal);
        for (int i = 0; i < tasks.Length; i++)
        {
            if (string.IsNullOrEmpty(tasks[i])) throw new TallyDataException(source, 0, $"row {i} has an empty task id");
            if (!_index.TryAdd(tasks[i], i))
                throw new TallyDataException(source, 0, $"task '{tasks[i]}' has two feature rows ({_index[tasks[i]]} and {i})");
            if (!validate) continue;
            var row = rows[i];
            if (row is null || row.Length != d)
                throw new TallyDataException(source, 0, $"row {i} (task '{tasks[i]}') has {row?.Length ?? 0} values, row 0 has {d}");
            for (int j = 0; j < d; j++)
                if (!double.IsFinite(row[j]))
                    throw new TallyDataException(source, 0, $"row {i} (task '{tasks[i]}') column {j} is {row[j]}, not a finite number");
        }
        columns ??= DefaultColumns(d);
        if (columns.Length != d) throw new TallyDataException(source, 0, $"{columns.Length} column names for {d} columns");
        _tasks = tasks;
        _rows = rows;
        _columns = columns;
    }

    private static string[] Copy(IReadOnlyList<string> tasks)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        return tasks.ToArray();
    }

    // A null row is kept as null so that validation reports it with its task id.
    private static double[][] Copy(IReadOnlyList<double[]> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        return rows.Select(r => r is null ? null! : (double[])r.Clone()).ToArray();
    }

    /// <summary>Builds a table from rows the caller has validated and hands over (no copy).</summary>
    internal static FeatureTable Trusted(string[] tasks, double[][] rows, string[] columns, string source) =>
        new(tasks, rows, columns, source, validate: false);

    /// <summary>Where the table came from (a file path), for error messages.</summary>
    public string Source { get; }

    /// <summary>Number of rows (tasks).</summary>
    public int Count => _rows.Length;

    /// <summary>D, the number of features per row.</summary>
    public int Dimension => _columns.Length;

    /// <summary>Task id of each row, in file order.</summary>
    public IReadOnlyList<string> Tasks => new ReadOnlyCollection<string>(_tasks);

    /// <summary>The D column names.</summary>
    public IReadOnlyList<string> Columns => new ReadOnlyCollection<string>(_columns);

    /// <summary>Row <paramref name="index"/> (file order).</summary>
    public ReadOnlySpan<double> Row(int index) => _rows[index];

    /// <summary>The row index of task <paramref name="task"/>, or -1.</summary>
    public int IndexOf(string task) => _index.TryGetValue(task, out int i) ? i : -1;

    /// <summary>A copy of all rows in file order.</summary>
    public double[][] ToArray() => _rows.Select(r => (double[])r.Clone()).ToArray();

    /// <summary>Copies of the rows of <paramref name="answers"/>' tasks, in its task order (row t ↔ task t).</summary>
    /// <exception cref="TallyDataException">Some tasks of the answers have no feature row (the first five are named).</exception>
    public double[][] Align(LabelMatrix answers)
    {
        ArgumentNullException.ThrowIfNull(answers);
        return Align(answers.Tasks.Names, "the answers");
    }

    /// <summary>Copies of the rows of <paramref name="tasks"/>, in that order.</summary>
    /// <param name="tasks">Task ids to look up.</param>
    /// <param name="what">How to name the task list in the error message.</param>
    /// <exception cref="TallyDataException">Some tasks have no feature row (the first five are named).</exception>
    public double[][] Align(IReadOnlyList<string> tasks, string what = "the task list")
    {
        ArgumentNullException.ThrowIfNull(tasks);
        var result = new double[tasks.Count][];
        var missing = new List<string>();
        int missingCount = 0;
        for (int t = 0; t < tasks.Count; t++)
        {
            if (_index.TryGetValue(tasks[t], out int i)) { result[t] = (double[])_rows[i].Clone(); continue; }
            if (missingCount++ < 5) missing.Add(tasks[t]);
        }
        if (missingCount > 0)
            throw new TallyDataException(Source, 0,
                $"no feature row for {missingCount} of the {tasks.Count} tasks of {what} (first: {string.Join(", ", missing.Select(m => $"'{m}'"))})");
        return result;
    }

    /// <summary>
    /// The same rows with the tasks in Tally's canonical order (<see cref="Vocabulary.NaturalOrder"/>, as the tasks of a
    /// <see cref="LabelMatrix"/>: numerically when every id is a number, else ordinal), so that outputs listing these
    /// tasks do not depend on the order of the file's rows. Returns this table when it is already in that order.
    /// </summary>
    public FeatureTable InNaturalOrder()
    {
        new Vocabulary(_tasks).InNaturalOrder(out int[] map);
        if (map.Length == 0) return this;
        var tasks = new string[_tasks.Length];
        var rows = new double[_rows.Length][];
        for (int i = 0; i < map.Length; i++)
        {
            tasks[map[i]] = _tasks[i];
            rows[map[i]] = _rows[i];
        }
        // Rows are never mutated, so the new table may share them.
        return new FeatureTable(tasks, rows, _columns, Source, validate: false);
    }

    /// <summary>The names <c>f0..f(d−1)</c>.</summary>
    public static string[] DefaultColumns(int d)
    {
        var names = new string[d];
        for (int j = 0; j < d; j++) names[j] = "f" + j.ToString(CultureInfo.InvariantCulture);
        return names;
    }
}
