using Tally.Sharing;

namespace Tally.Tests;

public class SharingMechanismTests
{
    [Theory]
    [InlineData(10, 2.85398)]
    [InlineData(30, 1.56185)]
    public void AlphaMatchesCrossCheckValues(int m, double expected)
    {
        var problem = new SharingProblem(m, 1.0, 0.01);
        double alpha = CollaborativeMeanMechanism.Alpha(problem);
        Assert.InRange(alpha, expected - 1e-4, expected + 1e-4);
        Assert.True(Math.Abs(CollaborativeMeanMechanism.FirstOrderResidual(problem, alpha)) < 1e-8);
        Assert.True(alpha > Math.Sqrt(problem.ContinuousSampleSize));
    }

    [Fact]
    public void AlphaScalesWithSigmaOnlyThroughNStar()
    {
        // The FOC depends on (m, n*) only: σ = 2, c = 0.04 has the same n* as σ = 1, c = 0.01.
        double a1 = CollaborativeMeanMechanism.Alpha(new SharingProblem(10, 1.0, 0.01));
        double a2 = CollaborativeMeanMechanism.Alpha(new SharingProblem(10, 2.0, 0.04));
        Assert.Equal(a1, a2, 6);
    }

    [Fact]
    public void AlphaExistsForFiveAgents()
    {
        var problem = new SharingProblem(5, 1.0, 0.01);
        double alpha = CollaborativeMeanMechanism.Alpha(problem);
        Assert.True(Math.Abs(CollaborativeMeanMechanism.FirstOrderResidual(problem, alpha)) < 1e-8);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(2)]
    [InlineData(0)]
    public void FourOrFewerAgentsAreRefused(int m)
    {
        var ex = Assert.ThrowsAny<TallyUserException>(() => new SharingProblem(m, 1.0, 0.01));
        Assert.Contains($"m = {m}", ex.Message);
    }

    [Theory]
    [InlineData(0.0, 0.01)]
    [InlineData(-1.0, 0.01)]
    [InlineData(double.NaN, 0.01)]
    [InlineData(1.0, 0.0)]
    [InlineData(1.0, double.NaN)]
    [InlineData(1.0, double.PositiveInfinity)]
    public void BadSigmaOrCostIsRefused(double sigma, double cost) =>
        Assert.ThrowsAny<TallyUserException>(() => new SharingProblem(10, sigma, cost));

    [Fact]
    public void RecommendedSizeIsRoundedAndBestResponseReported()
    {
        var problem = new SharingProblem(10, 1.0, 0.01); // n* = 3.162
        var mech = new CollaborativeMeanMechanism(problem);
        Assert.Equal(3, mech.RecommendedSampleSize);
        int br = mech.IntegerBestResponse();
        Assert.InRange(br, 2, 4);
        // Tiny n* still asks for one point, but at c = 10 paying for it is worse than keeping Z alone: reported.
        var pricey = new CollaborativeMeanMechanism(new SharingProblem(10, 1.0, 10.0));
        Assert.Equal(1, pricey.RecommendedSampleSize);
        Assert.Equal(0, pricey.IntegerBestResponse());
    }

    [Fact]
    public void PenaltyCurveIsMinimisedNearNStar()
    {
        var problem = new SharingProblem(10, 1.0, 0.01);
        double alpha = CollaborativeMeanMechanism.Alpha(problem), ns = problem.ContinuousSampleSize;
        double P(double n) => CollaborativeMeanMechanism.ExpectedError(problem, alpha, n, ns) + problem.Cost * n;
        Assert.True(P(ns) < P(ns * 0.8));
        Assert.True(P(ns) < P(ns * 1.2));
    }

    private static IReadOnlyList<IReadOnlyList<double>> Draw(int m, int n, double mu, Random rng) =>
        Enumerable.Range(0, m).Select(_ => (IReadOnlyList<double>)Enumerable.Range(0, n)
            .Select(_ => mu + MathNet.Numerics.Distributions.Normal.Sample(rng, 0, 1)).ToArray()).ToArray();

