using Tally.Catalogs;
using Tally.Aggregation;
using Tally.Core;

namespace Tally.Tests;

/// <summary>Hand-checked examples for majority vote, Wawa, ZBS, Dawid-Skene and one-coin Dawid-Skene.</summary>
public class ClassicalMethodTests
{
    // The running example: 3 tasks × 3 workers, K = 2.
    //   t0: A=0 B=0 C=0     t1: A=1 B=1 C=0     t2: A=0 B=1 C=1
    private static LabelMatrix Example() => LabelMatrix.FromTriples(3, 3, 2,
        [0, 0, 0, 1, 1, 1, 2, 2, 2],
        [0, 1, 2, 0, 1, 2, 0, 1, 2],
        [0, 0, 0, 1, 1, 0, 0, 1, 1]);

    [Fact]
    public void Majority_vote_gives_vote_shares_and_agreement_skills()
    {
        var r = new MajorityVote().Aggregate(Example());
        // Vote shares: t0 (3/3, 0), t1 (1/3, 2/3), t2 (1/3, 2/3).
        Assert.Equal([1.0, 0.0], r.Posteriors.Row(0).ToArray());
        Assert.Equal(1.0 / 3, r.Posteriors[1, 0], 12);
        Assert.Equal(2.0 / 3, r.Posteriors[2, 1], 12);
        Assert.Equal([0, 1, 1], r.Labels.ToArray());
        // Agreement with (0, 1, 1): A agrees on t0, t1 → 2/3; B on all three → 1; C on t0, t2 → 2/3.
        Assert.Equal(2.0 / 3, r.WorkerSkills[0], 12);
        Assert.Equal(1.0, r.WorkerSkills[1], 12);
        Assert.Equal(2.0 / 3, r.WorkerSkills[2], 12);
    }

    [Fact]
    public void Majority_vote_ties_go_to_the_lowest_class_index_or_are_random_with_a_seed()
    {
        // One task, two workers disagree: a 1–1 tie between classes 0 and 1, on 200 copies of it.
        int n = 200;
        var tasks = Enumerable.Range(0, n).SelectMany(t => new[] { t, t }).ToArray();
        var workers = Enumerable.Range(0, n).SelectMany(_ => new[] { 0, 1 }).ToArray();
        var labels = Enumerable.Range(0, n).SelectMany(_ => new[] { 1, 0 }).ToArray();
        var m = LabelMatrix.FromTriples(n, 2, 2, tasks, workers, labels);
        Assert.All(new MajorityVote().Aggregate(m).Labels.ToArray(), l => Assert.Equal(0, l));
        var random = new MajorityVote(new MajorityVoteOptions { Ties = TieBreak.Random, Seed = 5 }).Aggregate(m).Labels;
        int ones = random.Count(l => l == 1);
        // Binomial(200, 1/2): mean 100, sd ≈ 7.1; ±5 sd.
        Assert.InRange(ones, 65, 135);
        Assert.Equal(random.ToArray(), new MajorityVote(new MajorityVoteOptions { Ties = TieBreak.Random, Seed = 5 }).Aggregate(m).Labels.ToArray());
    }

    [Fact]
    public void Wawa_weights_votes_by_agreement_with_majority()
    {
        // Skills from the MV example: A = 2/3, B = 1, C = 2/3.
        // t2: class 0 gets A's 2/3, class 1 gets B + C = 5/3 → (2/7, 5/7).
        var r = new Wawa().Aggregate(Example());
        Assert.Equal(2.0 / 7, r.Posteriors[2, 0], 12);
        Assert.Equal(5.0 / 7, r.Posteriors[2, 1], 12);
        Assert.Equal(1.0, r.WorkerSkills[1], 12);
    }

