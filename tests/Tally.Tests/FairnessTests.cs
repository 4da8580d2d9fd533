using Tally.Mechanisms;
using Tally.Mechanisms.Reputation;

namespace Tally.Tests;

/// <summary>The fairness and budget measures of REFORM (Definitions 2 and 3, §5) on hand-computed examples.</summary>
public class FairnessTests
{
    [Fact]
    public void Gamma_is_the_inverse_mean_gap_between_optimal_and_earned_rewards()
    {
        // Two matches (earned = optimal) and two mismatches (earned = −α = −10):
        // mean M* = (20 + 20 + 30 + 10)/4 = 20, mean E* = (20 − 10 + 30 − 10)/4 = 7.5, gap 12.5, γ = 0.08, E*/M* = 0.375.
        var g = Fairness.Gamma([20, 20, 30, 10], [20, -10, 30, -10]);
        Assert.Equal(4, g.Reports);
        Assert.Equal(20, g.OptimalReward, 12);
        Assert.Equal(7.5, g.Reward, 12);
        Assert.Equal(12.5, g.Gap, 12);
        Assert.Equal(0.08, g.Gamma!.Value, 12);
        Assert.Equal(0.375, g.Normalised!.Value, 12);
    }

    [Fact]
    public void Gamma_is_unbounded_without_unfair_penalties_and_never_nan()
    {
        var perfect = Fairness.Gamma([5, 7], [5, 7]);
        Assert.Null(perfect.Gamma);
        Assert.Equal(1, perfect.Normalised!.Value, 12);
        var empty = Fairness.Gamma([], []);
        Assert.Null(empty.Gamma);
        Assert.Null(empty.Normalised);
        Assert.Equal(0, empty.Gap);
        Assert.Throws<ArgumentException>(() => Fairness.Gamma([1], [1, 2]));
        Assert.ThrowsAny<TallyUserException>(() => Fairness.Gamma([double.NaN], [1]));
    }

    [Fact]
    public void Qualitative_fairness_groups_by_reputation_and_flags_significant_drops()
    {
        // Two groups of three: rewards {0, 2, 4} (mean 2, sd 2, SE 2/√3) then {6, 8, 10} (mean 8, same SE).
        var up = Fairness.Qualitative([1, 1, 2, 3, 4, 5], [0, 2, 4, 6, 8, 10], groups: 2);
        Assert.Equal(2, up.Groups.Length);
        Assert.Equal((1.0, 2.0, 3), (up.Groups[0].MinReputation, up.Groups[0].MaxReputation, up.Groups[0].Count));
        Assert.Equal(2, up.Groups[0].MeanReward, 12);
        Assert.Equal(2 / Math.Sqrt(3), up.Groups[0].StandardError, 12);
        Assert.Equal(8, up.Groups[1].MeanReward, 12);
        Assert.True(up.Holds);

        // Reversed: the drop 8 → 2 is 6 > 3·√(2·4/3) ≈ 4.9 standard errors: a violation at group 1.
        var down = Fairness.Qualitative([1, 1, 2, 3, 4, 5], [6, 8, 10, 0, 2, 4], groups: 2);
        Assert.Equal([1], down.Violations.ToArray());
        Assert.False(down.Holds);
        // With z = 4 the same drop (6 < 4·1.633 = 6.53) is within noise.
        Assert.True(Fairness.Qualitative([1, 1, 2, 3, 4, 5], [6, 8, 10, 0, 2, 4], groups: 2, z: 4).Holds);
    }

    [Fact]
    public void Equal_reputations_never_straddle_two_groups()
    {
        // The cut after 2 of 5 samples (round(2.5) = 2) would split the three agents with reputation 0; they stay together.
        var q = Fairness.Qualitative([0, 0, 0, 7, 9], [1, 2, 3, 4, 6], groups: 2);
        Assert.Equal([3, 2], q.Groups.Select(g => g.Count).ToArray());
        Assert.Equal(2, q.Groups[0].MeanReward, 12);
        Assert.Equal(5, q.Groups[1].MeanReward, 12);
        Assert.Equal((7.0, 9.0), (q.Groups[1].MinReputation, q.Groups[1].MaxReputation));
    }

    [Fact]
    public void Type_means_and_budget_per_agent()
    {
        var means = Fairness.MeanByType([10, 20, -3, 1], ["ta", "ta", "ra", "ra"]);
        Assert.Equal(15, means["ta"], 12);
        Assert.Equal(-1, means["ra"], 12);
        // 1,500 paid to 750 agents over 2 rounds: 1 per agent and round.
        Assert.Equal(1, Fairness.BudgetPerAgent(1500, 750, 2), 12);
        Assert.Throws<ArgumentOutOfRangeException>(() => Fairness.BudgetPerAgent(1, 0, 1));
    }

    [Fact]
    public void Reform_pays_either_the_optimal_reward_or_the_penalty_per_report()
    {
        // One report per agent and no decay: each payment is M* (matched at the last pairing) or −α (mismatch), and
        // M* = α(1/f − 1) ≥ 0 because f ≤ 1.
        var rng = new Random(3);
        var reports = Enumerable.Range(0, 60).Select(a => new RoundReport($"x{a:D2}", a % 6, rng.Next(3))).ToList();
        var round = new Round(1, 6, 3, reports);
        var r = new Reform(new Rptsc(new RptscOptions { Alpha = 10, SampleSize = 20, Seed = 9 }), new ReformOptions { Chances = 2 }).Pay(round, new TermReputation());
        var optimal = r.Optimal!.Value;
        int matched = 0;
        for (int i = 0; i < r.Agents.Length; i++)
        {
            Assert.Equal(1, r.TasksScored[i]);
            Assert.True(optimal[i] >= 0);
            if (r.Payments[i] == optimal[i]) matched++;
            else Assert.Equal(-10, r.Payments[i]);
        }
        Assert.InRange(matched, 1, 59);
    }
}
