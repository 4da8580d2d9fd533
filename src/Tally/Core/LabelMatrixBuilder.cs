namespace Tally.Core;

/// <summary>The built matrix and what building it did to the input.</summary>
/// <param name="Matrix">The answers.</param>
/// <param name="DroppedDuplicates">Answers dropped because the same worker answered the same task again.</param>
public sealed record LabelMatrixBuild(LabelMatrix Matrix, int DroppedDuplicates);

/// <summary>Raised when the input holds a repeated (task, worker) pair under <see cref="DuplicatePolicy.Error"/>.</summary>
public sealed class DuplicateAnswerException(string message, long firstLine, long secondLine) : TallyUserException(message)
{
    /// <summary>Source line of the first answer (0 if unknown).</summary>
    public long FirstLine { get; } = firstLine;
    /// <summary>Source line of the repeated answer (0 if unknown).</summary>
    public long SecondLine { get; } = secondLine;
}

/// <summary>How the classes of answers read by name are numbered.</summary>
public enum ClassOrder
{
    /// <summary>
    /// Sorted: numerically when every class name is a number ("2" before "10"), otherwise by ordinal string order. The
    /// default, so the class order — and every tie broken on it — does not depend on which row comes first.
    /// </summary>
    Sorted,
    /// <summary>In order of first appearance in the input (so it depends on the row order; only on request).</summary>
    FirstSeen,
}

/// <summary>
/// Collects (task, worker, class) answers and builds a <see cref="LabelMatrix"/> that does not depend on the order
/// they came in: identifiers learned from the input are numbered in <see cref="Vocabulary.NaturalOrder"/> (classes
/// as <see cref="ClassOrder"/> says), and answers are placed by stable counting sorts — by worker, then by task — so
/// a task's answers are ordered by worker and a worker's by task. The sorts also bring repeated (task, worker) pairs
/// next to each other, in input order, so duplicates are found in linear time without a hash set.
/// </summary>
public sealed class LabelMatrixBuilder
{
    private readonly VocabularyBuilder? _taskB, _workerB, _classB;
    private readonly Vocabulary? _tasks, _workers, _classes;
    private readonly ClassOrder _classOrder;
    private int[] _t = new int[1024], _w = new int[1024], _l = new int[1024];
    private long[]? _lines;
    private int _n;
    private string? _lastTask;
    private int _lastTaskIndex;

    /// <summary>
    /// A builder that learns task and worker identifiers (numbered in natural order when built) and, unless
    /// <paramref name="classes"/> fixes them in the given order, the classes (numbered as <paramref name="classOrder"/> says).
    /// </summary>
    public LabelMatrixBuilder(IEnumerable<string>? classes = null, ClassOrder classOrder = ClassOrder.Sorted)
    {
        _taskB = new VocabularyBuilder();
        _workerB = new VocabularyBuilder();
        _classOrder = classOrder;
        if (classes is null) _classB = new VocabularyBuilder();
        else _classes = new Vocabulary(classes);
    }

    /// <summary>A builder over fixed vocabularies; answers are added by index.</summary>
    public LabelMatrixBuilder(Vocabulary tasks, Vocabulary workers, Vocabulary classes)
    {
        _tasks = tasks; _workers = workers; _classes = classes;
    }

    /// <summary>Number of answers added so far.</summary>
    public int Count => _n;

    /// <summary>True when the class set was fixed up front and unknown classes are errors.</summary>
    public bool ClassesFixed => _classes is not null;

