using System.Globalization;
using System.Text;

namespace Tally.Core;

/// <summary>How to read a CSV features file.</summary>
/// <param name="TaskColumn">Column holding the task id; every other column is a feature (default <c>task</c>).</param>
/// <param name="Delimiter">Field delimiter; null = tab for .tsv/.tab files, else sniffed from the header (comma or tab).</param>
/// <param name="Encoding">The file's encoding when it has no byte order mark (default strict UTF-8).</param>
public sealed record FeatureCsvOptions(string TaskColumn = "task", char? Delimiter = null, FileEncoding Encoding = FileEncoding.Utf8);

/// <summary>What the first token of a sparse features line is.</summary>
public enum SparseLeadingToken
{
    /// <summary>LDA-C: the number of <c>idx:value</c> pairs that follow; checked against the line.</summary>
    Count,
    /// <summary>SVMlight: the row's target value; read and ignored (features only).</summary>
    Label,
    /// <summary>No leading token: the line is only <c>idx:value</c> pairs.</summary>
    None,
}

/// <summary>How to read a sparse (LDA-C / SVMlight-like) features file.</summary>
/// <param name="Leading">What the first token of each line is (default LDA-C's pair count).</param>
/// <param name="OneBased">True when indexes start at 1 (SVMlight); false when they start at 0 (LDA-C, the default).
/// Column j of the table is index j (0-based) or j + 1 (1-based).</param>
/// <param name="Dimension">Number of columns D; null = largest index seen + 1. When given, a larger index is an error.</param>
/// <param name="IdsPath">A text file with one task id per line, for the rows in order; null = rows are named by their
/// 0-based row number (<c>"0"</c>, <c>"1"</c>, …, the same names as <see cref="Vocabulary.Numbered"/>).</param>
/// <param name="Encoding">The encoding of the features and ids files when they have no byte order mark (default strict UTF-8).</param>
public sealed record SparseFeatureOptions(
    SparseLeadingToken Leading = SparseLeadingToken.Count,
    bool OneBased = false,
    int? Dimension = null,
    string? IdsPath = null,
    FileEncoding Encoding = FileEncoding.Utf8);

/// <summary>The layout of a features file.</summary>
public enum FeatureFileFormat
{
    /// <summary>By extension: <c>.ldac</c>/<c>.lda</c> → LDA-C, <c>.svm</c>/<c>.svmlight</c>/<c>.libsvm</c> → SVMlight, anything else CSV.</summary>
    Auto,
    /// <summary>CSV with a header: <c>task,f0,f1,…</c>.</summary>
    Csv,
    /// <summary>LDA-C: <c>N idx:value …</c> per line, 0-based indexes.</summary>
    Ldac,
    /// <summary>SVMlight: <c>label idx:value …</c> per line, 1-based indexes (the label is ignored).</summary>
    SvmLight,
}

/// <summary>
/// Reads and writes task features: a CSV table <c>task,f0,f1,…</c> (any column names after the task column; comma
/// or tab delimited) and sparse one-row-per-line files in the LDA-C (<c>N idx:value …</c>, Blei et al.) or SVMlight
/// (<c>label idx:value …</c>) layout. Every problem is reported as a <see cref="TallyDataException"/> naming the file,
/// line and what was wrong; no row is ever skipped silently.
/// </summary>
public static class FeatureFiles
{
    /// <summary>
    /// The most values (rows × columns) a sparse file may expand to: 2^26, i.e. 512 MiB of doubles. The learners work on
    /// dense rows, so a file whose largest index implies more is refused at that index's line instead of allocating
    /// gigabytes. Beyond <see cref="FreeDenseValues"/>, a table may also hold at most
    /// <see cref="MaxValuesPerEntry"/> values per entry in the file: one mistyped index (<c>19999999:0.5</c> for
    /// <c>19:0.5</c>) must not turn a small file into hundreds of megabytes of zeros.
    /// </summary>
    public const long MaxDenseValues = 1L << 26;

