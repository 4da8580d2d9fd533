using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Tally.Server;
using Tally.Service;

namespace Tally.Bench;

/// <summary>
/// <c>serve-load [sqlite|postgres|both] [--clients 64] [--seconds 20] [--warmup 3] [--batch 1] [--tasks 200000]
/// [--leases N] [--mode answer|cycle|both] [--max-requests 2000000] [--replicas 1]</c>: the service under load. Starts <c>tally serve</c>
/// in this process (<see cref="ServerHost.Build"/> on 127.0.0.1, a free port, Kestrel over loopback; its request log
/// goes to a file as it would to a redirected stdout), sets up a project with many tasks and one worker per client,
/// then runs one client loop per worker, each with its own HTTP connection:
/// <list type="bullet">
/// <item><c>answer</c>: leases are taken before the clock starts (one named assignment per answer to come), then only
/// answer posts are timed.</item>
/// <item><c>cycle</c>: the whole worker cycle — ask for an assignment (the service picks the task), answer it.</item>
/// </list>
/// Reported over the window after the warm-up: acknowledged answers/s, latency percentiles of the answer requests
/// (and of the assignments in cycle mode), answers per commit (the write queue's transactions) and per log flush
/// (each flush one fsync, covering every group committed since the previous one; nothing is acknowledged before its
/// flush) — SQLite: WAL; PostgreSQL: fsync=on, where the server's own <c>pg_stat_wal.wal_sync</c> count is shown as well. PostgreSQL runs in a throwaway cluster made here (initdb on a
/// free port, removed afterwards). Loops stop at the time limit or after <c>--max-requests</c> requests.
/// </summary>
public static class ServeLoad
{
    private sealed record Settings(int Clients, double Seconds, double Warmup, int Batch, int Tasks, int? Leases, string[] Modes, long MaxRequests, int Replicas);

    /// <summary>Parses the arguments and runs the chosen engines and modes; prints one table row per run.</summary>
    public static async Task<int> Run(string[] args)
    {
        string engines = "both";
        int clients = 64, batch = 1, tasks = 200_000;
        int? leases = null;
        double seconds = 20, warmup = 3;
        long maxRequests = 2_000_000;
        string mode = "both";
        int replicas = 1;
        for (int i = 1; i < args.Length; i++)
        {
            string a = args[i];
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value");
            switch (a)
            {
                case "sqlite" or "postgres" or "both": engines = a; break;
                case "--clients": clients = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--seconds": seconds = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--warmup": warmup = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--batch": batch = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--tasks": tasks = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--leases": leases = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--mode": mode = Next(); break;
                case "--max-requests": maxRequests = long.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--replicas": replicas = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                default:
                    Console.Error.WriteLine($"serve-load: unknown argument {a}\nusage: Tally.Bench serve-load [sqlite|postgres|both] [--clients 64] [--seconds 20] [--warmup 3] [--batch 1] [--tasks 200000] [--leases N] [--mode answer|cycle|both] [--max-requests 2000000] [--replicas 1]");
                    return 2;
            }
        }
        if (replicas < 1 || replicas > 16 || (replicas > 1 && engines != "postgres"))
        {
            Console.Error.WriteLine("serve-load: --replicas 1..16, and more than one only with postgres (SQLite is one process's database)");
            return 2;
        }
        if (clients < 1 || clients > 1000 || batch < 1 || batch > TallyService.MaxBatch || tasks < 1 || seconds <= 0 || warmup < 0)
        {
            Console.Error.WriteLine("serve-load: clients 1..1000, batch 1..10000, tasks ≥ 1, seconds > 0, warmup ≥ 0");
            return 2;
        }
        string[] modes = mode switch { "answer" => ["answer"], "cycle" => ["cycle"], "both" => ["answer", "cycle"], _ => throw new ArgumentException("--mode answer|cycle|both") };
        var settings = new Settings(clients, seconds, warmup, batch, tasks, leases, modes, maxRequests, replicas);
        var stdout = Console.Out;
        stdout.WriteLine($"# serve-load: {clients} clients, {replicas} replica(s), {warmup:0.#} s warm-up + {seconds:0.#} s window, batch {batch}, {tasks:N0} tasks, " +
                         $"{Environment.ProcessorCount} cores, .NET {Environment.Version}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, load average {LoadAverage()}");
        stdout.WriteLine("engine,mode,clients,batch,answers,window_s,answers_per_s,p50_ms,p95_ms,p99_ms,max_ms,assign_p50_ms,assign_p99_ms,commits,answers_per_commit,flushes,answers_per_flush,wal_syncs,errors");
        foreach (var engine in engines == "both" ? new[] { "sqlite", "postgres" } : [engines])
            foreach (var m in modes)
            {
                var row = await RunOne(engine, m, settings, stdout);
                stdout.WriteLine(row);
                stdout.Flush();
            }
        return 0;
    }

