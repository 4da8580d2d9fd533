using Tally.Core;
using Tally.Simulation;

namespace Tally.Tests;

public sealed class ExpertSimulatorTests
{
    private static readonly ExpertSimulator Sim = new();

    private static int[] UniformTruth(int n, int k, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => rng.Next(k)).ToArray();
    }

    /// <summary>Worker w's label on every task, indexed by task.</summary>
    private static int[] LabelsOf(LabelMatrix m, int w)
    {
        var labels = new int[m.TaskCount];
        Array.Fill(labels, -1);
        var tasks = m.TasksOf(w);
        var ls = m.LabelsBy(w);
        for (int i = 0; i < tasks.Length; i++) labels[tasks[i]] = ls[i];
        return labels;
    }

    /// <summary>Empirical P(label | truth) of worker w: [truth, label].</summary>
    private static (double[,] Rate, int[] Count) Confusion(ExpertCrowd c, int w, int k)
    {
        var counts = new double[k, k];
        var n = new int[k];
        var labels = LabelsOf(c.Answers, w);
        for (int t = 0; t < labels.Length; t++) { counts[c.Truth[t], labels[t]]++; n[c.Truth[t]]++; }
        for (int y = 0; y < k; y++)
            for (int l = 0; l < k; l++) counts[y, l] /= Math.Max(1, n[y]);
        return (counts, n);
    }

    /// <summary>Asserts an empirical frequency is within 4.5 standard errors of p (exact when p is 0 or 1).</summary>
    private static void Near(double p, double observed, int n, string what)
    {
        double tol = p is 0 or 1 ? 0 : 4.5 * Math.Sqrt(p * (1 - p) / n);
        Assert.True(Math.Abs(observed - p) <= tol, $"{what}: observed {observed:F4}, expected {p} ± {tol:F4} (n = {n})");
    }

    [Theory]
    [InlineData(ExpertCase.IndependentMistakes, Expertise.High, 5, 0)]
    [InlineData(ExpertCase.IndependentMistakes, Expertise.Low, 10, 0)]
    [InlineData(ExpertCase.NaiveMajority, Expertise.High, 5, 5)]
    [InlineData(ExpertCase.NaiveMajority, Expertise.Low, 10, 15)]
    [InlineData(ExpertCase.CorrelatedMistakes, Expertise.High, 5, 5)]
    [InlineData(ExpertCase.CorrelatedMistakes, Expertise.Low, 10, 2)]
    public void Counts_FollowAppendixB1(ExpertCase @case, Expertise expertise, int seniors, int juniors)
    {
        var truth = UniformTruth(200, 10, 1);
        var c = Sim.Generate(truth, 10, new ExpertScenario { Case = @case, Expertise = expertise, Seed = 3 });
        Assert.Equal(seniors, c.Seniors);
        Assert.Equal(seniors + juniors, c.Answers.WorkerCount);
        Assert.Equal(200 * (seniors + juniors), c.Answers.AnswerCount);
        for (int w = 0; w < c.Answers.WorkerCount; w++) Assert.Equal(200, c.Answers.WorkerDegree(w));
        Assert.Equal("senior-A", c.Answers.Workers[0]);
        if (juniors > 0) Assert.Equal("junior-1", c.Answers.Workers[seniors]);
        Assert.Equal(truth, c.Truth.Labels.ToArray());
    }

    [Theory]
    [InlineData(Expertise.High)]
    [InlineData(Expertise.Low)]
    public void NaiveMajority_JuniorsAlwaysAnswerTheFirstClass(Expertise expertise)
    {
        var c = Sim.Generate(UniformTruth(500, 10, 2), 10, new ExpertScenario { Case = ExpertCase.NaiveMajority, Expertise = expertise, Seed = 4 });
        for (int w = c.Seniors; w < c.Answers.WorkerCount; w++)
        {
            Assert.All(LabelsOf(c.Answers, w), l => Assert.Equal(0, l));
            Assert.Equal(-1, c.CopiedSenior[w]);
        }
    }

    [Theory]
    [InlineData(Expertise.High, new[] { 0, 0, 2, 2, 2 })]
    [InlineData(Expertise.Low, new[] { 0, 2 })]
    public void CorrelatedMistakes_JuniorsCopySeniorsAAndC(Expertise expertise, int[] copied)
    {
        var c = Sim.Generate(UniformTruth(500, 10, 5), 10, new ExpertScenario { Case = ExpertCase.CorrelatedMistakes, Expertise = expertise, Seed = 6 });
        Assert.Equal(copied, c.CopiedSenior.Skip(c.Seniors));
        Assert.All(c.CopiedSenior.Take(c.Seniors), s => Assert.Equal(-1, s));
        for (int j = 0; j < copied.Length; j++)
            Assert.Equal(LabelsOf(c.Answers, copied[j]), LabelsOf(c.Answers, c.Seniors + j));
        // The copied senior makes mistakes, so the copies are not trivially the truth.
        Assert.NotEqual(c.Truth.Labels.ToArray(), LabelsOf(c.Answers, 0));
    }

    [Theory]
    [InlineData(Expertise.High)]
    [InlineData(Expertise.Low)]
    public void AllThreeCases_ShareTheSameSeniors(Expertise expertise)
    {
        var truth = UniformTruth(300, 10, 7);
        var crowds = Enum.GetValues<ExpertCase>()
            .Select(k => Sim.Generate(truth, 10, new ExpertScenario { Case = k, Expertise = expertise, Seed = 8 })).ToArray();
        for (int s = 0; s < crowds[0].Seniors; s++)
        {
            var first = LabelsOf(crowds[0].Answers, s);
            foreach (var c in crowds.Skip(1)) Assert.Equal(first, LabelsOf(c.Answers, s));
        }
        var other = Sim.Generate(truth, 10, new ExpertScenario { Expertise = expertise, Seed = 9 });
        Assert.NotEqual(LabelsOf(crowds[0].Answers, 1), LabelsOf(other.Answers, 1));
    }

    [Fact]
    public void Cifar10High_SeniorsBehaveAsDefinedOnTheHardPairs()
    {
        const int k = 10, n = 20000;
        var c = Sim.Generate(UniformTruth(n, k, 10), k, new ExpertScenario { Seed = 11 });
        var pairs = ExpertScenario.Cifar10HardPairs;
        for (int s = 0; s < 5; s++)
        {
            var (rate, count) = Confusion(c, s, k);
            for (int p = 0; p < pairs.Count; p++)
            {
                var (a, b) = pairs[p];
                bool mammals = p < 2;
                foreach (int y in new[] { a, b })
                {
                    // Only the two classes of the pair are ever answered.
                    Assert.Equal(1.0, rate[y, a] + rate[y, b], 9);
                    double pA = s switch
                    {
                        0 => 1,                                 // A: always the first class of the pair
                        1 => 0.5,                               // B: uniformly at random
                        2 => mammals ? (y == a ? 1 : 0) : 0.5,  // C: knows mammals, random elsewhere
                        3 => mammals ? 1 : (y == a ? 1 : 0),    // D: knows vehicles, "same class" on mammals
                        _ => y == a ? 0.6 : 0.4,                // E: right with probability 0.6
                    };
                    Near(pA, rate[y, a], count[y], $"senior {s} truth {y} answers {a}");
                }
            }
        }
    }

    [Fact]
    public void Cifar10High_OtherPairsAndCustomPairs_ArePerfectOutsideThePairs()
    {
        var truth = UniformTruth(2000, 6, 12);
        var c = Sim.Generate(truth, 6, new ExpertScenario { HardPairs = [(1, 4)], FirstGroupPairs = 1, Seed = 13 });
        for (int s = 0; s < 5; s++)
        {
            var labels = LabelsOf(c.Answers, s);
            for (int t = 0; t < truth.Length; t++)
                if (truth[t] is not 1 and not 4) Assert.Equal(truth[t], labels[t]);
                else Assert.Contains(labels[t], new[] { 1, 4 });
        }
    }

    [Fact]
    public void Cifar10Low_RightWithProbability02_ElseUniformlyWrong()
    {
        const int k = 10, n = 20000;
        var c = Sim.Generate(UniformTruth(n, k, 14), k, new ExpertScenario { Expertise = Expertise.Low, Seed = 15 });
        for (int s = 0; s < 10; s += 3)
        {
            var labels = LabelsOf(c.Answers, s);
            int right = 0;
            var wrongDistance = new int[k];
            for (int t = 0; t < n; t++)
            {
                if (labels[t] == c.Truth[t]) right++;
                else wrongDistance[(labels[t] - c.Truth[t] + k) % k]++;
            }
            Near(0.2, (double)right / n, n, $"senior {s} accuracy");
            for (int d = 1; d < k; d++) Near(1.0 / 9, (double)wrongDistance[d] / (n - right), n - right, $"senior {s} wrong offset {d}");
        }
    }

    [Theory]
    [InlineData(ExpertProfile.DogsVsCats, Expertise.High, new[] { 0.8, 0.6, 0.6, 0.6, 0.6, 0.9, 0.7, 0.7, 0.7, 0.6 })]
    [InlineData(ExpertProfile.Luna16, Expertise.High, new[] { 0.6, 0.9, 0.7, 0.7, 0.9, 0.6, 0.6, 0.7, 0.7, 0.6 })]
    [InlineData(ExpertProfile.DogsVsCats, Expertise.Low, new[] { 0.55, 0.55 })]
    [InlineData(ExpertProfile.Luna16, Expertise.Low, new[] { 0.6, 0.6 })]
    public void BinaryProfiles_ClassConditionalAccuracies(ExpertProfile profile, Expertise expertise, double[] accuracy)
    {
        const int n = 20000;
        var c = Sim.Generate(UniformTruth(n, 2, 16), 2, new ExpertScenario { Profile = profile, Expertise = expertise, Seed = 17 });
        for (int s = 0; s < c.Seniors; s++)
        {
            var (rate, count) = Confusion(c, s, 2);
            int i = expertise == Expertise.High ? 2 * s : 0;
            Near(accuracy[i], rate[0, 0], count[0], $"{profile} senior {s} accuracy on class 0");
            Near(accuracy[i + 1], rate[1, 1], count[1], $"{profile} senior {s} accuracy on class 1");
            Assert.Equal(accuracy[i], c.WorkerConfusions[s, 0, 0], 12);
            Assert.Equal(accuracy[i + 1], c.WorkerConfusions[s, 1, 1], 12);
        }
    }

    [Fact]
    public void NamesAndIds_AreUsed()
    {
        var c = Sim.Generate([0, 1, 1], ["cat", "dog"], new ExpertScenario { Profile = ExpertProfile.DogsVsCats }, ["x", "y", "z"]);
        Assert.Equal(["x", "y", "z"], c.Answers.Tasks.Names);
        Assert.Equal(["cat", "dog"], c.Answers.Classes.Names);
    }

    [Fact]
    public void Validation_RejectsMismatchedSettings()
    {
        // Scenario options that do not fit the classes name the option.
        string Option(Action a) => Assert.Throws<InvalidOptionException>(a).Option;
        Assert.Equal("Profile", Option(() => Sim.Generate([0], 10, new ExpertScenario { Profile = ExpertProfile.DogsVsCats })));
        Assert.Equal("HardPairs", Option(() => Sim.Generate([0], 5, new ExpertScenario())));          // CIFAR pairs need 10 classes
        Assert.Equal("HardPairs", Option(() => Sim.Generate([0], 4, new ExpertScenario { HardPairs = [(0, 1), (1, 2)] })));
        Assert.Equal("FirstGroupPairs", Option(() => Sim.Generate([0], 10, new ExpertScenario { FirstGroupPairs = 6 })));
        Assert.ThrowsAny<TallyUserException>(() => Sim.Generate([0], 1, new ExpertScenario()));
        Assert.Throws<ArgumentException>(() => Sim.Generate([10], 10, new ExpertScenario()));
        Assert.Throws<ArgumentException>(() => Sim.Generate([0, 1], 10, new ExpertScenario(), ["only-one"]));
    }

    [Fact]
    public void Deterministic_ForAFixedSeed()
    {
        var truth = UniformTruth(100, 10, 18);
        var s = new ExpertScenario { Case = ExpertCase.CorrelatedMistakes, Seed = 19 };
        var a = Sim.Generate(truth, 10, s).Answers;
        var b = Sim.Generate(truth, 10, s).Answers;
        Assert.Equal(a.TaskLabels.ToArray(), b.TaskLabels.ToArray());
        Assert.Equal(a.TaskWorkers.ToArray(), b.TaskWorkers.ToArray());
    }

    [Fact]
    public void SparseOneCoin_IsA34RegularGraphWithBeta21Workers()
    {
        const int n = 1000;
        var truth = UniformTruth(n, 2, 20);
        var c = Sim.SparseOneCoin(truth, 2, new SparseCrowdScenario { Seed = 21 });
        var m = c.Answers;
        Assert.Equal(750, m.WorkerCount);
        Assert.Equal(3 * n, m.AnswerCount);
        for (int t = 0; t < n; t++)
        {
            Assert.Equal(3, m.TaskDegree(t));
            Assert.Equal(3, m.WorkersOf(t).ToArray().Distinct().Count());
        }
        for (int w = 0; w < m.WorkerCount; w++) Assert.Equal(4, m.WorkerDegree(w));
        Assert.Equal(truth, c.Truth.Labels.ToArray());

        // Accuracies p ~ Beta(2, 1): mean 2/3, variance 1/18.
        var p = Enumerable.Range(0, 750).Select(w => c.WorkerConfusions[w, 0, 0]).ToArray();
        for (int w = 0; w < p.Length; w++) Assert.Equal(p[w], c.WorkerConfusions[w, 1, 1]); // one coin: same accuracy per class
        Assert.InRange(p.Average(), 2.0 / 3 - 4.5 * Math.Sqrt(1.0 / 18 / 750), 2.0 / 3 + 4.5 * Math.Sqrt(1.0 / 18 / 750));
        double var = p.Select(x => (x - p.Average()) * (x - p.Average())).Average();
        Assert.InRange(var, 1.0 / 18 * 0.75, 1.0 / 18 * 1.25);

        // The answers agree with the truth about 2/3 of the time (answer-level sd ≤ √(var + p(1−p)/3000)).
        int right = 0;
        for (int t = 0; t < n; t++) foreach (int l in m.LabelsOf(t)) if (l == truth[t]) right++;
        double tol = 4.5 * Math.Sqrt((2.0 / 9 + 1.0 / 18) / 3000 + 1.0 / 18 / 750);
        Assert.InRange(right / 3000.0, 2.0 / 3 - tol, 2.0 / 3 + tol);
    }

    [Fact]
    public void SparseOneCoin_ExtremeSpammersAnswerManyTasksAtRandom()
    {
        const int n = 800, k = 4;
        var truth = UniformTruth(n, k, 22);
        var ids = Enumerable.Range(0, n).Select(i => $"item-{i}").ToArray();
        var c = Sim.SparseOneCoin(truth, k, new SparseCrowdScenario { Spammers = 2, SpammerShare = 0.5, Seed = 23 }, ids);
        var m = c.Answers;
        Assert.Equal(600 + 2, m.WorkerCount);
        Assert.Equal(ids, m.Tasks.Names);
        for (int w = 0; w < 600; w++) Assert.Equal(4, m.WorkerDegree(w));
        for (int w = 600; w < 602; w++)
        {
            Assert.Equal(400, m.WorkerDegree(w));
            Assert.Equal(400, m.TasksOf(w).ToArray().Distinct().Count());
            var tasks = m.TasksOf(w);
            var labels = m.LabelsBy(w);
            int right = 0;
            for (int i = 0; i < tasks.Length; i++) if (labels[i] == truth[tasks[i]]) right++;
            Near(0.25, right / 400.0, 400, $"spammer {w} accuracy");
            for (int y = 0; y < k; y++) Assert.Equal(0.25, c.WorkerConfusions[w, y, (y + 1) % k]);
        }
        for (int t = 0; t < n; t++) Assert.InRange(m.TaskDegree(t), 3, 5);
    }

    [Fact]
    public void KimOneCoin_KeepsBeta21AccuracyForTenClasses()
    {
        var truth = UniformTruth(1000, 10, 26);
        var c = Sim.SparseOneCoin(truth, 10, ExpertSimulator.KimOneCoin(10, spammers: 1, seed: 27));
        var m = c.Answers;
        Assert.Equal(751, m.WorkerCount);
        Assert.Equal(1000, m.WorkerDegree(750)); // the extreme spammer answers every item
        var p = Enumerable.Range(0, 750).Select(w => c.WorkerConfusions[w, 3, 3]).ToArray();
        double tol = 4.5 * Math.Sqrt(1.0 / 18 / 750);
        Assert.InRange(p.Average(), 2.0 / 3 - tol, 2.0 / 3 + tol);
        // Errors are spread evenly over the 9 wrong classes.
        for (int w = 0; w < 750; w += 50) Assert.Equal((1 - p[w]) / 9, c.WorkerConfusions[w, 3, 7], 12);
    }

    [Fact]
    public void SparseOneCoin_ValidatesAndIsDeterministic()
    {
        Assert.Equal("PerWorker", Assert.Throws<InvalidOptionException>(() => Sim.SparseOneCoin(UniformTruth(10, 2, 1), 2)).Option); // 10·3 not divisible by 4
        Assert.ThrowsAny<TallyUserException>(() => Sim.SparseOneCoin(UniformTruth(8, 2, 1), 2, new SparseCrowdScenario { AdversaryFraction = 0.1 }));
        var truth = UniformTruth(700, 10, 24); // music-genre size: 700·3/4 = 525 workers
        var a = Sim.SparseOneCoin(truth, 10, new SparseCrowdScenario { Seed = 25 }).Answers;
        var b = Sim.SparseOneCoin(truth, 10, new SparseCrowdScenario { Seed = 25 }).Answers;
        Assert.Equal(525, a.WorkerCount);
        Assert.Equal(a.TaskLabels.ToArray(), b.TaskLabels.ToArray());
        Assert.Equal(a.TaskWorkers.ToArray(), b.TaskWorkers.ToArray());
    }
}
