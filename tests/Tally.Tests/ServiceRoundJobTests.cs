using Tally.Application;

namespace Tally.Tests;

/// <summary>The round close behind the service, without HTTP: gold tasks are clamped, a refit warm-starts from the last model.</summary>
public sealed class ServiceRoundJobTests
{
    private static ServiceRoundRequest Request(int round, IReadOnlyList<ServiceAnswer> answers, string? model = null, IReadOnlyDictionary<string, string>? gold = null) => new()
    {
        Round = round, Classes = ["a", "b"], Method = "ds", Mechanism = "oa", Answers = answers, ModelJson = model,
        Gold = gold ?? new Dictionary<string, string>(StringComparer.Ordinal),
    };

    private static List<ServiceAnswer> Crowd(int round, int tasks, int offset = 0)
    {
        var rng = new Random(round + 1);
        var list = new List<ServiceAnswer>();
        for (int t = offset; t < offset + tasks; t++)
            for (int w = 0; w < 5; w++)
            {
                string truth = t % 2 == 0 ? "a" : "b";
                bool right = rng.NextDouble() < (w == 4 ? 0.3 : 0.85);
                list.Add(new ServiceAnswer($"t{t}", $"w{w}", right ? truth : (truth == "a" ? "b" : "a"), round, null, false));
            }
        return list;
    }

    [Fact]
    public void A_gold_task_keeps_its_gold_label_whatever_the_crowd_says()
    {
        var answers = Crowd(0, 40);
        // Everyone says "a" on t1 (whose truth is "b"); the gold says "b".
        answers.RemoveAll(a => a.Task == "t1");
        for (int w = 0; w < 5; w++) answers.Add(new ServiceAnswer("t1", $"w{w}", "a", 0, null, false));
        var without = ServiceRoundJob.Run(Request(0, answers));
        Assert.Equal("a", without.Labels.Single(l => l.Task == "t1").Label);
        var with = ServiceRoundJob.Run(Request(0, answers, gold: new Dictionary<string, string> { ["t1"] = "b" }));
        Assert.Equal("b", with.Labels.Single(l => l.Task == "t1").Label);
        Assert.All(with.Labels, l => Assert.False(double.IsNaN(l.Confidence)));
    }

    [Fact]
    public void A_second_close_refines_the_first_model_and_pays_only_its_own_round()
    {
        var first = Crowd(0, 40);
        var r0 = ServiceRoundJob.Run(Request(0, first));
        Assert.NotNull(r0.ModelJson);
        Assert.Equal(first.Count, r0.RoundAnswers);
        var both = first.Concat(Crowd(1, 40, offset: 40)).ToList();
        var r1 = ServiceRoundJob.Run(Request(1, both, r0.ModelJson));
        Assert.Equal(80, r1.Labels.Count);
        Assert.Equal(200, r1.RoundAnswers);
        Assert.All(r1.Payments, p => Assert.InRange(p.Tasks, 1, 40));   // scored on round 1's 40 tasks only
        // The careless worker (w4) is found out.
        Assert.True(r1.Workers.Single(w => w.Worker == "w4").Skill < r1.Workers.Single(w => w.Worker == "w0").Skill);
    }
}
