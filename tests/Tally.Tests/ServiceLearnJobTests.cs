using Tally.Application;
using Tally.Catalogs;
using Tally.Learning;

namespace Tally.Tests;

/// <summary>The server's learner job on its own: entropy, row-order independence, soft failures, the saved model's round trip.</summary>
public sealed class ServiceLearnJobTests
{
    private static readonly string[] Classes = ["a", "b", "c"];

    private static ServiceLearnRequest Request(int seed = 0, bool shuffled = false, LearnerSettings? settings = null)
    {
        var (x, y) = CrowdToyData.Blobs(90, 3, 3, seed: 2);
        var rng = new Random(4);
        var answers = new List<ServiceAnswer>();
        for (int t = 0; t < 60; t++)
            for (int w = 0; w < 3; w++)
                answers.Add(new ServiceAnswer($"t{t}", $"w{w}", Classes[rng.NextDouble() < 0.75 ? y[t] : rng.Next(3)], 0, null, false));
        var tasks = Enumerable.Range(0, 90).Select(t => ($"t{t}", x[t])).ToList();
        if (shuffled) answers = [.. answers.OrderBy(_ => rng.Next())];
        return new ServiceLearnRequest
        {
            Classes = Classes, Method = "crowdlayer", Dimension = 3, Answers = answers, Tasks = tasks,
            Settings = settings ?? new LearnerSettings { Epochs = 20, Seed = seed },
        };
    }

    [Fact]
    public void Entropy_is_zero_for_a_sure_class_and_log_k_for_a_uniform_one()
    {
        Assert.Equal(0.0, ServiceLearnJob.Entropy([0, 1, 0]));
        Assert.Equal(Math.Log(3), ServiceLearnJob.Entropy([1 / 3.0, 1 / 3.0, 1 / 3.0]), 1e-15);
        // 0.5 log 2 + 2 · 0.25 log 4 = 1.5 log 2.
        Assert.Equal(1.5 * Math.Log(2), ServiceLearnJob.Entropy([0.5, 0.25, 0.25]), 1e-15);
    }

    [Fact]
    public void The_answers_order_changes_no_byte_of_the_model_and_the_predictions_come_from_the_saved_file()
    {
        var a = ServiceLearnJob.Run(Request());
        var b = ServiceLearnJob.Run(Request(shuffled: true));
        Assert.Equal(ServiceLearnJob.Trained, a.Status);
        Assert.Equal((60, 90), (a.TrainingTasks, a.Predictions.Count));
        Assert.Equal(a.Model, b.Model);
        Assert.NotEqual(a.Model, ServiceLearnJob.Run(Request(seed: 1)).Model);
        var model = LearnedModel.Load(new MemoryStream(a.Model!));
        Assert.Equal(["f0", "f1", "f2"], model.FeatureNames.ToArray());
        var req = Request();
        for (int i = 0; i < req.Tasks.Count; i++)
        {
            var p = a.Predictions[i];
            Assert.Equal(req.Tasks[i].Task, p.Task);
            Assert.Equal(model.Classifier.PredictProbabilities([req.Tasks[i].Features])[0], p.Probabilities);
            Assert.Equal(ServiceLearnJob.Entropy(p.Probabilities), p.Entropy);
        }
    }

    [Fact]
    public void Bad_settings_for_the_data_fail_softly_with_the_reason_and_no_answers_skip()
    {
        var failed = ServiceLearnJob.Run(Request(settings: new LearnerSettings { Epochs = 0 }));
        Assert.Equal(ServiceLearnJob.Failed, failed.Status);
        Assert.Contains("Epochs", failed.Message);
        Assert.Null(failed.Model);
        Assert.Empty(failed.Predictions);
        var skipped = ServiceLearnJob.Run(Request() with { Answers = [] });
        Assert.Equal((ServiceLearnJob.Skipped, 0), (skipped.Status, skipped.TrainingTasks));
        Assert.Throws<ArgumentException>(() => ServiceLearnJob.Run(Request() with { Dimension = 4 }));
    }
}
