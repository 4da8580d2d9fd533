namespace Tally.Core;

/// <summary>
/// A crowd's pairwise comparisons: each says which of two items a worker judged better. Immutable; items and workers
/// are numbered in <see cref="Vocabulary.NaturalOrder"/> and the comparisons sorted by (left, right, worker, outcome),
/// so the same comparisons in any row order give the same object and every sum over it is taken in the same order.
/// </summary>
public sealed class PairwiseComparisons
{
    private readonly int[] _left, _right, _workers;
    private readonly bool[] _leftWon;

    private PairwiseComparisons(Vocabulary items, Vocabulary workers, int[] left, int[] right, int[] w, bool[] leftWon)
    {
        Items = items; Workers = workers; _left = left; _right = right; _workers = w; _leftWon = leftWon;
    }

    /// <summary>Item identifiers ↔ item indexes.</summary>
    public Vocabulary Items { get; }
    /// <summary>Worker identifiers ↔ worker indexes.</summary>
    public Vocabulary Workers { get; }
    /// <summary>Number of items.</summary>
    public int ItemCount => Items.Count;
    /// <summary>Number of workers.</summary>
    public int WorkerCount => Workers.Count;
    /// <summary>Number of comparisons.</summary>
    public int Count => _left.Length;
    /// <summary>The item shown on the left in each comparison.</summary>
    public ReadOnlySpan<int> Left => _left;
    /// <summary>The item shown on the right in each comparison.</summary>
    public ReadOnlySpan<int> Right => _right;
    /// <summary>The worker of each comparison.</summary>
    public ReadOnlySpan<int> ComparisonWorkers => _workers;
    /// <summary>Whether the left item won each comparison (else the right one did).</summary>
    public ReadOnlySpan<bool> LeftWon => _leftWon;

    /// <summary>The winner of comparison <paramref name="c"/>.</summary>
    public int Winner(int c) => _leftWon[c] ? _left[c] : _right[c];
    /// <summary>The loser of comparison <paramref name="c"/>.</summary>
    public int Loser(int c) => _leftWon[c] ? _right[c] : _left[c];

    /// <summary>
    /// Builds the comparisons from (worker, left, right, left won) tuples given by name; identifiers are renumbered in
    /// natural order and the comparisons sorted, so the result does not depend on the order of the tuples.
    /// </summary>
    /// <exception cref="ArgumentException">A comparison of an item with itself.</exception>
    public static PairwiseComparisons Create(IReadOnlyList<(string Worker, string Left, string Right, bool LeftWon)> comparisons)
    {
        ArgumentNullException.ThrowIfNull(comparisons);
        var items = new VocabularyBuilder();
        var workers = new VocabularyBuilder();
        int n = comparisons.Count;
        var l = new int[n]; var r = new int[n]; var w = new int[n]; var won = new bool[n];
        for (int i = 0; i < n; i++)
        {
            var (wk, a, b, lw) = comparisons[i];
            if (a == b) throw new ArgumentException($"Comparison {i} compares item '{a}' with itself.", nameof(comparisons));
            w[i] = workers.GetOrAdd(wk); l[i] = items.GetOrAdd(a); r[i] = items.GetOrAdd(b); won[i] = lw;
        }
        return Canonical(items.Build(), workers.Build(), l, r, w, won);
    }

