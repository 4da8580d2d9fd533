using System.Buffers;
using System.Runtime.Intrinsics;
using System.Runtime.InteropServices;
using System.Text;

namespace Tally.Core;

/// <summary>
/// The fast path of <see cref="AnswerFiles.ReadAnswers(string, AnswerFileOptions?, Action{double}?)"/>: the UTF-8 bytes
/// of the whole file, parsed in parallel chunks straight from the bytes (no decoding to UTF-16, no string per row),
/// identifiers interned per chunk and merged, and the matrix built by <see cref="LabelMatrixBuilder.Assemble"/> from
/// the chunks' columns as parsed.
/// </summary>
/// <remarks>
/// <para>It accepts exactly what <see cref="CsvRecordReader"/> accepts and builds the same matrix: the header is read by
/// that reader itself (same columns, same delimiter, same header errors), records follow RFC 4180 as it does, and the
/// identifiers are numbered in <see cref="Vocabulary.NaturalOrder"/> whatever the chunking, so the matrix does not
/// depend on the number of chunks or cores. It never reports an error itself: on anything it does not handle or any
/// error in the data (invalid UTF-8, a NUL, a malformed record, an empty field, an unknown class, a duplicate under
/// <see cref="DuplicatePolicy.Error"/>) it returns null and the caller reads the file with the streaming reader, which
/// reports the error with its line: one reader words every error, so the two can never disagree.</para>
/// <para>Chunks end just after a line feed near equal byte offsets. A chunk is parsed as if it began a record; that
/// guess is checked in chunk order — each chunk must start where the previous one's last record ended (a quoted field
/// holding a line break can cross a boundary) — and a chunk that guessed wrong is parsed again from the right place.
/// Task and worker ids that are all plain non-negative integers (<c>0</c>, <c>17</c>; no sign, no leading zero) are
/// numbered by value without hashing — which is their natural order; other ids go through per-chunk hash tables over
/// their bytes, merged in chunk order.</para>
/// </remarks>
internal static class AnswerIngest
{
    /// <summary>Bytes per chunk at least (smaller files are one chunk); the chunk count grows with the file up to <see cref="MaxChunks"/>.</summary>
    private const int MinChunkBytes = 1 << 22;
    /// <summary>The least bytes per chunk by default.</summary>
    public const int DefaultChunkBytes = MinChunkBytes;
    private const int MaxChunks = 8;

    /// <summary>The matrix of the file, or null when the streaming reader must read it (see the remarks).</summary>
    /// <param name="path">The answers file.</param>
    /// <param name="options">How to read it.</param>
    /// <param name="progress">Told the fraction done, now and then.</param>
    /// <param name="compute">Threads to use (the matrix is the same for any number).</param>
    /// <param name="chunkBytes">The least bytes per chunk (tests make it small to cut a small file into many chunks).</param>
    public static LabelMatrixBuild? TryRead(string path, AnswerFileOptions options, Action<double>? progress,
        ComputeOptions? compute = null, int chunkBytes = MinChunkBytes)
    {
        if (options.Encoding != FileEncoding.Utf8) return null;
        long length;
        try { length = new FileInfo(path).Length; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        if (length > Array.MaxLength || length == 0) return null;

        // The header, its columns and their errors: exactly the streaming reader's.
        int tc, wc, lc, fields;
        byte delimiter;
        using (var csv = CsvRecordReader.Open(path, options.Delimiter, options.Encoding))
        {
            tc = csv.Column(options.TaskColumn); wc = csv.Column(options.WorkerColumn); lc = csv.Column(options.LabelColumn);
            if (csv.HeaderLine != 1 || csv.Delimiter > 127 || csv.Header.Count < 2) return null;
            delimiter = (byte)csv.Delimiter;
            fields = csv.Header.Count;
        }
        if (options.Classes is { Count: > 0 } cls && cls.Distinct(StringComparer.Ordinal).Count() != cls.Count) return null;

        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        progress?.Invoke(0.2);
        var data = bytes.AsSpan();
        int bom = data.StartsWith("\uFEFF"u8) ? 3 : 0;
        if (data.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE]) || data.StartsWith((ReadOnlySpan<byte>)[0xFE, 0xFF])) return null;
        // The header is line 1; a quoted header (which could span lines) is left to the streaming reader.
        int nl = data[bom..].IndexOfAny((byte)'\n', (byte)'\r');
        if (nl < 0) return null;
        nl += bom;
        if (data[bom..nl].Contains((byte)'"') || !System.Text.Unicode.Utf8.IsValid(data[..nl]) || data[..nl].Contains((byte)0)) return null;
        int dataStart = data[nl] == '\r' && nl + 1 < data.Length && data[nl + 1] == '\n' ? nl + 2 : nl + 1;

