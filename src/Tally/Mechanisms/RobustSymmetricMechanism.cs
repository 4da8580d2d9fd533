using System.Collections.Immutable;
using Tally.Core;
using Tally.Robust;

namespace Tally.Mechanisms;

/// <summary>Options of <see cref="RobustSymmetricMechanism"/>.</summary>
public sealed record RobustSymmetricOptions : MechanismOptions
{
    /// <summary>β, the bound on the fraction of adversarial batches given to the batch learner, in (0, 1/2). Default 0.1.</summary>
    public double AdversaryFraction { get; init; } = 0.1;

    /// <summary>
    /// C of the batch learner's stopping threshold (<see cref="RobustBatchOptions.ThresholdConstant"/>). Default 0.3.
    /// Measured (60 dense agents, K = 2, accuracy 0.8, 10% adversaries reporting a shared coin independent of the truth,
    /// honest mean payment change): m = 1,200 (K_b = 20): −9.9% / −8.5% / −8.1% at C = 0.3 / 0.1 / 0.03 (the naive
    /// TVD-MI: −9.0%); m = 4,000 (K_b = 67): −6.6% / −4.6% / −3.5%. Constant adversaries: ≤ 0.2% at any C.
    /// </summary>
    public double ThresholdConstant { get; init; } = 0.3;

    /// <summary>
    /// An agent whose batch capacity K_b = ⌊m_i / |W_i|⌋ is below this is unscored (payment 0). Default 1, the paper's
    /// requirement m ≥ n − 1; the learner's guarantee is O(β/√K_b), so larger values trade coverage for accuracy.
    /// </summary>
    public int MinBatchSize { get; init; } = 1;

    /// <summary>
    /// Subsampling for small m (the remark after Theorem 5.3): if positive and below the number of agents with any
    /// report, only this many agents, drawn uniformly, take part — they are paid among themselves (peers are drawn
    /// only from the subsample, so K_b = ⌊m/(n₀ − 1)⌋) and every other agent is unscored with payment 0. Default 0 = off.
    /// </summary>
    public int SubsampleAgents { get; init; }

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        new RobustBatchOptions { AdversaryFraction = AdversaryFraction, ThresholdConstant = ThresholdConstant }.Validate();
        Check.AtLeast(MinBatchSize, 1, nameof(MinBatchSize));
        Check.AtLeast(SubsampleAgents, 0, nameof(SubsampleAgents));
    }

    /// <inheritdoc />
    public override IPeerPredictionMechanism CreateMechanism() => new RobustSymmetricMechanism(this);
}

/// <summary>
/// Robust TVD mutual-information mechanism for symmetric priors (paper's Mechanism 2). For agent i with W_i the other
/// agents (those sharing at least one task with i; every other agent on dense data) and m_i its tasks, the capacity is
/// K_b = ⌊m_i / |W_i|⌋; i's tasks are visited once each in random order and task s adds the pair (x̂_i,s, x̂_j,s) to
/// the batch Z_j of a peer j drawn uniformly among the agents of W_i that answered s and whose batch holds fewer than
/// K_b pairs (the task is skipped if there is none), so every pair uses a fresh task. The robust batch learner
/// (<see cref="RobustBatchDistributionEstimator"/>, the paper's L^batch) runs on the |W_i| batches over X² and returns
/// Q̃_i; the payment is eq. (8), L_i = ½ Σ_{x,y} |Q̃_i(x, y) − R̃_i(x, y)| with R̃_i(x, y) = Σ_z Q̃_i(x, z) · Σ_w Q̃_i(w, y),
/// the TVD between Q̃_i and the product of its own marginals. Nothing is held out: as in eq. (8) the payment is a
/// function of Q̃_i alone.
/// G. Schoenebeck, F.-Y. Yu et al., "Information elicitation from rowdy crowds", WWW 2021, Mechanism 2, eq. (8),
/// Theorem 5.3 (asymptotically informed truthful for symmetric profiles while α is below the learner's breakdown).
/// Interpretations for sparse data (the paper assumes every agent answers every task): W_i is restricted to co-workers
/// and peers to those who answered s, so batches of peers who share few tasks with i may stay below K_b (the learner
/// accepts unequal batch sizes). Subsampling (<see cref="RobustSymmetricOptions.SubsampleAgents"/>) follows the remark
/// after Theorem 5.3. Range [0, 1 − 1/K] (the bound of the empirical TVD-MI holds for any joint distribution).
/// TasksScored = pairs used (Σ_j |Z_j|); Breakdown: <c>batches</c> (|W_i|), <c>capacity</c> (K_b), <c>retained</c>
/// (share of the batches' weight the learner kept).
/// Cost: O(reports · co-workers-per-task-pick + n · filter(n − 1 batches, K²)); measured 8–22 s (Release, 2 cores)
/// for 1,000 dense agents × 10,000 tasks, K = 2.
/// Under <see cref="Reform"/>: each visited task is a pairing, and it "did not match" when i's report differs from the
/// drawn peer's; a new peer is drawn among the task's other participants whose batch is not full and who were not yet
/// tried for this task, and the pair goes into the batch of the last peer. Eq. (8) is not a sum of per-report rewards,
/// so β(t) scales the whole payment.
/// </summary>
public sealed class RobustSymmetricMechanism(RobustSymmetricOptions? options = null) : PeerPredictionMechanism<RobustSymmetricOptions>(options ?? new RobustSymmetricOptions())
{
    /// <inheritdoc />
    public override string Name => "rmif-symmetric";

