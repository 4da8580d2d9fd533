using Tally.Aggregation;
using Tally.Core;
using Tally.Robust;
using Tally.Simulation;
using Xunit.Abstractions;

namespace Tally.Tests;

/// <summary>RobustDawidSkene on rowdy crowds: symmetric Dawid-Skene honest workers plus coordinated adversaries.</summary>
public class RobustDawidSkeneTests(ITestOutputHelper output)
{
    // Sparse design: 400 workers, 2000 tasks, 5 answers per task → 25 answers per worker, K = 3, w = (0.5, 0.3, 0.2).
    private static AdversarialCrowd Crowd(double alpha, AdversaryStrategy strategy, int seed, int tasks = 2000, int workers = 400, int perTask = 5) =>
        new AdversarySimulator().Generate(new AdversaryScenario
        {
            Tasks = tasks, Workers = workers, PerTask = perTask, ClassWeights = RobustTensorTests.W3, Confusion = RobustTensorTests.G3,
            AdversaryFraction = alpha, Strategy = strategy, ConstantLabel = 2, Seed = seed,
        });

    private static double Acc(IAggregator method, AdversarialCrowd crowd) =>
        100 * Accuracy.Of(method.Aggregate(crowd.Answers).Labels.AsSpan(), crowd.Truth).Value;

