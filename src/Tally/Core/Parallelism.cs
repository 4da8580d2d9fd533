namespace Tally.Core;

/// <summary>
/// How much of the machine one call may use. It changes how fast a result comes, never the result: work is split into
/// a number of parts fixed by the input alone (<see cref="Parallelism"/>), and parts are combined in a fixed order, so
/// <c>MaxDegreeOfParallelism = 1</c> and <c>= 16</c> give bit-identical output.
/// </summary>
public sealed record ComputeOptions
{
    /// <summary>All cores.</summary>
    public static ComputeOptions Default { get; } = new();

    /// <summary>One thread (e.g. for the inner calls of a lab that is itself parallel over seeds).</summary>
    public static ComputeOptions Sequential { get; } = new() { MaxDegreeOfParallelism = 1 };

    /// <summary>Most threads one call uses; 0 (default) = one per core.</summary>
    public int MaxDegreeOfParallelism { get; init; }

    /// <summary>The thread count to use.</summary>
    public int Threads => MaxDegreeOfParallelism > 0 ? MaxDegreeOfParallelism : Environment.ProcessorCount;

    /// <summary>
    /// Most bytes one call may plan to allocate; 0 (default) = <see cref="MemoryBudget.DefaultFraction"/> of the memory
    /// the runtime may use (<see cref="GC.GetGCMemoryInfo()"/>, which honours container limits). A method whose memory
    /// grows faster than its input (K² per worker for the confusion-matrix methods) estimates its need before it
    /// allocates and refuses with a <see cref="MemoryLimitException"/> above this, instead of paging the machine to a halt.
    /// </summary>
    public long MaxMemoryBytes { get; init; }

    /// <summary>Checks the options.</summary>
    public void Validate()
    {
        Check.AtLeast(MaxDegreeOfParallelism, 0, nameof(MaxDegreeOfParallelism));
        if (MaxMemoryBytes < 0) throw new InvalidOptionException(nameof(MaxMemoryBytes), $"must be at least 0 (got {MaxMemoryBytes})");
    }

    /// <summary>Options for calls nested inside a loop that already runs <paramref name="outerThreads"/> ways in parallel.</summary>
    public ComputeOptions Inner(int outerThreads) => outerThreads <= 1 ? this : Sequential;
}

/// <summary>
/// Parallel loops with a partition that depends on the input only (never on the core count), so sums are added in the
/// same order on every machine.
/// </summary>
public static class Parallelism
{
    /// <summary>Below this much work (≈ inner-loop steps) a loop runs on the calling thread: threads cost more than they save.</summary>
    public const long MinParallelWork = 200_000;

    /// <summary>Most parts a reduction is split into.</summary>
    public const int MaxReductionParts = 16;

    /// <summary>
    /// Runs <paramref name="body"/>(start, end) over [0, n) in contiguous ranges, in parallel when the work is large.
    /// Only for bodies whose outputs do not depend on the partition (each item writes its own slots); for sums use
    /// <see cref="ReductionParts"/> and <see cref="ForParts"/>.
    /// </summary>
    public static void For(int n, long work, ComputeOptions? compute, Action<int, int> body, CancellationToken ct = default)
    {
        int threads = (compute ?? ComputeOptions.Default).Threads;
        int chunks = work < MinParallelWork || threads <= 1 ? 1 : Math.Min(threads * 4, Math.Max(1, n / 64));
        if (chunks <= 1) { ct.ThrowIfCancellationRequested(); body(0, n); return; }
        ParallelFor(chunks, threads, c =>
        {
            int start = (int)((long)n * c / chunks), end = (int)((long)n * (c + 1) / chunks);
            if (end > start) body(start, end);
        }, ct);
    }

    /// <summary>
    /// The number of parts a reduction over n items is split into: a function of the input size only. Each part keeps
    /// its own accumulator of <paramref name="accumulatorSize"/> values, so parts are limited to keep combining them
    /// (parts × size) well below the work itself.
    /// </summary>
    public static int ReductionParts(int n, long work, long accumulatorSize = 1)
    {
        if (work < MinParallelWork || n < 2) return 1;
        long byOverhead = work / Math.Max(1, 4 * accumulatorSize);
        return (int)Math.Clamp(Math.Min(byOverhead, n), 1, MaxReductionParts);
    }

    /// <summary>
    /// Runs <paramref name="body"/>(part, start, end) over [0, n) split into <paramref name="parts"/> equal contiguous
    /// ranges, in parallel up to the thread limit; the caller combines the parts' accumulators in part order.
    /// </summary>
    public static void ForParts(int n, int parts, ComputeOptions? compute, Action<int, int, int> body, CancellationToken ct = default)
    {
        int threads = (compute ?? ComputeOptions.Default).Threads;
        parts = Math.Max(1, parts);
        if (parts == 1 || threads <= 1)
        {
            for (int c = 0; c < parts; c++)
            {
                ct.ThrowIfCancellationRequested();
                body(c, (int)((long)n * c / parts), (int)((long)n * (c + 1) / parts));
            }
            return;
        }
        ParallelFor(parts, threads, c => body(c, (int)((long)n * c / parts), (int)((long)n * (c + 1) / parts)), ct);
    }

    /// <summary>
    /// Runs <paramref name="body"/>(i) for i in [0, n) on up to the thread limit (independent items, e.g. lab seeds).
    /// An exception stops the loop and is rethrown as it was thrown (with its stack), not wrapped in an
    /// <see cref="AggregateException"/>: when several items fail, that of the lowest index, so a bad option gives the
    /// same one error, worded as its thrower meant, with one thread or many.
    /// </summary>
    public static void ForEach(int n, ComputeOptions? compute, Action<int> body, CancellationToken ct = default)
    {
        int threads = (compute ?? ComputeOptions.Default).Threads;
        if (threads <= 1 || n <= 1)
        {
            for (int i = 0; i < n; i++) { ct.ThrowIfCancellationRequested(); body(i); }
            return;
        }
        ParallelFor(n, threads, body, ct);
    }

    /// <summary>
    /// <see cref="Parallel.For(int, int, ParallelOptions, Action{int})"/> that stops at the first exception and rethrows
    /// the one of the lowest index unwrapped (an <see cref="AggregateException"/> would hide the message of a
    /// <see cref="TallyUserException"/> behind "One or more errors occurred").
    /// </summary>
    private static void ParallelFor(int n, int threads, Action<int> body, CancellationToken ct)
    {
        var gate = new object();
        int failedAt = int.MaxValue;
        System.Runtime.ExceptionServices.ExceptionDispatchInfo? failure = null;
        Parallel.For(0, n, new ParallelOptions { CancellationToken = ct, MaxDegreeOfParallelism = threads }, (i, state) =>
        {
            try { body(i); }
            catch (Exception e)
            {
                lock (gate)
                {
                    if (i < failedAt) { failedAt = i; failure = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e); }
                }
                state.Stop();
            }
        });
        failure?.Throw();
    }
}

/// <summary>Progress of work counted in items (agents paid, seeds run, rows read), for progress bars.</summary>
/// <param name="Done">Items done.</param>
/// <param name="Total">Items in all (0 if unknown).</param>
public readonly record struct WorkProgress(long Done, long Total)
{
    /// <summary>Done / Total in [0, 1] (0 when the total is unknown).</summary>
    public double Fraction => Total > 0 ? Math.Clamp((double)Done / Total, 0, 1) : 0;
}
