using System.Diagnostics;
using System.Globalization;
using Tally.Aggregation;
using Tally.Catalogs;
using Tally.Core;
using Tally.Learning;

namespace Tally.Tests;

/// <summary>
/// Many classes (free-text labels): 10,000 of them used to make Dawid-Skene grow to 7 GB and then die of an int
/// overflow. The methods whose memory is W·K² (or K³, K⁴) must now refuse before they allocate, naming themselves, what
/// they would need and a method that scales; the methods that grow with the answers and the T × K posteriors must run.
/// </summary>
public sealed class LargeKTests : IDisposable
{
    private const int K = 10_000;
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-large-k-").FullName;

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    /// <summary>
    /// <paramref name="tasks"/> tasks, 30 workers, 5 answers per task; 3 of the 5 give the task's true class
    /// (t·37 mod K), the others a class of their own; K = <paramref name="k"/> classes, all declared.
    /// </summary>
    private static (LabelMatrix Answers, int[] Truth) Crowd(int tasks, int k = K)
    {
        var classes = Enumerable.Range(0, k).Select(c => "c" + c.ToString("D5", CultureInfo.InvariantCulture)).ToArray();
        var b = new LabelMatrixBuilder(classes);
        var truth = new int[tasks];
        for (int t = 0; t < tasks; t++)
        {
            truth[t] = (int)((long)t * 37 % k);
            for (int j = 0; j < 5; j++)
            {
                int worker = (t + 7 * j) % 30;
                int label = j < 3 ? truth[t] : (truth[t] + 1 + 13 * j + t) % k;
                b.Add("t" + t.ToString(CultureInfo.InvariantCulture), "w" + worker.ToString("D2", CultureInfo.InvariantCulture), classes[label]);
            }
        }
        return (b.Build().Matrix, truth);
    }

    public static TheoryData<string> QuadraticMethods => new() { "ds", "onecoin", "spectral", "mf", "bp", "mace", "robust-ds" };

