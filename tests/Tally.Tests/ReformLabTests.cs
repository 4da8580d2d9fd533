using Tally.Core;
using Tally.Mechanisms;
using Tally.Mechanisms.Reputation;
using Tally.Simulation;
using Xunit.Abstractions;

namespace Tally.Tests;

/// <summary>REFORM's §5 experiment in small: fairness gains, random agents' pay (Lemma 4), truthfulness with decay.</summary>
public class ReformLabTests(ITestOutputHelper output)
{
    private static double Sd(IReadOnlyList<double> x)
    {
        double m = x.Average();
        return Math.Sqrt(x.Sum(v => (v - m) * (v - m)) / (x.Count - 1));
    }

    [Fact]
    public void Reform_raises_trustworthy_pay_and_fairness_over_rptsc()
    {
        // 20 rounds of the paper's population at a third of its size, the same α for both so the comparison is about
        // the extra chances only.
        var o = new ReformLabOptions { Rounds = 20, Agents = 300, TasksPerRound = 20, RptscAlpha = 10, ReformAlpha = 10, Chances = [1, 2, 3], Seed = 4 };
        var r = ReformLab.Run(o);
        var two = r.ReformWith(2)!;
        output.WriteLine($"TA {r.Rptsc.MeanTrustworthyReward:F3} → {two.MeanTrustworthyReward:F3}; RA {r.Rptsc.MeanRandomReward:F3} → {two.MeanRandomReward:F3}; " +
            $"γ {r.Rptsc.Fairness.Gamma:F4} → {two.Fairness.Gamma:F4}; budget +{100 * r.BudgetIncrease(2):F1}%; {r.Elapsed.TotalSeconds:F2} s");
        // k = 1 at the same α and seed is RPTSC exactly.
        Assert.Equal(r.Rptsc.TrustworthyReward.ToArray(), r.ReformWith(1)!.TrustworthyReward.ToArray());
        // TA gain: judged against the round-to-round spread of RPTSC's TA mean (20 rounds → SE = sd/√20).
        double se = Sd(r.Rptsc.TrustworthyReward) / Math.Sqrt(o.Rounds);
        Assert.True(two.MeanTrustworthyReward > r.Rptsc.MeanTrustworthyReward + 3 * se);
        Assert.True(two.MeanTrustworthyReward - r.Rptsc.MeanTrustworthyReward > two.MeanRandomReward - r.Rptsc.MeanRandomReward);
        Assert.True(two.Fairness.Gamma > r.Rptsc.Fairness.Gamma);
        // The same rounds and seeds for every k: a report's later chances only replace a mismatch, so E*/M* cannot fall with k.
        Assert.True(r.ReformWith(3)!.Fairness.Normalised >= two.Fairness.Normalised);
        Assert.True(two.Fairness.Normalised > r.Rptsc.Fairness.Normalised);
        Assert.True(two.Qualitative.Holds);
        Assert.True(two.ChancesPerReport.Trustworthy > two.ChancesPerReport.Random);
        // Identical M* in both runs (same f draws), so the γ difference is the earned reward's alone.
        Assert.Equal(r.Rptsc.Fairness.OptimalReward, two.Fairness.OptimalReward, 9);
    }

    [Fact]
    public void Reform_does_not_pay_random_agents_more_than_rptsc_among_trustworthy_agents()
    {
        // Paper 004 Lemma 4: with all other agents trustworthy, a random agent gains (almost) nothing from REFORM, because
        // its TERM score soon falls below everyone's and it gets no extra chance. 10 random agents among 500, 40 rounds,
        // the same α; tolerance: 3 standard errors of the per-round mean random pay under RPTSC.
        var o = new ReformLabOptions { Rounds = 40, Agents = 500, TasksPerRound = 25, TrustworthyShare = 0.98, RptscAlpha = 10, ReformAlpha = 10, Chances = [2], Seed = 8 };
        var r = ReformLab.Run(o);
        var two = r.ReformWith(2)!;
        double tol = 3 * Sd(r.Rptsc.RandomReward) / Math.Sqrt(o.Rounds);
        output.WriteLine($"RA {r.Rptsc.MeanRandomReward:F3} → {two.MeanRandomReward:F3} (tolerance {tol:F3}); chances/RA report {two.ChancesPerReport.Random:F3}");
        Assert.True(two.MeanRandomReward <= r.Rptsc.MeanRandomReward + tol);
        // Extra chances can only replace a mismatch, so the random agents' (small) gain is real; it must stay below the
        // trustworthy agents' gain (the same rounds and seeds: the gains are paired), and TERM must hand random agents
        // extra chances less than half as often as trustworthy ones.
        double taGain = two.MeanTrustworthyReward - r.Rptsc.MeanTrustworthyReward, raGain = two.MeanRandomReward - r.Rptsc.MeanRandomReward;
        output.WriteLine($"gains: TA {taGain:F3}, RA {raGain:F3}; extra chances per report: TA {two.ChancesPerReport.Trustworthy - 1:F4}, RA {two.ChancesPerReport.Random - 1:F4}");
        Assert.True(raGain < taGain);
        Assert.True(two.ChancesPerReport.Random - 1 < (two.ChancesPerReport.Trustworthy - 1) / 2);
        // Lemma 5's step: E_ra < αβ (β = 1 without decay).
        Assert.True(two.MeanRandomReward < o.ReformAlpha);
    }

