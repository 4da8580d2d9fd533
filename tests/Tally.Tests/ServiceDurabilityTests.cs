using System.Collections.Concurrent;
using System.Net;
using Tally.Service;

namespace Tally.Tests;

/// <summary>
/// Durability with real processes: 32 concurrent workers post answers while the server is killed with SIGKILL at
/// random moments and restarted; every answer that got a 2xx is there afterwards, none twice (clients retry with the
/// same ids). A round close killed midway is either done or not, and the retried close pays exactly once. SQLite and
/// PostgreSQL.
/// </summary>
[Collection("postgres")]
public sealed class ServiceDurabilityTests(PostgresFixture postgres) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-durable-").FullName;

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private const int Workers = 32, Tasks = 1200, Kills = 10;

    [Fact]
    [Trait("Category", "Slow")]
    public Task Sqlite_keeps_every_acknowledged_answer_through_SIGKILLs() => Run(new ServerProcess(Path.Combine(_dir, "data")));

    [PostgresFact]
    [Trait("Category", "Slow")]
    public Task Postgres_keeps_every_acknowledged_answer_through_SIGKILLs() =>
        Run(new ServerProcess(Path.Combine(_dir, "data"), postgres.CreateDatabase("durable_" + Guid.NewGuid().ToString("N")[..12])));

    private static async Task<T> Retry<T>(Func<Task<T>> call, CancellationToken stop)
    {
        for (int attempt = 0; ; attempt++)
        {
            try { return await call(); }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException
                                      || e is TallyServiceException { Status: HttpStatusCode.ServiceUnavailable or HttpStatusCode.InternalServerError })
            {
                // The server is down (killed) or not yet up: the same request again, with the same id.
                if (stop.IsCancellationRequested && attempt > 600) throw;
                await Task.Delay(50, CancellationToken.None);
            }
        }
    }

    private async Task Run(ServerProcess server)
    {
        using var _ = server;
        server.Start();
        using var admin = server.Client(server.AdminKey);
        var requester = await admin.CreateRequesterAsync("durable");
        using var owner = server.Client(requester.Key);
        var project = await owner.CreateProjectAsync(new ProjectSpec { Name = "durable", Classes = ["a", "b"], MinAnswers = 3, MaxAnswers = 3, Mechanism = "oa" });
        await owner.AddTasksAsync(project.Id, [.. Enumerable.Range(0, Tasks).Select(t => new TaskUpload($"t{t}"))]);
        var keys = new List<string>();
        for (int w = 0; w < Workers; w++) keys.Add((await owner.CreateWorkerAsync(project.Id, $"w{w}")).Key);

        var acked = new ConcurrentDictionary<string, AnswerAck>(StringComparer.Ordinal);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        var crowd = Enumerable.Range(0, Workers).Select(w => Task.Run(async () =>
        {
            var rng = new Random(w);
            using var client = new TallyClient(server.BaseAddress, keys[w]);
            while (!stop.IsCancellationRequested)
            {
                var assignment = await Retry(() => client.AssignAsync(project.Id), stop.Token);
                if (assignment is null) break;
                string id = $"w{w}:{assignment.Task}";
                // The label is drawn once: a retry is the same request again (a new label under the same id is a 409).
                string label = rng.Next(2) == 0 ? "a" : "b";
                var ack = await Retry(() => client.AnswerAsync(project.Id, new AnswerPost(id, assignment.Task, label, assignment.Id)), stop.Token);
                Assert.True(acked.TryAdd(id, ack) || acked[id].Round == ack.Round, $"{id} acknowledged twice differently");
            }
        })).ToArray();

        // SIGKILL at random moments while the crowd works.
        var killer = new Random(7);
        int kills = 0;
        while (kills < Kills && crowd.Any(t => !t.IsCompleted))
        {
            await Task.Delay(killer.Next(150, 700));
            server.Kill();
            kills++;
            await Task.Delay(killer.Next(0, 200));
            server.Start();
        }
        await Task.WhenAll(crowd);
        Assert.True(kills >= Kills, $"only {kills} kills happened before the crowd finished");
        Assert.False(stop.IsCancellationRequested, "the crowd did not finish in time");

        var stored = await owner.AnswersAsync(project.Id);
        Assert.Equal(stored.Count, stored.Select(a => (a.Worker, a.Id)).Distinct().Count());
        // Every acknowledged answer is there; and, since clients retried until acknowledged, nothing else is.
        var storedIds = stored.Select(a => a.Id).ToHashSet(StringComparer.Ordinal);
        Assert.All(acked.Keys, id => Assert.Contains(id, storedIds));
        Assert.Equal(acked.Count, stored.Count);
        Assert.Equal(Tasks * 3, stored.Count);
        // No task got more than its 3 answers, none twice from one worker.
        Assert.All(stored.GroupBy(a => a.Task), g => Assert.Equal(3, g.Select(a => a.Worker).Distinct().Count()));

        // A round close killed midway: either closed or not; the retried close pays exactly once.
        var close = owner.CloseRoundAsync(project.Id, 0);
        await Task.Delay(killer.Next(0, 150));
        server.Kill();
        try { await close; } catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException) { }
        server.Start();
        var rounds = await Retry(() => owner.ListRoundsAsync(project.Id), CancellationToken.None);
        Assert.Contains(rounds[0].Status, new[] { "open", "closed" });
        var closed = await Retry(() => owner.CloseRoundAsync(project.Id, 0), CancellationToken.None);
        var again = await owner.CloseRoundAsync(project.Id, 0);
        Assert.Equal(closed, again);
        var payments = await owner.PaymentsAsync(project.Id, 0);
        Assert.Equal(Workers, payments.Count);
        var workers = await owner.ListWorkersAsync(project.Id);
        foreach (var w in workers)
            Assert.Equal(payments.Single(p => p.Worker == w.Worker).Payment, w.TotalPaid, 12);
        Assert.Equal(payments.Sum(p => p.Payment), closed.TotalPaid!.Value, 9);
        Assert.Equal(["closed", "open"], (await owner.ListRoundsAsync(project.Id)).Select(r => r.Status));
    }
}
