using System.Collections.Immutable;
using Tally.Core;

namespace Tally.Mechanisms;

/// <summary>Options of <see cref="Dmi"/>.</summary>
public sealed record DmiOptions
{
    /// <summary>
    /// Most peers each agent is paired with, drawn uniformly from the eligible ones; 0 (default) = every agent sharing
    /// at least 2K tasks. Each pair costs O(shared tasks + K³), so cap it for crowds of thousands of agents.
    /// </summary>
    public int MaxPeers { get; init; }
}

/// <summary>
/// Determinant-based Mutual Information mechanism: for a pair of agents (i, j), their shared tasks are split uniformly at
/// random into two disjoint halves, M1 and M2 are the K×K count matrices of (r_i, r_j) on each half, and the pair is
/// worth det(M1)·det(M2) / (K!² · C(n1, K) · C(n2, K)) for halves of n1 and n2 tasks. Each agent is paired with every
/// other agent sharing at least 2K tasks (or <see cref="DmiOptions.MaxPeers"/> of them) and paid the mean over its pairs.
/// Y. Kong, "Dominantly truthful multi-task peer prediction with a constant number of tasks", SODA 2020 (the
/// DMI-Mechanism; DMI(X; Y) = |det U_XY| for the joint distribution matrix U).
/// Normalisation: K!·C(n, K) = n(n−1)…(n−K+1) and E[det M] = n(n−1)…(n−K+1)·det U for n i.i.d. pairs (only products
/// of K distinct tasks survive in the Leibniz expansion), so with independent halves the pair value is an
/// <em>unbiased</em> estimate of det(U)² = DMI² whatever the number of shared tasks — exactly 0 in expectation for any
/// uninformed strategy (U then has rank 1), and det(Γᵀ diag(w) Γ)² for two truthful agents of a Dawid-Skene crowd.
/// Range: |det M| ≤ Π(row sums) ≤ (n/K)^K (Hadamard, then AM-GM), and (n/K)^K / (K!·C(n, K)) is largest at n = K, where
/// it is 1/K!; so each half lies in [−1/K!, 1/K!] and a pair in [−1/K!², 1/K!²] (attained by permutation matrices).
/// Relabelling classes permutes rows and columns of both matrices alike, leaving the product unchanged, and a pair's
/// split is drawn from a stream of that pair, so both agents of a pair see the same value; with all peers used each
/// pair is evaluated once and credited to both agents.
/// With K = 1 nothing can be elicited (det of a 1×1 count matrix is always n): every agent is unscored.
/// TasksScored = distinct tasks shared with at least one scored peer; Breakdown: <c>peers</c> (number of scored pairs).
/// </summary>
public sealed class Dmi(DmiOptions? options = null) : IPeerPredictionMechanism
{
    /// <summary>The options in use.</summary>
    public DmiOptions Options { get; } = options ?? new DmiOptions();

    /// <inheritdoc />
    public string Name => "dmi";

    private sealed class Scratch(int workers, int tasks, int maxDegree, int k)
    {
        public readonly int[] Shared = new int[workers];
        public readonly int[] Seen = new int[workers];
        public readonly int[] Touched = new int[workers];
        public readonly int[] Eligible = new int[workers];
        public readonly int[] Li = new int[maxDegree];
        public readonly int[] Lj = new int[maxDegree];
        public readonly int[] SharedTasks = new int[maxDegree];
        public readonly int[] Mark = new int[tasks];
        public int Stamp, ScoredStamp = -1, Scored;
        public readonly long[] M1 = new long[k * k];
        public readonly long[] M2 = new long[k * k];
        public readonly double[] Lu = new double[k * k];
    }

