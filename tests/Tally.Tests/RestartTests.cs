using Tally.Catalogs;
using Tally.Core;
using Tally.Learning;
using Tally.Simulation;
using Xunit.Abstractions;

namespace Tally.Tests;

/// <summary>Label-free restarts of Max-MIG and EM (<see cref="RestartOptions"/>).</summary>
public sealed class RestartTests(ITestOutputHelper output)
{
    private static MaxMigOptions ToyMaxMig => new()
    {
        Network = new DenseNetworkOptions { LearningRate = 0.01 },
        Epochs = 10,
        BatchSize = 32,
    };

    private static EmLearnerOptions ToyEm => new() { Rounds = 4, Network = CrowdLearnerDefaults.Network with { Epochs = 20 } };

    [Fact]
    public void OneRunIsTheRunWithoutRestartsBitForBit()
    {
        var (data, _, _, _) = CrowdToyData.Standard(seed: 3);
        // Count = 1 ignores the other restart settings: the result is today's single eq. (2) run, to the last bit.
        var odd = new RestartOptions { Count = 1, MergeAgreement = 0.5, MergeMinimumShared = 1, PerturbationScale = 3 };
        var plain = new MaxMig(ToyMaxMig).Train(data);
        var one = new MaxMig(ToyMaxMig with { Restarts = odd }).Train(data);
        Assert.Null(one.Learning.Restarts);
        Assert.Equal(plain.Learning.Posteriors.Values.ToArray(), one.Learning.Posteriors.Values.ToArray());
        Assert.Equal(plain.Model.Weights.ToArray(), one.Model.Weights.ToArray());
        Assert.Equal(plain.Learning.Losses.ToArray(), one.Learning.Losses.ToArray());
        // With restarts, run 0 is that same run.
        var three = new MaxMig(ToyMaxMig with { Restarts = new RestartOptions { Count = 3 } }).Train(data);
        var runs = three.Learning.Restarts!.Runs;
        Assert.Equal(3, runs.Length);
        Assert.Equal(RestartStart.Initial, runs[0].Start);
        Assert.Equal(plain.Learning.Posteriors.Values.ToArray(), runs[0].Posteriors.Values.ToArray());

        var emPlain = new EmLearner(ToyEm).Learn(data);
        var emOne = new EmLearner(ToyEm with { Restarts = odd }).Learn(data);
        Assert.Null(emOne.Restarts);
        Assert.Equal(emPlain.Posteriors.Values.ToArray(), emOne.Posteriors.Values.ToArray());
        Assert.Equal(emPlain.Losses.ToArray(), emOne.Losses.ToArray());
        var emTwo = new EmLearner(ToyEm with { Restarts = new RestartOptions { Count = 2 } }).Learn(data);
        Assert.Equal(emPlain.Posteriors.Values.ToArray(), emTwo.Restarts!.Runs[0].Posteriors.Values.ToArray());
        // The EM criterion is the log-likelihood per task, the negated last loss.
        Assert.Equal(-emPlain.Losses[^1], emTwo.Restarts.Runs[0].Criterion);
    }

    [Fact]
    public void RestartsAreDeterministicForASeed()
    {
        var (data, _, _, _) = CrowdToyData.Standard(seed: 4);
        var o = ToyMaxMig with { Restarts = new RestartOptions { Count = 3 } };
        var a = new MaxMig(o).Train(data);
        var b = new MaxMig(o).Train(data);
        Assert.Equal(a.Learning.Restarts!.Selected, b.Learning.Restarts!.Selected);
        Assert.Equal(a.Learning.Restarts.Runs.Select(r => r.Criterion), b.Learning.Restarts.Runs.Select(r => r.Criterion));
        Assert.Equal(a.Learning.Posteriors.Values.ToArray(), b.Learning.Posteriors.Values.ToArray());
        Assert.Equal(a.Model.Weights.ToArray(), b.Model.Weights.ToArray());
        // No two workers of the toy crowd answer alike, so runs 1 and 2 are perturbed starts, each from its own stream.
        Assert.Equal(0, a.Learning.Restarts.MergedWorkers);
        Assert.Equal([RestartStart.Initial, RestartStart.Perturbed, RestartStart.Perturbed], a.Learning.Restarts.Runs.Select(r => r.Start));
        Assert.NotEqual(a.Learning.Restarts.Runs[1].Criterion, a.Learning.Restarts.Runs[2].Criterion);
        // Another seed perturbs differently.
        var c = new MaxMig(o with { Seed = 1 }).Train(data);
        Assert.NotEqual(a.Learning.Restarts.Runs[1].Criterion, c.Learning.Restarts!.Runs[1].Criterion);

        var em = ToyEm with { Restarts = new RestartOptions { Count = 3 } };
        var e1 = new EmLearner(em).Learn(data);
        var e2 = new EmLearner(em).Learn(data);
        Assert.Equal(e1.Restarts!.Selected, e2.Restarts!.Selected);
        Assert.Equal(e1.Posteriors.Values.ToArray(), e2.Posteriors.Values.ToArray());
        Assert.Equal(e1.Restarts.Runs.Select(r => r.Criterion), e2.Restarts.Runs.Select(r => r.Criterion));
    }

