using Tally.Core;
using Tally.Mechanisms;
using static Tally.Tests.MechanismTestData;

namespace Tally.Tests;

/// <summary>Hand-computed payments on tiny profiles, degenerate inputs, determinism and scaling.</summary>
public class MechanismTests
{
    // With two agents each agent's only peer is the other one, so peer choices are forced and only penalty tasks,
    // samples and splits are random; the profiles below are chosen so that those choices do not matter either.

    [Fact]
    public void Output_agreement_pays_the_agreement_rate()
    {
        // A: 0 0 1 1, B: 0 1 1 1 → they agree on tasks 0, 2, 3: both earn 3/4.
        var m = Profile(2, [0, 0, 1, 1], [0, 1, 1, 1]);
        var r = new OutputAgreement().WithSeed(1).Pay(m);
        AssertValid(r, m);
        Assert.Equal([0.75, 0.75], r.Payments.ToArray());
        Assert.Equal([4, 4], r.TasksScored.ToArray());
    }

    [Fact]
    public void Tvd_mi_is_the_empirical_tvd_between_joint_and_product()
    {
        // A: 0 0 1 1, B: 0 1 1 1 on 4 shared tasks. Joint P̃(0,0) = P̃(0,1) = 1/4, P̃(1,0) = 0, P̃(1,1) = 1/2;
        // marginals P̃_A = (1/2, 1/2), P̃_B = (1/4, 3/4); products 1/8, 3/8, 1/8, 3/8;
        // |differences| = 1/8 each → ½ · 4/8 = 1/4 for both agents (TVD-MI is symmetric).
        var m = Profile(2, [0, 0, 1, 1], [0, 1, 1, 1]);
        var r = new TvdMutualInformation().WithSeed(1).Pay(m);
        AssertValid(r, m);
        Assert.Equal([0.25, 0.25], r.Payments.ToArray());
        Assert.Equal([4, 4], r.TasksScored.ToArray());
        Assert.Equal([1.0, 0.0], r.Breakdown["peer"].ToArray());
    }

    [Fact]
    public void Correlated_agreement_hand_example()
    {
        // A: 0 1 1, B: 0 1 1. Ordered pairs of distinct answers per task: task 0 gives (0,0) twice, tasks 1 and 2 give
        // (1,1) twice each: C(0,0) = 2, C(1,1) = 4, N = 6, R = (2, 4). N·C − R R = 12 − 4 > 0 and 24 − 16 > 0 on the
        // diagonal, 0 − 8 < 0 off it, so S = identity.
        // Bonus task 0: S(0,0) = 1; the penalty tasks are {1, 2} in some order, both reports 1 → S = 1: pays 0.
        // Bonus task 1: 1; penalty tasks are 0 and 2 in some order: (0,1) or (1,0) → S = 0: pays 1. Task 2 alike: 1.
        // Mean (0 + 1 + 1)/3 = 2/3, with bonus 1 and penalty 1/3, whatever the draws.
        var m = Profile(2, [0, 1, 1], [0, 1, 1]);
        Assert.Equal([1, 0, 0, 1], CorrelatedAgreement.ScoreMatrix(m));
        for (int seed = 0; seed < 20; seed++)
        {
            var r = new CorrelatedAgreement().WithSeed(seed).Pay(m);
            AssertValid(r, m);
            Assert.Equal(2.0 / 3, r.Payments[0], 12);
            Assert.Equal(2.0 / 3, r.Payments[1], 12);
            Assert.Equal(1.0, r.Breakdown["bonus"][0]);
            Assert.Equal(1.0 / 3, r.Breakdown["penalty"][0], 12);
            Assert.Equal([3, 3], r.TasksScored.ToArray());
        }
    }

