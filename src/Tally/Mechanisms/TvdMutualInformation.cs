using System.Collections.Immutable;
using Tally.Core;

namespace Tally.Mechanisms;

/// <summary>Options of <see cref="TvdMutualInformation"/>.</summary>
public sealed record TvdMutualInformationOptions
{
    /// <summary>
    /// Peers are drawn only among agents sharing at least this many tasks with the paid agent; default 2, the fewest on
    /// which the estimate can be non-zero (on one task the empirical joint is its own product of marginals). The
    /// estimator's upward bias shrinks like 1/√m in the number m of shared tasks, so raise this on sparse data.
    /// </summary>
    public int MinSharedTasks { get; init; } = 2;
}

/// <summary>
/// Naive TVD mutual-information mechanism: agent i is paired with one peer j drawn uniformly from the agents sharing
/// enough tasks with it and paid the empirical termwise total-variation mutual information of their reports on the m
/// shared tasks, ½ Σ_{x,y} |P̃_ij(x, y) − P̃_i(x) P̃_j(y)|, with P̃_ij, P̃_i, P̃_j the empirical joint and marginals
/// over the same m tasks (no bonus/penalty split).
/// G. Schoenebeck, F.-Y. Yu et al., "Information elicitation from rowdy crowds", WWW 2021, Mechanism 1, eqs. (6)–(7)
/// (the estimator is their eq. (1)); it is ε-informed truthful with ε = Θ(α) against an α fraction of adversaries.
/// Computed as Σ |m·C(x, y) − R_i(x) R_j(y)| / (2m²) on the integer counts, so it is exact and invariant to relabelling.
/// Range [0, 1 − 1/K] (each row x contributes at most P̃_i(x)(1 − P̃_i(x))). Unlike CA and DMI the estimate is not
/// unbiased: independent reports score about √(2/π)·½Σ_{x,y} √(P_i(x)(1−P_i(x))P_j(y)(1−P_j(y))/m) in expectation,
/// ≤ K/(2√m) (0.4/√m for uniform binary reports); constant reports score exactly 0.
/// TasksScored = m, the tasks shared with the chosen peer; Breakdown: <c>peer</c> (index of the chosen peer, −1 if none).
/// </summary>
public sealed class TvdMutualInformation(TvdMutualInformationOptions? options = null) : IPeerPredictionMechanism
{
    /// <summary>The options in use.</summary>
    public TvdMutualInformationOptions Options { get; } = options ?? new TvdMutualInformationOptions();

    /// <inheritdoc />
    public string Name => "tvdmi";

    private sealed class Scratch(int workers, int maxDegree, int k)
    {
        public readonly int[] Shared = new int[workers];
        public readonly int[] Seen = new int[workers];
        public readonly int[] Touched = new int[workers];
        public readonly int[] Eligible = new int[workers];
        public readonly int[] Li = new int[maxDegree];
        public readonly int[] Lj = new int[maxDegree];
        public readonly int[] Tasks = new int[maxDegree];
        public readonly long[] Joint = new long[k * k];
        public readonly long[] Ri = new long[k];
        public readonly long[] Rj = new long[k];
    }

    /// <inheritdoc />
    public PaymentResult Pay(LabelMatrix reports, Random rng)
    {
        MechanismKernel.Check(reports, rng);
        ulong seed = AgentRng.BaseSeed(rng);
        int W = reports.WorkerCount, K = reports.ClassCount, minShared = Math.Max(1, Options.MinSharedTasks);
        int maxDeg = MechanismKernel.MaxWorkerDegree(reports);
        var pay = new double[W];
        var peerOut = new double[W];
        var scored = new int[W];
        long work = MechanismKernel.CoOccurrences(reports) + 2L * W * maxDeg;
        MechanismKernel.ForEachAgent(W, work, () => new Scratch(W, maxDeg, K), (i, s) =>
        {
            peerOut[i] = -1;
            var r = AgentRng.For(seed, (ulong)i);
            int nTouched = MechanismKernel.CountShared(reports, i, s.Shared, s.Seen, s.Touched);
            int nEligible = 0;
            for (int k = 0; k < nTouched; k++)
                if (s.Shared[s.Touched[k]] >= minShared) s.Eligible[nEligible++] = s.Touched[k];
            MechanismKernel.ResetShared(s.Shared, s.Seen, s.Touched.AsSpan(0, nTouched));
            if (nEligible == 0) return;
            // Sorted, so the draw depends only on who is eligible, not on the order the scan met them.
            Array.Sort(s.Eligible, 0, nEligible);
            int j = s.Eligible[r.Next(nEligible)];
            int m = MechanismKernel.SharedReports(reports, i, j, s.Li, s.Lj, s.Tasks);
            pay[i] = Estimate(s.Li.AsSpan(0, m), s.Lj.AsSpan(0, m), K, s.Joint, s.Ri, s.Rj);
            peerOut[i] = j;
            scored[i] = m;
        });
        return new PaymentResult
        {
            Mechanism = Name,
            Reports = reports,
            Payments = PaymentResult.Wrap(pay),
            TasksScored = PaymentResult.Wrap(scored),
            Range = new PaymentRange(0, K >= 1 ? 1 - 1.0 / K : 0),
            Breakdown = ImmutableDictionary<string, ImmutableArray<double>>.Empty.Add("peer", PaymentResult.Wrap(peerOut)),
        };
    }

    /// <summary>
    /// The empirical termwise TVD mutual information of paired reports (<paramref name="a"/>[s], <paramref name="b"/>[s]),
    /// eq. (1) of the paper; 0 for no pairs.
    /// </summary>
    internal static double Estimate(ReadOnlySpan<int> a, ReadOnlySpan<int> b, int k, long[] joint, long[] ra, long[] rb)
    {
        int m = a.Length;
        if (m == 0) return 0;
        Array.Clear(joint);
        Array.Clear(ra);
        Array.Clear(rb);
        for (int s = 0; s < m; s++) { joint[a[s] * k + b[s]]++; ra[a[s]]++; rb[b[s]]++; }
        // |m·C − R_a R_b| ≤ m², and the sum of the K² terms ≤ 2m² < 2⁶³ for any m below 2³¹.
        long sum = 0;
        for (int x = 0; x < k; x++)
            for (int y = 0; y < k; y++)
                sum += Math.Abs(m * joint[x * k + y] - ra[x] * rb[y]);
        return sum / (2.0 * m * m);
    }
}