    private (double Mv, double Ds, double Rds) Compare(AdversarialCrowd crowd, string label)
    {
        double mv = Acc(new MajorityVote(), crowd), ds = Acc(new DawidSkene(), crowd), rds = Acc(new RobustDawidSkene(), crowd);
        double plain = Acc(new RobustDawidSkene(new() { TrustWeighting = false }), crowd);
        output.WriteLine($"{label}: mv {mv:F1}  ds {ds:F1}  robust-ds {rds:F1} (plain eq. (11): {plain:F1})  margin vs ds {rds - ds:+0.0;-0.0}, vs mv {rds - mv:+0.0;-0.0}");
        return (mv, ds, rds);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void BeatsDawidSkeneAndMajorityVoteAgainstConstantLabelColluders(int seed)
    {
        var (mv, ds, rds) = Compare(Crowd(0.2, AdversaryStrategy.Constant, seed), $"α=0.2 constant, seed {seed}");
        Assert.True(rds > ds + 3, $"robust-ds {rds} vs ds {ds}");
        Assert.True(rds > mv + 3, $"robust-ds {rds} vs mv {mv}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void LabelFlippingColluders(int seed)
    {
        // Flippers answer (truth + 1) mod K: a permutation of the truth, so a per-worker model (ds) can decode them once
        // it has ~25 answers per worker, and does better than discarding them; robust-ds discards them (trust ≈ 0)
        // and must clearly beat majority vote, which they drag down.
        var (mv, ds, rds) = Compare(Crowd(0.2, AdversaryStrategy.Flip, seed), $"α=0.2 flip, seed {seed}");
        Assert.True(rds > mv + 8, $"robust-ds {rds} vs mv {mv}");
        output.WriteLine($"   (ds − robust-ds = {ds - rds:F1}: ds exploits the permutation)");
    }

    [Fact]
    public void SharedCoinColludersInADenseCrowd()
    {
        // 30 workers each answering ~530 tasks; the 6 adversaries all report the same random label per task.
        var (mv, ds, rds) = Compare(Crowd(0.2, AdversaryStrategy.Pattern, 1, workers: 30, perTask: 8), "α=0.2 shared coin, dense");
        Assert.True(rds > mv + 3);
        Assert.True(rds >= ds - 2);
    }

    [Theory]
    [InlineData(400, 5)]
    [InlineData(30, 8)]
    public void WithoutAdversariesStaysWithinTwoPointsOfDawidSkene(int workers, int perTask)
    {
        var crowd = Crowd(0, AdversaryStrategy.Constant, 1, workers: workers, perTask: perTask);
        var (_, ds, rds) = Compare(crowd, $"α=0, W={workers}, {perTask}/task");
        Assert.True(rds >= ds - 2, $"robust-ds {rds} vs ds {ds}");
        // and nobody lost trust
        var fit = new RobustDawidSkene().Fit(crowd.Answers);
        Assert.All(fit.Trust, t => Assert.Equal(1.0, t));
    }

    [Fact]
    public void FittedModelIsExposedAndAccurate()
    {
        var crowd = Crowd(0.2, AdversaryStrategy.Constant, 3, tasks: 4000);
        var r = new RobustDawidSkene().Aggregate(crowd.Answers);
        TestData.AssertValidResult(r);
        Assert.True(r.Converged);
        double err = 0;
        for (int j = 0; j < 3; j++)
        {
            err = Math.Max(err, Math.Abs(r.ClassPriors[j] - RobustTensorTests.W3[j]));
            for (int l = 0; l < 3; l++)
                for (int w = 0; w < crowd.Answers.WorkerCount; w += 97)
                    err = Math.Max(err, Math.Abs(r.Confusions![w, j, l] - RobustTensorTests.G3[j * 3 + l]));
        }
        double advTrust = 0, honestTrust = 0;
        int na = 0;
        for (int w = 0; w < crowd.Answers.WorkerCount; w++)
            if (crowd.IsAdversary[w]) { advTrust += r.WorkerSkills[w]; na++; } else honestTrust += r.WorkerSkills[w];
        advTrust /= na; honestTrust /= crowd.Answers.WorkerCount - na;
        output.WriteLine($"(w, Γ) max-abs error {err:F4}; mean trust honest {honestTrust:F3}, adversarial {advTrust:F3}");
        Assert.True(err < 0.05);
        Assert.True(advTrust < 0.1 && honestTrust > 0.85);
    }

    [Fact]
    public void AgentTupleBatchingWorksOnDenseCrowdsWithFewAdversaries()
    {
        // Paper-faithful batches (one per agent pair/triple): fine when tuples meet often and α is small (α = 0.05 →
        // ≈ 14% corrupted triples), hopeless at α = 0.2 (≈ 49%), which is why Worker batching is the default.
        var crowd = Crowd(0.05, AdversaryStrategy.Constant, 1, workers: 30, perTask: 8);
        double mv = Acc(new MajorityVote(), crowd);
        double tuple = Acc(new RobustDawidSkene(new() { Batching = MomentBatching.AgentTuple }), crowd);
        double worker = Acc(new RobustDawidSkene(), crowd);
        output.WriteLine($"α=0.05 constant, dense: mv {mv:F1}, robust-ds agent-tuple {tuple:F1}, worker {worker:F1}");
        Assert.True(tuple >= mv);
    }

    [Fact]
    public void DegenerateInputsGiveValidResults()
    {
        var method = new RobustDawidSkene();
        // K = 1
        var one = LabelMatrix.FromTriples(3, 2, 1, [0, 1, 2], [0, 1, 0], [0, 0, 0]);
        var r1 = method.Aggregate(one);
        TestData.AssertValidResult(r1);
        Assert.All(r1.ClassPriors, x => Assert.Equal(1.0, x));
        // Tasks with fewer than three answers: fallback, still a valid posterior; agreement-based one-coin Γ.
        var two = LabelMatrix.FromTriples(4, 3, 2, [0, 0, 1, 1, 2, 3], [0, 1, 1, 2, 0, 2], [0, 0, 1, 1, 0, 1]);
        var r2 = method.Aggregate(two);
        TestData.AssertValidResult(r2);
        Assert.False(r2.Converged);
        Assert.Equal([0, 1, 0, 1], r2.Labels.ToArray());
        // A single worker.
        var single = LabelMatrix.FromTriples(3, 1, 3, [0, 1, 2], [0, 0, 0], [2, 1, 0]);
        var r3 = method.Aggregate(single);
        TestData.AssertValidResult(r3);
        Assert.Equal([2, 1, 0], r3.Labels.ToArray());
        // Everybody always gives the same answer (M2 of rank 1).
        var same = LabelMatrix.FromTriples(3, 3, 3, [0, 0, 0, 1, 1, 1, 2, 2, 2], [0, 1, 2, 0, 1, 2, 0, 1, 2], [1, 1, 1, 1, 1, 1, 1, 1, 1]);
        TestData.AssertValidResult(method.Aggregate(same));
    }

    [Theory]
    [InlineData(MomentBatching.Worker, true)]
    [InlineData(MomentBatching.Worker, false)]
    [InlineData(MomentBatching.AgentTuple, true)]
    public void RandomMatricesGiveValidResults(MomentBatching batching, bool trust)
    {
        var method = new RobustDawidSkene(new() { Batching = batching, TrustWeighting = trust, MinBatchSize = 1 });
        for (int seed = 0; seed < 60; seed++)
            TestData.AssertValidResult(method.Aggregate(TestData.RandomMatrix(seed, maxTasks: 30, maxWorkers: 8, maxClasses: 4)));
    }

    [Fact]
    public void GoldIsClamped()
    {
        var crowd = Crowd(0.2, AdversaryStrategy.Flip, 5, tasks: 300, workers: 40);
        var gold = new int[300];
        Array.Fill(gold, -1);
        gold[0] = (crowd.Truth[0] + 1) % 3;
        var r = new RobustDawidSkene().Aggregate(crowd.Answers.WithGold(new GoldLabels(gold, 3)));
        Assert.Equal(gold[0], r.Labels[0]);
        Assert.Equal(1.0, r.Posteriors[0, gold[0]]);
    }

    [Fact]
    public void WorkerConfusionsDecodeFlippersOnAHeterogeneousCrowdButAreOffByDefault()
    {
        // The lab's heterogeneous crowd ((10, 20)-regular, honest accuracy ~ Beta(4, 2)) with 20 % flippers: the
        // symmetric model cannot tell flippers from honest workers there (the filter keeps everyone) and is near chance,
        // while per-worker confusions decode the flippers' permutation (this crowd: 99.4 % against 49.3 %; lab, 20 seeds:
        // 87.0 ± 16.3 against 51.1 — on some crowds they decode the flippers as the truth, as ds does at α ≥ 0.25).
        var crowd = AggregationLab.Find("adversaries")!.Scenario(0.2, 1);
        var plain = new RobustDawidSkene().Aggregate(crowd.Answers);
        var refined = new RobustDawidSkene(new() { WorkerConfusions = true }).Aggregate(crowd.Answers);
        TestData.AssertValidResult(refined);
        double a = 100 * Accuracy.Of(plain.Labels.AsSpan(), crowd.Truth).Value, b = 100 * Accuracy.Of(refined.Labels.AsSpan(), crowd.Truth).Value;
        output.WriteLine($"flippers α = 0.2, heterogeneous: robust-ds {a:F2}, with worker confusions {b:F2}");
        Assert.True(b > a + 20, $"{b:F2} vs {a:F2}");
        // Each worker now has her own matrix; without the option every worker reports the shared Γ.
        Assert.False(new RobustDawidSkeneOptions().WorkerConfusions);
        Assert.NotEqual(refined.Confusions![0, 0, 0], refined.Confusions![1, 0, 0]);
        Assert.Equal(plain.Confusions![0, 0, 0], plain.Confusions![1, 0, 0]);
    }

    [Fact]
    public void WorkerConfusionsGiveUpTheRobustnessToCoordinatedColluders()
    {
        // Why the option is off: at α = 0.3 coordinated colluders agree perfectly, and per-worker EM reads that as
        // reliability, as Dawid-Skene does (lab, 20 seeds: 50.6 % against 68.7 % for the default).
        var crowd = AggregationLab.Find("collusion")!.Scenario(0.3, 1);
        double plain = 100 * Accuracy.Of(new RobustDawidSkene().Aggregate(crowd.Answers).Labels.AsSpan(), crowd.Truth).Value;
        double refined = 100 * Accuracy.Of(new RobustDawidSkene(new() { WorkerConfusions = true }).Aggregate(crowd.Answers).Labels.AsSpan(), crowd.Truth).Value;
        output.WriteLine($"collusion α = 0.3: robust-ds {plain:F2}, with worker confusions {refined:F2}");
        Assert.True(plain > refined + 10, $"{plain:F2} vs {refined:F2}");
    }

    [Fact]
    public void WorkerConfusionsAreDeterministicAndFiniteOnRandomMatrices()
    {
        foreach (bool trust in new[] { true, false })
        {
            var method = new RobustDawidSkene(new() { WorkerConfusions = true, TrustWeighting = trust });
            for (int seed = 0; seed < 40; seed++)
            {
                var m = TestData.RandomMatrix(seed, maxTasks: 30, maxWorkers: 8, maxClasses: 4);
                var r = method.Aggregate(m);
                TestData.AssertValidResult(r);
                Assert.Equal(r.Posteriors.Values.ToArray(), method.Aggregate(m).Posteriors.Values.ToArray());
            }
        }
    }

    [Fact]
    public void SameSeedSameOutput()
    {
        var crowd = Crowd(0.2, AdversaryStrategy.Pattern, 6, tasks: 500, workers: 60);
        var a = new RobustDawidSkene(new() { Seed = 3 }).Aggregate(crowd.Answers);
        var b = new RobustDawidSkene(new() { Seed = 3 }).Aggregate(crowd.Answers);
        Assert.Equal(a.Posteriors.Values.ToArray(), b.Posteriors.Values.ToArray());
        Assert.Equal(a.WorkerSkills.ToArray(), b.WorkerSkills.ToArray());
        Assert.Equal("robust-ds", a.Method);
        var again = new AdversarySimulator().Generate(new AdversaryScenario { Tasks = 500, Workers = 60, PerTask = 5, ClassWeights = RobustTensorTests.W3, Confusion = RobustTensorTests.G3, AdversaryFraction = 0.2, Strategy = AdversaryStrategy.Pattern, ConstantLabel = 2, Seed = 6 });
        Assert.Equal(crowd.Answers.TaskLabels.ToArray(), again.Answers.TaskLabels.ToArray());
    }

    [Fact]
    public void SimulatorPlantsTheRequestedAdversaries()
    {
        var crowd = Crowd(0.2, AdversaryStrategy.Constant, 7, tasks: 200, workers: 50);
        Assert.Equal(10, crowd.IsAdversary.Count(x => x));
        for (int w = 0; w < 50; w++)
            if (crowd.IsAdversary[w]) Assert.All(crowd.Answers.LabelsBy(w).ToArray(), l => Assert.Equal(2, l));
        Assert.ThrowsAny<TallyUserException>(() => new AdversarySimulator().Generate(new AdversaryScenario { Confusion = [0.5, 0.5, 0.2, 0.7] }));
    }
}