    private protected override bool PaysPerReport => false;

    private sealed class Scratch(int workers, int k, Pairing? pairing)
    {
        public readonly TriedPeers Tried = new(pairing, workers);
        public readonly int[] Shared = new int[workers];
        public readonly int[] Seen = new int[workers];
        public readonly int[] Touched = new int[workers];
        public readonly int[] BatchOf = CreateFilled(workers);
        public readonly int[] Fill = new int[workers];
        public readonly double[] Q = new double[MemoryBudget.Length(k, k)];
        public readonly double[] Row = new double[k];
        public readonly double[] Col = new double[k];
        public int[] Order = new int[16];
        public double[] Counts = new double[16];

        private static int[] CreateFilled(int n)
        {
            var a = new int[n];
            Array.Fill(a, -1);
            return a;
        }
    }

    /// <inheritdoc />
    private protected override PaymentResult Pay(LabelMatrix reports, Pairing? pairing, ComputeOptions? compute,
        IProgress<WorkProgress>? progress, CancellationToken cancellationToken)
    {
        MechanismKernel.Check(reports, Options, compute, Name);
        var o = Options;
        var batchOptions = new RobustBatchOptions { AdversaryFraction = o.AdversaryFraction, ThresholdConstant = o.ThresholdConstant };
        ulong seed = Seeding.Base(o.Seed);
        int W = reports.WorkerCount, K = reports.ClassCount, minBatch = o.MinBatchSize;
        // Per agent (one per thread at a time) the batch learner works on a K² frequency vector per peer and on the
        // K² × K² second moment of those vectors with its eigendecomposition.
        {
            double k2 = (double)K * K;
            int threads = (compute ?? ComputeOptions.Default).Threads;
            MemoryBudget.Require(Name, threads * (2 * Footprint.Doubles(W * k2) + 5 * Footprint.Doubles(k2 * k2)),
                $"K² × K² robust moment matrices for K = {K:N0}, per thread",
                $"with {K:N0} classes use a mechanism whose tables grow with K² only: ca, dmi, tvd-mi, oa, dg or rptsc", compute);
        }
        int d = K * K;
        var pay = new double[W];
        var scored = new int[W];
        var batchesOut = new double[W];
        var capacityOut = new double[W];
        var retainedOut = new double[W];

        // Participants: everybody, or a uniform subsample of the agents with reports (remark after Theorem 5.3).
        var participates = new bool[W];
        int active = 0;
        for (int w = 0; w < W; w++) if (reports.WorkerDegree(w) > 0) { participates[w] = true; active++; }
        if (o.SubsampleAgents > 0 && o.SubsampleAgents < active)
        {
            var pool = new int[active];
            int p = 0;
            for (int w = 0; w < W; w++) if (participates[w]) pool[p++] = w;
            var r = SplitMix64.For(seed, ulong.MaxValue);
            for (int a = 0; a < o.SubsampleAgents; a++)
            {
                int b = a + r.Next(active - a);
                (pool[a], pool[b]) = (pool[b], pool[a]);
            }
            Array.Clear(participates);
            for (int a = 0; a < o.SubsampleAgents; a++) participates[pool[a]] = true;
        }

        long work = MechanismKernel.CoOccurrences(reports) * 4 + (long)W * W * d;
        MechanismKernel.ForEachAgent(W, work, compute, progress, cancellationToken, () => new Scratch(W, K, pairing), (i, s) =>
        {
            if (!participates[i] || K < 1) return;
            var r = SplitMix64.For(seed, (ulong)i);
            int nTouched = MechanismKernel.CountShared(reports, i, s.Shared, s.Seen, s.Touched);
            MechanismKernel.ResetShared(s.Shared, s.Seen, s.Touched.AsSpan(0, nTouched));
            int nPeers = 0;
            for (int a = 0; a < nTouched; a++)
                if (participates[s.Touched[a]]) s.Touched[nPeers++] = s.Touched[a];
            var tasks = reports.TasksOf(i);
            var labels = reports.LabelsBy(i);
            int mi = DistinctCount(tasks);
            if (nPeers == 0) return;
            int capacity = mi / nPeers;
            if (capacity < minBatch) return;
            // Batch index by peer, in worker order so the draw depends only on who the peers are.
            Array.Sort(s.Touched, 0, nPeers);
            for (int a = 0; a < nPeers; a++) { s.BatchOf[s.Touched[a]] = a; s.Fill[a] = 0; }
            if (s.Counts.Length < nPeers * d) s.Counts = new double[Math.Max(nPeers * d, 2 * s.Counts.Length)];
            var counts = s.Counts.AsSpan(0, nPeers * d);
            counts.Clear();
            // Visit i's tasks (first answer of each) in a random order.
            if (s.Order.Length < tasks.Length) s.Order = new int[Math.Max(tasks.Length, 2 * s.Order.Length)];
            int nt = 0;
            for (int p = 0; p < tasks.Length; p++) if (p == 0 || tasks[p] != tasks[p - 1]) s.Order[nt++] = p;
            for (int p = nt - 1; p > 0; p--)
            {
                int q = r.Next(p + 1);
                (s.Order[p], s.Order[q]) = (s.Order[q], s.Order[p]);
            }
            int nonFull = nPeers, pairs = 0;
            for (int v = 0; v < nt && nonFull > 0; v++)
            {
                int pos = s.Order[v], task = tasks[pos];
                int answer = PickPeerAnswer(reports, task, i, s.BatchOf, s.Fill, capacity, ref r);
                if (answer < 0) continue;
                if (pairing is not null)
                {
                    int peer = reports.TaskWorkers[answer], chances = 1;
                    s.Tried.Clear();
                    s.Tried.Add(peer);
                    pairing.Paired(i, peer);
                    while (reports.TaskLabels[answer] != labels[pos] && pairing.MayPairAgain(i, peer, chances))
                    {
                        int next = PickUntriedPeerAnswer(reports, task, i, s.BatchOf, s.Fill, capacity, s.Tried, ref r);
                        if (next < 0) break;
                        answer = next;
                        peer = reports.TaskWorkers[answer];
                        chances++;
                        s.Tried.Add(peer);
                        pairing.Paired(i, peer, again: true);
                    }
                }
                int b = s.BatchOf[reports.TaskWorkers[answer]];
                counts[b * d + labels[pos] * K + reports.TaskLabels[answer]]++;
                if (++s.Fill[b] == capacity) nonFull--;
                pairs++;
            }
            for (int a = 0; a < nPeers; a++) s.BatchOf[s.Touched[a]] = -1;
            if (pairs == 0) { pairing?.Discard(i); return; }
            var est = new RobustBatchDistributionEstimator(batchOptions).Estimate(counts, nPeers, d);
            for (int c = 0; c < d; c++) s.Q[c] = est.Distribution[c];
            pay[i] = TvdFromProduct(s.Q, K, s.Row, s.Col);
            scored[i] = pairs;
            batchesOut[i] = nPeers;
            capacityOut[i] = capacity;
            double kept = 0, nonEmpty = 0;
            for (int a = 0; a < nPeers; a++)
                if (s.Fill[a] > 0) { nonEmpty++; kept += est.BatchWeights[a]; }
            retainedOut[i] = nonEmpty > 0 ? kept / nonEmpty : 0;
        });
        return new PaymentResult
        {
            Mechanism = Name,
            Reports = reports,
            Payments = PaymentResult.Wrap(pay),
            TasksScored = PaymentResult.Wrap(scored),
            Range = new PaymentRange(0, K >= 1 ? 1 - 1.0 / K : 0),
            Breakdown = ImmutableDictionary<string, ImmutableArray<double>>.Empty
                .Add("batches", PaymentResult.Wrap(batchesOut))
                .Add("capacity", PaymentResult.Wrap(capacityOut))
                .Add("retained", PaymentResult.Wrap(retainedOut)),
        };
    }

