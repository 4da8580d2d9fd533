using MathNet.Numerics.LinearAlgebra;
using Tally.Core;

namespace Tally.Aggregation;

/// <summary>Options of <see cref="MMsr"/>.</summary>
public sealed record MMsrOptions : IterativeOptions
{
    /// <summary>
    /// Crowd-Kit's defaults: at most 10,000 M-MSR sweeps, stopping when the Frobenius norm of the change of the
    /// rank-one estimate u vᵀ falls below 1e-10; seed 0.
    /// </summary>
    public MMsrOptions() { MaxIterations = 10_000; Tolerance = 1e-10; }
}

/// <summary>
/// Matrix Mean-Subsequence-Reduced (M-MSR): each worker answers correctly with probability p_w and otherwise uniformly
/// at random among the other K − 1 classes, so the scaled agreement C_ij = (K·agree_ij − 1)/(K − 1) of workers i and j
/// on shared tasks has expectation s_i s_j with s_w = (K p_w − 1)/(K − 1); s is recovered by robust rank-one
/// completion of the observed entries of |C| (alternating updates u_i ← trimmed mean over j of |C_ij| / v_j, dropping
/// up to F values above and F below the current estimate), signed by a two-colouring of the agreement graph, and the
/// tasks are labelled by a vote weighted by log((K − 1) p_w / (1 − p_w)).
/// Q. Ma and A. Olshevsky, "Adversarial crowdsourcing through robust rank-one matrix completion", NeurIPS 2020,
/// Algorithm 1 (M-MSR) and Section 4 (sign determination, weighted majority vote). Follows Crowd-Kit's <c>MMSR</c>.
/// </summary>
/// <remarks>
/// <para>F = ⌊d/2⌋ − 1, where d is the smallest number of co-workers (workers sharing a task) of any worker that has
/// one; workers sharing no task keep their random start, get s = 0 before clipping and so carry (almost) no weight.
/// Crowd-Kit counts those isolated workers in d, which can make F = −1; here F is never below 0.</para>
/// <para>s is clipped to [−1/(K − 1) + 1/√T, 1 − 1/√T] (as in Crowd-Kit) so p_w stays strictly inside (0, 1).
/// A trimmed mean that comes out 0 (which would make the next division infinite) is replaced by 1/√T, the rule
/// Crowd-Kit applies to a single remaining zero.</para>
/// <para>Posteriors: the softmax of the weighted vote, Σ over answers of class c of the worker's weight, which is the
/// exact posterior of the one-coin model with these p_w and a uniform class prior; its arg-max is the weighted vote's
/// choice (ties to the lowest class index). A task all of whose workers have weight 0 gets plain vote shares.</para>
/// <para>Fallbacks: with K = 1 every task is class 0 with probability 1 and every worker has skill 1. With fewer than two workers, or when no two
/// workers share a task, there is no agreement to learn from and the result is majority vote (vote shares), with
/// skill 1/K (chance) for every worker.</para>
/// <para>Worker skill = p_w, the estimated probability of a correct answer; the vote weight log((K − 1) p_w / (1 − p_w))
/// (Crowd-Kit's <c>skills_</c>) is in <see cref="AggregationResult.WorkerParameters"/> under <c>"weight"</c>.</para>
/// <para>Cost: the W × W agreement matrix and each sweep are O(W²) in time and memory, so the method suits crowds of
/// up to a few thousand workers.</para>
/// </remarks>
public sealed class MMsr(MMsrOptions? options = null) : IAggregator
{
    /// <summary>The options in use.</summary>
    public MMsrOptions Options { get; } = options ?? new MMsrOptions();

    /// <inheritdoc />
    public string Name => "mmsr";