    [Fact]
    public void SelectionKeepsTheHigherMigRunWhenJuniorsCopyASenior()
    {
        // Paper 001's correlated-mistakes crowd (H) on 300 separable 10-class blobs: five seniors, each a coin flip on
        // some of the hard class pairs, and five juniors copying seniors A and C. Eq. (2) builds Q from all ten votes,
        // so the copies dominate it; the merged start counts each copying group once.
        const int k = 10, n = 300;
        var (x, y) = CrowdToyData.Blobs(n, k, k, 2);
        var crowd = new ExpertSimulator().Generate(y, k, new ExpertScenario { Case = ExpertCase.CorrelatedMistakes, Expertise = Expertise.High, Seed = 2 });
        var answers = crowd.Answers;
        var truth = new int[answers.TaskCount];
        var features = new double[answers.TaskCount][];
        for (int t = 0; t < truth.Length; t++)
        {
            int item = int.Parse(answers.Tasks[t], System.Globalization.CultureInfo.InvariantCulture);
            truth[t] = y[item];
            features[t] = x[item];
        }
        var data = new CrowdTrainingSet { Answers = answers, Features = features };
        var o = ToyMaxMig with { Epochs = 30, Seed = 2, Restarts = new RestartOptions { Count = 2 } };
        var result = new MaxMig(o).Train(data);
        var summary = result.Learning.Restarts!;
        var accuracy = summary.Runs.Select(r => CrowdToyData.Accuracy(CrowdToyData.Rows(r.Posteriors), truth)).ToArray();
        for (int i = 0; i < summary.Runs.Length; i++)
            output.WriteLine($"run {i} ({summary.Runs[i].Start}): training MIG {summary.Runs[i].Criterion:F4}, consistent {summary.Runs[i].Consistent}, ζ accuracy {accuracy[i]:P1}");

        // The five juniors merge with the two seniors they copy: seven workers in groups.
        Assert.Equal(7, summary.MergedWorkers);
        Assert.Equal(RestartStart.Merged, summary.Runs[1].Start);
        Assert.All(summary.Runs, r => Assert.True(r.Consistent));
        // The merged start reaches a higher MIG (log 10 ≈ 2.30 at the truth), the selection keeps it, and it is the
        // more accurate run by a wide margin.
        Assert.True(summary.Runs[1].Criterion > summary.Runs[0].Criterion);
        Assert.Equal(1, summary.Selected);
        Assert.True(accuracy[1] > accuracy[0] + 0.1, $"merged {accuracy[1]}, eq. (2) {accuracy[0]}");
        Assert.True(accuracy[1] > 0.95, $"merged {accuracy[1]}");
        Assert.Equal(result.Learning.Posteriors.Values.ToArray(), summary.Runs[1].Posteriors.Values.ToArray());
    }