    /// <summary>Values any sparse file may expand to, however few its entries (2^24).</summary>
    public const long FreeDenseValues = 1L << 24;

    /// <summary>Values per entry a sparse file may expand to beyond <see cref="FreeDenseValues"/>.</summary>
    public const long MaxValuesPerEntry = 1024;

    /// <summary>The layout <see cref="FeatureFileFormat.Auto"/> picks for <paramref name="path"/> (by extension); other formats are returned as they are.</summary>
    public static FeatureFileFormat Resolve(FeatureFileFormat format, string path)
    {
        if (format != FeatureFileFormat.Auto) return format;
        return Path.GetExtension(path).ToLowerInvariant() switch
        {
            ".ldac" or ".lda" => FeatureFileFormat.Ldac,
            ".svm" or ".svmlight" or ".libsvm" => FeatureFileFormat.SvmLight,
            _ => FeatureFileFormat.Csv,
        };
    }

    /// <summary>
    /// Reads a features file in <paramref name="format"/>. Sparse files name their rows by <paramref name="idsPath"/>
    /// (one task id per line; null = "0", "1", …) and take their width from <paramref name="dimension"/> when given
    /// (e.g. the training file's, for test features); text is decoded as <paramref name="encoding"/> unless the file
    /// has a byte order mark.
    /// </summary>
    /// <exception cref="TallyUserException">A task ids file given for a CSV (which names its tasks), or any problem
    /// of <see cref="ReadCsv(string, FeatureCsvOptions?)"/> / <see cref="ReadSparse(string, SparseFeatureOptions?)"/>.</exception>
    public static FeatureTable Read(string path, FeatureFileFormat format = FeatureFileFormat.Auto, string? idsPath = null, int? dimension = null,
        FileEncoding encoding = FileEncoding.Utf8)
    {
        ArgumentNullException.ThrowIfNull(path);
        var f = Resolve(format, path);
        if (!Enum.IsDefined(f)) throw new ArgumentOutOfRangeException(nameof(format));
        if (f == FeatureFileFormat.Csv)
        {
            if (idsPath is not null) throw new TallyUserException($"{path}: a task ids file applies to sparse features only (a CSV names its tasks)");
            return ReadCsv(path, new FeatureCsvOptions(Encoding: encoding));
        }
        return ReadSparse(path, new SparseFeatureOptions(
            f == FeatureFileFormat.Ldac ? SparseLeadingToken.Count : SparseLeadingToken.Label,
            OneBased: f == FeatureFileFormat.SvmLight, Dimension: dimension, IdsPath: idsPath, Encoding: encoding));
    }

    /// <summary>Reads a CSV features file with a header.</summary>
    /// <exception cref="TallyDataException">Missing or empty file, no task column, no feature column, a repeated column
    /// name, a row with another field count than the header, an empty task id, an empty or non-numeric or non-finite
    /// value, a task with two rows, or a header with no rows.</exception>
    public static FeatureTable ReadCsv(string path, FeatureCsvOptions? options = null)
    {
        options ??= new FeatureCsvOptions();
        using var csv = CsvRecordReader.Open(path, options.Delimiter, options.Encoding);
        return ReadCsv(csv, options);
    }

    /// <summary>Reads a CSV features table from the bytes of <paramref name="stream"/>; errors name <paramref name="sourceName"/>.</summary>
    /// <exception cref="TallyDataException">As <see cref="ReadCsv(string, FeatureCsvOptions?)"/>.</exception>
    public static FeatureTable ReadCsv(Stream stream, string sourceName, FeatureCsvOptions? options = null)
    {
        options ??= new FeatureCsvOptions();
        using var csv = CsvRecordReader.Open(stream, sourceName, options.Delimiter, options.Encoding);
        return ReadCsv(csv, options);
    }

