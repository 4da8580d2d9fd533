namespace Tally.Core;

/// <summary>
/// The crowd's answers: an immutable sparse task × worker matrix whose entries are class indexes, built once
/// and shared read-only by every algorithm.
/// </summary>
/// <remarks>
/// Answers are stored twice, in compressed-sparse-row form by task (<see cref="TaskOffsets"/>,
/// <see cref="TaskWorkers"/>, <see cref="TaskLabels"/>) and by worker (<see cref="WorkerOffsets"/>,
/// <see cref="WorkerTasks"/>, <see cref="WorkerLabels"/>). The by-worker arrays are made from the by-task ones the
/// first time a method asks for them (majority vote and the fused Dawid-Skene pass never do; the worker degrees alone
/// are a count), the same arrays whoever asks first. The task-ordered position of an answer is its
/// <em>answer id</em>; <see cref="WorkerAnswerIds"/> maps the worker-ordered view back to it, so per-answer
/// state (messages, weights) can be kept in one array and reached from both sides.
/// Within a task, answers keep their input order; within a worker, they are ordered by task index.
/// </remarks>
public sealed class LabelMatrix
{
    private readonly int[] _taskOffsets, _taskWorkers, _taskLabels;
    private readonly WorkerIndex _byWorker;

    internal LabelMatrix(Vocabulary tasks, Vocabulary workers, Vocabulary classes,
        int[] taskOffsets, int[] taskWorkers, int[] taskLabels,
        int[] workerOffsets, int[] workerTasks, int[] workerLabels, int[] workerAnswerIds,
        GoldLabels? gold)
        : this(tasks, workers, classes, taskOffsets, taskWorkers, taskLabels,
            WorkerIndex.Of(new(workerOffsets, workerTasks, workerLabels, workerAnswerIds)), gold)
    {
    }

    internal LabelMatrix(Vocabulary tasks, Vocabulary workers, Vocabulary classes,
        int[] taskOffsets, int[] taskWorkers, int[] taskLabels, WorkerIndex byWorker, GoldLabels? gold)
    {
        Tasks = tasks; Workers = workers; Classes = classes;
        _taskOffsets = taskOffsets; _taskWorkers = taskWorkers; _taskLabels = taskLabels;
        _byWorker = byWorker;
        Gold = gold;
    }

    /// <summary>Task identifiers ↔ task indexes.</summary>
    public Vocabulary Tasks { get; }
    /// <summary>Worker identifiers ↔ worker indexes.</summary>
    public Vocabulary Workers { get; }
    /// <summary>Class names ↔ class indexes.</summary>
    public Vocabulary Classes { get; }

    /// <summary>Number of tasks (rows).</summary>
    public int TaskCount => Tasks.Count;
    /// <summary>Number of workers (columns).</summary>
    public int WorkerCount => Workers.Count;
    /// <summary>K, the number of classes.</summary>
    public int ClassCount => Classes.Count;
    /// <summary>Number of answers (non-empty cells; more if duplicates were kept).</summary>
    public int AnswerCount => _taskWorkers.Length;

    /// <summary>Known true classes for some tasks, clamped by methods that support gold; null if none.</summary>
    public GoldLabels? Gold { get; }

    /// <summary>Row offsets of the by-task index: answers of task t are ids TaskOffsets[t]..TaskOffsets[t+1]-1.</summary>
    public ReadOnlySpan<int> TaskOffsets => _taskOffsets;
    /// <summary>Worker of each answer, in answer-id (task) order.</summary>
    public ReadOnlySpan<int> TaskWorkers => _taskWorkers;
    /// <summary>Class of each answer, in answer-id (task) order.</summary>
    public ReadOnlySpan<int> TaskLabels => _taskLabels;

    /// <summary>Offsets of the by-worker index: worker w's answers are positions WorkerOffsets[w]..WorkerOffsets[w+1]-1.</summary>
    public ReadOnlySpan<int> WorkerOffsets => _byWorker.Offsets;
    /// <summary>Task of each answer, in worker order.</summary>
    public ReadOnlySpan<int> WorkerTasks => _byWorker.Full.Tasks;
    /// <summary>Class of each answer, in worker order.</summary>
    public ReadOnlySpan<int> WorkerLabels => _byWorker.Full.Labels;
    /// <summary>Answer id (position in the by-task arrays) of each answer, in worker order.</summary>
    public ReadOnlySpan<int> WorkerAnswerIds => _byWorker.Full.AnswerIds;

    /// <summary>Number of answers to task <paramref name="task"/>.</summary>
    public int TaskDegree(int task) => _taskOffsets[task + 1] - _taskOffsets[task];
    /// <summary>Number of answers by worker <paramref name="worker"/>.</summary>
    public int WorkerDegree(int worker)
    {
        var offsets = _byWorker.Offsets;
        return offsets[worker + 1] - offsets[worker];
    }

    /// <summary>Workers who answered task <paramref name="task"/>.</summary>
    public ReadOnlySpan<int> WorkersOf(int task) => _taskWorkers.AsSpan(_taskOffsets[task], TaskDegree(task));
    /// <summary>Classes given to task <paramref name="task"/>, aligned with <see cref="WorkersOf"/>.</summary>
    public ReadOnlySpan<int> LabelsOf(int task) => _taskLabels.AsSpan(_taskOffsets[task], TaskDegree(task));
    /// <summary>Tasks answered by worker <paramref name="worker"/>.</summary>
    public ReadOnlySpan<int> TasksOf(int worker) => ByWorker(_byWorker.Full.Tasks, worker);
    /// <summary>Classes given by worker <paramref name="worker"/>, aligned with <see cref="TasksOf"/>.</summary>
    public ReadOnlySpan<int> LabelsBy(int worker) => ByWorker(_byWorker.Full.Labels, worker);