    /// <inheritdoc />
    public AggregationResult Aggregate(LabelMatrix answers, ComputeOptions? compute = null, IProgress<IterationProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        Options.Validate();
        int k = answers.ClassCount, T = answers.TaskCount, W = answers.WorkerCount;
        // Quadratic in the workers (the dense agreement counts, the sign eigenproblem on up to 2W × 2W), linear in T·K.
        double pairs = (double)W * W;
        Footprints.Require(Name, answers, compute, posteriors: 2, extra: 2 * Footprint.Ints(pairs) + 4 * Footprint.Doubles(4 * pairs),
            extraWhat: $"{W:N0} × {W:N0} worker agreement matrices",
            extraInstead: "M-MSR is quadratic in the number of workers; use ds, glad or zbs for crowds this large");
        if (k <= 1) return SingleClass(answers);

        // The bar: building the agreement graph and colouring the signs a twentieth of it each, the iterations between.
        int phase = Math.Max(1, Options.MaxIterations / 20), units = 2 * phase + Options.MaxIterations;
        var graph = AgreementGraph.Build(answers, ScaledProgress.Of(progress, 0, phase, units));
        if (W < 2 || graph.PartnerCount == 0) return Fallback(answers);

        var (u, v, iterations, converged) = RankOne(graph, T, compute, PhaseProgress.Of(progress, phase, units), cancellationToken);

        // Balance the factors: u vᵀ ≈ s sᵀ only fixes s up to u → c u, v → v / c.
        double nu = 0, nv = 0;
        for (int w = 0; w < W; w++) { nu += u[w] * u[w]; nv += v[w] * v[w]; }
        double balance = nu > 0 && nv > 0 ? Math.Pow(nu / nv, 0.25) : 1.0;

        var signs = SignDetermination.Signs(graph, ScaledProgress.Of(progress, phase + Options.MaxIterations, phase, units));
        double invSqrtT = 1.0 / Math.Sqrt(T);
        double hi = 1.0 - invSqrtT, lo = -1.0 / (k - 1) + invSqrtT;
        var p = new double[W];
        var weight = new double[W];
        // Strictly inside (−1/(K − 1), 1), so that p_w ∈ (0, 1) and the log-odds stay finite even when tiny T
        // pushes the clip bounds to the edge.
        double sMax = 1 - 1e-12, sMin = -1.0 / (k - 1) + 1e-12;
        for (int w = 0; w < W; w++)
        {
            double s = signs[w] * u[w] / balance;
            s = Math.Max(Math.Min(s, hi), lo);
            s = double.IsNaN(s) ? 0 : Math.Clamp(s, sMin, sMax);
            p[w] = (1 + (k - 1) * s) / k;
            // log((K − 1) p / (1 − p)) written in s, so that s = 0 (no evidence) gives a weight of exactly 0.
            weight[w] = Math.Log((1 + (k - 1) * s) / (1 - s));
        }

        var post = WeightedPosteriors(answers, weight);
        // The weighted vote above is the one-coin posterior with accuracies p_w: log-odds weight = log((K − 1)p/(1 − p)).
        return AggregationResult.Create(Name, answers, post, p, AggregationModel.ForOneCoin(Name, Options, answers, p, null, p)) with
        {
            WorkerParameters = WeightParameter(weight),
            Iterations = iterations,
            Converged = converged || Options.Tolerance == 0,
        };
    }

