using Tally.Core;
using Tally.Mechanisms;
using Tally.Simulation;
using Xunit.Abstractions;
using static Tally.Tests.MechanismTestData;

namespace Tally.Tests;

/// <summary>
/// Paper 000's robust mechanisms: <see cref="RobustSymmetricMechanism"/> (Mechanism 2) and
/// <see cref="RobustDawidSkeneMechanism"/> (Mechanism 3), against the naive <see cref="TvdMutualInformation"/> (Mechanism 1).
/// </summary>
public class RmifTests(ITestOutputHelper output)
{
    private static IPeerPredictionMechanism Make(string name) => name switch
    {
        "rmif-symmetric" => new RobustSymmetricMechanism(),
        "rmif-ds" => new RobustDawidSkeneMechanism(),
        "tvdmi" => new TvdMutualInformation(),
        _ => throw new ArgumentException(name),
    };

    public static IEnumerable<object[]> Robust() => [["rmif-symmetric"], ["rmif-ds"]];

    private static void AssertValid(PaymentResult r, LabelMatrix m)
    {
        Assert.Equal(m.WorkerCount, r.Payments.Length);
        Assert.Equal(m.WorkerCount, r.TasksScored.Length);
        for (int i = 0; i < r.Payments.Length; i++)
        {
            Assert.True(double.IsFinite(r.Payments[i]), $"payment {i} = {r.Payments[i]}");
            if (r.IsScored(i)) Assert.True(r.Range.Contains(r.Payments[i]), $"payment {i} = {r.Payments[i]} outside {r.Range}");
            else Assert.Equal(0.0, r.Payments[i]);
        }
        foreach (var (_, v) in r.Breakdown)
            foreach (var x in v) Assert.True(double.IsFinite(x));
    }

    private static double MeanOver(PaymentResult r, Func<int, bool> include)
    {
        double s = 0; int n = 0;
        for (int i = 0; i < r.Payments.Length; i++)
            if (include(i) && r.IsScored(i)) { s += r.Payments[i]; n++; }
        return n == 0 ? double.NaN : s / n;
    }

    [Fact]
    public void Eq8_is_the_tvd_between_a_joint_and_the_product_of_its_marginals()
    {
        // Q = [[1/4, 1/4], [0, 1/2]]: row marginal (1/2, 1/2), column marginal (1/4, 3/4), product 1/8, 3/8, 1/8, 3/8,
        // |differences| 1/8 each → 1/4. Independent Q → 0; perfectly correlated uniform Q on K = 3 → 1 − 1/3.
        var row = new double[3]; var col = new double[3];
        Assert.Equal(0.25, RobustSymmetricMechanism.TvdFromProduct([0.25, 0.25, 0, 0.5], 2, row, col), 12);
        Assert.Equal(0.0, RobustSymmetricMechanism.TvdFromProduct([0.08, 0.32, 0.12, 0.48], 2, row, col), 12);
        var diag = new double[9]; diag[0] = diag[4] = diag[8] = 1.0 / 3;
        Assert.Equal(2.0 / 3, RobustSymmetricMechanism.TvdFromProduct(diag, 3, row, col), 12);
        Assert.Equal(0.0, RobustSymmetricMechanism.TvdFromProduct([1.0], 1, row, col));
    }

    [Fact]
    public void Mechanism2_with_two_agents_is_the_empirical_tvd_mi()
    {
        // Each agent's only peer is the other: one batch of K_b = m = 4 pairs, which the filter cannot down-weight
        // (one batch has no spread), so Q̃ is the empirical joint and eq. (8) is the empirical TVD-MI: 1/4 (see above).
        var m = Profile(2, [0, 0, 1, 1], [0, 1, 1, 1]);
        var r = new RobustSymmetricMechanism().WithSeed(1).Pay(m);
        AssertValid(r, m);
        Assert.Equal(0.25, r.Payments[0], 12);
        Assert.Equal(0.25, r.Payments[1], 12);
        Assert.Equal([4, 4], r.TasksScored.ToArray());
        Assert.Equal([4.0, 4.0], r.Breakdown["capacity"].ToArray());
    }

