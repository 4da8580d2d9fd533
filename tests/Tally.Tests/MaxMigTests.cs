using Tally.Core;
using Tally.Learning;
using Xunit.Abstractions;

namespace Tally.Tests;

public sealed class MaxMigTests(ITestOutputHelper output)
{
    // Three tasks, K = 2, uniform prior. Scores s_j = Σ_m W_m e(y_jm) chosen so that g and u = g/p are round numbers:
    //   s_0 = (log 3, 0) ⇒ g_0 = (0.75, 0.25), u_0 = (1.5, 0.5)
    //   s_1 = (0, log 4) ⇒ g_1 = (0.2, 0.8),   u_1 = (0.4, 1.6)
    //   s_2 = (0, 0)     ⇒ g_2 = (0.5, 0.5),   u_2 = (1, 1)
    // h_0 = (0.8, 0.2), h_1 = (0.3, 0.7), h_2 = (0.5, 0.5). R_ij = Σ_c h_ic u_jc:
    //   R_00 = 1.2 + 0.1 = 1.3, R_11 = 0.12 + 1.12 = 1.24, R_22 = 1,
    //   R_01 = 0.32 + 0.32 = 0.64, R_02 = 1, R_10 = 0.45 + 0.35 = 0.8, R_12 = 1, R_20 = 0.75 + 0.25 = 1, R_21 = 0.2 + 0.8 = 1.
    private static readonly double[] H3 = [0.8, 0.2, 0.3, 0.7, 0.5, 0.5];
    private static readonly double[] S3 = [Math.Log(3), 0, 0, Math.Log(4), 0, 0];

    [Theory]
    // KL: MIG = (1/3) Σ_i (1 + log R_ii) − (1/6) Σ_{i≠j} R_ij = 1 + (log 1.3 + log 1.24)/3 − (0.64 + 1 + 0.8 + 1 + 1 + 1)/6.
    [InlineData(MaxMigDivergence.KullbackLeibler, 1 + (0.26236426446749106 + 0.21511137961694549) / 3 - 5.44 / 6)]
    // Pearson: (1/3) Σ 2(R_ii − 1) − (1/6) Σ (R_ij² − 1) = (2/3)(0.3 + 0.24) − (1/6)((0.4096 − 1) + (0.64 − 1)) = 0.36 + 0.1584.
    [InlineData(MaxMigDivergence.Pearson, 0.5184)]
    // JS: (1/3) Σ log(2R_ii/(1 + R_ii)) − (1/6) Σ log((1 + R_ij)/2)
    //   = (1/3)(log(2.6/2.3) + log(2.48/2.24) + 0) − (1/6)(log 0.82 + log 0.9).
    [InlineData(MaxMigDivergence.JensenShannon,
        (0.12260232209233233 + 0.10178269430994236) / 3 - (-0.19845093872383832 + -0.10536051565782628) / 6)]
    public void BatchBoundEqualsHandComputedValue(MaxMigDivergence divergence, double mig)
    {
        var objective = new MaxMigObjective(divergence, 2);
        var dH = new double[6];
        var dS = new double[6];
        var dLogPrior = new double[2];
        double loss = objective.Evaluate(H3, S3, [Math.Log(0.5), Math.Log(0.5)], 3, dH, dS, dLogPrior);
        output.WriteLine($"{divergence}: loss {loss:R}, expected −MIG {-mig:R}");
        Assert.Equal(-mig, loss, 1e-10);
    }

    [Fact]
    public void HandComputedConstantsAreTheLogarithmsTheyClaim()
    {
        // The literals above are logarithms written out so the expected values are independent of the code under test.
        Assert.Equal(0.26236426446749106, Math.Log(1.3), 1e-15);
        Assert.Equal(0.21511137961694549, Math.Log(1.24), 1e-15);
        Assert.Equal(0.12260232209233233, Math.Log(2.6 / 2.3), 1e-15);
        Assert.Equal(0.10178269430994236, Math.Log(2.48 / 2.24), 1e-15);
        Assert.Equal(-0.19845093872383832, Math.Log(0.82), 1e-15);
        Assert.Equal(-0.10536051565782628, Math.Log(0.9), 1e-15);
    }