    private ReadOnlySpan<int> ByWorker(int[] column, int worker)
    {
        var offsets = _byWorker.Offsets;
        return column.AsSpan(offsets[worker], offsets[worker + 1] - offsets[worker]);
    }

    /// <summary>The same answers with the given gold labels attached (arrays are shared, not copied).</summary>
    public LabelMatrix WithGold(GoldLabels? gold)
    {
        if (gold is not null && gold.TaskCount != TaskCount)
            throw new ArgumentException($"Gold labels cover {gold.TaskCount} tasks; the matrix has {TaskCount}.", nameof(gold));
        if (gold is not null && gold.ClassCount != ClassCount)
            throw new ArgumentException($"Gold labels use {gold.ClassCount} classes; the matrix has {ClassCount}.", nameof(gold));
        return new LabelMatrix(Tasks, Workers, Classes, _taskOffsets, _taskWorkers, _taskLabels, _byWorker, gold);
    }

    /// <summary>Builds a matrix from integer triples (task, worker, class), in input order; see <see cref="LabelMatrixBuilder"/>.</summary>
    public static LabelMatrix FromTriples(int taskCount, int workerCount, int classCount,
        ReadOnlySpan<int> tasks, ReadOnlySpan<int> workers, ReadOnlySpan<int> labels,
        DuplicatePolicy duplicates = DuplicatePolicy.KeepLast)
    {
        var b = new LabelMatrixBuilder(Vocabulary.Numbered(taskCount), Vocabulary.Numbered(workerCount),
            Vocabulary.Numbered(classCount));
        for (int i = 0; i < tasks.Length; i++) b.Add(tasks[i], workers[i], labels[i]);
        return b.Build(duplicates).Matrix;
    }
}

/// <summary>
/// The by-worker side of a <see cref="LabelMatrix"/>, built on first use: <see cref="Offsets"/> (worker degrees) by
/// a count, <see cref="Full"/> by a stable grouping of the by-task answers. Either is built once, by the first thread
/// that asks (others wait for it); both are defined by the by-task arrays alone.
/// </summary>
internal sealed class WorkerIndex
{
    /// <summary>The by-worker arrays.</summary>
    internal sealed record Arrays(int[] Offsets, int[] Tasks, int[] Labels, int[] AnswerIds);

    private readonly Func<Arrays>? _build;
    private readonly Func<int[]>? _count;
    private Arrays? _arrays;
    private int[]? _offsets;
    private object? _lock;

    private WorkerIndex(Arrays? arrays, Func<Arrays>? build, Func<int[]>? count)
    {
        _arrays = arrays;
        _build = build;
        _count = count;
    }

    /// <summary>An index already built.</summary>
    public static WorkerIndex Of(Arrays arrays) => new(arrays, null, null);

    /// <summary>An index <paramref name="build"/> makes when first needed; <paramref name="count"/> makes its offsets alone.</summary>
    public static WorkerIndex Deferred(Func<Arrays> build, Func<int[]> count) => new(null, build, count);

    /// <summary>The whole index.</summary>
    public Arrays Full => Volatile.Read(ref _arrays) ?? LazyInitializer.EnsureInitialized(ref _arrays, ref _lock, _build!);

    /// <summary>The offsets (the whole index's, once it is built).</summary>
    public int[] Offsets => Volatile.Read(ref _arrays)?.Offsets ?? Volatile.Read(ref _offsets) ?? LazyInitializer.EnsureInitialized(ref _offsets, ref _lock, _count!);
}

/// <summary>What to do when a worker answered the same task more than once.</summary>
public enum DuplicatePolicy
{
    /// <summary>Keep the worker's last answer to the task (input order) and drop the others.</summary>
    KeepLast,
    /// <summary>Keep the worker's first answer and drop the later ones.</summary>
    KeepFirst,
    /// <summary>Keep every answer; methods treat them as independent answers.</summary>
    KeepAll,
    /// <summary>Reject the input.</summary>
    Error,
}

/// <summary>Known classes for a subset of tasks (gold or ground truth), indexed like a <see cref="LabelMatrix"/>'s tasks.</summary>
public sealed class GoldLabels
{
    private readonly int[] _labels;

    /// <summary>Creates gold labels; <paramref name="labels"/>[t] is a class index or -1 where unknown.</summary>
    public GoldLabels(int[] labels, int classCount)
    {
        ArgumentNullException.ThrowIfNull(labels);
        for (int i = 0; i < labels.Length; i++)
        {
            if (labels[i] < -1 || labels[i] >= classCount)
                throw new ArgumentOutOfRangeException(nameof(labels), $"Gold label {labels[i]} of task {i} is not a class index below {classCount}.");
            if (labels[i] >= 0) KnownCount++;
        }
        _labels = (int[])labels.Clone();
        ClassCount = classCount;
    }

    /// <summary>Number of tasks indexed (known or not).</summary>
    public int TaskCount => _labels.Length;
    /// <summary>Number of classes of the matrix these labels belong to.</summary>
    public int ClassCount { get; }
    /// <summary>Number of tasks whose class is known.</summary>
    public int KnownCount { get; }
    /// <summary>The class of task t, or -1.</summary>
    public int this[int task] => _labels[task];
    /// <summary>All labels, -1 where unknown.</summary>
    public ReadOnlySpan<int> Labels => _labels;
}