    /// <summary>Adds an answer by identifiers. Returns false (adding nothing) if the class set is fixed and the class is unknown.</summary>
    public bool TryAdd(ReadOnlySpan<char> task, ReadOnlySpan<char> worker, ReadOnlySpan<char> label, long sourceLine = 0)
    {
        if (_taskB is null || _workerB is null)
            throw new InvalidOperationException("This builder has fixed vocabularies; add answers by index.");
        int c;
        if (_classB is not null) c = _classB.GetOrAdd(label);
        else if (!_classes!.TryGetIndex(label, out c)) return false;
        // Answer files are usually grouped by task: re-use the previous row's task index without hashing.
        int t;
        if (_lastTask is not null && task.SequenceEqual(_lastTask)) t = _lastTaskIndex;
        else
        {
            t = _taskB.GetOrAdd(task);
            _lastTask = _taskB.NameOf(t);
            _lastTaskIndex = t;
        }
        Append(t, _workerB.GetOrAdd(worker), c, sourceLine);
        return true;
    }

    /// <summary>Adds an answer by identifiers.</summary>
    /// <exception cref="ArgumentException">The class set is fixed and does not contain <paramref name="label"/>.</exception>
    public void Add(string task, string worker, string label)
    {
        if (!TryAdd(task, worker, label))
            throw new ArgumentException($"Unknown class '{label}'.", nameof(label));
    }

    /// <summary>Adds an answer by indexes into the fixed vocabularies.</summary>
    public void Add(int task, int worker, int label)
    {
        if (_tasks is null || _workers is null || _classes is null)
            throw new InvalidOperationException("This builder learns identifiers; add answers by name.");
        if ((uint)task >= (uint)_tasks.Count) throw new ArgumentOutOfRangeException(nameof(task));
        if ((uint)worker >= (uint)_workers.Count) throw new ArgumentOutOfRangeException(nameof(worker));
        if ((uint)label >= (uint)_classes.Count) throw new ArgumentOutOfRangeException(nameof(label));
        Append(task, worker, label, 0);
    }

    private void Append(int t, int w, int c, long line)
    {
        if (_n == _t.Length)
        {
            int cap = checked(_t.Length * 2);
            Array.Resize(ref _t, cap); Array.Resize(ref _w, cap); Array.Resize(ref _l, cap);
            if (_lines is not null) Array.Resize(ref _lines, cap);
        }
        if (line != 0 && _lines is null) _lines = new long[_t.Length];
        _t[_n] = t; _w[_n] = w; _l[_n] = c;
        if (_lines is not null) _lines[_n] = line;
        _n++;
    }

    /// <summary>Freezes the answers into a matrix.</summary>
    /// <exception cref="DuplicateAnswerException">Under <see cref="DuplicatePolicy.Error"/>, a worker answered a task twice.</exception>
    public LabelMatrixBuild Build(DuplicatePolicy duplicates = DuplicatePolicy.KeepLast, GoldLabels? gold = null)
    {
        int n = _n;
        // Learned identifiers are renumbered in natural order (the answers' indexes remapped), so the same answers in
        // any row order give the same matrix.
        Vocabulary tasks = _tasks ?? Canonical(_taskB!.BuildOnce(), _t, n);
        Vocabulary workers = _workers ?? Canonical(_workerB!.BuildOnce(), _w, n);
        Vocabulary classes = _classes ?? (_classOrder == ClassOrder.Sorted ? Canonical(_classB!.BuildOnce(), _l, n) : _classB!.Build());
        return Assemble(tasks, workers, classes, AnswerColumns.Single(_t, _w, _l, n), _lines, duplicates, gold, null);
    }