    [Fact]
    public void Mechanism2_uses_each_task_once_and_fills_every_batch_to_capacity()
    {
        // Dense, 5 agents × 10 tasks: K_b = ⌊10/4⌋ = 2 pairs with each of the 4 peers, 8 of the 10 tasks used.
        var m = Simulate(5, 10, 2, PeerStrategy.Truthful, seed: 4).Reports;
        var r = new RobustSymmetricMechanism().WithSeed(2).Pay(m);
        AssertValid(r, m);
        foreach (var t in r.TasksScored) Assert.Equal(8, t);
        foreach (var c in r.Breakdown["capacity"]) Assert.Equal(2.0, c);
        foreach (var b in r.Breakdown["batches"]) Assert.Equal(4.0, b);
    }

    [Fact]
    public void Mechanism3_labels_blocks_hold_one_group_on_the_left_half()
    {
        var m = Simulate(7, 12, 3, PeerStrategy.Truthful, seed: 5, fraction: 0.8).Reports;
        var group = new[] { 0, 1, 2, 0, 1, 2, 0 };
        var left = new bool[12];
        for (int t = 0; t < 12; t += 2) left[t] = true;
        var b = RobustDawidSkeneMechanism.Block(m, group, 0, left);
        int expected = 0;
        for (int t = 0; t < 12; t++)
        {
            var ws = m.WorkersOf(t); var ls = m.LabelsOf(t);
            var bw = b.WorkersOf(t); var bl = b.LabelsOf(t);
            int q = 0;
            for (int a = 0; a < ws.Length; a++)
                if (left[t] && group[ws[a]] == 0) { Assert.Equal(ws[a], bw[q]); Assert.Equal(ls[a], bl[q]); q++; }
            Assert.Equal(q, bw.Length);
            expected += q;
        }
        Assert.Equal(expected, b.AnswerCount);
        for (int w = 0; w < 7; w++)
        {
            var tasks = b.TasksOf(w);
            for (int p = 0; p < tasks.Length; p++)
            {
                Assert.True(left[tasks[p]] && group[w] == 0);
                if (p > 0) Assert.True(tasks[p] > tasks[p - 1]);
                Assert.Equal(w, b.TaskWorkers[b.WorkerAnswerIds[b.WorkerOffsets[w] + p]]);
            }
        }
    }

    [Fact]
    public void Mechanism3_pays_truthful_agents_the_tvd_mi_with_the_truth()
    {
        // 60 agents (20 per group) at accuracy 0.8 recover the labels of T_R almost perfectly, so the payment is the
        // TVD-MI between a report and the true class: joint 0.4 on the diagonal vs product 0.25 → 0.3.
        var m = Simulate(60, 1000, 2, PeerStrategy.Truthful, accuracy: 0.8, seed: 6).Reports;
        var r = new RobustDawidSkeneMechanism().WithSeed(3).Pay(m);
        AssertValid(r, m);
        Assert.Equal(0, r.UnscoredCount);
        foreach (var ok in r.Breakdown["model-ok"]) Assert.Equal(1.0, ok);
        output.WriteLine($"rmif-ds truthful mean {r.MeanPayment:F4}");
        Assert.InRange(r.MeanPayment, 0.27, 0.33);
        foreach (var t in r.TasksScored) Assert.Equal(500, t);
    }

    [Fact]
    public void Mechanism2_pays_truthful_agents_the_pair_tvd_mi()
    {
        // Two truthful agents at accuracy 0.8: P(x = y = 0) = 0.34 vs 0.25 → 0.18.
        var m = Simulate(30, 1500, 2, PeerStrategy.Truthful, accuracy: 0.8, seed: 7).Reports;
        var r = new RobustSymmetricMechanism().WithSeed(3).Pay(m);
        AssertValid(r, m);
        Assert.Equal(0, r.UnscoredCount);
        output.WriteLine($"rmif-symmetric truthful mean {r.MeanPayment:F4}");
        Assert.InRange(r.MeanPayment, 0.16, 0.20);
        foreach (var t in r.TasksScored) Assert.Equal(29 * (1500 / 29), t);
    }