    /// <summary>The whole batch loss as a function of h, W and φ: scores from the answers, then the bound.</summary>
    private static double BatchLoss(MaxMigObjective objective, MaxMigAggregator g, LabelMatrix answers, int[] rows, int k,
        double[] h, double[] dH, double[] gradW, double[] gradPhi)
    {
        int b = rows.Length;
        var s = new double[b * k];
        for (int i = 0; i < b; i++) g.AddScores(answers, rows[i], s.AsSpan(i * k, k));
        var logPrior = new double[k];
        g.LogPrior(logPrior);
        var dS = new double[b * k];
        var dLogPrior = new double[k];
        double value = objective.Evaluate(h, s, logPrior, b, dH, dS, dLogPrior);
        Array.Clear(gradW);
        for (int i = 0; i < b; i++) g.AccumulateGradient(answers, rows[i], dS.AsSpan(i * k, k), gradW);
        g.PriorGradient(dLogPrior, gradPhi);
        return value;
    }

    [Theory]
    [InlineData(MaxMigDivergence.KullbackLeibler)]
    [InlineData(MaxMigDivergence.Pearson)]
    [InlineData(MaxMigDivergence.JensenShannon)]
    public void BoundGradientMatchesFiniteDifferences(MaxMigDivergence divergence)
    {
        const int k = 3, workers = 4;
        var rng = new Random(31 + (int)divergence);
        // Five tasks; task 3 has no answers (a zero aggregator input), worker 2 answers twice as often as the others.
        var answers = LabelMatrix.FromTriples(5, workers, k,
            [0, 0, 1, 1, 1, 2, 2, 4, 4, 4],
            [0, 2, 1, 2, 3, 0, 2, 2, 1, 0],
            [1, 0, 2, 2, 1, 0, 0, 1, 1, 2]);
        int[] rows = [4, 0, 3, 2, 1];
        var weights = new double[workers * k * k];
        for (int q = 0; q < weights.Length; q++) weights[q] = rng.NextDouble() * 2 - 1;
        var phi = new double[k];
        for (int c = 0; c < k; c++) phi[c] = rng.NextDouble() - 0.5;
        var g = new MaxMigAggregator(k, weights, phi, learnPrior: true);
        var h = new double[rows.Length * k];
        for (int i = 0; i < rows.Length; i++)
        {
            double sum = 0;
            for (int c = 0; c < k; c++) { h[i * k + c] = 0.1 + rng.NextDouble(); sum += h[i * k + c]; }
            for (int c = 0; c < k; c++) h[i * k + c] /= sum;
        }
        var objective = new MaxMigObjective(divergence, k);
        var dH = new double[h.Length];
        var gradW = new double[weights.Length];
        var gradPhi = new double[k];
        BatchLoss(objective, g, answers, rows, k, h, dH, gradW, gradPhi);
        var (sH, sW, sP) = (new double[h.Length], new double[weights.Length], new double[k]);
        double Loss() => BatchLoss(objective, g, answers, rows, k, h, sH, sW, sP);

        double worst = 0;
        void Check(double[] values, double[] analytic, string what) =>
            worst = Math.Max(worst, GradientCheck.Central(values, analytic, Loss, what));
        Check(h, dH, "∂/∂h");
        Check(weights, gradW, "∂/∂W");
        Check(phi, gradPhi, "∂/∂φ");
        output.WriteLine($"{divergence}: worst relative gradient error {worst:E2}");
        // Workers answer only some tasks: W columns of unanswered labels get exactly zero gradient.
        Assert.Equal(0.0, gradW[3 * k * k + 0]); // worker 3 never answered class 0
    }

    private static MaxMigOptions ToyOptions => new()
    {
        Network = new DenseNetworkOptions { LearningRate = 0.01 },
        Epochs = 40,
        BatchSize = 32,
        LearningRate = 1e-3,
    };

