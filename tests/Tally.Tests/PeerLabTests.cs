using Tally.Catalogs;
using Tally.Core;
using Tally.Mechanisms;
using Tally.Simulation;

namespace Tally.Tests;

/// <summary>The peer-prediction mechanism lab: signal priors, edX joints, strategies and the incentive runner.</summary>
public class PeerLabTests
{
    private static IPeerPredictionMechanism Mech(string name) => MechanismCatalog.Find(name)!.Create();

    [Fact]
    public void PeerLab_edx_loader_counts_and_sizes()
    {
        var priors = EdxPriors.LoadBundled();
        Assert.Equal(1944, priors.Count);
        var sizes = priors.GroupBy(p => p.Classes).ToDictionary(g => g.Key, g => g.Count());
        var expected = new Dictionary<int, int> { [2] = 370, [3] = 985, [4] = 448, [5] = 90, [6] = 47, [7] = 1, [11] = 2, [21] = 1 };
        Assert.Equal(expected.OrderBy(kv => kv.Key), sizes.OrderBy(kv => kv.Key));
        Assert.Equal(0, priors[0].Index);
        Assert.Equal("0/0/0", priors[0].Name);
        Assert.Equal(1943, priors[^1].Index);
        foreach (var p in priors) Assert.Equal(p.Classes * p.Classes, p.Joint.Length);
    }

    [Fact]
    public void PeerLab_edx_loader_names_the_bad_entry()
    {
        const string good = "[[1, 2, 3], [[0.5, 0.0], [0.0, 0.5]]]";
        var ok = EdxPriors.Parse($"[{good}]");
        Assert.Single(ok);
        Assert.Equal("1/2/3", ok[0].Name);

        var asym = Assert.Throws<TallyDataException>(() => EdxPriors.Parse($"[{good}, [[4, 5, 6], [[0.4, 0.2], [0.1, 0.3]]]]"));
        Assert.Contains("entry 1 (4/5/6)", asym.Message);
        Assert.Contains("not symmetric", asym.Message);

        var sum = Assert.Throws<TallyDataException>(() => EdxPriors.Parse("[[[0, 0, 0], [[0.5, 0.1], [0.1, 0.5]]]]"));
        Assert.Contains("entry 0", sum.Message);
        Assert.Contains("sum to 1.2", sum.Message);

        var neg = Assert.Throws<TallyDataException>(() => EdxPriors.Parse("[[[0, 0, 0], [[1.2, -0.1], [-0.1, 0.0]]]]"));
        Assert.Contains("negative", neg.Message);

        var shape = Assert.Throws<TallyDataException>(() => EdxPriors.Parse("[[[0, 0, 0], [[1.0, 0.0], [0.0]]]]"));
        Assert.Contains("square", shape.Message);
        Assert.Throws<TallyDataException>(() => EdxPriors.Parse("{"));
    }

    /// <summary>A planted mixture J = Σ π_l q_l q_lᵀ (K = 3, L = 2).</summary>
    private static (double[] Pi, double[] Q, double[] J) Planted()
    {
        double[] pi = [0.3, 0.7];
        double[] q = [0.7, 0.2, 0.1, 0.1, 0.3, 0.6];
        var j = new double[9];
        for (int l = 0; l < 2; l++)
            for (int x = 0; x < 3; x++)
                for (int y = 0; y < 3; y++) j[x * 3 + y] += pi[l] * q[l * 3 + x] * q[l * 3 + y];
        return (pi, q, j);
    }

