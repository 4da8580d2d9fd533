using System.Collections.Immutable;
using Tally.Aggregation;
using Tally.Core;

namespace Tally.Learning;

/// <summary>
/// Options of label-free restarts (Max-MIG, EM): train from several starts and keep the run the method's own training
/// objective rates best — Max-MIG's training MIG, EM's log-likelihood — among the runs whose classes are not a
/// relabelling of the crowd's (<see cref="RestartRun.Consistent"/>). No truth is used.
/// </summary>
/// <remarks>
/// Run 0 starts as the method always does (Max-MIG: eq. (2); EM: its <see cref="EmLearnerOptions.Initialisation"/>),
/// so <c>Count = 1</c> is exactly the run without restarts. Run 1 starts from the crowd after merging workers whose
/// answers are near-identical into one voter (when no two workers are, it is a perturbed start instead); runs 2, 3, …
/// start from run 0's start perturbed by Gaussian noise, drawn from the run's own stream of the learner's seed.
/// </remarks>
public sealed record RestartOptions
{
    /// <summary>Runs to train (1 = no restarts, the method's single run). Default 1.</summary>
    public int Count { get; init; } = 1;

    /// <summary>
    /// Two workers are merged into one voter when they give the same answer on at least this share of the tasks both
    /// answered (and they share at least <see cref="MergeMinimumShared"/>). Default 0.95: a junior who copies a senior
    /// agrees with him on every task, while two independent experts of accuracy a agree on about a² + (1 − a)²/(K − 1)
    /// of the tasks, under 0.95 unless both are right at least 97 % of the time (when merging them costs little).
    /// </summary>
    public double MergeAgreement { get; init; } = 0.95;

    /// <summary>Shared tasks two workers need before their agreement is trusted for a merge. Default 20 (a share of 0.95 on 20 tasks is 19 agreements).</summary>
    public int MergeMinimumShared { get; init; } = 20;

    /// <summary>
    /// Standard deviation of the noise of the perturbed starts: added to each of Max-MIG's eq. (2) weights (log
    /// confusions), and to the log of each of EM's starting posteriors. Default 0.1, a factor of e^±0.1 on a confusion
    /// entry. Why not larger: with weak experts the eq. (2) start separates the classes by well under a nat (median
    /// top-two score gap 0.8 on paper 001's (L) crowds), and larger noise scrambles which output is which class; the
    /// scrambled runs then reach a higher training MIG than the eq. (2) run while being less accurate. Measured on the
    /// correlated-mistakes (L) crowd (Fashion-MNIST, 1,000 items, 3 seeds, 4 runs): test accuracy of the kept run 41.9 %
    /// at 0.5, 47.6 % at 0.25, 50.9 % at 0.1, against 50.8 % with one run; under (H) 78.3 % at all three.
    /// </summary>
    public double PerturbationScale { get; init; } = 0.1;

    /// <summary>Checks the options; throws <see cref="InvalidOptionException"/> naming the first bad one.</summary>
    public void Validate()
    {
        Check.AtLeast(Count, 1, nameof(Count));
        if (!(MergeAgreement > 0 && MergeAgreement <= 1))
            throw new InvalidOptionException(nameof(MergeAgreement), $"must be above 0 and at most 1 (got {NumberFormat.Number(MergeAgreement)})");
        Check.AtLeast(MergeMinimumShared, 1, nameof(MergeMinimumShared));
        Check.AtLeast(PerturbationScale, 0, nameof(PerturbationScale));
    }
}

/// <summary>Where a restart began.</summary>
public enum RestartStart
{
    /// <summary>The method's usual start (Max-MIG: eq. (2); EM: majority vote or Dawid-Skene).</summary>
    Initial,
    /// <summary>The usual start computed after merging near-identical workers into one voter.</summary>
    Merged,
    /// <summary>The usual start with Gaussian noise.</summary>
    Perturbed,
}

/// <summary>One run of a restarted learner.</summary>
/// <param name="Start">Where it began.</param>
/// <param name="Criterion">The method's training objective at the end of the run, higher is better (Max-MIG: the
/// f-MIG bound over all training tasks; EM: the observed-data log-likelihood per task).</param>
/// <param name="Consistent">Whether its classes line up with the crowd's: matching the run's predicted labels to the
/// merged crowd vote class for class, the identity is a best one-to-one matching. An inconsistent run found a
/// relabelled (class-permuted) solution, which the objective cannot tell from the right one.</param>
/// <param name="Classifier">The run's trained classifier.</param>
/// <param name="Posteriors">The run's posteriors on the training tasks.</param>
public sealed record RestartRun(RestartStart Start, double Criterion, bool Consistent, IClassifier Classifier, RowMatrix Posteriors);