    [Theory]
    [InlineData(MaxMigDivergence.KullbackLeibler)]
    [InlineData(MaxMigDivergence.Pearson)]
    [InlineData(MaxMigDivergence.JensenShannon)]
    public void SeparableToyProblemIsLearnt(MaxMigDivergence divergence)
    {
        var (data, truth, xt, yt) = CrowdToyData.Standard();
        var reports = new List<EpochReport>();
        var result = new MaxMig(ToyOptions with { Divergence = divergence }).Train(data, null, new SyncProgress(reports));
        double test = CrowdToyData.Accuracy(result.Learning.Classifier.PredictProbabilities(xt), yt);
        double zeta = CrowdToyData.Accuracy(CrowdToyData.Rows(result.Learning.Posteriors), truth);
        double hTrain = CrowdToyData.Accuracy(CrowdToyData.Rows(result.ClassifierPosteriors), truth);
        double gTrain = CrowdToyData.Accuracy(CrowdToyData.Rows(result.AggregatorPosteriors), truth);
        var mv = new Tally.Aggregation.MajorityVote().Aggregate(data.Answers);
        double mvAcc = mv.Labels.Zip(truth).Count(q => q.First == q.Second) / (double)truth.Length;
        output.WriteLine($"{divergence}: h test {test:P2}, h train {hTrain:P2}, g train {gTrain:P2}, ζ train {zeta:P2}, MV {mvAcc:P2}; " +
            $"loss {result.Learning.Losses[0]:F4} → {result.Learning.Losses[^1]:F4}");
        Assert.True(test > 0.95, $"test accuracy {test}");
        Assert.True(zeta > 0.95, $"forecaster accuracy {zeta}");
        Assert.Equal(ToyOptions.Epochs, reports.Count);
        Assert.Equal(Enumerable.Range(1, ToyOptions.Epochs), reports.Select(r => r.Epoch));
        Assert.All(result.Learning.Losses, l => Assert.True(double.IsFinite(l)));
        Assert.Equal("maxmig", result.Learning.Method);

        // ζ for the training data through the public forecaster equals the reported posteriors; rows sum to 1.
        var again = result.Model.Forecast(data.Features, data.Answers);
        for (int t = 0; t < truth.Length; t++)
        {
            Assert.Equal(1.0, again[t].Sum(), 12);
            for (int c = 0; c < 3; c++) Assert.Equal(result.Learning.Posteriors[t, c], again[t][c], 14);
        }
        var conf = result.Learning.Confusions!;
        Assert.Equal(20, conf.WorkerCount);
        for (int w = 0; w < conf.WorkerCount; w++)
            for (int c = 0; c < 3; c++) Assert.Equal(1.0, conf.Of(w).Slice(c * 3, 3).ToArray().Sum(), 12);
    }

    [Fact]
    public void SameSeedGivesIdenticalResults()
    {
        var (data, _, _, _) = CrowdToyData.Standard(seed: 5);
        var o = ToyOptions with { Epochs = 5, LearnPrior = true, Network = new DenseNetworkOptions { Hidden = [8], Dropout = 0.2 } };
        var a = new MaxMig(o).Train(data);
        var b = new MaxMig(o).Train(data);
        Assert.Equal(a.Learning.Posteriors.Values.ToArray(), b.Learning.Posteriors.Values.ToArray());
        Assert.Equal(a.Model.Weights.ToArray(), b.Model.Weights.ToArray());
        Assert.Equal(a.Model.Prior.ToArray(), b.Model.Prior.ToArray());
        Assert.Equal(a.Learning.Losses.ToArray(), b.Learning.Losses.ToArray());
        var c = new MaxMig(o with { Seed = 1 }).Train(data);
        Assert.NotEqual(a.Learning.Posteriors.Values.ToArray(), c.Learning.Posteriors.Values.ToArray());
        Assert.NotEqual(1.0 / 3, a.Model.Prior[0]); // the prior was learnt
    }

    [Fact]
    public void NaiveMajorityJuniorsDoNotCollapseMaxMig()
    {
        // Paper case 4.2: 5 independent seniors (accuracy 0.7) and 10 juniors who label everything as class 0; every
        // expert labels every task, so majority vote mostly says class 0.
        const int k = 3, n = 300, seniors = 5, juniors = 10;
        var (x, y) = CrowdToyData.Blobs(n, k, 4, 41);
        var rng = new Random(42);
        var (tasks, workers, labels) = (new List<int>(), new List<int>(), new List<int>());
        for (int t = 0; t < n; t++)
            for (int w = 0; w < seniors + juniors; w++)
            {
                int label = w >= seniors ? 0 : rng.NextDouble() < 0.7 ? y[t] : (y[t] + 1 + rng.Next(k - 1)) % k;
                tasks.Add(t); workers.Add(w); labels.Add(label);
            }
        var answers = LabelMatrix.FromTriples(n, seniors + juniors, k, [.. tasks], [.. workers], [.. labels]);
        var data = new CrowdTrainingSet { Answers = answers, Features = x };
        var mv = new Tally.Aggregation.MajorityVote().Aggregate(answers);
        double mvAcc = mv.Labels.Zip(y).Count(q => q.First == q.Second) / (double)y.Length;

        var result = new MaxMig(ToyOptions).Train(data);
        var (xt, yt) = CrowdToyData.Blobs(500, k, 4, 43);
        double test = CrowdToyData.Accuracy(result.Learning.Classifier.PredictProbabilities(xt), yt);
        double zeta = CrowdToyData.Accuracy(CrowdToyData.Rows(result.Learning.Posteriors), y);
        output.WriteLine($"naive majority: MV {mvAcc:P2}, Max-MIG h test {test:P2}, ζ train {zeta:P2}");
        Assert.True(mvAcc < 0.5, $"the scenario should defeat majority vote ({mvAcc})");
        Assert.True(test > 0.9, $"test accuracy {test}");
        Assert.True(zeta > 0.9, $"forecaster accuracy {zeta}");
    }