    /// <summary>
    /// The matrix of the <paramref name="answers"/> (in input order), whose indexes already refer to the final
    /// vocabularies.
    /// </summary>
    /// <remarks>
    /// The by-task index holds each task's answers ordered by worker (then, when every answer is kept, by class), ties
    /// in input order: a stable counting sort by task in two cache-friendly passes (<see cref="GroupByKey"/>) that moves
    /// the answers themselves (reading the input in order, never gathering it through a permutation, which on shuffled
    /// input costs a cache miss per field), then a small stable sort inside each task. Repeated (task, worker) pairs are then adjacent, in input order, so duplicates are
    /// found in linear time without a hash set; under <see cref="DuplicatePolicy.Error"/> the one reported is that of
    /// the first worker (then task) in index order. A stable counting sort of the by-task answers by worker gives each
    /// worker's answers by task. Every step's result is defined by the keys and input order alone, so any split of the
    /// work gives the same arrays.
    /// </remarks>
    internal static LabelMatrixBuild Assemble(Vocabulary tasks, Vocabulary workers, Vocabulary classes,
        AnswerColumns answers, long[]? lines, DuplicatePolicy duplicates, GoldLabels? gold, ComputeOptions? compute)
    {
        int T = tasks.Count, W = workers.Count, K = classes.Count, n = answers.Count;
        bool byLabelToo = duplicates == DuplicatePolicy.KeepAll && K > 1;

        // Grouped by task, stable, each answer moved as one record, then each task's few answers sorted by worker and
        // the records split into the three columns (see GroupByKey). Every slot of these arrays is written, so they
        // are not cleared first (0.3 GB at 10M answers). Where each answer came from is kept only when there are
        // line numbers to report a duplicate with.
        var buffer = GC.AllocateUninitializedArray<Keyed>(n);
        var tw = GC.AllocateUninitializedArray<int>(n);
        var tl = GC.AllocateUninitializedArray<int>(n);
        var src = lines is null ? null : GC.AllocateUninitializedArray<int>(n);
        var taskOffsets = GroupByKey(T, n, compute, buffer, new TaskRecords(answers), new TaskColumns(tw, tl, src, byLabelToo));

        int dropped = 0;
        if (duplicates != DuplicatePolicy.KeepAll)
        {
            bool[]? drop = null;
            int errorTask = -1, errorAt = -1;
            for (int task = 0; task < T; task++)
            {
                int to = taskOffsets[task + 1];
                for (int p = taskOffsets[task] + 1; p < to; p++)
                {
                    if (tw[p] != tw[p - 1]) continue;
                    if (duplicates == DuplicatePolicy.Error)
                    {
                        // The pair of the first worker in index order (then its first task, then the first two in input order).
                        if (errorAt < 0 || tw[p] < tw[errorAt]) { errorTask = task; errorAt = p; }
                        while (p + 1 < to && tw[p + 1] == tw[p]) p++;
                        continue;
                    }
                    drop ??= new bool[n];
                    // p - 1 precedes p in input order; keep-last drops the earlier one of each adjacent pair.
                    drop[duplicates == DuplicatePolicy.KeepLast ? p - 1 : p] = true;
                    dropped++;
                }
            }
            if (errorAt >= 0)
            {
                throw new DuplicateAnswerException(
                    $"worker {Quote.Value(workers[tw[errorAt]])} answered task {Quote.Value(tasks[errorTask])} more than once",
                    lines is null ? 0 : lines[src![errorAt - 1]], lines is null ? 0 : lines[src![errorAt]]);
            }
            if (drop is not null)
            {
                int m2 = n - dropped;
                var cw = new int[m2];
                var cl = new int[m2];
                int q = 0;
                for (int task = 0; task < T; task++)
                {
                    int from = taskOffsets[task], to = taskOffsets[task + 1];
                    taskOffsets[task] = q;
                    for (int p = from; p < to; p++)
                    {
                        if (drop[p]) continue;
                        cw[q] = tw[p]; cl[q] = tl[p]; q++;
                    }
                }
                taskOffsets[T] = q;
                tw = cw; tl = cl;
            }
        }

        // Each worker's answers in task order are made when a method first asks for them (see WorkerIndex).
        var (byTaskOffsets, byTaskWorkers, byTaskLabels) = (taskOffsets, tw, tl);
        var byWorker = WorkerIndex.Deferred(() => GroupByWorker(byTaskOffsets, byTaskWorkers, byTaskLabels, W, compute),
            () => CountByWorker(byTaskWorkers, W));
        var matrix = new LabelMatrix(tasks, workers, classes, taskOffsets, tw, tl, byWorker, null);
        return new LabelMatrixBuild(gold is null ? matrix : matrix.WithGold(gold), dropped);
    }

