using Tally.Aggregation;
using Tally.Catalogs;
using Tally.Simulation;

namespace Tally.Tests;

/// <summary>Fitted models: saved and read back exactly, applied to new tasks, used as warm starts.</summary>
public sealed class AggregationModelTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "tally-models-" + Guid.NewGuid().ToString("N"));

    public AggregationModelTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    public static IEnumerable<object[]> Methods => TestData.AllMethods();

    private static IAggregator Make(string name) => AggregatorCatalog.Find(name)!.Create(new CommonMethodOptions(Seed: 1));

    private static (LabelMatrix Answers, GoldLabels Truth) Crowd(int classes, int tasks, int seed, int workers = 30) =>
        new DawidSkeneSimulator().Generate(new DawidSkeneScenario
        {
            Tasks = tasks, Workers = workers, PerTask = 5, Classes = classes, Accuracy = 0.72, AccuracySpread = 0.15, Seed = seed,
        }) is var c ? (c.Answers, c.Truth) : default;

    /// <summary>The answers to tasks [from, to) of <paramref name="m"/>, as a new matrix with the same workers and classes.</summary>
    private static LabelMatrix Slice(LabelMatrix m, int from, int to)
    {
        var b = new LabelMatrixBuilder(m.Classes.Names);
        for (int t = from; t < to; t++)
        {
            var ws = m.WorkersOf(t);
            var ls = m.LabelsOf(t);
            for (int i = 0; i < ws.Length; i++) b.Add(m.Tasks[t], m.Workers[ws[i]], m.Classes[ls[i]]);
        }
        return b.Build().Matrix;
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void A_saved_model_reads_back_exactly_and_predicts_the_same(string method)
    {
        int k = AggregatorCatalog.Find(method)!.BinaryOnly ? 2 : 3;
        var (m, _) = Crowd(k, 300, 4);
        var model = Make(method).Aggregate(m).Model;
        string path = Path.Combine(_dir, method + ".json");
        model.Save(path);
        var back = AggregationModel.Load(path);
        Assert.Equal(model, back);
        Assert.Equal(method, back.Method);
        Assert.Equal(File.ReadAllText(path), back.ToJson());
        var p1 = model.Predict(m).Posteriors.Values.ToArray();
        var p2 = back.Predict(m).Posteriors.Values.ToArray();
        Assert.Equal(p1, p2);
        foreach (var p in p1) Assert.True(double.IsFinite(p));
    }

    [Theory]
    [Trait("Category", "Slow")]
    [MemberData(nameof(Methods))]
    public void A_model_labels_tasks_it_never_saw_about_as_well_as_a_fit_on_them(string method)
    {
        // Fit on 1,500 tasks, predict 500 others answered by the same workers: with the workers' parameters learned
        // on three times the data, the held-out accuracy is within 3 points of fitting on those 500 tasks alone
        // (binomial standard error at 500 tasks and ≈ 85 % accuracy: 1.6 points).
        int k = AggregatorCatalog.Find(method)!.BinaryOnly ? 2 : 3;
        var (m, truth) = Crowd(k, 2000, 9);
        var train = Slice(m, 0, 1500);
        var test = Slice(m, 1500, 2000);
        var testTruth = new int[test.TaskCount];
        for (int t = 0; t < test.TaskCount; t++) testTruth[t] = truth[m.Tasks.IndexOf(test.Tasks[t])];
        var gold = new GoldLabels(testTruth, k);
        var model = Make(method).Aggregate(train).Model;
        var predicted = model.Predict(test);
        Assert.Equal(0, predicted.UnseenWorkers);
        double heldOut = Accuracy.Of(predicted.Labels.AsSpan(), gold).Value;
        double direct = Accuracy.Of(Make(method).Aggregate(test).Labels.AsSpan(), gold).Value;
        Assert.True(heldOut >= direct - 0.03, $"{method}: predicted {heldOut:P2} vs fitted {direct:P2}");
        Assert.True(heldOut > 0.6, $"{method}: predicted {heldOut:P2}");
    }

    [Theory]
    [InlineData("ds")]
    [InlineData("onecoin")]
    [InlineData("spectral")]
    [InlineData("mf")]
    [InlineData("glad")]
    public void Refining_on_the_same_answers_converges_in_fewer_iterations_to_the_same_labels(string method)
    {
        var (m, _) = Crowd(3, 1500, 12);
        var aggregator = Make(method);
        Assert.True(aggregator.SupportsWarmStart);
        var fit = aggregator.Aggregate(m);
        var refined = aggregator.Refine(fit.Model, m);
        Assert.True(fit.Iterations > 1, $"{method}: the fit took {fit.Iterations} iterations");
        Assert.True(refined.Iterations < fit.Iterations, $"{method}: refine {refined.Iterations} vs fit {fit.Iterations} iterations");
        Assert.Equal(fit.Labels.ToArray(), refined.Labels.ToArray());
    }

    [Fact]
    public void Refining_with_more_answers_starts_from_the_model()
    {
        // A round of answers arrives: refit on all of it from the first round's model, vs from scratch.
        var (m, truth) = Crowd(3, 3000, 15);
        var first = Slice(m, 0, 1000);
        var ds = new DawidSkene();
        var model = ds.Aggregate(first).Model;
        var cold = ds.Aggregate(m);
        var warm = ds.Refine(model, m);
        Assert.True(warm.Iterations < cold.Iterations, $"warm {warm.Iterations} vs cold {cold.Iterations}");
        double a = Accuracy.Of(warm.Labels.AsSpan(), truth).Value, b = Accuracy.Of(cold.Labels.AsSpan(), truth).Value;
        Assert.True(Math.Abs(a - b) < 0.005, $"warm {a:P2} vs cold {b:P2}");
    }

    [Fact]
    public void Unseen_workers_are_average_workers_by_default_or_ignored_or_refused()
    {
        var (m, _) = Crowd(3, 400, 2);
        var model = new DawidSkene().Aggregate(m).Model;
        var b = new LabelMatrixBuilder(m.Classes.Names);
        b.Add("new-task", m.Workers[0], m.Classes[1]);
        b.Add("new-task", "newcomer", m.Classes[2]);
        b.Add("other-task", "newcomer", m.Classes[2]);
        var fresh = b.Build().Matrix;

        var average = model.Predict(fresh);
        Assert.Equal(1, average.UnseenWorkers);
        // The newcomer alone on "other-task" is trusted like the average worker: their answer wins.
        Assert.Equal(2, average.Labels[fresh.Tasks.IndexOf("other-task")]);

        var ignored = model.Predict(fresh, new PredictOptions { UnseenWorkers = UnseenWorkerPolicy.Ignore });
        int other = fresh.Tasks.IndexOf("other-task");
        // Ignored: "other-task" has no evidence left and gets the class prior.
        for (int c = 0; c < 3; c++) Assert.Equal(model.ClassPriors[c], ignored.Posteriors[other, c], 12);

        var e = Assert.Throws<TallyUserException>(() => model.Predict(fresh, new PredictOptions { UnseenWorkers = UnseenWorkerPolicy.Error }));
        Assert.Contains("newcomer", e.Message);
    }

    [Fact]
    public void A_model_refuses_answers_with_other_classes_and_files_that_are_not_models()
    {
        var (m, _) = Crowd(3, 200, 2);
        var model = new DawidSkene().Aggregate(m).Model;
        var b = new LabelMatrixBuilder(["x", "y"]);
        b.Add("t", m.Workers[0], "x");
        var e = Assert.Throws<TallyUserException>(() => model.Predict(b.Build().Matrix));
        Assert.Contains("classes", e.Message);
        Assert.Throws<TallyUserException>(() => new Glad().Refine(model, m));

        string path = Path.Combine(_dir, "bad.json");
        File.WriteAllText(path, "{\"Method\": \"ds\"}");
        var bad = Assert.Throws<TallyDataException>(() => AggregationModel.Load(path));
        Assert.Contains("bad.json", bad.Message);
        File.WriteAllText(path, model.ToJson().Replace($"\"FormatVersion\": {AggregationModel.CurrentFormatVersion}", "\"FormatVersion\": 99"));
        Assert.Contains("version 99", Assert.Throws<TallyDataException>(() => AggregationModel.Load(path)).Message);
        Assert.Contains("no such model file", Assert.Throws<TallyDataException>(() => AggregationModel.Load(Path.Combine(_dir, "none.json"))).Message);
    }
}