    [Fact]
    public void EstimatorIsUnbiasedForTruthfulData()
    {
        var mech = new CollaborativeMeanMechanism(new SharingProblem(10, 1.0, 0.01));
        var rng = new Random(7);
        double sum = 0, sumSq = 0;
        const int reps = 3000, mu = 2;
        for (int r = 0; r < reps; r++)
        {
            var subs = Draw(10, 3, mu, rng);
            var alloc = mech.Allocate(subs, seed: r);
            double e = CollaborativeMeanMechanism.RecommendedEstimate(subs[0], alloc[0], 1.0) - mu;
            sum += e; sumSq += e * e;
        }
        double mean = sum / reps, se = Math.Sqrt((sumSq / reps - mean * mean) / reps);
        Assert.True(Math.Abs(mean) < 4 * se, $"bias {mean} vs se {se}");
    }

    [Fact]
    public void AllocationNeverLeaksRawDataBeyondZ()
    {
        var mech = new CollaborativeMeanMechanism(new SharingProblem(8, 1.0, 0.01));
        var rng = new Random(11);
        var subs = Draw(8, 4, 0.5, rng);
        var raw = subs.SelectMany(s => s).ToHashSet();
        var alloc = mech.Allocate(subs, seed: 11);
        for (int i = 0; i < alloc.Count; i++)
        {
            var a = alloc[i];
            Assert.True(a.EtaSquared > 0);
            Assert.Equal(mech.RecommendedSampleSize, a.Z.Count);
            Assert.Equal(7 * 4 - a.Z.Count, a.ZPrime.Count);
            Assert.All(a.Z, z => Assert.Contains(z, subs.Where((_, j) => j != i).SelectMany(s => s)));
            Assert.All(a.ZPrime, z => Assert.DoesNotContain(z, raw));
        }
    }

    [Fact]
    public void AllocationIsDeterministicUnderASeed()
    {
        var mech = new CollaborativeMeanMechanism(new SharingProblem(6, 1.0, 0.01));
        var subs = Draw(6, 4, 0, new Random(3));
        var a = mech.Allocate(subs, seed: 99);
        var b = mech.Allocate(subs, seed: 99);
        var other = mech.Allocate(subs, seed: 100);
        for (int i = 0; i < 6; i++)
        {
            Assert.Equal(a[i].Z, b[i].Z);
            Assert.Equal(a[i].ZPrime, b[i].ZPrime);
            Assert.Equal(a[i].EtaSquared, b[i].EtaSquared);
        }
        // The seed is what drives the draws: another seed gives other noise on Z'.
        Assert.NotEqual(a[0].ZPrime, other[0].ZPrime);
    }

    [Fact]
    public void EmptySubmissionGetsInfiniteNoiseAndZeroWeight()
    {
        var mech = new CollaborativeMeanMechanism(new SharingProblem(5, 1.0, 0.01));
        var subs = Draw(5, 3, 1, new Random(5)).ToArray();
        subs[2] = [];
        var alloc = mech.Allocate(subs, seed: 1);
        Assert.True(double.IsPositiveInfinity(alloc[2].EtaSquared));
        Assert.Empty(alloc[2].ZPrime);
        Assert.Equal(0, alloc[2].NoisyWeight(1.0));
        double est = CollaborativeMeanMechanism.RecommendedEstimate([], alloc[2], 1.0);
        Assert.True(double.IsFinite(est));
        Assert.Equal(alloc[2].Z.Average(), est, 12);
    }

    [Fact]
    public void IdenticalSubmissionsGiveZeroNoiseAndFiniteEstimates()
    {
        var mech = new CollaborativeMeanMechanism(new SharingProblem(5, 1.0, 0.01));
        var subs = Enumerable.Range(0, 5).Select(_ => (IReadOnlyList<double>)new[] { 1.5, 1.5, 1.5 }).ToArray();
        var alloc = mech.Allocate(subs, seed: 2);
        foreach (var a in alloc)
        {
            Assert.Equal(0, a.EtaSquared);
            Assert.Equal(1, a.NoisyWeight(1.0));
            Assert.Equal(1.5, CollaborativeMeanMechanism.RecommendedEstimate([1.5, 1.5, 1.5], a, 1.0), 12);
        }
    }

