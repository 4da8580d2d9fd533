using Tally.Catalogs;
using System.Globalization;
using Spectre.Console;
using Tally.Cli;

namespace Tally.Tests;

/// <summary>The <c>tally</c> command end to end, as a user runs it.</summary>
public sealed class CliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    internal static (int Code, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Out = new AnsiConsoleOutput(output),
            Interactive = InteractionSupport.No,
        });
        console.Profile.Width = 200;
        int code = Program.Run(args, console, error);
        return (code, output.ToString(), error.ToString());
    }

    [Theory]
    [InlineData("auto", "89.81")]
    [InlineData("uniform", "89.81")]
    [InlineData("learned", "88.89")]
    public void Class_prior_modes_reach_mean_field_on_duck(string mode, string accuracy)
    {
        // duck: the evidence prefers the uniform κ, so auto (mf's default) matches uniform; learned loses a task.
        var (code, stdout, stderr) = Run("aggregate", "--dataset", "duck", "--method", "mf", "--class-prior", mode);
        Assert.True(code == 0, stderr);
        Assert.Contains(accuracy, stdout);
    }

    [Fact]
    public void Class_prior_help_names_each_methods_default_from_the_catalog()
    {
        var (code, stdout, stderr) = Run("aggregate", "--help");
        Assert.True(code == 0, stderr);
        Assert.Contains("auto for mf, bp", stdout);
        Assert.Contains("learned for spectral, robust-ds", stdout);
        var (bad, _, err) = Run("aggregate", "--dataset", "duck", "--method", "mf", "--class-prior", "skewed");
        Assert.NotEqual(0, bad);
        Assert.Contains("skewed", err);
    }

    [Fact]
    public void Aggregate_on_a_bundled_dataset_reports_accuracy_and_writes_outputs()
    {
        var (code, stdout, stderr) = Run("aggregate", "--dataset", "dog", "--method", "ds", "--out", _dir);
        Assert.True(code == 0, stderr);
        Assert.Contains("accuracy", stdout);
        // Accuracy printed in the table: must match Crowd-Kit's 84.26% within a point.
        var line = stdout.Split('\n').First(l => l.Contains("accuracy"));
        double acc = double.Parse(line.Split('%')[0].Split(' ', StringSplitOptions.RemoveEmptyEntries).Last().Trim('│', ' '), CultureInfo.InvariantCulture);
        Assert.InRange(acc, 83.26, 100);

        var labels = File.ReadAllLines(Path.Combine(_dir, "labels.csv"));
        // Class columns in sorted class order (dog's answers.csv first mentions 3, 2, 0, 1; the order must not follow it).
        Assert.Equal("task,label,confidence,p_0,p_1,p_2,p_3", labels[0]);
        Assert.Equal(808, labels.Length);
        // Scored independently of the program: labels.csv against truth.csv.
        var truth = File.ReadAllLines(Path.Combine(TestData.RepoRoot, "data", "dog", "truth.csv")).Skip(1)
            .Select(l => l.Split(',')).ToDictionary(f => f[0], f => f[1]);
        int correct = labels.Skip(1).Select(l => l.Split(',')).Count(f => truth[f[0]] == f[1]);
        Assert.Equal(acc, Math.Round(100.0 * correct / 807, 2), 2);
        foreach (var row in labels.Skip(1))
        {
            var p = row.Split(',').Skip(3).Select(x => double.Parse(x, CultureInfo.InvariantCulture)).Sum();
            Assert.InRange(p, 1 - 1e-6, 1 + 1e-6);
        }
        var workers = File.ReadAllLines(Path.Combine(_dir, "workers.csv"));
        Assert.Equal("worker,answers,skill,agreement", workers[0]);
        Assert.Equal(110, workers.Length);
        Assert.True(File.Exists(Path.Combine(_dir, "confusions.json")));
        Assert.Empty(Directory.GetFiles(_dir, ".*tmp*"));
    }

    [Fact]
    public void Json_output_and_column_mapping()
    {
        var answers = Path.Combine(_dir, "votes.csv");
        File.WriteAllText(answers, "question,annotator,answer\nq1,a,yes\nq1,b,yes\nq1,c,no\nq2,a,no\nq2,b,no\nq2,c,no\n");
        var outDir = Path.Combine(_dir, "out");
        var (code, _, err) = Run("aggregate", answers, "--task-col", "question", "--worker-col", "annotator", "--label-col", "answer",
            "--method", "mv", "--format", "json", "--out", outDir);
        Assert.True(code == 0, err);
        var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "labels.json")));
        var first = json.RootElement[0];
        Assert.Equal("q1", first.GetProperty("task").GetString());
        Assert.Equal("yes", first.GetProperty("label").GetString());
        Assert.Equal(2.0 / 3, first.GetProperty("probabilities").GetProperty("yes").GetDouble(), 6);
    }

    [Fact]
    public void Bad_input_fails_with_file_line_and_exit_code_2_and_writes_nothing()
    {
        var answers = Path.Combine(_dir, "bad.csv");
        File.WriteAllText(answers, "task,worker,label\nt1,w1,a\nt1,w2\n");
        var outDir = Path.Combine(_dir, "out");
        var (code, stdout, stderr) = Run("aggregate", answers, "--out", outDir);
        Assert.Equal(2, code);
        Assert.Contains($"{answers}:3:", stderr);
        Assert.DoesNotContain("   at ", stderr);
        Assert.False(Directory.Exists(outDir));
        Assert.DoesNotContain("accuracy", stdout);
    }

    [Fact]
    public void A_saved_model_labels_a_new_file_and_says_what_it_did_with_unseen_workers()
    {
        var model = Path.Combine(_dir, "model.json");
        var (code, _, err) = Run("aggregate", "--dataset", "dog", "--method", "ds", "--save-model", model);
        Assert.True(code == 0, err);
        var firstWorker = File.ReadLines(Path.Combine(TestData.RepoRoot, "data", "dog", "answers.csv")).Skip(1).First().Split(',')[1];
        var fresh = Path.Combine(_dir, "fresh.csv");
        File.WriteAllText(fresh, $"task,worker,label\nnew-1,{firstWorker},2\nnew-1,stranger,2\nnew-2,stranger,1\n");
        var outDir = Path.Combine(_dir, "fresh-out");
        (code, var stdout, err) = Run("aggregate", fresh, "--model", model, "--out", outDir);
        Assert.True(code == 0, err);
        Assert.Contains("predict from a saved model", stdout);
        Assert.Contains("1 worker(s) not in the model", err);
        var labels = File.ReadAllLines(Path.Combine(outDir, "labels.csv"));
        Assert.Equal("task,label,confidence,p_0,p_1,p_2,p_3", labels[0]);   // the model's classes, though the file has two
        Assert.StartsWith("new-2,1,", labels[2]);

        (code, _, err) = Run("aggregate", fresh, "--model", model, "--unseen-workers", "error");
        Assert.Equal(2, code);
        Assert.Contains("stranger", err);
        (code, _, err) = Run("aggregate", fresh, "--model", model, "--method", "glad");
        Assert.Equal(2, code);
        Assert.Contains("model's method 'ds'", err);
        File.WriteAllText(fresh, "task,worker,label\nnew-1,w,cat\n");
        (code, _, err) = Run("aggregate", fresh, "--model", model);
        Assert.Equal(2, code);
        Assert.Contains($"{fresh}:2:", err);
        Assert.Contains("'cat'", err);
    }

    [Theory]
    [InlineData("missing.csv", "not found")]
    [InlineData("--dataset", "unknown dataset")]
    public void Usage_errors_exit_2(string what, string message)
    {
        var args = what == "--dataset"
            ? new[] { "aggregate", "--dataset", "no-such-set" }
            : new[] { "aggregate", Path.Combine(_dir, what) };
        var (code, _, err) = Run(args);
        Assert.Equal(2, code);
        Assert.Contains(message, err);
    }

    [Fact]
    public void Unknown_method_and_unknown_option_exit_2()
    {
        Assert.Equal(2, Run("aggregate", "--dataset", "duck", "--method", "nope").Code);
        Assert.Equal(2, Run("aggregate", "--dataset", "duck", "--frobnicate").Code);
    }

    [Fact]
    public void Truth_with_unknown_class_is_a_located_error()
    {
        var answers = Path.Combine(_dir, "a.csv");
        var truth = Path.Combine(_dir, "t.csv");
        File.WriteAllText(answers, "task,worker,label\nt1,w1,a\nt2,w1,b\n");
        File.WriteAllText(truth, "task,truth\nt1,a\nt2,c\n");
        var (code, _, err) = Run("aggregate", answers, "--truth", truth);
        Assert.Equal(2, code);
        Assert.Contains($"{truth}:3:", err);
    }

    [Fact]
    public void Methods_and_datasets_are_listed()
    {
        var (code, stdout, _) = Run("methods");
        Assert.Equal(0, code);
        foreach (var m in Tally.Catalogs.AggregatorCatalog.All) Assert.Contains(m.Name, stdout);
        (code, stdout, _) = Run("datasets");
        Assert.Equal(0, code);
        Assert.Contains("dog", stdout);
        Assert.Contains("8,070", stdout);
    }

    [Fact]
    public void Help_shows_examples()
    {
        var (code, stdout, _) = Run("aggregate", "--help");
        Assert.Equal(0, code);
        Assert.Contains("Examples:", stdout);
        Assert.Contains("--method", stdout);
    }

    [Fact]
    public void Simulate_then_aggregate_round_trip_is_deterministic()
    {
        var a = Path.Combine(_dir, "sim");
        var b = Path.Combine(_dir, "sim2");
        Assert.Equal(0, Run("simulate", "ds", "--tasks", "500", "--workers", "20", "--per-task", "5", "--class-count", "3", "--seed", "9", "--out", a).Code);
        Assert.Equal(0, Run("simulate", "ds", "--tasks", "500", "--workers", "20", "--per-task", "5", "--class-count", "3", "--seed", "9", "--out", b).Code);
        // The folder holds what a bundled dataset holds: answers.csv and truth.csv.
        Assert.Equal(["answers.csv", "truth.csv"], Directory.GetFiles(a).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(File.ReadAllText(Path.Combine(a, "answers.csv")), File.ReadAllText(Path.Combine(b, "answers.csv")));
        Assert.Equal(2501, File.ReadAllLines(Path.Combine(a, "answers.csv")).Length);
        var (code, stdout, err) = Run("aggregate", Path.Combine(a, "answers.csv"), "--truth", Path.Combine(a, "truth.csv"), "--method", "ds");
        Assert.True(code == 0, err);
        Assert.Contains("accuracy", stdout);
    }

    [Fact]
    public void Simulate_sparse_and_rowdy_write_answers_with_truth()
    {
        var a = Path.Combine(_dir, "sparse");
        Assert.Equal(0, Run("simulate", "sparse", "--tasks", "200", "--spammers", "1", "--spammer-share", "0.5", "--seed", "2", "--out", a).Code);
        var m = Tally.Core.AnswerFiles.ReadAnswers(Path.Combine(a, "answers.csv")).Matrix;
        Assert.Equal(200 * 3 + 100, m.AnswerCount);
        Assert.Equal(200, Tally.Core.AnswerFiles.ReadTruth(Path.Combine(a, "truth.csv"), m).Labels.KnownCount);
        var b = Path.Combine(_dir, "rowdy");
        Assert.Equal(0, Run("simulate", "rowdy", "--tasks", "300", "--workers", "30", "--class-count", "3", "--adversaries", "0.2",
            "--adversary-strategy", "pattern", "--out", b).Code);
        var (code, stdout, err) = Run("compare", Path.Combine(b, "answers.csv"), "--truth", Path.Combine(b, "truth.csv"), "--methods", "mv,robust-ds");
        Assert.True(code == 0, err);
        Assert.Contains("robust-ds", stdout);
        // 10 tasks × l = 3 answers cannot be split into workers of r = 4: a clear error, exit code 2.
        Assert.Equal(2, Run("simulate", "sparse", "--tasks", "10", "--per-worker", "4", "--out", a).Code);
    }

    [Fact]
    public void Pay_writes_a_payment_per_agent_within_the_budget()
    {
        foreach (var m in Tally.Catalogs.MechanismCatalog.All)
        {
            var dir = Path.Combine(_dir, m.Name);
            var (code, stdout, err) = Run("pay", "--dataset", "face", "--mechanism", m.Name, "--budget", "5", "--seed", "1", "--out", dir);
            Assert.True(code == 0, err);
            Assert.Contains("mean payment", stdout);
            var rows = File.ReadAllLines(Path.Combine(dir, "payments.csv"));
            Assert.Equal("agent,payment,tasks", rows[0]);
            Assert.Equal(28, rows.Length); // 27 workers in face
            foreach (var r in rows.Skip(1))
                Assert.InRange(double.Parse(r.Split(',')[1], CultureInfo.InvariantCulture), -1e-9, 5 + 1e-9);
            // The range shown is the budget's, scaled once (it used to print [2.5, 27.5]-like ranges, scaled twice).
            Assert.Contains("[0, 5]", stdout.Split('\n').Single(l => l.Contains("payment range")));
        }
        Assert.Equal(2, Run("pay", "--dataset", "face", "--mechanism", "nope").Code);
    }

    [Fact]
    public void Lab_peer_and_edx_report_per_mechanism()
    {
        var (code, stdout, err) = Run("lab", "peer", "--signal-prior", "ds:2,0.8", "--agents", "8", "--tasks", "60", "--seeds", "5", "--mechanisms", "ca,rmif-ds");
        Assert.True(code == 0, err);
        Assert.Contains("rmif-ds", stdout);
        (code, stdout, err) = Run("lab", "edx", "--mechanisms", "ca", "--seeds", "3", "--stride", "400");
        Assert.True(code == 0, err);
        Assert.Contains("5 edX priors", stdout);
        Assert.Equal(2, Run("lab", "peer", "--signal-prior", "edx:99999").Code);
    }

    [Fact]
    public void Share_lab_reports_and_refuses_small_m()
    {
        var (code, stdout, err) = Run("share", "lab", "--agents", "10", "--replications", "200");
        Assert.True(code == 0, err);
        Assert.Contains("α = 2.85398", stdout);
        Assert.Contains("free-ride", stdout);
        (code, _, err) = Run("share", "lab", "--agents", "4");
        Assert.Equal(2, code);
        Assert.Contains("m ≥ 5", err);
    }

    [Fact]
    public void Share_allocate_then_estimate_round_trip()
    {
        var subs = Path.Combine(_dir, "subs.csv");
        var rows = new List<string> { "agent,value" };
        var rng = new Random(2);
        foreach (var a in new[] { "a", "b", "c", "d", "e", "f" })
            for (int i = 0; i < 4; i++) rows.Add($"{a},{(5 + rng.NextDouble()).ToString(CultureInfo.InvariantCulture)}");
        File.WriteAllLines(subs, rows);
        var alloc = Path.Combine(_dir, "alloc");
        var (code, stdout, err) = Run("share", "allocate", "--submissions", subs, "--sigma", "1", "--cost", "0.01", "--seed", "3", "--out", alloc);
        Assert.True(code == 0, err);
        Assert.Equal(6, Directory.GetFiles(alloc, "allocation-*.json").Length);
        var own = Path.Combine(_dir, "own.csv");
        File.WriteAllLines(own, ["value", .. rows.Skip(1).Where(r => r.StartsWith("a,", StringComparison.Ordinal)).Select(r => r[2..])]);
        (code, stdout, err) = Run("share", "estimate", "--own", own, "--allocation", Path.Combine(alloc, "allocation-a.json"));
        Assert.True(code == 0, err);
        // All data lie in [5, 6] apart from the noise on Z': the estimate must be near 5.5.
        double estimate = double.Parse(stdout.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        Assert.InRange(estimate, 4.5, 6.5);
        File.WriteAllText(subs, "agent,value\na,1\nb,oops\n");
        (code, _, err) = Run("share", "allocate", "--submissions", subs, "--sigma", "1", "--cost", "0.01", "--out", alloc);
        Assert.Equal(2, code);
        Assert.Contains(":3:", err);
        File.WriteAllText(subs, "agent,value\na,1\na,2\n");
        Assert.Equal(2, Run("share", "allocate", "--submissions", subs, "--sigma", "1", "--cost", "0.01", "--out", alloc).Code);
        // The allocations go where --out says; there is no default folder to surprise anyone.
        (code, _, err) = Run("share", "allocate", "--submissions", subs, "--sigma", "1", "--cost", "0.01");
        Assert.Equal(2, code);
        Assert.Contains("--out", err);
    }

    [Fact]
    public void Compare_reads_other_columns_and_declared_classes()
    {
        // Binary answers under other column names; the truth of one task is a third class no worker gave.
        var answers = Path.Combine(_dir, "votes.csv");
        var truth = Path.Combine(_dir, "gold.csv");
        var rows = new List<string> { "question,annotator,answer" };
        var gold = new List<string> { "task,truth" };
        var rng = new Random(4);
        for (int t = 0; t < 60; t++)
        {
            string y = t % 2 == 0 ? "yes" : "no";
            gold.Add($"q{t},{(t == 0 ? "maybe" : y)}");
            for (int w = 0; w < 5; w++) rows.Add($"q{t},w{w},{(rng.NextDouble() < 0.8 ? y : (y == "yes" ? "no" : "yes"))}");
        }
        File.WriteAllLines(answers, rows);
        File.WriteAllLines(truth, gold);
        var csv = Path.Combine(_dir, "cmp", "comparison.csv");
        string[] columns = ["--task-col", "question", "--worker-col", "annotator", "--label-col", "answer"];

        // Without --classes the truth's third class is unknown, and the message says what to do.
        var (code, _, err) = Run(["compare", answers, "--truth", truth, "--methods", "mv,ds,kos", .. columns]);
        Assert.Equal(2, code);
        Assert.Contains("--classes", err);

        (code, var stdout, err) = Run(["compare", answers, "--truth", truth, "--methods", "mv,ds,kos", "--out", Path.GetDirectoryName(csv)!, "--classes", "yes,no,maybe", .. columns]);
        Assert.True(code == 0, err);
        Assert.Contains("K = 3", stdout);
        var lines = File.ReadAllLines(csv);
        Assert.Equal(string.Join(",", Tally.Application.CompareJob.Columns), lines[0]);
        Assert.Equal(["mv", "ds", "kos"], lines.Skip(1).Select(l => l.Split(',')[0]));
        // KOS is binary only: on K = 3 it gets a note, no accuracy, and the run goes on.
        var kos = lines[3].Split(',');
        Assert.Equal("", kos[1]);
        Assert.Contains("binary only", kos[5]);
        foreach (var l in lines.Skip(1).Take(2))
            Assert.InRange(double.Parse(l.Split(',')[1], CultureInfo.InvariantCulture), 0.8, 1.0);
    }

    [Fact]
    public void Compare_checks_its_inputs_and_outputs_before_work()
    {
        var (code, _, err) = Run("compare", Path.Combine(TestData.RepoRoot, "data", "dog", "answers.csv"));
        Assert.Equal(2, code);
        Assert.Contains("truth", err);
        (code, _, err) = Run("compare", "x.csv", "--dataset", "dog");
        Assert.Equal(2, code);
        Assert.Contains("not both", err);
        File.WriteAllText(Path.Combine(_dir, "a-file"), "");
        (code, _, err) = Run("compare", "--dataset", "dog", "--out", Path.Combine(_dir, "a-file", "c"));
        Assert.Equal(2, code);
        Assert.Contains("--out", err);
        (code, _, err) = Run("compare", "--dataset", "dog", "--methods", "mv,nope");
        Assert.Equal(2, code);
        Assert.Contains("--methods", err);
        Assert.Contains("nope", err);
        (code, _, err) = Run("compare", "--dataset", "dog", "--prior", "threecoin:1,2");
        Assert.Equal(2, code);
        Assert.Contains("--prior", err);
    }

    [Fact]
    public void Lab_aggregation_writes_points_identical_for_any_thread_count()
    {
        var a = Path.Combine(_dir, "a", "sweep.csv");
        var b = Path.Combine(_dir, "b", "sweep.csv");
        var (code, stdout, err) = Run("lab", "aggregation", "spammers", "--methods", "mv,ds", "--values", "0,2", "--seeds", "3", "--out", Path.GetDirectoryName(a)!, "--threads", "1");
        Assert.True(code == 0, err);
        Assert.Contains("extreme spammers", stdout);
        (code, _, err) = Run("lab", "aggregation", "spammers", "--methods", "mv,ds", "--values", "0,2", "--seeds", "3", "--out", Path.GetDirectoryName(b)!, "--threads", "4");
        Assert.True(code == 0, err);
        Assert.Equal(File.ReadAllText(a), File.ReadAllText(b));
        var lines = File.ReadAllLines(a);
        Assert.Equal(string.Join(",", Tally.Application.AggregationLabJob.Columns), lines[0]);
        Assert.Equal(5, lines.Length); // 2 values × 2 methods
        Assert.All(lines.Skip(1), l => Assert.Equal("3", l.Split(',')[6]));

        Assert.Equal(2, Run("lab", "aggregation", "nope").Code);
        (code, _, err) = Run("lab", "aggregation", "spammers", "--methods", "mv,ds", "--prior", "onecoin:2,1");
        Assert.Equal(2, code);
        Assert.Contains("--prior", err);
        (code, _, err) = Run("lab", "aggregation", "spammers", "--values", "0,x");
        Assert.Equal(2, code);
        Assert.Contains("--values", err);
        (code, _, err) = Run("lab", "aggregation", "spammers", "--seeds", "1");
        Assert.Equal(2, code);
        Assert.Contains("--seeds", err);
        // Help lists the experiments from the lab itself.
        (_, stdout, _) = Run("lab", "aggregation", "--help");
        foreach (var e in Tally.Application.AggregationLabJob.Experiments) Assert.Contains(e.Name, stdout);
    }

    [Fact]
    public void Share_allocate_does_not_depend_on_row_order_or_layout()
    {
        var rng = new Random(8);
        var rows = new List<string>();
        foreach (var agent in new[] { "a", "b", "c", "d", "e", "f", "g" })
            for (int i = 0; i < 3; i++) rows.Add($"{agent},{(2 + rng.NextDouble()).ToString("R", CultureInfo.InvariantCulture)}");
        var ordered = Path.Combine(_dir, "ordered.csv");
        var shuffled = Path.Combine(_dir, "shuffled.csv");
        File.WriteAllLines(ordered, ["agent,value", .. rows]);
        File.WriteAllLines(shuffled, ["agent,value", .. rows.OrderBy(_ => rng.Next())]);
        var folder = Path.Combine(_dir, "per-agent");
        Directory.CreateDirectory(folder);
        foreach (var g in rows.GroupBy(r => r.Split(',')[0]))
            File.WriteAllLines(Path.Combine(folder, g.Key + ".csv"), ["value", .. g.Select(r => r.Split(',')[1]).Reverse()]);

        string Allocate(string input, string name)
        {
            var dir = Path.Combine(_dir, name);
            var (code, _, err) = Run("share", "allocate", "--submissions", input, "--sigma", "1", "--cost", "0.02", "--seed", "5", "--out", dir);
            Assert.True(code == 0, err);
            var files = Directory.GetFiles(dir).Order(StringComparer.Ordinal).ToList();
            Assert.Equal(7, files.Count);
            return string.Join("\n", files.Select(f => Path.GetFileName(f) + ":" + File.ReadAllText(f)));
        }
        string expected = Allocate(ordered, "o");
        Assert.Equal(expected, Allocate(shuffled, "s"));
        Assert.Equal(expected, Allocate(folder, "f"));

        // An agent name that would leave the output folder is refused before anything is written.
        File.WriteAllLines(shuffled, ["agent,value", .. rows.Select(r => r.StartsWith("a,", StringComparison.Ordinal) ? "../up" + r[1..] : r)]);
        var (c, _, e) = Run("share", "allocate", "--submissions", shuffled, "--sigma", "1", "--cost", "0.02", "--out", Path.Combine(_dir, "bad"));
        Assert.Equal(2, c);
        Assert.Contains("../up", e);
        Assert.False(Directory.Exists(Path.Combine(_dir, "bad")));

        // A damaged allocation file is a user error, not a crash.
        var damaged = Path.Combine(_dir, "damaged.json");
        File.WriteAllText(damaged, "{\"sigma\": 1, \"eta_squared\": 0.5}");
        var own = Path.Combine(_dir, "own.csv");
        File.WriteAllLines(own, ["value", "2.5"]);
        (c, _, e) = Run("share", "estimate", "--own", own, "--allocation", damaged);
        Assert.Equal(2, c);
        Assert.Contains("'z'", e);
    }

    [Fact]
    public void Share_lab_is_the_same_with_1_and_4_threads()
    {
        var (code, one, err) = Run("share", "lab", "--agents", "6", "--replications", "200", "--threads", "1");
        Assert.True(code == 0, err);
        (code, var four, err) = Run("share", "lab", "--agents", "6", "--replications", "200", "--threads", "4");
        Assert.True(code == 0, err);
        Assert.Equal(one, four);
        (code, _, err) = Run("share", "lab", "--replications", "5");
        Assert.Equal(2, code);
        Assert.Contains("--replications", err);
    }

    [Fact]
    public void Methods_lists_each_methods_default_iterations_and_tolerance()
    {
        var (code, stdout, _) = Run("methods");
        Assert.Equal(0, code);
        var lines = stdout.Split('\n');
        foreach (var m in AggregatorCatalog.All)
        {
            var row = lines.First(l => l.StartsWith($"│ {m.Name} ", StringComparison.Ordinal));
            if (m.Defaults is { } d)
            {
                // The very numbers the method starts from, e.g. DawidSkeneOptions' defaults for ds.
                Assert.Contains($" {d.MaxIterations} ", row);
                Assert.Contains($" {NumberFormat.Number(d.Tolerance)} ", row);
            }
        }
        Assert.Equal(new Tally.Aggregation.DawidSkeneOptions().MaxIterations, AggregatorCatalog.Find("ds")!.Defaults!.MaxIterations);
        Assert.Equal(new Tally.Aggregation.GladOptions().Tolerance, AggregatorCatalog.Find("glad")!.Defaults!.Tolerance);
    }

    [Fact]
    public void Simulate_checks_the_output_location_before_work()
    {
        // A folder that cannot be made (a file stands in its path) is refused before anything is simulated.
        File.WriteAllText(Path.Combine(_dir, "a-file"), "");
        var (code, _, err) = Run("simulate", "ds", "--tasks", "100", "--out", Path.Combine(_dir, "a-file", "sim"));
        Assert.Equal(2, code);
        Assert.Contains("--out", err);
        (code, _, err) = Run("simulate", "rowdy", "--tasks", "100", "--out", Path.Combine(_dir, "a-file"));
        Assert.Equal(2, code);
        Assert.Contains("--out", err);
        (code, _, err) = Run("simulate", "ds", "--tasks", "100", "--per-task", "500", "--out", Path.Combine(_dir, "x"));
        Assert.Equal(2, code);
        Assert.Contains("--per-task", err);
    }
}
