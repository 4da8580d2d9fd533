using Tally.Aggregation;
using Tally.Core;

namespace Tally.Tests;

public class MMsrTests
{
    /// <summary>
    /// 3 tasks × 3 workers, K = 2 (rows = tasks, columns = workers, entries = class):
    /// <code>
    ///        w0 w1 w2
    ///   t0:   0  0  1
    ///   t1:   1  1  0
    ///   t2:   0  0  0
    /// </code>
    /// Agreements on the 3 shared tasks: w0–w1 3/3, w0–w2 and w1–w2 1/3; scaled C = 2·agree − 1 gives C01 = 1,
    /// C02 = C12 = −1/3. Every worker has 2 co-workers, so F = ⌊2/2⌋ − 1 = 0 and the update is a plain mean, whose fixed
    /// point is the exact rank-one completion of |C|: s0 s1 = 1, s0 s2 = s1 s2 = 1/3 → |s| = (1, 1, 1/3). Signs: C01 &gt; 0
    /// puts w0, w1 together, the negative C02, C12 put w2 opposite; the majority is +, so s = (1, 1, −1/3).
    /// Clipping to [−1 + 1/√3, 1 − 1/√3] turns s0 = s1 into 1 − 1/√3; p = (s + 1)/2 gives p0 = p1 = 1 − 1/(2√3) ≈ 0.7113,
    /// p2 = 1/3. Weights log(p/(1 − p)): ln(2√3 − 1) for w0, w1 and ln(1/2) for w2 (it votes against its answers).
    /// t0: log-odds(class 0) = 2 ln(2√3 − 1) + ln 2, odds = 2(2√3 − 1)² ≈ 12.144, P = 0.92392 (t1 mirrored for class 1);
    /// t2: odds = (2√3 − 1)²/2 ≈ 3.0359, P(class 0) ≈ 0.75223.
    /// </summary>
    [Fact]
    public void TinyExample_MatchesHandComputation()
    {
        var m = LabelMatrix.FromTriples(3, 3, 2,
            [0, 0, 0, 1, 1, 1, 2, 2, 2],
            [0, 1, 2, 0, 1, 2, 0, 1, 2],
            [0, 0, 1, 1, 1, 0, 0, 0, 0]);
        var r = new MMsr().Aggregate(m);
        TestData.AssertValidResult(r);

        double a = 2 * Math.Sqrt(3) - 1;
        double p01 = 1 - 1 / (2 * Math.Sqrt(3));
        Assert.Equal(p01, r.WorkerSkills[0], 6);
        Assert.Equal(p01, r.WorkerSkills[1], 6);
        Assert.Equal(1.0 / 3, r.WorkerSkills[2], 6);
        Assert.Equal(Math.Log(a), r.WorkerParameters["weight"][0], 6);
        Assert.Equal(Math.Log(0.5), r.WorkerParameters["weight"][2], 6);

        double odds0 = 2 * a * a, odds2 = a * a / 2;
        Assert.Equal([0, 1, 0], r.Labels.ToArray());
        Assert.Equal(odds0 / (1 + odds0), r.Posteriors[0, 0], 6);
        Assert.Equal(odds0 / (1 + odds0), r.Posteriors[1, 1], 6);
        Assert.Equal(odds2 / (1 + odds2), r.Posteriors[2, 0], 6);
        Assert.True(r.Converged);
    }

    [Fact]
    public void TrimmedMean_DropsUpToFOnEachSide()
    {
        // Current 3: below = {1, 2}, above = {10, 20, 30}. F = 1 drops 1 and 30 → mean(2, 3, 10, 20) = 8.75.
        double[] v = [30, 1, 10, 3, 20, 2];
        Assert.Equal(8.75, MMsr.TrimmedMean(v, 1, 3, 0.1), 12);
        // F = 3 > 2 values below: drop both of them, and 3 of the 3 above → only 3 is left.
        double[] w = [30, 1, 10, 3, 20, 2];
        Assert.Equal(3, MMsr.TrimmedMean(w, 3, 3, 0.1), 12);
        // Nothing left (all values dropped): keep the current estimate.
        double[] x = [1, 5];
        Assert.Equal(3, MMsr.TrimmedMean(x, 1, 3, 0.1), 12);
        // A zero estimate would be a zero divisor next sweep: replaced.
        double[] z = [0, 0];
        Assert.Equal(0.1, MMsr.TrimmedMean(z, 0, 1, 0.1), 12);
    }

