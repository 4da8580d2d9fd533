using Tally.Core;
using Tally.Robust;
using Tally.Simulation;
using Xunit.Abstractions;

namespace Tally.Tests;

/// <summary>Whitening + tensor power method on planted symmetric Dawid-Skene models.</summary>
public class RobustTensorTests(ITestOutputHelper output)
{
    internal static readonly double[] W3 = [0.5, 0.3, 0.2];
    internal static readonly double[] G3 = [0.7, 0.2, 0.1, 0.15, 0.7, 0.15, 0.1, 0.2, 0.7];

    /// <summary>Exact M2, M3 of a symmetric DS model (eqs. (9)–(10) of paper 000).</summary>
    internal static (double[] M2, double[] M3) ExactMoments(double[] w, double[] g, int k)
    {
        var m2 = new double[k * k];
        var m3 = new double[k * k * k];
        for (int y = 0; y < k; y++)
            for (int a = 0; a < k; a++)
                for (int b = 0; b < k; b++)
                {
                    double wab = w[y] * g[y * k + a] * g[y * k + b];
                    m2[a * k + b] += wab;
                    for (int c = 0; c < k; c++) m3[(a * k + b) * k + c] += wab * g[y * k + c];
                }
        return (m2, m3);
    }

    /// <summary>Max-abs error of the decomposition (aligned to classes) against the planted (w, Γ).</summary>
    internal static double Error(SymmetricTensorModel model, double[] w, double[] g, int k)
    {
        var perm = TensorDecomposition.AlignToDiagonal(model.Means.Values, k);
        double err = 0;
        for (int y = 0; y < k; y++)
        {
            err = Math.Max(err, Math.Abs(model.Weights[perm[y]] - w[y]));
            for (int l = 0; l < k; l++) err = Math.Max(err, Math.Abs(model.Means[perm[y], l] - g[y * k + l]));
        }
        return err;
    }

    [Fact]
    public void RecoversPlantedModelFromExactMoments()
    {
        var (m2, m3) = ExactMoments(W3, G3, 3);
        var model = new TensorDecomposition().Decompose(m2, m3, 3, 3);
        Assert.True(model.Success);
        double err = Error(model, W3, G3, 3);
        output.WriteLine($"exact moments: max-abs error {err:E2}; λ = {string.Join(", ", model.Eigenvalues.Select(x => x.ToString("F4")))}");
        Assert.True(err < 0.02, $"error {err}");
        Assert.True(err < 1e-8, $"error {err}"); // exact moments: only rounding is left
    }

    [Theory]
    [InlineData(2, 1)]
    [InlineData(4, 2)]
    [InlineData(5, 3)]
    public void RecoversRandomPlantedModels(int k, int seed)
    {
        var rng = new Random(seed);
        var w = new double[k];
        var g = new double[k * k];
        for (int y = 0; y < k; y++)
        {
            w[y] = 0.5 + rng.NextDouble();
            for (int l = 0; l < k; l++) g[y * k + l] = l == y ? 2 + rng.NextDouble() * k : rng.NextDouble();
            Tally.Core.Numerics.Normalize(g.AsSpan(y * k, k));
        }
        Tally.Core.Numerics.Normalize(w);
        var (m2, m3) = ExactMoments(w, g, k);
        var model = new TensorDecomposition(new TensorDecompositionOptions { Seed = seed }).Decompose(m2, m3, k, k);
        double err = Error(model, w, g, k);
        output.WriteLine($"K={k}: max-abs error {err:E2}");
        Assert.True(err < 0.02);
    }

    [Fact]
    public void SampledMomentsDegradeGracefully()
    {
        double previous = double.PositiveInfinity;
        foreach (int tasks in new[] { 500, 5000, 50000 })
        {
            double err = 0;
            for (int seed = 1; seed <= 3; seed++)
            {
                var crowd = new AdversarySimulator().Generate(new AdversaryScenario
                {
                    Tasks = tasks, Workers = 50, PerTask = 5, ClassWeights = W3, Confusion = G3, AdversaryFraction = 0, Seed = seed,
                });
                var m = SymmetricMoments.Plain(crowd.Answers);
                var model = new TensorDecomposition(new TensorDecompositionOptions { Seed = seed }).Decompose(m.M2.AsSpan(), m.M3.AsSpan(), 3, 3);
                err += Error(model, W3, G3, 3) / 3;
            }
            output.WriteLine($"T={tasks} (×5 answers): mean max-abs error {err:F4}");
            Assert.True(err < previous, $"T={tasks}: {err} ≥ {previous}");
            previous = err;
        }
        Assert.True(previous < 0.02, $"50 000 tasks: {previous}");
    }

