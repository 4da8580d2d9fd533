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
        Vocabulary tasks = _tasks ?? Canonical(_taskB!.Build(), _t, n);
        Vocabulary workers = _workers ?? Canonical(_workerB!.Build(), _w, n);
        Vocabulary classes = _classes ?? (_classOrder == ClassOrder.Sorted ? Canonical(_classB!.Build(), _l, n) : _classB!.Build());
        int T = tasks.Count, W = workers.Count, K = classes.Count;

        // Stable sorts, least significant key first: (label, when every answer is kept), worker, task. Within a task
        // the answers are by worker; sorting that order stably by worker gives each worker's answers by task, with
        // repeated (task, worker) pairs adjacent and, unless every answer is kept, in input order.
        // Two buffers serve all three passes, so building costs no more memory than the two indexes it keeps.
        int[] scratch = new int[n], byTask = new int[n];
        int[]? byLabel = duplicates == DuplicatePolicy.KeepAll ? StableOrder(_l, n, K, null, byTask) : null;
        StableOrder(_w, n, W, byLabel, scratch);
        StableOrder(_t, n, T, scratch, byTask);
        int[] byWorker = StableOrder(_w, n, W, byTask, scratch);

        bool[]? drop = null;
        int dropped = 0;
        if (duplicates != DuplicatePolicy.KeepAll)
        {
            for (int i = 1; i < n; i++)
            {
                int a = byWorker[i - 1], b = byWorker[i];
                if (_w[a] != _w[b] || _t[a] != _t[b]) continue;
                if (duplicates == DuplicatePolicy.Error)
                {
                    long la = _lines?[a] ?? 0, lb = _lines?[b] ?? 0;
                    throw new DuplicateAnswerException(
                        $"worker {Quote.Value(workers[_w[b]])} answered task {Quote.Value(tasks[_t[b]])} more than once", la, lb);
                }
                drop ??= new bool[n];
                // a precedes b in input order; keep-last drops the earlier one of each adjacent pair.
                drop[duplicates == DuplicatePolicy.KeepLast ? a : b] = true;
                dropped++;
            }
        }

        int m = n - dropped;
        var taskOffsets = new int[T + 1];
        var taskWorkers = new int[m];
        var taskLabels = new int[m];
        var answerId = new int[n];
        int pos = 0;
        for (int i = 0; i < n; i++)
        {
            int r = byTask[i];
            if (drop is not null && drop[r]) { answerId[r] = -1; continue; }
            taskOffsets[_t[r] + 1]++;
            taskWorkers[pos] = _w[r];
            taskLabels[pos] = _l[r];
            answerId[r] = pos++;
        }
        for (int t = 0; t < T; t++) taskOffsets[t + 1] += taskOffsets[t];

        var workerOffsets = new int[W + 1];
        var workerTasks = new int[m];
        var workerLabels = new int[m];
        var workerAnswerIds = new int[m];
        pos = 0;
        for (int i = 0; i < n; i++)
        {
            int r = byWorker[i];
            if (drop is not null && drop[r]) continue;
            workerOffsets[_w[r] + 1]++;
            workerTasks[pos] = _t[r];
            workerLabels[pos] = _l[r];
            workerAnswerIds[pos++] = answerId[r];
        }
        for (int w = 0; w < W; w++) workerOffsets[w + 1] += workerOffsets[w];

        var matrix = new LabelMatrix(tasks, workers, classes, taskOffsets, taskWorkers, taskLabels,
            workerOffsets, workerTasks, workerLabels, workerAnswerIds, null);
        return new LabelMatrixBuild(gold is null ? matrix : matrix.WithGold(gold), dropped);
    }

    /// <summary>The vocabulary in natural order, with <paramref name="indexes"/> (first <paramref name="n"/>) remapped to it.</summary>
    private static Vocabulary Canonical(Vocabulary seen, int[] indexes, int n)
    {
        var sorted = seen.InNaturalOrder(out int[] map);
        if (map.Length == 0) return sorted;
        for (int i = 0; i < n; i++) indexes[i] = map[indexes[i]];
        return sorted;
    }

    /// <summary>
    /// Stable counting sort of the rows (in <paramref name="order"/>, or 0..n-1) by <paramref name="key"/>, into
    /// <paramref name="result"/> (which must not be <paramref name="order"/>).
    /// </summary>
    private static int[] StableOrder(int[] key, int n, int keyCount, int[]? order, int[] result)
    {
        var start = new int[keyCount + 1];
        for (int i = 0; i < n; i++) start[key[i] + 1]++;
        for (int k = 0; k < keyCount; k++) start[k + 1] += start[k];
        for (int i = 0; i < n; i++)
        {
            int r = order is null ? i : order[i];
            result[start[key[r]]++] = r;
        }
        return result;
    }
}