    /// <summary>Alternating trimmed-mean updates of v then u (Gauss-Seidel between the two blocks, as in Crowd-Kit).</summary>
    private (double[] U, double[] V, int Iterations, bool Converged) RankOne(AgreementGraph g, int taskCount, ComputeOptions? compute,
        IProgress<IterationProgress>? progress, CancellationToken ct)
    {
        int W = g.WorkerCount;
        int f = Math.Max(0, g.MinPartners / 2 - 1);
        double zeroReplacement = 1.0 / Math.Sqrt(taskCount);
        var rng = Seeding.Random(Options.Seed);
        var u = new double[W];
        // 1 − NextDouble() is in (0, 1]: the factors are divisors and must start positive.
        for (int w = 0; w < W; w++) u[w] = 1.0 - rng.NextDouble();
        // Crowd-Kit draws u and v from the same seed, so they start equal.
        var v = (double[])u.Clone();
        var uPrev = new double[W];
        var vPrev = new double[W];
        var off = g.Offsets;
        var partner = g.Partners;
        var absC = g.AbsAgreement;
        // Within a half-sweep every factor is updated from the other block only, so the workers are independent: the
        // parts (fixed by the input) only spread the work, each with its own sort buffer.
        int parts = Parallelism.ReductionParts(W, off[W] * 4L);
        var buffers = new double[parts][];
        for (int p = 0; p < parts; p++) buffers[p] = new double[Math.Max(1, g.MaxPartners)];
        var changes = new double[parts];
        Action<int, int, int> updateV = (part, start, end) =>
        {
            var buffer = buffers[part];
            for (int j = start; j < end; j++)
            {
                int n = off[j + 1] - off[j];
                var vals = buffer.AsSpan(0, n);
                for (int e = 0; e < n; e++) vals[e] = absC[off[j] + e] / u[partner[off[j] + e]];
                v[j] = TrimmedMean(vals, f, v[j], zeroReplacement);
            }
        };
        Action<int, int, int> updateU = (part, start, end) =>
        {
            var buffer = buffers[part];
            for (int i = start; i < end; i++)
            {
                int n = off[i + 1] - off[i];
                var vals = buffer.AsSpan(0, n);
                for (int e = 0; e < n; e++) vals[e] = absC[off[i] + e] / v[partner[off[i] + e]];
                u[i] = TrimmedMean(vals, f, u[i], zeroReplacement);
            }
        };
        Action<int, int, int> change = (part, start, end) => changes[part] = RankOneChange(u, v, uPrev, vPrev, start, end);
        int it = 0;
        bool converged = false;
        while (it < Options.MaxIterations)
        {
            ct.ThrowIfCancellationRequested();
            u.AsSpan().CopyTo(uPrev);
            v.AsSpan().CopyTo(vPrev);
            Parallelism.ForParts(W, parts, compute, updateV, ct);
            Parallelism.ForParts(W, parts, compute, updateU, ct);
            Parallelism.ForParts(W, parts, compute, change, ct);
            double ss = 0;
            foreach (double c in changes) ss += c;   // in part order: the same sum on every machine
            double loss = Math.Sqrt(ss);
            it++;
            progress?.Report(new IterationProgress(it, Options.MaxIterations, loss));
            if (loss < Options.Tolerance) { converged = true; break; }
        }
        return (u, v, it, converged);
    }

    /// <summary>
    /// The mean-subsequence-reduced update: drops the f smallest values below <paramref name="current"/> (all of them
    /// if there are fewer) and likewise the f largest above it, and averages the rest.
    /// </summary>
    internal static double TrimmedMean(Span<double> values, int f, double current, double zeroReplacement)
    {
        if (values.IsEmpty) return current;
        values.Sort();
        int below = 0, above = 0;
        for (int i = 0; i < values.Length; i++)
        {
            if (values[i] < current) below++;
            else if (values[i] > current) above++;
        }
        int start = Math.Min(below, f), end = values.Length - Math.Min(above, f);
        if (end <= start) return current;
        double sum = 0;
        for (int i = start; i < end; i++) sum += values[i];
        double mean = sum / (end - start);
        if (double.IsNaN(mean) || double.IsInfinity(mean)) return current;
        // A zero factor would divide by zero in the next sweep.
        return mean > 0 ? mean : zeroReplacement;
    }

    /// <summary>
    /// Rows [start, end) of ‖u vᵀ − u' v'ᵀ‖_F², summed entry by entry: the closed form cancels catastrophically near
    /// convergence.
    /// </summary>
    private static double RankOneChange(double[] u, double[] v, double[] uPrev, double[] vPrev, int start, int end)
    {
        double ss = 0;
        for (int i = start; i < end; i++)
        {
            double ui = u[i], pi = uPrev[i];
            for (int j = 0; j < v.Length; j++)
            {
                double d = ui * v[j] - pi * vPrev[j];
                ss += d * d;
            }
        }
        return ss;
    }