    [Fact]
    public void ForecasterMatchesWorkersByNameAndIgnoresUnknownOnes()
    {
        var (data, truth, _, _) = CrowdToyData.Standard(seed: 7);
        var result = new MaxMig(ToyOptions with { Epochs = 3 }).Train(data);
        var model = result.Model;
        var x = data.Features[..4];
        var h = model.Classifier.PredictProbabilities(x);
        // Answers from workers the model never saw: zero aggregator input, so ζ = h and g = p.
        var strangers = new LabelMatrixBuilder(Vocabulary.Numbered(4), new Vocabulary(["new-a", "new-b"]), data.Answers.Classes);
        strangers.Add(0, 0, 1); strangers.Add(2, 1, 2);
        var unknown = strangers.Build(DuplicatePolicy.KeepLast).Matrix;
        var zeta = model.Forecast(x, unknown);
        var g = model.Aggregate(unknown);
        for (int t = 0; t < 4; t++)
            for (int c = 0; c < 3; c++)
            {
                Assert.Equal(h[t][c], zeta[t][c], 12);
                Assert.Equal(model.Prior[c], g[t][c], 12);
            }
        // One known worker's answer: ζ_c ∝ h_c · exp(W_m[c, y]), computed here from the exposed weights.
        var known = new LabelMatrixBuilder(Vocabulary.Numbered(1), new Vocabulary([data.Answers.Workers[5]]), data.Answers.Classes);
        known.Add(0, 0, 2);
        var one = model.Forecast([x[0]], known.Build(DuplicatePolicy.KeepLast).Matrix)[0];
        var w = model.Weights.Slice(5 * 9, 9).ToArray();
        var expected = new double[3];
        for (int c = 0; c < 3; c++) expected[c] = h[0][c] * Math.Exp(w[c * 3 + 2]);
        double sum = expected.Sum();
        for (int c = 0; c < 3; c++) Assert.Equal(expected[c] / sum, one[c], 12);
        Assert.Equal(truth.Length, result.AggregatorPosteriors.Rows);
    }

    [Fact]
    public void InvalidSettingsAreRejected()
    {
        // Options are checked when training starts, before the data, and the error names the option.
        var two = LabelMatrix.FromTriples(2, 1, 2, [0, 1], [0, 0], [1, 0]);
        var data = new CrowdTrainingSet { Answers = two, Features = [[1.0], [2.0]] };
        Assert.Equal("BatchSize", Assert.Throws<InvalidOptionException>(() => new MaxMig(new MaxMigOptions { BatchSize = 1 }).Learn(data)).Option);
        Assert.Equal("LearningRate", Assert.Throws<InvalidOptionException>(() => new MaxMig(new MaxMigOptions { LearningRate = 0 }).Learn(data)).Option);
        Assert.Equal("Network.Dropout", Assert.Throws<InvalidOptionException>(() =>
            new MaxMig(new MaxMigOptions { Network = new DenseNetworkOptions { Dropout = 1 } }).Learn(data)).Option);
        Assert.Equal("Divergence", Assert.Throws<InvalidOptionException>(() => new MaxMig(new MaxMigOptions { Divergence = (MaxMigDivergence)9 }).Learn(data)).Option);
        // One answered task is a problem with the data, which the user can fix.
        var one = LabelMatrix.FromTriples(2, 1, 2, [0], [0], [1]);
        var e = Assert.Throws<TallyUserException>(() => new MaxMig().Learn(new CrowdTrainingSet { Answers = one, Features = [[1.0], [2.0]] }));
        Assert.Contains("two tasks with answers", e.Message);
    }

    /// <summary>Progress that records synchronously (Progress&lt;T&gt; would post to the thread pool).</summary>
    internal sealed class SyncProgress(List<EpochReport> reports) : IProgress<EpochReport>
    {
        public void Report(EpochReport value) => reports.Add(value);
    }
}
