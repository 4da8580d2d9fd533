using Tally.Mechanisms;
using Tally.Simulation;
using Xunit.Abstractions;
using static Tally.Tests.MechanismTestData;

namespace Tally.Tests;

/// <summary>
/// Incentive properties on simulated symmetric Dawid-Skene crowds: uninformed profiles earn ≈ 0, truthful agents earn
/// the analytic expectation, payments do not depend on class names.
/// </summary>
public class MechanismPropertyTests(ITestOutputHelper output)
{
    // Dense profiles: N agents each reporting on all M tasks.
    private const int N = 40, M = 400;
    private static readonly double[] Skewed = [0.5, 0.3, 0.2];

    [Theory]
    [InlineData("ca", 2)]
    [InlineData("ca", 3)]
    [InlineData("dmi", 2)]
    [InlineData("dmi", 3)]
    [InlineData("tvdmi", 2)]
    [InlineData("tvdmi", 3)]
    [InlineData("dg", 3)]
    public void Constant_reports_pay_exactly_zero(string mechanism, int k)
    {
        // CA: Δ ≡ 0 so S ≡ 0; DMI: rank-one count matrices, det 0; TVD-MI: the joint is its own product;
        // DG: bonus 1 − penalty 1.
        var m = Simulate(N, M, k, PeerStrategy.Constant, seed: 11).Reports;
        var r = Create(mechanism).WithSeed(1).Pay(m);
        AssertValid(r, m);
        Assert.Equal(0, r.UnscoredCount);
        Assert.All(r.Payments, p => Assert.Equal(0.0, p));
    }

    [Fact]
    public void Random_reports_pay_about_zero_under_correlated_agreement()
    {
        // Each of the N·M bonus-task terms lies in [−1, 1] (variance ≤ 1) and has mean 0 when reports ignore the
        // task; a term is correlated with at most the one of the peer that drew it back, so the sd of the mean is
        // ≤ √(2/(N·M)) ≈ 0.011; tolerance 4 sd ≈ 0.045 (the truthful level below is 0.18).
        foreach (int k in new[] { 2, 3 })
        {
            var m = Simulate(N, M, k, PeerStrategy.RandomByPrior, prior: k == 3 ? Skewed : null, seed: 21 + k).Reports;
            var r = new CorrelatedAgreement().WithSeed(2).Pay(m);
            AssertValid(r, m);
            double tol = 4 * Math.Sqrt(2.0 / (N * M));
            output.WriteLine($"CA random-by-prior K={k}: mean {r.MeanPayment:F5} (tolerance ±{tol:F4})");
            Assert.InRange(r.MeanPayment, -tol, tol);
        }
    }

    [Fact]
    public void Random_reports_pay_about_zero_under_dmi()
    {
        // With independent uniform binary reports a half of n tasks estimates det U = 0 with variance ≈ 1/(16n)
        // (the U-statistic's first-order projection has variance 1/64), so a pair's product of two independent halves
        // has sd ≈ 1/(16·n) with n = M/2 = 200: 3.1e-4. The mean over all N(N−1)/2 pairs is far tighter; the tolerance
        // 4·sd/√N ≈ 2e-4 only credits N independent pieces. Truthful agents earn det(U)² = 0.0081 here.
        var m = Simulate(N, M, 2, PeerStrategy.RandomByPrior, seed: 31).Reports;
        var r = new Dmi().WithSeed(3).Pay(m);
        AssertValid(r, m);
        double sdPair = 1.0 / (16 * (M / 2.0));
        double tol = 4 * sdPair / Math.Sqrt(N);
        output.WriteLine($"DMI random-by-prior K=2: mean {r.MeanPayment:E3} (tolerance ±{tol:E2}), agent payments {Min(r):E2}..{Max(r):E2}");
        Assert.InRange(r.MeanPayment, -tol, tol);

        // K = 3, skewed prior: same unbiasedness; tolerance from the observed spread of agent payments (each a mean of
        // N − 1 pair values; the mean over agents averages N of them), doubled for the pairs they share.
        var m3 = Simulate(N, M, 3, PeerStrategy.RandomByPrior, prior: Skewed, seed: 32).Reports;
        var r3 = new Dmi().WithSeed(3).Pay(m3);
        double tol3 = 2 * 4 * Sd(r3) / Math.Sqrt(N);
        output.WriteLine($"DMI random-by-prior K=3: mean {r3.MeanPayment:E3} (tolerance ±{tol3:E2}); truthful level {Square(Det3(Joint(3, 0.7, Skewed).Joint)):E3}");
        Assert.InRange(r3.MeanPayment, -tol3, tol3);
    }