    /// <summary>
    /// Each worker's answers in task order: the by-task answers grouped by worker, stable (so by task index within a
    /// worker, and the same arrays for any thread count).
    /// </summary>
    private static WorkerIndex.Arrays GroupByWorker(int[] taskOffsets, int[] tw, int[] tl, int workerCount, ComputeOptions? compute)
    {
        int T = taskOffsets.Length - 1, m = tw.Length;
        var answerTask = new int[m];
        Parallelism.For(T, m, compute, (a, b) =>
        {
            for (int task = a; task < b; task++)
                for (int p = taskOffsets[task], to = taskOffsets[task + 1]; p < to; p++) answerTask[p] = task;
        });
        var workerTasks = new int[m];
        var workerLabels = new int[m];
        var workerAnswerIds = new int[m];
        var workerOffsets = GroupByKey(workerCount, m, compute, new Keyed[m], new WorkerRecords(tw, answerTask, tl),
            new WorkerColumns(workerTasks, workerLabels, workerAnswerIds));
        return new(workerOffsets, workerTasks, workerLabels, workerAnswerIds);
    }

    /// <summary>The by-worker offsets alone (each worker's degree, summed): one count over the answers.</summary>
    private static int[] CountByWorker(int[] tw, int workerCount)
    {
        var offsets = new int[workerCount + 1];
        foreach (int w in tw) offsets[w + 1]++;
        for (int w = 0; w < workerCount; w++) offsets[w + 1] += offsets[w];
        return offsets;
    }

    /// <summary>
    /// One answer being grouped: its key (task, or worker), the other index (worker, or task), its class and where it
    /// came from (its input row, or its position in the by-task index).
    /// </summary>
    private struct Keyed
    {
        public int Key, Other, Label, Source;
    }

    /// <summary>
    /// The records to group, positions [a, b) at a time (a struct, so the generic grouping is compiled for each and
    /// inlined): their keys counted by bucket, then the records scattered to their buckets' next slots.
    /// </summary>
    private interface IRecords
    {
        void Count(int a, int b, Span<int> counts, int shift);
        void Scatter(int a, int b, Span<int> next, Keyed[] buffer, int shift);
    }

    /// <summary>Receives one bucket's records grouped by key; <c>starts</c> holds each key's first position in it (one more at the end).</summary>
    private interface IBucketSink
    {
        void Write(int at, Span<Keyed> grouped, ReadOnlySpan<int> starts);
    }

    /// <summary>The answers in input order, keyed by task; the segments are walked in order, so input row = position.</summary>
    private readonly struct TaskRecords(AnswerColumns answers) : IRecords
    {
        public void Count(int a, int b, Span<int> counts, int shift)
        {
            for (int s = answers.SegmentOf(a); a < b; s++)
            {
                int start = answers.Starts[s], end = Math.Min(b, answers.Starts[s + 1]);
                foreach (int task in answers.Tasks[s].AsSpan(a - start, end - a)) counts[task >> shift]++;
                a = end;
            }
        }

        public void Scatter(int a, int b, Span<int> next, Keyed[] buffer, int shift)
        {
            for (int s = answers.SegmentOf(a); a < b; s++)
            {
                int start = answers.Starts[s], end = Math.Min(b, answers.Starts[s + 1]);
                var t = answers.Tasks[s].AsSpan(a - start, end - a);
                var w = answers.Workers[s].AsSpan(a - start, end - a);
                var l = answers.Labels[s].AsSpan(a - start, end - a);
                for (int i = 0; i < t.Length; i++)
                {
                    ref var r = ref buffer[next[t[i] >> shift]++];
                    r.Key = t[i]; r.Other = w[i]; r.Label = l[i]; r.Source = a + i;
                }
                a = end;
            }
        }
    }