    [Fact]
    public void Correlated_agreement_score_matrix_ignores_uninformative_classes()
    {
        // Everyone reports 1: Δ = 0 everywhere, so S = 0 and everybody is paid exactly 0.
        var m = Profile(3, [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]);
        Assert.All(CorrelatedAgreement.ScoreMatrix(m), s => Assert.Equal(0, s));
        var r = new CorrelatedAgreement().WithSeed(3).Pay(m);
        AssertValid(r, m);
        Assert.All(r.Payments, p => Assert.Equal(0.0, p));
    }

    [Fact]
    public void Dasgupta_ghosh_hand_example()
    {
        // A: 0 1 1, B: 0 1 1. The other two tasks are shared out alternately: A draws one, B gets the other.
        // Bonus task 0: agree (1); A and B both reported 1 on their penalty task → penalty f_A(1) f_B(1) = 1 → pays 0.
        // Bonus task 1: agree; penalty tasks 0 and 2 carry reports 0 and 1 (in some order) → penalty 0 → pays 1. Task 2 alike.
        // Mean 2/3, bonus 1, penalty 1/3 whatever the draws.
        var m = Profile(2, [0, 1, 1], [0, 1, 1]);
        for (int seed = 0; seed < 20; seed++)
        {
            var r = new DasguptaGhosh().WithSeed(seed).Pay(m);
            AssertValid(r, m);
            Assert.Equal(2.0 / 3, r.Payments[0], 12);
            Assert.Equal(2.0 / 3, r.Payments[1], 12);
            Assert.Equal(1.0 / 3, r.Breakdown["penalty"][1], 12);
        }
    }

    [Fact]
    public void Dasgupta_ghosh_penalty_uses_empirical_frequencies()
    {
        // A: 0 0 1 1 1, B: 1 0 1 0 1. On each bonus task the other four tasks are split 2/2 alternately and the
        // penalty f_A(0)f_B(0) + f_A(1)f_B(1) depends on the split, but the breakdown always satisfies
        // payment = bonus − penalty, and the bonus is the plain agreement rate.
        var m = Profile(2, [0, 0, 1, 1, 1], [1, 0, 1, 0, 1]);
        var r = new DasguptaGhosh().WithSeed(5).Pay(m);
        AssertValid(r, m);
        for (int i = 0; i < 2; i++)
            Assert.Equal(r.Breakdown["bonus"][i] - r.Breakdown["penalty"][i], r.Payments[i], 12);
        // Both agree on tasks 1, 2, 4 and disagree on 0, 3: bonus = 3/5.
        Assert.Equal(0.6, r.Breakdown["bonus"][0], 12);
    }

    [Fact]
    public void Rptsc_hand_example()
    {
        // α = 2, sample size 5. A: 1 1 0 0, B: 1 1 1 1. For A the peer is B and every sampled report (B's reports on
        // the other tasks) is 1. Tasks 0, 1: A agrees on 1, b = 5 of 5 samples are 1, f(1) = (5 + 1)/(5 + 1) = 1 →
        // 2(1/1 − 1) = 0. Tasks 2, 3: disagree → −α = −2. Mean −1, agreement 1/2.
        // B disagrees on tasks 2, 3 (−2 each) and agrees on 0, 1 with a random f ≤ 1 → a reward ≥ 0 there:
        // B's payment is at least (−4 + 0 + 0)/4 = −1.
        var m = Profile(2, [1, 1, 0, 0], [1, 1, 1, 1]);
        var r = new Rptsc(new RptscOptions { Alpha = 2, SampleSize = 5 }).WithSeed(2).Pay(m);
        AssertValid(r, m);
        Assert.Equal(-1.0, r.Payments[0], 12);
        Assert.Equal(0.5, r.Breakdown["agreement"][0], 12);
        Assert.True(r.Payments[1] >= -1 - 1e-12);
        Assert.Equal(new PaymentRange(-2, 10), r.Range);
    }