    [Theory]
    [MemberData(nameof(Robust))]
    public void Uninformed_profiles_are_paid_about_zero(string mechanism)
    {
        var constant = Simulate(30, 900, 3, PeerStrategy.Constant, seed: 8).Reports;
        var rc = Make(mechanism).WithSeed(4).Pay(constant);
        AssertValid(rc, constant);
        foreach (var p in rc.Payments) Assert.Equal(0.0, p, 12);

        var random = Simulate(30, 900, 3, PeerStrategy.RandomByPrior, prior: [0.5, 0.3, 0.2], seed: 9).Reports;
        var rr = Make(mechanism).WithSeed(4).Pay(random);
        AssertValid(rr, random);
        output.WriteLine($"{mechanism}: random-by-prior mean {rr.MeanPayment:F4}, max {rr.Payments.Max():F4}");
        // Sampling bias of an empirical TVD on ≈ 450–900 pairs over 9 cells: a few hundredths at most.
        Assert.InRange(rr.MeanPayment, 0, 0.05);
        Assert.Equal(0, rr.UnscoredCount);
    }

    public static IEnumerable<object[]> AdversaryCases() =>
        from mech in new[] { "rmif-symmetric", "rmif-ds", "tvdmi" }
        from strategy in new[] { AdversaryStrategy.Pattern, AdversaryStrategy.Constant }
        select new object[] { mech, strategy };

    [Theory]
    [MemberData(nameof(AdversaryCases))]
    public void Ten_percent_coordinated_adversaries(string mechanism, AdversaryStrategy strategy)
    {
        // Dense symmetric DS crowd (60 agents answer all 4,000 tasks, accuracy 0.8); α = 0.1 adversaries follow one
        // coordinated strategy. Honest answers are the same random draws with and without adversaries.
        // Measured (honest mean, clean → attacked): Mechanism 1 −9.2% (Pattern) / −9.5% (Constant), i.e. ≈ −α;
        // Mechanism 3 −1.5% / −2.5%; Mechanism 2 −6.6% / −0.2%. Mechanism 2's error against the Pattern adversary
        // (independent shared coin: a batch whose joint is the product of the marginals) is the batch learner's
        // residual, O(β/√K_b): with K_b = ⌊m/59⌋ pairs per peer it was −9.9% at m = 1,200 (K_b = 20, the adversary's
        // batches sit within 1.7 batch standard deviations of honest ones), −6.6% at 4,000 (K_b = 67) and −4.8% at
        // 6,000 (K_b = 101). Constant adversaries are outliers and are removed at any of these sizes.
        AdversarialCrowd Crowd(double alpha) => new AdversarySimulator().Generate(new AdversaryScenario
        {
            Tasks = 4000, Workers = 60, PerTask = 60, Classes = 2, Accuracy = 0.8, AdversaryFraction = alpha,
            Strategy = strategy, Seed = 11,
        });
        var clean = Crowd(0);
        var attacked = Crowd(0.1);
        var honest = attacked.IsAdversary;
        double before = MeanOver(Make(mechanism).WithSeed(5).Pay(clean.Answers), i => !honest[i]);
        var r = Make(mechanism).WithSeed(5).Pay(attacked.Answers);
        AssertValid(r, attacked.Answers);
        double after = MeanOver(r, i => !honest[i]);
        double gap = after - before;
        output.WriteLine($"{mechanism} vs {strategy}: honest mean {before:F4} → {after:F4} (gap {gap:+0.0000;-0.0000}, {gap / before:P1})");
        if (mechanism == "tvdmi")
            Assert.True(gap < -0.05 * before, "the naive mechanism should lose Θ(α) of the honest payment");
        else
        {
            double tolerance = mechanism == "rmif-symmetric" && strategy == AdversaryStrategy.Pattern ? 0.075 : 0.03;
            Assert.True(Math.Abs(gap) < tolerance * before, $"robust mechanism moved by {gap / before:P1}");
        }
    }

    [Theory]
    [MemberData(nameof(Robust))]
    public void Relabelling_every_report_leaves_payments_unchanged(string mechanism)
    {
        var m = Simulate(30, 600, 3, PeerStrategy.Truthful, accuracy: 0.7, seed: 12).Reports;
        var relabelled = Relabel(m, [2, 0, 1]);
        var a = Make(mechanism).WithSeed(6).Pay(m);
        var b = Make(mechanism).WithSeed(6).Pay(relabelled);
        for (int i = 0; i < m.WorkerCount; i++) Assert.Equal(a.Payments[i], b.Payments[i], 9);
        Assert.Equal(a.TasksScored.ToArray(), b.TasksScored.ToArray());
    }

