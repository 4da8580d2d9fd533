using System.Collections.Immutable;
using System.Runtime.InteropServices;
using Tally.Core;

namespace Tally.Robust;

/// <summary>
/// Low-order moments of one-hot reports of distinct agents on the same task: M1 = E[x_a], M2 = E[x_a ⊗ x_b] (K×K,
/// row-major) and M3 = E[x_a ⊗ x_b ⊗ x_c] (K×K×K, row-major) for distinct a, b, c. Under the symmetric Dawid-Skene
/// model (M2)_{x1,x2} = Σ_y w_y Γ_{y,x1} Γ_{y,x2} and (M3) likewise (Schoenebeck and Yu et al., WWW 2021, eqs. (9)–(10)).
/// </summary>
/// <param name="Classes">K.</param>
/// <param name="M1">Marginal answer distribution (K).</param>
/// <param name="M2">Pair moment (K², symmetric, sums to 1).</param>
/// <param name="M3">Triple moment (K³, symmetric, sums to 1).</param>
/// <param name="PairMass">Total (weighted) number of ordered agent pairs behind M2; 0 = M2 is a uniform placeholder.</param>
/// <param name="TripleMass">Total (weighted) number of ordered agent triples behind M3; 0 = M3 is a uniform placeholder.</param>
public sealed record MomentEstimate(int Classes, ImmutableArray<double> M1, ImmutableArray<double> M2, ImmutableArray<double> M3,
    double PairMass, double TripleMass);

/// <summary>How <see cref="SymmetricMoments"/> groups samples into batches for the robust batch learner.</summary>
public enum MomentBatching
{
    /// <summary>
    /// Paper 000 Algorithm 4 and its M3 analogue: one batch per unordered agent pair (for M2) or triple (for M3),
    /// holding that tuple's joint reports on every task they all answered (ordered by worker index). Honest batches
    /// are i.i.d. draws from M2/M3 exactly, but a batch is adversarial as soon as one member is, so a fraction α of
    /// adversarial workers corrupts ≈ 1 − (1 − α)² of pair and 1 − (1 − α)³ of triple batches (0.36 and 0.49 at
    /// α = 0.2); it also needs the same tuples to meet on many tasks (dense or panel designs).
    /// </summary>
    AgentTuple,
    /// <summary>
    /// One batch per worker a, holding for each task a answered with at least one other worker the pair
    /// (x_a, x_b) with b a (seeded) random co-worker on that task: only a's own batch is adversarial when a is, so the
    /// batch-corruption fraction is α itself, and it works on sparse designs. Honest workers' batches share one
    /// distribution (contaminated in the partner slot, the same for all of them), so the learner's output is not M2;
    /// what is used are its batch weights, as per-worker trust ω, and M2/M3 are then the trust-weighted tuple averages
    /// (tuple weight ω_a ω_b [ω_c]). An extension of the paper's scheme (its batches are agent tuples).
    /// </summary>
    Worker,
}

/// <summary>Plain and robust estimators of <see cref="MomentEstimate"/> from a <see cref="LabelMatrix"/>.</summary>
public static class SymmetricMoments
{
    /// <summary>Empirical averages over all ordered pairs/triples of distinct workers on each task (each tuple counts once).</summary>
    public static MomentEstimate Plain(LabelMatrix answers) => Weighted(answers, default);

