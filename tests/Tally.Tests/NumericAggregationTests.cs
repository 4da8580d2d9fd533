using Tally.Aggregation.Numeric;
using Tally.Application;
using Tally.Catalogs;
using Tally.Core;
using Xunit.Abstractions;

namespace Tally.Tests;

/// <summary>Numeric truth inference: hand-computed examples, recovery of worker parameters, the emotion data, invariants.</summary>
public sealed class NumericAggregationTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-numeric-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    public static IEnumerable<object[]> Methods() => NumericAggregatorCatalog.All.Select(m => new object[] { m.Name });

    private static INumericAggregator Make(string name) => NumericAggregatorCatalog.Find(name)!.Create(new NumericMethodOverrides());

    private static NumericAnswerMatrix Matrix(params (string Task, string Worker, double Value)[] rows)
    {
        var tasks = new Vocabulary(rows.Select(r => r.Task).Distinct().Order(StringComparer.Ordinal));
        var workers = new Vocabulary(rows.Select(r => r.Worker).Distinct().Order(StringComparer.Ordinal));
        return NumericAnswerMatrix.FromTriples(tasks, workers, rows.Select(r => tasks.IndexOf(r.Task)).ToArray(),
            rows.Select(r => workers.IndexOf(r.Worker)).ToArray(), rows.Select(r => r.Value).ToArray());
    }

    /// <summary>A crowd with known truths, biases and noise: T tasks, W workers each answering every task with probability p.</summary>
    private static (NumericAnswerMatrix Answers, double[] Truth, double[] Bias, double[] Sd) Simulated(int seed, int tasks = 300, int workers = 12,
        double p = 0.6, double outlierShare = 0)
    {
        var rng = new Random(seed);
        double Normal() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        var truth = Enumerable.Range(0, tasks).Select(_ => 50 + 20 * Normal()).ToArray();
        var bias = Enumerable.Range(0, workers).Select(_ => 6 * Normal()).ToArray();
        var sd = Enumerable.Range(0, workers).Select(j => j % 3 == 0 ? 15.0 : 3.0).ToArray();
        var t = new List<int>(); var w = new List<int>(); var v = new List<double>();
        for (int i = 0; i < tasks; i++)
            for (int j = 0; j < workers; j++)
            {
                if (rng.NextDouble() > p) continue;
                double y = truth[i] + bias[j] + sd[j] * Normal();
                if (rng.NextDouble() < outlierShare) y = 200 * rng.NextDouble() - 50;
                t.Add(i); w.Add(j); v.Add(y);
            }
        return (NumericAnswerMatrix.FromTriples(Vocabulary.Numbered(tasks), Vocabulary.Numbered(workers), t.ToArray(), w.ToArray(), v.ToArray()),
            truth, bias, sd);
    }

    private static double Mae(NumericResult r, double[] truth) => NumericError.Of(r, truth)!.MeanAbsoluteError;

    [Fact]
    public void Baselines_match_hand_computed_values()
    {
        // Task a: 1, 2, 3, 10, 100 (five workers); task b: 4, 6.
        var m = Matrix(("a", "u", 1), ("a", "v", 2), ("a", "w", 3), ("a", "x", 10), ("a", "y", 100), ("b", "u", 4), ("b", "v", 6));
        var mean = new Mean().Aggregate(m);
        Assert.Equal(23.2, mean.Estimates[0], 12);
        Assert.Equal(5.0, mean.Estimates[1], 12);
        // b: s = √2, n = 2, t_{0.975, 1} = 12.7062…: half-width 12.7062 · √2/√2.
        Assert.Equal(12.706204736174698, mean.Upper[1] - 5.0, 9);
        var median = new Median().Aggregate(m);
        Assert.Equal(3.0, median.Estimates[0], 12);
        Assert.Equal(5.0, median.Estimates[1], 12);
        // n = 5: even j = 1 covers only 1 − 2/32 = 93.75 % < 95 %, so the interval is the whole range.
        Assert.Equal(1.0, median.Lower[0]); Assert.Equal(100.0, median.Upper[0]);
        Assert.Equal(1, Median.OrderStatistic(5, 0.95));
        Assert.Equal(2, Median.OrderStatistic(10, 0.95)); // 1 − 2·11/1024 = 97.9 %; j = 3 gives 89.1 %
        // 20 % trimmed: ⌊0.2 · 5⌋ = 1 cut from each end of task a → mean of 2, 3, 10.
        Assert.Equal(5.0, new TrimmedMean().Aggregate(m).Estimates[0], 12);
        // Worker u answered 1 (mean 23.2) and 4 (mean 5): bias = mean of −22.2 and −1.
        Assert.Equal((-22.2 - 1) / 2, mean.WorkerBias[m.Workers.IndexOf("u")], 9);
    }

    [Fact]
    public void Lfc_recovers_worker_biases_and_variances_and_beats_the_mean()
    {
        var (m, truth, bias, sd) = Simulated(1);
        var mean = new Mean().Aggregate(m);
        var lfc = new LearningFromCrowds().Aggregate(m);
        Assert.True(lfc.Converged);
        // Biases are identified up to a common shift (centred on 0): the estimates are of truth + the mean bias.
        double centre = bias.Average();
        var shifted = truth.Select(x => x + centre).ToArray();
        output.WriteLine($"MAE against truth + mean bias: mean {Mae(mean, shifted):F3}, lfc {Mae(lfc, shifted):F3}");
        for (int j = 0; j < bias.Length; j++)
        {
            // ~180 answers per worker: the bias's standard error is ≤ 15/√180 ≈ 1.1 (noisy workers), the variance's ~10 %.
            Assert.True(Math.Abs(lfc.WorkerBias[j] - (bias[j] - centre)) < 3.5, $"worker {j}: bias {lfc.WorkerBias[j]:F2} vs {bias[j] - centre:F2}");
            Assert.InRange(Math.Sqrt(lfc.WorkerVariance[j]) / sd[j], 0.75, 1.3);
        }
        // Knowing who is noisy and who is biased, lfc should be far better than the plain mean.
        Assert.True(Mae(lfc, shifted) < 0.7 * Mae(mean, shifted), $"lfc {Mae(lfc, shifted)} vs mean {Mae(mean, shifted)}");
        // Its intervals are calibrated on its own model: the truth (up to the common shift) lies inside about 95 % of them.
        int inside = 0;
        for (int i = 0; i < truth.Length; i++) if (truth[i] + centre >= lfc.Lower[i] && truth[i] + centre <= lfc.Upper[i]) inside++;
        Assert.InRange((double)inside / truth.Length, 0.88, 0.99);
    }

    [Fact]
    public void Student_t_noise_resists_wild_answers_that_mislead_the_gaussian_model()
    {
        var (m, truth, bias, _) = Simulated(2, outlierShare: 0.08);
        double shift = bias.Average();
        var shifted = truth.Select(x => x + shift).ToArray();
        double gauss = Mae(new LearningFromCrowds().Aggregate(m), shifted);
        double t = Mae(new LearningFromCrowds(new() { Noise = NumericNoise.StudentT }).Aggregate(m), shifted);
        output.WriteLine($"8 % wild answers: lfc {gauss:F2}, lfc-t {t:F2}");
        Assert.True(t < 0.8 * gauss, $"lfc-t {t} vs lfc {gauss}");
    }

    [Fact]
    public void Catd_and_pm_weight_the_careful_workers_above_the_noisy_ones()
    {
        var (m, truth, bias, sd) = Simulated(3);
        foreach (var r in new[] { new Catd().Aggregate(m), new Crh().Aggregate(m) })
        {
            double careful = 0, noisy = 0;
            for (int j = 0; j < sd.Length; j++) if (sd[j] < 5) careful += r.WorkerWeight[j] / 8; else noisy += r.WorkerWeight[j] / 4;
            Assert.True(careful > noisy, $"{r.Method}: careful {careful} vs noisy {noisy}");
        }
    }

    [Fact]
    public void On_the_emotion_data_the_best_method_beats_the_mean_and_the_survey()
    {
        // Zheng et al. (PVLDB 2017) on this set: mean MAE 12.02, released LFC_N 12.2, CATD 17.7, PM 17.2.
        var d = BundledDatasets.Get("emotion");
        var m = NumericAnswerFiles.ReadAnswers(d.AnswersPath).Matrix;
        var truth = NumericAnswerFiles.ReadTruth(d.TruthPath!, m).Values.ToArray();
        var mae = NumericAggregatorCatalog.All.ToDictionary(i => i.Name, i => Mae(i.Create(new()).Aggregate(m), truth));
        output.WriteLine(string.Join("  ", mae.Select(kv => $"{kv.Key} {kv.Value:F2}")));
        Assert.Equal(12.02, mae["mean"], 2);
        Assert.Equal(13.53, mae["median"], 2);
        Assert.True(mae.Values.Min() < 12.02 && mae.Values.Min() < 12.2);
        Assert.True(mae["pm"] < 12.02);
        Assert.True(mae["lfc-n"] < 12.2);
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void Output_is_finite_and_intervals_hold_the_estimates_on_degenerate_and_random_input(string method)
    {
        var cases = new List<NumericAnswerMatrix>
        {
            Matrix(("a", "u", 5)),                                                     // one answer
            Matrix(("a", "u", 5), ("a", "v", 5), ("b", "u", 7), ("b", "v", 7)),      // everyone agrees: zero variance
            Matrix(("a", "u", 1e9), ("a", "v", -1e9), ("b", "u", 0)),               // huge spread
            Matrix(("a", "u", 1), ("b", "u", 2), ("c", "u", 3)),                      // one worker
        };
        for (int seed = 0; seed < 20; seed++) cases.Add(Simulated(100 + seed, tasks: 1 + seed % 7, workers: 1 + seed % 4, p: 0.7).Answers is { AnswerCount: > 0 } a ? a : cases[0]);
        foreach (var m in cases)
        {
            var r = Make(method).Aggregate(m);
            Assert.Equal(m.TaskCount, r.Estimates.Length);
            for (int t = 0; t < m.TaskCount; t++)
            {
                Assert.True(double.IsFinite(r.Estimates[t]) && double.IsFinite(r.Lower[t]) && double.IsFinite(r.Upper[t]));
                Assert.True(r.Lower[t] <= r.Estimates[t] && r.Estimates[t] <= r.Upper[t]);
            }
            foreach (var x in r.WorkerBias.Concat(r.WorkerVariance).Concat(r.WorkerWeight)) Assert.True(double.IsFinite(x));
            foreach (var x in r.WorkerVariance.Concat(r.WorkerWeight)) Assert.True(x >= 0);
        }
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void Row_order_threads_and_repeats_give_byte_identical_files(string method)
    {
        var (m, _, _, _) = Simulated(7, tasks: 400, workers: 10);
        var lines = new List<string> { "task,worker,label" };
        for (int t = 0; t < m.TaskCount; t++)
            for (int e = m.TaskOffsets[t]; e < m.TaskOffsets[t + 1]; e++)
                lines.Add($"{m.Tasks[t]},{m.Workers[m.TaskWorkers[e]]},{m.TaskValues[e].ToString("R", System.Globalization.CultureInfo.InvariantCulture)}");
        var inOrder = Path.Combine(_dir, "a.csv");
        File.WriteAllLines(inOrder, lines);
        var rng = new Random(3);
        var shuffled = Path.Combine(_dir, "b.csv");
        File.WriteAllLines(shuffled, [lines[0], .. lines.Skip(1).OrderBy(_ => rng.Next())]);
        string Run(string path, int threads, string name)
        {
            var outDir = Path.Combine(_dir, name);
            NumericAggregateJob.Run(new NumericAggregateRequest { Answers = new InputSource(path, null), Method = method, OutputDirectory = outDir },
                new ComputeOptions { MaxDegreeOfParallelism = threads });
            return File.ReadAllText(Path.Combine(outDir, "labels.csv")) + File.ReadAllText(Path.Combine(outDir, "workers.csv"));
        }
        string reference = Run(inOrder, 1, "one");
        Assert.Equal(reference, Run(shuffled, 4, "shuffled-four"));
        Assert.Equal(reference, Run(inOrder, 1, "again"));
    }

    [Fact]
    public void The_cli_writes_estimates_and_worker_tables_and_locates_bad_numbers()
    {
        var good = Path.Combine(_dir, "good.csv");
        File.WriteAllLines(good, ["task,worker,label", "t1,w1,10", "t1,w2,12", "t2,w1,-3.5", "t2,w2,1e1"]);
        var outDir = Path.Combine(_dir, "out");
        var (code, _, err) = CliTests.Run("aggregate", good, "--type", "numeric", "-m", "mean", "--out", outDir, "--format", "json");
        Assert.True(code == 0, err);
        Assert.Contains("\"estimate\"", File.ReadAllText(Path.Combine(outDir, "labels.json")));
        Assert.Contains("\"variance\"", File.ReadAllText(Path.Combine(outDir, "workers.json")));
        (code, _, err) = CliTests.Run("aggregate", good, "--type", "numeric", "--out", Path.Combine(_dir, "csv"));
        Assert.Equal(0, code);
        Assert.Equal("task,estimate,lower,upper,answers", File.ReadLines(Path.Combine(_dir, "csv", "labels.csv")).First());
        Assert.Equal("worker,answers,bias,variance,weight", File.ReadLines(Path.Combine(_dir, "csv", "workers.csv")).First());

        // A wider level gives wider intervals; an impossible one is refused by name.
        (code, _, _) = CliTests.Run("aggregate", good, "--type", "numeric", "-m", "mean", "--interval-level", "0.5", "--out", Path.Combine(_dir, "narrow"));
        Assert.Equal(0, code);
        (code, _, _) = CliTests.Run("aggregate", good, "--type", "numeric", "-m", "mean", "--out", Path.Combine(_dir, "wide"));
        Assert.Equal(0, code);
        double Width(string dir) => File.ReadLines(Path.Combine(_dir, dir, "labels.csv")).Skip(1).Select(l => l.Split(','))
            .Sum(f => double.Parse(f[3], System.Globalization.CultureInfo.InvariantCulture) - double.Parse(f[2], System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(Width("narrow") < Width("wide") / 2);
        (code, _, err) = CliTests.Run("aggregate", good, "--type", "numeric", "--interval-level", "1.5");
        Assert.Equal(2, code);
        Assert.Contains("IntervalLevel", err.Replace("--interval-level", "IntervalLevel"));

        var bad = Path.Combine(_dir, "bad.csv");
        File.WriteAllLines(bad, ["task,worker,label", "t1,w1,10", "t1,w2,ten"]);
        (code, _, err) = CliTests.Run("aggregate", bad, "--type", "numeric");
        Assert.Equal(2, code);
        Assert.Contains("bad.csv:3:", err);
        Assert.Contains("is not a number", err);
        (code, _, err) = CliTests.Run("aggregate", good, "--type", "numeric", "--gold", good);
        Assert.Equal(2, code);
        Assert.Contains("--gold applies to --type categorical", err);
        (code, _, err) = CliTests.Run("aggregate", "--dataset", "emotion");
        Assert.Equal(2, code);
        Assert.Contains("--type numeric", err);
        // The same file read as comparisons: refused at its header, not half-read.
        (code, _, err) = CliTests.Run("aggregate", good, "--type", "pairwise");
        Assert.Equal(2, code);
        Assert.Contains("good.csv:1: no column 'left'", err);
        (code, _, err) = CliTests.Run("aggregate", good, "--type", "numeric", "--threshold", "0.3");
        Assert.Equal(2, code);
        Assert.Contains("--threshold applies to --type multilabel", err);
    }
}
