using System.Globalization;
using Tally.Application;
using Tally.Service;
using Tally.Simulation;
using Xunit.Abstractions;

namespace Tally.Tests;

/// <summary>
/// <see cref="LiveCrowd"/>: simulated workers answering a real <c>tally serve</c> over HTTP — their answer models, the
/// determinism of their answers whatever the interleaving, the budget, late answerers, the replay of a dataset (the
/// labels of <c>tally aggregate</c>), <c>tally simulate crowd</c>, and the dynamic-overlap experiment of the issue:
/// at the same answer budget, re-asking uncertain tasks labels more tasks right than fixed overlap.
/// </summary>
public sealed class LiveCrowdTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-crowd-").FullName;

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    // ---------------------------------------------------------------- the worker models (no server)

    [Fact]
    public void Answers_accuracies_and_drawn_truth_depend_only_on_seed_worker_and_task()
    {
        for (int t = 0; t < 50; t++)
        {
            string task = "t" + t;
            Assert.Equal(LiveCrowd.DrawnTruth(3, task, 4), LiveCrowd.DrawnTruth(3, task, 4));
            Assert.Equal(LiveCrowd.DrawAnswer(3, CrowdWorkerKind.Noisy, "noisy-2", 0.6, task, 1, 4),
                LiveCrowd.DrawAnswer(3, CrowdWorkerKind.Noisy, "noisy-2", 0.6, task, 1, 4));
        }
        Assert.Equal(LiveCrowd.DrawAccuracy(1, "careful-1", 0.9, 0.05), LiveCrowd.DrawAccuracy(1, "careful-1", 0.9, 0.05));
        Assert.NotEqual(LiveCrowd.DrawAccuracy(1, "careful-1", 0.9, 0.05), LiveCrowd.DrawAccuracy(1, "careful-2", 0.9, 0.05));
        Assert.NotEqual(LiveCrowd.DrawAccuracy(1, "careful-1", 0.9, 0.05), LiveCrowd.DrawAccuracy(2, "careful-1", 0.9, 0.05));
        Assert.Equal(0.9, LiveCrowd.DrawAccuracy(1, "careful-1", 0.9, 0));
    }

    [Fact]
    public void Each_kind_answers_by_its_model()
    {
        const int n = 20_000, k = 4;
        int careful = 0, noisy = 0, flip = 0, constant = 0;
        var spam = new int[k];
        var truthCounts = new int[k];
        var wrong = new int[k];
        for (int i = 0; i < n; i++)
        {
            string task = i.ToString(CultureInfo.InvariantCulture);
            int y = LiveCrowd.DrawnTruth(7, task, k);
            truthCounts[y]++;
            if (LiveCrowd.DrawAnswer(7, CrowdWorkerKind.Careful, "careful-1", 0.9, task, y, k) == y) careful++;
            int a = LiveCrowd.DrawAnswer(7, CrowdWorkerKind.Noisy, "noisy-1", 0.6, task, y, k);
            if (a == y) noisy++;
            else if (y == 0) wrong[a]++;
            spam[LiveCrowd.DrawAnswer(7, CrowdWorkerKind.Spammer, "spammer-1", double.NaN, task, y, k)]++;
            if (LiveCrowd.DrawAnswer(7, CrowdWorkerKind.Colluder, "colluder-1", double.NaN, task, y, k) == (y + 1) % k) flip++;
            if (LiveCrowd.DrawAnswer(7, CrowdWorkerKind.Colluder, "colluder-1", double.NaN, task, y, k, AdversaryStrategy.Constant, 2) == 2) constant++;
        }
        Assert.InRange(careful / (double)n, 0.89, 0.91);
        Assert.InRange(noisy / (double)n, 0.59, 0.61);
        foreach (var c in truthCounts) Assert.InRange(c / (double)n, 0.23, 0.27);
        foreach (var c in spam) Assert.InRange(c / (double)n, 0.23, 0.27);
        // Errors spread evenly over the other classes.
        Assert.Equal(0, wrong[0]);
        for (int c = 1; c < k; c++) Assert.InRange(wrong[c] / (double)(wrong[1] + wrong[2] + wrong[3]), 0.30, 0.37);
        Assert.Equal(n, flip);
        Assert.Equal(n, constant);
    }

    [Fact]
    public void Options_are_checked_before_any_request()
    {
        var o = new LiveCrowdOptions { Server = new Uri("http://127.0.0.1:9/"), Project = "p", OwnerKey = "k", Careful = 1 };
        o.Validate();
        Assert.Equal("Careful", Assert.Throws<InvalidOptionException>(() => (o with { Careful = 0 }).Validate()).Option);
        Assert.Equal("Spammers", Assert.Throws<InvalidOptionException>(() => (o with { Spammers = -1 }).Validate()).Option);
        Assert.Equal("Concurrency", Assert.Throws<InvalidOptionException>(() => (o with { Concurrency = 0 }).Validate()).Option);
        Assert.Equal("AnswerBudget", Assert.Throws<InvalidOptionException>(() => (o with { AnswerBudget = 0 }).Validate()).Option);
        Assert.Equal("CarefulAccuracy", Assert.Throws<InvalidOptionException>(() => (o with { CarefulAccuracy = 1.5 }).Validate()).Option);
        Assert.Equal("AccuracySpread", Assert.Throws<InvalidOptionException>(() => (o with { AccuracySpread = 0.4 }).Validate()).Option);
        Assert.Equal("ColluderStrategy", Assert.Throws<InvalidOptionException>(() => (o with { ColluderStrategy = AdversaryStrategy.Pattern }).Validate()).Option);
        Assert.Equal("ReplayPath", Assert.Throws<InvalidOptionException>(() => (o with { ReplayPath = "a.csv" }).Validate()).Option);
        Assert.Equal("Server", Assert.Throws<InvalidOptionException>(() => (o with { Server = new Uri("ftp://x/") }).Validate()).Option);
        (o with { Careful = 0, ReplayPath = "a.csv" }).Validate();
    }

    // ---------------------------------------------------------------- against a real server

    /// <summary>A requester's client on <paramref name="server"/>.</summary>
    private static async Task<(TallyClient Owner, string Key)> Requester(ServerProcess server, string name)
    {
        using var admin = server.Client(server.AdminKey);
        var r = await admin.CreateRequesterAsync(name);
        return (server.Client(r.Key), r.Key);
    }

    /// <summary>A project with tasks t1..tN.</summary>
    private static async Task<string> Project(TallyClient owner, ProjectSpec spec, int tasks)
    {
        var p = await owner.CreateProjectAsync(spec);
        await owner.AddTasksAsync(p.Id, Enumerable.Range(1, tasks).Select(i => new TaskUpload("t" + i.ToString(CultureInfo.InvariantCulture))).ToList());
        return p.Id;
    }

    private static async Task<List<LabelView>> Labels(TallyClient owner, string project)
    {
        var labels = new List<LabelView>();
        for (long offset = 0; ; offset += 1000)
        {
            var page = await owner.LabelsAsync(project, offset, 1000);
            labels.AddRange(page.Items);
            if (labels.Count >= page.Total) return labels;
        }
    }

    [Fact]
    [Trait("Category", "Slow")]
    public async Task A_rerun_gives_every_worker_the_same_answer_to_a_task_whatever_the_interleaving()
    {
        using var server = new ServerProcess(Path.Combine(_dir, "data"));
        server.Start();
        var (owner, key) = await Requester(server, "team");
        using var _ = owner;
        var spec = new ProjectSpec { Name = "fixed", Classes = ["a", "b", "c"], MinAnswers = 3, MaxAnswers = 3 };
        var runs = new List<(LiveCrowdResult Result, List<AnswerView> Answers)>();
        foreach (int concurrency in new[] { 1, 16 })
        {
            string project = await Project(owner, spec, 60);
            var result = await LiveCrowd.RunAsync(new LiveCrowdOptions
            {
                Server = server.BaseAddress, Project = project, OwnerKey = key, Careful = 3, Noisy = 4, Spammers = 2, Colluders = 1,
                Concurrency = concurrency, Seed = 5,
            });
            var answers = (await owner.AnswersAsync(project)).ToList();
            // Fixed overlap: every task answered exactly three times, by three different workers.
            Assert.Equal(180, result.Answers);
            Assert.Equal(180, answers.Count);
            Assert.All(answers.GroupBy(a => a.Task), g => Assert.Equal(3, g.Select(a => a.Worker).Distinct().Count()));
            Assert.Equal(60, result.Truth.Count);
            Assert.Equal(10, result.Workers);
            Assert.Equal(result.Answers, result.Kinds.Sum(k => k.Answers));
            Assert.False(result.BudgetReached);
            runs.Add((result, answers));
        }
        Assert.Equal(runs[0].Result.Truth, runs[1].Result.Truth);
        // The interleaving decides who answers what; a (worker, task) pair in both runs has the same label.
        var first = runs[0].Answers.ToDictionary(a => (a.Worker, a.Task), a => a.Label);
        int common = 0;
        foreach (var a in runs[1].Answers)
            if (first.TryGetValue((a.Worker, a.Task), out var label)) { common++; Assert.Equal(label, a.Label); }
        Assert.True(common > 0);
        // The colluder flips the truth: never right.
        var truth = runs[1].Result.Truth;
        string[] classes = ["a", "b", "c"];
        Assert.All(runs[1].Answers.Where(a => a.Worker == "colluder-1"),
            a => Assert.Equal(classes[(Array.IndexOf(classes, truth[a.Task]) + 1) % 3], a.Label));
    }

    [Fact]
    [Trait("Category", "Slow")]
    public async Task The_budget_stops_the_crowd_and_late_answerers_are_marked_late()
    {
        using var server = new ServerProcess(Path.Combine(_dir, "data"));
        server.Start();
        var (owner, key) = await Requester(server, "team");
        using var _ = owner;
        string project = await Project(owner, new ProjectSpec { Name = "late", Classes = ["0", "1"], MinAnswers = 2, MaxAnswers = 2, DeadlineSeconds = 1.5 }, 40);
        var options = new LiveCrowdOptions { Server = server.BaseAddress, Project = project, OwnerKey = key, Careful = 4, Late = 2, AnswerBudget = 25, Seed = 1 };
        var result = await LiveCrowd.RunAsync(options);
        Assert.True(result.BudgetReached);
        Assert.Equal(25, result.Answers);
        var answers = await owner.AnswersAsync(project);
        Assert.Equal(25, answers.Count);
        var late = answers.Where(a => a.Worker.StartsWith("late-", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(late);
        Assert.All(late, a => Assert.True(a.Late));
        Assert.All(answers.Where(a => a.Worker.StartsWith("careful-", StringComparison.Ordinal)), a => Assert.False(a.Late));
        Assert.Equal(late.Count, result.LateAnswers);
        Assert.Equal(late.Count, result.Kinds.Single(k => k.Kind == CrowdWorkerKind.Late).Answers);

        // The same worker names on the same project: refused, with the reason.
        var again = await Assert.ThrowsAsync<TallyUserException>(() => LiveCrowd.RunAsync(options));
        Assert.Contains("has a worker named", again.Message);
        // A project without a deadline has no late answers to simulate; a wrong key is refused before any worker.
        string plain = await Project(owner, new ProjectSpec { Name = "plain", Classes = ["0", "1"] }, 5);
        Assert.Equal("Late", (await Assert.ThrowsAsync<InvalidOptionException>(() => LiveCrowd.RunAsync(options with { Project = plain }))).Option);
        var refused = await Assert.ThrowsAsync<TallyUserException>(() => LiveCrowd.RunAsync(options with { Project = plain, OwnerKey = "tally_wrong", Late = 0 }));
        Assert.Contains("401", refused.Message);
        Assert.Empty(await owner.ListWorkersAsync(plain));
    }

    [Fact]
    [Trait("Category", "Slow")]
    public async Task Replaying_the_dog_answers_gives_the_labels_of_tally_aggregate()
    {
        using var server = new ServerProcess(Path.Combine(_dir, "data"));
        server.Start();
        var (owner, key) = await Requester(server, "dog-team");
        using var _ = owner;
        string answersPath = ServiceEndToEndTests.Dog("answers.csv");
        var tasks = File.ReadLines(answersPath).Skip(1).Select(l => l.Split(',')[0]).Distinct().Select(t => new TaskUpload(t)).ToList();
        var project = await owner.CreateProjectAsync(new ProjectSpec { Name = "dog", Classes = ["0", "1", "2", "3"], Method = "ds", Mechanism = "ca" });
        await owner.AddTasksAsync(project.Id, tasks);

        // Through the command, as the README's demo runs it.
        var (code, stdout, err) = CliTests.Run("simulate", "crowd", "--server", server.BaseAddress.ToString(), "--project", project.Id, "--key", key,
            "--replay", answersPath);
        Assert.True(code == 0, err);
        output.WriteLine(stdout);
        int rows = File.ReadLines(answersPath).Count() - 1;
        Assert.Contains($"{rows:N0} answers in", stdout);
        Assert.Contains("replayed", stdout);
        await owner.CloseRoundAsync(project.Id, 0);

        var cli = AggregateJob.Run(new AggregateRequest
        {
            Answers = new InputSource(answersPath, null), Method = "ds", Format = new AnswerFileOptions(Classes: ["0", "1", "2", "3"]),
        });
        var labels = await Labels(owner, project.Id);
        Assert.Equal(cli.Result.Answers.TaskCount, labels.Count);
        foreach (var l in labels)
        {
            int i = cli.Result.Answers.Tasks.IndexOf(l.Task);
            Assert.Equal(cli.Result.Answers.Classes[cli.Result.Labels[i]], l.Label);
            Assert.Equal(cli.Result.Confidence(i), l.Confidence, 9);
        }
    }

    [Fact]
    public void The_command_refuses_bad_options_with_one_line()
    {
        var (code, _, err) = CliTests.Run("simulate", "crowd", "--server", "http://127.0.0.1:9", "--project", "p", "--key", "k");
        Assert.Equal(2, code);
        Assert.Contains("--careful and the other counts are all 0", err);
        (code, _, err) = CliTests.Run("simulate", "crowd", "--server", "nowhere", "--project", "p", "--key", "k", "--careful", "2");
        Assert.Equal(2, code);
        Assert.Contains("--server must be an http:// or https:// address", err);
        (code, _, err) = CliTests.Run("simulate", "crowd", "--server", "http://127.0.0.1:9", "--project", "p", "--key", "k", "--replay", "a.csv", "--careful", "2");
        Assert.Equal(2, code);
        Assert.Contains("--careful applies to simulated workers", err);
        (code, _, err) = CliTests.Run("simulate", "crowd", "--server", "http://127.0.0.1:9", "--project", "p", "--key", "k", "--careful", "2", "--colluder-strategy", "constant");
        Assert.Equal(2, code);
        Assert.Contains("--colluder-strategy applies to colluders", err);
        (code, _, err) = CliTests.Run("simulate", "crowd", "--server", "http://127.0.0.1:9", "--project", "p", "--key", "k", "--careful", "2", "--concurrency", "0");
        Assert.Equal(2, code);
        Assert.Contains("--concurrency must be in 1..1024", err);
    }

    // ---------------------------------------------------------------- the experiment

    /// <summary>
    /// Per seed, two projects on one server answered by the same simulated crowd (the same workers, accuracies, truth
    /// and answer to any (worker, task) pair) with the same budget of tasks × 3 answers: fixed overlap (3 answers per
    /// task) and dynamic overlap (2 answers per task, then the tasks whose majority share is below 0.9 re-asked, up to
    /// 5). Round 0 is closed with majority vote (the projects' method) and each project's labels scored against the
    /// truth; Dawid-Skene on the same answers (<c>tally aggregate --method ds</c>) is reported beside it.
    /// </summary>
    [Fact]
    [Trait("Category", "Slow")]
    public async Task Dynamic_overlap_labels_more_tasks_right_than_fixed_overlap_at_the_same_budget()
    {
        const int Tasks = 300, Budget = Tasks * 3;
        string[] classes = ["0", "1", "2"];
        using var server = new ServerProcess(Path.Combine(_dir, "data"));
        server.Start();
        var (owner, key) = await Requester(server, "overlap");
        using var _ = owner;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var rows = new List<(int Seed, double[] Mv, double[] Ds, int Reasked)>();
        foreach (int seed in new[] { 1, 2, 3, 4, 5 })
        {
            var population = new LiveCrowdOptions
            {
                Server = server.BaseAddress, Project = "", OwnerKey = key, Careful = 8, CarefulAccuracy = 0.85, Noisy = 18, NoisyAccuracy = 0.65,
                AccuracySpread = 0.1, Spammers = 4, AnswerBudget = Budget, Seed = seed,
            };
            double[] mv = new double[2], ds = new double[2];
            int reasked = 0;
            foreach (var (arm, name, min, max) in new[] { (0, "fixed", 3, 3), (1, "dynamic", 2, 5) })
            {
                string project = await Project(owner, new ProjectSpec
                {
                    Name = $"{name}-{seed}", Classes = classes, MinAnswers = min, MaxAnswers = max, ConfidenceTarget = 0.9, Method = "mv", Seed = seed,
                }, Tasks);
                var result = await LiveCrowd.RunAsync(population with { Project = project });
                Assert.Equal(Budget, result.Answers);
                Assert.Equal(Tasks, result.Truth.Count);
                await owner.CloseRoundAsync(project, 0);
                var labels = await Labels(owner, project);
                Assert.Equal(Tasks, labels.Count);
                mv[arm] = labels.Count(l => result.Truth[l.Task] == l.Label) / (double)Tasks;

                var answers = await owner.AnswersAsync(project);
                Assert.Equal(Budget, answers.Count);
                if (name == "fixed") Assert.All(answers.GroupBy(a => a.Task), g => Assert.Equal(3, g.Count()));
                else
                {
                    Assert.All(answers.GroupBy(a => a.Task), g => Assert.InRange(g.Count(), 2, 5));
                    reasked = answers.GroupBy(a => a.Task).Count(g => g.Count() > min);
                }
                string exported = Path.Combine(_dir, $"{project}.csv");
                File.WriteAllText(exported, await owner.AnswersCsvAsync(project));
                var fit = AggregateJob.Run(new AggregateRequest { Answers = new InputSource(exported, null), Method = "ds", Format = new AnswerFileOptions(Classes: classes) });
                ds[arm] = Enumerable.Range(0, fit.Result.Answers.TaskCount)
                    .Count(i => result.Truth[fit.Result.Answers.Tasks[i]] == fit.Result.Answers.Classes[fit.Result.Labels[i]]) / (double)Tasks;
            }
            rows.Add((seed, mv, ds, reasked));
        }
        output.WriteLine($"{Tasks} tasks, K = 3, a budget of {Budget} answers; 8 careful (0.85) + 18 noisy (0.65) workers (spread 0.1) + 4 spammers; {clock.Elapsed.TotalSeconds:0.0} s");
        output.WriteLine("| seed | mv, fixed (3) | mv, dynamic (2–5) | ds, fixed (3) | ds, dynamic (2–5) | tasks re-asked |");
        output.WriteLine("|---|---|---|---|---|---|");
        static string P(double x) => (100 * x).ToString("0.0", CultureInfo.InvariantCulture) + "%";
        foreach (var r in rows) output.WriteLine($"| {r.Seed} | {P(r.Mv[0])} | {P(r.Mv[1])} | {P(r.Ds[0])} | {P(r.Ds[1])} | {r.Reasked} |");
        double[] Mean(Func<(int, double[] Mv, double[] Ds, int), double[]> f) => [rows.Average(r => f(r)[0]), rows.Average(r => f(r)[1])];
        var mvMean = Mean(r => r.Mv);
        var dsMean = Mean(r => r.Ds);
        output.WriteLine($"| mean | {P(mvMean[0])} | {P(mvMean[1])} | {P(dsMean[0])} | {P(dsMean[1])} | |");
        Assert.True(mvMean[1] > mvMean[0], $"dynamic overlap {P(mvMean[1])} is not above fixed overlap {P(mvMean[0])} (majority vote, mean of 5 seeds)");
    }
}