/// <summary>The runs of a restarted learner and the one kept.</summary>
/// <param name="Runs">Every run, in the order trained (run 0 = the method's usual start).</param>
/// <param name="Selected">Index of the run returned: the highest criterion among the consistent runs (the first on a
/// tie), or among all runs when none is consistent.</param>
/// <param name="MergedWorkers">Workers that belong to a merged group of two or more (0 = nothing was merged).</param>
public sealed record RestartSummary(ImmutableArray<RestartRun> Runs, int Selected, int MergedWorkers);

/// <summary>The pieces restarted learners share: merging near-identical workers, the perturbation streams, the consistency check and the selection.</summary>
internal static class Restarts
{
    /// <summary>Seeding stream of the perturbations (stream 1 is the batch shuffles, 0 the classifier).</summary>
    private const ulong PerturbationStream = 0x52455354; // "REST"

    /// <summary>
    /// The start of run <paramref name="run"/> (≥ 1): merged for run 1 when anything was merged, perturbed otherwise.
    /// </summary>
    public static RestartStart StartOf(int run, bool anythingMerged) =>
        run == 0 ? RestartStart.Initial : run == 1 && anythingMerged ? RestartStart.Merged : RestartStart.Perturbed;

    /// <summary>
    /// Each worker's group: workers who agree on at least <see cref="RestartOptions.MergeAgreement"/> of at least
    /// <see cref="RestartOptions.MergeMinimumShared"/> shared tasks are joined, transitively; a group is named by its
    /// smallest worker index. Cost: Σ_t d_t² over the tasks' answer counts d_t.
    /// </summary>
    public static int[] MergeGroups(LabelMatrix answers, RestartOptions options)
    {
        int m = answers.WorkerCount;
        var pairs = new Dictionary<long, (int Shared, int Agreed)>();
        for (int t = 0; t < answers.TaskCount; t++)
        {
            var ws = answers.WorkersOf(t);
            var ls = answers.LabelsOf(t);
            for (int a = 0; a < ws.Length; a++)
                for (int b = a + 1; b < ws.Length; b++)
                {
                    int lo = Math.Min(ws[a], ws[b]), hi = Math.Max(ws[a], ws[b]);
                    long key = (long)lo * m + hi;
                    pairs.TryGetValue(key, out var v);
                    pairs[key] = (v.Shared + 1, v.Agreed + (ls[a] == ls[b] ? 1 : 0));
                }
        }
        var parent = new int[m];
        for (int w = 0; w < m; w++) parent[w] = w;
        int Root(int w) { while (parent[w] != w) w = parent[w] = parent[parent[w]]; return w; }
        foreach (var (key, v) in pairs)
        {
            if (v.Shared < options.MergeMinimumShared || v.Agreed < options.MergeAgreement * v.Shared) continue;
            int a = Root((int)(key / m)), b = Root((int)(key % m));
            // The smaller index becomes the root, so the groups do not depend on the dictionary's order.
            if (a != b) parent[Math.Max(a, b)] = Math.Min(a, b);
        }
        var group = new int[m];
        for (int w = 0; w < m; w++) group[w] = Root(w);
        return group;
    }

    /// <summary>Each worker's vote weight 1/|group|, so a merged group counts as one voter; and how many workers are in groups of two or more.</summary>
    public static (double[] Weights, int Merged) VoteWeights(int[] group)
    {
        var size = new int[group.Length];
        foreach (int g in group) size[g]++;
        var weights = new double[group.Length];
        int merged = 0;
        for (int w = 0; w < group.Length; w++)
        {
            int s = size[group[w]];
            weights[w] = 1.0 / s;
            if (s > 1) merged++;
        }
        return (weights, merged);
    }

    /// <summary>The merged crowd vote: per-task answer shares with each worker weighted 1/|group| (uniform for a task without answers).</summary>
    public static double[] MergedVote(LabelMatrix answers, double[] weights) => MajorityVote.WeightedVote(answers, weights);

    /// <summary>The noise stream of run <paramref name="run"/> of a learner seeded with <paramref name="seed"/>.</summary>
    public static SplitMix64 NoiseStream(int seed, int run) => SplitMix64.For(Seeding.Stream(Seeding.Base(seed), PerturbationStream), (ulong)run);