    [Fact]
    public void PeerLab_joint_construction_reproduces_a_planted_mixture()
    {
        var (pi, q, j) = Planted();
        var exact = LatentClassPrior.FromMixture(pi, q, 3);
        for (int i = 0; i < 9; i++) Assert.Equal(j[i], exact.PairJoint[i], 12);

        var fitted = LatentClassPrior.FromJoint(j, 3, "planted", 2000, out double referenceTv);
        // The plain reference-signal construction J diag(p)⁻¹ J is measurably off; the EM fit is not.
        Assert.True(referenceTv > 0.01, $"reference TV {referenceTv}");
        Assert.True(fitted.PairwiseTvError < 1e-3, $"fitted TV {fitted.PairwiseTvError}");

        // Sampling: 20 000 tasks × 4 agents; every pair of agents must follow J. Each cell's frequency over 20 000
        // tasks has sd ≤ √(J(1 − J)/20 000) ≤ 0.0035; 5 sd (plus the fit error) bounds all 6 × 9 cells comfortably.
        const int tasks = 20_000, n = 4;
        var rng = new Random(11);
        var counts = new double[6, 9];
        Span<int> s = stackalloc int[n];
        for (int t = 0; t < tasks; t++)
        {
            fitted.DrawTask(rng, s);
            int pair = 0;
            for (int a = 0; a < n; a++)
                for (int b = a + 1; b < n; b++, pair++) counts[pair, s[a] * 3 + s[b]]++;
        }
        for (int pair = 0; pair < 6; pair++)
            for (int c = 0; c < 9; c++)
            {
                double f = counts[pair, c] / tasks;
                double sd = Math.Sqrt(j[c] * (1 - j[c]) / tasks);
                Assert.True(Math.Abs(f - j[c]) < 5 * sd + 1e-3, $"pair {pair} cell {c}: {f} vs {j[c]}");
            }
    }

    [Fact]
    public void PeerLab_anti_agreement_joint_is_reported_as_not_reproducible()
    {
        // Peers who mostly disagree: J is not positive semi-definite, so no model with agents conditionally
        // independent given a latent class can reproduce it; the residual must be reported, not hidden.
        double[] j = [0.1, 0.4, 0.4, 0.1];
        var prior = LatentClassPrior.FromJoint(j, 2, "anti", 2000, out double referenceTv);
        Assert.True(prior.PairwiseTvError > 0.1, $"TV {prior.PairwiseTvError}");
        Assert.True(prior.PairwiseTvError <= referenceTv + 1e-9);
        Assert.Equal(1, prior.PairJoint.Sum(), 12);
        Assert.Equal(0.5, prior.Marginal[0], 9);
    }

    [Fact]
    public void PeerLab_flip_adversaries_do_not_change_dmi()
    {
        // DMI pays det(M1)·det(M2); a peer relabelling its reports permutes both matrices' columns alike, so the
        // product, and hence agent 0's payment, is unchanged (the same seed gives the same signals and splits).
        var baseScenario = new PeerLabScenario
        {
            Prior = LatentClassPrior.SymmetricDawidSkene(3, 0.7), Agents = 6, Tasks = 60, Seeds = 4, Seed = 2,
            Deviations = [ReportStrategy.Constant(0)],
        };
        var clean = PeerLab.Run([Mech("dmi")], baseScenario).Mechanisms[0];
        var flipped = PeerLab.Run([Mech("dmi")], baseScenario with { AdversaryFraction = 0.5, Adversary = AdversaryStrategy.Flip }).Mechanisms[0];
        Assert.True(clean.Truthful.Mean > 0);
        Assert.Equal(clean.Truthful.Mean, flipped.Truthful.Mean, 1e-9 * clean.Truthful.Mean);
    }

    [Fact]
    public void PeerLab_ca_truthful_beats_constant_and_random_on_dawid_skene()
    {
        var prior = LatentClassPrior.SymmetricDawidSkene(3, 0.7);
        var scenario = new PeerLabScenario
        {
            Prior = prior, Agents = 8, Tasks = 100, Seeds = 20, Seed = 3,
            Deviations = [ReportStrategy.Constant(0), ReportStrategy.Constant(1), ReportStrategy.Constant(2), ReportStrategy.RandomByPrior],
        };
        var r = PeerLab.Run([Mech("ca")], scenario).Mechanisms[0];
        Assert.True(r.Truthful.Low > 0.1, $"truthful {r.Truthful}");
        foreach (var d in r.Deviations) Assert.True(d.Gain.High < 0, $"{d.Strategy.Name}: gain {d.Gain}");
        Assert.True(r.TruthfulIsBestResponse);
        Assert.Equal(0, r.Epsilon);
        Assert.True(r.Gap > 0.1, $"gap {r.Gap}");
    }