    private readonly struct WorkerRecords(int[] tw, int[] answerTask, int[] tl) : IRecords
    {
        public void Count(int a, int b, Span<int> counts, int shift)
        {
            foreach (int worker in tw.AsSpan(a, b - a)) counts[worker >> shift]++;
        }

        public void Scatter(int a, int b, Span<int> next, Keyed[] buffer, int shift)
        {
            for (int p = a; p < b; p++)
            {
                ref var r = ref buffer[next[tw[p] >> shift]++];
                r.Key = tw[p]; r.Other = answerTask[p]; r.Label = tl[p]; r.Source = p;
            }
        }
    }

    /// <summary>Each task's answers sorted by worker (then class), then split into the by-task columns (and, when asked, the input rows).</summary>
    private readonly struct TaskColumns(int[] tw, int[] tl, int[]? src, bool byLabel) : IBucketSink
    {
        public void Write(int at, Span<Keyed> grouped, ReadOnlySpan<int> starts)
        {
            for (int j = 0; j + 1 < starts.Length; j++)
            {
                int length = starts[j + 1] - starts[j];
                if (length > 1) SortTask(grouped.Slice(starts[j], length), byLabel);
            }
            for (int q = 0; q < grouped.Length; q++)
            {
                ref readonly var x = ref grouped[q];
                tw[at + q] = x.Other; tl[at + q] = x.Label;
            }
            if (src is null) return;
            for (int q = 0; q < grouped.Length; q++) src[at + q] = grouped[q].Source;
        }
    }

    private readonly struct WorkerColumns(int[] tasks, int[] labels, int[] answerIds) : IBucketSink
    {
        public void Write(int at, Span<Keyed> grouped, ReadOnlySpan<int> starts)
        {
            for (int q = 0; q < grouped.Length; q++)
            {
                ref readonly var x = ref grouped[q];
                tasks[at + q] = x.Other; labels[at + q] = x.Label; answerIds[at + q] = x.Source;
            }
        }
    }

    /// <summary>Keys per bucket of the first pass: 2^8 buckets keep its write streams few enough for the caches and the TLB.</summary>
    private const int BucketBits = 8;

    /// <summary>
    /// A stable counting sort of records 0..n-1 by their key in [0, keys), in two passes: the records are first
    /// scattered by the key's high bits into at most 2^<see cref="BucketBits"/> buckets of <paramref name="buffer"/>,
    /// then each bucket is counting-sorted by the whole key into a small scratch array and handed to the sink at the
    /// bucket's place in the result. A one-pass sort of millions of shuffled records by millions of keys misses the
    /// cache and the TLB on every write; here the first pass writes a few hundred sequential streams and the second
    /// works inside a bucket that fits in the cache. Returns each key's first position (keys + 1 values).
    /// </summary>
    /// <remarks>The first pass is split into parts fixed by the input size, part p's records of a bucket placed after
    /// those of parts before it, and buckets are independent: the result is the sequential one for any thread count.</remarks>
    private static int[] GroupByKey<TRecords, TSink>(int keys, int n, ComputeOptions? compute, Keyed[] buffer, TRecords records, TSink sink)
        where TRecords : struct, IRecords where TSink : struct, IBucketSink
    {
        var offsets = new int[keys + 1];
        if (n == 0) return offsets;
        int bits = keys <= 1 ? 0 : 32 - System.Numerics.BitOperations.LeadingZeroCount((uint)(keys - 1));
        int shift = Math.Max(0, bits - BucketBits);
        int buckets = ((keys - 1) >> shift) + 1;
        int parts = Parallelism.ReductionParts(n, n, buckets);
        var next = new int[parts * buckets];
        Parallelism.ForParts(n, parts, compute, (part, a, b) =>
        {
            records.Count(a, b, next.AsSpan(part * buckets, buckets), shift);
        });
        var bucketStart = new int[buckets + 1];
        int run = 0;
        for (int k = 0; k < buckets; k++)
        {
            bucketStart[k] = run;
            for (int part = 0; part < parts; part++)
            {
                int c = next[part * buckets + k];
                next[part * buckets + k] = run;
                run += c;
            }
        }
        bucketStart[buckets] = run;
        Parallelism.ForParts(n, parts, compute, (part, a, b) =>
        {
            records.Scatter(a, b, next.AsSpan(part * buckets, buckets), buffer, shift);
        });
        int width = 1 << shift;
        Parallelism.For(buckets, n, compute, (b0, b1) =>
        {
            var starts = new int[width + 1];
            var fill = new int[width];
            Keyed[] scratch = [];
            for (int b = b0; b < b1; b++)
            {
                int from = bucketStart[b], size = bucketStart[b + 1] - from;
                int k0 = b << shift, kc = Math.Min(keys - k0, width);
                var s = starts.AsSpan(0, kc + 1);
                s.Clear();
                var bucket = buffer.AsSpan(from, size);
                for (int q = 0; q < bucket.Length; q++) s[bucket[q].Key - k0 + 1]++;
                for (int j = 0; j < kc; j++) s[j + 1] += s[j];
                for (int j = 0; j < kc; j++) { offsets[k0 + j] = from + s[j]; fill[j] = s[j]; }
                if (scratch.Length < size) scratch = new Keyed[Math.Max(size, 2 * scratch.Length)];
                var grouped = scratch.AsSpan(0, size);
                for (int q = 0; q < bucket.Length; q++) grouped[fill[bucket[q].Key - k0]++] = bucket[q];
                sink.Write(from, grouped, s);
            }
        });
        offsets[keys] = n;
        return offsets;
    }

