using System.Globalization;

namespace Tally.Core;

/// <summary>How to read an answers file.</summary>
/// <param name="TaskColumn">Column holding the task id (Crowd-Kit: <c>task</c>).</param>
/// <param name="WorkerColumn">Column holding the worker id (Crowd-Kit: <c>worker</c>).</param>
/// <param name="LabelColumn">Column holding the answer (Crowd-Kit: <c>label</c>).</param>
/// <param name="Classes">The classes in index order; when given, any other answer is an error. When null,
/// the classes found are numbered as <paramref name="ClassOrder"/> says.</param>
/// <param name="Duplicates">What to do when a worker answered a task twice (default: keep the last answer).</param>
/// <param name="Delimiter">Field delimiter; null = tab for .tsv, else sniffed from the header.</param>
/// <param name="ClassOrder">Order of classes found in the file (without <paramref name="Classes"/>): sorted by default.</param>
/// <param name="Encoding">The file's encoding when it has no byte order mark (default strict UTF-8); also used for the
/// truth and gold files read with the answers.</param>
public sealed record AnswerFileOptions(
    string TaskColumn = "task",
    string WorkerColumn = "worker",
    string LabelColumn = "label",
    IReadOnlyList<string>? Classes = null,
    DuplicatePolicy Duplicates = DuplicatePolicy.KeepLast,
    char? Delimiter = null,
    ClassOrder ClassOrder = ClassOrder.Sorted,
    FileEncoding Encoding = FileEncoding.Utf8);

/// <summary>Reads crowd answers (<c>task,worker,label</c>) and truth (<c>task,truth</c>) files.</summary>
public static class AnswerFiles
{
    /// <summary>Reads an answers file into a matrix, streaming it line by line.</summary>
    /// <exception cref="TallyDataException">The file is missing, empty, lacks a column, has a malformed row,
    /// an empty field, an unknown class (when classes are fixed), or a duplicate under <see cref="DuplicatePolicy.Error"/>.</exception>
    public static LabelMatrixBuild ReadAnswers(string path, AnswerFileOptions? options = null, Action<double>? progress = null) =>
        ReadAnswers(path, options, progress, null, AnswerIngest.DefaultChunkBytes);

    /// <summary>As the public overload, with the parallel reader's threads and least chunk size given (for tests).</summary>
    internal static LabelMatrixBuild ReadAnswers(string path, AnswerFileOptions? options, Action<double>? progress, ComputeOptions? compute, int chunkBytes)
    {
        options ??= new AnswerFileOptions();
        // The parallel reader of UTF-8 files; anything it does not take (other encodings, any error) is read by the
        // streaming reader, which words the errors.
        if (AnswerIngest.TryRead(path, options, progress, compute, chunkBytes) is { } fast) return fast;
        using var csv = CsvRecordReader.Open(path, options.Delimiter, options.Encoding);
        return ReadAnswers(csv, options, progress);
    }

    /// <summary>Reads answers from the bytes of <paramref name="stream"/>; errors name <paramref name="sourceName"/>.</summary>
    /// <exception cref="TallyDataException">As <see cref="ReadAnswers(string, AnswerFileOptions?, Action{double}?)"/>.</exception>
    public static LabelMatrixBuild ReadAnswers(Stream stream, string sourceName, AnswerFileOptions? options = null)
    {
        options ??= new AnswerFileOptions();
        using var csv = CsvRecordReader.Open(stream, sourceName, options.Delimiter, options.Encoding);
        return ReadAnswers(csv, options);
    }