    private static int DistinctCount(ReadOnlySpan<int> sortedTasks)
    {
        int n = 0;
        for (int p = 0; p < sortedTasks.Length; p++) if (p == 0 || sortedTasks[p] != sortedTasks[p - 1]) n++;
        return n;
    }

    /// <summary>
    /// Answer id of a uniformly chosen answer to <paramref name="task"/> by a peer (batchOf ≥ 0) other than
    /// <paramref name="agent"/> whose batch is not full, or −1 (a peer with duplicate answers to the task is proportionally
    /// likelier). Rejection first, exact scan as fallback.
    /// </summary>
    private static int PickPeerAnswer(LabelMatrix m, int task, int agent, int[] batchOf, int[] fill, int capacity, ref SplitMix64 rng)
    {
        var offsets = m.TaskOffsets;
        var workers = m.TaskWorkers;
        int start = offsets[task], deg = offsets[task + 1] - start;
        if (deg == 0) return -1;
        for (int tries = 0; tries < 64; tries++)
        {
            int a = start + rng.Next(deg);
            int w = workers[a];
            if (w != agent && batchOf[w] >= 0 && fill[batchOf[w]] < capacity) return a;
        }
        int ok = 0;
        for (int a = start; a < start + deg; a++)
        {
            int w = workers[a];
            if (w != agent && batchOf[w] >= 0 && fill[batchOf[w]] < capacity) ok++;
        }
        if (ok == 0) return -1;
        int pick = rng.Next(ok);
        for (int a = start; a < start + deg; a++)
        {
            int w = workers[a];
            if (w != agent && batchOf[w] >= 0 && fill[batchOf[w]] < capacity && pick-- == 0) return a;
        }
        return -1;
    }