    [Fact]
    public void RobustMomentsResistConstantLabelColluders()
    {
        var crowd = new AdversarySimulator().Generate(new AdversaryScenario
        {
            Tasks = 4000, Workers = 400, PerTask = 5, ClassWeights = W3, Confusion = G3,
            AdversaryFraction = 0.2, Strategy = AdversaryStrategy.Constant, ConstantLabel = 2, Seed = 4,
        });
        var td = new TensorDecomposition();
        var plain = SymmetricMoments.Plain(crowd.Answers);
        double plainErr = Error(td.Decompose(plain.M2.AsSpan(), plain.M3.AsSpan(), 3, 3), W3, G3, 3);
        var (trust, _) = SymmetricMoments.WorkerTrust(crowd.Answers, new RobustBatchOptions(), 0);
        var robust = SymmetricMoments.Weighted(crowd.Answers, trust);
        double robustErr = Error(td.Decompose(robust.M2.AsSpan(), robust.M3.AsSpan(), 3, 3), W3, G3, 3);
        output.WriteLine($"α=0.2 constant colluders: (w, Γ) max-abs error plain {plainErr:F4}, robust {robustErr:F4}");
        Assert.True(robustErr < plainErr / 3);
        Assert.True(robustErr < 0.05);
    }

    [Fact]
    public void RankDeficientOrBadInputsFallBack()
    {
        var td = new TensorDecomposition();
        // All reports identical: M2 has rank 1, three components cannot be whitened.
        var m2 = new double[9]; m2[0] = 1;
        var m3 = new double[27]; m3[0] = 1;
        var model = td.Decompose(m2, m3, 3, 3);
        Assert.False(model.Success);
        Assert.All(model.Weights, x => Assert.Equal(1.0 / 3, x, 12));
        m2[1] = double.NaN;
        Assert.False(td.Decompose(m2, m3, 3, 3).Success);
        // K = 1 is trivial.
        var one = td.Decompose([1.0], [1.0], 1, 1);
        Assert.True(one.Success);
        Assert.Equal(1.0, one.Weights[0], 12);
        Assert.Equal(1.0, one.Means[0, 0], 12);
    }

    [Fact]
    public void SameSeedSameOutput()
    {
        var crowd = new AdversarySimulator().Generate(new AdversaryScenario { Tasks = 300, Workers = 20, PerTask = 4, ClassWeights = W3, Confusion = G3, Seed = 9 });
        var m = SymmetricMoments.Plain(crowd.Answers);
        var a = new TensorDecomposition(new() { Seed = 5 }).Decompose(m.M2.AsSpan(), m.M3.AsSpan(), 3, 3);
        var b = new TensorDecomposition(new() { Seed = 5 }).Decompose(m.M2.AsSpan(), m.M3.AsSpan(), 3, 3);
        Assert.Equal(a.Weights.ToArray(), b.Weights.ToArray());
        Assert.Equal(a.Means.Values.ToArray(), b.Means.Values.ToArray());
    }

    [Fact]
    public void SimplexProjection()
    {
        double[] x = [0.5, 0.8, -0.2];
        Simplex.Project(x);
        Assert.Equal(1.0, x.Sum(), 12);
        Assert.Equal([0.35, 0.65, 0.0], x.Select(v => Math.Round(v, 12)).ToArray());
        double[] inside = [0.2, 0.3, 0.5];
        Simplex.Project(inside);
        Assert.Equal([0.2, 0.3, 0.5], inside.Select(v => Math.Round(v, 12)).ToArray());
        double[] nan = [double.NaN, double.NaN];
        Simplex.Project(nan);
        Assert.Equal([0.5, 0.5], nan);
    }

    [Fact]
    public void PlainMomentsMatchBruteForce()
    {
        var m = TestData.RandomMatrix(17, maxTasks: 20, maxWorkers: 6, maxClasses: 3);
        int k = m.ClassCount;
        var fast = SymmetricMoments.Plain(m);
        var m3 = new double[k * k * k];
        double n3 = 0;
        for (int t = 0; t < m.TaskCount; t++)
        {
            var l = m.LabelsOf(t);
            for (int a = 0; a < l.Length; a++)
                for (int b = 0; b < l.Length; b++)
                    for (int c = 0; c < l.Length; c++)
                        if (a != b && b != c && a != c) { m3[(l[a] * k + l[b]) * k + l[c]]++; n3++; }
        }
        if (n3 == 0) return;
        for (int i = 0; i < m3.Length; i++) Assert.Equal(m3[i] / n3, fast.M3[i], 12);
    }
}