    private static double[] WeightedPosteriors(LabelMatrix answers, ReadOnlySpan<double> weight)
    {
        int k = answers.ClassCount, T = answers.TaskCount;
        var post = new double[MemoryBudget.Length(T, k)];
        var off = answers.TaskOffsets;
        var workers = answers.TaskWorkers;
        var labels = answers.TaskLabels;
        for (int t = 0; t < T; t++)
        {
            var row = post.AsSpan(t * k, k);
            double mass = 0;
            for (int e = off[t]; e < off[t + 1]; e++)
            {
                row[labels[e]] += weight[workers[e]];
                mass += Math.Abs(weight[workers[e]]);
            }
            if (mass > 0) { Numerics.NormalizeLog(row); continue; }
            // No answer carries weight: the unweighted vote is the only evidence left (uniform if none).
            row.Clear();
            for (int e = off[t]; e < off[t + 1]; e++) row[labels[e]] += 1;
            Numerics.Normalize(row);
        }
        return post;
    }

    private AggregationResult SingleClass(LabelMatrix answers)
    {
        int T = answers.TaskCount, W = answers.WorkerCount;
        var post = new double[MemoryBudget.Length(T, answers.ClassCount)];
        if (answers.ClassCount == 1) post.AsSpan().Fill(1.0);
        var skills = new double[W];
        skills.AsSpan().Fill(1.0);
        return AggregationResult.Create(Name, answers, post, skills, AggregationModel.ForVotes(Name, Options, answers, null, skills), new int[T]) with
        {
            WorkerParameters = WeightParameter(new double[W]),
        };
    }

    private AggregationResult Fallback(LabelMatrix answers)
    {
        int k = answers.ClassCount, T = answers.TaskCount, W = answers.WorkerCount;
        var post = MajorityVote.WeightedVote(answers, null);
        var skills = new double[W];
        skills.AsSpan().Fill(1.0 / k);
        return AggregationResult.Create(Name, answers, post, skills, AggregationModel.ForVotes(Name, Options, answers, null, skills)) with
        {
            WorkerParameters = WeightParameter(new double[W]),
        };
    }

    private static System.Collections.Immutable.ImmutableDictionary<string, System.Collections.Immutable.ImmutableArray<double>> WeightParameter(double[] weight) =>
        System.Collections.Immutable.ImmutableDictionary<string, System.Collections.Immutable.ImmutableArray<double>>.Empty
            .Add("weight", AggregationResult.Wrap(weight));
}

/// <summary>
/// Pairwise worker agreement on shared tasks, in CSR form by worker: for each worker its co-workers and the scaled
/// agreement C_ij = (K·agree_ij/common_ij − 1)/(K − 1).
/// </summary>
internal sealed class AgreementGraph
{
    public required int WorkerCount { get; init; }
    public required int[] Offsets { get; init; }
    public required int[] Partners { get; init; }
    public required double[] Agreement { get; init; }
    public required double[] AbsAgreement { get; init; }
    /// <summary>Fewest co-workers of any worker that has at least one.</summary>
    public required int MinPartners { get; init; }
    public required int MaxPartners { get; init; }
    public int PartnerCount => Partners.Length;

