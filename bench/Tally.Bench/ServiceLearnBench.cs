using System.Diagnostics;
using System.Globalization;
using Tally.Server;
using Tally.Server.Storage;
using Tally.Service;

namespace Tally.Bench;

/// <summary>
/// <c>service-learn [sqlite|postgres|both] [--tasks 700] [--features 124] [--workers 44] [--classes 10] [--per-task 5]
/// [--answered 0.8] [--method maxmig] [--classifier SPEC] [--repeat 3]</c>: what the learner adds to a round close. Per
/// repeat, two projects get the same tasks and answers through the in-process service (Gaussian blobs, a
/// Dawid-Skene-style crowd of accuracies 0.5–0.9 on the first <c>answered</c> share of the tasks), one without a
/// learner and one with; both round 0s are closed, in alternating order, and the close times are printed paired:
/// engine,repeat,tasks,features,answers,method,close_plain_s,close_learner_s,learner_s,learner_cpu_s,learner_status,load
/// (learner_cpu_s: the process's CPU time of the learner's close minus the plain one's — less sensitive to a loaded
/// machine than the wall times).
/// The first repeat includes the JIT of the learner; read the later ones.
/// </summary>
internal static class ServiceLearnBench
{
    public static async Task<int> Run(string[] args)
    {
        string engines = "sqlite", method = "maxmig";
        string? classifier = null;
        int tasks = 700, features = 124, workers = 44, classes = 10, perTask = 5, repeat = 3;
        double answered = 0.8;
        for (int i = 1; i < args.Length; i++)
        {
            string a = args[i];
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value");
            int Int() => int.Parse(Next(), CultureInfo.InvariantCulture);
            switch (a)
            {
                case "sqlite" or "postgres" or "both": engines = a; break;
                case "--tasks": tasks = Int(); break;
                case "--features": features = Int(); break;
                case "--workers": workers = Int(); break;
                case "--classes": classes = Int(); break;
                case "--per-task": perTask = Int(); break;
                case "--repeat": repeat = Int(); break;
                case "--answered": answered = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--method": method = Next(); break;
                case "--classifier": classifier = Next(); break;
                default: throw new ArgumentException($"unknown argument {a}");
            }
        }
        Console.WriteLine("engine,repeat,tasks,features,answers,method,close_plain_s,close_learner_s,learner_s,learner_cpu_s,learner_status,load");
        foreach (var engine in engines == "both" ? new[] { "sqlite", "postgres" } : [engines])
        {
            string root = Directory.CreateTempSubdirectory("tally-learn-bench-").FullName;
            ServeLoad.PgCluster? pg = null;
            try
            {
                string? cs = null;
                if (engine == "postgres")
                {
                    pg = await ServeLoad.PgCluster.Start();
                    cs = pg.ConnectionString("tally");
                }
                using var db = cs is null ? Database.Sqlite(Path.Combine(root, "tally.db")) : Database.Postgres(cs);
                Migrations.Apply(db);
                await using var service = new TallyService(db, TimeProvider.System);
                var admin = service.Keys.Authenticate((await service.EnsureAdminAsync())!.Key, "bench");
                var owner = service.Keys.Authenticate((await service.CreateRequesterAsync(admin, new NewPrincipal("bench"))).Key, "bench");
                var names = Enumerable.Range(0, classes).Select(c => "c" + c.ToString(CultureInfo.InvariantCulture)).ToArray();
                for (int r = 0; r < repeat; r++)
                {
                    var (x, answers) = Generate(tasks, features, workers, classes, perTask, (int)Math.Round(answered * tasks), seed: 1);
                    var spec = new ProjectSpec { Name = "bench", Classes = names, MinAnswers = perTask, MaxAnswers = perTask };
                    var plain = await Prepare(service, owner, spec, x, answers, names, withFeatures: false);
                    var learner = await Prepare(service, owner, spec with { Learner = new LearnerSpec { Dimension = features, Method = method, Classifier = classifier } },
                        x, answers, names, withFeatures: true);
                    double plainSeconds = 0, learnerSeconds = 0, plainCpu = 0, learnerCpu = 0;
                    RoundView? view = null;
                    foreach (bool learnerFirst in r % 2 == 0 ? new[] { false, true } : [true, false])
                    {
                        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
                        var clock = Stopwatch.StartNew();
                        var v = await service.CloseRoundAsync(owner, learnerFirst ? learner : plain, 0);
                        double cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
                        if (learnerFirst) { learnerSeconds = clock.Elapsed.TotalSeconds; learnerCpu = cpuSeconds; view = v; }
                        else { plainSeconds = clock.Elapsed.TotalSeconds; plainCpu = cpuSeconds; }
                    }
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{engine},{r},{tasks},{features},{answers.Count},{method},{plainSeconds:0.000},{learnerSeconds:0.000},{learnerSeconds - plainSeconds:0.000},{learnerCpu - plainCpu:0.000},{view!.Learner!.Status},{Load()}"));
                }
            }
            finally
            {
                if (pg is not null) await pg.DisposeAsync();
                try { Directory.Delete(root, recursive: true); } catch (IOException) { }
            }
        }
        return 0;
    }

    /// <summary>A project with the tasks (and their features) whose answers are all given through assignments.</summary>
    private static async Task<string> Prepare(TallyService service, Principal owner, ProjectSpec spec, double[][] x,
        List<(int Task, int Worker, int Label)> answers, string[] classes, bool withFeatures)
    {
        var project = (await service.CreateProjectAsync(owner, spec)).Id;
        await service.AddTasksAsync(owner, project, [.. x.Select((row, t) => new TaskUpload("t" + t.ToString(CultureInfo.InvariantCulture), Features: withFeatures ? row : null))]);
        var keys = new Dictionary<int, Principal>();
        foreach (var w in answers.Select(a => a.Worker).Distinct())
            keys[w] = service.Keys.Authenticate((await service.CreateWorkerAsync(owner, project, new NewPrincipal("w" + w.ToString(CultureInfo.InvariantCulture)))).Key, "bench");
        await Parallel.ForEachAsync(answers.GroupBy(a => a.Worker), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (g, _) =>
        {
            foreach (var (t, w, l) in g)
            {
                string task = "t" + t.ToString(CultureInfo.InvariantCulture);
                var a = await service.AssignAsync(keys[w], project, new AssignmentRequest(task));
                await service.AnswerAsync(keys[w], project, [new AnswerPost(task, task, classes[l], a!.Id)]);
            }
        });
        return project;
    }

    /// <summary>Blobs and a crowd on the first <paramref name="answeredTasks"/> tasks (<see cref="LearningBench.Blobs"/>).</summary>
    private static (double[][] X, List<(int Task, int Worker, int Label)> Answers) Generate(int n, int d, int workers, int k, int perTask, int answeredTasks, int seed)
    {
        var (x, _, answers) = LearningBench.Blobs(n, d, workers, k, perTask, answeredTasks, seed);
        return (x, answers);
    }

    private static string Load()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
        catch (IOException) { return "?"; }
    }
}