        var fixedClasses = options.Classes is { Count: > 0 } given ? new Vocabulary(given) : null;
        var layout = new Layout(bytes, delimiter, fields, tc, wc, lc);
        var chunks = Split(bytes, dataStart, chunkBytes);
        bool denseTasks = true, denseWorkers = true;
        // Ids that look like integers in the first record are tried as such; if any chunk finds one that is not, the
        // column is read again as text.
        if (dataStart < bytes.Length)
        {
            var first = new Chunk(dataStart, bytes.Length, true, true);
            first.ParseFirst(layout);
            denseTasks = first.TaskIsDense;
            denseWorkers = first.WorkerIsDense;
        }
        while (true)
        {
            var parsed = ParseAll(layout, chunks, denseTasks, denseWorkers, compute);
            if (parsed == Parsed.Failed) return null;
            bool retry = parsed == Parsed.Retry;
            foreach (var c in chunks)
            {
                if (denseTasks && !c.TaskIsDense) { denseTasks = false; retry = true; }
                if (denseWorkers && !c.WorkerIsDense) { denseWorkers = false; retry = true; }
            }
            long maxTask = 0, maxWorker = 0, rows = 0;
            foreach (var c in chunks) { maxTask = Math.Max(maxTask, c.MaxTask); maxWorker = Math.Max(maxWorker, c.MaxWorker); rows += c.Rows; }
            if (rows == 0 && !retry) return null;
            // Sparse integer ids would need a large table of ranks: hashing them is cheaper.
            long denseLimit = 2 * rows + (1 << 20);
            if (denseTasks && maxTask >= denseLimit) { denseTasks = false; retry = true; }
            if (denseWorkers && maxWorker >= denseLimit) { denseWorkers = false; retry = true; }
            if (!retry) break;
            chunks = Split(bytes, dataStart, chunkBytes);
        }
        progress?.Invoke(0.6);

        int n = checked((int)chunks.Sum(c => (long)c.Rows));
        var rowStart = new int[chunks.Length + 1];
        for (int i = 0; i < chunks.Length; i++) rowStart[i + 1] = rowStart[i] + chunks[i].Rows;

        var (tasks, taskMaps) = denseTasks ? Dense(chunks, c => c.TaskIds, chunks.Max(c => c.MaxTask)) : Merge(chunks, c => c.TaskTable!);
        var (workers, workerMaps) = denseWorkers ? Dense(chunks, c => c.WorkerIds, chunks.Max(c => c.MaxWorker)) : Merge(chunks, c => c.WorkerTable!);
        Vocabulary classes;
        int[]?[] classMaps;
        if (fixedClasses is not null)
        {
            classes = fixedClasses;
            classMaps = new int[]?[chunks.Length];
            for (int i = 0; i < chunks.Length; i++)
            {
                var table = chunks[i].ClassTable;
                var map = classMaps[i] = new int[table.Count];
                for (int k = 0; k < map.Length; k++)
                    if (!classes.TryGetIndex(table.Name(k), out map[k])) return null; // an unknown class: the streaming reader says where
            }
        }
        else
        {
            (classes, classMaps) = Merge(chunks, c => c.ClassTable, canonical: options.ClassOrder == ClassOrder.Sorted);
        }

