using MathNet.Numerics.Distributions;
using Tally.Robust;
using Xunit.Abstractions;

namespace Tally.Tests;

/// <summary>The robust batch distribution learner on synthetic batches with a β share of adversarial batches.</summary>
public class RobustBatchTests(ITestOutputHelper output)
{
    // A skewed distribution on D = 8 cells (exhaustive subset search) and its D = 27 cousin (eigenvector search).
    private static readonly double[] P8 = [0.30, 0.20, 0.15, 0.10, 0.10, 0.07, 0.05, 0.03];

    private static double[] P27()
    {
        var p = new double[27];
        for (int i = 0; i < 27; i++) p[i] = 1.0 / (1 + i % 7);
        Tally.Core.Numerics.Normalize(p);
        return p;
    }

    /// <summary>How the adversarial batches are written.</summary>
    public enum Attack
    {
        /// <summary>All k samples on the least likely cell: the largest shift of the plain mean per adversarial batch.</summary>
        PointMass,
        /// <summary>k i.i.d. draws from p with δ = 1.5/√k of mass moved from the likeliest to the least likely cell: hides in the honest spread.</summary>
        Subtle,
    }

    /// <summary>N batches of k samples; the first ⌊βN⌋ adversarial. Returns the counts matrix and the adversarial flags.</summary>
    internal static (double[] Counts, bool[] Bad) Batches(double[] p, int n, int k, double beta, Attack attack, int seed)
    {
        var rng = new Random(seed);
        int d = p.Length;
        int least = 0, most = 0;
        for (int c = 1; c < d; c++) { if (p[c] < p[least]) least = c; if (p[c] > p[most]) most = c; }
        var q = (double[])p.Clone();
        double delta = Math.Min(p[most], 1.5 / Math.Sqrt(k));
        q[most] -= delta; q[least] += delta;
        var honest = new Categorical(p, rng);
        var shifted = new Categorical(q, rng);
        var counts = new double[n * d];
        var bad = new bool[n];
        int nBad = (int)(beta * n);
        for (int i = 0; i < n; i++)
        {
            bad[i] = i < nBad;
            for (int s = 0; s < k; s++)
            {
                int x = !bad[i] ? honest.Sample() : attack == Attack.PointMass ? least : shifted.Sample();
                counts[i * d + x]++;
            }
        }
        return (counts, bad);
    }

    private static (double Plain, double Robust, RobustBatchEstimate Est) Run(double[] p, int n, int k, double beta, Attack attack,
        int seed, RobustBatchOptions? options = null)
    {
        var (counts, _) = Batches(p, n, k, beta, attack, seed);
        var plain = RobustBatchDistributionEstimator.PlainAverage(counts, n, p.Length);
        var est = new RobustBatchDistributionEstimator(options ?? new RobustBatchOptions { AdversaryFraction = beta }).Estimate(counts, n, p.Length);
        return (RobustBatchDistributionEstimator.TotalVariation(plain, p), RobustBatchDistributionEstimator.TotalVariation(est.Distribution.AsSpan(), p), est);
    }

    [Theory]
    [InlineData(8)]
    [InlineData(27)]
    public void PointMassAdversaryIsFilteredAndErrorShrinksWithBatchSize(int domain)
    {
        var p = domain == 8 ? P8 : P27();
        double previous = double.PositiveInfinity;
        foreach (int k in new[] { 10, 50, 200 })
        {
            double plain = 0, robust = 0;
            for (int seed = 1; seed <= 3; seed++)
            {
                var (pl, ro, est) = Run(p, 1000, k, 0.1, Attack.PointMass, seed);
                plain += pl / 3; robust += ro / 3;
                Assert.True(est.Converged);
            }
            output.WriteLine($"D={domain} k={k}: TV plain {plain:F4}, robust {robust:F4}, ratio {plain / robust:F1}");
            if (k == 50) Assert.True(plain >= 3 * robust, $"k=50: plain {plain} vs robust {robust}");
            Assert.True(robust < previous, $"k={k}: robust error {robust} did not drop below {previous}");
            previous = robust;
        }
    }

