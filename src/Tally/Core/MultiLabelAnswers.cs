namespace Tally.Core;

/// <summary>
/// Answers that are sets of labels (<c>task,worker,label</c> with <c>|</c>-separated labels, e.g. <c>cat|dog</c>; an
/// empty field is the empty set). Held as a <see cref="LabelMatrix"/> whose classes are the distinct sets (each written
/// canonically: labels sorted, no repeats), so tasks, workers, duplicates and row order are handled exactly as for
/// single labels; <see cref="Binary"/> gives, for one label, the yes/no matrix "is it in the answer's set".
/// </summary>
public sealed class MultiLabelAnswers
{
    /// <summary>The separator between labels in one answer.</summary>
    public const char Separator = '|';

    private readonly bool[][] _contains; // [set class][label]

    private MultiLabelAnswers(LabelMatrix sets, Vocabulary labels, bool[][] contains, int dropped)
    {
        Sets = sets; Labels = labels; _contains = contains; DroppedDuplicates = dropped;
    }

    /// <summary>The answers with each distinct set as one class.</summary>
    public LabelMatrix Sets { get; }
    /// <summary>Every label named in any answer (or the given list), in natural order.</summary>
    public Vocabulary Labels { get; }
    /// <summary>Answers dropped under the duplicate policy.</summary>
    public int DroppedDuplicates { get; }
    /// <summary>The classes of every <see cref="Binary"/> matrix: "0" (not in the set) and "1" (in the set).</summary>
    public static IReadOnlyList<string> BinaryClasses { get; } = ["0", "1"];

    /// <summary>Whether the answer set with class index <paramref name="set"/> contains label <paramref name="label"/>.</summary>
    public bool Contains(int set, int label) => _contains[set][label];

    /// <summary>For label <paramref name="label"/>: the same tasks and workers, each answer "1" if its set holds the label, else "0".</summary>
    public LabelMatrix Binary(int label)
    {
        var b = new LabelMatrixBuilder(Sets.Tasks, Sets.Workers, new Vocabulary(BinaryClasses));
        var workers = Sets.TaskWorkers; var labels = Sets.TaskLabels;
        for (int t = 0; t < Sets.TaskCount; t++)
            for (int i = Sets.TaskOffsets[t]; i < Sets.TaskOffsets[t + 1]; i++)
                b.Add(t, workers[i], _contains[labels[i]][label] ? 1 : 0);
        return b.Build(DuplicatePolicy.KeepAll).Matrix;
    }

    /// <summary>
    /// Reads a multi-label answers file. <see cref="AnswerFileOptions.Classes"/>, when given, lists the allowed labels
    /// (any other is an error); class order options do not apply (labels are in natural order).
    /// </summary>
    /// <exception cref="TallyDataException">A missing file or column, an empty task or worker, an empty label between
    /// separators (<c>a||b</c>), an unknown label when they are fixed, or a duplicate under <see cref="DuplicatePolicy.Error"/>.</exception>
    public static MultiLabelAnswers Read(string path, AnswerFileOptions? options = null)
    {
        options ??= new AnswerFileOptions();
        using var csv = CsvRecordReader.Open(path, options.Delimiter, options.Encoding);
        return Read(csv, options);
    }

    /// <summary>Reads multi-label answers from the bytes of <paramref name="stream"/> (e.g. an upload); errors name <paramref name="sourceName"/>.</summary>
    /// <exception cref="TallyDataException">As <see cref="Read(string, AnswerFileOptions?)"/>.</exception>
    public static MultiLabelAnswers Read(Stream stream, string sourceName, AnswerFileOptions? options = null)
    {
        options ??= new AnswerFileOptions();
        using var csv = CsvRecordReader.Open(stream, sourceName, options.Delimiter, options.Encoding);
        return Read(csv, options);
    }

    private static MultiLabelAnswers Read(CsvRecordReader csv, AnswerFileOptions options)
    {
        int tc = csv.Column(options.TaskColumn), wc = csv.Column(options.WorkerColumn), lc = csv.Column(options.LabelColumn);
        HashSet<string>? allowed = options.Classes is { Count: > 0 } cls ? new HashSet<string>(cls, StringComparer.Ordinal) : null;
        var builder = new LabelMatrixBuilder();
        var labels = new HashSet<string>(StringComparer.Ordinal);
        var parts = new List<string>();
        while (csv.ReadChecked())
        {
            var task = csv.Field(tc); var worker = csv.Field(wc); var field = csv.Field(lc);
            if (task.IsEmpty) throw new TallyDataException(csv.SourceName, csv.LineNumber, $"empty {options.TaskColumn}");
            if (worker.IsEmpty) throw new TallyDataException(csv.SourceName, csv.LineNumber, $"empty {options.WorkerColumn}");
            parts.Clear();
            if (!field.IsEmpty)
                foreach (var p in field.ToString().Split(Separator))
                {
                    if (p.Length == 0)
                        throw new TallyDataException(csv.SourceName, csv.LineNumber, $"{options.LabelColumn} {Quote.Value(field)} has an empty label between '{Separator}' separators");
                    if (allowed is not null && !allowed.Contains(p))
                        throw new TallyDataException(csv.SourceName, csv.LineNumber,
                            $"label {Quote.Value(p)} is not one of the given labels ({Quote.Bare(string.Join(", ", options.Classes!))})");
                    if (!parts.Contains(p)) parts.Add(p);
                }
            parts.Sort(StringComparer.Ordinal);
            foreach (var p in parts) labels.Add(p);
            builder.TryAdd(task, worker, string.Join(Separator, parts), csv.LineNumber);
        }
        if (builder.Count == 0) throw new TallyDataException(csv.SourceName, 0, "has a header but no answers");
        LabelMatrixBuild build;
        try
        {
            build = builder.Build(options.Duplicates);
        }
        catch (DuplicateAnswerException e)
        {
            throw new TallyDataException(csv.SourceName, e.SecondLine, e.Message + (e.FirstLine > 0 ? $" (first at line {e.FirstLine}; see --duplicates)" : ""));
        }
        if (allowed is not null) foreach (var c in options.Classes!) labels.Add(c);
        if (labels.Count == 0) throw new TallyDataException(csv.SourceName, 0, "no answer names a label (every set is empty)");
        var vocabulary = new Vocabulary(labels).InNaturalOrder(out _);
        var sets = build.Matrix;
        var contains = new bool[sets.ClassCount][];
        for (int s = 0; s < sets.ClassCount; s++)
        {
            contains[s] = new bool[vocabulary.Count];
            if (sets.Classes[s].Length == 0) continue;
            foreach (var p in sets.Classes[s].Split(Separator)) contains[s][vocabulary.IndexOf(p)] = true;
        }
        return new MultiLabelAnswers(sets, vocabulary, contains, build.DroppedDuplicates);
    }
}