    /// <summary>Reads answers from an open reader.</summary>
    public static LabelMatrixBuild ReadAnswers(CsvRecordReader csv, AnswerFileOptions options, Action<double>? progress = null)
    {
        int tc = csv.Column(options.TaskColumn), wc = csv.Column(options.WorkerColumn), lc = csv.Column(options.LabelColumn);
        if (options.Classes is { Count: > 0 } cls && cls.Distinct(StringComparer.Ordinal).Count() != cls.Count)
            throw new TallyDataException(csv.SourceName, 0, "the class list names a class twice");
        var builder = new LabelMatrixBuilder(options.Classes is { Count: > 0 } ? options.Classes : null, options.ClassOrder);
        while (csv.ReadChecked())
        {
            var task = csv.Field(tc);
            var worker = csv.Field(wc);
            var label = csv.Field(lc);
            if (task.IsEmpty) throw new TallyDataException(csv.SourceName, csv.LineNumber, $"empty {options.TaskColumn}");
            if (worker.IsEmpty) throw new TallyDataException(csv.SourceName, csv.LineNumber, $"empty {options.WorkerColumn}");
            if (label.IsEmpty) throw new TallyDataException(csv.SourceName, csv.LineNumber, $"empty {options.LabelColumn}");
            if (!builder.TryAdd(task, worker, label, csv.LineNumber))
                throw new TallyDataException(csv.SourceName, csv.LineNumber,
                    $"class {Quote.Value(label)} is not one of the given classes ({Quote.Bare(string.Join(", ", options.Classes!))})");
            if (progress is not null && (builder.Count & 0xFFFFF) == 0) progress(csv.Progress);
        }
        if (builder.Count == 0)
            throw new TallyDataException(csv.SourceName, 0, "has a header but no answers");
        try
        {
            return builder.Build(options.Duplicates);
        }
        catch (DuplicateAnswerException e)
        {
            throw new TallyDataException(csv.SourceName, e.SecondLine,
                e.Message + (e.FirstLine > 0 ? $" (first at line {e.FirstLine}; see --duplicates)" : ""));
        }
    }

    /// <summary>Reads a truth (or gold) file <c>task,truth</c> against the matrix's tasks and classes.</summary>
    /// <returns>The labels and how many rows named tasks that have no answers (they are not used; callers should report them).</returns>
    /// <exception cref="TallyDataException">Missing/empty file or column, malformed row, a class the matrix does not know,
    /// or a task given two different truths.</exception>
    public static TruthRead ReadTruth(string path, LabelMatrix matrix, string taskColumn = "task", string truthColumn = "truth",
        FileEncoding encoding = FileEncoding.Utf8)
    {
        using var csv = CsvRecordReader.Open(path, encoding: encoding);
        int tc = csv.Column(taskColumn);
        int yc = TruthColumn(csv, truthColumn);
        var labels = new int[matrix.TaskCount];
        Array.Fill(labels, -1);
        int rows = 0, unknownTasks = 0;
        while (csv.ReadChecked())
        {
            rows++;
            var task = csv.Field(tc);
            var truth = csv.Field(yc);
            if (truth.IsEmpty) throw new TallyDataException(csv.SourceName, csv.LineNumber, "empty truth");
            if (!matrix.Classes.TryGetIndex(truth, out int c))
                throw new TallyDataException(csv.SourceName, csv.LineNumber,
                    $"truth {Quote.Value(truth)} is not a class of the answers ({Quote.Bare(string.Join(", ", matrix.Classes.Names))}); declare all classes with --classes");
            if (!matrix.Tasks.TryGetIndex(task, out int t)) { unknownTasks++; continue; }
            if (labels[t] >= 0 && labels[t] != c)
                throw new TallyDataException(csv.SourceName, csv.LineNumber, $"task {Quote.Value(task)} is given two different truths");
            labels[t] = c;
        }
        if (rows == 0) throw new TallyDataException(csv.SourceName, 0, "has a header but no rows");
        return new TruthRead(new GoldLabels(labels, matrix.ClassCount), rows, unknownTasks);
    }

