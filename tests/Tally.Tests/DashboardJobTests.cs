using Tally.Application;
using Tally.Catalogs;

namespace Tally.Tests;

/// <summary>What the dashboard reads from fitted models and rounds (<see cref="DashboardJob"/>), against the models' own numbers.</summary>
public sealed class DashboardJobTests
{
    private static string ModelOf(string method)
    {
        var (answers, _) = TestData.Dataset("dog");
        return AggregatorCatalog.Find(method)!.Create(new CommonMethodOptions()).Aggregate(answers).Model.ToJson();
    }

    [Fact]
    public void Dawid_skene_workers_have_their_confusions_and_the_average_is_weighted_by_answers()
    {
        string json = ModelOf("ds");
        var model = Tally.Aggregation.AggregationModel.FromJson(json);
        var fitted = DashboardJob.Workers(json)!;
        int k = model.ClassCount;
        Assert.False(fitted.FlagsDownWeighting);
        Assert.Equal(model.WorkerCount, fitted.Workers.Count);
        Assert.All(fitted.Workers, w => Assert.False(w.DownWeighted));
        for (int w = 0; w < model.WorkerCount; w++)
        {
            Assert.Equal(model.Workers[w], fitted.Workers[w].Worker);
            Assert.Equal(model.Confusions.Slice(w * k * k, k * k).ToArray(), fitted.Workers[w].Confusion.ToArray());
            for (int j = 0; j < k; j++) Assert.Equal(1.0, fitted.Workers[w].Confusion.Skip(j * k).Take(k).Sum(), 9);
        }
        double total = model.AnswerCounts.Sum();
        for (int i = 0; i < k * k; i++)
        {
            double expected = Enumerable.Range(0, model.WorkerCount).Sum(w => model.AnswerCounts[w] * model.Confusions[w * k * k + i]) / total;
            Assert.Equal(expected, fitted.AverageConfusion[i], 12);
        }
    }

    [Fact]
    public void A_one_coin_worker_is_right_with_its_accuracy_and_wrong_uniformly()
    {
        string json = ModelOf("glad");
        var model = Tally.Aggregation.AggregationModel.FromJson(json);
        Assert.Equal(Tally.Aggregation.WorkerModelKind.OneCoin, model.Kind);
        var fitted = DashboardJob.Workers(json)!;
        int k = model.ClassCount;
        for (int w = 0; w < model.WorkerCount; w++)
            for (int j = 0; j < k; j++)
                for (int l = 0; l < k; l++)
                    Assert.Equal(j == l ? model.Accuracies[w] : (1 - model.Accuracies[w]) / (k - 1), fitted.Workers[w].Confusion[j * k + l], 12);
    }

    [Fact]
    public void Robust_ds_flags_exactly_the_workers_whose_trust_is_below_one_and_they_are_mostly_the_colluders()
    {
        // 20% of 400 workers always answer the same class (the RobustDawidSkeneTests crowd).
        var crowd = new Tally.Simulation.AdversarySimulator().Generate(new Tally.Simulation.AdversaryScenario
        {
            Tasks = 2000, Workers = 400, PerTask = 5, ClassWeights = RobustTensorTests.W3, Confusion = RobustTensorTests.G3,
            AdversaryFraction = 0.2, Strategy = Tally.Simulation.AdversaryStrategy.Constant, ConstantLabel = 2, Seed = 1,
        });
        string json = AggregatorCatalog.Find("robust-ds")!.Create(new CommonMethodOptions()).Aggregate(crowd.Answers).Model.ToJson();
        var model = Tally.Aggregation.AggregationModel.FromJson(json);
        var fitted = DashboardJob.Workers(json)!;
        Assert.True(fitted.FlagsDownWeighting);
        for (int w = 0; w < model.WorkerCount; w++) Assert.Equal(model.Skills[w] < 1, fitted.Workers[w].DownWeighted);
        var adversary = Enumerable.Range(0, crowd.Answers.WorkerCount).ToDictionary(i => crowd.Answers.Workers[i], i => crowd.IsAdversary[i]);
        double Mean(bool bad) => fitted.Workers.Where(w => adversary[w.Worker] == bad).Average(w => w.Skill);
        Assert.True(Mean(bad: true) < Mean(bad: false) - 0.2, $"trust of colluders {Mean(true):F3} vs honest {Mean(false):F3}");
    }

    [Fact]
    public void No_model_yet_means_no_workers_and_a_round_too_small_has_no_fairness_check()
    {
        Assert.Null(DashboardJob.Workers(null));
        Assert.Null(DashboardJob.RoundQualitativeFairness([(0.1, 1), (0.5, 2), (0.9, 3)]));
        Assert.Null(DashboardJob.RoundQualitativeFairness([(0.1, 1), (0.5, 2), (0.9, 3), (double.NaN, 4)]));
    }

    [Fact]
    public void Gamma_fairness_of_a_round_weighs_each_worker_by_the_reports_scored()
    {
        // Gap per report: one report 2 − 1 = 1, three reports 4 − 4 = 0 → E[M* − E*] = 1/4, γ = 4; rows without M* or
        // without scored reports are left out.
        var g = DashboardJob.RoundGammaFairness([(2.0, 1.0, 1), (4.0, 4.0, 3), (null, 9.0, 5), (7.0, 0.0, 0)])!;
        Assert.Equal(4, g.Reports);
        Assert.Equal(0.25, g.Gap, 12);
        Assert.Equal(4, g.Gamma!.Value, 12);
        Assert.Equal(13.0 / 14, g.Normalised!.Value, 12);
        Assert.Null(DashboardJob.RoundGammaFairness([(null, 1.0, 2)]));
    }

    [Fact]
    public void Pay_that_falls_with_reputation_violates_qualitative_fairness_and_pay_that_rises_does_not()
    {
        var rising = Enumerable.Range(0, 40).Select(i => (i / 40.0, 1.0 + i / 10.0)).ToList();
        var falling = rising.Select(s => (s.Item1, 10.0 - s.Item2)).ToList();
        Assert.True(DashboardJob.RoundQualitativeFairness(rising)!.Holds);
        var bad = DashboardJob.RoundQualitativeFairness(falling)!;
        Assert.False(bad.Holds);
        Assert.Equal(5, bad.Groups.Length);
    }
}