    /// <inheritdoc />
    public PaymentResult Pay(LabelMatrix reports, Random rng)
    {
        MechanismKernel.Check(reports, rng);
        if (Options.MaxPeers < 0) throw new ArgumentOutOfRangeException(nameof(DmiOptions.MaxPeers), "MaxPeers must be ≥ 0.");
        ulong seed = AgentRng.BaseSeed(rng);
        int W = reports.WorkerCount, T = reports.TaskCount, K = reports.ClassCount;
        var pay = new double[W];
        var peersOut = new double[W];
        var scored = new int[W];
        double bound = 1.0;
        for (int f = 2; f <= K; f++) bound /= f;
        bound *= bound;
        if (K >= 2)
        {
            int maxDeg = MechanismKernel.MaxWorkerDegree(reports);
            int maxPeers = Options.MaxPeers;
            long peersPerAgent = maxPeers > 0 ? Math.Min(maxPeers, W) : W;
            long work = (long)W * peersPerAgent * (2L * maxDeg + K * K * K) + MechanismKernel.CoOccurrences(reports);
            // With every eligible peer used (MaxPeers = 0) the pair relation is symmetric, so each pair is evaluated
            // once, by its lower-indexed agent, and credited to both in a sequential pass (deterministic order).
            bool symmetric = maxPeers == 0;
            var pairPeers = symmetric ? new int[W][] : null;
            var pairValues = symmetric ? new double[W][] : null;
            MechanismKernel.ForEachAgent(W, symmetric ? work / 2 : work, () => new Scratch(W, T, maxDeg, K), (i, s) =>
            {
                var r = AgentRng.For(seed, (ulong)i);
                int nTouched = MechanismKernel.CountShared(reports, i, s.Shared, s.Seen, s.Touched);
                int nEligible = 0;
                for (int k = 0; k < nTouched; k++)
                    if (s.Shared[s.Touched[k]] >= 2 * K) s.Eligible[nEligible++] = s.Touched[k];
                int tasksScored = 0;
                if (symmetric && nEligible > 0)
                {
                    // Tasks shared with at least one eligible peer, read off the co-worker counts.
                    int prev = -1;
                    foreach (int t in reports.TasksOf(i))
                    {
                        if (t == prev) continue;
                        prev = t;
                        foreach (int w in reports.WorkersOf(t))
                            if (w != i && s.Shared[w] >= 2 * K) { tasksScored++; break; }
                    }
                }
                MechanismKernel.ResetShared(s.Shared, s.Seen, s.Touched.AsSpan(0, nTouched));
                if (nEligible == 0) return;
                // Sorted, so the subset drawn below depends only on who is eligible, not on the scan order.
                Array.Sort(s.Eligible, 0, nEligible);
                if (symmetric)
                {
                    int first = 0;
                    while (first < nEligible && s.Eligible[first] < i) first++;
                    var peers = s.Eligible.AsSpan(first, nEligible - first).ToArray();
                    var values = new double[peers.Length];
                    for (int k = 0; k < peers.Length; k++) values[k] = Evaluate(reports, i, peers[k], seed, K, s, -1);
                    pairPeers![i] = peers;
                    pairValues![i] = values;
                    scored[i] = tasksScored;
                    return;
                }
                int nPeers = nEligible;
                if (nEligible > maxPeers)
                {
                    for (int k = 0; k < maxPeers; k++)
                    {
                        int m = k + r.Next(nEligible - k);
                        (s.Eligible[k], s.Eligible[m]) = (s.Eligible[m], s.Eligible[k]);
                    }
                    nPeers = maxPeers;
                }
                int stamp = ++s.Stamp;
                double sum = 0;
                for (int k = 0; k < nPeers; k++) sum += Evaluate(reports, i, s.Eligible[k], seed, K, s, stamp);
                pay[i] = sum / nPeers;
                peersOut[i] = nPeers;
                scored[i] = s.Scored;
            });
            if (symmetric)
            {
                for (int i = 0; i < W; i++)
                {
                    if (pairPeers![i] is not { } peers) continue;
                    var values = pairValues![i];
                    for (int k = 0; k < peers.Length; k++)
                    {
                        pay[i] += values[k]; peersOut[i]++;
                        pay[peers[k]] += values[k]; peersOut[peers[k]]++;
                    }
                }
                for (int i = 0; i < W; i++)
                    if (peersOut[i] > 0) pay[i] /= peersOut[i];
                    else scored[i] = 0;
            }
        }
        return new PaymentResult
        {
            Mechanism = Name,
            Reports = reports,
            Payments = PaymentResult.Wrap(pay),
            TasksScored = PaymentResult.Wrap(scored),
            Range = K >= 2 ? new PaymentRange(-bound, bound) : new PaymentRange(0, 0),
            Breakdown = ImmutableDictionary<string, ImmutableArray<double>>.Empty.Add("peers", PaymentResult.Wrap(peersOut)),
        };
    }