    /// <summary>
    /// Reads a truth file (<c>task,truth</c>; also <c>label</c>, <c>gold</c>, <c>true_label</c>) for exactly the tasks
    /// <paramref name="tasks"/> (e.g. held-out test tasks that have no answers): the class index of each, −1 where the
    /// file has none.
    /// </summary>
    /// <param name="path">Truth file.</param>
    /// <param name="tasks">The tasks, in the order of the result.</param>
    /// <param name="classes">Class names in index order.</param>
    /// <param name="requireAll">When true, a task without a truth row is an error.</param>
    /// <param name="encoding">The file's encoding when it has no byte order mark.</param>
    /// <exception cref="TallyDataException">Missing/empty file or column, an empty field, a task not in
    /// <paramref name="tasks"/>, a class not in <paramref name="classes"/>, a task given twice, or (with
    /// <paramref name="requireAll"/>) tasks without truth — each with the file and line.</exception>
    public static int[] ReadTruth(string path, IReadOnlyList<string> tasks, IReadOnlyList<string> classes, bool requireAll = false,
        FileEncoding encoding = FileEncoding.Utf8)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        ArgumentNullException.ThrowIfNull(classes);
        var taskIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < tasks.Count; i++) taskIndex[tasks[i]] = i;
        var classIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int c = 0; c < classes.Count; c++) classIndex[classes[c]] = c;
        var labels = new int[tasks.Count];
        Array.Fill(labels, -1);
        using var csv = CsvRecordReader.Open(path, encoding: encoding);
        int tc = csv.Column("task"), yc = TruthColumn(csv, "truth");
        int rows = 0;
        while (csv.ReadChecked())
        {
            rows++;
            string task = csv.Field(tc).ToString(), truth = csv.Field(yc).ToString();
            if (truth.Length == 0) throw new TallyDataException(csv.SourceName, csv.LineNumber, "empty truth");
            if (!taskIndex.TryGetValue(task, out int i))
                throw new TallyDataException(csv.SourceName, csv.LineNumber, $"task {Quote.Value(task)} is not one of the {tasks.Count} tasks it should label");
            if (!classIndex.TryGetValue(truth, out int c))
                throw new TallyDataException(csv.SourceName, csv.LineNumber, $"truth {Quote.Value(truth)} is not a class ({Quote.Bare(string.Join(", ", classes))})");
            if (labels[i] >= 0) throw new TallyDataException(csv.SourceName, csv.LineNumber, $"task {Quote.Value(task)} is given twice");
            labels[i] = c;
        }
        if (rows == 0) throw new TallyDataException(csv.SourceName, 0, "has a header but no rows");
        if (requireAll)
        {
            int missing = 0;
            var first = new List<string>();
            for (int i = 0; i < labels.Length; i++)
                if (labels[i] < 0 && ++missing <= 5) first.Add(tasks[i]);
            if (missing > 0) throw new TallyDataException(csv.SourceName, 0, $"no truth for {missing} tasks (first: {Quote.Bare(string.Join(", ", first))})");
        }
        return labels;
    }

    private static int TruthColumn(CsvRecordReader csv, string preferred)
    {
        // Accept the common alternatives of Crowd-Kit and the truth-inference benchmark files.
        foreach (var name in new[] { preferred, "truth", "label", "gold", "true_label" })
        {
            for (int i = 0; i < csv.Header.Count; i++)
                if (string.Equals(csv.Header[i], name, StringComparison.OrdinalIgnoreCase)) return i;
        }
        return csv.Column(preferred);
    }

    /// <summary>Writes answers as <c>task,worker,label</c> (by task, in answer-id order), atomically.</summary>
    public static void WriteAnswers(LabelMatrix answers, string path) => AtomicFile.WriteText(path, w =>
    {
        w.WriteLine("task,worker,label");
        var workers = answers.TaskWorkers;
        var labels = answers.TaskLabels;
        for (int t = 0; t < answers.TaskCount; t++)
        {
            string task = CsvText.Escape(answers.Tasks[t]);
            for (int i = answers.TaskOffsets[t]; i < answers.TaskOffsets[t + 1]; i++)
                w.WriteLine($"{task},{CsvText.Escape(answers.Workers[workers[i]])},{CsvText.Escape(answers.Classes[labels[i]])}");
        }
    });

    /// <summary>Writes known labels as <c>task,truth</c>, atomically.</summary>
    public static void WriteTruth(LabelMatrix answers, GoldLabels truth, string path) => AtomicFile.WriteText(path, w =>
    {
        w.WriteLine("task,truth");
        for (int t = 0; t < answers.TaskCount; t++)
            if (truth[t] >= 0) w.WriteLine($"{CsvText.Escape(answers.Tasks[t])},{CsvText.Escape(answers.Classes[truth[t]])}");
    });

    /// <summary>Parses a comma-separated class list as given on a command line.</summary>
    public static IReadOnlyList<string>? ParseClassList(string? list) =>
        string.IsNullOrWhiteSpace(list) ? null : list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

    internal static string Format(double x) => NumberFormat.Finite(x);
}

/// <summary>Truth labels read from a file.</summary>
/// <param name="Labels">Class per task of the matrix, -1 where the file gives none.</param>
/// <param name="Rows">Data rows in the file.</param>
/// <param name="UnknownTasks">Rows whose task has no answers (not used).</param>
public sealed record TruthRead(GoldLabels Labels, int Rows, int UnknownTasks);