    [Fact]
    public void EdgeInputs_StayFinite()
    {
        // K = 1: nothing to infer.
        var oneClass = LabelMatrix.FromTriples(2, 2, 1, [0, 0, 1], [0, 1, 1], [0, 0, 0]);
        var r1 = new MMsr().Aggregate(oneClass);
        TestData.AssertValidResult(r1);
        Assert.Equal([0, 0], r1.Labels.ToArray());

        // A single worker: majority-vote fallback.
        var single = LabelMatrix.FromTriples(3, 1, 3, [0, 1, 2], [0, 0, 0], [2, 0, 1]);
        var rs = new MMsr().Aggregate(single);
        TestData.AssertValidResult(rs);
        Assert.Equal([2, 0, 1], rs.Labels.ToArray());

        // Two workers who never share a task: fallback as well.
        var disjoint = LabelMatrix.FromTriples(2, 2, 2, [0, 1], [0, 1], [1, 0]);
        var rd = new MMsr().Aggregate(disjoint);
        TestData.AssertValidResult(rd);
        Assert.Equal([1, 0], rd.Labels.ToArray());

        // Task 2 has one answer (from worker 2, who shares no task with anyone); task 3 has none; worker 3 answered once.
        var sparse = LabelMatrix.FromTriples(4, 4, 3,
            [0, 0, 0, 1, 1, 2],
            [0, 1, 3, 0, 1, 2],
            [1, 1, 2, 0, 2, 2]);
        var rp = new MMsr().Aggregate(sparse);
        TestData.AssertValidResult(rp);
        Assert.Equal(2, rp.Labels[2]);

        // Everybody agrees: C = 1 everywhere.
        var unanimous = LabelMatrix.FromTriples(2, 3, 2, [0, 0, 0, 1, 1, 1], [0, 1, 2, 0, 1, 2], [1, 1, 1, 0, 0, 0]);
        var ru = new MMsr().Aggregate(unanimous);
        TestData.AssertValidResult(ru);
        Assert.Equal([1, 0], ru.Labels.ToArray());

        // Agreement exactly at chance (C = 0) for every pair: all weights near 0, still a valid distribution.
        var chance = LabelMatrix.FromTriples(2, 2, 2, [0, 0, 1, 1], [0, 1, 0, 1], [0, 0, 0, 1]);
        TestData.AssertValidResult(new MMsr().Aggregate(chance));
        TestData.AssertValidResult(new MMsr(new MMsrOptions { MaxIterations = 0 }).Aggregate(sparse));
    }

    [Fact]
    public void Progress_moves_through_the_graph_the_iterations_and_the_sign_colouring_and_never_goes_back()
    {
        // 450 workers: above DenseLimit, so the signs come from the power iteration, which reports too.
        var m = new Tally.Simulation.DawidSkeneSimulator().Generate(new Tally.Simulation.DawidSkeneScenario { Tasks = 3000, Workers = 450, PerTask = 5, Classes = 2, Seed = 2 }).Answers;
        var options = new MMsrOptions { MaxIterations = 200 };
        var reports = new List<IterationProgress>();
        new MMsr(options).Aggregate(m, progress: new Tally.Application.SyncProgress<IterationProgress>(reports.Add));
        int phase = options.MaxIterations / 20, total = 2 * phase + options.MaxIterations;
        Assert.All(reports, r => Assert.Equal(total, r.MaxIterations));
        for (int i = 1; i < reports.Count; i++) Assert.True(reports[i].Iteration >= reports[i - 1].Iteration);
        Assert.Equal(16, reports.Count(r => r.Iteration <= phase));            // the graph's 16 steps
        Assert.Contains(reports, r => r.Iteration > phase && r.Iteration <= phase + options.MaxIterations);
        Assert.Contains(reports, r => r.Iteration > phase + options.MaxIterations);   // the colouring
        Assert.All(reports, r => Assert.True(r.Iteration <= total && !double.IsNaN(r.Objective)));
    }

    [Fact]
    public void A_scaled_phase_whose_parts_each_count_from_zero_never_moves_the_bar_back()
    {
        var seen = new List<IterationProgress>();
        var phase = ScaledProgress.Of(new Tally.Application.SyncProgress<IterationProgress>(seen.Add), 100, 50, 200)!;
        foreach (int i in new[] { 2000, 6000, 1000, 3000, 10000 }) phase.Report(new IterationProgress(i, 10_000, 0));   // a second component restarts at 1,000
        Assert.Equal([110, 130, 130, 130, 150], seen.Select(r => r.Iteration));
        Assert.All(seen, r => Assert.Equal(200, r.MaxIterations));
    }

    [Fact]
    public void SameSeed_SamePosteriors()
    {
        var m = KosTests.Load("face").Matrix;
        var a = new MMsr(new MMsrOptions { Seed = 5 }).Aggregate(m);
        var b = new MMsr(new MMsrOptions { Seed = 5 }).Aggregate(m);
        Assert.Equal(a.Posteriors.Values.ToArray(), b.Posteriors.Values.ToArray());
        Assert.Equal(a.WorkerSkills.ToArray(), b.WorkerSkills.ToArray());
    }

    /// <summary>Crowd-Kit's MMSR: duck 71.30%, dog 82.78%, face 63.01%; ours must be within one point.</summary>
    [Theory]
    [InlineData("duck", 71.30)]
    [InlineData("dog", 82.78)]
    [InlineData("face", 63.01)]
    public void Accuracy_OnBundledDatasets(string dataset, double crowdKit)
    {
        var (m, truth) = KosTests.Load(dataset);
        var r = new MMsr().Aggregate(m);
        TestData.AssertValidResult(r);
        double acc = Accuracy.Of(r.Labels.AsSpan(), truth).Value * 100;
        Assert.True(acc >= crowdKit - 1.0, $"MMSR {dataset} accuracy {acc:F2}% < {crowdKit - 1.0:F2}%");
    }

}
