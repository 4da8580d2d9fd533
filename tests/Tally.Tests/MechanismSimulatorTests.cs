using Tally.Mechanisms;
using Tally.Simulation;
using static Tally.Tests.MechanismTestData;

namespace Tally.Tests;

/// <summary>The peer report simulator used by the mechanism tests.</summary>
public class MechanismSimulatorTests
{
    [Fact]
    public void Simulator_is_seeded()
    {
        var a = Simulate(10, 50, 3, PeerStrategy.RandomByPrior, seed: 4, fraction: 0.5);
        var b = Simulate(10, 50, 3, PeerStrategy.RandomByPrior, seed: 4, fraction: 0.5);
        Assert.Equal(a.Reports.TaskLabels.ToArray(), b.Reports.TaskLabels.ToArray());
        Assert.Equal(a.Reports.TaskWorkers.ToArray(), b.Reports.TaskWorkers.ToArray());
        Assert.Equal(a.Truth.Labels.ToArray(), b.Truth.Labels.ToArray());
    }

    [Fact]
    public void Signals_follow_the_confusion_matrix_and_fraction()
    {
        // 100 × 2000 cells, 60% reported: ≈ 120 000 signals; the share correct has sd √(.21/1.2e5) ≈ 0.0013.
        var p = Simulate(100, 2000, 3, PeerStrategy.Truthful, accuracy: 0.7, seed: 5, fraction: 0.6);
        var s = p.Signals;
        Assert.InRange(s.AnswerCount / (100.0 * 2000), 0.59, 0.61);
        int right = 0;
        for (int t = 0; t < s.TaskCount; t++)
            foreach (var l in s.LabelsOf(t)) if (l == p.Truth[t]) right++;
        Assert.InRange((double)right / s.AnswerCount, 0.69, 0.71);
        Assert.Equal(s.TaskLabels.ToArray(), p.Reports.TaskLabels.ToArray());
    }

    [Fact]
    public void Strategies_map_signals_to_reports()
    {
        var truthful = Simulate(8, 100, 3, PeerStrategy.Truthful, seed: 6);
        var permuted = Simulate(8, 100, 3, PeerStrategy.Permutation, seed: 6);
        var constant = new PeerReportSimulator().Generate(new PeerReportScenario
        {
            Agents = 8, Tasks = 100, Classes = 3, Strategy = PeerStrategy.Constant, ConstantClass = 2, Seed = 6,
        });
        // Same seed → same signals; permutation (default c ↦ c + 1 mod K) is the truthful profile relabelled.
        Assert.Equal(truthful.Signals.TaskLabels.ToArray(), permuted.Signals.TaskLabels.ToArray());
        Assert.Equal(Relabel(truthful.Reports, [1, 2, 0]).TaskLabels.ToArray(), permuted.Reports.TaskLabels.ToArray());
        Assert.All(constant.Reports.TaskLabels.ToArray(), l => Assert.Equal(2, l));
        Assert.All(constant.Strategies, st => Assert.Equal(PeerStrategy.Constant, st));
        // So a mechanism pays the all-permuted population exactly what it pays the truthful one.
        var a = new CorrelatedAgreement().WithSeed(1).Pay(truthful.Reports);
        var b = new CorrelatedAgreement().WithSeed(1).Pay(permuted.Reports);
        Assert.Equal(a.Payments.ToArray(), b.Payments.ToArray());
    }

    [Fact]
    public void Random_by_prior_reports_follow_the_signal_marginal()
    {
        // Prior (0.6, 0.4), accuracy 0.9: P(report 0) = 0.6·0.9 + 0.4·0.1 = 0.58, independent of the truth.
        var p = new PeerReportSimulator().Generate(new PeerReportScenario
        {
            Agents = 50, Tasks = 1000, Classes = 2, Prior = [0.6, 0.4], Accuracy = 0.9, Strategy = PeerStrategy.RandomByPrior, Seed = 7,
        });
        int zeros = 0, agreeTruth = 0;
        var r = p.Reports;
        for (int t = 0; t < r.TaskCount; t++)
            foreach (var l in r.LabelsOf(t)) { if (l == 0) zeros++; if (l == p.Truth[t]) agreeTruth++; }
        // 50 000 reports: sd ≈ 0.0022, but the 1000 task truths add prior noise (sd 0.0155·0.8 on the second share).
        Assert.InRange(zeros / (double)r.AnswerCount, 0.57, 0.59);
        // Independent of the truth: P(report = truth) = 0.58·0.6 + 0.42·0.4 ≈ 0.516 (vs 0.9 if informed).
        Assert.InRange(agreeTruth / (double)r.AnswerCount, 0.47, 0.56);
    }

    [Fact]
    public void Invalid_scenarios_are_rejected()
    {
        var sim = new PeerReportSimulator();
        Assert.ThrowsAny<TallyUserException>(() => sim.Generate(new PeerReportScenario { Agents = 0 }));
        Assert.ThrowsAny<TallyUserException>(() => sim.Generate(new PeerReportScenario { Classes = 2, Prior = [1, 1, 1] }));
        Assert.ThrowsAny<TallyUserException>(() => sim.Generate(new PeerReportScenario { Classes = 2, Permutation = [0, 0] }));
        Assert.ThrowsAny<TallyUserException>(() => sim.Generate(new PeerReportScenario { Classes = 2, Confusion = [0.5, 0.4, 0, 1] }));
        Assert.ThrowsAny<TallyUserException>(() => sim.Generate(new PeerReportScenario { ReportFraction = 0 }));
    }
}
