using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Tally.Server;
using Tally.Server.Storage;
using Tally.Service;

namespace Tally.Bench;

/// <summary>
/// <c>dashboard [sqlite|postgres|both] [--tasks 200000] [--per-task 5] [--workers 1000] [--repeat 20]</c>: page render
/// times of the dashboard on a large project. Builds a project of tasks × per-task answers (1,000,000 by default) —
/// tasks and the project through the service, the answers written straight into the answers table in one transaction
/// (the assignment protocol would take minutes and changes nothing for reading) — closes round 0 through the service
/// (a real fit and payment of all the answers, which fills the labels, workers and payments), then starts
/// <c>tally serve</c> in this process (<see cref="ServerHost.Build"/>, loopback, a free port), signs in through the
/// sign-in form and times each page over HTTP: median, 95th percentile and worst of <c>--repeat</c> loads after two
/// warm-up loads, the page's size, and the bytes the process allocated per load (a page that read all the rows would
/// allocate hundreds of megabytes).
/// </summary>
public static partial class DashboardBench
{
    /// <summary>Runs the bench; prints one table per engine.</summary>
    public static async Task<int> Run(string[] args)
    {
        string engines = "sqlite";
        int tasks = 200_000, perTask = 5, workers = 1000, repeat = 20;
        for (int i = 1; i < args.Length; i++)
        {
            string a = args[i];
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value");
            switch (a)
            {
                case "sqlite" or "postgres" or "both": engines = a; break;
                case "--tasks": tasks = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--per-task": perTask = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--workers": workers = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--repeat": repeat = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                default:
                    Console.Error.WriteLine($"dashboard: unknown argument {a}\nusage: Tally.Bench dashboard [sqlite|postgres|both] [--tasks 200000] [--per-task 5] [--workers 1000] [--repeat 20]");
                    return 2;
            }
        }
        if (tasks < 1 || perTask < 1 || workers < perTask || repeat < 1)
        {
            Console.Error.WriteLine("dashboard: tasks ≥ 1, per-task ≥ 1, workers ≥ per-task, repeat ≥ 1");
            return 2;
        }
        foreach (var engine in engines == "both" ? new[] { "sqlite", "postgres" } : [engines])
            await RunOne(engine, tasks, perTask, workers, repeat);
        return 0;
    }

