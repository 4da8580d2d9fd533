using System.Collections.Immutable;
using System.Globalization;

namespace Tally.Core;

/// <summary>
/// Crowd answers that are numbers (ratings, counts, prices): which worker gave which value to which task, stored
/// twice in compressed sparse rows — by task (for the estimates) and by worker (for the worker parameters) — in
/// Tally's sorted task and worker order, so the same answers in any row order give the same matrix. Immutable.
/// </summary>
public sealed class NumericAnswerMatrix
{
    private NumericAnswerMatrix(Vocabulary tasks, Vocabulary workers, int[] taskOffsets, int[] taskWorkers, double[] taskValues,
        int[] workerOffsets, int[] workerTasks, double[] workerValues)
    {
        Tasks = tasks; Workers = workers;
        TaskOffsets = taskOffsets; TaskWorkers = taskWorkers; TaskValues = taskValues;
        WorkerOffsets = workerOffsets; WorkerTasks = workerTasks; WorkerValues = workerValues;
    }

    /// <summary>Task names, in index order.</summary>
    public Vocabulary Tasks { get; }
    /// <summary>Worker names, in index order.</summary>
    public Vocabulary Workers { get; }
    /// <summary>T + 1 offsets: task t's answers are entries TaskOffsets[t] .. TaskOffsets[t + 1] − 1 of the task arrays.</summary>
    internal int[] TaskOffsets { get; }
    internal int[] TaskWorkers { get; }
    internal double[] TaskValues { get; }
    /// <summary>W + 1 offsets into the worker arrays.</summary>
    internal int[] WorkerOffsets { get; }
    internal int[] WorkerTasks { get; }
    internal double[] WorkerValues { get; }

    /// <summary>Number of tasks.</summary>
    public int TaskCount => Tasks.Count;
    /// <summary>Number of workers.</summary>
    public int WorkerCount => Workers.Count;
    /// <summary>Number of answers.</summary>
    public int AnswerCount => TaskValues.Length;

    /// <summary>The values given to task <paramref name="task"/>, ordered by worker index.</summary>
    public ReadOnlySpan<double> TaskAnswers(int task) => TaskValues.AsSpan(TaskOffsets[task], TaskOffsets[task + 1] - TaskOffsets[task]);
    /// <summary>Number of answers of worker <paramref name="worker"/>.</summary>
    public int WorkerAnswerCount(int worker) => WorkerOffsets[worker + 1] - WorkerOffsets[worker];

    /// <summary>
    /// Builds the matrix from answer triples (task index, worker index, value); the vocabularies are taken as they are
    /// (see <see cref="NumericAnswerFiles"/> for the sorted order). Every task and worker should have an answer.
    /// </summary>
    /// <exception cref="ArgumentException">Arrays of different lengths, an index out of range or a value that is not finite.</exception>
    public static NumericAnswerMatrix FromTriples(Vocabulary tasks, Vocabulary workers, ReadOnlySpan<int> task, ReadOnlySpan<int> worker, ReadOnlySpan<double> value)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        ArgumentNullException.ThrowIfNull(workers);
        int n = task.Length, T = tasks.Count, W = workers.Count;
        if (worker.Length != n || value.Length != n) throw new ArgumentException("task, worker and value must have the same length.");
        for (int i = 0; i < n; i++)
        {
            if ((uint)task[i] >= (uint)T || (uint)worker[i] >= (uint)W) throw new ArgumentException($"answer {i} names a task or worker out of range.");
            if (!double.IsFinite(value[i])) throw new ArgumentException($"answer {i} is not a finite number.");
        }
        // Counting sort by (task, worker) and by (worker, task): the order of the triples never matters.
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        var t0 = task.ToArray(); var w0 = worker.ToArray();
        Array.Sort(order, (a, b) => t0[a] != t0[b] ? t0[a].CompareTo(t0[b]) : w0[a] != w0[b] ? w0[a].CompareTo(w0[b]) : a.CompareTo(b));
        var taskOffsets = new int[T + 1];
        var taskWorkers = new int[n];
        var taskValues = new double[n];
        for (int j = 0; j < n; j++) { int i = order[j]; taskOffsets[t0[i] + 1]++; taskWorkers[j] = w0[i]; taskValues[j] = value[i]; }
        for (int t = 0; t < T; t++) taskOffsets[t + 1] += taskOffsets[t];
        var workerOffsets = new int[W + 1];
        for (int j = 0; j < n; j++) workerOffsets[taskWorkers[j] + 1]++;
        for (int w = 0; w < W; w++) workerOffsets[w + 1] += workerOffsets[w];
        var fill = (int[])workerOffsets.Clone();
        var workerTasks = new int[n];
        var workerValues = new double[n];
        for (int t = 0; t < T; t++)
            for (int j = taskOffsets[t]; j < taskOffsets[t + 1]; j++)
            {
                int slot = fill[taskWorkers[j]]++;
                workerTasks[slot] = t;
                workerValues[slot] = taskValues[j];
            }
        return new NumericAnswerMatrix(tasks, workers, taskOffsets, taskWorkers, taskValues, workerOffsets, workerTasks, workerValues);
    }
}