    [Fact]
    public void Random_reports_pay_only_the_tvd_estimators_bias()
    {
        // Eq. (7) is a plug-in estimate of a non-negative quantity, so uninformed reports earn its bias, not 0:
        // for independent uniform binary reports ≈ 2·E|N(0, 1/(16M))| = 0.399/√M = 0.020 at M = 400; in general
        // ≤ K/(2√M). The truthful level (0.18 here) is 9× higher.
        foreach (int k in new[] { 2, 3 })
        {
            var m = Simulate(N, M, k, PeerStrategy.RandomByPrior, prior: k == 3 ? Skewed : null, seed: 41 + k).Reports;
            var r = new TvdMutualInformation().WithSeed(4).Pay(m);
            AssertValid(r, m);
            double bound = k / (2 * Math.Sqrt(M));
            output.WriteLine($"TVD-MI random-by-prior K={k}: mean {r.MeanPayment:F4} (bound {bound:F4}; 0.399/√M = {0.399 / Math.Sqrt(M):F4})");
            Assert.InRange(r.MeanPayment, 0, bound);
            if (k == 2) Assert.InRange(r.MeanPayment, 0.6 * 0.399 / Math.Sqrt(M), 1.4 * 0.399 / Math.Sqrt(M));
        }
    }

    public static IEnumerable<object[]> TruthfulCases()
    {
        foreach (var mech in new[] { "ca", "dmi", "tvdmi", "rptsc", "dg", "oa" })
        {
            yield return [mech, 2];
            yield return [mech, 3];
        }
    }

    [Theory]
    [MemberData(nameof(TruthfulCases))]
    public void Truthful_agents_earn_the_expected_positive_payment(string mechanism, int k)
    {
        // K = 2: uniform prior, accuracy 0.8; K = 3: prior (0.5, 0.3, 0.2), accuracy 0.7. U = Γᵀ diag(w) Γ is the joint
        // of two truthful agents' reports, P its marginal, Δ = U − P Pᵀ.
        double acc = k == 2 ? 0.8 : 0.7;
        var prior = k == 2 ? null : Skewed;
        var (u, p) = Joint(k, acc, prior);
        double diag = 0, sumP2 = 0, posDelta = 0, absDelta = 0, ptsc = 0;
        const int sample = 50;
        for (int x = 0; x < k; x++)
        {
            diag += u[x * k + x];
            sumP2 += p[x] * p[x];
            // E[(S + 1)/(b + 1)] for b ~ Binomial(S, P(x)) is (1 − (1 − P(x))^(S+1))/P(x).
            ptsc += u[x * k + x] * (1 - Math.Pow(1 - p[x], sample + 1)) / p[x];
            for (int y = 0; y < k; y++)
            {
                double d = u[x * k + y] - p[x] * p[y];
                if (d > 0) posDelta += d;
                absDelta += Math.Abs(d);
            }
        }
        double det = k == 2 ? u[0] * u[3] - u[1] * u[2] : Det3(u);
        double expected = mechanism switch
        {
            "ca" => posDelta,               // E[S(bonus)] − E[S(penalty)] = Σ S·U − Σ S·PPᵀ with S = 1[Δ > 0]
            "dmi" => det * det,             // unbiased estimate of det(U)²
            "tvdmi" => absDelta / 2,        // plus an O(1/M) bias
            "rptsc" => ptsc - 1,
            "dg" => diag - sumP2,           // agreement on a shared task minus agreement on unrelated tasks
            "oa" => diag,
            _ => throw new ArgumentException(mechanism),
        };
        var m = Simulate(N, M, k, PeerStrategy.Truthful, accuracy: acc, prior: prior, seed: 50 + k).Reports;
        var r = Create(mechanism).WithSeed(5).Pay(m);
        AssertValid(r, m);
        Assert.Equal(0, r.UnscoredCount);
        // Tolerance: 5 standard errors of the mean of agent payments, doubled because agents share peers, plus 2% of
        // the expectation for the finite-sample biases (CA's learned S, TVD-MI's plug-in estimate).
        double tol = 2 * 5 * Sd(r) / Math.Sqrt(N) + 0.02 * expected;
        output.WriteLine($"{mechanism} truthful K={k}: mean {r.MeanPayment:G4}, expected {expected:G4} (±{tol:G3}), agents {Min(r):G4}..{Max(r):G4}");
        Assert.True(expected > 0);
        Assert.InRange(r.MeanPayment, expected - tol, expected + tol);
        Assert.True(Min(r) > 0, $"{mechanism}: some truthful agent earned {Min(r)}");
    }