    /// <summary>
    /// Averages with each tuple weighted by the product of its workers' weights (empty span = all 1). Computed per task
    /// in closed form from the weighted class counts n = Σ ω e_x, q = Σ ω² e_x, r = Σ ω³ e_x:
    /// Σ_{a≠b} = n nᵀ − diag(q); Σ_{a,b,c distinct} = n⊗n⊗n − (q⊗n and permutations on the diagonals) + 2 diag₃(r),
    /// so the cost is O(K³) per task, not O(degree³), and the result is exactly symmetric.
    /// </summary>
    public static MomentEstimate Weighted(LabelMatrix answers, ReadOnlySpan<double> workerWeights)
    {
        ArgumentNullException.ThrowIfNull(answers);
        int k = answers.ClassCount, T = answers.TaskCount;
        bool weighted = !workerWeights.IsEmpty;
        if (weighted && workerWeights.Length != answers.WorkerCount) throw new ArgumentException("One weight per worker.", nameof(workerWeights));
        var m1 = new double[k];
        var m2 = new double[MemoryBudget.Length(k, k)];
        var m3 = new double[MemoryBudget.Length(k, k, k)];
        var n = new double[k];
        var q = new double[k];
        var r = new double[k];
        double mass1 = 0, mass2 = 0, mass3 = 0;
        var off = answers.TaskOffsets;
        var workers = answers.TaskWorkers;
        var labels = answers.TaskLabels;
        for (int t = 0; t < T; t++)
        {
            Array.Clear(n); Array.Clear(q); Array.Clear(r);
            double s1 = 0, s2 = 0, s3 = 0;
            for (int i = off[t]; i < off[t + 1]; i++)
            {
                double w = weighted ? workerWeights[workers[i]] : 1;
                if (!(w > 0)) continue;
                int c = labels[i];
                n[c] += w; q[c] += w * w; r[c] += w * w * w;
                s1 += w; s2 += w * w; s3 += w * w * w;
            }
            if (s1 <= 0) continue;
            for (int c = 0; c < k; c++) m1[c] += n[c];
            mass1 += s1;
            double pairs = s1 * s1 - s2;
            if (pairs <= 1e-12 * s1 * s1) continue; // fewer than two (weighted) workers
            mass2 += pairs;
            for (int a = 0; a < k; a++)
                for (int b = 0; b < k; b++)
                    m2[a * k + b] += n[a] * n[b] - (a == b ? q[a] : 0);
            double triples = s1 * s1 * s1 - 3 * s1 * s2 + 2 * s3;
            if (triples <= 1e-12 * s1 * s1 * s1) continue;
            mass3 += triples;
            for (int a = 0; a < k; a++)
                for (int b = 0; b < k; b++)
                {
                    double nab = n[a] * n[b];
                    var row = m3.AsSpan((a * k + b) * k, k);
                    for (int c = 0; c < k; c++)
                    {
                        double v = nab * n[c];
                        if (a == b) v -= q[a] * n[c];
                        if (a == c) v -= q[a] * n[b];
                        if (b == c) v -= q[b] * n[a];
                        if (a == b && b == c) v += 2 * r[a];
                        row[c] += v;
                    }
                }
        }
        Finish(m1, mass1); Finish(m2, mass2); Finish(m3, mass3);
        return new MomentEstimate(k, Wrap(m1), Wrap(m2), Wrap(m3), mass2, mass3);
    }

    /// <summary>
    /// Robust M2 and M3 from agent-tuple batches (<see cref="MomentBatching.AgentTuple"/>, paper 000 Algorithm 4):
    /// every task contributes one sample to the batch of each pair (and triple) of its workers; batches with fewer than
    /// <paramref name="minBatchSize"/> samples are dropped (a batch of one or two samples cannot be told from an
    /// outlier); the batch learner runs on the rest over domain K² (K³) and its output is symmetrised over the
    /// orderings of the tuple. Falls back to the plain estimate of a moment when no batch is large enough.
    /// M1 is the marginal of the robust M2.
    /// </summary>
    public static MomentEstimate RobustByAgentTuples(LabelMatrix answers, RobustBatchOptions? options = null, int minBatchSize = 5)
    {
        ArgumentNullException.ThrowIfNull(answers);
        int k = answers.ClassCount, W = answers.WorkerCount;
        var plain = Plain(answers);
        var learner = new RobustBatchDistributionEstimator(options);
        var m2 = TupleMoment(answers, 2, minBatchSize, learner) ?? plain.M2.ToArray();
        double[] m3 = (long)W * W * W < long.MaxValue / 2 ? TupleMoment(answers, 3, minBatchSize, learner) ?? plain.M3.ToArray() : plain.M3.ToArray();
        var m1 = new double[k];
        for (int a = 0; a < k; a++) for (int b = 0; b < k; b++) m1[a] += m2[a * k + b];
        Core.Numerics.Normalize(m1);
        return new MomentEstimate(k, Wrap(m1), Wrap(m2), Wrap(m3), plain.PairMass, plain.TripleMass);
    }

    /// <summary>
    /// Per-worker trust by the batch learner on worker batches (<see cref="MomentBatching.Worker"/>): batch a holds,
    /// for each task a answered with others, the pair (x_a, x_b) for one co-worker b drawn with <paramref name="seed"/>
    /// (one draw per task keeps a batch's samples independent). Returns ω ∈ [0, 1] per worker (1 for workers with no
    /// such task: no evidence either way) and the learner's estimate.
    /// </summary>
    public static (double[] Trust, RobustBatchEstimate Estimate) WorkerTrust(LabelMatrix answers, RobustBatchOptions? options, int seed)
    {
        ArgumentNullException.ThrowIfNull(answers);
        int k = answers.ClassCount, W = answers.WorkerCount, d = k * k;
        var counts = new double[MemoryBudget.Length(W, d)];
        var rng = Seeding.Random(seed);
        var off = answers.TaskOffsets;
        var workers = answers.TaskWorkers;
        var labels = answers.TaskLabels;
        for (int t = 0; t < answers.TaskCount; t++)
        {
            int start = off[t], deg = off[t + 1] - start;
            if (deg < 2) continue;
            for (int i = 0; i < deg; i++)
            {
                // Partner: uniform among the other deg − 1 answers.
                int j = rng.Next(deg - 1);
                if (j >= i) j++;
                counts[workers[start + i] * d + labels[start + i] * k + labels[start + j]]++;
            }
        }
        var est = new RobustBatchDistributionEstimator(options).Estimate(counts, W, d);
        var trust = new double[W];
        for (int w = 0; w < W; w++)
        {
            double size = 0;
            for (int c = 0; c < d; c++) size += counts[w * d + c];
            trust[w] = size > 0 ? est.BatchWeights[w] : 1;
        }
        return (trust, est);
    }

