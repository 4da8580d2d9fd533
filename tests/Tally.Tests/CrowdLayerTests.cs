using Tally.Core;
using Tally.Learning;
using Xunit.Abstractions;

namespace Tally.Tests;

public sealed class CrowdLayerTests(ITestOutputHelper output)
{
    private static CrowdLayerOptions ToyOptions => new()
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
        var result = new CrowdLayer(ToyOptions).Learn(data, null, new MaxMigTests.SyncProgress(reports));
        double test = CrowdToyData.Accuracy(result.Classifier.PredictProbabilities(xt), yt);
        double train = CrowdToyData.Accuracy(CrowdToyData.Rows(result.Posteriors), truth);
        output.WriteLine($"crowd layer: test {test:P2}, train posteriors {train:P2}; loss {result.Losses[0]:F4} → {result.Losses[^1]:F4}");
        Assert.True(test > 0.95, $"test accuracy {test}");
        Assert.Equal("crowdlayer", result.Method);
        Assert.Equal(ToyOptions.Epochs, reports.Count);
        Assert.True(result.Losses[^1] < result.Losses[0]);
        // Learned confusions: rows sum to 1, and the better workers have the larger mean diagonal.
        var conf = result.Confusions!;
        double Diagonal(int w) => (conf[w, 0, 0] + conf[w, 1, 1] + conf[w, 2, 2]) / 3;
        output.WriteLine($"mean diagonal: worker 0 (acc 0.6) {Diagonal(0):F3}, worker 19 (acc 0.9) {Diagonal(19):F3}");
        Assert.True(Diagonal(19) > Diagonal(0));
        for (int w = 0; w < conf.WorkerCount; w++)
            for (int c = 0; c < 3; c++) Assert.Equal(1.0, conf.Of(w).Slice(c * 3, 3).ToArray().Sum(), 12);
    }

    [Fact]
    public void CrowdLayerGradientMatchesFiniteDifferences()
    {
        const int k = 3, workers = 3;
        var rng = new Random(51);
        var answers = LabelMatrix.FromTriples(4, workers, k,
            [0, 0, 1, 2, 2, 2],
            [0, 1, 2, 0, 1, 2],
            [2, 0, 1, 1, 1, 0]);
        int[] rows = [2, 3, 0, 1]; // task 3 has no answers
        var weights = new double[workers * k * k];
        for (int q = 0; q < weights.Length; q++) weights[q] = 2 * rng.NextDouble() - 1;
        var layer = new CrowdLayerMatrices(k, weights);
        var p = new double[rows.Length * k];
        for (int q = 0; q < p.Length; q++) p[q] = 0.1 + rng.NextDouble();
        var dP = new double[p.Length];
        var gradW = new double[weights.Length];
        layer.Evaluate(answers, rows, p, dP, gradW);
        double Loss() => layer.Evaluate(answers, rows, p, new double[p.Length], new double[weights.Length]);
        double worst = 0;
        void Check(double[] values, double[] analytic, string what) =>
            worst = Math.Max(worst, GradientCheck.Central(values, analytic, Loss, what));
        Check(p, dP, "∂/∂σ");
        Check(weights, gradW, "∂/∂W");
        output.WriteLine($"crowd layer worst relative gradient error {worst:E2}");
        Assert.All(dP.AsSpan(k, k).ToArray(), v => Assert.Equal(0.0, v)); // the unanswered task gets no gradient
    }

    [Fact]
    public void IdentityInitialisationAndConfusions()
    {
        var layer = new CrowdLayerMatrices(2, 3);
        var conf = layer.Confusions();
        // softmax of a column of the identity: e/(e + 2) on the diagonal.
        double diag = Math.E / (Math.E + 2);
        Assert.Equal(diag, conf[1, 2, 2], 14);
        Assert.Equal(1 / (Math.E + 2), conf[1, 2, 0], 14);
    }

    [Fact]
    public void SameSeedGivesIdenticalResults()
    {
        var (data, _, _, _) = CrowdToyData.Standard(seed: 6);
        var o = ToyOptions with { Epochs = 5, Network = new DenseNetworkOptions { Hidden = [8], Dropout = 0.2 } };
        var a = new CrowdLayer(o).Learn(data);
        var b = new CrowdLayer(o).Learn(data);
        Assert.Equal(a.Posteriors.Values.ToArray(), b.Posteriors.Values.ToArray());
        Assert.Equal(a.Confusions!.Values.ToArray(), b.Confusions!.Values.ToArray());
        Assert.Equal(a.Losses.ToArray(), b.Losses.ToArray());
        var c = new CrowdLayer(o with { Seed = 9 }).Learn(data);
        Assert.NotEqual(a.Posteriors.Values.ToArray(), c.Posteriors.Values.ToArray());
    }
}
