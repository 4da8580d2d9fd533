using System.Data.Common;
using System.Threading.Channels;

namespace Tally.Server.Storage;

/// <summary>
/// Every write of the service goes through one queue served by one connection: the items waiting when the writer is
/// free are run in one transaction (group commit), each inside its own savepoint so one refused item does not undo
/// the others, and every caller is answered only after the commit returned. Durability then costs one fsync per
/// group, not per request, and SQLite never sees two writers.
/// </summary>
public sealed class WriteQueue : IAsyncDisposable
{
    private sealed record Item(Func<DbConnection, DbTransaction, object?> Work, TaskCompletionSource<object?> Done);

    private readonly Database _db;
    private readonly Channel<Item> _items = Channel.CreateUnbounded<Item>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writer;
    private readonly int _maxGroup;
    private long _commits, _itemsCommitted;

    /// <summary>Starts the writer.</summary>
    /// <param name="db">The database.</param>
    /// <param name="maxGroup">Most items in one transaction.</param>
    public WriteQueue(Database db, int maxGroup = 1024)
    {
        _db = db;
        _maxGroup = maxGroup;
        _writer = Task.Factory.StartNew(Loop, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
    }

    /// <summary>Transactions committed so far (each one fsync).</summary>
    public long Commits => Interlocked.Read(ref _commits);

    /// <summary>Items committed so far.</summary>
    public long ItemsCommitted => Interlocked.Read(ref _itemsCommitted);

    /// <summary>Runs <paramref name="work"/> in the next group's transaction; completes after the commit.</summary>
    public async Task<T> Run<T>(Func<DbConnection, DbTransaction, T> work)
    {
        var done = new TaskCompletionSource<object?>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_items.Writer.TryWrite(new Item((c, t) => work(c, t), done)))
            throw new ObjectDisposedException(nameof(WriteQueue), "The service is stopping.");
        return (T)(await done.Task.ConfigureAwait(false))!;
    }

    private async Task Loop()
    {
        var group = new List<Item>(_maxGroup);
        var results = new List<(object? Value, Exception? Error)>(_maxGroup);
        DbConnection? connection = null;
        while (await _items.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            group.Clear();
            while (group.Count < _maxGroup && _items.Reader.TryRead(out var item)) group.Add(item);
            if (group.Count == 0) continue;
            results.Clear();
            try
            {
                connection ??= _db.Open();
                using var tx = _db.BeginWrite(connection);
                for (int i = 0; i < group.Count; i++)
                {
                    string savepoint = "w" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
                    tx.Save(savepoint);
                    try
                    {
                        results.Add((group[i].Work(connection, tx), null));
                        tx.Release(savepoint);
                    }
                    catch (Exception e)
                    {
                        tx.Rollback(savepoint);
                        results.Add((null, e));
                    }
                }
                tx.Commit();
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
            for (int i = 0; i < group.Count; i++)
            {
                if (results[i].Error is { } error) group[i].Done.TrySetException(error);
                else group[i].Done.TrySetResult(results[i].Value);
            }
        }
        connection?.Dispose();
    }

    /// <summary>Stops taking work and waits for the queued items to be written.</summary>
    public async ValueTask DisposeAsync()
    {
        _items.Writer.TryComplete();
        await _writer.ConfigureAwait(false);
    }
}