    private static double[]? TupleMoment(LabelMatrix answers, int order, int minBatchSize, RobustBatchDistributionEstimator learner)
    {
        int k = answers.ClassCount, W = answers.WorkerCount;
        int d = order == 2 ? k * k : k * k * k;
        var index = new Dictionary<long, int>();
        var rows = new List<double[]>();
        var off = answers.TaskOffsets;
        var workers = answers.TaskWorkers;
        var labels = answers.TaskLabels;
        // Sort each task's answers by worker so a tuple's key and its sample's coordinate order agree.
        var ids = new List<(int Worker, int Label)>();
        for (int t = 0; t < answers.TaskCount; t++)
        {
            ids.Clear();
            for (int i = off[t]; i < off[t + 1]; i++) ids.Add((workers[i], labels[i]));
            if (ids.Count < order) continue;
            ids.Sort((x, y) => x.Worker.CompareTo(y.Worker));
            int m = ids.Count;
            for (int a = 0; a < m; a++)
                for (int b = a + 1; b < m; b++)
                {
                    if (ids[a].Worker == ids[b].Worker) continue; // duplicates kept by DuplicatePolicy.KeepAll
                    if (order == 2)
                    {
                        Add((long)ids[a].Worker * W + ids[b].Worker, ids[a].Label * k + ids[b].Label);
                        continue;
                    }
                    for (int c = b + 1; c < m; c++)
                    {
                        if (ids[b].Worker == ids[c].Worker) continue;
                        Add(((long)ids[a].Worker * W + ids[b].Worker) * W + ids[c].Worker,
                            (ids[a].Label * k + ids[b].Label) * k + ids[c].Label);
                    }
                }
        }
        var kept = new List<double[]>();
        foreach (var row in rows)
        {
            double size = 0;
            foreach (var x in row) size += x;
            if (size >= minBatchSize) kept.Add(row);
        }
        if (kept.Count == 0) return null;
        var counts = new double[MemoryBudget.Length(kept.Count, d)];
        for (int i = 0; i < kept.Count; i++) kept[i].AsSpan().CopyTo(counts.AsSpan(i * d, d));
        var p = learner.Estimate(counts, kept.Count, d).Distribution;
        return order == 2 ? Symmetrise2(p.AsSpan(), k) : Symmetrise3(p.AsSpan(), k);

        void Add(long key, int cell)
        {
            if (!index.TryGetValue(key, out int r))
            {
                r = rows.Count;
                index[key] = r;
                rows.Add(new double[d]);
            }
            rows[r][cell]++;
        }
    }

    private static double[] Symmetrise2(ReadOnlySpan<double> p, int k)
    {
        var s = new double[MemoryBudget.Length(k, k)];
        for (int a = 0; a < k; a++) for (int b = 0; b < k; b++) s[a * k + b] = (p[a * k + b] + p[b * k + a]) / 2;
        return s;
    }

    private static double[] Symmetrise3(ReadOnlySpan<double> p, int k)
    {
        var s = new double[MemoryBudget.Length(k, k, k)];
        for (int a = 0; a < k; a++)
            for (int b = 0; b < k; b++)
                for (int c = 0; c < k; c++)
                    s[(a * k + b) * k + c] = (p[(a * k + b) * k + c] + p[(a * k + c) * k + b] + p[(b * k + a) * k + c]
                        + p[(b * k + c) * k + a] + p[(c * k + a) * k + b] + p[(c * k + b) * k + a]) / 6;
        return s;
    }

    private static void Finish(double[] m, double mass)
    {
        if (mass > 0) for (int i = 0; i < m.Length; i++) m[i] /= mass;
        else Array.Fill(m, 1.0 / m.Length);
    }

    private static ImmutableArray<double> Wrap(double[] a) => ImmutableCollectionsMarshal.AsImmutableArray(a);
}