    [Theory]
    [MemberData(nameof(QuadraticMethods))]
    public void A_method_with_W_K2_state_refuses_10000_classes_before_allocating_and_names_one_that_scales(string method)
    {
        var (answers, _) = Crowd(200);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<MemoryLimitException>(() => AggregatorCatalog.Find(method)!.Create(new CommonMethodOptions()).Aggregate(answers));
        // Refused up front: no K² array was ever made (one of 30 × 10,000² doubles alone is 24 GB).
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 50_000_000, $"{method} allocated before refusing");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"{method} took {clock.Elapsed} to refuse");
        Assert.Equal(method, e.Method);
        Assert.StartsWith(method + " would need", e.Message);
        Assert.Contains("10,000", e.Message);
        foreach (var scalable in new[] { "mv", "wawa", "zbs", "glad", "mmsr" }) Assert.Contains(scalable, e.Message);
    }

    [Fact]
    public void The_memory_limit_refuses_what_an_array_could_hold_but_the_machine_should_not()
    {
        // 30 workers × 1,000² confusion entries: 240 MB a copy, ds keeps three; a 100 MB limit refuses, the default runs.
        var (answers, _) = Crowd(300, 1_000);
        var small = new ComputeOptions { MaxMemoryBytes = 100_000_000 };
        var e = Assert.Throws<MemoryLimitException>(() => new DawidSkene().Aggregate(answers, small));
        Assert.Equal(100_000_000, e.LimitBytes);
        Assert.InRange(e.EstimatedBytes, 3 * 240e6, 4 * 240e6);
        Assert.Contains("ds would need about 7", e.Message);   // ≈ 720 MB plus the posteriors
        Assert.Contains("MB of memory (30 workers × 1,000² confusion entries), more than the limit of 100 MB", e.Message);
        // The methods that scale are held to the same limit and fit in it.
        Assert.Equal(300, new MajorityVote().Aggregate(answers, small).Labels.Length);
        Assert.Throws<InvalidOptionException>(() => new ComputeOptions { MaxMemoryBytes = -1 }.Validate());
    }

    public static TheoryData<string> ScalableMethods => new() { "mv", "wawa", "zbs", "glad", "mmsr" };

    [Theory]
    [MemberData(nameof(ScalableMethods))]
    public void A_method_that_grows_with_the_answers_runs_on_10000_classes(string method)
    {
        var (answers, truth) = Crowd(200);
        var result = AggregatorCatalog.Find(method)!.Create(new CommonMethodOptions()).Aggregate(answers);
        Assert.Equal(K, result.Posteriors.Columns);
        int correct = 0;
        for (int t = 0; t < answers.TaskCount; t++)
        {
            int task = int.Parse(answers.Tasks[t].AsSpan(1), CultureInfo.InvariantCulture);
            if (result.Labels[t] == truth[task]) correct++;
            double sum = 0;
            foreach (double p in result.Posteriors.Row(t)) sum += p;
            Assert.InRange(sum, 1 - 1e-9, 1 + 1e-9);
        }
        // Three of five answers agree on the truth: every method should find (almost) all of them.
        Assert.True(correct >= 0.95 * answers.TaskCount, $"{method}: {correct} of {answers.TaskCount}");
        // Its model is W numbers, not W·K²: it saves small, loads, and predicts the same labels.
        string path = Path.Combine(_dir, method + ".json");
        result.Model.Save(path);
        Assert.True(new FileInfo(path).Length < 2_000_000, $"{method}'s model is {new FileInfo(path).Length:N0} bytes");
        var again = AggregationModel.Load(path).Predict(answers);
        Assert.Equal(result.Labels.Length, again.Labels.Length);
        if (method is "mv" or "mmsr")
            for (int t = 0; t < result.Labels.Length; t++)
                Assert.True(result.Labels[t] == again.Labels[t], $"task {t}: {result.Labels[t]} vs {again.Labels[t]}; {result.Posteriors[t, result.Labels[t]]} vs {again.Posteriors[t, again.Labels[t]]}, {again.Posteriors[t, result.Labels[t]]}");
    }

    [Fact]
    public void The_one_coin_model_predicts_what_the_equivalent_confusion_matrices_predict()
    {
        var (answers, _) = Crowd(150, 7);
        var oneCoin = new Glad().Aggregate(answers).Model;
        Assert.Equal(WorkerModelKind.OneCoin, oneCoin.Kind);
        Assert.Equal(answers.WorkerCount, oneCoin.Accuracies.Length);
        Assert.True(oneCoin.Confusions.IsDefaultOrEmpty);
        int k = answers.ClassCount, W = answers.WorkerCount;
        var conf = new double[W * k * k];
        for (int w = 0; w < W; w++)
            for (int j = 0; j < k; j++)
                for (int l = 0; l < k; l++)
                    conf[(w * k + j) * k + l] = l == j ? oneCoin.Accuracies[w] : (1 - oneCoin.Accuracies[w]) / (k - 1);
        var dense = oneCoin with { Kind = WorkerModelKind.Confusion, Confusions = [.. conf], Accuracies = [] };
        var a = oneCoin.Predict(answers);
        var b = dense.Predict(answers);
        for (int t = 0; t < a.Labels.Length; t++)
            Assert.True(a.Labels[t] == b.Labels[t], $"task {t}: {a.Labels[t]} vs {b.Labels[t]}; {string.Join(",", a.Posteriors.Row(t).ToArray())} vs {string.Join(",", b.Posteriors.Row(t).ToArray())}");
        for (int i = 0; i < a.Posteriors.Values.Length; i++) Assert.Equal(b.Posteriors.Values[i], a.Posteriors.Values[i], 12);
        // It round-trips, and a version-1 file (written before one-coin models existed) is still read.
        Assert.Equal(oneCoin, AggregationModel.FromJson(oneCoin.ToJson()));
        var ds = new DawidSkene().Aggregate(answers).Model;
        var v1 = ds.ToJson().Replace($"\"FormatVersion\": {AggregationModel.CurrentFormatVersion}", "\"FormatVersion\": 1");
        var read = AggregationModel.FromJson(v1).Confusions;
        for (int i = 0; i < read.Length; i++) Assert.True(ds.Confusions[i] == read[i], $"{i}: {ds.Confusions[i]:R} vs {read[i]:R}");
        var oneCoinV1 = oneCoin.ToJson().Replace($"\"FormatVersion\": {AggregationModel.CurrentFormatVersion}", "\"FormatVersion\": 1");
        Assert.Contains("version 1", Assert.Throws<TallyUserException>(() => AggregationModel.FromJson(oneCoinV1)).Message);
    }

    [Theory]
    [InlineData("crowdlayer")]
    [InlineData("conal")]
    [InlineData("maxmig")]
    [InlineData("em")]
    [InlineData("ds")]
    public void A_learner_with_W_K2_state_refuses_10000_classes(string method)
    {
        var (answers, _) = Crowd(100);
        var features = Enumerable.Range(0, answers.TaskCount).Select(t => new[] { t % 7 * 1.0, t % 3 * 1.0 }).ToArray();
        var learner = CrowdLearnerCatalog.Find(method)!.Create(new LearnerSettings { Epochs = 1 });
        var e = Assert.Throws<MemoryLimitException>(() => learner.Learn(new CrowdTrainingSet { Answers = answers, Features = features }));
        Assert.Contains("10,000", e.Message);
    }

    [Theory]
    [InlineData("rmif-ds")]
    [InlineData("rmif-symmetric")]
    public void A_mechanism_with_K4_moments_refuses_10000_classes(string mechanism)
    {
        var (answers, _) = Crowd(100);
        var e = Assert.Throws<MemoryLimitException>(() => MechanismCatalog.Find(mechanism)!.Create().Pay(answers));
        Assert.Equal(mechanism, e.Method);
        Assert.Contains("10,000", e.Message);
    }

    [Fact]
    public void Sizes_are_computed_in_64_bits_and_refused_rather_than_wrapped()
    {
        Assert.Equal(6, MemoryBudget.Length(1, 2, 3));
        // 50,000² wraps to a negative int; 30 × 10,000² to a positive but wrong one. Both are refused.
        Assert.Throws<MemoryLimitException>(() => MemoryBudget.Length(50_000, 50_000));
        Assert.Throws<MemoryLimitException>(() => MemoryBudget.Length(30, 10_000, 10_000));
        Assert.Equal("7.5 GB", MemoryBudget.Size(7.5e9));
        Assert.Equal("310 MB", MemoryBudget.Size(310e6));
        Assert.Equal("12 bytes", MemoryBudget.Size(12));
    }

    [Fact]
    public void The_command_line_refuses_ds_on_10000_free_text_labels_in_one_line_and_runs_mv()
    {
        // 1,000 tasks × 10 answers, every answer a label of its own: 10,000 classes.
        string file = Path.Combine(_dir, "free-text.csv");
        using (var w = new StreamWriter(file))
        {
            w.WriteLine("task,worker,label");
            for (int i = 0; i < 10_000; i++) w.WriteLine($"t{i / 10},w{i % 37},label {i}");
        }
        var clock = Stopwatch.StartNew();
        var (code, stdout, err) = CliTests.Run("aggregate", file, "--method", "ds");
        Assert.Equal(2, code);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"refusing took {clock.Elapsed}");
        Assert.Single(err.Trim().Split('\n'));
        Assert.StartsWith("tally: error: ds would need", err);
        Assert.Contains("10,000 classes use a method whose memory grows with the answers", err);
        Assert.Contains("TALLY_MAX_MEMORY", err);
        Assert.Equal("", stdout.Trim());

        (code, stdout, err) = CliTests.Run("aggregate", file, "--method", "mv");
        Assert.True(code == 0, err);
        Assert.Contains("10,000 (label 0, label 1, label 10,", stdout);

        // compare runs what fits and says why the rest did not.
        string truth = Path.Combine(_dir, "truth.csv");
        File.WriteAllLines(truth, ["task,truth", .. Enumerable.Range(0, 1000).Select(t => $"t{t},label {10 * t}")]);
        (code, stdout, err) = CliTests.Run("compare", file, "--truth", truth, "--methods", "mv,ds,glad", "--max-iterations", "3");
        Assert.True(code == 0, err);
        var dsRow = stdout.Split('\n').Single(l => l.Contains("│ ds "));
        Assert.Contains("too large", dsRow);
    }
}