    /// <summary>A standard normal draw (Box-Muller on two open-interval uniforms).</summary>
    public static double Normal(ref SplitMix64 rng)
    {
        double u = rng.NextOpenDouble(), v = rng.NextOpenDouble();
        return Math.Sqrt(-2 * Math.Log(u)) * Math.Cos(2 * Math.PI * v);
    }

    /// <summary>
    /// Whether the classes of <paramref name="posteriors"/> line up with <paramref name="reference"/> (tasks × K
    /// shares): with C[c, c'] = Σ over tasks predicted c of reference[t, c'], the identity is a maximum-weight
    /// one-to-one matching of the run's classes to the reference's (up to a relative 1e-9, so ties pass).
    /// </summary>
    public static bool Consistent(RowMatrix posteriors, double[] reference, int k)
    {
        var c = new double[k * k];
        double total = 0;
        for (int t = 0; t < posteriors.Rows; t++)
        {
            int label = Numerics.ArgMax(posteriors.Row(t));
            for (int d = 0; d < k; d++) { c[label * k + d] += reference[t * k + d]; total += reference[t * k + d]; }
        }
        double identity = 0;
        for (int d = 0; d < k; d++) identity += c[d * k + d];
        return identity >= MaxAssignment(c, k) - 1e-9 * Math.Max(1, total);
    }

    /// <summary>
    /// The largest Σ_c C[c, π(c)] over permutations π: the Hungarian algorithm (shortest augmenting paths with
    /// potentials, O(K³)) on the costs −C.
    /// </summary>
    internal static double MaxAssignment(double[] c, int k)
    {
        // 1-based arrays as in the textbook formulation; p[j] = row matched to column j.
        var u = new double[k + 1];
        var v = new double[k + 1];
        var p = new int[k + 1];
        var way = new int[k + 1];
        var minv = new double[k + 1];
        var used = new bool[k + 1];
        for (int i = 1; i <= k; i++)
        {
            p[0] = i;
            int j0 = 0;
            Array.Fill(minv, double.PositiveInfinity);
            Array.Clear(used);
            do
            {
                used[j0] = true;
                int i0 = p[j0], j1 = 0;
                double delta = double.PositiveInfinity;
                for (int j = 1; j <= k; j++)
                {
                    if (used[j]) continue;
                    double cur = -c[(i0 - 1) * k + (j - 1)] - u[i0] - v[j];
                    if (cur < minv[j]) { minv[j] = cur; way[j] = j0; }
                    if (minv[j] < delta) { delta = minv[j]; j1 = j; }
                }
                for (int j = 0; j <= k; j++)
                {
                    if (used[j]) { u[p[j]] += delta; v[j] -= delta; }
                    else minv[j] -= delta;
                }
                j0 = j1;
            } while (p[j0] != 0);
            do { int j1 = way[j0]; p[j0] = p[j1]; j0 = j1; } while (j0 != 0);
        }
        double best = 0;
        for (int j = 1; j <= k; j++) best += c[(p[j] - 1) * k + (j - 1)];
        return best;
    }

    /// <summary>The run to keep: highest criterion among the consistent runs, else among all; the earliest on a tie.</summary>
    public static int Select(IReadOnlyList<RestartRun> runs)
    {
        bool any = false;
        foreach (var r in runs) any |= r.Consistent;
        int best = -1;
        for (int i = 0; i < runs.Count; i++)
        {
            if (any && !runs[i].Consistent) continue;
            if (best < 0 || runs[i].Criterion > runs[best].Criterion) best = i;
        }
        return best;
    }
}

/// <summary>Reports the epochs of restart r after those of restarts 0 … r − 1: epoch e of run r as r·E + e of Count·E.</summary>
internal sealed class RestartProgress(IProgress<EpochReport> inner, int run, int epochs, int count) : IProgress<EpochReport>
{
    /// <summary><paramref name="progress"/> itself for a single run, else the offsetting wrapper (null stays null).</summary>
    public static IProgress<EpochReport>? Offset(IProgress<EpochReport>? progress, int run, int epochs, int count) =>
        progress is null || count == 1 ? progress : new RestartProgress(progress, run, epochs, count);

    /// <inheritdoc />
    public void Report(EpochReport value) =>
        inner.Report(value with { Epoch = run * epochs + value.Epoch, Epochs = count * epochs });
}