    [Fact]
    public void Zero_based_skill_first_step_moves_half_way_to_agreement()
    {
        // With one iteration: lr = 1 · 0.5 at iteration 0; skills start at 1; agreement with the (equal-weight)
        // vote is (2/3, 1, 2/3), so skills become 1 + 0.5 (2/3 − 1) = 5/6 for A and C, and 1 for B.
        var r = new ZeroBasedSkill(new ZeroBasedSkillOptions { MaxIterations = 1, Tolerance = 0 }).Aggregate(Example());
        Assert.Equal(5.0 / 6, r.WorkerSkills[0], 12);
        Assert.Equal(1.0, r.WorkerSkills[1], 12);
        Assert.Equal(5.0 / 6, r.WorkerSkills[2], 12);
        // t2: class 0 gets 5/6, class 1 gets 1 + 5/6 → (5/16, 11/16).
        Assert.Equal(5.0 / 16, r.Posteriors[2, 0], 12);
        Assert.Equal(1, r.Iterations);
        Assert.False(r.Converged);
    }

    [Fact]
    public void Dawid_skene_one_em_step_matches_hand_computation()
    {
        // Start: MV posteriors t0 (1, 0), t1 = t2 = (1/3, 2/3); prior ρ = (5/9, 4/9).
        // M-step (no smoothing), rows = true class, columns = answer:
        //   π_A = [[4/5, 1/5], [1/2, 1/2]]   π_B = [[3/5, 2/5], [0, 1]]   π_C = [[4/5, 1/5], [1/2, 1/2]]
        // E-step t1 (A1 B1 C0): class 0 ∝ 5/9·1/5·2/5·4/5 = 40/1125; class 1 ∝ 4/9·1/2·1·1/2 = 125/1125
        //   → P(1) = 125/165 = 25/33. t2 (A0 B1 C1) gives the same products. t0: class 1 needs π_B[1,0] = 0 → P(0) = 1.
        var r = new DawidSkene(new DawidSkeneOptions { MaxIterations = 1, Tolerance = 0, Smoothing = 0 }).Aggregate(Example());
        Assert.Equal(1.0, r.Posteriors[0, 0], 9);
        Assert.Equal(25.0 / 33, r.Posteriors[1, 1], 12);
        Assert.Equal(25.0 / 33, r.Posteriors[2, 1], 12);
        Assert.Equal([0, 1, 1], r.Labels.ToArray());
        Assert.Single(r.LogLikelihoods);
        // Log-likelihood per answer of the E-step: Σ_t log Σ_k ρ_k Π π  over 9 answers.
        double ll = (Math.Log(5.0 / 9 * 4 / 5 * 3 / 5 * 4 / 5 + 4.0 / 9 * 0.5 * 1e-12 * 0.5)
                     + 2 * Math.Log(165.0 / 1125)) / 9;
        Assert.Equal(ll, r.LogLikelihoods[0], 9);
    }

    [Fact]
    public void Dawid_skene_clamps_gold_labels()
    {
        var m = Example().WithGold(new GoldLabels([-1, 0, -1], 2));
        var r = new DawidSkene().Aggregate(m);
        Assert.Equal([1.0, 0.0], r.Posteriors.Row(1).ToArray());
        Assert.Equal(0, r.Labels[1]);
    }

    [Fact]
    public void Dawid_skene_prior_counts_act_as_a_dirichlet_prior()
    {
        // Strong diagonal pseudo-counts make every worker look reliable, so one M-step leaves the vote almost
        // unchanged: t2 (A0 B1 C1) with identical near-perfect workers goes to class 1.
        var prior = new double[] { 1000, 1, 1, 1000 };
        var r = new DawidSkene(new DawidSkeneOptions { MaxIterations = 1, Tolerance = 0, PriorCounts = prior }).Aggregate(Example());
        Assert.True(r.Posteriors[2, 1] > 0.99);
        Assert.InRange(r.Confusions![0, 0, 0], 0.99, 1.0);
        Assert.Equal("PriorCounts", Assert.Throws<InvalidOptionException>(() => new DawidSkene(new DawidSkeneOptions { PriorCounts = [1, 2, 3] }).Aggregate(Example())).Option);
    }