    /// <summary>
    /// REFORM's new peer for a task: as <see cref="PickPeerAnswer"/> among peers not yet tried for it (exact scan), or −1.
    /// </summary>
    private static int PickUntriedPeerAnswer(LabelMatrix m, int task, int agent, int[] batchOf, int[] fill, int capacity,
        TriedPeers tried, ref SplitMix64 rng)
    {
        var offsets = m.TaskOffsets;
        var workers = m.TaskWorkers;
        int start = offsets[task], end = offsets[task + 1], ok = 0;
        for (int a = start; a < end; a++)
        {
            int w = workers[a];
            if (w != agent && batchOf[w] >= 0 && fill[batchOf[w]] < capacity && !tried.Contains(w)) ok++;
        }
        if (ok == 0) return -1;
        int pick = rng.Next(ok);
        for (int a = start; a < end; a++)
        {
            int w = workers[a];
            if (w != agent && batchOf[w] >= 0 && fill[batchOf[w]] < capacity && !tried.Contains(w) && pick-- == 0) return a;
        }
        return -1;
    }

    /// <summary>
    /// Eq. (8): ½ Σ_{x,y} |Q(x, y) − R(x, y)| with R(x, y) = (Σ_z Q(x, z)) (Σ_w Q(w, y)), for a K×K row-major Q
    /// (row = the paid agent's report). 0 for K ≤ 1 or a non-finite Q.
    /// </summary>
    internal static double TvdFromProduct(ReadOnlySpan<double> q, int k, double[] row, double[] col)
    {
        if (k <= 1) return 0;
        Array.Clear(row, 0, k);
        Array.Clear(col, 0, k);
        for (int x = 0; x < k; x++)
            for (int y = 0; y < k; y++) { row[x] += q[x * k + y]; col[y] += q[x * k + y]; }
        double sum = 0;
        for (int x = 0; x < k; x++)
            for (int y = 0; y < k; y++) sum += Math.Abs(q[x * k + y] - row[x] * col[y]);
        double v = sum / 2;
        return double.IsFinite(v) ? Math.Clamp(v, 0, 1 - 1.0 / k) : 0;
    }
}
