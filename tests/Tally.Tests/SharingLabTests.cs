using Tally.Sharing;
using Xunit.Abstractions;

namespace Tally.Tests;

public class SharingLabTests(ITestOutputHelper output)
{
    private void Print(SharingLabReport r)
    {
        output.WriteLine($"{r.Rule} m={r.Problem.Agents} c={r.Problem.Cost} n*={r.RecommendedSampleSize} α={r.Alpha:F5}");
        output.WriteLine($"recommended {r.Recommended.Penalty:F5} ± {r.Recommended.HalfWidth:F5}; solo {r.SoloPenalty:F5}; IR {r.IndividuallyRational}; social {r.SocialPenalty:F4} vs optimum {r.OptimalSocialPenalty:F4}");
        foreach (var d in r.Deviations)
            output.WriteLine($"  {d.Strategy,-28} penalty {d.Penalty:F5} ± {d.HalfWidth:F5}  gain {d.Gain:+0.00000;-0.00000} ± {d.GainHalfWidth:F5}");
        foreach (var d in r.Deviations.Prepend(r.Recommended))
            output.WriteLine($"  {d.Strategy,-28} by μ: " + string.Join("  ", d.ByMean.Select(o => $"μ={o.Mu:0}: {o.Penalty:F4} (Δ {o.DifferenceFromRecommended:+0.0000;-0.0000} ± {o.DifferenceHalfWidth:F4})")));
    }

    [Fact]
    public void NoDeviationBeatsTheRecommendedProfile()
    {
        var problem = new SharingProblem(10, 1.0, 0.01);
        var report = new SharingLab(new SharingLabOptions { Replications = 3000, Seed = 4 }).Run(problem);
        Print(report);
        Assert.True(report.IndividuallyRational);
        Assert.True(report.Recommended.Penalty < report.SoloPenalty);
        Assert.True(report.SocialPenalty >= report.OptimalSocialPenalty * 0.9);
        foreach (var d in report.Deviations)
            Assert.True(d.Gain <= d.GainHalfWidth + 1e-3, $"{d.Strategy} gains {d.Gain} ± {d.GainHalfWidth}");
        foreach (var o in report.Deviations.SelectMany(d => d.ByMean).Concat(report.Recommended.ByMean))
            Assert.True(double.IsFinite(o.Penalty) && double.IsFinite(o.HalfWidth) && double.IsFinite(o.DifferenceHalfWidth));
        var free = report.Deviations.Single(d => d.Strategy == "free-ride");
        Assert.True(free.Gain < -free.GainHalfWidth);
    }

    [Fact]
    public void NaivePoolAndShareRewardsFreeRiding()
    {
        var problem = new SharingProblem(10, 1.0, 0.01);
        var report = new SharingLab(new SharingLabOptions { Replications = 2000 }).Run(problem, SharingRule.PoolAndShare);
        Print(report);
        var free = report.Deviations.Single(d => d.Strategy == "free-ride");
        Assert.True(free.Gain > free.GainHalfWidth, $"free-ride gain {free.Gain} ± {free.GainHalfWidth}");
    }

    [Fact]
    public void ContributionThresholdIsBeatenByFabrication()
    {
        var problem = new SharingProblem(10, 1.0, 0.01);
        var report = new SharingLab(new SharingLabOptions { Replications = 2000 }).Run(problem, SharingRule.PoolIfContributeEnough);
        Print(report);
        var fab = report.Deviations.Single(d => d.Strategy.StartsWith("fabricate"));
        Assert.True(fab.Gain > fab.GainHalfWidth, $"fabrication gain {fab.Gain} ± {fab.GainHalfWidth}");
        var free = report.Deviations.Single(d => d.Strategy == "free-ride");
        Assert.True(free.Gain < 0); // the threshold does stop plain free-riding
    }

    [Fact]
    public void LabIsDeterministicUnderASeed()
    {
        var problem = new SharingProblem(5, 1.0, 0.04);
        var lab = new SharingLab(new SharingLabOptions { Replications = 200, Seed = 9 });
        var a = lab.Run(problem);
        var b = lab.Run(problem);
        Assert.Equal(a.Recommended.Penalty, b.Recommended.Penalty);
        Assert.Equal(a.Deviations.Select(d => d.Penalty), b.Deviations.Select(d => d.Penalty));
    }

    [Fact]
    public void LabRejectsBadOptions()
    {
        var problem = new SharingProblem(5, 1.0, 0.04);
        Assert.ThrowsAny<TallyUserException>(() => new SharingLab(new SharingLabOptions { Replications = 1 }).Run(problem));
        Assert.ThrowsAny<TallyUserException>(() => new SharingLab(new SharingLabOptions { MeansInSigmas = [] }).Run(problem));
        Assert.ThrowsAny<TallyUserException>(() => new SharingLab(new SharingLabOptions { MeansInSigmas = [double.NaN] }).Run(problem));
    }

    [Theory]
    [InlineData(SharingRule.Collaborative)]
    [InlineData(SharingRule.PoolIfContributeEnough)]
    public void LabGivesIdenticalReportsWith1And4Threads(SharingRule rule)
    {
        // Replications run in parallel, each on its own stream of the seed: the thread count may change the speed only.
        var problem = new SharingProblem(8, 1.0, 0.02);
        var lab = new SharingLab(new SharingLabOptions { Replications = 300, Seed = 5 });
        var one = lab.Run(problem, rule, new ComputeOptions { MaxDegreeOfParallelism = 1 });
        var four = lab.Run(problem, rule, new ComputeOptions { MaxDegreeOfParallelism = 4 });
        Assert.Equal(one.Alpha, four.Alpha);
        var a = one.Deviations.Prepend(one.Recommended).ToList();
        var b = four.Deviations.Prepend(four.Recommended).ToList();
        Assert.Equal(a.Count, b.Count);
        for (int s = 0; s < a.Count; s++)
        {
            Assert.Equal(a[s].Strategy, b[s].Strategy);
            Assert.Equal(a[s].Penalty, b[s].Penalty);
            Assert.Equal(a[s].HalfWidth, b[s].HalfWidth);
            Assert.Equal(a[s].Gain, b[s].Gain);
            Assert.Equal(a[s].GainHalfWidth, b[s].GainHalfWidth);
            Assert.Equal(a[s].ByMean, b[s].ByMean);
        }
    }

    [Fact]
    public void LabSeedChangesTheDraws()
    {
        var problem = new SharingProblem(5, 1.0, 0.04);
        var a = new SharingLab(new SharingLabOptions { Replications = 200, Seed = 9 }).Run(problem);
        var b = new SharingLab(new SharingLabOptions { Replications = 200, Seed = 10 }).Run(problem);
        Assert.NotEqual(a.Recommended.Penalty, b.Recommended.Penalty);
    }
}