    /// <summary>Builds the comparisons from indexes into fixed vocabularies (e.g. a simulator's).</summary>
    public static PairwiseComparisons FromIndexes(Vocabulary items, Vocabulary workers, ReadOnlySpan<int> worker,
        ReadOnlySpan<int> left, ReadOnlySpan<int> right, ReadOnlySpan<bool> leftWon)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(workers);
        int n = left.Length;
        if (right.Length != n || worker.Length != n || leftWon.Length != n) throw new ArgumentException("The spans differ in length.");
        for (int i = 0; i < n; i++)
        {
            if ((uint)left[i] >= (uint)items.Count || (uint)right[i] >= (uint)items.Count) throw new ArgumentOutOfRangeException(nameof(left));
            if ((uint)worker[i] >= (uint)workers.Count) throw new ArgumentOutOfRangeException(nameof(worker));
            if (left[i] == right[i]) throw new ArgumentException($"Comparison {i} compares item {left[i]} with itself.", nameof(left));
        }
        return Sorted(items, workers, left.ToArray(), right.ToArray(), worker.ToArray(), leftWon.ToArray());
    }

    internal static PairwiseComparisons Canonical(Vocabulary items, Vocabulary workers, int[] l, int[] r, int[] w, bool[] won)
    {
        var sortedItems = items.InNaturalOrder(out int[] itemMap);
        var sortedWorkers = workers.InNaturalOrder(out int[] workerMap);
        if (itemMap.Length > 0) for (int i = 0; i < l.Length; i++) { l[i] = itemMap[l[i]]; r[i] = itemMap[r[i]]; }
        if (workerMap.Length > 0) for (int i = 0; i < w.Length; i++) w[i] = workerMap[w[i]];
        return Sorted(sortedItems, sortedWorkers, l, r, w, won);
    }

    private static PairwiseComparisons Sorted(Vocabulary items, Vocabulary workers, int[] l, int[] r, int[] w, bool[] won)
    {
        int n = l.Length;
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        // A total order on the tuples: equal tuples are interchangeable, so the result is the same for any input order.
        Array.Sort(order, (a, b) =>
        {
            int c = l[a].CompareTo(l[b]);
            if (c == 0) c = r[a].CompareTo(r[b]);
            if (c == 0) c = w[a].CompareTo(w[b]);
            if (c == 0) c = won[a].CompareTo(won[b]);
            return c;
        });
        var l2 = new int[n]; var r2 = new int[n]; var w2 = new int[n]; var won2 = new bool[n];
        for (int i = 0; i < n; i++) { int o = order[i]; l2[i] = l[o]; r2[i] = r[o]; w2[i] = w[o]; won2[i] = won[o]; }
        return new PairwiseComparisons(items, workers, l2, r2, w2, won2);
    }
}

/// <summary>How to read a pairwise comparisons file.</summary>
/// <param name="WorkerColumn">Column holding the worker id.</param>
/// <param name="LeftColumn">Column holding the item shown on the left.</param>
/// <param name="RightColumn">Column holding the item shown on the right.</param>
/// <param name="LabelColumn">Column holding the winner: the left or the right item's id (as Crowd-Kit).</param>
/// <param name="Delimiter">Field delimiter; null = tab for .tsv, else sniffed from the header.</param>
/// <param name="Encoding">The file's encoding when it has no byte order mark.</param>
public sealed record ComparisonFileOptions(
    string WorkerColumn = "worker",
    string LeftColumn = "left",
    string RightColumn = "right",
    string LabelColumn = "label",
    char? Delimiter = null,
    FileEncoding Encoding = FileEncoding.Utf8);

/// <summary>Reads pairwise comparisons (<c>worker,left,right,label</c>, label = the winner) and true item scores.</summary>
public static class ComparisonFiles
{
    /// <summary>Reads a comparisons file; every row is used (a comparison repeated by a worker counts twice).</summary>
    /// <exception cref="TallyDataException">A missing file or column, an empty field, an item compared with itself, or a
    /// label that is neither the left nor the right item — with the file and line.</exception>
    public static PairwiseComparisons Read(string path, ComparisonFileOptions? options = null)
    {
        options ??= new ComparisonFileOptions();
        using var csv = CsvRecordReader.Open(path, options.Delimiter, options.Encoding);
        return Read(csv, options);
    }

    /// <summary>Reads comparisons from the bytes of <paramref name="stream"/>; errors name <paramref name="sourceName"/>.</summary>
    /// <exception cref="TallyDataException">As <see cref="Read(string, ComparisonFileOptions?)"/>.</exception>
    public static PairwiseComparisons Read(Stream stream, string sourceName, ComparisonFileOptions? options = null)
    {
        options ??= new ComparisonFileOptions();
        using var csv = CsvRecordReader.Open(stream, sourceName, options.Delimiter, options.Encoding);
        return Read(csv, options);
    }

