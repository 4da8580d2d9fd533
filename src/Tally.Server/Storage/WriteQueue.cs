using System.Data.Common;
using System.Threading.Channels;

namespace Tally.Server.Storage;

/// <summary>
/// A kind of write whose queued items can run together: the items of the same <see cref="BulkWork{TInput, TResult}"/>
/// in a group are handed to <see cref="Run"/> at once, so that a run of, say, 64 answers costs a handful of
/// statements instead of a dozen per answer. Each item still succeeds or fails on its own: <see cref="Run"/> sets one
/// result or one refusal per input, and writes nothing of a refused input.
/// </summary>
/// <typeparam name="TInput">What one item asks for.</typeparam>
/// <typeparam name="TResult">What one item gets back.</typeparam>
public abstract class BulkWork<TInput, TResult>
{
    /// <summary>
    /// Runs <paramref name="inputs"/> in their order, as if each ran after the ones before it, inside the group's
    /// transaction. Sets <paramref name="results"/>[i] to the result of input i, or to the exception that refuses it
    /// (and then writes nothing of it). Throws only when the run as a whole failed (a database error): the queue then
    /// undoes the run and runs each input alone, in its own savepoint.
    /// </summary>
    /// <param name="connection">The writer's connection.</param>
    /// <param name="transaction">The group's transaction.</param>
    /// <param name="inputs">The items, in queue order (at least one).</param>
    /// <param name="results">One slot per input.</param>
    public abstract void Run(DbConnection connection, DbTransaction transaction, IReadOnlyList<TInput> inputs, (TResult? Value, Exception? Error)[] results);
}

/// <summary>
/// Every write of the service goes through one queue served by one connection: the items waiting when the writer is
/// free are run in one transaction (group commit), each inside its own savepoint so one refused item does not undo
/// the others. The writer commits to the log without waiting for the disk and hands the group to a second thread,
/// which flushes the log (one fsync for every group committed since its last flush) and only then answers the
/// group's callers: nobody is told of a write before it is on disk, and the fsync is off the writer's path — while
/// one flush runs, the writer runs and commits the next groups. SQLite never sees two writers. The items of one <see cref="BulkWork{TInput, TResult}"/>
/// in a group are put next to each other and run together, in one savepoint.
/// </summary>
public sealed class WriteQueue : IAsyncDisposable
{
    private interface IBulk
    {
        object Key { get; }
        void Run(DbConnection c, DbTransaction tx, IReadOnlyList<Item> items, List<(object? Value, Exception? Error)> results);
    }

    private sealed class Bulk<TInput, TResult>(BulkWork<TInput, TResult> work) : IBulk
    {
        public BulkWork<TInput, TResult> Work { get; } = work;
        public object Key => Work;

        public void Run(DbConnection c, DbTransaction tx, IReadOnlyList<Item> items, List<(object? Value, Exception? Error)> results)
        {
            var inputs = new TInput[items.Count];
            for (int i = 0; i < items.Count; i++) inputs[i] = (TInput)items[i].Input!;
            var slots = new (TResult? Value, Exception? Error)[items.Count];
            Work.Run(c, tx, inputs, slots);
            foreach (var (value, error) in slots) results.Add((value, error));
        }
    }

    private sealed record Item(Func<DbConnection, DbTransaction, object?> Work, TaskCompletionSource<object?> Done, IBulk? Bulk = null, object? Input = null)
    {
        /// <summary>When the item was queued (for <see cref="Latency"/>).</summary>
        public long Queued { get; } = System.Diagnostics.Stopwatch.GetTimestamp();
    }

    /// <summary>A committed group waiting for the log flush: its callers and what each is to be told.</summary>
    private sealed record Committed(Item[] Items, (object? Value, Exception? Error)[] Results, long Taken, long CommittedAt);