    [Theory]
    [MemberData(nameof(Robust))]
    public void Payments_are_deterministic_under_a_seed(string mechanism)
    {
        // Large enough to run in parallel: the result must not depend on thread scheduling.
        var m = Simulate(120, 500, 3, PeerStrategy.Truthful, accuracy: 0.6, seed: 3, fraction: 0.6).Reports;
        var a = Make(mechanism).WithSeed(42).Pay(m);
        var b = Make(mechanism).WithSeed(42).Pay(m);
        AssertValid(a, m);
        Assert.Equal(a.Payments.ToArray(), b.Payments.ToArray());
        Assert.Equal(a.TasksScored.ToArray(), b.TasksScored.ToArray());
        foreach (var (k, v) in a.Breakdown) Assert.Equal(v.ToArray(), b.Breakdown[k].ToArray());
        var c = Make(mechanism).WithSeed(43).Pay(m);
        Assert.NotEqual(a.Payments.ToArray(), c.Payments.ToArray());
    }

    public static IEnumerable<object[]> DegenerateCases()
    {
        foreach (var mech in new[] { "rmif-symmetric", "rmif-ds" })
            foreach (var p in new[] { "one agent", "two agents", "one task", "one class", "one agent one task", "idle agents", "duplicates", "few tasks", "empty" })
                yield return [mech, p];
    }