    [Fact]
    public void BadSubmissionsAreRefused()
    {
        var mech = new CollaborativeMeanMechanism(new SharingProblem(5, 1.0, 0.01));
        var rng = new Random(1);
        Assert.ThrowsAny<TallyUserException>(() => mech.Allocate(Draw(4, 3, 0, rng), seed: 1));
        var subs = Draw(5, 3, 0, rng).ToArray();
        subs[1] = [1.0, double.NaN];
        Assert.ThrowsAny<TallyUserException>(() => mech.Allocate(subs, seed: 1));
        Assert.Throws<ArgumentNullException>(() => mech.Allocate(null!, seed: 1));
        var empty = new Allocation([], [], double.PositiveInfinity);
        Assert.Throws<ArgumentException>(() => CollaborativeMeanMechanism.RecommendedEstimate([], empty, 1.0));
        Assert.Throws<ArgumentException>(() => CollaborativeMeanMechanism.RecommendedEstimate([1.0], empty, 0.0));
    }
}

public class SharingConsistencyTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public void MonteCarloPenaltyMatchesExactExpectation()
    {
        // R(n*) from the quadrature must agree with the simulated recommended profile: this checks the derivation
        // (noise level from the mean gap, precision-weighted estimator) end to end.
        var problem = new SharingProblem(10, 1.0, 0.01);
        var mech = new CollaborativeMeanMechanism(problem);
        int ns = mech.RecommendedSampleSize;
        double exact = CollaborativeMeanMechanism.ExpectedError(problem, mech.NoiseScale, ns, ns) + problem.Cost * ns;
        var report = new SharingLab(new SharingLabOptions { Replications = 4000, MeansInSigmas = [0, 3] })
            .Run(problem, SharingRule.Collaborative, []);
        output.WriteLine($"exact {exact:F5}, MC {report.Recommended.Penalty:F5} ± {report.Recommended.HalfWidth:F5}; best integer response {mech.IntegerBestResponse()}");
        foreach (var o in report.Recommended.ByMean)
            Assert.InRange(exact, o.Penalty - 1.5 * o.HalfWidth, o.Penalty + 1.5 * o.HalfWidth);
    }

    [Theory]
    [InlineData(5, 4.0)]
    [InlineData(10, 2.0)]
    [InlineData(10, 3.1622776601683795)]
    [InlineData(30, 7.0)]
    public void QuadratureMatchesClosedForm(int m, double n)
    {
        // 1/(A/(σ² + vZ²) + B) = (1/B)(1 − A/(A + Bσ² + BvZ²)) and E[1/(1 + tZ²)] = √(π/(2t))·erfcx(1/√(2t)),
        // with erfcx(x) = exp(x²)erfc(x) (moderate x here, so no overflow).
        var problem = new SharingProblem(m, 1.3, 0.01);
        double alpha = CollaborativeMeanMechanism.Alpha(problem), ns = problem.ContinuousSampleSize, s2 = 1.69;
        double a = (m - 2) * ns, b = (n + ns) / s2, v = alpha * alpha * s2 * (1 / n + 1 / ns);
        double t = b * v / (a + b * s2), x = 1 / Math.Sqrt(2 * t);
        double erfcx = Math.Exp(x * x) * MathNet.Numerics.SpecialFunctions.Erfc(x);
        double closed = (1 - a / (a + b * s2) * Math.Sqrt(Math.PI / (2 * t)) * erfcx) / b;
        double quad = CollaborativeMeanMechanism.ExpectedError(problem, alpha, n, ns);
        Assert.True(Math.Abs(quad - closed) < 1e-11 * closed, $"quadrature {quad} vs closed form {closed}");
    }

    [Theory]
    [InlineData(5)]
    [InlineData(10)]
    [InlineData(30)]
    [InlineData(100)]
    public void ReportAlpha(int m)
    {
        var problem = new SharingProblem(m, 1.0, 0.01);
        var mech = new CollaborativeMeanMechanism(problem);
        double g = CollaborativeMeanMechanism.FirstOrderResidual(problem, mech.NoiseScale);
        output.WriteLine($"m={m} n*={problem.ContinuousSampleSize:F4} α={mech.NoiseScale:F8} G={g:E2} bestInt={mech.IntegerBestResponse()}");
        Assert.True(Math.Abs(g) < 1e-8);
    }
}
