using Tally.Catalogs;
using Tally.Aggregation;
using Tally.Core;
using Tally.Simulation;

namespace Tally.Tests;

public class SimulationTests
{
    [Fact]
    public void Dawid_skene_simulator_is_seeded_and_matches_its_csv()
    {
        var s = new DawidSkeneScenario { Tasks = 300, Workers = 20, PerTask = 4, Classes = 3, Seed = 5 };
        var a = new DawidSkeneSimulator().Generate(s);
        var b = new DawidSkeneSimulator().Generate(s);
        Assert.Equal(a.Answers.TaskLabels.ToArray(), b.Answers.TaskLabels.ToArray());
        var dir = Directory.CreateTempSubdirectory("tally-sim-").FullName;
        try
        {
            new DawidSkeneSimulator().WriteCsv(s, Path.Combine(dir, "a.csv"), Path.Combine(dir, "t.csv"));
            var m = AnswerFiles.ReadAnswers(Path.Combine(dir, "a.csv"), new AnswerFileOptions(Classes: ["0", "1", "2"])).Matrix;
            Assert.Equal(a.Answers.TaskLabels.ToArray(), m.TaskLabels.ToArray());
            Assert.Equal(a.Answers.TaskWorkers.ToArray().Select(w => a.Answers.Workers[w]), m.TaskWorkers.ToArray().Select(w => m.Workers[w]));
            var truth = AnswerFiles.ReadTruth(Path.Combine(dir, "t.csv"), m).Labels;
            Assert.Equal(a.Truth.Labels.ToArray(), truth.Labels.ToArray());
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Dawid_skene_simulator_draws_workers_around_the_requested_accuracy()
    {
        var crowd = new DawidSkeneSimulator().Generate(new DawidSkeneScenario { Tasks = 20000, Workers = 100, PerTask = 5, Accuracy = 0.8, AccuracySpread = 0.05, Seed = 2 });
        int right = 0;
        for (int t = 0; t < crowd.Answers.TaskCount; t++)
            foreach (var l in crowd.Answers.LabelsOf(t)) if (l == crowd.Truth[t]) right++;
        // 100k answers: sampling sd of the share ≈ √(.16/1e5) ≈ 0.0013, plus the spread of 100 worker accuracies
        // (sd 0.05/√100 = 0.005) → ±0.02 is > 3.5 sd.
        Assert.InRange((double)right / crowd.Answers.AnswerCount, 0.78, 0.82);
    }

    [Fact]
    public void Sparse_crowd_is_l_r_regular_without_repeated_pairs()
    {
        var crowd = new SparseCrowdSimulator().Generate(new SparseCrowdScenario { Seed = 3 });
        var m = crowd.Answers;
        Assert.Equal(1000, m.TaskCount);
        Assert.Equal(750, m.WorkerCount);
        for (int t = 0; t < m.TaskCount; t++)
        {
            Assert.Equal(3, m.TaskDegree(t));
            Assert.Equal(3, m.WorkersOf(t).ToArray().Distinct().Count());
        }
        for (int w = 0; w < m.WorkerCount; w++) Assert.Equal(4, m.WorkerDegree(w));
    }

    [Fact]
    public void Spammers_and_adversaries_are_placed_as_asked()
    {
        var s = new SparseCrowdScenario { Spammers = 2, SpammerShare = 0.5, AdversaryFraction = 0.2, Adversary = AdversaryStrategy.Flip, Seed = 4 };
        var crowd = new SparseCrowdSimulator().Generate(s);
        var m = crowd.Answers;
        Assert.Equal(752, m.WorkerCount);
        Assert.Equal(500, m.WorkerDegree(750));
        Assert.Equal(500, m.WorkerDegree(751));
        // Adversaries always answer the opposite class: exactly 150 regular workers are never right.
        int neverRight = 0;
        for (int w = 0; w < 750; w++)
        {
            var tasks = m.TasksOf(w); var labels = m.LabelsBy(w);
            bool any = false;
            for (int i = 0; i < tasks.Length; i++) any |= labels[i] == crowd.Truth[tasks[i]];
            if (!any && crowd.WorkerConfusions[w, 0, 1] == 1) neverRight++;
        }
        Assert.Equal(150, neverRight);
    }

    [Fact]
    public void Sweep_reports_means_inside_their_intervals_and_is_seeded()
    {
        var methods = new[] { AggregatorCatalog.Find("mv")!, AggregatorCatalog.Find("ds")! };
        Func<double, int, SimulatedCrowd> scenario = (a1, seed) =>
            new SparseCrowdSimulator().Generate(new SparseCrowdScenario { Tasks = 200, Alpha1 = a1, Alpha2 = a1 / 2, Seed = seed });
        var a = AccuracySweep.Run([0.5, 2.0], 6, scenario, methods, new CommonMethodOptions());
        var b = AccuracySweep.Run([0.5, 2.0], 6, scenario, methods, new CommonMethodOptions());
        Assert.Equal(4, a.Count);
        Assert.Equal(a, b);
        foreach (var p in a)
        {
            Assert.InRange(p.Mean, p.Low, p.High);
            Assert.InRange(p.Worst, 0, p.Mean);
            Assert.Equal(6, p.Seeds);
        }
    }

    [Theory]
    [InlineData("spammers", "mv,ds", 0, 3)]
    [InlineData("rowdy-pattern", "mv,ds,robust-ds", 0.1, 0.3)]
    public void Aggregation_lab_gives_identical_points_with_1_and_4_threads(string name, string methods, double x1, double x2) =>
        AssertLabThreadIdentity(name, methods, x1, x2);

    [Fact]
    [Trait("Category", "Slow")]
    public void Aggregation_lab_with_the_bayesian_methods_gives_identical_points_with_1_and_4_threads() =>
        AssertLabThreadIdentity("prior", "mv,ds,mf,bp", 0.4, 1.2);

    private static void AssertLabThreadIdentity(string name, string methods, double x1, double x2)
    {
        // The lab is parallel over crowds, the methods sequential inside: the thread count may change the speed only.
        var experiment = AggregationLab.Find(name)!;
        var chosen = methods.Split(',').Select(m => AggregatorCatalog.Find(m)!).ToList();
        IReadOnlyList<SweepPoint> RunWith(int threads) => AggregationLab.Run(experiment, [x1, x2], 4, chosen, new CommonMethodOptions(),
            compute: new ComputeOptions { MaxDegreeOfParallelism = threads });
        var one = RunWith(1);
        var four = RunWith(4);
        Assert.Equal(2 * chosen.Count, one.Count);
        Assert.Equal(one, four);
        foreach (var p in one) Assert.InRange(p.Mean, 0.3, 1.0);
    }

    [Fact]
    public void Sweep_reports_a_bad_scenario_value_as_one_user_error()
    {
        // Every crowd of the value fails at once on its own thread; the caller gets that error, not a bundle of them.
        var experiment = AggregationLab.Find("prior")!;
        var e = Assert.ThrowsAny<TallyUserException>(() => AggregationLab.Run(experiment, [-1.0], 8, [AggregatorCatalog.Find("mv")!],
            new CommonMethodOptions(), compute: new ComputeOptions { MaxDegreeOfParallelism = 4 }));
        Assert.Contains("Alpha1", e.Message);   // the option of the sparse crowd the prior experiment varies
    }
}
