using Tally.Catalogs;
using System.Diagnostics;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using Tally.Aggregation;
using Tally.Simulation;

namespace Tally.Bench;

/// <summary>
/// Benchmarks. Two modes:
///   timed  — one configuration per process (so peak memory is that run's): generate a synthetic Dawid-Skene crowd in
///            memory, time the method, print one CSV line: method,labels,classes,iterations,seconds,labels_iter_per_s,peak_mb,accuracy,cpu_s,
///            max_gap_s (the longest time without a progress report).
///            bench/run.sh loops over configurations.
///   learn  — one joint learning-from-crowds run (Max-MIG, Crowd Layer) on synthetic features; see LearningBench.
///   serve-load — the HTTP service under load (SQLite and PostgreSQL); see ServeLoad.
///   dashboard — page render times of the web dashboard on a 1M-answer project; see DashboardBench.
///   service-learn — what the service's learner adds to a round close (paired with and without); see ServiceLearnBench.
///   bdn    — BenchmarkDotNet micro-benchmarks of the EM loop on 1M labels (statistically sound, slower).
/// </summary>
public static class Program
{
    /// <summary>
    /// <c>fuzz READER|all INPUTS [SEED=1] [THREADS=cores]</c>: runs <see cref="ReaderFuzz"/> and prints one CSV line per
    /// reader (reader,inputs,parsed,rejected,seconds,slowest_ms,findings), then each finding with its input in base64.
    /// Exit code 1 when anything was found.
    /// </summary>
    private static int Fuzz(string[] args)
    {
        var readers = args[1] == "all" ? ReaderFuzz.Readers : [args[1]];
        long n = long.Parse(args[2], CultureInfo.InvariantCulture);
        int seed = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 1;
        int threads = args.Length > 4 ? int.Parse(args[4], CultureInfo.InvariantCulture) : Environment.ProcessorCount;
        Console.WriteLine("reader,inputs,parsed,rejected,seconds,slowest_ms,findings");
        int found = 0;
        foreach (var reader in readers)
        {
            var report = ReaderFuzz.Run(reader, n, seed, threads);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{reader},{report.Inputs},{report.Parsed},{report.Rejected},{report.Elapsed.TotalSeconds:0.0},{report.SlowestMilliseconds:0.0},{report.Findings.Count}"));
            foreach (var f in report.Findings)
                Console.WriteLine($"  {f.Kind}: {f.Detail}\n    input (base64): {Convert.ToBase64String(f.Input.Length > 4096 ? f.Input[..4096] : f.Input)}{(f.Input.Length > 4096 ? $" … ({f.Input.Length:N0} bytes)" : "")}");
            found += report.Findings.Count;
        }
        return found == 0 ? 0 : 1;
    }

    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "bdn")
        {
            BenchmarkRunner.Run<EmBenchmarks>(args: args[1..]);
            return 0;
        }
        if (args.Length == 4 && args[0] == "pay")
        {
            // pay MECHANISM AGENTS TASKS: time one payment run on a truthful symmetric Dawid-Skene profile.
            int n = int.Parse(args[2], CultureInfo.InvariantCulture), m = int.Parse(args[3], CultureInfo.InvariantCulture);
            var profile = new PeerReportSimulator().Generate(new PeerReportScenario { Agents = n, Tasks = m, Classes = 2, Accuracy = 0.8, Seed = 1 });
            var info = Tally.Catalogs.MechanismCatalog.Find(args[1])!;
            info.Create(0).Pay(new PeerReportSimulator().Generate(new PeerReportScenario { Agents = 20, Tasks = 200 }).Reports);
            var c = Stopwatch.StartNew();
            var r = info.Create(1).Pay(profile.Reports);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{args[1]},{n},{m},{profile.Reports.AnswerCount},{c.Elapsed.TotalSeconds:0.000},{r.MeanPayment:0.0000},{Process.GetCurrentProcess().PeakWorkingSet64 >> 20}"));
            return 0;
        }
        if (args.Length >= 1 && args[0] == "serve-load") return ServeLoad.Run(args).GetAwaiter().GetResult();
        if (args.Length >= 1 && args[0] == "dashboard") return DashboardBench.Run(args).GetAwaiter().GetResult();
        if (args.Length >= 1 && args[0] == "service-learn") return ServiceLearnBench.Run(args).GetAwaiter().GetResult();
        if (args.Length >= 2 && args[0] == "learn") return LearningBench.Run(args);
        if (args.Length >= 1 && args[0] == "dense-kernels") return DenseKernelBench.Run(args);
        if (args.Length >= 3 && args[0] == "fuzz") return Fuzz(args);
        if (args.Length == 2 && args[0] == "read")
        {
            // The parallel reader (AnswerFiles.ReadAnswers of a path) three times (the first includes JIT), then the
            // streaming reader alone, on the same file.
            long bytes = new FileInfo(args[1]).Length;
            for (int i = 0; i < 3; i++)
            {
                var c = Stopwatch.StartNew();
                var m = Tally.Core.AnswerFiles.ReadAnswers(args[1], null, null, null, Environment.GetEnvironmentVariable("CHUNK") is { } ch ? int.Parse(ch, CultureInfo.InvariantCulture) : Tally.Core.AnswerIngest.DefaultChunkBytes);
                double s1 = c.Elapsed.TotalSeconds;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"ReadAnswers (parallel): {s1:0.000} s, {bytes / s1 / 1e6:0} MB/s, {m.Matrix.AnswerCount:N0} answers"));
            }
            {
                var c = Stopwatch.StartNew();
                using var stream = File.OpenRead(args[1]);
                var m = Tally.Core.AnswerFiles.ReadAnswers(stream, args[1]);
                double s1 = c.Elapsed.TotalSeconds;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"ReadAnswers (streaming): {s1:0.000} s, {bytes / s1 / 1e6:0} MB/s"));
            }
            return 0;
        }
        if (args.Length == 2 && args[0] == "write")
        {
            // labels.csv and workers.csv of a majority vote over FILE, three times (the first includes JIT).
            var m = Tally.Core.AnswerFiles.ReadAnswers(args[1]).Matrix;
            var mv = new Tally.Aggregation.MajorityVote().Aggregate(m);
            string dir = Path.Combine(Path.GetTempPath(), "tally-bench-write-" + Environment.ProcessId);
            for (int i = 0; i < 3; i++)
            {
                var c = Stopwatch.StartNew();
                Tally.Application.AggregationWriter.Write(mv, dir, Tally.Core.OutputFormat.Csv);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"write labels.csv + workers.csv: {c.Elapsed.TotalSeconds:0.000} s for {m.TaskCount:N0} tasks, {m.WorkerCount:N0} workers"));
            }
            Directory.Delete(dir, recursive: true);
            return 0;
        }
        if (args.Length < 3 || args[0] != "timed")
        {
            Console.Error.WriteLine("usage: Tally.Bench timed METHOD LABELS [CLASSES=2] [ITERATIONS=20] | Tally.Bench bdn [BenchmarkDotNet args]");
            return 2;
        }
        string method = args[1];
        int labels = int.Parse(args[2], CultureInfo.InvariantCulture);
        int k = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 2;
        int iterations = args.Length > 4 ? int.Parse(args[4], CultureInfo.InvariantCulture) : 20;
        const int perTask = 5;
        var crowd = new DawidSkeneSimulator().Generate(new DawidSkeneScenario
        {
            Tasks = labels / perTask, Workers = Environment.GetEnvironmentVariable("TALLY_BENCH_WORKERS") is { } wv ? int.Parse(wv, CultureInfo.InvariantCulture) : Math.Max(100, labels / 5000),
            PerTask = perTask, Classes = k, Accuracy = 0.7, Seed = 1,
        });
        // The longest wait between two progress reports (or from the start to the first / the last to the end): a
        // progress bar that does not move for seconds is what a user sees of a slow phase without reports.
        var gaps = new List<double>();
        var sinceReport = Stopwatch.StartNew();
        // TALLY_BENCH_GAPS=SECONDS prints (to stderr) every wait longer than that, with the reports either side.
        double showGaps = double.TryParse(Environment.GetEnvironmentVariable("TALLY_BENCH_GAPS"), NumberStyles.Float, CultureInfo.InvariantCulture, out var g) ? g : double.PositiveInfinity;
        string last = "start";
        var progressLog = new Tally.Application.SyncProgress<Tally.Core.IterationProgress>(p =>
        {
            double gap = sinceReport.Elapsed.TotalSeconds;
            string now = $"{p.Iteration}/{p.MaxIterations}";
            if (gap > showGaps) Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"gap {gap:0.000} s: {last} -> {now}"));
            last = now;
            gaps.Add(gap);
            sinceReport.Restart();
        });
        var aggregator = AggregatorCatalog.Find(method)!.Create(new CommonMethodOptions(MaxIterations: iterations, Tolerance: 0));
        // Warm-up on a small crowd so the JIT is not timed.
        aggregator.Aggregate(new DawidSkeneSimulator().Generate(new DawidSkeneScenario { Tasks = 2000, Classes = k }).Answers);
        GC.Collect();
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        sinceReport.Restart();
        var result = aggregator.Aggregate(crowd.Answers, progress: progressLog);
        double seconds = clock.Elapsed.TotalSeconds;
        double cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
        gaps.Add(sinceReport.Elapsed.TotalSeconds);
        if (gaps[^1] > showGaps) Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"gap {gaps[^1]:0.000} s: {last} -> end"));
        double acc = Accuracy.Of(result.Labels.AsSpan(), crowd.Truth).Value;
        int its = Math.Max(1, result.Iterations);
        double peakMb = Process.GetCurrentProcess().PeakWorkingSet64 / (1024.0 * 1024.0);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{method},{labels},{k},{result.Iterations},{seconds:0.000},{(double)labels * its / seconds:0},{peakMb:0},{acc:0.0000},{cpuSeconds:0.000},{gaps.Max():0.000}"));
        return 0;
    }
}

/// <summary>The EM loop on one million labels, K = 2 and 5 (20 iterations, no early stop).</summary>
[MemoryDiagnoser]
public class EmBenchmarks
{
    private Tally.Core.LabelMatrix _answers = null!;

    [Params(2, 5)]
    public int Classes { get; set; }

    [GlobalSetup]
    public void Setup() => _answers = new DawidSkeneSimulator().Generate(new DawidSkeneScenario
    { Tasks = 200_000, Workers = 200, PerTask = 5, Classes = Classes, Seed = 1 }).Answers;

    [Benchmark(Baseline = true)]
    public AggregationResult MajorityVote() => new MajorityVote().Aggregate(_answers);

    [Benchmark]
    public AggregationResult DawidSkene20() => new DawidSkene(new DawidSkeneOptions { MaxIterations = 20, Tolerance = 0 }).Aggregate(_answers);

    [Benchmark]
    public AggregationResult OneCoin20() => new OneCoinDawidSkene(new OneCoinDawidSkeneOptions { MaxIterations = 20, Tolerance = 0 }).Aggregate(_answers);
}