    private static PairwiseComparisons Read(CsvRecordReader csv, ComparisonFileOptions o)
    {
        int wc = csv.Column(o.WorkerColumn), lc = csv.Column(o.LeftColumn), rc = csv.Column(o.RightColumn), yc = csv.Column(o.LabelColumn);
        var items = new VocabularyBuilder();
        var workers = new VocabularyBuilder();
        var l = new List<int>(); var r = new List<int>(); var w = new List<int>(); var won = new List<bool>();
        while (csv.ReadChecked())
        {
            var worker = csv.Field(wc); var left = csv.Field(lc); var right = csv.Field(rc); var label = csv.Field(yc);
            if (worker.IsEmpty) throw new TallyDataException(csv.SourceName, csv.LineNumber, $"empty {o.WorkerColumn}");
            if (left.IsEmpty) throw new TallyDataException(csv.SourceName, csv.LineNumber, $"empty {o.LeftColumn}");
            if (right.IsEmpty) throw new TallyDataException(csv.SourceName, csv.LineNumber, $"empty {o.RightColumn}");
            if (label.IsEmpty) throw new TallyDataException(csv.SourceName, csv.LineNumber, $"empty {o.LabelColumn}");
            if (left.SequenceEqual(right))
                throw new TallyDataException(csv.SourceName, csv.LineNumber, $"item {Quote.Value(left)} is compared with itself");
            bool leftWon = label.SequenceEqual(left);
            if (!leftWon && !label.SequenceEqual(right))
                throw new TallyDataException(csv.SourceName, csv.LineNumber,
                    $"{o.LabelColumn} {Quote.Value(label)} is neither the {o.LeftColumn} item {Quote.Value(left)} nor the {o.RightColumn} item {Quote.Value(right)} (it must name the winner)");
            w.Add(workers.GetOrAdd(worker)); l.Add(items.GetOrAdd(left)); r.Add(items.GetOrAdd(right)); won.Add(leftWon);
        }
        if (l.Count == 0) throw new TallyDataException(csv.SourceName, 0, "has a header but no comparisons");
        return PairwiseComparisons.Canonical(items.Build(), workers.Build(), [.. l], [.. r], [.. w], [.. won]);
    }

    /// <summary>
    /// Reads true item scores (<c>item,score</c>, higher = better) for the items of <paramref name="comparisons"/>:
    /// a score per item, NaN where the file has none.
    /// </summary>
    /// <returns>The scores and how many rows named items without comparisons (not used).</returns>
    /// <exception cref="TallyDataException">A missing file or column, a score that is not a finite number, or an item given twice.</exception>
    public static (double[] Scores, int Known, int UnknownItems) ReadScores(string path, PairwiseComparisons comparisons,
        FileEncoding encoding = FileEncoding.Utf8)
    {
        ArgumentNullException.ThrowIfNull(comparisons);
        using var csv = CsvRecordReader.Open(path, encoding: encoding);
        int ic = csv.Column("item"), sc = csv.Column("score");
        var scores = new double[comparisons.ItemCount];
        Array.Fill(scores, double.NaN);
        int rows = 0, known = 0, unknown = 0;
        while (csv.ReadChecked())
        {
            rows++;
            var item = csv.Field(ic);
            if (!NumberFormat.TryParse(csv.Field(sc), out double s) || !double.IsFinite(s))
                throw new TallyDataException(csv.SourceName, csv.LineNumber, $"score {Quote.Value(csv.Field(sc))} is not a finite number");
            if (!comparisons.Items.TryGetIndex(item, out int i)) { unknown++; continue; }
            if (!double.IsNaN(scores[i])) throw new TallyDataException(csv.SourceName, csv.LineNumber, $"item {Quote.Value(item)} is given twice");
            scores[i] = s;
            known++;
        }
        if (rows == 0) throw new TallyDataException(csv.SourceName, 0, "has a header but no rows");
        return (scores, known, unknown);
    }
}