    [Fact]
    public void WorkersAreMergedOnlyWhenTheyAgreeOnEnoughSharedTasks()
    {
        // 30 tasks, K = 3. Worker 1 copies worker 0 everywhere; worker 2 agrees with worker 0 on 28 of 30 (0.933 < 0.95);
        // worker 3 copies worker 0 but on only 10 tasks (< 20 shared); worker 4 copies worker 1 on 29 of 30 (0.967).
        var (tasks, workers, labels) = (new List<int>(), new List<int>(), new List<int>());
        void Add(int t, int w, int l) { tasks.Add(t); workers.Add(w); labels.Add(l); }
        for (int t = 0; t < 30; t++)
        {
            int l = t % 3;
            Add(t, 0, l);
            Add(t, 1, l);
            Add(t, 2, t < 2 ? (l + 1) % 3 : l);
            if (t < 10) Add(t, 3, l);
            Add(t, 4, t == 5 ? (l + 2) % 3 : l);
        }
        var answers = LabelMatrix.FromTriples(30, 5, 3, [.. tasks], [.. workers], [.. labels]);
        var groups = Restarts.MergeGroups(answers, new RestartOptions());
        Assert.Equal([0, 0, 2, 3, 0], groups);
        var (weights, merged) = Restarts.VoteWeights(groups);
        Assert.Equal(3, merged);
        Assert.Equal([1.0 / 3, 1.0 / 3, 1, 1, 1.0 / 3], weights);
        // A looser threshold takes worker 2 in too; fewer required shared tasks take worker 3.
        Assert.Equal([0, 0, 0, 3, 0], Restarts.MergeGroups(answers, new RestartOptions { MergeAgreement = 0.9 }));
        Assert.Equal([0, 0, 2, 0, 0], Restarts.MergeGroups(answers, new RestartOptions { MergeMinimumShared = 10 }));
        // Task 0: workers 0, 1, 3, 4 say class 0, worker 2 says class 1. The group {0, 1, 4} is one vote, so class 0
        // has two votes of three (majority vote's share would be 4/5).
        var vote = Restarts.MergedVote(answers, weights);
        Assert.Equal(2.0 / 3, vote[0], 12);
        Assert.Equal(1.0 / 3, vote[1], 12);
    }

    [Fact]
    public void ARunWhoseClassesArePermutedIsNotConsistent()
    {
        // Reference: 6 tasks, K = 3, two of each class with shares 0.8 on the class.
        const int k = 3;
        int[] refLabels = [0, 0, 1, 1, 2, 2];
        var reference = new double[6 * k];
        for (int t = 0; t < 6; t++)
            for (int c = 0; c < k; c++) reference[t * k + c] = c == refLabels[t] ? 0.8 : 0.1;
        RowMatrix Predict(Func<int, int> label)
        {
            var rows = new double[6][];
            for (int t = 0; t < 6; t++) { rows[t] = new double[k]; rows[t][label(refLabels[t])] = 1; }
            return RowMatrix.From(rows);
        }
        Assert.True(Restarts.Consistent(Predict(c => c), reference, k));
        Assert.False(Restarts.Consistent(Predict(c => (c + 1) % k), reference, k)); // a 3-cycle: no swap of two fixes it
        Assert.False(Restarts.Consistent(Predict(c => c == 0 ? 1 : c == 1 ? 0 : 2), reference, k));
        // Everything predicted as class 0 is consistent: the identity is as good as any matching.
        Assert.True(Restarts.Consistent(Predict(_ => 0), reference, k));

        // Hand-checked assignment: the best of the 6 permutations of this matrix is 5 + 6 + 4 = 15 (rows → columns 2, 0, 1).
        double[] c3 = [1, 2, 5, 6, 1, 1, 2, 4, 3];
        Assert.Equal(15, Restarts.MaxAssignment(c3, 3));

        // Selection: the highest criterion among the consistent runs, all runs when none is.
        var h = Predict(c => c);
        RestartRun Run(double criterion, bool consistent) => new(RestartStart.Perturbed, criterion, consistent, new DenseNetwork(), h);
        Assert.Equal(2, Restarts.Select([Run(1.0, true), Run(3.0, false), Run(2.0, true)]));
        Assert.Equal(1, Restarts.Select([Run(1.0, false), Run(3.0, false), Run(2.0, false)]));
        Assert.Equal(0, Restarts.Select([Run(2.0, true), Run(2.0, true)]));
    }

    [Fact]
    public void TrainingMigIsTheBoundOverAllPairs()
    {
        // The full-data bound with its factorised negative terms equals the pairwise batch bound on the same rows.
        var rng = new Random(5);
        const int k = 3, n = 7;
        var hRows = new double[n][];
        var s = new double[n * k];
        for (int i = 0; i < n; i++)
        {
            var raw = Enumerable.Range(0, k).Select(_ => rng.NextDouble() + 0.1).ToArray();
            hRows[i] = raw.Select(v => v / raw.Sum()).ToArray();
            for (int c = 0; c < k; c++) s[i * k + c] = 3 * rng.NextDouble() - 1.5;
        }
        double[] logPrior = [Math.Log(0.5), Math.Log(0.3), Math.Log(0.2)];
        var h = RowMatrix.From(hRows);
        int[] rows = [.. Enumerable.Range(0, n)];
        foreach (var d in Enum.GetValues<MaxMigDivergence>())
        {
            double batch = -new MaxMigObjective(d, k).Evaluate(h.Values, s, logPrior, n, new double[n * k], new double[n * k], new double[k]);
            Assert.Equal(batch, MaxMigObjective.Bound(d, h, s, logPrior, rows), 12);
        }
    }