    /// <summary>The graph of <paramref name="answers"/>; reports 16 steps over the tasks to <paramref name="progress"/>.</summary>
    public static AgreementGraph Build(LabelMatrix answers, IProgress<IterationProgress>? progress = null)
    {
        int W = answers.WorkerCount, k = answers.ClassCount;
        // Dense W × W counts: M-MSR is quadratic in W anyway, and this avoids hashing in the pair loop.
        var common = new int[(long)W * W];
        var agree = new int[(long)W * W];
        var off = answers.TaskOffsets;
        var workers = answers.TaskWorkers;
        var labels = answers.TaskLabels;
        int T = answers.TaskCount, step = 0;
        for (int t = 0; t < T; t++)
        {
            if (progress is not null && (long)t * 16 >= (long)(step + 1) * T) progress.Report(new IterationProgress(++step, 16, 0));
            for (int a = off[t]; a < off[t + 1]; a++)
            {
                int wa = workers[a], la = labels[a];
                for (int b = a + 1; b < off[t + 1]; b++)
                {
                    int wb = workers[b];
                    if (wa == wb) continue;
                    long ab = (long)wa * W + wb, ba = (long)wb * W + wa;
                    common[ab]++; common[ba]++;
                    if (la == labels[b]) { agree[ab]++; agree[ba]++; }
                }
            }
        }
        progress?.Report(new IterationProgress(16, 16, 0));
        var offsets = new int[W + 1];
        int minPartners = int.MaxValue, maxPartners = 0;
        for (int i = 0; i < W; i++)
        {
            int n = 0;
            for (int j = 0; j < W; j++) if (common[(long)i * W + j] > 0) n++;
            offsets[i + 1] = offsets[i] + n;
            if (n > 0) minPartners = Math.Min(minPartners, n);
            maxPartners = Math.Max(maxPartners, n);
        }
        var partners = new int[offsets[W]];
        var c = new double[offsets[W]];
        var absC = new double[offsets[W]];
        for (int i = 0, e = 0; i < W; i++)
        {
            for (int j = 0; j < W; j++)
            {
                long ij = (long)i * W + j;
                if (common[ij] == 0) continue;
                partners[e] = j;
                c[e] = (k * (double)agree[ij] / common[ij] - 1.0) / (k - 1);
                absC[e] = Math.Abs(c[e]);
                e++;
            }
        }
        return new AgreementGraph
        {
            WorkerCount = W, Offsets = offsets, Partners = partners, Agreement = c, AbsAgreement = absC,
            MinPartners = minPartners == int.MaxValue ? 0 : minPartners, MaxPartners = maxPartners,
        };
    }
}

/// <summary>
/// Signs of the skills from the signs of the agreements: a positive C_ij says s_i and s_j have the same sign, a negative
/// one opposite signs. Following Ma and Olshevsky (and Crowd-Kit), each positive pair is replaced by a path through a new
/// node, so that a consistent signing becomes a two-colouring, and the colouring is read off the eigenvector of the
/// random-walk matrix for its most negative eigenvalue; the sign that the majority of workers gets is taken as +.
/// </summary>
internal static class SignDetermination
{
    /// <summary>
    /// +1/−1 per worker, 0 for workers with no nonzero agreement to anyone. The power iterations of components above
    /// <see cref="DenseLimit"/> report (iteration, 10,000) to <paramref name="progress"/>, each component from its start
    /// (a <see cref="ScaledProgress"/> never moves back).
    /// </summary>
    public static double[] Signs(AgreementGraph g, IProgress<IterationProgress>? progress = null)
    {
        int W = g.WorkerCount;
        var signs = new double[W];
        // Signs in different connected components are unrelated, so each component is coloured on its own.
        var component = Components(g);
        int count = 0;
        for (int w = 0; w < W; w++) count = Math.Max(count, component[w] + 1);
        var members = new List<int>();
        for (int comp = 0; comp < count; comp++)
        {
            members.Clear();
            for (int w = 0; w < W; w++) if (component[w] == comp) members.Add(w);
            ColourComponent(g, members, signs, progress);
        }
        return signs;
    }

    /// <summary>Connected components over nonzero agreements; -1 for workers with none.</summary>
    private static int[] Components(AgreementGraph g)
    {
        int W = g.WorkerCount;
        var comp = new int[W];
        Array.Fill(comp, -1);
        var stack = new Stack<int>();
        int next = 0;
        for (int s = 0; s < W; s++)
        {
            if (comp[s] >= 0 || !HasSignedEdge(g, s)) continue;
            comp[s] = next;
            stack.Push(s);
            while (stack.Count > 0)
            {
                int i = stack.Pop();
                for (int e = g.Offsets[i]; e < g.Offsets[i + 1]; e++)
                {
                    int j = g.Partners[e];
                    if (g.Agreement[e] == 0 || comp[j] >= 0) continue;
                    comp[j] = next;
                    stack.Push(j);
                }
            }
            next++;
        }
        return comp;
    }

    private static bool HasSignedEdge(AgreementGraph g, int w)
    {
        for (int e = g.Offsets[w]; e < g.Offsets[w + 1]; e++) if (g.Agreement[e] != 0) return true;
        return false;
    }

