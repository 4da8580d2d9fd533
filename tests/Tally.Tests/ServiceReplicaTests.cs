using System.Collections.Concurrent;
using System.Net;
using Tally.Service;

namespace Tally.Tests;

/// <summary>
/// Three <c>tally serve</c> replicas over one real PostgreSQL, started at once (they migrate in turn): 32 workers spread
/// their requests over all three; one replica is SIGKILLed mid-run and restarted; rounds close at their deadline on
/// whichever replica gets there first and, at the end, on all three asked at once. Afterwards: no acknowledged answer
/// lost or doubled, every round closed exactly once (one result, one payment per worker and round, totals equal the
/// ledger), and the payments equal those of a single server given the same answers in the same rounds.
/// </summary>
[Collection("postgres")]
public sealed class ServiceReplicaTests(PostgresFixture postgres) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-replicas-").FullName;

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private const int Workers = 32, Tasks = 900;

    private static async Task<T> OnAny<T>(ServerProcess[] replicas, string key, int start, Func<TallyClient, Task<T>> call)
    {
        // The same request on the next replica when one is down: ids make it safe to repeat.
        for (int attempt = 0; ; attempt++)
        {
            using var client = replicas[(start + attempt) % replicas.Length].Client(key);
            try { return await call(client); }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException
                                      || e is TallyServiceException { Status: HttpStatusCode.ServiceUnavailable or HttpStatusCode.InternalServerError })
            {
                if (attempt > 300) throw;
                await Task.Delay(20);
            }
        }
    }

    [PostgresFact]
    [Trait("Category", "Slow")]
    public async Task Replicas_over_one_postgres_lose_nothing_close_each_round_once_and_pay_as_one_server()
    {
        string db = postgres.CreateDatabase("replicas_" + Guid.NewGuid().ToString("N")[..12]);
        string data = Path.Combine(_dir, "data");
        var replicas = Enumerable.Range(0, 3).Select(_ => new ServerProcess(data, db)).ToArray();
        try
        {
            await Task.WhenAll(replicas.Select(r => Task.Run(r.Start)));
            using var admin = replicas[0].Client(replicas[0].AdminKey);
            var requester = await admin.CreateRequesterAsync("team");
            using var owner = replicas[1].Client(requester.Key);
            var spec = new ProjectSpec { Name = "replicated", Classes = ["a", "b"], MinAnswers = 3, MaxAnswers = 3, RoundSeconds = 2 };
            var project = (await owner.CreateProjectAsync(spec)).Id;
            var tasks = Enumerable.Range(0, Tasks).Select(t => new TaskUpload($"t{t}")).ToList();
            await owner.AddTasksAsync(project, tasks);
            var keys = new List<string>();
            for (int w = 0; w < Workers; w++) keys.Add((await owner.CreateWorkerAsync(project, $"w{w:00}")).Key);

            // The crowd: a worker is careful (85 %) or a coin; each request goes to the next replica.
            var truth = tasks.ToDictionary(t => t.Id, t => int.Parse(t.Id[1..], System.Globalization.CultureInfo.InvariantCulture) % 2 == 0 ? "a" : "b");
            var acked = new ConcurrentDictionary<string, AnswerAck>(StringComparer.Ordinal);
            var crowd = Enumerable.Range(0, Workers).Select(w => Task.Run(async () =>
            {
                var rng = new Random(w);
                int next = w;
                while (true)
                {
                    var assignment = await OnAny(replicas, keys[w], next++, c => c.AssignAsync(project));
                    if (assignment is null) break;
                    string id = $"w{w}:{assignment.Task}";
                    string right = truth[assignment.Task], wrong = right == "a" ? "b" : "a";
                    string label = w % 4 == 3 ? (rng.Next(2) == 0 ? "a" : "b") : rng.NextDouble() < 0.85 ? right : wrong;
                    var ack = await OnAny(replicas, keys[w], next++, c => c.AnswerAsync(project, new AnswerPost(id, assignment.Task, label, assignment.Id)));
                    Assert.True(acked.TryAdd(id, ack) || acked[id].Round == ack.Round, $"{id} acknowledged twice in different rounds");
                    await Task.Delay(rng.Next(10, 40));   // a person's pace: the run spans several round deadlines
                }
            })).ToArray();

            // One replica dies mid-run and comes back.
            await Task.Delay(1500);
            replicas[2].Kill();
            await Task.Delay(700);
            replicas[2].Start();
            await Task.WhenAll(crowd);

            // The open round closed on all three at once: one close, the same result everywhere.
            var rounds = await owner.ListRoundsAsync(project);
            int last = rounds[^1].Round;
            var views = await Task.WhenAll(replicas.Select(r => Task.Run(async () =>
            {
                using var c = r.Client(requester.Key);
                return await c.CloseRoundAsync(project, last);
            })));
            Assert.All(views, v => Assert.Equal(views[0], v));

            var stored = await owner.AnswersAsync(project);
            Assert.Equal(Tasks * 3, stored.Count);
            Assert.Equal(acked.Count, stored.Count);
            Assert.All(acked, kv => Assert.Equal(kv.Value.Round, stored.Single(a => a.Id == kv.Key).Round));
            Assert.Equal(stored.Count, stored.Select(a => (a.Worker, a.Id)).Distinct().Count());

            rounds = await owner.ListRoundsAsync(project);
            Assert.True(rounds.Count >= 3, $"rounds {string.Join(", ", rounds.Select(r => $"{r.Round} {r.Status} {r.Answers}"))}: none closed at its deadline");
            var closed = rounds.Where(r => r.Status == "closed").ToList();
            Assert.Equal(rounds.Count - 1, closed.Count);
            var payments = await owner.PaymentsAsync(project);
            foreach (var r in closed)
            {
                var paid = payments.Where(p => p.Round == r.Round).ToList();
                Assert.Equal(paid.Count, paid.Select(p => p.Worker).Distinct().Count());
                Assert.Equal(r.Answers, stored.Count(a => a.Round == r.Round));
                Assert.Equal(r.TotalPaid!.Value, paid.Sum(p => p.Payment), 9);
            }
            foreach (var w in await owner.ListWorkersAsync(project))
                Assert.Equal(payments.Where(p => p.Worker == w.Worker).Sum(p => p.Payment), w.TotalPaid, 9);

            // One server, the same answers in the same rounds, closed by hand: the same payments.
            using var single = new ServerProcess(Path.Combine(_dir, "single"));
            single.Start();
            using var admin1 = single.Client(single.AdminKey);
            using var owner1 = single.Client((await admin1.CreateRequesterAsync("team")).Key);
            var p1 = (await owner1.CreateProjectAsync(spec with { RoundSeconds = null })).Id;
            await owner1.AddTasksAsync(p1, tasks);
            var keys1 = new Dictionary<string, string>(StringComparer.Ordinal);
            for (int w = 0; w < Workers; w++) keys1[$"w{w:00}"] = (await owner1.CreateWorkerAsync(p1, $"w{w:00}")).Key;
            foreach (var r in closed)
            {
                await Task.WhenAll(stored.Where(a => a.Round == r.Round).GroupBy(a => a.Worker).Select(g => Task.Run(async () =>
                {
                    using var c = single.Client(keys1[g.Key]);
                    foreach (var a in g)
                    {
                        var lease = await c.AssignAsync(p1, a.Task);
                        await c.AnswerAsync(p1, new AnswerPost(a.Id, a.Task, a.Label, lease!.Id));
                    }
                })));
                var view = await owner1.CloseRoundAsync(p1, r.Round);
                Assert.Equal(r.Answers, view.Answers);
                var expected = (await owner1.PaymentsAsync(p1, r.Round)).OrderBy(p => p.Worker, StringComparer.Ordinal).Select(p => (p.Worker, Math.Round(p.Payment, 9)));
                var actual = payments.Where(p => p.Round == r.Round).OrderBy(p => p.Worker, StringComparer.Ordinal).Select(p => (p.Worker, Math.Round(p.Payment, 9)));
                Assert.Equal(expected, actual);
            }
        }
        finally
        {
            foreach (var r in replicas) r.Dispose();
        }
    }
}
