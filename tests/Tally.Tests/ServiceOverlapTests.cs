using System.Text.Json;
using Tally.Server;
using Tally.Server.Storage;
using Tally.Service;

namespace Tally.Tests;

/// <summary>
/// The assignment order over SQLite and a real PostgreSQL — under-answered tasks first, then dynamic overlap (the least
/// confident below the target, up to maxAnswers, nothing once every task is confident or full) — and migration 6, which
/// gives each task its project's overlap bounds so that the overlap index holds only the tasks in [minAnswers, maxAnswers).
/// </summary>
[Collection("postgres")]
public sealed class ServiceOverlapTests(PostgresFixture postgres) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-overlap-").FullName;

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private Database Sqlite() => Database.Sqlite(Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".db"));
    private Database Postgres() => Database.Postgres(postgres.CreateDatabase("overlap_" + Guid.NewGuid().ToString("N")[..12]));

    [Fact]
    public Task Sqlite_assigns_under_answered_first_then_the_least_confident_up_to_the_maximum() => Order(Sqlite());

    [PostgresFact]
    public Task Postgres_assigns_under_answered_first_then_the_least_confident_up_to_the_maximum() => Order(Postgres());

    private static async Task Order(Database db)
    {
        using var _ = db;
        Migrations.Apply(db);
        await using var service = new TallyService(db, TimeProvider.System);
        var admin = service.Keys.Authenticate((await service.EnsureAdminAsync())!.Key, "test");
        var owner = service.Keys.Authenticate((await service.CreateRequesterAsync(admin, new NewPrincipal("owner"))).Key, "test");
        var project = (await service.CreateProjectAsync(owner, new ProjectSpec
        {
            Name = "overlap", Classes = ["a", "b"], MinAnswers = 2, MaxAnswers = 4, ConfidenceTarget = 0.9, Method = "mv", Mechanism = "oa",
        })).Id;
        await service.AddTasksAsync(owner, project, [new TaskUpload("t0"), new TaskUpload("t1"), new TaskUpload("t2")]);
        var workers = new List<Principal>();
        foreach (var name in new[] { "w1", "w2", "w3", "w4", "w5", "w6" })
            workers.Add(service.Keys.Authenticate((await service.CreateWorkerAsync(owner, project, new NewPrincipal(name))).Key, "test"));

        // The votes each worker gives: t0 and t2 unanimous (confidence 1), t1 split (1/2, then 2/3 after w3).
        var votes = new Dictionary<string, string> { ["t0"] = "a", ["t1"] = "a", ["t2"] = "b" };
        async Task<string?> Next(Principal w, string? label = null)
        {
            var a = await service.AssignAsync(w, project, null);
            if (a is null) return null;
            string vote = label ?? votes[a.Task];
            var ack = await service.AnswerAsync(w, project, [new AnswerPost($"{w.Name}-{a.Task}", a.Task, vote, a.Id)]);
            Assert.Equal("stored", ack[0].Status);
            return a.Task;
        }

        // Under-answered first, fewest answers and then upload order.
        Assert.Equal("t0", await Next(workers[0]));
        Assert.Equal("t1", await Next(workers[0]));
        Assert.Equal("t2", await Next(workers[0]));
        Assert.Equal("t0", await Next(workers[1]));
        Assert.Equal("t1", await Next(workers[1], "b"));
        Assert.Equal("t2", await Next(workers[1]));
        // Every task has minAnswers: only t1 is below the target, so it is re-asked until it has maxAnswers.
        Assert.Equal("t1", await Next(workers[2]));
        var held = await service.AssignAsync(workers[3], project, null);
        Assert.Equal("t1", held!.Task);
        // t1 has 3 answers and one open lease: full, so nobody else gets anything.
        Assert.Null(await service.AssignAsync(workers[4], project, null));
        Assert.Equal("stored", (await service.AnswerAsync(workers[3], project, [new AnswerPost("w4-t1", "t1", "b", held.Id)]))[0].Status);
        Assert.Null(await service.AssignAsync(workers[5], project, null));

        using var c = db.Open();
        var loads = c.Query(null, "SELECT task_id, answers, load_count, overlap_from, overlap_to FROM tasks WHERE project_id = @p ORDER BY seq",
            r => (r.GetString(0), r.Long(1), r.Long(2), r.Long(3), r.Long(4)), ("p", project));
        Assert.Equal([("t0", 2L, 2L, 2L, 4L), ("t1", 4L, 4L, 2L, 4L), ("t2", 2L, 2L, 2L, 4L)], loads);
        // What the overlap index orders by: the confidence itself for every task in the range [minAnswers, maxAnswers).
        Assert.Equal(0, Convert.ToInt64(c.Scalar(null,
            """
            SELECT COUNT(*) FROM tasks WHERE project_id = @p AND load_count >= overlap_from AND load_count < overlap_to
              AND NOT (overlap_confidence = confidence OR (overlap_confidence IS NULL AND confidence IS NULL))
            """, ("p", project)), System.Globalization.CultureInfo.InvariantCulture));

        // A task that enters the overlap range through a lease carries its confidence in with it: one unanimous answer
        // (below minAnswers, so outside the range), then a second worker's lease brings its load to minAnswers — it is
        // confident, so a third worker gets nothing.
        var second = (await service.CreateProjectAsync(owner, new ProjectSpec
        {
            Name = "entering", Classes = ["a", "b"], MinAnswers = 2, MaxAnswers = 3, ConfidenceTarget = 0.9, Method = "mv", Mechanism = "oa",
        })).Id;
        await service.AddTasksAsync(owner, second, [new TaskUpload("u")]);
        var crowd = new List<Principal>();
        foreach (var name in new[] { "x1", "x2", "x3" })
            crowd.Add(service.Keys.Authenticate((await service.CreateWorkerAsync(owner, second, new NewPrincipal(name))).Key, "test"));
        var first = await service.AssignAsync(crowd[0], second, null);
        await service.AnswerAsync(crowd[0], second, [new AnswerPost("x1-u", "u", "a", first!.Id)]);
        Assert.Equal("u", (await service.AssignAsync(crowd[1], second, null))?.Task);
        Assert.Null(await service.AssignAsync(crowd[2], second, null));
    }

    [Fact]
    public Task Sqlite_migration_6_gives_existing_tasks_their_projects_overlap_bounds() => Upgrade(Sqlite());

    [PostgresFact]
    public Task Postgres_migration_6_gives_existing_tasks_their_projects_overlap_bounds() => Upgrade(Postgres());

    /// <summary>A database at schema version 5 with two projects' tasks, then migrated to the latest version.</summary>
    private static async Task Upgrade(Database db)
    {
        using var _ = db;
        using (var c = db.Open())
        {
            c.Execute(null, "CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)");
            foreach (var (version, statements) in Migrations.All.Where(m => m.Version <= 5))
            {
                foreach (var statement in statements)
                    c.Execute(null, statement.Replace("{double}", db.DoubleType, StringComparison.Ordinal).Replace("{blob}", db.BlobType, StringComparison.Ordinal));
                c.Execute(null, "INSERT INTO schema_migrations (version, applied_at) VALUES (@v, 0)", ("v", version));
            }
            foreach (var (id, min, max) in new[] { ("p_one", 2, 4), ("p_two", 3, 3) })
            {
                string spec = JsonSerializer.Serialize(new ProjectSpec { Name = id, Classes = ["a", "b"], MinAnswers = min, MaxAnswers = max }, ServiceJson.Options);
                c.Execute(null, "INSERT INTO projects (project_id, owner_id, spec, current_round, created_at, task_count, answer_count) VALUES (@p, 'o', @s, 0, 0, 2, 0)",
                    ("p", id), ("s", spec));
                for (int t = 0; t < 2; t++)
                    c.Execute(null, "INSERT INTO tasks (project_id, task_id, seq, answers, confidence, load_count) VALUES (@p, @t, @s, 0, @c, 0)",
                        ("p", id), ("t", $"t{t}"), ("s", t), ("c", id == "p_one" && t == 0 ? 0.5 : null));
            }
        }
        Assert.Equal([6], Migrations.Apply(db));
        using (var c = db.Open())
        {
            var bounds = c.Query(null, "SELECT project_id, task_id, overlap_from, overlap_to, overlap_confidence FROM tasks ORDER BY project_id, task_id",
                r => (r.GetString(0), r.GetString(1), r.Long(2), r.Long(3), r.NullableDouble(4)));
            Assert.Equal([("p_one", "t0", 2L, 4L, 0.5), ("p_one", "t1", 2L, 4L, null), ("p_two", "t0", 3L, 3L, null), ("p_two", "t1", 3L, 3L, null)], bounds);
        }
        Assert.Empty(Migrations.Apply(db));
        await Task.CompletedTask;
    }
}