    [Fact]
    public void PeerLab_uninformed_profiles_pay_about_zero_for_ca_and_dmi()
    {
        var scenario = new PeerLabScenario
        {
            Prior = LatentClassPrior.SymmetricDawidSkene(2, 0.8, [0.6, 0.4]), Agents = 6, Tasks = 60, Seeds = 48, Seed = 5,
            Deviations = [ReportStrategy.Constant(0)],
        };
        var result = PeerLab.Run([Mech("ca"), Mech("dmi")], scenario);
        foreach (var r in result.Mechanisms)
        {
            // Constant reports: CA's Δ is 0 (S = 0) and DMI's count matrices are singular, so exactly 0.
            Assert.Equal(0, r.UninformedConstant.Mean);
            Assert.True(r.Truthful.Mean > r.UninformedRandom.Mean);
        }
        // Random-by-prior, DMI: an unbiased estimate of det(U)² = 0; allow the interval plus a small slack.
        var dmi = result.Mechanisms.Single(m => m.Mechanism == "dmi");
        Assert.True(Math.Abs(dmi.UninformedRandom.Mean) <= 4 * dmi.UninformedRandom.StdError + 1e-3, $"dmi: random {dmi.UninformedRandom}");
        // CA: detail-free, its score matrix sign(Δ̂) is estimated from the same reports it scores, so the bonus pair
        // helped pick S and random reports earn a small positive amount: here +0.025 ± 0.005 over 48 seeds against a
        // truthful 0.149 (a 12-seed run once read +0.047 ± 0.009; an older test that asserted ≈ 0 passed only on its
        // seeds' luck). Zero is not the expectation; what holds is a small bias far below the truthful payment.
        var ca = result.Mechanisms.Single(m => m.Mechanism == "ca");
        Assert.True(ca.UninformedRandom.Mean > -4 * ca.UninformedRandom.StdError, $"ca: random {ca.UninformedRandom}");
        Assert.True(ca.UninformedRandom.Mean < 0.25 * ca.Truthful.Mean, $"ca: random {ca.UninformedRandom} vs truthful {ca.Truthful}");
    }