    [Theory]
    [InlineData(8)]
    [InlineData(27)]
    public void SubtleAdversaryErrorScalesLikeBetaOverRootK(int domain)
    {
        var p = domain == 8 ? P8 : P27();
        double previous = double.PositiveInfinity;
        foreach (int k in new[] { 10, 50, 200 })
        {
            double plain = 0, robust = 0;
            for (int seed = 1; seed <= 3; seed++)
            {
                var (pl, ro, _) = Run(p, 1000, k, 0.1, Attack.Subtle, seed);
                plain += pl / 3; robust += ro / 3;
            }
            output.WriteLine($"D={domain} k={k}: TV plain {plain:F4}, robust {robust:F4}, robust·√k/β {robust * Math.Sqrt(k) / 0.1:F2}");
            Assert.True(robust <= plain + 1e-3, $"k={k}: robust {robust} worse than plain {plain}");
            // This adversary sits at the detection limit δ ≈ √(ln(1/β)/k), so the filter may leave it: the error must
            // still obey the guaranteed rate, TV ≤ 2.5 β/√k (its shift alone costs β·1.5/√k).
            Assert.True(robust * Math.Sqrt(k) / 0.1 <= 2.5, $"k={k}: robust {robust}");
            Assert.True(robust < previous);
            previous = robust;
        }
    }

    [Fact]
    public void ThresholdConstantTradesResidualBiasAgainstDiscardedHonestWeight()
    {
        int n = 1000, k = 50;
        var (counts, bad) = Batches(P8, n, k, 0.1, Attack.Subtle, 7);
        var plain = RobustBatchDistributionEstimator.TotalVariation(RobustBatchDistributionEstimator.PlainAverage(counts, n, 8), P8);
        output.WriteLine($"plain TV {plain:F4}");
        var rows = new List<(double C, double Tv, double HonestKept, double BadKept)>();
        foreach (double c in new[] { 0.1, 0.3, 1.0, 3.0, 1e3 })
        {
            var est = new RobustBatchDistributionEstimator(new RobustBatchOptions { AdversaryFraction = 0.1, ThresholdConstant = c }).Estimate(counts, n, 8);
            double honest = 0, adv = 0;
            for (int i = 0; i < n; i++) if (bad[i]) adv += est.BatchWeights[i]; else honest += est.BatchWeights[i];
            double tv = RobustBatchDistributionEstimator.TotalVariation(est.Distribution.AsSpan(), P8);
            rows.Add((c, tv, honest / (n - 100), adv / 100));
            output.WriteLine($"C={c}: TV {tv:F4}, honest weight kept {honest / (n - 100):P1}, adversarial weight kept {adv / 100:P1}, iterations {est.Iterations}, τ {est.Threshold:E2}");
        }
        // C → ∞ switches the filter off: the plain mean.
        Assert.Equal(plain, rows[^1].Tv, 6);
        // Smaller C filters more: less adversarial weight survives, and more honest weight is spent.
        for (int i = 1; i < rows.Count; i++)
        {
            Assert.True(rows[i - 1].BadKept <= rows[i].BadKept + 1e-9);
            Assert.True(rows[i - 1].HonestKept <= rows[i].HonestKept + 1e-9);
        }
        // A small C catches this near-invisible adversary (at the price of some honest weight) ...
        Assert.True(rows[0].Tv < plain / 2, $"C=0.1: TV {rows[0].Tv} vs plain {plain}");
        Assert.True(rows[0].HonestKept > 0.8);
        // ... the default C = 0.3 removes part of it, C = 1 leaves it (its shift is within the O(β √ln(1/β) / √k)
        // budget); both stay within that rate.
        Assert.True(rows[1].Tv < rows[2].Tv);
        Assert.True(rows[1].HonestKept > 0.9);
        Assert.True(rows[2].Tv <= 2 * 0.1 * Math.Sqrt(Math.Log(10)) / Math.Sqrt(k), $"C=1 TV {rows[2].Tv}");
    }