    private static async Task RunOne(string engine, int tasks, int perTask, int workers, int repeat)
    {
        string root = Directory.CreateTempSubdirectory("tally-dashboard-bench-").FullName;
        string data = Path.Combine(root, "data");
        ServeLoad.PgCluster? pg = null;
        var originalOut = Console.Out;
        try
        {
            string? cs = null;
            if (engine == "postgres")
            {
                pg = await ServeLoad.PgCluster.Start();
                cs = pg.ConnectionString("tally");
            }
            var clock = Stopwatch.StartNew();
            string projectId, requesterKey;
            var db = cs is null ? Database.Sqlite(Path.Combine(data, "tally.db")) : Database.Postgres(cs);
            Migrations.Apply(db);
            await using (var service = new TallyService(db, TimeProvider.System))
            {
                var admin = (await service.EnsureAdminAsync())!;
                var adminWho = service.Keys.Authenticate(admin.Key, "bench");
                var requester = await service.CreateRequesterAsync(adminWho, new NewPrincipal("bench"));
                requesterKey = requester.Key;
                var owner = service.Keys.Authenticate(requester.Key, "bench");
                string[] classes = ["a", "b", "c"];
                var project = await service.CreateProjectAsync(owner, new ProjectSpec { Name = "bench", Classes = classes, MinAnswers = perTask, MaxAnswers = perTask });
                projectId = project.Id;
                for (int start = 0; start < tasks; start += 100_000)
                    await service.AddTasksAsync(owner, projectId, [.. Enumerable.Range(start, Math.Min(100_000, tasks - start)).Select(t => new TaskUpload($"t{t}"))]);
                WriteCrowd(db, projectId, tasks, perTask, workers, classes.Length);
                Console.WriteLine($"# {engine}: {tasks:N0} tasks, {(long)tasks * perTask:N0} answers of {workers:N0} workers written in {clock.Elapsed.TotalSeconds:0.0} s");
                pg?.Analyze();
                clock.Restart();
                var round = await service.CloseRoundAsync(owner, projectId, 0);
                Console.WriteLine($"# {engine}: round 0 closed (ds fit of every answer, ca payments of {round.Workers:N0} workers) in {clock.Elapsed.TotalSeconds:0.0} s");
            }
            db.Dispose();
            pg?.Analyze();

            // The service as `tally serve` runs it; its request log goes to a file, as a redirected stdout would.
            using var serverLog = new StreamWriter(Path.Combine(root, "server.log"));
            Console.SetOut(TextWriter.Synchronized(serverLog));
            var app = ServerHost.Build(new ServerOptions { DataDirectory = data, Postgres = cs, Host = "127.0.0.1", Port = 0 }, TextWriter.Null);
            await using var _app = app;
            await app.StartAsync();
            var baseUri = new Uri(app.Urls.First() + "/");
            var jar = new CookieContainer();
            using var http = new HttpClient(new HttpClientHandler { CookieContainer = jar, AllowAutoRedirect = false }) { BaseAddress = baseUri };
            string signin = await http.GetStringAsync("ui/signin");
            string token = WebUtility.HtmlDecode(Token().Match(signin).Groups[1].Value);
            var signedIn = await http.PostAsync("ui/signin", new FormUrlEncodedContent([new("key", requesterKey), new("_token", token)]));
            if (signedIn.StatusCode != HttpStatusCode.Redirect) throw new InvalidOperationException($"sign-in: {(int)signedIn.StatusCode}");

            string p = "ui/projects/" + projectId;
            long pages = (tasks + 49) / 50;
            var cases = new (string Name, string Path)[]
            {
                ("labels, first page", p + "/labels"),
                ("labels, middle page", p + $"/labels?offset={pages / 2 * 50}"),
                ("labels, last page", p + $"/labels?offset={(pages - 1) * 50}"),
                ("labels, least confident first", p + "/labels?sort=confidence"),
                ("labels, confidence < 0.9, most confident first", p + "/labels?below=0.9&sort=-confidence"),
                ("labels, by task id, middle page", p + $"/labels?sort=id&offset={pages / 2 * 50}"),
                ("overview", p),
                ("workers", p + "/workers"),
                ("rounds", p + "/rounds"),
            };
            var rows = new List<string>();
            foreach (var (name, path) in cases)
            {
                var times = new List<double>();
                long bytes = 0, allocated = 0;
                for (int i = 0; i < repeat + 2; i++)
                {
                    long alloc0 = GC.GetTotalAllocatedBytes(precise: false);
                    var t = Stopwatch.StartNew();
                    using var response = await http.GetAsync(path);
                    var body = await response.Content.ReadAsByteArrayAsync();
                    t.Stop();
                    if (response.StatusCode != HttpStatusCode.OK) throw new InvalidOperationException($"{path}: {(int)response.StatusCode}");
                    if (i < 2) continue;
                    times.Add(t.Elapsed.TotalMilliseconds);
                    bytes = body.Length;
                    allocated += GC.GetTotalAllocatedBytes(precise: false) - alloc0;
                }
                times.Sort();
                rows.Add($"| {name} | {Q(times, 0.5):0.0} | {Q(times, 0.95):0.0} | {times[^1]:0.0} | {bytes / 1024.0:0} | {allocated / repeat / 1024.0 / 1024.0:0.0} |");
            }
            Console.SetOut(originalOut);
            Console.WriteLine($"# {engine}: {tasks:N0} tasks, {(long)tasks * perTask:N0} answers; {repeat} loads per page after 2 warm-up loads; load average {Load()}");
            Console.WriteLine("| page | median ms | p95 ms | worst ms | page KiB | MiB allocated per load |");
            Console.WriteLine("|---|---|---|---|---|---|");
            foreach (var r in rows) Console.WriteLine(r);
        }
        finally
        {
            Console.SetOut(originalOut);
            if (pg is not null) await pg.DisposeAsync();
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>Each task answered by <paramref name="perTask"/> distinct workers; worker w is right with probability 0.6–0.95, else answers uniformly.</summary>
    private static void WriteCrowd(Database db, string project, int tasks, int perTask, int workers, int classes)
    {
        using var c = db.Open();
        using var tx = db.BeginWrite(c);
        long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        c.ExecuteRows(tx, "INSERT INTO principals (project_id, id, role, name, created_by, created_at) {select}",
            [.. Enumerable.Range(0, workers).Select(w => new object?[] { project, $"w_bench{w}", "worker", $"w{w}", "bench", now })]);
        var rng = new Random(1);
        var rows = new List<object?[]>(50_000);
        long seq = 0;
        int stride = Math.Max(1, workers / perTask);
        for (int t = 0; t < tasks; t++)
        {
            int truth = t % classes;
            for (int j = 0; j < perTask; j++)
            {
                int w = (t + j * stride) % workers;
                double accuracy = 0.6 + 0.35 * w / workers;
                int label = rng.NextDouble() < accuracy ? truth : rng.Next(classes);
                rows.Add([project, $"w{w}", $"a{t}-{j}", $"t{t}", ((char)('a' + label)).ToString(), 0, null, now - (tasks - t) * 10L, 12.5, 0, seq++]);
                if (rows.Count == 50_000)
                {
                    Flush(c, tx, rows);
                    rows.Clear();
                }
            }
        }
        Flush(c, tx, rows);
        c.Execute(tx, "UPDATE tasks SET answers = @n, load_count = @n WHERE project_id = @p", ("n", perTask), ("p", project));
        c.Execute(tx, "UPDATE projects SET answer_count = @n WHERE project_id = @p", ("n", seq), ("p", project));
        tx.Commit();
    }

    private static void Flush(System.Data.Common.DbConnection c, System.Data.Common.DbTransaction tx, List<object?[]> rows) =>
        c.ExecuteRows(tx, "INSERT INTO answers (project_id, worker_id, answer_id, task_id, label, round, assignment_id, answered_at, seconds, late, seq) {select}", rows);

    private static double Q(List<double> sorted, double q) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(q * sorted.Count) - 1)];

    private static string Load()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
        catch (IOException) { return "?"; }
    }

    [GeneratedRegex("name=\"_token\" value=\"([^\"]+)\"")]
    private static partial Regex Token();
}