    private static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
        catch (IOException) { return "?"; }
    }

    private static async Task<string> RunOne(string engine, string mode, Settings s, TextWriter stdout)
    {
        string root = Directory.CreateTempSubdirectory("tally-serve-load-").FullName;
        PgCluster? pg = null;
        var originalOut = Console.Out;
        var serverLog = new StreamWriter(Path.Combine(root, "server.log")) { AutoFlush = false };
        try
        {
            string? cs = null;
            if (engine == "postgres")
            {
                pg = await PgCluster.Start();
                cs = pg.ConnectionString("tally");
            }
            // The request log goes where a redirected stdout of `tally serve` would: a file.
            Console.SetOut(TextWriter.Synchronized(serverLog));
            // Replicas: as many services over the one database, each with its own write queue and port (in this process,
            // sharing its cores as processes on one machine would); client w talks to replica w mod N.
            var apps = new List<WebApplication>();
            for (int r = 0; r < s.Replicas; r++)
            {
                var replica = ServerHost.Build(new ServerOptions { DataDirectory = Path.Combine(root, "data"), Postgres = cs, Host = "127.0.0.1", Port = 0 }, TextWriter.Null);
                await replica.StartAsync();
                apps.Add(replica);
            }
            var writeQueues = apps.Select(a => a.Services.GetRequiredService<TallyService>().Writes).ToArray();
            var service = new Replicas(writeQueues);
            var uris = apps.Select(a => new Uri(a.Urls.First() + "/")).ToArray();
            var baseUri = uris[0];
            string adminKey = File.ReadAllText(Path.Combine(root, "data", "admin.key")).Trim();
            var clock = Stopwatch.StartNew();

            using var admin = new TallyClient(baseUri, adminKey);
            var requester = await admin.CreateRequesterAsync("load");
            using var owner = new TallyClient(baseUri, requester.Key);
            int overlap = Math.Min(1000, Math.Max(3, s.Clients));
            var project = await owner.CreateProjectAsync(new ProjectSpec
            {
                Name = "load", Classes = ["a", "b", "c"], MinAnswers = overlap, MaxAnswers = overlap, Mechanism = "oa", LeaseSeconds = 24 * 3600,
            });
            const int chunk = 50_000;
            for (int start = 0; start < s.Tasks; start += chunk)
                await owner.AddTasksAsync(project.Id, [.. Enumerable.Range(start, Math.Min(chunk, s.Tasks - start)).Select(t => new TaskUpload($"t{t}"))]);
            var workers = new TallyClient[s.Clients];
            var names = new string[s.Clients];
            for (int w = 0; w < s.Clients; w++)
            {
                names[w] = $"w{w}";
                workers[w] = new TallyClient(uris[w % uris.Length], (await owner.CreateWorkerAsync(project.Id, names[w])).Key);
            }
            stdout.WriteLine($"# {engine}/{mode}: project with {s.Tasks:N0} tasks and {s.Clients} workers in {clock.Elapsed.TotalSeconds:0.0} s");

            // Answer-only: every answer to come gets its lease now (a named assignment), so the window times answers alone.
            var leases = new List<(string Task, string Assignment)>[s.Clients];
            if (mode == "answer")
            {
                int perClient = s.Leases ?? Math.Min(s.Tasks, 3000);
                clock.Restart();
                await Parallel.ForAsync(0, s.Clients, new ParallelOptions { MaxDegreeOfParallelism = s.Clients }, async (w, ct) =>
                {
                    var list = new List<(string, string)>(perClient);
                    for (int j = 0; j < perClient; j++)
                    {
                        string task = $"t{((long)w * perClient + j) % s.Tasks}";
                        var a = await workers[w].AssignAsync(project.Id, task, ct);
                        list.Add((a!.Task, a.Id));
                    }
                    leases[w] = list;
                });
                double took = clock.Elapsed.TotalSeconds;
                stdout.WriteLine($"# {engine}/{mode}: {s.Clients * perClient:N0} leases taken in {took:0.0} s ({s.Clients * perClient / took:0} named assignments/s)");
            }

            // Statistics as autovacuum keeps them in a running service (a fresh cluster has none, and the planner then
            // picks indexes by guesswork): one ANALYZE after the set-up, before the clock starts.
            pg?.Analyze();

            // The timed loops.
            long requests = 0;
            var results = new ClientLog[s.Clients];
            long t0 = Stopwatch.GetTimestamp();
            long warmEnd = t0 + (long)(s.Warmup * Stopwatch.Frequency);
            long deadline = warmEnd + (long)(s.Seconds * Stopwatch.Frequency);
            long commits0 = 0, items0 = 0, wal0 = 0, flushes0 = 0;
            (long WalBytes, long WalFpi, long TaskUpdates, long TaskHot, long LeaseUpdates, long LeaseHot) stats0 = default;
            TimeSpan cpu0 = TimeSpan.Zero, busy0 = TimeSpan.Zero, commit0 = TimeSpan.Zero, flush0 = TimeSpan.Zero;
            bool marked = false;
            var mark = new object();
            void MarkStart()
            {
                lock (mark)
                {
                    if (marked) return;
                    marked = true;
                    commits0 = service.Writes.Commits;
                    flushes0 = service.Writes.Flushes;
                    items0 = service.Writes.ItemsCommitted;
                    wal0 = pg?.WalSyncs() ?? 0;
                    if (pg is not null) stats0 = pg.WriteStats();
                    cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                    busy0 = service.Writes.BusyTime;
                    commit0 = service.Writes.CommitTime;
                    flush0 = service.Writes.FlushTime;
                }
            }
            var marker = Task.Run(async () =>
            {
                // The answers and leases tables were empty at the first ANALYZE; a second one a second into the warm-up
                // gives the planner their shape, as autovacuum would within a minute of a service's start.
                if (pg is not null && s.Warmup >= 2)
                {
                    await Task.Delay(TimeSpan.FromSeconds(1));
                    pg.Analyze("answers, assignments");
                }
                var wait = TimeSpan.FromTicks((warmEnd - Stopwatch.GetTimestamp()) * TimeSpan.TicksPerSecond / Stopwatch.Frequency);
                if (wait > TimeSpan.Zero) await Task.Delay(wait);
                MarkStart();
            });
            var loops = Enumerable.Range(0, s.Clients).Select(w => Task.Run(async () =>
            {
                var log = new ClientLog();
                results[w] = log;
                var client = workers[w];
                int next = 0, answered = 0;
                var queue = leases[w];
                while (Stopwatch.GetTimestamp() < deadline && Interlocked.Increment(ref requests) <= s.MaxRequests)
                {
                    var posts = new List<AnswerPost>(s.Batch);
                    if (mode == "answer")
                    {
                        while (posts.Count < s.Batch && next < queue.Count)
                        {
                            var (task, assignment) = queue[next++];
                            posts.Add(new AnswerPost($"{names[w]}-{answered++}", task, Label(task, w), assignment));
                        }
                        if (posts.Count == 0) { log.RanOut = Stopwatch.GetTimestamp(); break; }
                    }
                    else
                    {
                        long a0 = Stopwatch.GetTimestamp();
                        AssignmentView? a;
                        try { a = await client.AssignAsync(project.Id); }
                        catch (Exception e) when (e is HttpRequestException or TallyServiceException) { log.Errors++; log.LastError = e.Message; continue; }
                        long a1 = Stopwatch.GetTimestamp();
                        if (a0 >= warmEnd) log.AssignLatencies.Add(a1 - a0);
                        if (a is null) { log.RanOut = a1; break; }
                        posts.Add(new AnswerPost($"{names[w]}-{answered++}", a.Task, Label(a.Task, w), a.Id));
                    }
                    long r0 = Stopwatch.GetTimestamp();
                    try
                    {
                        if (posts.Count == 1) await client.AnswerAsync(project.Id, posts[0]);
                        else await client.AnswerBatchAsync(project.Id, posts);
                    }
                    catch (Exception e) when (e is HttpRequestException or TallyServiceException) { log.Errors++; log.LastError = e.Message; continue; }
                    long r1 = Stopwatch.GetTimestamp();
                    if (r0 >= warmEnd && r1 <= deadline) log.Latencies.Add(r1 - r0);
                    if (r1 >= warmEnd && r1 <= deadline) log.Acked += posts.Count;
                }
            })).ToArray();
            await Task.WhenAll(loops);
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var (busy, committing, flushing) = (service.Writes.BusyTime, service.Writes.CommitTime, service.Writes.FlushTime);
            MarkStart();
            await marker;
            long end = Math.Min(deadline, results.Where(r => r.RanOut > 0).Select(r => r.RanOut).DefaultIfEmpty(deadline).Min());
            long commits = service.Writes.Commits - commits0, items = service.Writes.ItemsCommitted - items0, flushes = service.Writes.Flushes - flushes0;
            long walSyncs = pg is null ? -1 : pg.WalSyncs() - wal0;
            double window = Math.Max(1e-9, (double)(end - warmEnd) / Stopwatch.Frequency);
            long acked = results.Sum(r => r.Acked);
            var lat = results.SelectMany(r => r.Latencies).Order().ToArray();
            var alat = results.SelectMany(r => r.AssignLatencies).Order().ToArray();
            int errors = results.Sum(r => r.Errors);
            if (results.Any(r => r.RanOut > 0 && r.RanOut < deadline))
                stdout.WriteLine($"# {engine}/{mode}: some clients ran out of {(mode == "answer" ? "leases" : "tasks")} after {(double)(end - warmEnd) / Stopwatch.Frequency:0.0} s of the window; answers/s is over that part (raise --leases or --tasks)");
            if (errors > 0) stdout.WriteLine($"# {engine}/{mode}: {errors} failed requests, e.g. {results.First(r => r.Errors > 0).LastError}");
            stdout.WriteLine($"# {engine}/{mode}: write queue: {commits:N0} commits of {items:N0} items ({(commits == 0 ? 0 : (double)items / commits):0.0} items per commit); " +
                             $"this process (service + clients) used {(cpu - cpu0).TotalSeconds / Math.Max(1e-9, (double)(Stopwatch.GetTimestamp() - warmEnd) / Stopwatch.Frequency):0.00} cores, " +
                             $"{(acked == 0 ? 0 : (cpu - cpu0).TotalMicroseconds / acked):0} µs CPU per answer; the writer was busy {(busy - busy0).TotalSeconds / window:P0} of the time, " +
                             $"{(commits == 0 ? 0 : (committing - commit0).TotalMilliseconds / commits):0.00} ms per commit; the flusher {(flushing - flush0).TotalSeconds / window:P0}, " +
                             $"{(flushes == 0 ? 0 : (flushing - flush0).TotalMilliseconds / flushes):0.00} ms per flush; an answer's time in the queue (mean, warm-up included) {Lat(service.Writes.Latency)}; load average {LoadAverage()}");
            if (pg is not null)
            {
                // Counters reach pg_stat_* within a second of a backend's transactions; the window's figures are close enough.
                await Task.Delay(1500);
                var st = pg.WriteStats();
                long answers = Math.Max(1, items);
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"# {engine}/{mode}: PostgreSQL wrote {(double)(st.WalBytes - stats0.WalBytes) / answers:0} WAL bytes and {(double)(st.WalFpi - stats0.WalFpi) / answers:0.00} full-page images per item; " +
                    $"tasks updates {st.TaskUpdates - stats0.TaskUpdates:N0} ({(st.TaskUpdates == stats0.TaskUpdates ? 0 : (double)(st.TaskHot - stats0.TaskHot) / (st.TaskUpdates - stats0.TaskUpdates)):P0} HOT), " +
                    $"assignments updates {st.LeaseUpdates - stats0.LeaseUpdates:N0} ({(st.LeaseUpdates == stats0.LeaseUpdates ? 0 : (double)(st.LeaseHot - stats0.LeaseHot) / (st.LeaseUpdates - stats0.LeaseUpdates)):P0} HOT)"));
            }
            foreach (var w in workers) w.Dispose();
            foreach (var a in apps)
            {
                await a.StopAsync();
                await a.DisposeAsync();
            }
            return string.Create(CultureInfo.InvariantCulture,
                $"{engine},{mode},{s.Clients},{s.Batch},{acked},{window:0.0},{acked / window:0},{Ms(lat, 0.50):0.00},{Ms(lat, 0.95):0.00},{Ms(lat, 0.99):0.00},{Ms(lat, 1):0.00}," +
                $"{(alat.Length == 0 ? "" : Ms(alat, 0.50).ToString("0.00", CultureInfo.InvariantCulture))},{(alat.Length == 0 ? "" : Ms(alat, 0.99).ToString("0.00", CultureInfo.InvariantCulture))}," +
                $"{commits},{(commits == 0 ? 0 : (double)acked / commits):0.0},{flushes},{(flushes == 0 ? 0 : (double)acked / flushes):0.0},{(walSyncs < 0 ? "" : walSyncs.ToString(CultureInfo.InvariantCulture))},{errors}");
        }
        finally
        {
            Console.SetOut(originalOut);
            await serverLog.DisposeAsync();
            if (pg is not null) await pg.DisposeAsync();
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    private static string Label(string task, int worker) => (((task.GetHashCode(StringComparison.Ordinal) & 0x7fffffff) + worker) % 5) switch { 0 => "b", 1 => "c", _ => "a" };

    private static string Lat((TimeSpan Queued, TimeSpan Running, TimeSpan Flushing) l) => string.Create(CultureInfo.InvariantCulture,
        $"{(l.Queued + l.Running + l.Flushing).TotalMilliseconds:0.00} ms: queued {l.Queued.TotalMilliseconds:0.00}, group run and commit {l.Running.TotalMilliseconds:0.00}, flush wait and flush {l.Flushing.TotalMilliseconds:0.00}");

    private static double Ms(long[] sorted, double q)
    {
        if (sorted.Length == 0) return double.NaN;
        int i = Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1);
        return sorted[i] * 1000.0 / Stopwatch.Frequency;
    }

    private sealed class ClientLog
    {
        public List<long> Latencies { get; } = new(20_000);
        public List<long> AssignLatencies { get; } = [];
        public long Acked { get; set; }
        public int Errors { get; set; }
        public string? LastError { get; set; }
        public long RanOut { get; set; }
    }

    /// <summary>
    /// A throwaway PostgreSQL 15 cluster for the bench, as <c>tests/Tally.Tests/PostgresFixture.cs</c> makes one: initdb
    /// in a temporary directory, a free port on 127.0.0.1, fsync and synchronous_commit on; run as the <c>postgres</c> OS
    /// user through <c>runuser</c> when we are root. Stopped and deleted when disposed.
    /// </summary>
    internal sealed class PgCluster : IAsyncDisposable
    {
        private const string Bin = "/usr/lib/postgresql/15/bin";
        private const string User = "tally";
        private readonly string _root;
        private readonly string _data;
        private int _port;

        private PgCluster(string root)
        {
            _root = root;
            _data = Path.Combine(root, "data");
        }

        public static async Task<PgCluster> Start()
        {
            if (!File.Exists(Path.Combine(Bin, "initdb"))) throw new InvalidOperationException($"PostgreSQL 15 not found in {Bin}: apt-get install postgresql");
            var c = new PgCluster(Path.Combine("/tmp", "tally-bench-pg-" + Guid.NewGuid().ToString("N")[..12]));
            Directory.CreateDirectory(c._data);
            try
            {
                if (Environment.IsPrivilegedProcess) await c.Exec("chown", ["-R", "postgres:", c._root], asPostgres: false);
                await c.Exec(Path.Combine(Bin, "initdb"), ["-D", c._data, "-A", "trust", "-U", User, "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"], asPostgres: true);
                c._port = FreePort();
                await c.Exec(Path.Combine(Bin, "pg_ctl"), ["-D", c._data, "-l", Path.Combine(c._root, "server.log"), "-w", "-t", "60", "-o",
                    $"-p {c._port} -k '{c._data}' -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=on -c synchronous_commit=on {Environment.GetEnvironmentVariable("TALLY_BENCH_PG_OPTIONS")}", "start"], asPostgres: true);
                await using var conn = new NpgsqlConnection($"Host=127.0.0.1;Port={c._port};Username={User};Database=postgres;Pooling=false");
                await conn.OpenAsync();
                await using var cmd = new NpgsqlCommand("CREATE DATABASE tally", conn);
                await cmd.ExecuteNonQueryAsync();
                return c;
            }
            catch
            {
                await c.DisposeAsync();
                throw;
            }
        }

        public string ConnectionString(string database) => $"Host=127.0.0.1;Port={_port};Username={User};Database={database};Pooling=true;Maximum Pool Size=100";

        /// <summary>Runs ANALYZE on the bench database.</summary>
        public void Analyze(string tables = "")
        {
            using var conn = new NpgsqlConnection(ConnectionString("tally").Replace("Pooling=true", "Pooling=false", StringComparison.Ordinal));
            conn.Open();
            using var cmd = new NpgsqlCommand("ANALYZE " + tables, conn);
            cmd.ExecuteNonQuery();
        }

        /// <summary>
        /// Write volume so far: the server's WAL bytes and full-page images (<c>pg_stat_wal</c>), and the updates of the
        /// tasks and assignments tables with how many of them were heap-only (HOT: no new index entries).
        /// </summary>
        public (long WalBytes, long WalFpi, long TaskUpdates, long TaskHot, long LeaseUpdates, long LeaseHot) WriteStats()
        {
            using var conn = new NpgsqlConnection(ConnectionString("tally").Replace("Pooling=true", "Pooling=false", StringComparison.Ordinal));
            conn.Open();
            using var cmd = new NpgsqlCommand(
                """
                SELECT (SELECT wal_bytes FROM pg_stat_wal)::bigint, (SELECT wal_fpi FROM pg_stat_wal),
                       COALESCE(SUM(n_tup_upd) FILTER (WHERE relname = 'tasks'), 0)::bigint, COALESCE(SUM(n_tup_hot_upd) FILTER (WHERE relname = 'tasks'), 0)::bigint,
                       COALESCE(SUM(n_tup_upd) FILTER (WHERE relname = 'assignments'), 0)::bigint, COALESCE(SUM(n_tup_hot_upd) FILTER (WHERE relname = 'assignments'), 0)::bigint
                FROM pg_stat_user_tables
                """, conn);
            using var r = cmd.ExecuteReader();
            r.Read();
            return (r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4), r.GetInt64(5));
        }

        /// <summary>The server's WAL flushes so far (<c>pg_stat_wal.wal_sync</c>).</summary>
        public long WalSyncs()
        {
            using var conn = new NpgsqlConnection($"Host=127.0.0.1;Port={_port};Username={User};Database=postgres;Pooling=false");
            conn.Open();
            using var cmd = new NpgsqlCommand("SELECT wal_sync FROM pg_stat_wal", conn);
            return Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
        }

        public async ValueTask DisposeAsync()
        {
            NpgsqlConnection.ClearAllPools();
            if (File.Exists(Path.Combine(_data, "postmaster.pid")))
            {
                try { await Exec(Path.Combine(Bin, "pg_ctl"), ["-D", _data, "-m", "immediate", "-w", "stop"], asPostgres: true); }
                catch (InvalidOperationException) { }
            }
            if (Environment.GetEnvironmentVariable("TALLY_BENCH_PG_KEEP_LOG") is { } keep) File.Copy(Path.Combine(_root, "server.log"), keep, overwrite: true);
            try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
        }

        private static int FreePort()
        {
            var l = new TcpListener(IPAddress.Loopback, 0);
            l.Start();
            try { return ((IPEndPoint)l.LocalEndpoint).Port; }
            finally { l.Stop(); }
        }

        private async Task Exec(string program, string[] arguments, bool asPostgres)
        {
            var psi = new ProcessStartInfo { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = _root };
            if (asPostgres && Environment.IsPrivilegedProcess)
            {
                psi.FileName = "runuser";
                foreach (var a in new[] { "-u", "postgres", "--", program }) psi.ArgumentList.Add(a);
            }
            else psi.FileName = program;
            foreach (var a in arguments) psi.ArgumentList.Add(a);
            foreach (var name in psi.Environment.Keys.Where(k => k.StartsWith("PG", StringComparison.Ordinal)).ToList()) psi.Environment.Remove(name);
            psi.Environment["LC_ALL"] = "C";
            using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {program}");
            var output = p.StandardOutput.ReadToEndAsync();
            var error = p.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            await p.WaitForExitAsync(timeout.Token);
            if (p.ExitCode != 0) throw new InvalidOperationException($"{program} failed (exit {p.ExitCode}): {await output}{await error}");
        }
    }
}

/// <summary>The write queues of the replicas of a run, read as one (commits, items, busy and commit time summed).</summary>
internal sealed class Replicas(Tally.Server.Storage.WriteQueue[] queues)
{
    /// <summary>The summed counters, under the names the single-replica code reads.</summary>
    public Replicas Writes => this;
    public long Commits => queues.Sum(q => q.Commits);
    public long ItemsCommitted => queues.Sum(q => q.ItemsCommitted);
    public TimeSpan BusyTime => TimeSpan.FromTicks(queues.Sum(q => q.BusyTime.Ticks) / queues.Length);
    public TimeSpan CommitTime => TimeSpan.FromTicks(queues.Sum(q => q.CommitTime.Ticks));
    public long Flushes => queues.Sum(q => q.Flushes);
    /// <summary>The first replica's (each has its own queue).</summary>
    public (TimeSpan Queued, TimeSpan Running, TimeSpan Flushing) Latency => queues[0].Latency;
    public TimeSpan FlushTime => TimeSpan.FromTicks(queues.Sum(q => q.FlushTime.Ticks) / queues.Length);
}
