using System.Collections.Immutable;
using Tally.Core;

namespace Tally.Mechanisms;

/// <summary>Options of <see cref="TvdMutualInformation"/>.</summary>
public sealed record TvdMutualInformationOptions : MechanismOptions
{
    /// <summary>
    /// Peers are drawn only among agents sharing at least this many tasks with the paid agent; default 2, the fewest on
    /// which the estimate can be non-zero (on one task the empirical joint is its own product of marginals). The
    /// estimator's upward bias shrinks like 1/√m in the number m of shared tasks, so raise this on sparse data.
    /// </summary>
    public int MinSharedTasks { get; init; } = 2;

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        Check.AtLeast(MinSharedTasks, 1, nameof(MinSharedTasks));
    }

    /// <inheritdoc />
    public override IPeerPredictionMechanism CreateMechanism() => new TvdMutualInformation(this);
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
/// Under <see cref="Reform"/>: the pair is what is paired, so a pair "did not match" when it scored no more than an
/// uninformed pair would in expectation — <see cref="UninformedExpectation"/>, the mean of the estimate over every
/// matching of j's reports to i's shared tasks (independent reports with the same frequencies: the estimator's bias,
/// exactly 0 when either agent is constant). A new peer is drawn uniformly among the eligible agents not yet tried;
/// the payment is the last pair's estimate. No per-report reward: β(t) scales the whole payment (see <see cref="Reform"/>).
/// </summary>
public sealed class TvdMutualInformation(TvdMutualInformationOptions? options = null) : PeerPredictionMechanism<TvdMutualInformationOptions>(options ?? new TvdMutualInformationOptions())
{
    /// <inheritdoc />
    public override string Name => "tvdmi";

    private protected override bool PaysPerReport => false;

    /// <inheritdoc />
    private protected override PaymentResult Pay(LabelMatrix reports, Pairing? pairing, ComputeOptions? compute,
        IProgress<WorkProgress>? progress, CancellationToken cancellationToken)
    {
        MechanismKernel.Check(reports, Options, compute, Name);
        ulong seed = Seeding.Base(Options.Seed);
        int W = reports.WorkerCount, K = reports.ClassCount, minShared = Options.MinSharedTasks;
        int maxDeg = MechanismKernel.MaxWorkerDegree(reports);
        var pay = new double[W];
        var peerOut = new double[W];
        var scored = new int[W];
        long work = MechanismKernel.CoOccurrences(reports) + 2L * W * maxDeg;
        PairScratch.ForEachAgentsPeers(reports, minShared, false, work, compute, progress, cancellationToken, (i, s, nEligible, _) =>
        {
            peerOut[i] = -1;
            if (nEligible == 0) return;
            var r = SplitMix64.For(seed, (ulong)i);
            int pick = r.Next(nEligible);
            int j = s.Eligible[pick];
            int m = s.PairsWith(reports, i, j);
            double v = Estimate(s.Li.AsSpan(0, m), s.Lj.AsSpan(0, m), K, s.Joint, s.Ri, s.Rj);
            if (pairing is not null)
            {
                pairing.Paired(i, j);
                // Tried peers are moved to the front of the eligible list, so untried ones are a suffix to draw from.
                (s.Eligible[0], s.Eligible[pick]) = (s.Eligible[pick], s.Eligible[0]);
                int chances = 1;
                while (chances < nEligible && pairing.MayPairAgain(i, j, chances) && v <= UninformedExpectation(s.Ri, s.Rj, m, K))
                {
                    pick = chances + r.Next(nEligible - chances);
                    (s.Eligible[chances], s.Eligible[pick]) = (s.Eligible[pick], s.Eligible[chances]);
                    j = s.Eligible[chances++];
                    m = s.PairsWith(reports, i, j);
                    v = Estimate(s.Li.AsSpan(0, m), s.Lj.AsSpan(0, m), K, s.Joint, s.Ri, s.Rj);
                    pairing.Paired(i, j, again: true);
                }
            }
            pay[i] = v;
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
    /// eq. (1) of the paper; 0 for no pairs. Leaves the two report counts in <paramref name="ra"/> and <paramref name="rb"/>.
    /// </summary>
    internal static double Estimate(ReadOnlySpan<int> a, ReadOnlySpan<int> b, int k, long[] joint, long[] ra, long[] rb)
    {
        int m = a.Length;
        Array.Clear(joint);
        Array.Clear(ra);
        Array.Clear(rb);
        if (m == 0) return 0;
        for (int s = 0; s < m; s++) { joint[a[s] * k + b[s]]++; ra[a[s]]++; rb[b[s]]++; }
        // |m·C − R_a R_b| ≤ m², and the sum of the K² terms ≤ 2m² < 2⁶³ for any m below 2³¹.
        long sum = 0;
        for (int x = 0; x < k; x++)
            for (int y = 0; y < k; y++)
                sum += Math.Abs(m * joint[x * k + y] - ra[x] * rb[y]);
        return sum / (2.0 * m * m);
    }

    /// <summary>
    /// The expected <see cref="Estimate"/> of an uninformed pair with the report counts <paramref name="ra"/> and
    /// <paramref name="rb"/> over <paramref name="m"/> tasks: the mean over all m! matchings of b's reports to a's tasks
    /// (the permutation null, which keeps both agents' frequencies). Under it each cell count C(x, y) is
    /// hypergeometric — R_b(y) successes among m, R_a(x) draws — so the value is Σ_{x,y} E|m·C − R_a(x) R_b(y)| / (2m²),
    /// exact up to rounding (pmf by its term ratio from the lower end, O(K·m) in all).
    /// </summary>
    internal static double UninformedExpectation(ReadOnlySpan<long> ra, ReadOnlySpan<long> rb, int m, int k)
    {
        if (m == 0) return 0;
        double sum = 0;
        for (int x = 0; x < k; x++)
        {
            long n = ra[x];
            if (n == 0) continue;
            for (int y = 0; y < k; y++)
            {
                long s = rb[y];
                if (s == 0) continue;
                long lo = Math.Max(0, n + s - m), hi = Math.Min(n, s);
                double expect = (double)n * s;
                // P(C = lo) = C(s, lo) C(m − s, n − lo) / C(m, n), then P(c + 1)/P(c) = (n − c)(s − c) / ((c + 1)(m − n − s + c + 1)).
                double logP = LogChoose(s, lo) + LogChoose(m - s, n - lo) - LogChoose(m, n);
                double pmf = Math.Exp(logP), e = 0;
                for (long c = lo; c <= hi; c++)
                {
                    e += pmf * Math.Abs(m * c - expect);
                    pmf *= (double)(n - c) * (s - c) / ((c + 1.0) * (m - n - s + c + 1.0));
                }
                sum += e;
            }
        }
        return sum / (2.0 * m * m);
    }

    /// <summary>ln C(n, r).</summary>
    private static double LogChoose(long n, long r) =>
        MathNet.Numerics.SpecialFunctions.FactorialLn((int)n) - MathNet.Numerics.SpecialFunctions.FactorialLn((int)r)
        - MathNet.Numerics.SpecialFunctions.FactorialLn((int)(n - r));
}