    /// <summary>
    /// Largest component coloured by the dense eigendecomposition: O(n³) for the 2n × 2n companion matrix, a few
    /// seconds at n = 400; larger components use <see cref="ColourByIteration"/>, linear in the edges per step.
    /// </summary>
    public const int DenseLimit = 400;

    private static void ColourComponent(AgreementGraph g, List<int> members, double[] signs, IProgress<IterationProgress>? progress)
    {
        int n = members.Count;
        if (n == 1) { signs[members[0]] = 1; return; }
        if (n > DenseLimit) { ColourByIteration(g, members, signs, progress); return; }
        var local = new Dictionary<int, int>(n);
        for (int i = 0; i < n; i++) local[members[i]] = i;

        // Degree in the augmented graph: one per negative neighbour plus one per positive pair (through its new node).
        var degree = new double[n];
        for (int i = 0; i < n; i++)
        {
            int w = members[i];
            for (int e = g.Offsets[w]; e < g.Offsets[w + 1]; e++) if (g.Agreement[e] != 0) degree[i]++;
        }
        // The augmented normalised adjacency N = D^-1/2 A D^-1/2 is [[N₁₁, Bᵀ], [B, 0]] with one row of B per new node.
        // Eliminating the new nodes (B x = λ y) leaves λ² x = λ N₁₁ x + BᵀB x, solved through its companion
        // linearisation, which is 2n × 2n instead of (n + #positive pairs)².
        var L = Matrix<double>.Build.Dense(2 * n, 2 * n);
        for (int i = 0; i < n; i++)
        {
            int w = members[i];
            double positive = 0;
            for (int e = g.Offsets[w]; e < g.Offsets[w + 1]; e++)
            {
                double c = g.Agreement[e];
                if (c == 0) continue;
                int j = local[g.Partners[e]];
                double norm = 1.0 / Math.Sqrt(degree[i] * degree[j]);
                if (c < 0) L[i, j] = norm;
                else { L[i, n + j] = 0.5 * norm; positive++; }
            }
            L[i, n + i] = positive / (2 * degree[i]);
            L[n + i, i] = 1;
        }
        var evd = L.Evd(Symmetricity.Asymmetric);
        int best = -1;
        double bestValue = double.PositiveInfinity;
        for (int i = 0; i < 2 * n; i++)
        {
            var lambda = evd.EigenValues[i];
            // N is symmetric, so its eigenvalues are real; complex ones here are rounding noise or spurious roots.
            if (Math.Abs(lambda.Imaginary) > 1e-8) continue;
            if (lambda.Real < bestValue) { bestValue = lambda.Real; best = i; }
        }
        if (best < 0) { foreach (int w in members) signs[w] = 1; return; }
        int plus = 0, minus = 0;
        for (int i = 0; i < n; i++)
        {
            double x = evd.EigenVectors[n + i, best];
            if (x > 0) plus++;
            else if (x < 0) minus++;
        }
        // Only relative signs are identifiable: the majority is taken to be better than chance.
        double flip = minus > plus ? -1 : 1;
        for (int i = 0; i < n; i++)
        {
            double x = evd.EigenVectors[n + i, best];
            signs[members[i]] = x > 0 ? flip : x < 0 ? -flip : 0;
        }
    }