    /// <summary>Reads CSV features from an open reader (errors name <see cref="CsvRecordReader.SourceName"/>).</summary>
    public static FeatureTable ReadCsv(CsvRecordReader csv, FeatureCsvOptions options)
    {
        int tc = csv.Column(options.TaskColumn);
        var header = csv.Header;
        var featureColumns = Enumerable.Range(0, header.Count).Where(i => i != tc).ToArray();
        if (featureColumns.Length == 0)
            throw new TallyDataException(csv.SourceName, csv.HeaderLine, $"no feature columns besides {Quote.Value(header[tc])}");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in header)
            if (!seen.Add(name)) throw new TallyDataException(csv.SourceName, csv.HeaderLine, $"column {Quote.Value(name)} appears twice in the header");

        var names = featureColumns.Select(i => header[i]).ToArray();
        var tasks = new List<string>();
        var rows = new List<double[]>();
        var lineOf = new Dictionary<string, long>(StringComparer.Ordinal);
        while (csv.ReadChecked())
        {
            var task = csv.Field(tc).Trim();
            if (task.IsEmpty) throw new TallyDataException(csv.SourceName, csv.LineNumber, $"empty {Quote.Bare(header[tc])}");
            string id = task.ToString();
            if (!lineOf.TryAdd(id, csv.LineNumber))
                throw new TallyDataException(csv.SourceName, csv.LineNumber, $"task {Quote.Value(id)} already has a row (line {lineOf[id]})");
            var row = new double[featureColumns.Length];
            for (int j = 0; j < row.Length; j++)
            {
                var field = csv.Field(featureColumns[j]);
                if (field.Trim().IsEmpty)
                    throw new TallyDataException(csv.SourceName, csv.LineNumber, $"empty value in column {Quote.Value(names[j])}");
                if (!double.TryParse(field, NumberStyles.Float, CultureInfo.InvariantCulture, out double v))
                    throw new TallyDataException(csv.SourceName, csv.LineNumber, $"column {Quote.Value(names[j])}: {Quote.Value(field)} is not a number");
                if (!double.IsFinite(v))
                    throw new TallyDataException(csv.SourceName, csv.LineNumber, $"column {Quote.Value(names[j])}: {Quote.Value(field)} is not a finite number");
                row[j] = v;
            }
            tasks.Add(id);
            rows.Add(row);
        }
        if (rows.Count == 0) throw new TallyDataException(csv.SourceName, 0, "has a header but no rows");
        return FeatureTable.Trusted(tasks.ToArray(), rows.ToArray(), names, csv.SourceName);
    }

    /// <summary>Reads a sparse features file: one row per line, <c>LEAD idx:value idx:value …</c>.</summary>
    /// <remarks>
    /// Whitespace (spaces or tabs) separates tokens; text from <c>#</c> to the end of a line is a comment (SVMlight), and
    /// a line holding only a comment is not a row. A row with no pairs is written <c>0</c> in LDA-C: a blank line
    /// between rows is an error (it would shift every later task id), blank lines at the end are ignored. Indexes on a
    /// line need not be sorted but may not repeat; absent indexes are 0.
    /// </remarks>
    /// <exception cref="TallyDataException">Missing or empty file, a malformed token, a negative, repeated or too large
    /// index, a non-finite value, an LDA-C count that does not match the pairs, a blank line between rows, or an ids
    /// file with another number of ids than rows or a repeated id.</exception>
    public static FeatureTable ReadSparse(string path, SparseFeatureOptions? options = null)
    {
        options ??= new SparseFeatureOptions();
        if (options.Dimension is int given) Check.AtLeast(given, 1, nameof(options.Dimension));
        using var reader = TextFiles.Open(path, options.Encoding);
        return ReadSparse(reader, path, options);
    }

    /// <summary>Reads a sparse features file from the bytes of <paramref name="stream"/>; errors name <paramref name="sourceName"/>.</summary>
    /// <exception cref="TallyDataException">As <see cref="ReadSparse(string, SparseFeatureOptions?)"/>.</exception>
    public static FeatureTable ReadSparse(Stream stream, string sourceName, SparseFeatureOptions? options = null)
    {
        options ??= new SparseFeatureOptions();
        if (options.Dimension is int given) Check.AtLeast(given, 1, nameof(options.Dimension));
        using var reader = new DecodingReader(stream, sourceName, options.Encoding);
        return ReadSparse(reader, sourceName, options);
    }

    private static FeatureTable ReadSparse(TextReader reader, string path, SparseFeatureOptions options)
    {
        int lowest = options.OneBased ? 1 : 0;
        var rows = new List<(int[] Index, double[] Value)>();
        long blankLine = 0, lineNo = 0, maxIndexLine = 0, entries = 0;
        int maxIndex = -1;
        var idx = new List<int>();
        var val = new List<double>();
        var used = new HashSet<int>();
        {
            for (string? line; (line = reader.ReadLine()) is not null;)
            {
                lineNo++;
                int hash = line.IndexOf('#');
                var content = (hash >= 0 ? line.AsSpan(0, hash) : line.AsSpan()).Trim();
                if (content.IsEmpty)
                {
                    if (hash < 0 && blankLine == 0) blankLine = lineNo;
                    continue;
                }
                if (blankLine != 0)
                    throw new TallyDataException(path, blankLine,
                        "blank line between rows (every line is one row; write an LDA-C row with no entries as '0')");
                idx.Clear(); val.Clear(); used.Clear();
                bool first = true;
                long declared = -1;
                foreach (var range in content.SplitAny(' ', '\t'))
                {
                    var token = content[range];
                    if (token.IsEmpty) continue;
                    if (first && options.Leading != SparseLeadingToken.None)
                    {
                        first = false;
                        if (options.Leading == SparseLeadingToken.Count)
                        {
                            if (!long.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out declared))
                                throw new TallyDataException(path, lineNo, $"{Quote.Value(token)} is not a count of pairs (LDA-C lines start with one)");
                        }
                        else if (!double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
                            throw new TallyDataException(path, lineNo, $"{Quote.Value(token)} is not a label (SVMlight lines start with one)");
                        continue;
                    }
                    first = false;
                    int colon = token.IndexOf(':');
                    if (colon <= 0 || colon == token.Length - 1)
                        throw new TallyDataException(path, lineNo, $"{Quote.Value(token)} is not idx:value");
                    var it = token[..colon];
                    var vt = token[(colon + 1)..];
                    if (!int.TryParse(it, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int raw))
                        throw new TallyDataException(path, lineNo, $"{Quote.Value(it)} is not an integer index");
                    if (raw < lowest)
                        throw new TallyDataException(path, lineNo, $"index {raw} is below {lowest} (indexes are {(options.OneBased ? "1" : "0")}-based)");
                    int col = raw - lowest;
                    if (options.Dimension is int dim && col >= dim)
                        throw new TallyDataException(path, lineNo, $"index {raw} is beyond the given dimension {dim}");
                    if (!used.Add(col)) throw new TallyDataException(path, lineNo, $"index {raw} appears twice");
                    if (!double.TryParse(vt, NumberStyles.Float, CultureInfo.InvariantCulture, out double v))
                        throw new TallyDataException(path, lineNo, $"{Quote.Value(vt)} (index {raw}) is not a number");
                    if (!double.IsFinite(v))
                        throw new TallyDataException(path, lineNo, $"{Quote.Value(vt)} (index {raw}) is not a finite number");
                    idx.Add(col);
                    val.Add(v);
                    entries++;
                    if (col > maxIndex) { maxIndex = col; maxIndexLine = lineNo; }
                }
                if (options.Leading == SparseLeadingToken.Count && declared != idx.Count)
                    throw new TallyDataException(path, lineNo, $"the line declares {declared} pairs but has {idx.Count}");
                rows.Add((idx.ToArray(), val.ToArray()));
            }
        }
        if (rows.Count == 0) throw new TallyDataException(path, 0, "has no rows");
        long width = options.Dimension ?? maxIndex + 1L;
        if (width < 1) throw new TallyDataException(path, 0, "has no entries, so the dimension is unknown (give it)");
        long cells = width * rows.Count, allowed = Math.Min(MaxDenseValues, Math.Max(FreeDenseValues, MaxValuesPerEntry * entries));
        if (cells > allowed)
            throw new TallyDataException(path, options.Dimension is null ? maxIndexLine : 0,
                $"{rows.Count:N0} rows × {width:N0} columns{(options.Dimension is null ? $" (index {maxIndex + lowest} here)" : "")} = {cells:N0} values for {entries:N0} entries "
                + $"is more than a dense features table may hold ({allowed:N0}: {MaxValuesPerEntry:N0} per entry, at least {FreeDenseValues:N0}, at most {MaxDenseValues:N0}); is the index mistyped?");
        int d = (int)width;

        string[] tasks = options.IdsPath is null
            ? Enumerable.Range(0, rows.Count).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray()
            : ReadIds(options.IdsPath, rows.Count, path, options.Encoding);
        var dense = new double[rows.Count][];
        for (int r = 0; r < rows.Count; r++)
        {
            var row = dense[r] = new double[d];
            var (ix, vx) = rows[r];
            for (int i = 0; i < ix.Length; i++) row[ix[i]] = vx[i];
        }
        return FeatureTable.Trusted(tasks, dense, FeatureTable.DefaultColumns(d), path);
    }

    /// <summary>Task ids, one per line (surrounding white space trimmed), exactly <paramref name="rows"/> of them.</summary>
    private static string[] ReadIds(string path, int rows, string featuresPath, FileEncoding encoding)
    {
        var ids = new List<string>();
        var lineOf = new Dictionary<string, long>(StringComparer.Ordinal);
        long lineNo = 0, blankLine = 0;
        using var reader = TextFiles.Open(path, encoding);
        for (string? line; (line = reader.ReadLine()) is not null;)
        {
            lineNo++;
            var id = line.Trim();
            if (id.Length == 0) { if (blankLine == 0) blankLine = lineNo; continue; }
            if (blankLine != 0) throw new TallyDataException(path, blankLine, "blank line between ids (one task id per line)");
            if (!lineOf.TryAdd(id, lineNo))
                throw new TallyDataException(path, lineNo, $"task {Quote.Value(id)} is listed twice (first at line {lineOf[id]})");
            ids.Add(id);
        }
        if (ids.Count != rows)
            throw new TallyDataException(path, 0, $"has {ids.Count} task ids but {featuresPath} has {rows} rows");
        return ids.ToArray();
    }

    /// <summary>Writes the table as CSV <c>task,COLUMNS…</c> (values in shortest round-trip form), atomically.</summary>
    /// <param name="table">The table.</param>
    /// <param name="path">The file to write.</param>
    /// <param name="taskColumn">Name of the first column (default <c>task</c>).</param>
    public static void WriteCsv(FeatureTable table, string path, string taskColumn = "task")
    {
        ArgumentNullException.ThrowIfNull(table);
        AtomicFile.WriteText(path, w =>
        {
            w.Write(CsvText.Escape(taskColumn));
            foreach (var c in table.Columns) { w.Write(','); w.Write(CsvText.Escape(c)); }
            w.WriteLine();
            var tasks = table.Tasks;
            for (int i = 0; i < table.Count; i++)
            {
                w.Write(CsvText.Escape(tasks[i]));
                foreach (double v in table.Row(i)) { w.Write(','); w.Write(NumberFormat.Finite(v)); }
                w.WriteLine();
            }
        });
    }
}
