using System.Globalization;
using Tally.Application;
using Tally.Core;
using Tally.Service;

namespace Tally.Tests;

/// <summary>
/// The whole service as a data team uses it, over HTTP against a real <c>tally serve</c> process: a project from the
/// bundled dog dataset, its crowd replayed through assignments and answers, a round closed, labels and payments read —
/// and the same numbers as <c>tally aggregate</c> and <c>tally pay</c> on the answers exported from the service.
/// </summary>
[Collection("postgres")]
public sealed class ServiceEndToEndTests(PostgresFixture postgres) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-serve-").FullName;

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    internal static string Dog(string file) => Path.Combine(TestData.RepoRoot, "data", "dog", file);

    /// <summary>Creates a requester, a dog project (ds, ca) with its tasks and workers; returns the owner's client, the project and the worker keys.</summary>
    internal static async Task<(TallyClient Owner, string Project, Dictionary<string, string> WorkerKeys, List<(string Task, string Worker, string Label)> Answers)>
        DogProject(ServerProcess server, string mechanism = "ca", int? limitAnswers = null)
    {
        using var admin = server.Client(server.AdminKey);
        var requester = await admin.CreateRequesterAsync("dog-team");
        var owner = server.Client(requester.Key);
        var answers = File.ReadLines(Dog("answers.csv")).Skip(1).Select(l => l.Split(',')).Select(f => (Task: f[0], Worker: f[1], Label: f[2])).ToList();
        if (limitAnswers is int n) answers = answers.Take(n).ToList();
        var project = await owner.CreateProjectAsync(new ProjectSpec
        {
            Name = "dog", Classes = ["0", "1", "2", "3"], Method = "ds", Mechanism = mechanism, MinAnswers = 10, MaxAnswers = 10,
        });
        var tasks = answers.Select(a => a.Task).Distinct().Select(t => new TaskUpload(t)).ToList();
        var added = await owner.AddTasksAsync(project.Id, tasks);
        Assert.Equal(tasks.Count, added.Added);
        var keys = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var w in answers.Select(a => a.Worker).Distinct()) keys[w] = (await owner.CreateWorkerAsync(project.Id, w)).Key;
        return (owner, project.Id, keys, answers);
    }

    /// <summary>Each worker claims each of its tasks and answers it, workers in parallel.</summary>
    internal static async Task Replay(ServerProcess server, string project, Dictionary<string, string> keys, List<(string Task, string Worker, string Label)> answers)
    {
        await Parallel.ForEachAsync(answers.GroupBy(a => a.Worker), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (g, ct) =>
        {
            using var client = server.Client(keys[g.Key]);
            foreach (var a in g)
            {
                var assignment = await client.AssignAsync(project, a.Task, ct);
                Assert.NotNull(assignment);
                var ack = await client.AnswerAsync(project, new AnswerPost($"{a.Worker}-{a.Task}", a.Task, a.Label, assignment!.Id), ct);
                Assert.Equal("stored", ack.Status);
            }
        });
    }

    [Fact]
    [Trait("Category", "Slow")]
    public Task The_dog_demo_gives_the_labels_of_tally_aggregate_and_the_payments_of_tally_pay() =>
        DogDemo(new ServerProcess(Path.Combine(_dir, "data")));

    [PostgresFact]
    [Trait("Category", "Slow")]
    public Task The_dog_demo_on_postgresql_gives_the_same_numbers() =>
        DogDemo(new ServerProcess(Path.Combine(_dir, "data"), postgres.CreateDatabase("dog_" + Guid.NewGuid().ToString("N")[..12])));

    private async Task DogDemo(ServerProcess server)
    {
        using var _s = server;
        server.Start();
        var (owner, project, keys, answers) = await DogProject(server);
        using var _ = owner;
        await Replay(server, project, keys, answers);

        var round = await owner.CloseRoundAsync(project, 0);
        Assert.Equal("closed", round.Status);
        Assert.Equal(answers.Count, round.Answers);
        // Closing again returns the first result, and pays nobody twice.
        var again = await owner.CloseRoundAsync(project, 0);
        Assert.Equal(round, again);

        // The answers exported are the dataset's answers, in the form tally reads.
        string exported = Path.Combine(_dir, "exported.csv");
        File.WriteAllText(exported, await owner.AnswersCsvAsync(project));
        Assert.Equal(answers.Count + 1, File.ReadAllLines(exported).Length);

        // Labels: the same as `tally aggregate exported.csv --method ds --classes 0,1,2,3`.
        var cli = AggregateJob.Run(new AggregateRequest
        {
            Answers = new InputSource(exported, null), Method = "ds", Format = new AnswerFileOptions(Classes: ["0", "1", "2", "3"]),
            TruthPath = Dog("truth.csv"),
        });
        var labels = new List<LabelView>();
        for (long offset = 0; ; offset += 300)
        {
            var page = await owner.LabelsAsync(project, offset, 300);
            labels.AddRange(page.Items);
            if (labels.Count >= page.Total) break;
        }
        Assert.Equal(cli.Result.Answers.TaskCount, labels.Count);
        var truth = File.ReadLines(Dog("truth.csv")).Skip(1).Select(l => l.Split(',')).ToDictionary(f => f[0], f => f[1]);
        double served = labels.Count(l => truth.TryGetValue(l.Task, out var t) && t == l.Label) / (double)labels.Count(l => truth.ContainsKey(l.Task));
        Assert.Equal((double)cli.Accuracy!.Correct / cli.Accuracy.Evaluated, served, 12);
        for (int t = 0; t < labels.Count; t++)
        {
            int i = cli.Result.Answers.Tasks.IndexOf(labels[t].Task);
            Assert.Equal(cli.Result.Answers.Classes[cli.Result.Labels[i]], labels[t].Label);
            Assert.Equal(cli.Result.Confidence(i), labels[t].Confidence, 12);
        }
        // The CSV has labels.csv's columns.
        var csv = (await owner.LabelsCsvAsync(project)).Split('\n');
        Assert.Equal("task,label,confidence,p_0,p_1,p_2,p_3", csv[0]);

        // Payments: the same as `tally pay exported.csv --mechanism ca --seed 0`.
        var pay = PayJob.Run(new PayRequest { Reports = new InputSource(exported, null), Mechanism = "ca", Seed = 0 });
        var payments = await owner.PaymentsAsync(project, 0);
        Assert.Equal(pay.Result.Reports.WorkerCount, payments.Count);
        foreach (var p in payments)
        {
            int w = pay.Result.Reports.Workers.IndexOf(p.Worker);
            Assert.Equal(pay.Result.Payments[w], p.Payment, 12);
            Assert.Equal(pay.Result.TasksScored[w], p.Tasks);
        }
        Assert.Equal(payments.Sum(p => p.Payment), round.TotalPaid!.Value, 9);

        // A worker sees their own payment and nobody else's.
        var someone = payments[0].Worker;
        using var worker = server.Client(keys[someone]);
        var me = await worker.MeAsync(project);
        Assert.Equal(someone, me.Worker);
        Assert.Equal([someone], me.Payments.Select(p => p.Worker).Distinct());
        Assert.All(await worker.PaymentsAsync(project), p => Assert.Equal(someone, p.Worker));
        Assert.All(await worker.AnswersAsync(project), a => Assert.Equal(someone, a.Worker));

        // The next round is open and the workers' totals carry the payments.
        var rounds = await owner.ListRoundsAsync(project);
        Assert.Equal(["closed", "open"], rounds.Select(r => r.Status));
        var workers = await owner.ListWorkersAsync(project);
        Assert.Equal(payments.Single(p => p.Worker == someone).Payment, workers.Single(w => w.Worker == someone).TotalPaid, 12);
    }

    [Fact]
    [Trait("Category", "Slow")]
    public async Task Reform_rounds_carry_reputations_and_pay_like_tally_pay_with_a_state_file()
    {
        using var server = new ServerProcess(Path.Combine(_dir, "data"));
        server.Start();
        var (owner, project, keys, answers) = await DogProject(server, mechanism: "reform:rptsc");
        using var _ = owner;
        // Two rounds: the first half of the tasks, then the rest.
        var tasks = answers.Select(a => a.Task).Distinct().ToList();
        var first = tasks.Take(tasks.Count / 2).ToHashSet();
        var rounds = new[] { answers.Where(a => first.Contains(a.Task)).ToList(), answers.Where(a => !first.Contains(a.Task)).ToList() };
        string state = Path.Combine(_dir, "campaign.json");
        for (int r = 0; r < 2; r++)
        {
            await Replay(server, project, keys, rounds[r]);
            var view = await owner.CloseRoundAsync(project, r);
            Assert.Equal(rounds[r].Count, view.Answers);
            string file = Path.Combine(_dir, $"round-{r}.csv");
            // The service knows each answer's time from its assignment (TERM weighs by it): the file carries it too.
            var stored = (await owner.AnswersAsync(project)).Where(a => a.Round == r).ToList();
            Assert.Equal(rounds[r].Count, stored.Count);
            Assert.All(stored, a => Assert.False(a.Late));
            File.WriteAllLines(file, ["task,worker,label,seconds", .. stored.Select(a => $"{a.Task},{a.Worker},{a.Label},{NumberFormat.Finite(a.Seconds!.Value)}")]);
            var cli = PayJob.Run(new PayRequest
            {
                Reports = new InputSource(file, null), Mechanism = "reform:rptsc", Seed = 0, Reform = new ReformSettings { StatePath = state, Round = r },
            });
            var served = await owner.PaymentsAsync(project, r);
            var reform = cli.Reform!.Result;
            Assert.Equal(reform.Agents.Length, served.Count);
            foreach (var p in served)
            {
                int w = reform.Agents.IndexOf(p.Worker);
                Assert.True(Math.Abs(reform.Payments[w] - p.Payment) < 1e-12, $"round {r}, {p.Worker}: tally pay {reform.Payments[w]}, served {p.Payment}");
                Assert.Equal(reform.ChancesUsed[w], p.Chances);
                Assert.Equal(cli.Reform!.Campaign.Reputation.Score(p.Worker), p.Reputation!.Value, 12);
                // M* of γ-fairness is kept in the ledger as tally pay computed it, and is never below the payment.
                Assert.True(reform.TasksScored[w] > 0 && p.Optimal is double m && Math.Abs(reform.Optimal!.Value[w] - m) < 1e-12 && m >= p.Payment - 1e-12,
                    $"round {r}, {p.Worker}: M* {p.Optimal} vs tally pay {reform.Optimal!.Value[w]}, payment {p.Payment}");
            }
        }
    }

    [Fact]
    [Trait("Category", "Slow")]
    public async Task A_sharing_session_allocates_like_tally_share_allocate_and_each_agent_reads_only_its_own()
    {
        using var server = new ServerProcess(Path.Combine(_dir, "data"));
        server.Start();
        using var admin = server.Client(server.AdminKey);
        using var owner = server.Client((await admin.CreateRequesterAsync("pool")).Key);
        var p = (await owner.CreateProjectAsync(new ProjectSpec { Name = "pool", Classes = ["x", "y"] })).Id;
        var session = await owner.CreateSharingAsync(p, new SharingSpec(5, 1, 0.01, Seed: 3));
        Assert.Equal("collecting", session.Status);
        var rng = new Random(5);
        var samples = Enumerable.Range(0, 5).ToDictionary(i => $"org{i}", _ => Enumerable.Range(0, 6).Select(_ => 10 + rng.NextDouble()).ToArray());
        var clients = new Dictionary<string, TallyClient>();
        foreach (var (agent, values) in samples)
        {
            clients[agent] = server.Client((await owner.CreateWorkerAsync(p, agent)).Key);
            var before = await Assert.ThrowsAsync<TallyServiceException>(() => clients[agent].AllocationAsync(p, session.Id));
            Assert.Equal(System.Net.HttpStatusCode.Conflict, before.Status);
            await clients[agent].PostSamplesAsync(p, session.Id, values);
        }
        // The same submissions through `tally share allocate`.
        string subs = Path.Combine(_dir, "subs.csv");
        File.WriteAllLines(subs, ["agent,value", .. samples.SelectMany(kv => kv.Value.Select(v => $"{kv.Key},{NumberFormat.Finite(v)}"))]);
        var cli = ShareAllocateJob.Run(new ShareAllocateRequest { SubmissionsPath = subs, Sigma = 1, Cost = 0.01, Seed = 3, OutputDirectory = Path.Combine(_dir, "alloc") });
        foreach (var (agent, client) in clients)
        {
            var mine = await client.AllocationAsync(p, session.Id);
            Assert.Equal(agent, mine.Agent);
            int i = cli.Agents.ToList().IndexOf(agent);
            Assert.Equal(cli.Allocations[i].Z, mine.Clean);
            Assert.Equal(cli.Allocations[i].ZPrime, mine.Noisy);
            Assert.Equal(cli.RecommendedSampleSize, mine.RecommendedSampleSize);
            client.Dispose();
        }
        // The owner is no agent: it reads nobody's allocation.
        var refused = await Assert.ThrowsAsync<TallyServiceException>(() => owner.AllocationAsync(p, session.Id));
        Assert.Equal(System.Net.HttpStatusCode.Forbidden, refused.Status);
    }
}