    private static LabelMatrix Degenerate(string name) => name switch
    {
        "one agent" => Profile(3, [0, 1, 2, 0, 1]),
        "two agents" => Profile(2, [0, 1, 0, 1], [0, 1, 1, 1]),
        "one task" => Profile(2, [0], [1], [1]),
        "one class" => Profile(1, [0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]),
        "one agent one task" => Profile(1, [0]),
        "idle agents" => LabelMatrix.FromTriples(5, 4, 2, [0, 1, 2, 3, 4, 0, 1, 2, 3, 4], [0, 0, 0, 0, 0, 2, 2, 2, 2, 2], [0, 1, 0, 1, 1, 0, 1, 1, 1, 0]),
        "duplicates" => LabelMatrix.FromTriples(3, 2, 2, [0, 0, 0, 0, 1, 1, 2, 2], [0, 0, 0, 1, 0, 1, 0, 1], [0, 1, 0, 0, 1, 1, 0, 1], DuplicatePolicy.KeepAll),
        "few tasks" => Profile(2, [0, 1], [1, 0], [0, 0], [1, 1], [0, 1], [1, 1]),
        "empty" => LabelMatrix.FromTriples(3, 4, 2, [], [], []),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(DegenerateCases))]
    public void Degenerate_inputs_give_finite_payments(string mechanism, string profile)
    {
        var m = Degenerate(profile);
        var r = Make(mechanism).WithSeed(9).Pay(m);
        AssertValid(r, m);
        Assert.True(double.IsFinite(r.MeanPayment));
        if (profile is "one agent" or "one agent one task" or "empty") Assert.Equal(m.WorkerCount, r.UnscoredCount);
        if (profile == "one class") foreach (var p in r.Payments) Assert.Equal(0.0, p);
        if (profile == "idle agents") { Assert.False(r.IsScored(1)); Assert.False(r.IsScored(3)); }
        if (mechanism == "rmif-ds" && profile is "two agents" or "one task") Assert.Equal(m.WorkerCount, r.UnscoredCount);
    }

    [Fact]
    public void Subsampling_pays_only_the_chosen_agents()
    {
        // 40 agents, 30 tasks: K_b = ⌊30/39⌋ = 0, so nobody can be paid; subsampling 6 agents gives K_b = 6.
        var m = Simulate(40, 30, 2, PeerStrategy.Truthful, accuracy: 0.9, seed: 13).Reports;
        var full = new RobustSymmetricMechanism().WithSeed(7).Pay(m);
        Assert.Equal(40, full.UnscoredCount);
        var sub = new RobustSymmetricMechanism(new RobustSymmetricOptions { SubsampleAgents = 6 }).WithSeed(7).Pay(m);
        AssertValid(sub, m);
        Assert.Equal(34, sub.UnscoredCount);
        for (int i = 0; i < 40; i++)
            if (sub.IsScored(i)) { Assert.Equal(30, sub.TasksScored[i]); Assert.Equal(6.0, sub.Breakdown["capacity"][i]); }
        Assert.True(sub.MeanPayment > 0.1, $"mean {sub.MeanPayment}");
    }

    [Theory]
    [InlineData("rmif-symmetric")]
    [InlineData("rmif-ds")]
    [InlineData("tvdmi")]
    public void Ten_percent_independent_random_agents(string mechanism)
    {
        // PeerReportSimulator per-agent strategies: 6 of 60 agents report a class drawn from the prior, each on its
        // own (uncoordinated uninformed agents). Signals are shared with the all-truthful profile (same seed).
        var strategies = new PeerStrategy[60];
        for (int i = 0; i < 6; i++) strategies[i * 10] = PeerStrategy.RandomByPrior;
        PeerReportProfile Gen(PeerStrategy[]? s) => new PeerReportSimulator().Generate(new PeerReportScenario
        {
            Agents = 60, Tasks = 3000, Classes = 2, Accuracy = 0.8, Seed = 21, AgentStrategies = s,
        });
        var clean = Gen(null).Reports;
        var attacked = Gen(strategies).Reports;
        bool Honest(int i) => strategies[i] == PeerStrategy.Truthful;
        double before = MeanOver(Make(mechanism).WithSeed(8).Pay(clean), Honest);
        var r = Make(mechanism).WithSeed(8).Pay(attacked);
        AssertValid(r, attacked);
        double after = MeanOver(r, Honest);
        double gap = after - before;
        output.WriteLine($"{mechanism} vs 10% random-by-prior: honest mean {before:F4} → {after:F4} (gap {gap:+0.0000;-0.0000}, {gap / before:P1})");
        // Measured: tvdmi −14.2%, rmif-symmetric −7.8%, rmif-ds −0.4%. A random agent's batch (K_b = 50 pairs) has the
        // product joint, like the Pattern adversary's, and Mechanism 2 only partly filters it at this batch size
        // (residual O(β/√K_b), see above); Mechanism 3's label MLE is barely moved by 2 random agents per group.
        if (mechanism == "tvdmi") Assert.True(gap < -0.05 * before);
        else Assert.True(Math.Abs(gap) < (mechanism == "rmif-ds" ? 0.03 : 0.1) * before, $"moved by {gap / before:P1}");
    }

    [Theory]
    [MemberData(nameof(Robust))]
    public void A_deviating_agent_earns_less_than_a_truthful_one(string mechanism)
    {
        // Informed truthfulness, empirically: among truthful peers, an agent who reports a constant or a prior draw
        // earns ≈ 0, a truthful one ≈ the population value.
        var strategies = new PeerStrategy[30];
        strategies[0] = PeerStrategy.Constant;
        strategies[1] = PeerStrategy.RandomByPrior;
        var m = new PeerReportSimulator().Generate(new PeerReportScenario
        {
            Agents = 30, Tasks = 1500, Classes = 3, Accuracy = 0.7, Seed = 22, AgentStrategies = strategies,
        }).Reports;
        var r = Make(mechanism).WithSeed(9).Pay(m);
        AssertValid(r, m);
        double truthful = MeanOver(r, i => i >= 2);
        output.WriteLine($"{mechanism}: constant {r.Payments[0]:F4}, random {r.Payments[1]:F4}, truthful mean {truthful:F4}");
        Assert.Equal(0.0, r.Payments[0], 12);
        Assert.True(r.Payments[1] < 0.3 * truthful);
        Assert.True(truthful > 0.1);
    }

    [Fact]
    public void Mechanism3_with_agent_tuple_batches_pays_truthful_agents()
    {
        // The paper's Algorithm 4 batching (one batch per agent pair / triple) on a small dense profile.
        var m = Simulate(12, 400, 2, PeerStrategy.Truthful, accuracy: 0.8, seed: 23).Reports;
        var mech = new RobustDawidSkeneMechanism(new RobustDawidSkeneMechanismOptions
        {
            Model = new Tally.Robust.RobustDawidSkeneOptions { Batching = Tally.Robust.MomentBatching.AgentTuple },
        });
        var r = mech.WithSeed(10).Pay(m);
        AssertValid(r, m);
        output.WriteLine($"rmif-ds (agent tuples): mean {r.MeanPayment:F4}");
        Assert.Equal(0, r.UnscoredCount);
        Assert.InRange(r.MeanPayment, 0.2, 0.35);
    }
}