    /// <summary>
    /// The value of pair (i, j): shared reports, split uniformly at random by the pair's own stream (so i and j get the
    /// same value), then <see cref="PairValue"/>. With <paramref name="stamp"/> ≥ 0, newly met shared tasks are marked
    /// and counted in <c>s.Scored</c> (reset when the stamp is new).
    /// </summary>
    private static double Evaluate(LabelMatrix reports, int i, int j, ulong seed, int k, Scratch s, int stamp)
    {
        int n = MechanismKernel.SharedReports(reports, i, j, s.Li, s.Lj, s.SharedTasks);
        if (stamp >= 0)
        {
            if (s.ScoredStamp != stamp) { s.ScoredStamp = stamp; s.Scored = 0; }
            for (int q = 0; q < n; q++)
                if (s.Mark[s.SharedTasks[q]] != stamp) { s.Mark[s.SharedTasks[q]] = stamp; s.Scored++; }
        }
        var pr = AgentRng.ForPair(seed, i, j);
        for (int q = n - 1; q > 0; q--)
        {
            int m = pr.Next(q + 1);
            (s.Li[q], s.Li[m]) = (s.Li[m], s.Li[q]);
            (s.Lj[q], s.Lj[m]) = (s.Lj[m], s.Lj[q]);
        }
        // Evaluated from j's side the count matrices would be the transposes: same determinants, same value.
        return PairValue(s.Li.AsSpan(0, n), s.Lj.AsSpan(0, n), n / 2, k, s.M1, s.M2, s.Lu);
    }

    /// <summary>
    /// The normalised DMI pair value det(M1)·det(M2) / (n1^(K)·n2^(K)) (falling factorials), where M1 counts the pairs
    /// (a[q], b[q]) for q &lt; <paramref name="half"/> and M2 the rest. Both halves must hold at least K pairs.
    /// </summary>
    internal static double PairValue(ReadOnlySpan<int> a, ReadOnlySpan<int> b, int half, int k,
        long[] m1, long[] m2, double[] lu)
    {
        int n = a.Length, n2 = n - half;
        if (half < k || n2 < k) throw new ArgumentException($"Each half needs at least K = {k} tasks.");
        Array.Clear(m1);
        Array.Clear(m2);
        for (int q = 0; q < half; q++) m1[a[q] * k + b[q]]++;
        for (int q = half; q < n; q++) m2[a[q] * k + b[q]]++;
        return Determinant(m1, k, lu) / FallingFactorial(half, k) * (Determinant(m2, k, lu) / FallingFactorial(n2, k));
    }

    private static double FallingFactorial(int n, int k)
    {
        double f = 1;
        for (int q = 0; q < k; q++) f *= n - q;
        return f;
    }

    /// <summary>
    /// Determinant of a K×K count matrix: exact integer arithmetic for K ≤ 2 (so small cases and relabellings agree
    /// bit for bit), Gaussian elimination with partial pivoting beyond.
    /// </summary>
    internal static double Determinant(long[] m, int k, double[] lu)
    {
        if (k == 1) return m[0];
        if (k == 2) return (double)((Int128)m[0] * m[3] - (Int128)m[1] * m[2]);
        for (int q = 0; q < k * k; q++) lu[q] = m[q];
        double det = 1;
        for (int c = 0; c < k; c++)
        {
            int piv = c;
            double best = Math.Abs(lu[c * k + c]);
            for (int rIdx = c + 1; rIdx < k; rIdx++)
            {
                double v = Math.Abs(lu[rIdx * k + c]);
                if (v > best) { best = v; piv = rIdx; }
            }
            if (best == 0) return 0;
            if (piv != c)
            {
                for (int q = 0; q < k; q++) (lu[c * k + q], lu[piv * k + q]) = (lu[piv * k + q], lu[c * k + q]);
                det = -det;
            }
            double d = lu[c * k + c];
            det *= d;
            for (int rIdx = c + 1; rIdx < k; rIdx++)
            {
                double f = lu[rIdx * k + c] / d;
                if (f == 0) continue;
                for (int q = c; q < k; q++) lu[rIdx * k + q] -= f * lu[c * k + q];
            }
        }
        return det;
    }
}
