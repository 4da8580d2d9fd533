using System.Collections.Immutable;
using Tally.Core;

namespace Tally.Mechanisms;

/// <summary>Options of <see cref="Dmi"/>.</summary>
public sealed record DmiOptions : MechanismOptions
{
    /// <summary>
    /// Most peers each agent is paired with, drawn uniformly from the eligible ones; 0 (default) = every agent sharing
    /// at least 2K tasks. Each pair costs O(shared tasks + K³), so cap it for crowds of thousands of agents.
    /// </summary>
    public int MaxPeers { get; init; }

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        Check.AtLeast(MaxPeers, 0, nameof(MaxPeers));
    }

    /// <inheritdoc />
    public override IPeerPredictionMechanism CreateMechanism() => new Dmi(this);
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
/// Under <see cref="Reform"/>: each peer slot is a pairing, and a pair "did not match" when its value is ≤ 0, what any
/// uninformed pair earns in expectation (DMI is exactly 0 then). A slot's new peer is drawn uniformly among the eligible
/// agents not yet paired with the agent; the slot pays its last pair's value. With every eligible peer already used
/// (<see cref="DmiOptions.MaxPeers"/> = 0, the default, or MaxPeers ≥ the eligible count) no untried peer is left, so
/// REFORM never re-pairs and pays as DMI does. No per-report reward: β(t) scales the whole payment.
/// </summary>
public sealed class Dmi(DmiOptions? options = null) : PeerPredictionMechanism<DmiOptions>(options ?? new DmiOptions())
{
    /// <inheritdoc />
    public override string Name => "dmi";

    private protected override bool PaysPerReport => false;

    /// <inheritdoc />
    private protected override PaymentResult Pay(LabelMatrix reports, Pairing? pairing, ComputeOptions? compute,
        IProgress<WorkProgress>? progress, CancellationToken cancellationToken)
    {
        MechanismKernel.Check(reports, Options, compute, Name);
        ulong seed = Seeding.Base(Options.Seed);
        int W = reports.WorkerCount, K = reports.ClassCount;
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
            PairScratch.ForEachAgentsPeers(reports, 2 * K, symmetric, symmetric ? work / 2 : work, compute, progress, cancellationToken,
                (i, s, nEligible, tasksShared) =>
            {
                if (nEligible == 0) return;
                if (symmetric)
                {
                    int first = 0;
                    while (first < nEligible && s.Eligible[first] < i) first++;
                    var peers = s.Eligible.AsSpan(first, nEligible - first).ToArray();
                    var values = new double[peers.Length];
                    for (int q = 0; q < peers.Length; q++) values[q] = Evaluate(reports, i, peers[q], seed, K, s);
                    pairPeers![i] = peers;
                    pairValues![i] = values;
                    scored[i] = tasksShared;
                    return;
                }
                var r = SplitMix64.For(seed, (ulong)i);
                int nPeers = nEligible;
                if (nEligible > maxPeers)
                {
                    for (int q = 0; q < maxPeers; q++)
                    {
                        int m = q + r.Next(nEligible - q);
                        (s.Eligible[q], s.Eligible[m]) = (s.Eligible[m], s.Eligible[q]);
                    }
                    nPeers = maxPeers;
                }
                int stamp = ++s.Stamp, tasksScored = 0;
                // Eligible[nPeers..) are the peers not yet paired with i: REFORM's new peers come from there.
                int untried = nPeers;
                double sum = 0;
                for (int q = 0; q < nPeers; q++)
                {
                    int j = s.Eligible[q];
                    double v = Evaluate(reports, i, j, seed, K, s);
                    if (pairing is not null)
                    {
                        pairing.Paired(i, j);
                        int chances = 1;
                        while (v <= 0 && untried < nEligible && pairing.MayPairAgain(i, j, chances))
                        {
                            int m = untried + r.Next(nEligible - untried);
                            (s.Eligible[untried], s.Eligible[m]) = (s.Eligible[m], s.Eligible[untried]);
                            j = s.Eligible[untried++];
                            v = Evaluate(reports, i, j, seed, K, s);
                            chances++;
                            pairing.Paired(i, j, again: true);
                        }
                    }
                    // The shared tasks of the slot's last pair are still in s.Tasks.
                    for (int t = 0; t < s.LastShared; t++)
                        if (s.TaskMark[s.Tasks[t]] != stamp) { s.TaskMark[s.Tasks[t]] = stamp; tasksScored++; }
                    sum += v;
                }
                pay[i] = sum / nPeers;
                peersOut[i] = nPeers;
                scored[i] = tasksScored;
            });
            if (symmetric)
            {
                for (int i = 0; i < W; i++)
                {
                    if (pairPeers![i] is not { } peers) continue;
                    var values = pairValues![i];
                    for (int q = 0; q < peers.Length; q++)
                    {
                        pay[i] += values[q]; peersOut[i]++;
                        pay[peers[q]] += values[q]; peersOut[peers[q]]++;
                    }
                }
                for (int i = 0; i < W; i++)
                    if (peersOut[i] > 0) pay[i] /= peersOut[i];
                    else scored[i] = 0;
                if (pairing is not null)
                {
                    // Every eligible pair, once each way; a peer list comes out in worker order.
                    for (int i = 0; i < W; i++)
                        if (pairPeers![i] is { } peers)
                            foreach (int j in peers) { pairing.Paired(i, j); pairing.Paired(j, i); }
                }
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
    /// The value of pair (i, j): shared reports (left in the scratch, their number in <see cref="PairScratch.LastShared"/>),
    /// split uniformly at random by the pair's own stream (so i and j get the same value), then <see cref="PairValue"/>.
    /// </summary>
    private static double Evaluate(LabelMatrix reports, int i, int j, ulong seed, int k, PairScratch s)
    {
        int n = s.PairsWith(reports, i, j);
        var pr = SplitMix64.ForPair(seed, i, j);
        for (int q = n - 1; q > 0; q--)
        {
            int m = pr.Next(q + 1);
            (s.Li[q], s.Li[m]) = (s.Li[m], s.Li[q]);
            (s.Lj[q], s.Lj[m]) = (s.Lj[m], s.Lj[q]);
        }
        // Evaluated from j's side the count matrices would be the transposes: same determinants, same value.
        return PairValue(s.Li.AsSpan(0, n), s.Lj.AsSpan(0, n), n / 2, k, s.Joint, s.Joint2, s.Lu);
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