    private readonly Database _db;
    private readonly Channel<Item> _items = Channel.CreateUnbounded<Item>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Channel<Committed> _committed = Channel.CreateUnbounded<Committed>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly Task _writer;
    private readonly int _maxGroup;
    private long _commits, _itemsCommitted, _busyTicks, _commitTicks, _flushes, _flushTicks, _told, _queuedTicks, _runTicks, _flushWaitTicks;

    /// <summary>Starts the writer.</summary>
    /// <param name="db">The database.</param>
    /// <param name="maxGroup">Most items in one transaction.</param>
    public WriteQueue(Database db, int maxGroup = 1024)
    {
        _db = db;
        _maxGroup = maxGroup;
        // Threads of their own: the writer and the flusher block in the database and the disk most of the time, which
        // would take threads from the pool that serves the requests. The flusher answers each committed group once the
        // log is on disk, while the writer goes on with the next.
        _writer = Task.WhenAll(Background("tally write queue", Loop), Background("tally log flusher", FlushLoop));
    }

    private static Task Background(string name, Action loop)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        new Thread(() =>
        {
            try
            {
                loop();
                done.TrySetResult();
            }
            catch (Exception e) { done.TrySetException(e); }
        }) { IsBackground = true, Name = name }.Start();
        return done.Task;
    }

    /// <summary>Log flushes so far (each one fsync, covering every group committed before it).</summary>
    public long Flushes => Interlocked.Read(ref _flushes);

    /// <summary>Time the flusher spent flushing so far.</summary>
    public TimeSpan FlushTime => TimeSpan.FromSeconds((double)Interlocked.Read(ref _flushTicks) / System.Diagnostics.Stopwatch.Frequency);

    /// <summary>
    /// Where the items told so far spent their time, each a mean over items: queued before the writer took its group,
    /// from then to the group's commit, and from the commit to the caller being told (waiting for and in the flush).
    /// </summary>
    public (TimeSpan Queued, TimeSpan Running, TimeSpan Flushing) Latency
    {
        get
        {
            double n = Math.Max(1, Interlocked.Read(ref _told)) * System.Diagnostics.Stopwatch.Frequency;
            return (TimeSpan.FromSeconds(Interlocked.Read(ref _queuedTicks) / n), TimeSpan.FromSeconds(Interlocked.Read(ref _runTicks) / n),
                TimeSpan.FromSeconds(Interlocked.Read(ref _flushWaitTicks) / n));
        }
    }

    /// <summary>Transactions committed so far (to the log; made durable by the next flush).</summary>
    public long Commits => Interlocked.Read(ref _commits);

    /// <summary>Items committed so far.</summary>
    public long ItemsCommitted => Interlocked.Read(ref _itemsCommitted);

    /// <summary>Time the writer spent running groups so far, their commits included (the rest it waited for work).</summary>
    public TimeSpan BusyTime => TimeSpan.FromSeconds((double)Interlocked.Read(ref _busyTicks) / System.Diagnostics.Stopwatch.Frequency);

    /// <summary>Time the writer spent in commits so far (the flush to disk is the flusher's).</summary>
    public TimeSpan CommitTime => TimeSpan.FromSeconds((double)Interlocked.Read(ref _commitTicks) / System.Diagnostics.Stopwatch.Frequency);

    /// <summary>Runs <paramref name="work"/> in the next group's transaction; completes after the commit.</summary>
    public async Task<T> Run<T>(Func<DbConnection, DbTransaction, T> work)
    {
        var done = new TaskCompletionSource<object?>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_items.Writer.TryWrite(new Item((c, t) => work(c, t), done)))
            throw new ObjectDisposedException(nameof(WriteQueue), "The service is stopping.");
        return (T)(await done.Task.ConfigureAwait(false))!;
    }

    /// <summary>
    /// Runs <paramref name="input"/> with <paramref name="work"/> in the next group's transaction, together with the
    /// other items of the same work queued next to it; completes after the commit.
    /// </summary>
    public async Task<TResult> Run<TInput, TResult>(BulkWork<TInput, TResult> work, TInput input)
    {
        ArgumentNullException.ThrowIfNull(work);
        var bulk = new Bulk<TInput, TResult>(work);
        var done = new TaskCompletionSource<object?>(TaskCreationOptions.RunContinuationsAsynchronously);
        Func<DbConnection, DbTransaction, object?> alone = (c, tx) =>
        {
            var slot = new (TResult? Value, Exception? Error)[1];
            work.Run(c, tx, [input], slot);
            return slot[0].Error is { } e ? throw e : slot[0].Value;
        };
        if (!_items.Writer.TryWrite(new Item(alone, done, bulk, input)))
            throw new ObjectDisposedException(nameof(WriteQueue), "The service is stopping.");
        return (TResult)(await done.Task.ConfigureAwait(false))!;
    }

    /// <summary>
    /// Puts the items of each bulk work next to each other (stably: kinds in the order they first appear, items of a
    /// kind in queue order), so that, say, the answers of a group run as one run even when assignments came between
    /// them. The items of a group were all waiting at once, so any order of them is a valid order of execution.
    /// </summary>
    private static void Gather(List<Item> group)
    {
        if (group.Count < 3) return;
        var order = new List<object>();
        var byKind = new Dictionary<object, List<Item>>(ReferenceEqualityComparer.Instance);
        foreach (var item in group)
        {
            object kind = item.Bulk?.Key ?? item;
            if (!byKind.TryGetValue(kind, out var list))
            {
                byKind[kind] = list = [];
                order.Add(kind);
            }
            list.Add(item);
        }
        if (order.Count == group.Count) return;
        group.Clear();
        foreach (var kind in order) group.AddRange(byKind[kind]);
    }

    private static void RunAlone(DbTransaction tx, Item item, DbConnection connection, string savepoint, List<(object? Value, Exception? Error)> results)
    {
        tx.Save(savepoint);
        try
        {
            results.Add((item.Work(connection, tx), null));
            tx.Release(savepoint);
        }
        catch (Exception e)
        {
            tx.Rollback(savepoint);
            results.Add((null, e));
        }
    }

    private void Loop()
    {
        var group = new List<Item>(_maxGroup);
        var results = new List<(object? Value, Exception? Error)>(_maxGroup);
        var run = new List<Item>(_maxGroup);
        DbConnection? connection = null;
        while (_items.Reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            group.Clear();
            while (group.Count < _maxGroup && _items.Reader.TryRead(out var item)) group.Add(item);
            if (group.Count == 0) continue;
            Gather(group);
            results.Clear();
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            try
            {
                connection ??= _db.OpenWriter();
                long commitTicks = RunGroup(connection, group, results, run);
                Interlocked.Add(ref _commitTicks, commitTicks);
                Interlocked.Add(ref _busyTicks, System.Diagnostics.Stopwatch.GetTimestamp() - start);
                Interlocked.Increment(ref _commits);
                Interlocked.Add(ref _itemsCommitted, group.Count);
            }
            catch (Exception e)
            {
                // The commit (or the connection) failed: nothing of this group is durable, so nobody is told it is.
                connection?.Dispose();
                connection = null;
                foreach (var item in group) item.Done.TrySetException(e);
                continue;
            }
            // Committed to the log, not yet on disk: the callers hear after the flusher's next flush.
            _committed.Writer.TryWrite(new Committed([.. group], [.. results], start, System.Diagnostics.Stopwatch.GetTimestamp()));
        }
        _committed.Writer.TryComplete();
        connection?.Dispose();
    }

    /// <summary>Runs <paramref name="group"/> in one transaction and commits it; returns the ticks the commit took.</summary>
    private long RunGroup(DbConnection connection, List<Item> group, List<(object? Value, Exception? Error)> results, List<Item> run)
    {
        var tx = _db.BeginWrite(connection);
        try
        {
            if (group[0].Bulk is { } only && group.TrueForAll(x => x.Bulk is { } k && ReferenceEquals(k.Key, only.Key)))
            {
                // The group is one run (answers only, say, as under load): the transaction is its savepoint — on
                // PostgreSQL two round trips fewer. A failed run undoes the transaction and each item runs alone.
                try
                {
                    only.Run(connection, tx, group, results);
                }
                catch (Exception)
                {
                    tx.Rollback();
                    tx.Dispose();
                    results.Clear();
                    tx = _db.BeginWrite(connection);
                    for (int k = 0; k < group.Count; k++)
                        RunAlone(tx, group[k], connection, "w" + k.ToString(System.Globalization.CultureInfo.InvariantCulture), results);
                }
            }
            else
            {
                for (int i = 0; i < group.Count;)
                {
                    string savepoint = "w" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
                    if (group[i].Bulk is not { } bulk)
                    {
                        RunAlone(tx, group[i], connection, savepoint, results);
                        i++;
                        continue;
                    }
                    run.Clear();
                    for (int j = i; j < group.Count && group[j].Bulk is { } other && ReferenceEquals(other.Key, bulk.Key); j++) run.Add(group[j]);
                    tx.Save(savepoint);
                    int before = results.Count;
                    try
                    {
                        bulk.Run(connection, tx, run, results);
                        tx.Release(savepoint);
                    }
                    catch (Exception)
                    {
                        // The run failed as a whole (a database error): undo it and give each item its own chance,
                        // so that only the item at fault is refused.
                        tx.Rollback(savepoint);
                        results.RemoveRange(before, results.Count - before);
                        for (int k = 0; k < run.Count; k++)
                            RunAlone(tx, run[k], connection, savepoint + "_" + k.ToString(System.Globalization.CultureInfo.InvariantCulture), results);
                    }
                    i += run.Count;
                }
            }
            long committing = System.Diagnostics.Stopwatch.GetTimestamp();
            tx.Commit();
            return System.Diagnostics.Stopwatch.GetTimestamp() - committing;
        }
        finally
        {
            tx.Dispose();
        }
    }

    /// <summary>
    /// Takes every group committed since the last flush, flushes the log once (one fsync for all of them) and only then
    /// answers their callers, in commit order. A failed flush fails the callers of those groups: their writes may or may
    /// not be on disk, and a retry with the same ids finds out without writing twice.
    /// </summary>
    private void FlushLoop()
    {
        using var flusher = _db.CreateFlusher();
        var batch = new List<Committed>();
        while (_committed.Reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            batch.Clear();
            while (_committed.Reader.TryRead(out var c)) batch.Add(c);
            if (batch.Count == 0) continue;
            Exception? failed = null;
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            try { flusher.Flush(); }
            catch (Exception e) { failed = e; }
            Interlocked.Add(ref _flushTicks, System.Diagnostics.Stopwatch.GetTimestamp() - start);
            Interlocked.Increment(ref _flushes);
            long told = System.Diagnostics.Stopwatch.GetTimestamp();
            foreach (var committed in batch)
                for (int i = 0; i < committed.Items.Length; i++)
                {
                    var done = committed.Items[i].Done;
                    if (failed is not null) done.TrySetException(failed);
                    else if (committed.Results[i].Error is { } error) done.TrySetException(error);
                    else done.TrySetResult(committed.Results[i].Value);
                }
            // The latency figures after the callers are told, so the bookkeeping is not on their path.
            foreach (var committed in batch)
            {
                long queued = 0;
                foreach (var item in committed.Items) queued += committed.Taken - item.Queued;
                int n = committed.Items.Length;
                Interlocked.Add(ref _queuedTicks, queued);
                Interlocked.Add(ref _runTicks, n * (committed.CommittedAt - committed.Taken));
                Interlocked.Add(ref _flushWaitTicks, n * (told - committed.CommittedAt));
                Interlocked.Add(ref _told, n);
            }
        }
    }

    /// <summary>Stops taking work and waits for the queued items to be written.</summary>
    public async ValueTask DisposeAsync()
    {
        _items.Writer.TryComplete();
        await _writer.ConfigureAwait(false);
    }
}