    [Fact]
    public void PeerLab_is_deterministic_per_seed()
    {
        var scenario = new PeerLabScenario
        {
            Prior = LatentClassPrior.SymmetricDawidSkene(3, 0.6), Agents = 6, Tasks = 40, Seeds = 6, Seed = 9,
            AdversaryFraction = 0.34, Adversary = AdversaryStrategy.Pattern,
        };
        IPeerPredictionMechanism[] mechs = [Mech("ca"), Mech("rptsc"), Mech("tvd-mi")];
        static double[] Flatten(PeerLabResult r) => r.Mechanisms.SelectMany(m =>
            new[] { m.Truthful.Mean, m.Truthful.StdError, m.HonestMean.Mean, m.UninformedConstant.Mean, m.UninformedRandom.Mean }
                .Concat(m.Deviations.Select(d => d.Payment.Mean)).Concat(m.Deviations.Select(d => d.Gain.StdError))).ToArray();
        var a = Flatten(PeerLab.Run(mechs, scenario, new ComputeOptions { MaxDegreeOfParallelism = 4 }));
        var b = Flatten(PeerLab.Run(mechs, scenario, ComputeOptions.Sequential));
        Assert.Equal(a, b);
        Assert.All(a, v => Assert.True(double.IsFinite(v)));
        Assert.Equal(2, scenario.AdversaryCount);
        var c = Flatten(PeerLab.Run(mechs, scenario with { Seed = 10 }));
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void PeerLab_sweeps_and_tables_do_not_depend_on_the_thread_count()
    {
        var four = new ComputeOptions { MaxDegreeOfParallelism = 4 };
        var scenario = new PeerLabScenario { Prior = LatentClassPrior.SymmetricDawidSkene(2, 0.8), Agents = 9, Tasks = 50, Seeds = 4, Seed = 1, AdversaryFraction = 0.2 };
        IPeerPredictionMechanism[] mechs = [Mech("tvd-mi"), Mech("rmif-ds")];
        var a = PaymentGapSweep.Run(mechs, scenario, GapAxis.AdversaryFraction, [0, 0.2], compute: ComputeOptions.Sequential);
        var b = PaymentGapSweep.Run(mechs, scenario, GapAxis.AdversaryFraction, [0, 0.2], compute: four);
        Assert.Equal(a, b);
        var priors = EdxPriors.LoadBundled();
        var options = new EdxTableOptions { MaxPriors = 3, Seeds = 2, Agents = 5, Tasks = 30 };
        var t1 = EdxTruthfulnessTable.Run(priors, options, ComputeOptions.Sequential);
        var t4 = EdxTruthfulnessTable.Run(priors, options, four);
        foreach (var name in t1.Mechanisms)
        {
            Assert.Equal(t1.FractionTruthfulBest[name], t4.FractionTruthfulBest[name]);
            Assert.Equal(t1.MeanEpsilon[name], t4.MeanEpsilon[name]);
        }
        for (int i = 0; i < t1.Rows.Length; i++)
            Assert.Equal(t1.Rows[i].Results.Select(r => r.Truthful.Mean), t4.Rows[i].Results.Select(r => r.Truthful.Mean));
    }

    [Fact]
    public void PeerLab_strategies_report_as_documented()
    {
        int[] signals = [2, 1, 1, 0, 1];
        double[] marginal = [0.2, 0.3, 0.5];
        var ctx = new StrategyContext(signals, 0, marginal);
        Assert.Equal(2, ReportStrategy.Truthful.Report(ctx, 0.5, 0.5));
        Assert.Equal(1, ReportStrategy.Constant(1).Report(ctx, 0.5, 0.5));
        Assert.Equal(0, ReportStrategy.Permutation(1, 2, 0).Report(ctx, 0.5, 0.5));
        Assert.Equal(1, ReportStrategy.AlwaysMajority.Report(ctx, 0.5, 0.5));
        Assert.Equal(0, ReportStrategy.RandomByPrior.Report(ctx, 0.5, 0.1));
        Assert.Equal(2, ReportStrategy.RandomByPrior.Report(ctx, 0.5, 0.9));
        var mix = ReportStrategy.Mixture(0.3, ReportStrategy.Constant(0));
        Assert.Equal(2, mix.Report(ctx, 0.2, 0.5));
        Assert.Equal(0, mix.Report(ctx, 0.4, 0.5));
        Assert.True(ReportStrategy.AlwaysMajority.UsesPeerSignals);
        Assert.False(ReportStrategy.Truthful.UsesPeerSignals);
        Assert.Equal(2 * 4 + 4, ReportStrategy.DefaultDeviations(4).Length);
        Assert.Equal(2 + 4, ReportStrategy.DefaultDeviations(2).Length);
        Assert.Equal(ReportStrategy.Permutation(1, 0), ReportStrategy.Permutation(1, 0));
        Assert.ThrowsAny<TallyUserException>(() => ReportStrategy.Permutation(0, 0).Validate(2));
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void PeerLab_edx_table_runs_on_five_priors()
    {
        var priors = EdxPriors.LoadBundled();
        var table = EdxTruthfulnessTable.Run(priors, new EdxTableOptions { MaxPriors = 5, Seeds = 3, Agents = 5, Tasks = 30 });
        Assert.Equal(5, table.Rows.Length);
        Assert.Equal(4, table.FractionTruthfulBest.Count);
        Assert.Equal(["ca", "dmi", "tvdmi", "rptsc"], table.Mechanisms.ToArray());   // the options' order
        foreach (var (name, f) in table.FractionTruthfulBest)
        {
            Assert.InRange(f, 0, 1);
            Assert.InRange(table.FractionTruthfulBestSignalOnly[name], f, 1);
            Assert.True(double.IsFinite(table.MeanEpsilon[name]) && table.MeanEpsilon[name] >= 0);
        }
        foreach (var row in table.Rows)
        {
            Assert.InRange(row.FitTvError, 0, 1);
            Assert.Equal(4, row.Results.Length);
            Assert.All(row.Results, r => Assert.True(double.IsFinite(r.Truthful.Mean) && double.IsFinite(r.Gap)));
        }
        Assert.True(table.Elapsed > TimeSpan.Zero);
    }
}