    [Fact]
    public void InvalidRestartOptionsAreRejectedByName()
    {
        var two = LabelMatrix.FromTriples(2, 1, 2, [0, 1], [0, 0], [1, 0]);
        var data = new CrowdTrainingSet { Answers = two, Features = [[1.0], [2.0]] };
        string MaxMigError(RestartOptions r) => Assert.Throws<InvalidOptionException>(() => new MaxMig(new MaxMigOptions { Restarts = r }).Learn(data)).Option;
        Assert.Equal("Restarts.Count", MaxMigError(new RestartOptions { Count = 0 }));
        Assert.Equal("Restarts.MergeAgreement", MaxMigError(new RestartOptions { MergeAgreement = 0 }));
        Assert.Equal("Restarts.MergeAgreement", MaxMigError(new RestartOptions { MergeAgreement = 1.5 }));
        Assert.Equal("Restarts.MergeAgreement", MaxMigError(new RestartOptions { MergeAgreement = double.NaN }));
        Assert.Equal("Restarts.MergeMinimumShared", MaxMigError(new RestartOptions { MergeMinimumShared = 0 }));
        Assert.Equal("Restarts.PerturbationScale", MaxMigError(new RestartOptions { PerturbationScale = -1 }));
        Assert.Equal("Restarts.PerturbationScale", MaxMigError(new RestartOptions { PerturbationScale = double.PositiveInfinity }));
        Assert.Equal("Restarts", Assert.Throws<InvalidOptionException>(() => new MaxMig(new MaxMigOptions { Restarts = null! }).Learn(data)).Option);
        Assert.Equal("Restarts.Count", Assert.Throws<InvalidOptionException>(() =>
            new EmLearner(new EmLearnerOptions { Restarts = new RestartOptions { Count = -2 } }).Learn(data)).Option);
        var e = Assert.Throws<InvalidOptionException>(() => new RestartOptions { MergeAgreement = 2 }.Validate());
        Assert.Contains("at most 1", e.Message);

        // The catalog: restarts only for the methods that have them, and at least one run.
        var settings = new LearnerSettings { Restarts = 2 };
        var error = Assert.Throws<InvalidOptionException>(() => CrowdLearnerCatalog.Get("crowdlayer").Create(settings));
        Assert.Equal("Restarts", error.Option);
        Assert.Contains("maxmig, em", error.Message);
        Assert.Equal("Restarts", Assert.Throws<InvalidOptionException>(() => CrowdLearnerCatalog.Get("maxmig").Create(new LearnerSettings { Restarts = 0 })).Option);
        Assert.Equal(2, ((MaxMig)CrowdLearnerCatalog.Get("maxmig").Create(settings)).Options.Restarts.Count);
        Assert.Equal(2, ((EmLearner)CrowdLearnerCatalog.Get("em").Create(settings)).Options.Restarts.Count);
        Assert.Equal("training MIG", CrowdLearnerCatalog.Get("maxmig").SelectionCriterion);
        Assert.Equal("log-likelihood", CrowdLearnerCatalog.Get("em").SelectionCriterion);
    }

    [Fact]
    public void LearnWithRestartsReportsTheKeptRunAndItsCriterion()
    {
        var (code, stdout, err) = CliTests.Run("learn", "--dataset", "music-genre", "--method", "maxmig", "--classifier", "linear",
            "--epochs", "5", "--restarts", "2");
        Assert.True(code == 0, err);
        Assert.Contains("kept run (highest training MIG)", stdout);
        (code, _, err) = CliTests.Run("learn", "--dataset", "music-genre", "--method", "crowdlayer", "--epochs", "1", "--restarts", "2");
        Assert.NotEqual(0, code);
        Assert.Contains("no restarts", err);
    }
}
