using Tally.Aggregation;
using Tally.Core;

namespace Tally.Tests;

public class KosTests
{
    /// <summary>
    /// 3 tasks × 5 workers (rows = tasks, columns = workers, entries = class; class 0 ↦ +1, class 1 ↦ −1):
    /// <code>
    ///        w0 w1 w2 w3 w4
    ///   t0:   0  0  0  0  1
    ///   t1:   1  1  1  1  0
    ///   t2:   0  0  0  0  1
    /// </code>
    /// The signs factor as A_tw = z_t r_w with z = (+, −, +) and r = (+, +, +, +, −): w4 always contradicts the others.
    /// Substituting x̃_{t→w} = z_t x_{t→w}, ỹ_{w→t} = r_w y_{w→t} turns both updates into the same sums without signs,
    /// so every x̃ and ỹ ends up positive (and, by the symmetry of the complete 3 × 5 graph, equal), whatever the
    /// random start (Tally resolves the start's mirror image, see <see cref="Kos"/>). Hence:
    /// score_t = Σ_w A_tw y_{w→t} = z_t Σ_w ỹ → labels = z = (class 0, class 1, class 0);
    /// skill_w = Σ_t A_tw x_{t→w} / Σ_t |x_{t→w}| = r_w Σ_t x̃ / Σ_t x̃ = r_w → (1, 1, 1, 1, −1);
    /// all |score_t| are equal, so each normalised score is ±1 and the posterior of the chosen class is
    /// 1/(1 + e^−1) ≈ 0.7311.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(6)]
    [InlineData(12345)]
    public void TinyExample_LearnsInvertedWorker(int seed)
    {
        var m = LabelMatrix.FromTriples(3, 5, 2,
            [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2],
            [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4],
            [0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1]);
        var r = new Kos(new KosOptions { Seed = seed }).Aggregate(m);
        TestData.AssertValidResult(r);

        Assert.Equal([0, 1, 0], r.Labels.ToArray());
        double[] expectedSkills = [1, 1, 1, 1, -1];
        for (int w = 0; w < 5; w++) Assert.Equal(expectedSkills[w], r.WorkerSkills[w], 9);
        double sigma1 = 1 / (1 + Math.Exp(-1));
        // 10 iterations leave a small residue of the random start in the scores, hence the looser tolerance.
        Assert.Equal(sigma1, r.Posteriors[0, 0], 0.02);
        Assert.Equal(sigma1, r.Posteriors[1, 1], 0.02);
        Assert.Equal(sigma1, r.Posteriors[2, 0], 0.02);
        Assert.Equal(10, r.Iterations);

        var longRun = new Kos(new KosOptions { Seed = seed, MaxIterations = 200 }).Aggregate(m);
        Assert.Equal(sigma1, longRun.Posteriors[0, 0], 1e-9);
        Assert.Equal(sigma1, longRun.Posteriors[1, 1], 1e-9);
    }

    [Fact]
    public void RejectsNonBinary()
    {
        var m = LabelMatrix.FromTriples(2, 2, 3, [0, 1], [0, 1], [0, 2]);
        var e = Assert.Throws<TallyUserException>(() => new Kos().Aggregate(m));
        Assert.Contains("kos is binary-only: the answers have 3 classes", e.Message);
    }

    [Fact]
    public void EdgeInputs_StayFinite()
    {
        // Single worker: every leave-one-out sum is empty, all messages are 0, scores tie → class 0 at 0.5.
        var single = LabelMatrix.FromTriples(3, 1, 2, [0, 1, 2], [0, 0, 0], [1, 0, 1]);
        var r = new Kos().Aggregate(single);
        TestData.AssertValidResult(r);
        Assert.Equal([0, 0, 0], r.Labels.ToArray());
        Assert.Equal(0.5, r.Posteriors[0, 0], 12);

        // Task 2 has one answer; worker 2 gave one answer; task 3 has none.
        var sparse = LabelMatrix.FromTriples(4, 3, 2,
            [0, 0, 1, 1, 2],
            [0, 1, 0, 1, 2],
            [1, 1, 0, 0, 1]);
        TestData.AssertValidResult(new Kos().Aggregate(sparse));

        // Everybody agrees on everything.
        var unanimous = LabelMatrix.FromTriples(2, 3, 2, [0, 0, 0, 1, 1, 1], [0, 1, 2, 0, 1, 2], [1, 1, 1, 1, 1, 1]);
        var u = new Kos().Aggregate(unanimous);
        TestData.AssertValidResult(u);
        Assert.Equal([1, 1], u.Labels.ToArray());

        // Many iterations: the per-step rescaling keeps long runs finite (raw sums would overflow).
        TestData.AssertValidResult(new Kos(new KosOptions { MaxIterations = 2000 }).Aggregate(unanimous));
        TestData.AssertValidResult(new Kos(new KosOptions { MaxIterations = 0 }).Aggregate(sparse));
        TestData.AssertValidResult(new Kos(new KosOptions { MaxIterations = 500, Tolerance = 1e-9 }).Aggregate(Load("duck").Matrix));
    }

    [Fact]
    public void SameSeed_SamePosteriors()
    {
        var m = Load("duck").Matrix;
        var a = new Kos(new KosOptions { Seed = 3 }).Aggregate(m);
        var b = new Kos(new KosOptions { Seed = 3 }).Aggregate(m);
        Assert.Equal(a.Posteriors.Values.ToArray(), b.Posteriors.Values.ToArray());
        Assert.Equal(a.WorkerSkills.ToArray(), b.WorkerSkills.ToArray());
        Assert.Equal(a.Labels.ToArray(), b.Labels.ToArray());
    }

    [Fact]
    public void HardLabelsFollowPosteriors()
    {
        var r = new Kos().Aggregate(Load("duck").Matrix);
        for (int t = 0; t < r.Posteriors.Rows; t++)
            Assert.True(r.Posteriors[t, r.Labels[t]] >= r.Posteriors[t, 1 - r.Labels[t]]);
    }

    /// <summary>Crowd-Kit's KOS gets 72.22% on duck; ours must be within one point.</summary>
    [Fact]
    public void Accuracy_Duck()
    {
        var (m, truth) = Load("duck");
        var r = new Kos().Aggregate(m);
        TestData.AssertValidResult(r);
        double acc = Accuracy.Of(r.Labels.AsSpan(), truth).Value * 100;
        Assert.True(acc >= 72.22 - 1.0, $"KOS duck accuracy {acc:F2}% < {72.22 - 1.0:F2}%");
    }

    internal static (LabelMatrix Matrix, GoldLabels Truth) Load(string dataset)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Tally.sln"))) dir = dir.Parent;
        Assert.NotNull(dir);
        string folder = Path.Combine(dir!.FullName, "data", dataset);
        var m = AnswerFiles.ReadAnswers(Path.Combine(folder, "answers.csv")).Matrix;
        var truth = AnswerFiles.ReadTruth(Path.Combine(folder, "truth.csv"), m).Labels;
        return (m, truth);
    }
}