    [Fact]
    public void One_coin_one_em_step_matches_hand_computation()
    {
        // From the MV start, expected correct answers / answers: A (1 + 1/3·… ) → A: 4/3 + 2/3 = 2 of 3 → 2/3,
        // B: 1 + 4/3 = 7/3 of 3 → 7/9, C: 2/3. (Smoothing 0.)
        // t1 (A1 B1 C0): class 0 ∝ 5/9·(1/3)(2/9)(2/3) = 20/729·(5/9)… written out: class 0 ∝ 5/9·4/81, class 1 ∝ 4/9·14/81
        //   → P(1) = 56/(20 + 56) = 14/19.
        var r = new OneCoinDawidSkene(new OneCoinDawidSkeneOptions { MaxIterations = 1, Tolerance = 0, Smoothing = 0 }).Aggregate(Example());
        Assert.Equal(14.0 / 19, r.Posteriors[1, 1], 12);
        Assert.Equal(r.Confusions![0, 0, 1], r.Confusions[0, 1, 0], 12);
    }

    [Fact]
    public void Dawid_skene_recovers_a_simulated_crowd_and_its_confusions()
    {
        var crowd = new Simulation.DawidSkeneSimulator().Generate(new Simulation.DawidSkeneScenario
        { Tasks = 3000, Workers = 30, PerTask = 5, Classes = 3, Accuracy = 0.7, Seed = 3 });
        var ds = new DawidSkene().Aggregate(crowd.Answers);
        var mv = new MajorityVote().Aggregate(crowd.Answers);
        double dsAcc = Accuracy.Of(ds.Labels.AsSpan(), crowd.Truth).Value, mvAcc = Accuracy.Of(mv.Labels.AsSpan(), crowd.Truth).Value;
        Assert.True(dsAcc >= mvAcc, $"DS {dsAcc} < MV {mvAcc}");
        // Each worker has ~500 answers, ~167 per true class: a diagonal entry has sd ≈ √(.7·.3/167) ≈ 0.035, an
        // off-diagonal one ≈ 0.028, so the mean absolute error over all entries should be ≈ 0.025; allow twice that.
        double total = 0;
        for (int w = 0; w < 30; w++)
            for (int j = 0; j < 3; j++)
                for (int l = 0; l < 3; l++)
                    total += Math.Abs(ds.Confusions![w, j, l] - crowd.WorkerConfusions[w, j, l]);
        double mae = total / (30 * 9);
        Assert.True(mae < 0.05, $"mean absolute confusion error {mae}");
    }

    [Theory]
    [InlineData("mv", "duck", 75.93)]
    [InlineData("mv", "dog", 81.78)]
    [InlineData("mv", "face", 63.01)]
    [InlineData("wawa", "duck", 75.93)]
    [InlineData("wawa", "dog", 82.90)]
    [InlineData("wawa", "face", 63.01)]
    [InlineData("zbs", "duck", 75.93)]
    [InlineData("zbs", "dog", 83.02)]
    [InlineData("zbs", "face", 63.01)]
    [InlineData("ds", "duck", 88.89)]
    [InlineData("ds", "dog", 84.26)]
    [InlineData("ds", "face", 64.04)]
    [InlineData("onecoin", "duck", 58.33)]
    [InlineData("onecoin", "dog", 83.02)]
    [InlineData("onecoin", "face", 61.13)]
    public void Accuracy_matches_crowd_kit_within_one_point(string method, string dataset, double crowdKit)
    {
        var acc = TestData.AccuracyPercent(AggregatorCatalog.Find(method)!.Create(new CommonMethodOptions()), dataset);
        Assert.True(acc >= crowdKit - 1.0, $"{method} on {dataset}: {acc:0.00}% vs Crowd-Kit {crowdKit}%");
    }
}