    [Fact]
    public void Rptsc_rewards_rare_agreement_more()
    {
        // Three agents agree on task 0 with the rare answer 2 and on task 1 with the common answer 0 (common on the
        // other tasks): the rare agreement is worth more, the common one less than the rare one.
        var m = Profile(3, [2, 0, 0, 0, 0, 0], [2, 0, 0, 0, 0, 0], [2, 0, 0, 0, 0, 0]);
        var r = new Rptsc(new RptscOptions { SampleSize = 20 }).WithSeed(4).Pay(m);
        AssertValid(r, m);
        // On tasks 1..5 everything sampled elsewhere is mostly 0 → f(0) ≈ 1, reward ≈ 0; on task 0 the sample has no
        // 2 (only task 0 has a 2) → f(2) = 1/21, reward 20. Mean ≈ 20/6 > 3.
        Assert.All(r.Payments, p => Assert.True(p > 3, $"payment {p}"));
    }

    [Fact]
    public void Dmi_pair_value_hand_examples()
    {
        var m1 = new long[4]; var m2 = new long[4]; var lu = new double[4];
        // Half 1: (0,0), (1,1) → M1 = I, det 1; half 2: (0,1), (1,0) → M2 = [[0,1],[1,0]], det −1.
        // Normalisation 2·1 per half → (1/2)(−1/2) = −1/4.
        Assert.Equal(-0.25, Dmi.PairValue([0, 1, 0, 1], [0, 1, 1, 0], 2, 2, m1, m2, lu), 15);
        // K = 3 (Gaussian elimination path): M1 = I (det 1), M2 = cyclic permutation (even, det 1); 3! per half → 1/36.
        var n1 = new long[9]; var n2 = new long[9]; var lu3 = new double[9];
        Assert.Equal(1.0 / 36, Dmi.PairValue([0, 1, 2, 0, 1, 2], [0, 1, 2, 1, 2, 0], 3, 3, n1, n2, lu3), 14);
        // A rank-one half (constant reports) has det 0.
        Assert.Equal(0.0, Dmi.PairValue([0, 0, 0, 1, 0, 1], [1, 1, 1, 0, 1, 1], 3, 2, m1, m2, lu));
    }

    [Fact]
    public void Dmi_pays_the_expectation_over_random_splits()
    {
        // A: 0 1 0 1, B: 0 1 0 1 (perfect agreement). Pairs per task: (0,0), (1,1), (0,0), (1,1). Of the 6 equally
        // likely 2+2 splits, the 4 that put one 0 and one 1 in each half give M1 = M2 = I → 1·1/(2·2) = 1/4; the 2 that
        // put both 0s in one half give det 0. So each seed pays 0 or 1/4, the same to both agents, with mean 1/6;
        // over 3000 seeds the sd of the mean is 0.25·√(2/9)/√3000 ≈ 0.0022, and 4 sd ≈ 0.009.
        var m = Profile(2, [0, 1, 0, 1], [0, 1, 0, 1]);
        double sum = 0;
        const int runs = 3000;
        for (int seed = 0; seed < runs; seed++)
        {
            var r = new Dmi().WithSeed(seed).Pay(m);
            AssertValid(r, m);
            Assert.Equal(r.Payments[0], r.Payments[1]);
            Assert.True(r.Payments[0] == 0 || r.Payments[0] == 0.25, $"payment {r.Payments[0]}");
            sum += r.Payments[0];
        }
        Assert.InRange(sum / runs, 1.0 / 6 - 0.009, 1.0 / 6 + 0.009);
    }

    [Fact]
    public void Dmi_needs_2k_shared_tasks()
    {
        // 3 shared tasks < 2K = 4: nobody is scored; a third agent sharing 4 tasks with A is.
        var m = Profile(2, [0, 1, 0, 1], [0, 1, 0, -1], [1, 0, 1, 0]);
        var r = new Dmi().WithSeed(1).Pay(m);
        AssertValid(r, m);
        Assert.Equal(0, r.TasksScored[1]);
        Assert.Equal(0.0, r.Payments[1]);
        Assert.Equal(1.0, r.Breakdown["peers"][0]);
        Assert.Equal(4, r.TasksScored[0]);
        Assert.Equal(4, r.TasksScored[2]);
    }

