using System.Data.Common;
using Tally.Server.Storage;

namespace Tally.Tests;

/// <summary>
/// The service's write queue on its own, over SQLite and a real PostgreSQL: items queued together commit together, a
/// database error in a run refuses only the item at fault (the others commit), plain items and runs mix, and every
/// caller is answered after a log flush, with what it wrote committed.
/// </summary>
[Collection("postgres")]
public sealed class WriteQueueTests(PostgresFixture postgres) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-queue-").FullName;

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    /// <summary>Inserts one row per input with a multi-row insert; a duplicate key fails the whole statement.</summary>
    private sealed class InsertWork : BulkWork<string, string>
    {
        public override void Run(DbConnection connection, DbTransaction transaction, IReadOnlyList<string> inputs, (string? Value, Exception? Error)[] results)
        {
            connection.ExecuteRows(transaction, "INSERT INTO t (id) {select}", [.. inputs.Select(i => new object?[] { i })]);
            for (int i = 0; i < inputs.Count; i++) results[i] = ("stored " + inputs[i], null);
        }
    }

    [Fact]
    public Task Sqlite_refuses_only_the_item_at_fault() => Run(Database.Sqlite(Path.Combine(_dir, "q.db")));

    [PostgresFact]
    public Task Postgres_refuses_only_the_item_at_fault() => Run(Database.Postgres(postgres.CreateDatabase("queue_" + Guid.NewGuid().ToString("N")[..12])));

    private static async Task Run(Database db)
    {
        using var _ = db;
        using (var c = db.Open())
        {
            c.Execute(null, "CREATE TABLE t (id TEXT NOT NULL PRIMARY KEY)");
            c.Execute(null, "INSERT INTO t (id) VALUES ('taken')");
        }
        var queue = new WriteQueue(db);
        var work = new InsertWork();
        // Queued at once, so they run in few groups: 60 inserts, one of them a duplicate, and plain items among them.
        var inserts = Enumerable.Range(0, 60).Select(i => i == 37 ? "taken" : "r" + i).ToArray();
        var runs = new List<Task<string>>();
        var plain = new List<Task<int>>();
        for (int i = 0; i < inserts.Length; i++)
        {
            runs.Add(queue.Run(work, inserts[i]));
            if (i % 20 == 10)
            {
                int k = i;
                plain.Add(queue.Run((c, tx) => k == 30 ? throw new InvalidOperationException("refused") : c.Execute(tx, "INSERT INTO t (id) VALUES (@id)", ("id", "plain" + k))));
            }
        }
        for (int i = 0; i < runs.Count; i++)
        {
            if (i == 37) Assert.True(Database.IsUniqueViolation(await Assert.ThrowsAnyAsync<Exception>(() => runs[i])), "the duplicate is refused as a unique violation");
            else Assert.Equal("stored r" + i, await runs[i]);
        }
        Assert.Equal(1, await plain[0]);
        await Assert.ThrowsAsync<InvalidOperationException>(() => plain[1]);
        Assert.Equal(1, await plain[2]);
        // Runs alone (no plain items to split the group): the group is one run, its failure undoes the whole transaction,
        // and then too only the duplicate is refused.
        var burst = Enumerable.Range(0, 40).Select(i => queue.Run(work, i == 20 ? "r5" : "s" + i)).ToArray();
        for (int i = 0; i < burst.Length; i++)
        {
            if (i == 20) Assert.True(Database.IsUniqueViolation(await Assert.ThrowsAnyAsync<Exception>(() => burst[i])));
            else Assert.Equal("stored s" + i, await burst[i]);
        }
        Assert.True(queue.Flushes >= 1 && queue.Flushes <= queue.Commits, $"{queue.Flushes} flushes for {queue.Commits} commits");
        await queue.DisposeAsync();

        // What was acknowledged is committed; the refused items wrote nothing.
        using var check = db.Open();
        var ids = check.Query(null, "SELECT id FROM t ORDER BY id", r => r.GetString(0)).ToHashSet(StringComparer.Ordinal);
        Assert.Equal(1 + 59 + 2 + 39, ids.Count);
        Assert.Contains("plain10", ids);
        Assert.DoesNotContain("plain30", ids);
        Assert.All(Enumerable.Range(0, 60).Where(i => i != 37), i => Assert.Contains("r" + i, ids));
    }
}