    /// <summary>Stable sort of one task's answers by worker (then label), which are in input order.</summary>
    private static void SortTask(Span<Keyed> answers, bool byLabel)
    {
        if (answers.Length <= 32)
        {
            for (int i = 1; i < answers.Length; i++)
            {
                var key = answers[i];
                int j = i - 1;
                while (j >= 0 && (answers[j].Other > key.Other || (byLabel && answers[j].Other == key.Other && answers[j].Label > key.Label)))
                {
                    answers[j + 1] = answers[j];
                    j--;
                }
                answers[j + 1] = key;
            }
            return;
        }
        // A task with many answers: a comparison sort made stable by the input row.
        answers.Sort((a, b) =>
        {
            int c = a.Other.CompareTo(b.Other);
            if (c == 0 && byLabel) c = a.Label.CompareTo(b.Label);
            return c != 0 ? c : a.Source.CompareTo(b.Source);
        });
    }

    /// <summary>The vocabulary in natural order, with <paramref name="indexes"/> (first <paramref name="n"/>) remapped to it.</summary>
    private static Vocabulary Canonical(Vocabulary seen, int[] indexes, int n)
    {
        var sorted = seen.InNaturalOrder(out int[] map);
        if (map.Length == 0) return sorted;
        for (int i = 0; i < n; i++) indexes[i] = map[indexes[i]];
        return sorted;
    }
}

/// <summary>
/// Answers in input order as (task, worker, class) index columns held in consecutive segments — the parallel reader's
/// chunks as they were parsed, so they are never copied into one array; input row r is in the segment s with
/// <c>Starts[s] ≤ r &lt; Starts[s + 1]</c>, at <c>r − Starts[s]</c>. A segment's arrays may be longer than it.
/// </summary>
internal readonly record struct AnswerColumns(int[][] Tasks, int[][] Workers, int[][] Labels, int[] Starts)
{
    /// <summary>The number of answers.</summary>
    public int Count => Starts[^1];

    /// <summary>The first <paramref name="n"/> answers of three arrays as one segment.</summary>
    public static AnswerColumns Single(int[] t, int[] w, int[] l, int n) => new([t], [w], [l], [0, n]);

    /// <summary>The segment holding row <paramref name="row"/> (&lt; <see cref="Count"/>): the last whose start is ≤ it.</summary>
    public int SegmentOf(int row)
    {
        int lo = 0, hi = Starts.Length - 2;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) >> 1;
            if (Starts[mid] <= row) lo = mid;
            else hi = mid - 1;
        }
        return lo;
    }
}
