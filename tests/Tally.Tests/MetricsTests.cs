using Tally.Application;
using Tally.Core;
using Tally.Metrics;

namespace Tally.Tests;

/// <summary>Agreement coefficients against their textbook examples, and the per-task and per-worker quality metrics.</summary>
public sealed class MetricsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-metrics-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A matrix from coder rows over units (null = missing), as the reliability literature lays data out.</summary>
    private static LabelMatrix Reliability(params string?[][] coders)
    {
        var b = new LabelMatrixBuilder();
        for (int w = 0; w < coders.Length; w++)
            for (int u = 0; u < coders[w].Length; u++)
                if (coders[w][u] is { } v) b.Add("u" + (u + 1), "c" + w, v);
        return b.Build().Matrix;
    }

    private static string?[] Row(string values) => values.Split(' ').Select(v => v == "." ? null : v).ToArray();

    // Krippendorff (2011), "Computing Krippendorff's alpha-reliability", section C: 4 observers, 12 units, values 1–5, missing data.
    private static LabelMatrix KrippendorffC() => Reliability(
        Row("1 2 3 3 2 1 4 1 2 . . ."),
        Row("1 2 3 3 2 2 4 1 2 5 . 3"),
        Row(". 3 3 3 2 3 4 2 2 5 1 ."),
        Row("1 2 3 3 2 4 4 1 2 5 1 ."));

    [Fact]
    public void Krippendorff_alpha_matches_the_2011_worked_example_at_every_level()
    {
        // Exact fractions, computed by hand from the pairable values (paper: 0.743, 0.815, 0.849, 0.797).
        var m = KrippendorffC();
        Assert.Equal(113.0 / 152, Metrics.Reliability.KrippendorffAlpha(m, AlphaLevel.Nominal)!.Value, 1e-9);
        Assert.Equal(108577.0 / 133160, Metrics.Reliability.KrippendorffAlpha(m, AlphaLevel.Ordinal)!.Value, 1e-9);
        Assert.Equal(951.0 / 1120, Metrics.Reliability.KrippendorffAlpha(m, AlphaLevel.Interval)!.Value, 1e-9);
        Assert.Equal(18222619.0 / 22852465, Metrics.Reliability.KrippendorffAlpha(m, AlphaLevel.Ratio)!.Value, 1e-9);
    }

    [Fact]
    public void Krippendorff_alpha_matches_the_2011_binary_example()
    {
        // Section A: two observers, ten units, binary values; α = 2/21 ≈ 0.095.
        var m = Reliability(Row("0 1 0 0 0 0 0 0 1 0"), Row("1 1 1 0 0 1 0 0 0 0"));
        Assert.Equal(2.0 / 21, Metrics.Reliability.KrippendorffAlpha(m, AlphaLevel.Nominal)!.Value, 1e-9);
    }

    [Fact]
    public void Alpha_is_one_for_perfect_agreement_and_undefined_without_variation()
    {
        Assert.Equal(1, Metrics.Reliability.KrippendorffAlpha(Reliability(Row("a b a"), Row("a b a")), AlphaLevel.Nominal)!.Value, 12);
        Assert.Null(Metrics.Reliability.KrippendorffAlpha(Reliability(Row("a a a"), Row("a a a")), AlphaLevel.Nominal));
        // A unit with one value is not pairable; nothing else left.
        Assert.Null(Metrics.Reliability.KrippendorffAlpha(Reliability(Row("a b"), Row(". .")), AlphaLevel.Nominal));
        var e = Assert.Throws<TallyUserException>(() => Metrics.Reliability.KrippendorffAlpha(Reliability(Row("a b"), Row("a b")), AlphaLevel.Interval));
        Assert.Contains("class 'a' is not a number", e.Message);
    }

    [Fact]
    public void Fleiss_kappa_matches_the_classic_ten_subject_example()
    {
        // Fleiss (1971) layout as on Wikipedia: 10 subjects, 14 raters each, 5 categories; P̄ = 0.378, P̄e = 0.213, κ ≈ 0.210.
        int[][] table =
        [
            [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
        ];
        var b = new LabelMatrixBuilder(["1", "2", "3", "4", "5"]);
        for (int s = 0; s < table.Length; s++)
        {
            int rater = 0;
            for (int j = 0; j < 5; j++)
                for (int x = 0; x < table[s][j]; x++) b.Add("s" + s, "r" + rater++, (j + 1).ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        double kappa = Metrics.Reliability.FleissKappa(b.Build().Matrix)!.Value;
        Assert.Equal(4211.0 / 20059, kappa, 1e-9);
        Assert.Equal(0.210, kappa, 3);
    }

    [Fact]
    public void Wilson_interval_matches_its_textbook_values_and_stays_in_zero_one()
    {
        var (low, high) = QualityMetrics.Wilson(8, 10);
        Assert.Equal(0.4902, low, 4);
        Assert.Equal(0.9433, high, 4);
        (low, high) = QualityMetrics.Wilson(0, 5);
        Assert.Equal(0, low);
        Assert.InRange(high, 0.43, 0.44); // z²/(n + z²) = 3.8415 / 8.8415
        Assert.Equal((0.0, 1.0), QualityMetrics.Wilson(0, 0));
        Assert.Equal(1.959963984540054, NormalDistribution.Quantile(0.975), 12);
        Assert.Equal(0.975, NormalDistribution.Cdf(1.959963984540054), 14);
    }

    [Fact]
    public void Task_and_worker_metrics_follow_their_definitions_on_a_small_crowd()
    {
        // Task x: a, a, b; task y: b, b, b. Aggregate: x → a (p = 0.8), y → b (p = 1).
        var b = new LabelMatrixBuilder();
        foreach (var (t, w, l) in new[] { ("x", "1", "a"), ("x", "2", "a"), ("x", "3", "b"), ("y", "1", "b"), ("y", "2", "b"), ("y", "3", "b") }) b.Add(t, w, l);
        var m = b.Build().Matrix;
        var truth = new GoldLabels([0, 1], 2);
        var r = QualityMetrics.Compute(m, [0.8, 0.2, 0, 1], truth);
        Assert.Equal(-(0.8 * Math.Log(0.8) + 0.2 * Math.Log(0.2)), r.Entropy[0], 12);
        Assert.Equal(0, r.Entropy[1]);
        Assert.Equal(2.0 / 3, r.TaskAgreement[0], 12);
        Assert.Equal([1.0, 1.0, 0.5], r.WorkerAgreement.ToArray());
        // Consistency of x: workers 1, 2 (accuracy 1 − 1e-3 after clamping) say a, worker 3 (0.5) says b.
        double s = 1 - 1e-3, pa = s * s * 0.5, pb = (1 - s) * (1 - s) * 0.5;
        Assert.Equal(pa / (pa + pb), r.Consistency[0], 12);
        Assert.Equal([2, 2, 2], r.GoldAnswers.ToArray());
        Assert.Equal([2, 2, 1], r.GoldCorrect.ToArray());
        Assert.Equal(0.5, r.Accuracy(2));
        Assert.Equal(QualityMetrics.Wilson(1, 2).Low, r.AccuracyLow[2]);
    }

    [Fact]
    public void Tasks_with_one_answer_leave_the_coefficients_undefined_and_every_file_finite()
    {
        var path = Path.Combine(_dir, "single.csv");
        File.WriteAllLines(path, ["task,worker,label", "1,a,x", "2,b,y", "3,a,x"]);
        var o = MetricsJob.Run(new MetricsRequest { Answers = new InputSource(path, null), Method = "mv", OutputDirectory = Path.Combine(_dir, "single") });
        Assert.Null(o.Report.AlphaNominal);
        Assert.Null(o.Report.FleissKappa);
        var metrics = File.ReadAllLines(Path.Combine(_dir, "single", "metrics.csv"));
        Assert.Contains("alpha_nominal,", metrics);
        foreach (var f in Directory.GetFiles(Path.Combine(_dir, "single")))
            Assert.DoesNotContain("NaN", File.ReadAllText(f));
        // One class only: consistency 1, entropy 0.
        File.WriteAllLines(path, ["task,worker,label", "1,a,x", "1,b,x"]);
        var one = MetricsJob.Run(new MetricsRequest { Answers = new InputSource(path, null), Method = "ds" });
        Assert.Equal(1, one.Report.Consistency[0]);
        Assert.Equal(0, one.Report.Entropy[0]);
        Assert.Null(one.Report.AlphaNominal);
    }

    [Fact]
    public void The_metrics_job_gives_the_same_files_for_shuffled_rows_and_from_a_labels_file()
    {
        var data = Path.Combine(TestData.RepoRoot, "data", "dog");
        var lines = File.ReadAllLines(Path.Combine(data, "answers.csv"));
        var rng = new Random(3);
        var shuffled = Path.Combine(_dir, "shuffled.csv");
        File.WriteAllLines(shuffled, [lines[0], .. lines.Skip(1).OrderBy(_ => rng.Next())]);
        var truth = Path.Combine(data, "truth.csv");
        var a = MetricsJob.Run(new MetricsRequest { Answers = new InputSource(null, "dog"), Method = "ds", OutputDirectory = Path.Combine(_dir, "a") });
        var b = MetricsJob.Run(new MetricsRequest { Answers = new InputSource(shuffled, null), TruthPath = truth, Method = "ds", OutputDirectory = Path.Combine(_dir, "b") });
        foreach (var name in new[] { "metrics.csv", "tasks.csv", "workers.csv" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(_dir, "a", name)), File.ReadAllBytes(Path.Combine(_dir, "b", name)));
        // The same measured against the labels file tally aggregate writes.
        AggregateJob.Run(new AggregateRequest { Answers = new InputSource(null, "dog"), Method = "ds", OutputDirectory = Path.Combine(_dir, "agg") });
        var c = MetricsJob.Run(new MetricsRequest { Answers = new InputSource(null, "dog"), LabelsPath = Path.Combine(_dir, "agg", "labels.csv"), OutputDirectory = Path.Combine(_dir, "c") });
        Assert.Equal(a.Report.Labels.ToArray(), c.Report.Labels.ToArray());
        for (int t = 0; t < a.Report.Entropy.Length; t++) Assert.Equal(a.Report.Entropy[t], c.Report.Entropy[t], 12);
        // In memory (as a service would call it) the same report.
        var (dog, dogTruth) = TestData.Dataset("dog");
        var inMemory = MetricsJob.Measure(dog, "ds", dogTruth);
        Assert.Equal(a.Report.Consistency.ToArray(), inMemory.Consistency.ToArray());
        Assert.Equal(a.Report.AccuracyLow.ToArray(), inMemory.AccuracyLow.ToArray());
        // Agreement coefficients need no aggregate; on dog (4 classes, ~10 answers a task) they are positive but far from 1.
        Assert.InRange(a.Report.AlphaNominal!.Value, 0.3, 0.9);
        Assert.InRange(a.Report.FleissKappa!.Value, 0.3, 0.9);
        // Workers' gold accuracy lies in its interval, and every number written is finite.
        var r = a.Report;
        for (int w = 0; w < r.GoldAnswers.Length; w++)
            if (r.Accuracy(w) is { } acc) Assert.InRange(acc, r.AccuracyLow[w], r.AccuracyHigh[w]);
        Assert.DoesNotContain("NaN", File.ReadAllText(Path.Combine(_dir, "a", "workers.csv")));
    }
}