    [Fact]
    public void AdversaryFractionBoundSetsTheThreshold()
    {
        int n = 1000, k = 50;
        var (counts, _) = Batches(P8, n, k, 0.1, Attack.Subtle, 11);
        var tvs = new List<double>();
        var taus = new List<double>();
        foreach (double beta in new[] { 0.02, 0.1, 0.3 })
        {
            var est = new RobustBatchDistributionEstimator(new RobustBatchOptions { AdversaryFraction = beta }).Estimate(counts, n, 8);
            tvs.Add(RobustBatchDistributionEstimator.TotalVariation(est.Distribution.AsSpan(), P8));
            taus.Add(est.Threshold);
            output.WriteLine($"β={beta}: TV {tvs[^1]:F4}, τ {est.Threshold:E2}, iterations {est.Iterations}");
        }
        // τ grows with β ln(1/β) (increasing on (0, 1/e)); an under-stated β filters harder.
        Assert.True(taus[0] < taus[1] && taus[1] < taus[2]);
        Assert.True(tvs[0] <= tvs[1] + 1e-9);
    }

    [Theory]
    [InlineData(8, 10)]
    [InlineData(8, 50)]
    [InlineData(27, 50)]
    public void CleanBatchesKeepTheirWeightEvenAtSmallThresholdConstant(int domain, int k)
    {
        var p = domain == 8 ? P8 : P27();
        var (counts, _) = Batches(p, 1000, k, 0.0, Attack.PointMass, 2);
        foreach (double c in new[] { 0.1, 0.3, 1.0 })
        {
            var est = new RobustBatchDistributionEstimator(new RobustBatchOptions { ThresholdConstant = c }).Estimate(counts, 1000, domain);
            double kept = 0;
            foreach (var w in est.BatchWeights) kept += w / 1000;
            output.WriteLine($"D={domain} k={k} C={c}: honest weight kept {kept:P2}");
            Assert.True(kept > 0.97);
        }
    }

    [Fact]
    public void CleanBatchesAreBarelyTouched()
    {
        var (counts, _) = Batches(P8, 1000, 50, 0.0, Attack.PointMass, 3);
        var est = new RobustBatchDistributionEstimator().Estimate(counts, 1000, 8);
        double kept = 0;
        foreach (var w in est.BatchWeights) kept += w;
        var plain = RobustBatchDistributionEstimator.PlainAverage(counts, 1000, 8);
        output.WriteLine($"clean: kept {kept / 1000:P1}, TV robust {RobustBatchDistributionEstimator.TotalVariation(est.Distribution.AsSpan(), P8):F4}, plain {RobustBatchDistributionEstimator.TotalVariation(plain, P8):F4}");
        Assert.True(kept / 1000 > 0.95);
    }

    [Fact]
    public void DegenerateInputsGiveDistributions()
    {
        var learner = new RobustBatchDistributionEstimator();
        Assert.Equal([1.0], learner.Estimate([[0, 0], [0]], 1).Distribution.ToArray());
        var empty = learner.Estimate([[], []], 3).Distribution;
        Assert.All(empty, x => Assert.Equal(1.0 / 3, x, 12));
        var single = learner.Estimate([[2, 2, 1]], 3).Distribution;
        Assert.Equal(2.0 / 3, single[2], 12);
        var none = learner.Estimate(Array.Empty<int[]>(), 4).Distribution;
        Assert.All(none, x => Assert.True(double.IsFinite(x)));
        Assert.Throws<ArgumentOutOfRangeException>(() => learner.Estimate([[5]], 3));
    }

    [Fact]
    public void SameInputSameOutput()
    {
        var (counts, _) = Batches(P27(), 300, 20, 0.1, Attack.Subtle, 5);
        var a = new RobustBatchDistributionEstimator().Estimate(counts, 300, 27);
        var b = new RobustBatchDistributionEstimator().Estimate(counts, 300, 27);
        Assert.Equal(a.Distribution.ToArray(), b.Distribution.ToArray());
        Assert.Equal(a.BatchWeights.ToArray(), b.BatchWeights.ToArray());
    }
}
