using Tally.Core;
using Tally.Learning;
using Xunit.Abstractions;

namespace Tally.Tests;

public sealed class CoNalTests(ITestOutputHelper output)
{
    private static CoNalOptions ToyOptions => new()
    {
        Network = new DenseNetworkOptions { LearningRate = 0.01 },
        Epochs = 40,
        BatchSize = 32,
        LearningRate = 0.01,
    };

    [Fact]
    public void SeparableToyProblemIsLearnt()
    {
        var (data, truth, xt, yt) = CrowdToyData.Standard();
        var reports = new List<EpochReport>();
        var result = new CoNal(ToyOptions).Learn(data, null, new MaxMigTests.SyncProgress(reports));
        double test = CrowdToyData.Accuracy(result.Classifier.PredictProbabilities(xt), yt);
        double train = CrowdToyData.Accuracy(CrowdToyData.Rows(result.Posteriors), truth);
        output.WriteLine($"CoNAL: test {test:P2}, train posteriors {train:P2}; loss {result.Losses[0]:F4} → {result.Losses[^1]:F4}");
        Assert.True(test > 0.95, $"test accuracy {test}");
        Assert.Equal("conal", result.Method);
        Assert.Equal(ToyOptions.Epochs, reports.Count);
        Assert.True(result.Losses[^1] < result.Losses[0]);
        Assert.All(result.Posteriors.Values.ToArray(), v => Assert.True(double.IsFinite(v)));
        // Learned confusions: rows sum to 1, and the better workers have the larger mean diagonal.
        var conf = result.Confusions!;
        double Diagonal(int w) => (conf[w, 0, 0] + conf[w, 1, 1] + conf[w, 2, 2]) / 3;
        output.WriteLine($"mean diagonal: worker 0 (acc 0.6) {Diagonal(0):F3}, worker 19 (acc 0.9) {Diagonal(19):F3}");
        Assert.True(Diagonal(19) > Diagonal(0));
        for (int w = 0; w < conf.WorkerCount; w++)
            for (int c = 0; c < 3; c++) Assert.Equal(1.0, conf.Of(w).Slice(c * 3, 3).ToArray().Sum(), 12);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void CoNalGradientMatchesFiniteDifferences(bool normaliseInstance)
    {
        const int k = 3, workers = 3, d = 4, e = 3;
        var rng = new Random(52);
        var answers = LabelMatrix.FromTriples(4, workers, k,
            [0, 0, 1, 2, 2, 2],
            [0, 1, 2, 0, 1, 2],
            [2, 0, 1, 1, 1, 0]);
        int[] rows = [2, 3, 0, 1]; // task 3 has no answers
        var features = new double[4][];
        for (int t = 0; t < features.Length; t++)
        {
            features[t] = new double[d];
            for (int j = 0; j < d; j++) features[t][j] = 3 * rng.NextDouble() - 1;
        }
        var x = CoNalLayers.Standardise(features);
        // Distinct layers, so that the regulariser (made large here) has a direction and weighs in the check.
        var parameters = new double[CoNalLayers.Size(workers, k, d, e)];
        for (int q = 0; q < parameters.Length; q++) parameters[q] = 2 * rng.NextDouble() - 1;
        var layers = new CoNalLayers(workers, k, d, x, e, lambda: 0.3, normaliseInstance, parameters);
        var p = new double[rows.Length * k];
        for (int q = 0; q < p.Length; q++) p[q] = 0.1 + rng.NextDouble();
        var dP = new double[p.Length];
        var grad = new double[parameters.Length];
        layers.Evaluate(answers, rows, p, dP, grad);
        double Loss() => layers.Evaluate(answers, rows, p, new double[p.Length], new double[parameters.Length]);
        double worst = Math.Max(GradientCheck.Central(p, dP, Loss, "∂/∂σ"),
            GradientCheck.Central(parameters, grad, Loss, "∂/∂(W_c, W_r, u_r, A, a)"));
        output.WriteLine($"CoNAL (instance embedding normalised: {normaliseInstance}) worst relative gradient error {worst:E2}");
        Assert.All(dP.AsSpan(k, k).ToArray(), v => Assert.Equal(0.0, v)); // the unanswered task gets no gradient
        // Normalised embeddings bound the gate by sigmoid(±1): neither layer is ever switched off entirely.
        if (normaliseInstance)
            for (int t = 0; t < answers.TaskCount; t++)
                foreach (int r in answers.WorkersOf(t)) Assert.InRange(layers.Gate(t, r), 1 / (1 + Math.E), 1 / (1 + 1 / Math.E));
        // Every block of parameters is reached by the loss (a block the check passed as all-zero would prove nothing).
        int kk = k * k;
        (string Name, int Start, int Length)[] blocks =
        [
            ("W_c", 0, kk), ("W_r", layers.WorkerOffset(0), workers * kk), ("u_r", layers.EmbeddingOffset(0), workers * e),
            ("A", layers.MapOffset, d * e), ("a", layers.MapOffset + d * e, e),
        ];
        foreach (var (name, start, length) in blocks)
            Assert.True(grad.AsSpan(start, length).ToArray().Any(g => Math.Abs(g) > 1e-4), $"{name} gets no gradient");
    }

    [Fact]
    public void RegulariserPushesWorkerLayersAwayFromTheCommonOne()
    {
        // The paper's regulariser enters with a minus sign: the loss falls as ‖W_r − W_c‖ grows. With λ = 1 it
        // outweighs the data term here, so the gradient's sign on the diagonals shows the direction of the push.
        const int k = 2, workers = 1, d = 1, e = 2;
        var answers = LabelMatrix.FromTriples(1, workers, k, [0], [0], [0]);
        var parameters = new double[CoNalLayers.Size(workers, k, d, e)];
        parameters[0] = 1; parameters[3] = 1;               // W_c = I
        parameters[4] = 1.5; parameters[7] = 1.5;           // W_0 = 1.5 I
        parameters[8] = 1; parameters[10] = 1; parameters[11] = 1; // u_0, A, a
        var layers = new CoNalLayers(workers, k, d, [0.0], e, lambda: 1.0, normalise: true, parameters);
        var grad = new double[parameters.Length];
        double with = layers.Evaluate(answers, [0], [0.5, 0.5], new double[k], grad);
        var plain = new CoNalLayers(workers, k, d, [0.0], e, lambda: 0, normalise: true, parameters);
        double without = plain.Evaluate(answers, [0], [0.5, 0.5], new double[k], new double[parameters.Length]);
        Assert.Equal(without - Math.Sqrt(2 * 0.25), with, 12); // −λ‖W_0 − W_c‖_F = −√(2 · 0.5²)
        // Descent (−grad) moves W_0's diagonal up and W_c's down: apart.
        Assert.True(grad[4] < 0 && grad[7] < 0);
        Assert.True(grad[0] > 0 && grad[3] > 0);
    }

    [Fact]
    public void SameSeedGivesIdenticalResults()
    {
        var (data, _, _, _) = CrowdToyData.Standard(seed: 6);
        var o = ToyOptions with { Epochs = 5, Network = new DenseNetworkOptions { Hidden = [8], Dropout = 0.2 } };
        var a = new CoNal(o).Learn(data);
        var b = new CoNal(o).Learn(data);
        Assert.Equal(a.Posteriors.Values.ToArray(), b.Posteriors.Values.ToArray());
        Assert.Equal(a.Confusions!.Values.ToArray(), b.Confusions!.Values.ToArray());
        Assert.Equal(a.Losses.ToArray(), b.Losses.ToArray());
        var c = new CoNal(o with { Seed = 9 }).Learn(data);
        Assert.NotEqual(a.Posteriors.Values.ToArray(), c.Posteriors.Values.ToArray());
    }

    [Fact]
    public void BadOptionsAndDataAreRefusedByName()
    {
        var (data, _, _, _) = CrowdToyData.Standard();
        string Option(CoNalOptions o) => Assert.Throws<InvalidOptionException>(() => new CoNal(o).Learn(data)).Option;
        Assert.Equal("EmbeddingSize", Option(new CoNalOptions { EmbeddingSize = 0 }));
        Assert.Equal("Regularisation", Option(new CoNalOptions { Regularisation = -1 }));
        Assert.Equal("Regularisation", Option(new CoNalOptions { Regularisation = double.NaN }));
        Assert.Equal("LearningRate", Option(new CoNalOptions { LearningRate = 0 }));
        Assert.Equal("InitialDiagonal", Option(new CoNalOptions { InitialDiagonal = double.PositiveInfinity }));
        var none = LabelMatrix.FromTriples(3, 2, 2, [], [], []);
        var empty = new CrowdTrainingSet { Answers = none, Features = [[1.0], [2.0], [3.0]] };
        Assert.Contains("at least one task with answers", Assert.Throws<TallyUserException>(() => new CoNal().Learn(empty)).Message);
    }
}