    [Fact]
    public void Truthful_on_time_beats_random_and_late_reports_when_everyone_else_is_trustworthy()
    {
        // One probe agent among 99 trustworthy ones (accuracy 0.9, answering after 30–90 s), REFORM k = 2 with TERM and
        // exponential decay (τ = 600 s). The probe either reports truthfully at 60 s, at random at 60 s, or truthfully at
        // 600 s; every other report and every seed is the same across the three. 5 seeds × 20 rounds = 100 paired
        // differences per comparison; the mean difference must exceed 3 of its standard errors. (Effort costs are 0
        // here, so this is the reward side of the utility: a random reporter saves c(e_H) − c(e_L), which the margin
        // below bounds.)
        string[] strategies = ["truthful", "random", "late"];
        var pay = strategies.ToDictionary(s => s, _ => new List<double>());
        foreach (int seed in new[] { 1, 2, 3, 4, 5 })
            foreach (var s in strategies)
            {
                var campaign = new Campaign(new Reform(new Rptsc(new RptscOptions { Alpha = 11, SampleSize = 20 }),
                    new ReformOptions { Chances = 2, Decay = new ExponentialDecay(600) }), new TermReputation());
                for (int j = 1; j <= 20; j++)
                {
                    var world = new Random(seed * 1000 + j);
                    var truth = Enumerable.Range(0, 10).Select(_ => world.Next(3)).ToArray();
                    var reports = new List<RoundReport>();
                    for (int a = 0; a < 99; a++)
                    {
                        int t = a % 10, y = world.NextDouble() < 0.9 ? truth[t] : world.Next(3);
                        reports.Add(new RoundReport($"ta{a:D2}", t, y, 30 + 60 * world.NextDouble()));
                    }
                    // The probe's own coins are drawn whatever its strategy, so the world stays the same.
                    bool right = world.NextDouble() < 0.9;
                    int guess = world.Next(3), noise = world.Next(3);
                    int honest = right ? truth[9] : noise;
                    reports.Add(s switch
                    {
                        "truthful" => new RoundReport("probe", 9, honest, 60),
                        "random" => new RoundReport("probe", 9, guess, 60),
                        _ => new RoundReport("probe", 9, honest, 600),
                    });
                    var result = campaign.Play(new Round(j, 10, 3, reports), seed);
                    pay[s].Add(result.Payments[result.Agents.IndexOf("probe")]);
                }
            }
        foreach (var other in new[] { "random", "late" })
        {
            var d = pay["truthful"].Zip(pay[other], (a, b) => a - b).ToList();
            double mean = d.Average(), se = Sd(d) / Math.Sqrt(d.Count);
            output.WriteLine($"truthful − {other}: {mean:F3} ± {se:F3} (truthful mean {pay["truthful"].Average():F3}, {other} mean {pay[other].Average():F3})");
            Assert.True(mean > 3 * se, $"truthful − {other} = {mean} ≤ 3·{se}");
        }
    }

    [Fact]
    public void Runs_are_reproducible_and_finite()
    {
        var o = new ReformLabOptions { Rounds = 4, Agents = 120, TasksPerRound = 10, Chances = [2], Seed = 5 };
        var a = ReformLab.Run(o);
        var b = ReformLab.Run(o);
        foreach (var (x, y) in new[] { (a.Rptsc, b.Rptsc), (a.Reform[0], b.Reform[0]) })
        {
            Assert.Equal(x.TrustworthyReward.ToArray(), y.TrustworthyReward.ToArray());
            Assert.Equal(x.RandomReward.ToArray(), y.RandomReward.ToArray());
            Assert.Equal(x.BudgetPerAgent, y.BudgetPerAgent);
            Assert.All(x.TrustworthyReward.Concat(x.RandomReward).Concat(x.TrustworthyOptimal), v => Assert.True(double.IsFinite(v)));
        }
        // Paying a round's mechanisms in parallel changes nothing.
        var sequential = ReformLab.Run(o, ComputeOptions.Sequential);
        Assert.Equal(a.Reform[0].TrustworthyReward.ToArray(), sequential.Reform[0].TrustworthyReward.ToArray());
        Assert.Equal(a.Reform[0].BudgetPerAgent, sequential.Reform[0].BudgetPerAgent);
        Assert.Equal(a.Rptsc.RandomReward.ToArray(), sequential.Rptsc.RandomReward.ToArray());
        var progress = new List<ReformLabProgress>();
        ReformLab.Run(o with { Chances = [] }, progress: new SyncProgress(progress.Add));
        Assert.Equal([1, 2, 3, 4], progress.Select(p => p.Round).ToArray());
        Assert.ThrowsAny<TallyUserException>(() => ReformLab.Run(o with { Agents = 15 }));
    }

    private sealed class SyncProgress(Action<ReformLabProgress> report) : IProgress<ReformLabProgress>
    {
        public void Report(ReformLabProgress value) => report(value);
    }
}