    [Theory]
    [InlineData("ca")]
    [InlineData("dmi")]
    [InlineData("tvdmi")]
    [InlineData("dg")]
    public void Uninformed_deviators_earn_less_than_truthful_agents(string mechanism)
    {
        // Agent 0 reports a constant, agent 1 random by the prior, the rest are truthful.
        var strategies = Enumerable.Repeat(PeerStrategy.Truthful, N).ToArray();
        strategies[0] = PeerStrategy.Constant;
        strategies[1] = PeerStrategy.RandomByPrior;
        var m = new PeerReportSimulator().Generate(new PeerReportScenario
        {
            Agents = N, Tasks = M, Classes = 3, Accuracy = 0.7, Prior = Skewed, AgentStrategies = strategies, Seed = 61,
        }).Reports;
        var r = Create(mechanism).WithSeed(6).Pay(m);
        AssertValid(r, m);
        // Compared with the truthful agents' mean, not their minimum: under TVD-MI a truthful agent whose single
        // random peer is the constant agent earns exactly 0 (the naive mechanism's Θ(α) error in the paper).
        double truthfulMean = r.Payments.Skip(2).Average(), truthfulMin = r.Payments.Skip(2).Min();
        output.WriteLine($"{mechanism}: constant {r.Payments[0]:G4}, random {r.Payments[1]:G4}, truthful mean {truthfulMean:G4} (min {truthfulMin:G4})");
        Assert.True(r.Payments[0] < truthfulMean / 2 && r.Payments[1] < truthfulMean / 2);
    }

    [Theory]
    [MemberData(nameof(All), MemberType = typeof(MechanismTestData))]
    public void Payments_do_not_depend_on_class_names(string mechanism)
    {
        // A mixed sparse population (truthful, constant, random, permuted agents, 70% of tasks each), K = 3.
        var strategies = new PeerStrategy[30];
        for (int i = 0; i < strategies.Length; i++) strategies[i] = (PeerStrategy)(i % 4);
        var m = new PeerReportSimulator().Generate(new PeerReportScenario
        {
            Agents = 30, Tasks = 120, Classes = 3, Accuracy = 0.7, Prior = Skewed, AgentStrategies = strategies,
            ReportFraction = 0.7, Seed = 71,
        }).Reports;
        var relabelled = Relabel(m, [2, 0, 1]);
        var a = Create(mechanism).WithSeed(7).Pay(m);
        var b = Create(mechanism).WithSeed(7).Pay(relabelled);
        AssertValid(a, m);
        Assert.Equal(a.TasksScored.ToArray(), b.TasksScored.ToArray());
        // Exact for every mechanism but DMI with K ≥ 3, whose determinant is a floating-point elimination.
        for (int i = 0; i < a.Payments.Length; i++)
            Assert.True(Math.Abs(a.Payments[i] - b.Payments[i]) <= 1e-12 * Math.Max(1, a.Range.Width),
                $"{mechanism}: agent {i} earns {a.Payments[i]} vs {b.Payments[i]} after relabelling");
    }

    private static double Min(PaymentResult r) => r.Payments.Where((_, i) => r.IsScored(i)).Min();
    private static double Max(PaymentResult r) => r.Payments.Where((_, i) => r.IsScored(i)).Max();
    private static double Square(double x) => x * x;

    private static double Sd(PaymentResult r)
    {
        var p = r.Payments.Where((_, i) => r.IsScored(i)).ToArray();
        double mean = p.Average();
        return Math.Sqrt(p.Sum(x => (x - mean) * (x - mean)) / Math.Max(1, p.Length - 1));
    }

    private static double Det3(double[] u) =>
        u[0] * (u[4] * u[8] - u[5] * u[7]) - u[1] * (u[3] * u[8] - u[5] * u[6]) + u[2] * (u[3] * u[7] - u[4] * u[6]);
}