        // The chunks' ids are renumbered where they hold their own (hashed ids; classes) and handed over as they are.
        Parallelism.ForEach(chunks.Length, compute, i =>
        {
            var c = chunks[i];
            Remap(c.TaskIds, c.Rows, taskMaps[i]);
            Remap(c.WorkerIds, c.Rows, workerMaps[i]);
            Remap(c.ClassIds, c.Rows, classMaps[i]);
        });
        var answers = new AnswerColumns(Array.ConvertAll(chunks, c => c.TaskIds), Array.ConvertAll(chunks, c => c.WorkerIds),
            Array.ConvertAll(chunks, c => c.ClassIds), rowStart);
        chunks = null!;
        bytes = null!;
        progress?.Invoke(0.8);
        try
        {
            return LabelMatrixBuilder.Assemble(tasks, workers, classes, answers, null, options.Duplicates, null, compute);
        }
        catch (DuplicateAnswerException)
        {
            return null; // the streaming reader finds the lines of both answers
        }
    }

    private static void Remap(int[] ids, int rows, int[]? map)
    {
        if (map is null) return;
        var span = ids.AsSpan(0, rows);
        for (int r = 0; r < span.Length; r++) span[r] = map[span[r]];
    }

    /// <summary>Chunks of about equal size that end just after a line feed (the last at the end of the file).</summary>
    private static Chunk[] Split(byte[] bytes, int dataStart, int chunkBytes)
    {
        long size = bytes.Length - dataStart;
        int count = (int)Math.Clamp(size / Math.Max(1, chunkBytes), 1, chunkBytes < MinChunkBytes ? 1 << 16 : MaxChunks);
        var ends = new List<int>();
        int prev = dataStart;
        for (int i = 1; i < count; i++)
        {
            int at = (int)(dataStart + size * i / count);
            if (at <= prev) continue;
            int lf = bytes.AsSpan(at).IndexOf((byte)'\n');
            if (lf < 0) break;
            at += lf + 1;
            if (at >= bytes.Length) break;
            ends.Add(at);
            prev = at;
        }
        ends.Add(bytes.Length);
        var chunks = new Chunk[ends.Count];
        int s = dataStart;
        for (int i = 0; i < chunks.Length; i++) { chunks[i] = new Chunk(s, ends[i], true, true); s = ends[i]; }
        return chunks;
    }

    private enum Parsed { Ok, Failed, Retry }

    /// <summary>
    /// Parses every chunk (in parallel) and checks each began where the previous one's last record ended: failed on any
    /// error, retry when a chunk met an id that is not an integer in a column read as integers.
    /// </summary>
    private static Parsed ParseAll(Layout layout, Chunk[] chunks, bool denseTasks, bool denseWorkers, ComputeOptions? compute)
    {
        for (int i = 0; i < chunks.Length; i++) chunks[i] = new Chunk(chunks[i].Start, chunks[i].End, denseTasks, denseWorkers);
        Parallelism.ForEach(chunks.Length, compute, i => chunks[i].Parse(layout));
        for (int i = 1; i < chunks.Length; i++)
        {
            if (chunks[i - 1].Abandoned) return Parsed.Retry;
            int truth = chunks[i - 1].Stop;
            if (chunks[i].Start == truth) continue;
            // The previous record ran past the boundary (a quoted line break): this chunk's guess was wrong.
            var again = new Chunk(truth, chunks[i].End, denseTasks, denseWorkers);
            if (truth < again.End) again.Parse(layout);
            else again.Empty(truth);
            chunks[i] = again;
        }
        foreach (var c in chunks) if (c.Failed) return Parsed.Failed;
        return chunks[^1].Abandoned ? Parsed.Retry : Parsed.Ok;
    }

    /// <summary>
    /// Integer ids numbered by value: the rank of each distinct value, which is their natural order (no map at all when
    /// the values are exactly 0..max, the usual case, so the ids are kept as read).
    /// </summary>
    private static (Vocabulary, int[]?[]) Dense(Chunk[] chunks, Func<Chunk, int[]> ids, int max)
    {
        var rank = new int[max + 1];
        foreach (var c in chunks)
        {
            var a = ids(c);
            for (int r = 0; r < c.Rows; r++) rank[a[r]] = 1;
        }
        int count = 0;
        for (int v = 0; v <= max; v++)
            if (rank[v] != 0) rank[v] = count++;
            else rank[v] = -1;
        var maps = new int[]?[chunks.Length];
        if (count == max + 1) return (Vocabulary.Numbered(count), maps);
        Array.Fill(maps, rank);
        var values = new int[count];
        for (int v = 0; v <= max; v++) if (rank[v] >= 0) values[rank[v]] = v;
        return (Vocabulary.OfIntegers(values), maps);
    }

    /// <summary>The chunks' tables merged in chunk order (so first appearance in the file is kept), optionally put in natural order.</summary>
    private static (Vocabulary, int[]?[]) Merge(Chunk[] chunks, Func<Chunk, ByteTable> table, bool canonical = true)
    {
        var global = new ByteTable(Math.Max(16, table(chunks[0]).Count));
        var maps = new int[]?[chunks.Length];
        for (int i = 0; i < chunks.Length; i++)
        {
            var local = table(chunks[i]);
            var map = maps[i] = new int[local.Count];
            for (int k = 0; k < map.Length; k++) map[k] = global.GetOrAdd(local.Key(k), local.HashOf(k));
        }
        var names = new string[global.Count];
        for (int k = 0; k < names.Length; k++) names[k] = global.Name(k);
        var vocabulary = Vocabulary.OfDistinct(names);
        if (!canonical) return (vocabulary, maps);
        var sorted = vocabulary.InNaturalOrder(out int[] order);
        if (order.Length > 0)
            foreach (var map in maps)
                for (int k = 0; k < map!.Length; k++) map[k] = order[map[k]];
        return (sorted, maps);
    }

    private sealed record Layout(byte[] Bytes, byte Delimiter, int Fields, int TaskColumn, int WorkerColumn, int LabelColumn);

    /// <summary>The records of one chunk: per row the chunk-local ids of task, worker and class.</summary>
    private sealed class Chunk(int start, int end, bool denseTasks, bool denseWorkers)
    {
        public int Start { get; } = start;
        public int End { get; } = end;
        /// <summary>Where the last record parsed ended (≥ <see cref="End"/> when it ran past the boundary).</summary>
        public int Stop { get; private set; } = start;
        public bool Failed { get; private set; }
        /// <summary>Stopped at an id that is not an integer in a column read as integers: the file is read again.</summary>
        public bool Abandoned { get; private set; }
        public int Rows { get; private set; }
        public bool TaskIsDense { get; private set; } = denseTasks;
        public bool WorkerIsDense { get; private set; } = denseWorkers;
        public int MaxTask { get; private set; }
        public int MaxWorker { get; private set; }
        public int[] TaskIds { get; private set; } = [];
        public int[] WorkerIds { get; private set; } = [];
        public int[] ClassIds { get; private set; } = [];
        public ByteTable? TaskTable { get; private set; }
        public ByteTable? WorkerTable { get; private set; }
        public ByteTable ClassTable { get; } = new(8);
        private byte[]? _scratch;
        private int[]? _oneByteClass;

        private static int[] CreateByteCache()
        {
            var cache = new int[256];
            Array.Fill(cache, -1);
            return cache;
        }

        /// <summary>A chunk wholly inside the previous chunk's last record: no rows.</summary>
        public void Empty(int at)
        {
            Stop = at;
            Allocate(16);
        }

        private void Allocate(int cap)
        {
            // Only the first Rows slots are ever read.
            TaskIds = GC.AllocateUninitializedArray<int>(cap); WorkerIds = GC.AllocateUninitializedArray<int>(cap);
            ClassIds = GC.AllocateUninitializedArray<int>(cap);
            if (!TaskIsDense) TaskTable = new ByteTable(Math.Max(16, cap / 4));
            if (!WorkerIsDense) WorkerTable = new ByteTable(256);
        }

        /// <summary>Only the first record, to see whether its ids are integers.</summary>
        public void ParseFirst(Layout layout) => Run(layout, onlyFirst: true);

        public void Parse(Layout layout) => Run(layout, onlyFirst: false);

        private void Run(Layout layout, bool onlyFirst)
        {
            byte[] bytes = layout.Bytes;
            Allocate(onlyFirst ? 16 : Math.Max(16, (End - Start) / 12));
            // Text is checked as the streaming reader checks it; on a failure that reader reports where.
            if (!onlyFirst)
            {
                var own = bytes.AsSpan(Start, End - Start);
                if (!System.Text.Unicode.Utf8.IsValid(own) || own.Contains((byte)0)) { Failed = true; return; }
            }
            Span<int> fs = stackalloc int[layout.Fields];
            Span<int> fl = stackalloc int[layout.Fields];
            Span<byte> kinds = stackalloc byte[layout.Fields];
            var stops = new StopScanner(bytes, layout.Delimiter);
            int pos = Start, len = bytes.Length;
            byte d = layout.Delimiter;
            // The usual file — three columns, integer task and worker ids, one-character classes — is read a record at
            // a time in one pass over its bytes; any record that is not of that plain form goes the general way.
            bool plain = !onlyFirst && layout.Fields == 3 && TaskIsDense && WorkerIsDense && d is not ((byte)'"' or >= (byte)'0' and <= (byte)'9');
            while (pos < End)
            {
                if (plain && TryPlainRecord(bytes, ref pos, layout)) continue;
                // One record from pos.
                int count = 0, i = pos;
                bool bad = false;
                while (true)
                {
                    int fieldStart, fieldLength;
                    byte kind;
                    if (i < len && bytes[i] == '"')
                    {
                        int j = i + 1;
                        kind = 1;
                        int close;
                        while (true)
                        {
                            int k = bytes.AsSpan(j).IndexOf((byte)'"');
                            if (k < 0) { Failed = true; Stop = len; return; } // never closed
                            k += j;
                            if (k + 1 < len && bytes[k + 1] == '"') { kind = 2; j = k + 2; continue; }
                            close = k;
                            break;
                        }
                        fieldStart = i + 1; fieldLength = close - i - 1;
                        i = close + 1;
                        if (i < len && bytes[i] != d && bytes[i] != '\n' && bytes[i] != '\r') { Failed = true; Stop = i; return; }
                    }
                    else
                    {
                        int e = stops.Next(i);
                        fieldStart = i; fieldLength = e - i; kind = 0;
                        i = e;
                    }
                    if (count < fs.Length) { fs[count] = fieldStart; fl[count] = fieldLength; kinds[count] = kind; }
                    count++;
                    if (i < len && bytes[i] == d) { i++; continue; }
                    break;
                }
                // The record ends at i: a line break or the end of the file.
                if (i < len) i += bytes[i] == '\r' && i + 1 < len && bytes[i + 1] == '\n' ? 2 : 1;
                if (i - pos > CsvRecordReader.MaxRecordLength) bad = true;
                pos = i;
                if (count == 1 && kinds[0] == 0 && IsAsciiBlank(bytes.AsSpan(fs[0], fl[0]))) continue;
                if (bad || count != layout.Fields) { Failed = true; Stop = pos; return; }
                if (!Add(bytes, fs, fl, kinds, layout)) { Failed = true; Stop = pos; return; }
                if (Abandoned || onlyFirst) break;
            }
            Stop = pos;
        }

        /// <summary>
        /// Adds the record at <paramref name="pos"/> and moves past it when it is three unquoted fields, the task and
        /// worker plain integers (as <see cref="TryDense"/> takes them) and the class one byte; otherwise changes
        /// nothing and returns false. The record read is the one the general path reads: the same fields, ids and end.
        /// </summary>
        private bool TryPlainRecord(byte[] bytes, ref int pos, Layout layout)
        {
            int i = pos, len = bytes.Length, ti = 0, wi = 0, labelAt = 0;
            byte d = layout.Delimiter;
            for (int f = 0; f < 3; f++)
            {
                if (f == layout.LabelColumn)
                {
                    if (i >= len) return false;
                    byte b = bytes[i];
                    if (b == '"' || b == d || b == '\n' || b == '\r') return false;
                    labelAt = i++;
                }
                else
                {
                    int start = i, value = 0;
                    while (i < len)
                    {
                        uint digit = (uint)(bytes[i] - '0');
                        if (digit > 9) break;
                        value = value * 10 + (int)digit;
                        if (++i - start > 9) return false;
                    }
                    int length = i - start;
                    if (length == 0 || (length > 1 && bytes[start] == '0')) return false;
                    if (f == layout.TaskColumn) ti = value;
                    else wi = value;
                }
                // The field's end: the delimiter after the first two, a line break or the end of the file after the last.
                if (f < 2)
                {
                    if (i >= len || bytes[i] != d) return false;
                    i++;
                }
                else if (i < len)
                {
                    if (bytes[i] == '\n') i++;
                    else if (bytes[i] == '\r') i += i + 1 < len && bytes[i + 1] == '\n' ? 2 : 1;
                    else return false;
                }
            }
            if (Rows == TaskIds.Length) Grow();
            if (ti > MaxTask) MaxTask = ti;
            if (wi > MaxWorker) MaxWorker = wi;
            TaskIds[Rows] = ti;
            WorkerIds[Rows] = wi;
            ClassIds[Rows] = OneByteClass(bytes.AsSpan(labelAt, 1));
            Rows++;
            pos = i;
            return true;
        }

        /// <summary>The id of a one-character class: cached by byte, so there is no hashing per row.</summary>
        private int OneByteClass(ReadOnlySpan<byte> label)
        {
            _oneByteClass ??= CreateByteCache();
            int ci = _oneByteClass[label[0]];
            if (ci < 0) ci = _oneByteClass[label[0]] = ClassTable.GetOrAdd(label, ByteTable.Hash(label));
            return ci;
        }

        private void Grow()
        {
            int cap = checked(Rows * 2);
            var a = TaskIds; Array.Resize(ref a, cap); TaskIds = a;
            a = WorkerIds; Array.Resize(ref a, cap); WorkerIds = a;
            a = ClassIds; Array.Resize(ref a, cap); ClassIds = a;
        }

        private static bool IsAsciiBlank(ReadOnlySpan<byte> s)
        {
            foreach (byte b in s) if (b is not ((byte)' ' or (byte)'\t' or 0x0B or 0x0C)) return false;
            return true;
        }

        private bool Add(byte[] bytes, Span<int> fs, Span<int> fl, Span<byte> kinds, Layout layout)
        {
            var task = Field(bytes, fs, fl, kinds, layout.TaskColumn, 0);
            var worker = Field(bytes, fs, fl, kinds, layout.WorkerColumn, 1);
            var label = Field(bytes, fs, fl, kinds, layout.LabelColumn, 2);
            // An empty field is an error, and " x" would be a Unicode-aware question: leave both to the streaming reader.
            if (task.IsEmpty || worker.IsEmpty || label.IsEmpty) return false;
            if (Rows == TaskIds.Length) Grow();
            int ti, wi;
            if (TaskIsDense)
            {
                if (!TryDense(task, out ti)) { TaskIsDense = false; Abandoned = true; return true; }
                if (ti > MaxTask) MaxTask = ti;
            }
            else ti = TaskTable!.GetOrAdd(task, ByteTable.Hash(task));
            if (WorkerIsDense)
            {
                if (!TryDense(worker, out wi)) { WorkerIsDense = false; Abandoned = true; return true; }
                if (wi > MaxWorker) MaxWorker = wi;
            }
            else wi = WorkerTable!.GetOrAdd(worker, ByteTable.Hash(worker));
            TaskIds[Rows] = ti;
            WorkerIds[Rows] = wi;
            // Most class labels are one character ("0", "1", "y").
            ClassIds[Rows] = label.Length == 1 ? OneByteClass(label) : ClassTable.GetOrAdd(label, ByteTable.Hash(label));
            Rows++;
            return true;
        }

        /// <summary>The field's bytes, with a quoted field's doubled quotes undone (into a scratch buffer; slot 0–2).</summary>
        private ReadOnlySpan<byte> Field(byte[] bytes, Span<int> fs, Span<int> fl, Span<byte> kinds, int column, int slot)
        {
            var raw = bytes.AsSpan(fs[column], fl[column]);
            if (kinds[column] != 2) return raw;
            _scratch ??= new byte[3 * 256];
            int room = _scratch.Length / 3;
            if (raw.Length > room)
            {
                Array.Resize(ref _scratch, 3 * Math.Max(raw.Length, 2 * room));
                room = _scratch.Length / 3;
            }
            var into = _scratch.AsSpan(slot * room, room);
            int n = 0;
            for (int r = 0; r < raw.Length; r++)
            {
                into[n++] = raw[r];
                if (raw[r] == '"') r++;
            }
            return into[..n];
        }

        /// <summary>A plain non-negative integer id (<c>0</c> or no leading zero, at most 9 digits).</summary>
        private static bool TryDense(ReadOnlySpan<byte> s, out int value)
        {
            value = 0;
            if (s.Length > 9 || (s.Length > 1 && s[0] == '0')) return false;
            foreach (byte b in s)
            {
                uint digit = (uint)(b - '0');
                if (digit > 9) return false;
                value = value * 10 + (int)digit;
            }
            return true;
        }
    }

    /// <summary>
    /// Finds the next delimiter or line break at or after a position, 64 bytes at a time: the bytes of a block are
    /// compared with the three stop bytes at once and the matches kept as a bit mask, so the fields of the next few
    /// records cost a bit scan each instead of a search call each (records here are a dozen bytes or so). Positions
    /// are asked for in increasing order; one that leaves the current block starts a new block there.
    /// </summary>
    private struct StopScanner(byte[] bytes, byte delimiter)
    {
        private readonly byte[] _bytes = bytes;
        private readonly byte _delimiter = delimiter;
        private int _block = -1;
        private ulong _mask;

        /// <summary>The first position ≥ <paramref name="i"/> holding the delimiter, a line feed or a carriage return; the length when none.</summary>
        public int Next(int i)
        {
            int len = _bytes.Length;
            while (i < len)
            {
                if (_block < 0 || i < _block || i >= _block + 64) Load(i);
                ulong m = _mask & (~0UL << (i - _block));
                if (m != 0) return _block + System.Numerics.BitOperations.TrailingZeroCount(m);
                i = _block + 64;
            }
            return len;
        }

        private void Load(int at)
        {
            _block = at;
            int len = _bytes.Length;
            if (at + 64 <= len && Vector256.IsHardwareAccelerated)
            {
                ref byte b = ref MemoryMarshal.GetArrayDataReference(_bytes);
                var d = Vector256.Create(_delimiter);
                var lf = Vector256.Create((byte)'\n');
                var cr = Vector256.Create((byte)'\r');
                var v0 = Vector256.LoadUnsafe(ref b, (nuint)at);
                var v1 = Vector256.LoadUnsafe(ref b, (nuint)(at + 32));
                var m0 = Vector256.Equals(v0, d) | Vector256.Equals(v0, lf) | Vector256.Equals(v0, cr);
                var m1 = Vector256.Equals(v1, d) | Vector256.Equals(v1, lf) | Vector256.Equals(v1, cr);
                _mask = m0.ExtractMostSignificantBits() | ((ulong)m1.ExtractMostSignificantBits() << 32);
                return;
            }
            // The last bytes of the file (or no vector unit): byte by byte.
            ulong mask = 0;
            int end = Math.Min(len, at + 64);
            for (int j = at; j < end; j++)
            {
                byte c = _bytes[j];
                if (c == _delimiter || c == (byte)'\n' || c == (byte)'\r') mask |= 1UL << (j - at);
            }
            _mask = mask;
        }
    }

    /// <summary>
    /// An open-addressing hash table of byte strings (identifiers as UTF-8), numbered in order of first addition; keys
    /// are copied into one arena, so a table holds no string per key until names are asked for.
    /// </summary>
    internal sealed class ByteTable
    {
        private int[] _slots;
        private uint[] _hashes;
        private int[] _starts, _lengths;
        private byte[] _arena = new byte[1024];
        private int _arenaLength;
        private int _mask;

        public ByteTable(int capacity)
        {
            int size = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, capacity * 2));
            _slots = new int[size];
            _mask = size - 1;
            _hashes = new uint[Math.Max(8, capacity)];
            _starts = new int[_hashes.Length];
            _lengths = new int[_hashes.Length];
        }

        public int Count { get; private set; }

        public ReadOnlySpan<byte> Key(int id) => _arena.AsSpan(_starts[id], _lengths[id]);
        public uint HashOf(int id) => _hashes[id];
        public string Name(int id) => Encoding.UTF8.GetString(Key(id));

        /// <summary>A 32-bit hash of the bytes (multiply-xorshift over 8-byte words).</summary>
        public static uint Hash(ReadOnlySpan<byte> s)
        {
            ulong h = 0x9E3779B97F4A7C15UL ^ (ulong)s.Length;
            while (s.Length >= 8)
            {
                h = (h ^ MemoryMarshal.Read<ulong>(s)) * 0xBF58476D1CE4E5B9UL;
                h ^= h >> 29;
                s = s[8..];
            }
            if (s.Length > 0)
            {
                ulong tail = 0;
                for (int i = 0; i < s.Length; i++) tail |= (ulong)s[i] << (8 * i);
                h = (h ^ tail) * 0x94D049BB133111EBUL;
            }
            h ^= h >> 31;
            h *= 0xBF58476D1CE4E5B9UL;
            return (uint)(h >> 32);
        }

        public int GetOrAdd(ReadOnlySpan<byte> key, uint hash)
        {
            int slot = (int)hash & _mask;
            while (true)
            {
                int e = _slots[slot] - 1;
                if (e < 0) break;
                if (_hashes[e] == hash && key.SequenceEqual(_arena.AsSpan(_starts[e], _lengths[e]))) return e;
                slot = (slot + 1) & _mask;
            }
            int id = Count;
            if (id == _hashes.Length)
            {
                int cap = id * 2;
                Array.Resize(ref _hashes, cap); Array.Resize(ref _starts, cap); Array.Resize(ref _lengths, cap);
            }
            if (_arenaLength + key.Length > _arena.Length) Array.Resize(ref _arena, Math.Max(_arena.Length * 2, _arenaLength + key.Length));
            key.CopyTo(_arena.AsSpan(_arenaLength));
            _hashes[id] = hash; _starts[id] = _arenaLength; _lengths[id] = key.Length;
            _arenaLength += key.Length;
            _slots[slot] = id + 1;
            Count = id + 1;
            if (2 * Count > _slots.Length) Grow();
            return id;
        }

        private void Grow()
        {
            _slots = new int[_slots.Length * 2];
            _mask = _slots.Length - 1;
            for (int e = 0; e < Count; e++)
            {
                int slot = (int)_hashes[e] & _mask;
                while (_slots[slot] != 0) slot = (slot + 1) & _mask;
                _slots[slot] = e + 1;
            }
        }
    }
}