    [Fact]
    public void Dmi_peer_subsets()
    {
        var m = Simulate(30, 120, 2, Simulation.PeerStrategy.Truthful, seed: 8).Reports;
        var all = new Dmi().WithSeed(8).Pay(m);
        // A cap above the number of peers uses every peer: same pairs, same splits, same summation order.
        var capped = new Dmi(new DmiOptions { MaxPeers = 1000 }).WithSeed(8).Pay(m);
        Assert.Equal(all.Payments.ToArray(), capped.Payments.ToArray());
        Assert.Equal(all.TasksScored.ToArray(), capped.TasksScored.ToArray());
        Assert.All(all.Breakdown["peers"], p => Assert.Equal(29.0, p));
        // A real cap: 5 random peers each.
        var five = new Dmi(new DmiOptions { MaxPeers = 5 }).WithSeed(8).Pay(m);
        AssertValid(five, m);
        Assert.All(five.Breakdown["peers"], p => Assert.Equal(5.0, p));
        Assert.Equal(five.Payments.ToArray(), new Dmi(new DmiOptions { MaxPeers = 5 }).WithSeed(8).Pay(m).Payments.ToArray());
    }

    public static IEnumerable<object[]> DegenerateCases()
    {
        foreach (var mech in new[] { "oa", "dg", "ca", "rptsc", "dmi", "tvdmi" })
        {
            yield return [mech, "one agent"];
            yield return [mech, "one task"];
            yield return [mech, "one class"];
            yield return [mech, "one agent one task"];
            yield return [mech, "idle agents"];
            yield return [mech, "duplicates"];
        }
    }