/// <summary>What <see cref="NumericAnswerFiles.ReadAnswers(string, AnswerFileOptions?)"/> read.</summary>
/// <param name="Matrix">The answers.</param>
/// <param name="DroppedDuplicates">Answers dropped under the duplicate policy.</param>
public sealed record NumericAnswerBuild(NumericAnswerMatrix Matrix, int DroppedDuplicates);

/// <summary>A numeric truth file read against a matrix's tasks.</summary>
/// <param name="Values">The true value of every task, NaN where the file has none.</param>
/// <param name="Rows">Rows read.</param>
/// <param name="UnknownTasks">Rows naming tasks without answers (not used).</param>
public sealed record NumericTruthRead(ImmutableArray<double> Values, int Rows, int UnknownTasks)
{
    /// <summary>Tasks with a true value.</summary>
    public int KnownCount { get { int n = 0; foreach (var v in Values) if (!double.IsNaN(v)) n++; return n; } }
}

/// <summary>
/// Reads numeric answers (<c>task,worker,label</c> with the label a number in the invariant culture: <c>12</c>,
/// <c>-3.5</c>, <c>1e3</c>) and numeric truth (<c>task,truth</c>), with the same CSV reader, column options, encoding
/// and duplicate policies as the categorical files. A label that is not a finite number is an error naming its line.
/// </summary>
public static class NumericAnswerFiles
{
    /// <summary>Reads an answers file (the options' class settings do not apply and must be unset).</summary>
    /// <exception cref="TallyDataException">Missing or empty file or column, an empty field, a label that is not a
    /// finite number, or a duplicate under <see cref="DuplicatePolicy.Error"/>.</exception>
    public static NumericAnswerBuild ReadAnswers(string path, AnswerFileOptions? options = null)
    {
        options ??= new AnswerFileOptions();
        using var csv = CsvRecordReader.Open(path, options.Delimiter, options.Encoding);
        int tc = csv.Column(options.TaskColumn), wc = csv.Column(options.WorkerColumn), lc = csv.Column(options.LabelColumn);
        var tasks = new VocabularyBuilder();
        var workers = new VocabularyBuilder();
        var task = new List<int>(); var worker = new List<int>(); var value = new List<double>(); var line = new List<long>();
        while (csv.ReadChecked())
        {
            var t = csv.Field(tc); var w = csv.Field(wc); var l = csv.Field(lc);
            if (t.IsEmpty) throw new TallyDataException(csv.SourceName, csv.LineNumber, $"empty {options.TaskColumn}");
            if (w.IsEmpty) throw new TallyDataException(csv.SourceName, csv.LineNumber, $"empty {options.WorkerColumn}");
            if (l.IsEmpty) throw new TallyDataException(csv.SourceName, csv.LineNumber, $"empty {options.LabelColumn}");
            if (!double.TryParse(l.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
                throw new TallyDataException(csv.SourceName, csv.LineNumber, $"{options.LabelColumn} {Quote.Value(l.ToString())} is not a number (numeric answers are written like 12, -3.5 or 1e3)");
            task.Add(tasks.GetOrAdd(t)); worker.Add(workers.GetOrAdd(w)); value.Add(v); line.Add(csv.LineNumber);
        }
        if (task.Count == 0) throw new TallyDataException(csv.SourceName, 0, "has a header but no answers");

        var taskVocab = tasks.Build().InNaturalOrder(out var taskMap);
        var workerVocab = workers.Build().InNaturalOrder(out var workerMap);
        int n = task.Count;
        var ti = new int[n]; var wi = new int[n];
        for (int i = 0; i < n; i++) { ti[i] = taskMap.Length == 0 ? task[i] : taskMap[task[i]]; wi[i] = workerMap.Length == 0 ? worker[i] : workerMap[worker[i]]; }

        // Duplicates: the answers of one (task, worker) pair in input order.
        var keep = new bool[n];
        int dropped = 0;
        if (options.Duplicates == DuplicatePolicy.KeepAll) Array.Fill(keep, true);
        else
        {
            var seen = new Dictionary<long, int>(n);
            for (int i = 0; i < n; i++)
            {
                long key = (long)ti[i] * workerVocab.Count + wi[i];
                if (!seen.TryGetValue(key, out int first)) { seen[key] = i; keep[i] = true; continue; }
                if (options.Duplicates == DuplicatePolicy.Error)
                    throw new TallyDataException(csv.SourceName, line[i],
                        $"worker {Quote.Value(workerVocab[wi[i]])} answered task {Quote.Value(taskVocab[ti[i]])} twice (first at line {line[first]}; see --duplicates)");
                dropped++;
                if (options.Duplicates == DuplicatePolicy.KeepLast) { keep[first] = false; keep[i] = true; seen[key] = i; }
            }
        }
        int kept = n - dropped;
        var kt = new int[kept]; var kw = new int[kept]; var kv = new double[kept];
        for (int i = 0, j = 0; i < n; i++)
            if (keep[i]) { kt[j] = ti[i]; kw[j] = wi[i]; kv[j] = value[i]; j++; }
        return new NumericAnswerBuild(NumericAnswerMatrix.FromTriples(taskVocab, workerVocab, kt, kw, kv), dropped);
    }

    /// <summary>Reads a truth file (<c>task,truth</c>, the truth a number) against the matrix's tasks.</summary>
    /// <exception cref="TallyDataException">Missing or empty file or column, a truth that is not a finite number, or a
    /// task given two different truths.</exception>
    public static NumericTruthRead ReadTruth(string path, NumericAnswerMatrix matrix, string taskColumn = "task", string truthColumn = "truth",
        FileEncoding encoding = FileEncoding.Utf8)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        using var csv = CsvRecordReader.Open(path, null, encoding);
        int tc = csv.Column(taskColumn), vc = csv.Column(truthColumn);
        var values = new double[matrix.TaskCount];
        Array.Fill(values, double.NaN);
        int rows = 0, unknown = 0;
        while (csv.ReadChecked())
        {
            rows++;
            var t = csv.Field(tc); var f = csv.Field(vc);
            if (t.IsEmpty) throw new TallyDataException(csv.SourceName, csv.LineNumber, $"empty {taskColumn}");
            if (!double.TryParse(f.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
                throw new TallyDataException(csv.SourceName, csv.LineNumber, $"{truthColumn} {Quote.Value(f.ToString())} is not a number");
            if (!matrix.Tasks.TryGetIndex(t, out int i)) { unknown++; continue; }
            if (!double.IsNaN(values[i]) && values[i] != v)
                throw new TallyDataException(csv.SourceName, csv.LineNumber, $"task {Quote.Value(t.ToString())} has two different truths");
            values[i] = v;
        }
        return new NumericTruthRead([.. values], rows, unknown);
    }
}
