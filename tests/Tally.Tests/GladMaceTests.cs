using Tally.Catalogs;
using Tally.Aggregation;
using Tally.Core;

namespace Tally.Tests;

public class GladMaceTests
{
    // t0: A=0 B=0 C=0     t1: A=1 B=1 C=0     t2: A=0 B=1 C=1
    private static LabelMatrix Example() => LabelMatrix.FromTriples(3, 3, 2,
        [0, 0, 0, 1, 1, 1, 2, 2, 2], [0, 1, 2, 0, 1, 2, 0, 1, 2], [0, 0, 0, 1, 1, 0, 0, 1, 1]);

    [Fact]
    public void Glad_e_step_with_prior_parameters_matches_hand_computation()
    {
        // No M-step: α = 1, β = 1 for everyone, so each answer is right with probability σ(1).
        // t1 (two votes for 1, one for 0): P(1) ∝ σ(1)²(1 − σ(1)), P(0) ∝ σ(1)(1 − σ(1))² → P(1) = σ(1) ≈ 0.7311.
        // t0 (unanimous 0): P(0) = σ(1)³ / (σ(1)³ + (1 − σ(1))³) ≈ 0.9758.
        var r = new Glad(new GladOptions { MaxIterations = 1, Tolerance = 0, MStepIterations = 0 }).Aggregate(Example());
        double s = 1 / (1 + Math.Exp(-1));
        Assert.Equal(s, r.Posteriors[1, 1], 12);
        Assert.Equal(s * s * s / (s * s * s + Math.Pow(1 - s, 3)), r.Posteriors[0, 0], 12);
    }

    [Fact]
    public void Glad_objective_never_decreases()
    {
        // EM with an M-step that increases its bound must not lower the (penalised) log-likelihood.
        var (m, _) = TestData.Dataset("duck");
        var r = new Glad(new GladOptions { MaxIterations = 30, Tolerance = 0 }).Aggregate(m);
        for (int i = 1; i < r.LogLikelihoods.Length; i++)
            Assert.True(r.LogLikelihoods[i] >= r.LogLikelihoods[i - 1] - 1e-6, $"iteration {i}: {r.LogLikelihoods[i - 1]} → {r.LogLikelihoods[i]}");
    }

    [Fact]
    public void Glad_gives_an_adversary_negative_ability()
    {
        // Four workers always right, one always wrong, on 40 binary tasks: the inverter's α must come out negative
        // and every label correct.
        var (tasks, workers, labels, truth) = Crowd(40, good: 4, inverters: 1, spammers: 0);
        var r = new Glad().Aggregate(LabelMatrix.FromTriples(40, 5, 2, tasks, workers, labels));
        Assert.True(r.WorkerSkills[4] < 0, $"inverter ability {r.WorkerSkills[4]}");
        Assert.True(r.WorkerSkills[0] > 1);
        Assert.Equal(truth, r.Labels.ToArray());
    }

    [Fact]
    public void Mace_finds_the_spammer()
    {
        // Three workers always right, two spammers who always answer class 0, on 40 binary tasks (half of class 1).
        // MACE must give the spammers the lowest competence and still get every label right (majority vote would
        // tie or lose on the class-1 tasks whenever a right worker is missing).
        var (tasks, workers, labels, truth) = Crowd(40, good: 3, inverters: 0, spammers: 2);
        var r = new Mace().Aggregate(LabelMatrix.FromTriples(40, 5, 2, tasks, workers, labels));
        Assert.True(r.WorkerSkills[3] < 0.3 && r.WorkerSkills[4] < 0.3, $"spammer competence {r.WorkerSkills[3]}, {r.WorkerSkills[4]}");
        Assert.True(r.WorkerSkills[0] > 0.9);
        Assert.Equal(truth, r.Labels.ToArray());
        Assert.Equal(1 - r.WorkerSkills[3], r.WorkerParameters["spamming"][3], 12);
    }

    [Fact]
    public void Mace_restarts_are_seeded()
    {
        var (m, _) = TestData.Dataset("face");
        var a = new Mace(new MaceOptions { Seed = 3 }).Aggregate(m);
        var b = new Mace(new MaceOptions { Seed = 3 }).Aggregate(m);
        Assert.Equal(a.Posteriors.Values.ToArray(), b.Posteriors.Values.ToArray());
    }

    [Theory]
    [InlineData("glad", "duck", 72.22)]
    [InlineData("glad", "dog", 83.40)]
    [InlineData("glad", "face", 63.01)]
    [InlineData("mace", "duck", 85.19)]
    [InlineData("mace", "dog", 83.52)]
    [InlineData("mace", "face", 63.53)]
    public void Accuracy_matches_crowd_kit_within_one_point(string method, string dataset, double crowdKit)
    {
        var acc = TestData.AccuracyPercent(AggregatorCatalog.Find(method)!.Create(new CommonMethodOptions()), dataset);
        Assert.True(acc >= crowdKit - 1.0, $"{method} on {dataset}: {acc:0.00}% vs Crowd-Kit {crowdKit}%");
    }

    /// <summary>Binary tasks, alternating truth; good workers always right, inverters always wrong, spammers always say 0.</summary>
    private static (int[] Tasks, int[] Workers, int[] Labels, int[] Truth) Crowd(int n, int good, int inverters, int spammers)
    {
        var ts = new List<int>(); var ws = new List<int>(); var ls = new List<int>();
        var truth = new int[n];
        for (int t = 0; t < n; t++)
        {
            truth[t] = t % 2;
            int w = 0;
            for (int g = 0; g < good; g++, w++) { ts.Add(t); ws.Add(w); ls.Add(truth[t]); }
            for (int g = 0; g < inverters; g++, w++) { ts.Add(t); ws.Add(w); ls.Add(1 - truth[t]); }
            for (int g = 0; g < spammers; g++, w++) { ts.Add(t); ws.Add(w); ls.Add(0); }
        }
        return (ts.ToArray(), ws.ToArray(), ls.ToArray(), truth);
    }
}