    private static LabelMatrix Degenerate(string name) => name switch
    {
        "one agent" => Profile(3, [0, 1, 2, 0, 1]),
        "one task" => Profile(2, [0], [1], [1]),
        "one class" => Profile(1, [0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]),
        "one agent one task" => Profile(1, [0]),
        // Workers 1 and 3 answer nothing.
        "idle agents" => LabelMatrix.FromTriples(5, 4, 2, [0, 1, 2, 3, 4, 0, 1, 2, 3, 4], [0, 0, 0, 0, 0, 2, 2, 2, 2, 2], [0, 1, 0, 1, 1, 0, 1, 1, 1, 0]),
        // Agent 0 answers task 0 three times; agent 1 once.
        "duplicates" => LabelMatrix.FromTriples(3, 2, 2, [0, 0, 0, 0, 1, 1, 2, 2], [0, 0, 0, 1, 0, 1, 0, 1], [0, 1, 0, 0, 1, 1, 0, 1], DuplicatePolicy.KeepAll),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(DegenerateCases))]
    public void Degenerate_inputs_give_finite_payments(string mechanism, string profile)
    {
        var m = Degenerate(profile);
        var r = Create(mechanism).WithSeed(9).Pay(m);
        AssertValid(r, m);
        if (profile is "one agent" or "one agent one task") Assert.Equal(m.WorkerCount, r.UnscoredCount);
        if (profile == "idle agents") { Assert.False(r.IsScored(1)); Assert.False(r.IsScored(3)); }
        if (profile == "one class")
        {
            // Nothing can be elicited with one class: every mechanism but output agreement pays 0.
            foreach (var p in r.Payments) Assert.Equal(mechanism == "oa" ? 1.0 : 0.0, p);
        }
        if (profile == "one task" && mechanism is "ca" or "dg" or "rptsc" or "dmi" or "tvdmi")
            Assert.Equal(m.WorkerCount, r.UnscoredCount);
        Assert.True(double.IsFinite(r.MeanPayment));
    }

    [Theory]
    [MemberData(nameof(All), MemberType = typeof(MechanismTestData))]
    public void Payments_are_deterministic_under_a_seed(string mechanism)
    {
        // Large enough to run in parallel: the result must not depend on thread scheduling.
        var m = Simulate(120, 500, 3, Simulation.PeerStrategy.Truthful, accuracy: 0.6, seed: 3, fraction: 0.6).Reports;
        var a = Create(mechanism).WithSeed(42).Pay(m);
        var b = Create(mechanism).WithSeed(42).Pay(m);
        AssertValid(a, m);
        Assert.Equal(a.Payments.ToArray(), b.Payments.ToArray());
        Assert.Equal(a.TasksScored.ToArray(), b.TasksScored.ToArray());
        foreach (var (k, v) in a.Breakdown) Assert.Equal(v.ToArray(), b.Breakdown[k].ToArray());
    }

    [Theory]
    [MemberData(nameof(All), MemberType = typeof(MechanismTestData))]
    public void Random_sparse_matrices_give_valid_payments(string mechanism)
    {
        for (int seed = 0; seed < 60; seed++)
        {
            var m = TestData.RandomMatrix(seed);
            var r = Create(mechanism).WithSeed(seed).Pay(m);
            AssertValid(r, m);
            var scaled = PaymentScaling.ForBudget(10, r.Range).Apply(r);
            AssertScaled(r, scaled, 10);
        }
    }

    private static void AssertScaled(PaymentResult raw, PaymentResult scaled, double budget)
    {
        AssertValid(scaled, raw.Reports);
        var s = scaled.Scaling;
        Assert.True(s.Scale >= 0);
        Assert.True(scaled.Range.Min >= -1e-12);
        Assert.True(scaled.Range.Max <= budget + 1e-9);
        for (int i = 0; i < raw.Payments.Length; i++)
        {
            Assert.Equal(raw.TasksScored[i], scaled.TasksScored[i]);
            if (!raw.IsScored(i)) { Assert.Equal(0.0, scaled.Payments[i]); continue; }
            Assert.InRange(scaled.Payments[i], -1e-9, budget + 1e-9);
            Assert.Equal(s.Scale * raw.Payments[i] + s.Offset, scaled.Payments[i], 9);
            // Order between scored agents is kept.
            for (int j = 0; j < raw.Payments.Length; j++)
                if (raw.IsScored(j) && raw.Payments[i] < raw.Payments[j])
                    Assert.True(scaled.Payments[i] <= scaled.Payments[j]);
        }
        Assert.Equal(raw.Breakdown.Count, scaled.Breakdown.Count);
    }

    public static IEnumerable<object[]> BadOptions() =>
    [
        [new OutputAgreementOptions { MinTasks = 0 }, "MinTasks"],
        [new DasguptaGhoshOptions { PenaltyTasks = 0 }, "PenaltyTasks"],
        [new DasguptaGhoshOptions { MinTasks = -1 }, "MinTasks"],
        [new CorrelatedAgreementOptions { MinTasks = 0 }, "MinTasks"],
        [new RptscOptions { Alpha = -1 }, "Alpha"],
        [new RptscOptions { Alpha = double.NaN }, "Alpha"],
        [new RptscOptions { SampleSize = 0 }, "SampleSize"],
        [new DmiOptions { MaxPeers = -1 }, "MaxPeers"],
        [new TvdMutualInformationOptions { MinSharedTasks = 0 }, "MinSharedTasks"],
        [new RobustSymmetricOptions { AdversaryFraction = 0.6 }, "AdversaryFraction"],
        [new RobustSymmetricOptions { ThresholdConstant = 0 }, "ThresholdConstant"],
        [new RobustSymmetricOptions { MinBatchSize = 0 }, "MinBatchSize"],
        [new RobustSymmetricOptions { SubsampleAgents = -1 }, "SubsampleAgents"],
        [new RobustDawidSkeneMechanismOptions { Model = new Robust.RobustDawidSkeneOptions { Restarts = 0 } }, "Restarts"],
        [new RobustDawidSkeneMechanismOptions { Model = null! }, "Model"],
    ];

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void Every_mechanism_validates_its_options_and_names_the_bad_one(MechanismOptions options, string option)
    {
        Assert.Equal(option, Assert.Throws<InvalidOptionException>(options.Validate).Option);
        var m = Profile(2, [0, 1, 1, 0], [0, 1, 1, 1], [1, 1, 0, 0]);
        Assert.Equal(option, Assert.Throws<InvalidOptionException>(() => options.CreateMechanism().Pay(m)).Option);
    }

    [Fact]
    public void Reform_validates_its_options()
    {
        var round = new Mechanisms.Reputation.Round(1, 1, 2, [new("a", 0, 0), new("b", 0, 1)]);
        var term = new Mechanisms.Reputation.TermReputation();
        Assert.Equal("Chances", Assert.Throws<InvalidOptionException>(() => new Reform(options: new ReformOptions { Chances = 0 }).Pay(round, term)).Option);
        Assert.Equal("Decay", Assert.Throws<InvalidOptionException>(() => new Reform(options: new ReformOptions { Decay = null! }).Pay(round, term)).Option);
        Assert.Equal("Lambda", Assert.Throws<InvalidOptionException>(() => new Mechanisms.Reputation.TermOptions { Lambda = 0 }.Validate()).Option);
    }

    [Theory]
    [MemberData(nameof(All), MemberType = typeof(MechanismTestData))]
    public void The_seed_lives_in_the_options(string mechanism)
    {
        var m = Simulate(20, 60, 3, Simulation.PeerStrategy.Truthful, accuracy: 0.6, seed: 4, fraction: 0.7).Reports;
        var seeded = Create(mechanism).WithSeed(9);
        Assert.Equal(9, seeded.Options.Seed);
        Assert.Equal(seeded.Pay(m).Payments.ToArray(), Create(mechanism).WithSeed(9).Pay(m).Payments.ToArray());
        // Another seed draws other peers (DMI: other splits): some payment moves.
        Assert.NotEqual(seeded.Pay(m).Payments.ToArray(), Create(mechanism).WithSeed(10).Pay(m).Payments.ToArray());
    }

    [Fact]
    public void Budget_scaling_maps_the_range_onto_zero_to_budget()
    {
        var s = PaymentScaling.ForBudget(12, new PaymentRange(-1, 1));
        Assert.Equal(6.0, s.Scale);
        Assert.Equal(6.0, s.Offset);
        Assert.Equal(0.0, s.Map(-1));
        Assert.Equal(12.0, s.Map(1));
        // Empty range (K = 1 DMI): everything maps to 0, no division by zero.
        Assert.Equal(new PaymentScaling(0, 0), PaymentScaling.ForBudget(12, new PaymentRange(0, 0)));
        Assert.Throws<ArgumentOutOfRangeException>(() => PaymentScaling.ForBudget(double.NaN, new PaymentRange(0, 1)));

        // Composition: applying two scalings records their composition and keeps unscored agents at 0.
        var m = Profile(2, [0, 1, 1, 0], [0, 1, 1, 1], [0, 1, 0, 0], [-1, -1, -1, -1]);
        var r = new CorrelatedAgreement().WithSeed(1).Pay(m);
        Assert.False(r.IsScored(3));
        var twice = new PaymentScaling(3, 1).Apply(new PaymentScaling(2, -1).Apply(r));
        Assert.Equal(new PaymentScaling(6, -2), twice.Scaling);
        Assert.Equal(0.0, twice.Payments[3]);
        for (int i = 0; i < 3; i++) Assert.Equal(6 * r.Payments[i] - 2, twice.Payments[i], 12);
        Assert.Equal(new PaymentRange(-8, 4), twice.Range);
    }
}