    /// <summary>
    /// The same colouring for a large component without forming a matrix: the eigenvector of the augmented normalised
    /// adjacency N (workers plus one node per positive pair, N = D^-1/2 A D^-1/2, eigenvalues in [−1, 1]) for its most
    /// negative eigenvalue is the dominant eigenvector of I − N, found by power iteration with N applied edge by edge.
    /// The start is the colouring that makes every agreement consistent if the workers are all better than chance
    /// (workers +, pair nodes −), so a crowd with that structure converges at once.
    /// </summary>
    private static void ColourByIteration(AgreementGraph g, List<int> members, double[] signs, IProgress<IterationProgress>? progress)
    {
        int n = members.Count;
        var local = new Dictionary<int, int>(n);
        for (int i = 0; i < n; i++) local[members[i]] = i;
        var degree = new double[n];
        // Edges of the component in CSR by local worker; positive pairs (i < j) numbered for their new nodes.
        var offsets = new int[n + 1];
        for (int i = 0; i < n; i++)
        {
            int w = members[i], d = 0;
            for (int e = g.Offsets[w]; e < g.Offsets[w + 1]; e++) if (g.Agreement[e] != 0) d++;
            degree[i] = d;
            offsets[i + 1] = offsets[i] + d;
        }
        var partner = new int[offsets[n]];
        var pairNode = new int[offsets[n]];     // −1 for a negative edge, else the index of the pair's new node
        var pairs = new Dictionary<long, int>();
        for (int i = 0, k = 0; i < n; i++)
        {
            int w = members[i];
            for (int e = g.Offsets[w]; e < g.Offsets[w + 1]; e++)
            {
                double c = g.Agreement[e];
                if (c == 0) continue;
                int j = local[g.Partners[e]];
                partner[k] = j;
                if (c < 0) pairNode[k] = -1;
                else
                {
                    long key = (long)Math.Min(i, j) * n + Math.Max(i, j);
                    if (!pairs.TryGetValue(key, out int p)) { p = pairs.Count; pairs[key] = p; }
                    pairNode[k] = p;
                }
                k++;
            }
        }
        int P = pairs.Count;
        var invSqrt = new double[n];
        for (int i = 0; i < n; i++) invSqrt[i] = 1 / Math.Sqrt(degree[i]);
        double invSqrt2 = 1 / Math.Sqrt(2);
        var x = new double[n]; var y = new double[P];
        var nx = new double[n]; var ny = new double[P];
        for (int i = 0; i < n; i++) x[i] = Math.Sqrt(degree[i]);
        for (int p = 0; p < P; p++) y[p] = -Math.Sqrt(2);
        Normalise(x, y);
        for (int iteration = 0; iteration < 10_000; iteration++)
        {
            // (I − N) [x; y]: negative edges join workers directly (weight 1), positive pairs through their node (two edges of weight 1).
            Array.Clear(ny);
            for (int i = 0; i < n; i++)
            {
                double sum = 0;
                for (int k = offsets[i]; k < offsets[i + 1]; k++)
                {
                    int j = partner[k], p = pairNode[k];
                    if (p < 0) sum += x[j] * invSqrt[j];
                    else if (i < j) { sum += y[p] * invSqrt2; ny[p] -= x[i] * invSqrt[i] * invSqrt2 + x[j] * invSqrt[j] * invSqrt2; }
                    else sum += y[p] * invSqrt2;
                }
                nx[i] = x[i] - invSqrt[i] * sum;
            }
            for (int p = 0; p < P; p++) ny[p] += y[p];
            Normalise(nx, ny);
            double moved = 0;
            for (int i = 0; i < n; i++) moved = Math.Max(moved, Math.Abs(nx[i] - x[i]));
            for (int p = 0; p < P; p++) moved = Math.Max(moved, Math.Abs(ny[p] - y[p]));
            (x, nx) = (nx, x);
            (y, ny) = (ny, y);
            if (moved < 1e-10) break;
            if (iteration % 16 == 15) progress?.Report(new IterationProgress(iteration + 1, 10_000, moved));
        }
        int plus = 0, minus = 0;
        foreach (double v in x) { if (v > 0) plus++; else if (v < 0) minus++; }
        double flip = minus > plus ? -1 : 1;
        for (int i = 0; i < n; i++) signs[members[i]] = x[i] > 0 ? flip : x[i] < 0 ? -flip : 0;
    }

    private static void Normalise(double[] x, double[] y)
    {
        double ss = 0;
        foreach (double v in x) ss += v * v;
        foreach (double v in y) ss += v * v;
        double inv = ss > 0 ? 1 / Math.Sqrt(ss) : 0;
        for (int i = 0; i < x.Length; i++) x[i] *= inv;
        for (int i = 0; i < y.Length; i++) y[i] *= inv;
    }
}
