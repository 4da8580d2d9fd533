using System.Collections.Immutable;
using MathNet.Numerics.LinearAlgebra;
using Tally.Core;
using Tally.Robust;

namespace Tally.Aggregation;

/// <summary>Options of <see cref="SpectralDawidSkene"/>.</summary>
public sealed record SpectralDawidSkeneOptions : IterativeOptions
{
    /// <summary>Defaults: 100 EM iterations, tolerance 1e-5 on the per-answer log-likelihood (as <see cref="DawidSkeneOptions"/>), seed 0.</summary>
    public SpectralDawidSkeneOptions() { MaxIterations = 100; Tolerance = 1e-5; }

    /// <summary>
    /// Additive (Laplace) smoothing of every expected confusion count in the EM M-step, as
    /// <see cref="DawidSkeneOptions.Smoothing"/>. Default 0.01.
    /// </summary>
    public double Smoothing { get; init; } = 0.01;

    /// <summary>
    /// Optional Dirichlet pseudo-counts for the EM M-step: K×K (true class × answer, row-major) for every worker, or
    /// W×K×K per worker, as <see cref="DawidSkeneOptions.PriorCounts"/>. Not used by the spectral stage.
    /// </summary>
    public double[]? PriorCounts { get; init; }

    /// <summary>
    /// The spectral stage needs at least this many tasks × K answered by all three worker groups (the only tasks its
    /// moments use); with fewer, second and third moments of K×K and K×K×K entries are mostly noise and the method
    /// falls back to the majority-vote start. Default 10 (20 common tasks for K = 2, 40 for K = 4).
    /// </summary>
    public int MinTasksPerClass { get; init; } = 10;

    /// <summary>
    /// Largest condition number (σ_max/σ_min) accepted for a matrix the spectral stage inverts (the cross-group
    /// moments E[Z_a ⊗ Z_b] and diag(w)·C_bᵀ); beyond it the moments are treated as singular. Default 1e6.
    /// </summary>
    public double MaxConditionNumber { get; init; } = 1e6;

    /// <summary>
    /// Floor on every entry of the spectral confusion matrices and class weights before they seed EM (rows then
    /// renormalised; capped at 1/(2K)): the simplex projection produces exact zeros, and a zero would let a single
    /// answer veto a class in the first E-step. Default 0.01.
    /// </summary>
    public double ProbabilityFloor { get; init; } = 0.01;

    /// <summary>Random restarts of the tensor power method per component (L in Anandkumar et al.). Default 20.</summary>
    public int Restarts { get; init; } = 20;

    /// <summary>Power iterations per restart (N in Anandkumar et al.). Default 50.</summary>
    public int PowerIterations { get; init; } = 50;

    /// <summary>
    /// The class proportions w. Default <see cref="ClassPriorMode.Learned"/>: the spectral estimate Ŵ seeds EM and the
    /// M-step re-estimates w from the posteriors, as in the paper's MLE stage. <see cref="ClassPriorMode.Uniform"/>
    /// holds w = 1/K in both; <see cref="ClassPriorMode.Auto"/> is the same as learned (a maximum-likelihood fit never
    /// prefers the nested uniform model).
    /// </summary>
    public ClassPriorMode ClassPrior { get; init; } = ClassPriorMode.Learned;

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        Check.AtLeast(Smoothing, 0, nameof(Smoothing));
        Check.AtLeast(MinTasksPerClass, 0, nameof(MinTasksPerClass));
        Check.Above(MaxConditionNumber, 0, nameof(MaxConditionNumber));
        Check.InRange(ProbabilityFloor, 0, 1, nameof(ProbabilityFloor));
        Check.AtLeast(Restarts, 1, nameof(Restarts));
        Check.AtLeast(PowerIterations, 1, nameof(PowerIterations));
        Check.Defined(ClassPrior, nameof(ClassPrior));
    }
}

/// <summary>What the spectral stage of <see cref="SpectralDawidSkene"/> estimated.</summary>
/// <param name="Success">False if the spectral stage could not be run (see <paramref name="FailureReason"/>); the other
/// estimates are then empty / null and the aggregator starts EM from majority vote instead.</param>
/// <param name="FailureReason">Why the stage failed; on success null, or why one group could not be fitted.</param>
/// <param name="Groups">The worker partition: group 0, 1 or 2 of every worker (workers without answers included).</param>
/// <param name="CommonTasks">Tasks answered by all three groups (those behind the moments).</param>
/// <param name="ClassWeights">Ŵ, the class prior (mean over the fitted group decompositions), K; empty on failure.</param>
/// <param name="GroupConfusions">Ĉ_g⋄ for g = 0, 1, 2: the group-aggregated confusion, K×K with row = true class
/// (row y = E[Z_g | y]), after matching components to classes; null for a group whose rotation failed (the stage
/// succeeds with two of three); empty on failure.</param>
/// <param name="WorkerConfusions">Ĉ_i per worker (row = true class, rows on the simplex, before the EM floor); null on failure.</param>
public sealed record SpectralEstimate(bool Success, string? FailureReason, ImmutableArray<int> Groups, int CommonTasks,
    ImmutableArray<double> ClassWeights, ImmutableArray<RowMatrix?> GroupConfusions, ConfusionMatrices? WorkerConfusions);

/// <summary>
/// Spectral Dawid-Skene (Opt-D&amp;S): the Dawid-Skene model (worker i answers l for a task of true class y with
/// probability C_i[l, y]; classes i.i.d. with prior w), fitted by EM started from a spectral method-of-moments estimate
/// instead of majority vote. Y. Zhang, X. Chen, D. Zhou and M. I. Jordan, "Spectral Methods Meet EM: A Provably Optimal
/// Algorithm for Crowdsourcing", NIPS 2014 (journal version JMLR 17(102), 2016): Algorithm 1 (steps 1–4 below) as
/// the first stage, Dawid-Skene EM as the second — the paper's "Opt-D&amp;S", with EM run to convergence as in its
/// experiments.
/// <para>Stage 1 (Algorithm 1): workers are split into three disjoint groups G_1..G_3 (seeded shuffle, then greedy by
/// number of answers so the groups carry similar loads). For each task j and group g the group view Z_gj is the
/// average one-hot vector of the group's answers on j; each moment is averaged over the tasks its groups all answered
/// (<see cref="GroupMoments"/>), so E[Z_g | y] = column y of the group-aggregated confusion C_g⋄ lies on the simplex
/// (step 1). Step 2, for each rotation (a, b, c) ∈ {(2,3,1), (3,1,2), (1,2,3)}: symmetrise the views,
/// Z'_a = E[Z_c⊗Z_b] E[Z_a⊗Z_b]⁻¹ Z_a and Z'_b = E[Z_c⊗Z_a] E[Z_b⊗Z_a]⁻¹ Z_b, so that M2 = E[Z'_a⊗Z'_b] =
/// Σ_y w_y μ_cy⊗μ_cy and M3 = E[Z'_a⊗Z'_b⊗Z_c] = Σ_y w_y μ_cy^{⊗3} with μ_cy column y of C_c⋄ (the paper's moment
/// identities for the symmetrised views); whiten M2 and decompose M3 by the robust tensor power method (<see cref="TensorDecomposition"/>), giving w and C_c⋄; components are matched to classes
/// by the largest diagonal (<see cref="TensorDecomposition.AlignToDiagonal"/>, the paper's step 2(c) as one
/// permutation). Each worker's matrix then comes from its cross moment with another group b:
/// E[z_i ⊗ Z_b] = C_i diag(w) C_b⋄ᵀ, so Ĉ_i = Ê[z_i⊗Z_b] (diag(ŵ_b) Ĉ_b⋄ᵀ)⁻¹ (Algorithm 1 step 3), every column projected
/// onto the probability simplex (step 4), averaged over the two groups b ≠ g(i). If one of the three rotations fails
/// (see below) the other two suffice: every worker then averages over the fitted groups among b ≠ g(i).</para>
/// <para>Stage 2: one E-step with (Ĉ_i, ŵ) (entries floored at <see cref="SpectralDawidSkeneOptions.ProbabilityFloor"/>)
/// gives the starting posteriors, then Dawid-Skene EM exactly as <see cref="DawidSkene"/> (same M-step, smoothing,
/// prior counts, stopping rule; gold labels clamped in EM, not used by the spectral stage).</para>
/// <para>Fallback: with K = 1, fewer than three workers with answers, fewer than
/// <see cref="SpectralDawidSkeneOptions.MinTasksPerClass"/>·K tasks answered by all three groups, an ill-conditioned
/// moment matrix or a failed tensor decomposition in two of the three rotations, EM starts from majority vote, i.e. the
/// result is that of <see cref="DawidSkene"/> with the same options. <see cref="AggregationResult.WorkerParameters"/> says which start
/// was used: <c>spectral_start</c> = 1 for every worker if the spectral start was used, 0 if the fallback was;
/// <c>spectral_group</c> = the worker's group (0–2); and, only when the spectral start was used,
/// <c>spectral_accuracy</c> = Σ_y ŵ_y Ĉ_i[y, y], the spectral stage's estimate of the worker's accuracy.</para>
/// Worker skill = Σ_j ρ_j π_w[j, j] after EM, as for <see cref="DawidSkene"/>.
/// Identifiability: like majority vote, the spectral stage assumes the crowd (each group on aggregate) answers every
/// class correctly more often than it answers it as any one other class; a crowd dominated by adversaries who
/// consistently permute the classes is indistinguishable from an honest one under the model.
/// </summary>
public sealed class SpectralDawidSkene(SpectralDawidSkeneOptions? options = null) : IAggregator
{
    /// <summary>The options in use.</summary>
    public SpectralDawidSkeneOptions Options { get; } = options ?? new SpectralDawidSkeneOptions();

    /// <inheritdoc />
    public string Name => "spectral";

    /// <inheritdoc />
    public AggregationResult Aggregate(LabelMatrix answers, ComputeOptions? compute = null, IProgress<IterationProgress>? progress = null,
        CancellationToken cancellationToken = default) => Fit(answers, null, compute, progress, cancellationToken);

    /// <inheritdoc />
    public bool SupportsWarmStart => true;

    /// <summary>Dawid-Skene EM from the posteriors <paramref name="start"/> predicts (the spectral stage is skipped: the model is the better start).</summary>
    public AggregationResult Refine(AggregationModel start, LabelMatrix answers, ComputeOptions? compute = null,
        IProgress<IterationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        Options.Validate();
        return Fit(answers, AggregationModel.StartingPosteriors(start, Name, answers, compute, cancellationToken), compute, progress, cancellationToken);
    }

    /// <summary>
    /// How much higher (log-likelihood per answer) the majority-vote start's maximum must be to replace the spectral
    /// start's: two runs that reach the same maximum differ by about the EM tolerance, and the spectral start is the
    /// method; only a clearly better maximum (1e-3 per answer: 4 nats on the 4,212 duck answers) overrides it.
    /// </summary>
    private const double LikelihoodMargin = 1e-3;

    private AggregationResult Fit(LabelMatrix answers, double[]? warmStart, ComputeOptions? compute,
        IProgress<IterationProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(answers);
        Options.Validate();
        int k = answers.ClassCount, T = answers.TaskCount, W = answers.WorkerCount;
        // EM as ds (3 W·K² copies); the spectral stage adds the workers' cross moments and starting confusions and a
        // few K × K × K moment tensors.
        if (warmStart is null)
            Footprints.Require(Name, answers, compute, confusions: 6, extra: 8 * Footprint.Doubles((double)k * k * k), extraWhat: $"{k:N0}³ moment tensors");
        else
            Footprints.Require(Name, answers, compute, confusions: 3);
        if (Options.PriorCounts is { } pc && pc.Length != (long)k * k && pc.Length != (long)W * k * k)
            throw new InvalidOptionException(nameof(SpectralDawidSkeneOptions.PriorCounts), $"must have K×K = {(long)k * k} or W×K×K = {(long)W * k * k} entries (got {pc.Length})");
        var spectral = warmStart is null ? Estimate(answers, cancellationToken) : null;
        bool uniformPrior = Options.ClassPrior == ClassPriorMode.Uniform;
        void MStep(double[] counts, double[] totals, double[] lc, double[] lp)
        {
            ConfusionEm.DawidSkeneMStep(W, k, counts, totals, lc, lp);
            if (uniformPrior) lp.AsSpan().Fill(-Math.Log(k));
        }
        ConfusionEm.EmRun run;
        if (spectral is { Success: true })
        {
            var (startConf, startPrior) = StartingParameters(spectral, W, k);
            if (uniformPrior) startPrior.AsSpan().Fill(-Math.Log(k));
            var post = new double[MemoryBudget.Length(T, k)];
            ConfusionEm.EStep(answers, startConf, startPrior, post, new EmWorkspace(answers), compute, cancellationToken);
            // Two EM runs: each fills half of the progress bar.
            int its = Math.Max(1, Options.MaxIterations);
            run = ConfusionEm.Run(answers, Options, Options.PriorCounts, Options.Smoothing, MStep, compute,
                PhaseProgress.Of(progress, 0, 2 * its), cancellationToken, post);
            // Both starts lead EM to a local maximum of the same likelihood; keep the higher. Why: with a rare class
            // (a few % of the tasks, 3 answers each) the moments can split the common class instead, and EM from there
            // stays split (measured on a 97/3 crowd: 36 % accuracy where EM from majority vote reaches 95 %), while
            // where the majority is misled the spectral start's maximum is the higher one (SpectralDawidSkeneTests).
            var fromVote = ConfusionEm.Run(answers, Options, Options.PriorCounts, Options.Smoothing, MStep, compute,
                PhaseProgress.Of(progress, its, 2 * its), cancellationToken, null);
            // With 3 answers per task and a rare class the two maxima can be equally likely (within the margin) while
            // the spectral one has split the common class, so that its average worker answers some class wrongly more
            // often than rightly — against the identifiability assumption the spectral stage itself makes (Zhang et
            // al. §2). Then the majority-vote start's maximum is kept if it violates the assumption less. Measured on
            // ten 97/3 crowds: it fires on the two where the spectral maximum was worse (35.5 % and 74.4 % give way to
            // 87.9 % and 86.3 %) and on none other; where the spectral maximum is diagonal it is never replaced on a tie.
            if (fromVote.Trace.Length > 0 && run.Trace.Length > 0)
            {
                double gain = fromVote.Trace[^1] - run.Trace[^1];
                double spectralMargin = DiagonalMargin(answers, run.LogConfusions, k);
                bool voteBetter = gain > LikelihoodMargin
                    || (gain >= -LikelihoodMargin && spectralMargin <= 0 && DiagonalMargin(answers, fromVote.LogConfusions, k) > spectralMargin + DiagonalTie);
                if (voteBetter)
                {
                    run = fromVote;
                    spectral = spectral with
                    {
                        Success = false,
                        FailureReason = gain > LikelihoodMargin ? "EM from majority vote reached a higher likelihood than from the spectral start."
                            : "EM from majority vote reached an equally likely maximum whose average worker is more clearly better than chance.",
                    };
                }
            }
        }
        else
            run = ConfusionEm.Run(answers, Options, Options.PriorCounts, Options.Smoothing, MStep, compute, progress, cancellationToken, warmStart);

        var parameters = ImmutableDictionary<string, ImmutableArray<double>>.Empty;
        var started = new double[W];
        var group = new double[W];
        Array.Fill(started, spectral is { Success: true } ? 1.0 : 0.0);
        if (spectral is not null) for (int w = 0; w < W; w++) group[w] = spectral.Groups[w];
        parameters = parameters.Add("spectral_start", AggregationResult.Wrap(started));
        if (spectral is not null) parameters = parameters.Add("spectral_group", AggregationResult.Wrap(group));
        if (spectral is { Success: true })
        {
            var acc = new double[W];
            for (int w = 0; w < W; w++)
                for (int y = 0; y < k; y++) acc[w] += spectral.ClassWeights[y] * spectral.WorkerConfusions![w, y, y];
            parameters = parameters.Add("spectral_accuracy", AggregationResult.Wrap(acc));
        }
        return ConfusionEm.Result(Name, Options, answers, run, null) with { WorkerParameters = parameters };
    }

    /// <summary>
    /// How much larger (as a share of the average worker's answers) the majority-vote maximum's diagonal margin must be
    /// to replace an equally likely spectral maximum that violates the assumption. On crowds where most workers really
    /// confuse a class (SpectralDawidSkeneTests, "the majority is misled") the right maximum has a negative margin too and
    /// the two differ by at most 0.03; on the 97/3 crowds the split maxima are 0.14 worse.
    /// </summary>
    private const double DiagonalTie = 0.05;

    /// <summary>
    /// The smallest diagonal margin min_j (P(j | j) − max_{l≠j} P(l | j)) of the answer-weighted average of the fitted
    /// confusions (<c>logConf[w·K² + l·K + j]</c> = log P(answer l | class j)): positive when the average worker answers
    /// every class correctly more often than as any other class.
    /// </summary>
    private static double DiagonalMargin(LabelMatrix answers, double[] logConf, int k)
    {
        var mean = new double[k * k];
        var offsets = answers.WorkerOffsets;
        for (int w = 0; w < answers.WorkerCount; w++)
        {
            double n = offsets[w + 1] - offsets[w];
            if (n == 0) continue;
            int b = w * k * k;
            for (int j = 0; j < k; j++)
                for (int l = 0; l < k; l++) mean[j * k + l] += n * Math.Exp(logConf[b + l * k + j]);
        }
        double margin = double.PositiveInfinity;
        for (int j = 0; j < k; j++)
        {
            double total = 0, other = 0;
            for (int l = 0; l < k; l++)
            {
                total += mean[j * k + l];
                if (l != j) other = Math.Max(other, mean[j * k + l]);
            }
            if (total > 0) margin = Math.Min(margin, (mean[j * k + j] - other) / total);
        }
        return margin;
    }

    /// <summary>
    /// Stage 1 alone (Algorithm 1): the worker partition, class weights, group-aggregated and per-worker confusion
    /// matrices, or a failure with its reason. Deterministic for given options (the seed drives the partition and the
    /// power method's restarts).
    /// </summary>
    public SpectralEstimate Estimate(LabelMatrix answers, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(answers);
        int k = answers.ClassCount, W = answers.WorkerCount, kk = k * k;
        var groups = Partition(answers, Options.Seed, out int activeWorkers);
        var groupArray = ImmutableArray.Create(groups);
        SpectralEstimate Fail(string reason, int common = 0) =>
            new(false, reason, groupArray, common, ImmutableArray<double>.Empty, ImmutableArray<RowMatrix?>.Empty, null);
        if (k < 2) return Fail("K = 1: nothing to estimate.");
        if (activeWorkers < 3) return Fail($"{activeWorkers} worker(s) with answers; three groups need at least 3.");

        if ((long)W * 2 * kk > Array.MaxLength) throw new ArgumentException("Too many workers × classes² for the spectral stage.", nameof(answers));
        var sums = GroupMoments.Accumulate(answers, groups, cancellationToken);
        var (pairs, triple, cross, crossCount, common) = (sums.Pairs, sums.Triple, sums.Cross, sums.CrossCount, sums.CommonTasks);
        if (common < Math.Max(1, Options.MinTasksPerClass * k))
            return Fail($"{common} task(s) answered by all three groups; the spectral stage needs {Math.Max(1, Options.MinTasksPerClass * k)}.", common);

        var td = new TensorDecomposition(new TensorDecompositionOptions
        {
            Restarts = Options.Restarts,
            Iterations = Options.PowerIterations,
            Seed = Options.Seed,
            ProjectToSimplex = true,
        });
        // One rotation per target group; a group whose moments cannot be decomposed is skipped as long as two are
        // left, so that every worker still has another fitted group to take its cross moment with.
        var groupConf = new double[]?[3];
        var groupWeights = new double[]?[3];
        var failures = new List<string>();
        for (int c = 0; c < 3; c++)
        {
            var fit = FitGroup(pairs, triple, c, k, td, Options.MaxConditionNumber, out var reason);
            if (fit is null) { failures.Add($"group {c}: {reason}"); continue; }
            (groupWeights[c], groupConf[c]) = fit.Value;
        }
        if (failures.Count > 1) return Fail(string.Join(" ", failures), common);
        var weights = new double[k];
        var meanConf = new double[kk];
        for (int c = 0; c < 3; c++)
        {
            if (groupWeights[c] is not { } gw) continue;
            for (int y = 0; y < k; y++) weights[y] += gw[y];
            for (int i = 0; i < kk; i++) meanConf[i] += groupConf[c]![i] / (3 - failures.Count);
        }
        Numerics.Normalize(weights);

        // (diag(ŵ_b) Ĉ_bᵀ)⁻¹ per group, in the [y][m] layout (row = true class): B_b[y, m] = ŵ_b[y] Ĉ_b[y, m].
        var inverse = new Matrix<double>?[3];
        int invertible = 0;
        for (int b = 0; b < 3; b++)
        {
            if (groupConf[b] is not { } cb) continue;
            var gw = groupWeights[b]!;
            var m = Matrix<double>.Build.Dense(k, k, (y, l) => gw[y] * cb[y * k + l]);
            if (Conditioned(m, Options.MaxConditionNumber)) { inverse[b] = m.Inverse(); invertible++; }
        }
        if (invertible < 2) return Fail("fewer than two groups with an invertible diag(w)·C_bᵀ.", common);

        var workerConf = new double[MemoryBudget.Length(W, kk)];
        var e = Matrix<double>.Build.Dense(k, k);
        var acc = new double[kk];
        var col = new double[k];
        for (int w = 0; w < W; w++)
        {
            int g = groups[w], used = 0;
            Array.Clear(acc);
            for (int b = 0; b < 3; b++)
            {
                if (b == g || inverse[b] is not { } inv) continue;
                int s = w * 2 + (b < g ? b : b - 1);
                if (crossCount[s] == 0) continue;
                for (int l = 0; l < k; l++)
                    for (int m = 0; m < k; m++) e[l, m] = cross[s * kk + l * k + m] / crossCount[s];
                var x = e * inv; // x[l, y] = Ĉ_i[l, y] (column = true class)
                for (int y = 0; y < k; y++)
                {
                    for (int l = 0; l < k; l++) col[l] = x[l, y];
                    Simplex.Project(col);
                    for (int l = 0; l < k; l++) acc[y * k + l] += col[l];
                }
                used++;
            }
            var dst = workerConf.AsSpan(w * kk, kk);
            if (used == 0) (groupConf[g] ?? meanConf).AsSpan().CopyTo(dst); // no cross evidence: the group aggregate
            else for (int i = 0; i < kk; i++) dst[i] = acc[i] / used;
            for (int y = 0; y < k; y++) Numerics.Normalize(dst.Slice(y * k, k));
        }
        var groupMatrices = ImmutableArray.Create(Matrix(groupConf[0]), Matrix(groupConf[1]), Matrix(groupConf[2]));
        RowMatrix? Matrix(double[]? v) => v is null ? null : new RowMatrix(k, k, v);
        return new SpectralEstimate(true, failures.Count == 0 ? null : failures[0], groupArray, common, AggregationResult.Wrap(weights), groupMatrices,
            new ConfusionMatrices(W, k, workerConf));
    }

    /// <summary>
    /// Splits the workers into three groups: a seeded shuffle, then workers in decreasing number of answers (shuffled
    /// order among equals) each go to the group with the fewest answers so far (lowest index on ties). With at least
    /// three workers who answered, every group gets one of them.
    /// </summary>
    internal static int[] Partition(LabelMatrix answers, int seed, out int activeWorkers)
    {
        int W = answers.WorkerCount;
        var order = new int[W];
        for (int i = 0; i < W; i++) order[i] = i;
        var rng = Seeding.Random(seed);
        for (int i = W - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        var rank = new int[W];
        for (int i = 0; i < W; i++) rank[order[i]] = i;
        Array.Sort(order, (x, y) =>
        {
            int c = answers.WorkerDegree(y).CompareTo(answers.WorkerDegree(x));
            return c != 0 ? c : rank[x].CompareTo(rank[y]);
        });
        var groups = new int[W];
        Span<long> load = stackalloc long[3];
        load.Clear();
        activeWorkers = 0;
        foreach (int w in order)
        {
            int best = 0;
            for (int g = 1; g < 3; g++) if (load[g] < load[best]) best = g;
            groups[w] = best;
            int d = answers.WorkerDegree(w);
            load[best] += d;
            if (d > 0) activeWorkers++;
        }
        return groups;
    }

    /// <summary>Fills the blocks (y, x) = (x, y)ᵀ of the 3×3 block array of pair moments (K×K blocks).</summary>
    internal static void CompletePairs(double[] pairs, int k)
    {
        int kk = k * k;
        for (int x = 0; x < 3; x++)
            for (int y = x + 1; y < 3; y++)
                for (int p = 0; p < k; p++)
                    for (int q = 0; q < k; q++)
                        pairs[(y * 3 + x) * kk + q * k + p] = pairs[(x * 3 + y) * kk + p * k + q];
    }

    /// <summary>
    /// One rotation of Algorithm 1 step 2 for target group <paramref name="c"/> (a = c + 1, b = c + 2 mod 3): symmetrise,
    /// form M2 and M3, decompose, match components to classes. <paramref name="pairs"/> holds the 3×3 blocks
    /// E[Z_x ⊗ Z_y] (K×K each, block (x, y) at (3x + y)·K²; diagonal blocks unused), <paramref name="triple"/> is
    /// E[Z_0 ⊗ Z_1 ⊗ Z_2]. Returns (w, Ĉ_c⋄ as K×K row = true class), or null with the reason.
    /// </summary>
    internal static (double[] Weights, double[] Confusion)? FitGroup(ReadOnlySpan<double> pairs, ReadOnlySpan<double> triple, int c, int k,
        TensorDecomposition decomposition, double maxCondition, out string? reason)
    {
        int a = (c + 1) % 3, b = (c + 2) % 3, kk = k * k;
        var pairArray = pairs.ToArray();
        Matrix<double> Pair(int x, int y) => Matrix<double>.Build.Dense(k, k, (p, q) => pairArray[(x * 3 + y) * kk + p * k + q]);
        var wab = Pair(a, b);
        var wba = Pair(b, a);
        if (!Conditioned(wab, maxCondition)) { reason = $"E[Z_{a}⊗Z_{b}] is singular (condition number above {maxCondition:g3})."; return null; }
        var sa = Pair(c, b) * wab.Inverse();   // Z'_a = E[Z_c⊗Z_b] E[Z_a⊗Z_b]⁻¹ Z_a
        var sb = Pair(c, a) * wba.Inverse();   // Z'_b = E[Z_c⊗Z_a] E[Z_b⊗Z_a]⁻¹ Z_b
        var m2 = sa * wab * sb.Transpose();
        var m2v = new double[kk];
        for (int p = 0; p < k; p++) for (int q = 0; q < k; q++) m2v[p * k + q] = m2[p, q];

        // T_abc[p, q, r] = E[Z_a(p) Z_b(q) Z_c(r)], read from E[Z_0⊗Z_1⊗Z_2] by placing each index at its group.
        Span<int> idx = stackalloc int[3];
        var tabc = new double[MemoryBudget.Length(kk, k)];
        for (int p = 0; p < k; p++)
            for (int q = 0; q < k; q++)
                for (int r = 0; r < k; r++)
                {
                    idx[a] = p; idx[b] = q; idx[c] = r;
                    tabc[(p * k + q) * k + r] = triple[(idx[0] * k + idx[1]) * k + idx[2]];
                }
        // M3 = T_abc(S_aᵀ, S_bᵀ, I): first mode a, then mode b.
        var half = new double[MemoryBudget.Length(kk, k)]; // half[x, q, r] = Σ_p S_a[x, p] T[p, q, r]
        for (int x = 0; x < k; x++)
            for (int p = 0; p < k; p++)
            {
                double s = sa[x, p];
                if (s == 0) continue;
                for (int qr = 0; qr < kk; qr++) half[x * kk + qr] += s * tabc[p * kk + qr];
            }
        var m3 = new double[MemoryBudget.Length(kk, k)];
        for (int x = 0; x < k; x++)
            for (int y = 0; y < k; y++)
                for (int q = 0; q < k; q++)
                {
                    double s = sb[y, q];
                    if (s == 0) continue;
                    for (int r = 0; r < k; r++) m3[(x * k + y) * k + r] += s * half[(x * k + q) * k + r];
                }

        var model = decomposition.Decompose(m2v, m3, k, k);
        if (!model.Success) { reason = "the tensor decomposition failed (M2 not of rank K or no positive eigenvalue)."; return null; }
        var means = model.Means.Values;
        var perm = TensorDecomposition.AlignToDiagonal(means, k);
        var w = new double[k];
        var conf = new double[kk];
        for (int y = 0; y < k; y++)
        {
            w[y] = model.Weights[perm[y]];
            means.Slice(perm[y] * k, k).CopyTo(conf.AsSpan(y * k, k));
        }
        for (int i = 0; i < conf.Length; i++) if (!double.IsFinite(conf[i])) { reason = "non-finite component."; return null; }
        for (int y = 0; y < k; y++) if (!double.IsFinite(w[y])) { reason = "non-finite weight."; return null; }
        Numerics.Normalize(w);
        reason = null;
        return (w, conf);
    }

    /// <summary>Log-parameters of the EM start ([w][l][y] layout) from the spectral estimate, entries floored.</summary>
    private (double[] LogConf, double[] LogPrior) StartingParameters(SpectralEstimate est, int W, int k)
    {
        double floor = Math.Clamp(Options.ProbabilityFloor, 0, 0.5 / k);
        var logConf = new double[MemoryBudget.Length(W, k, k)];
        Span<double> row = stackalloc double[k];
        var conf = est.WorkerConfusions!;
        for (int w = 0; w < W; w++)
            for (int y = 0; y < k; y++)
            {
                for (int l = 0; l < k; l++) row[l] = Math.Max(conf[w, y, l], floor);
                Numerics.Normalize(row);
                for (int l = 0; l < k; l++) logConf[(w * k + l) * k + y] = Math.Log(Math.Max(row[l], Numerics.MinProbability));
            }
        var logPrior = new double[k];
        for (int y = 0; y < k; y++) row[y] = Math.Max(est.ClassWeights[y], floor);
        Numerics.Normalize(row);
        for (int y = 0; y < k; y++) logPrior[y] = Math.Log(Math.Max(row[y], Numerics.MinProbability));
        return (logConf, logPrior);
    }

    private static bool Conditioned(Matrix<double> m, double maxCondition)
    {
        for (int i = 0; i < m.RowCount; i++)
            for (int j = 0; j < m.ColumnCount; j++)
                if (!double.IsFinite(m[i, j])) return false;
        var sv = m.Svd(computeVectors: false).S;
        double max = sv[0], min = sv[sv.Count - 1];
        for (int i = 0; i < sv.Count; i++) { max = Math.Max(max, sv[i]); min = Math.Min(min, sv[i]); }
        return max > 0 && min > 0 && max / min <= maxCondition;
    }
}

/// <summary>
/// Moments of the three group views (Algorithm 1 step 1) and each worker's raw cross moment with the two other groups.
/// </summary>
/// <param name="Pairs">3×3 blocks E[Z_x ⊗ Z_y | x and y answered] (K×K each, block (x, y) at (3x + y)·K², both orders
/// filled; diagonal blocks 0).</param>
/// <param name="Triple">E[Z_0 ⊗ Z_1 ⊗ Z_2 | all three answered], K³.</param>
/// <param name="Cross">Per worker w and other group b (slot s = 2w + (b &lt; g(w) ? b : b − 1)): Σ e_answer ⊗ Z_b (K×K,
/// row = answer) over w's answers on tasks group b also answered.</param>
/// <param name="CrossCount">Number of answers behind each <paramref name="Cross"/> block.</param>
/// <param name="CommonTasks">Tasks answered by all three groups.</param>
internal sealed record GroupMoments(double[] Pairs, double[] Triple, double[] Cross, int[] CrossCount, int CommonTasks)
{
    /// <summary>
    /// One pass over the tasks; Z_g = mean one-hot answer of group g's workers on the task. Each pair moment is averaged
    /// over the tasks both of its groups answered and the triple over the tasks all three answered. (With the paper's
    /// zero vector for an absent group and averages over all tasks, each moment would carry a factor P(its groups
    /// answered) that the symmetrisation does not cancel; conditioning every moment on its own groups' presence removes
    /// the factors when assignment does not depend on the true class, and lets a pair moment use every task the pair
    /// shares.)
    /// </summary>
    public static GroupMoments Accumulate(LabelMatrix answers, int[] groups, CancellationToken ct)
    {
        int k = answers.ClassCount, W = answers.WorkerCount, T = answers.TaskCount, kk = k * k;
        var pairs = new double[MemoryBudget.Length(9, kk)];    // block (x, y), x < y, accumulates Σ Z_x Z_yᵀ
        var triple = new double[MemoryBudget.Length(kk, k)];   // Σ Z_0 ⊗ Z_1 ⊗ Z_2
        var pairTasks = new int[9];
        var cross = new double[MemoryBudget.Length(W, 2, kk)];
        var crossCount = new int[MemoryBudget.Length(W, 2)];
        var z = new double[MemoryBudget.Length(3, k)];
        Span<int> n = stackalloc int[3];
        var off = answers.TaskOffsets;
        var tw = answers.TaskWorkers;
        var tl = answers.TaskLabels;
        int common = 0;
        for (int t = 0; t < T; t++)
        {
            if ((t & 0xFFFF) == 0) ct.ThrowIfCancellationRequested();
            Array.Clear(z);
            n.Clear();
            for (int i = off[t]; i < off[t + 1]; i++)
            {
                int g = groups[tw[i]];
                z[g * k + tl[i]] += 1;
                n[g]++;
            }
            for (int g = 0; g < 3; g++)
                if (n[g] > 0) for (int l = 0; l < k; l++) z[g * k + l] /= n[g];
            for (int i = off[t]; i < off[t + 1]; i++)
            {
                int w = tw[i], g = groups[w], l = tl[i];
                for (int b = 0; b < 3; b++)
                {
                    if (b == g || n[b] == 0) continue;
                    int s = w * 2 + (b < g ? b : b - 1);
                    crossCount[s]++;
                    var dst = cross.AsSpan(s * kk + l * k, k);
                    for (int m = 0; m < k; m++) dst[m] += z[b * k + m];
                }
            }
            for (int x = 0; x < 3; x++)
                for (int y = x + 1; y < 3; y++)
                {
                    if (n[x] == 0 || n[y] == 0) continue;
                    pairTasks[x * 3 + y]++;
                    var block = pairs.AsSpan((x * 3 + y) * kk, kk);
                    for (int p = 0; p < k; p++)
                    {
                        double zp = z[x * k + p];
                        if (zp == 0) continue;
                        for (int q = 0; q < k; q++) block[p * k + q] += zp * z[y * k + q];
                    }
                }
            if (n[0] == 0 || n[1] == 0 || n[2] == 0) continue;
            common++;
            for (int p = 0; p < k; p++)
            {
                double zp = z[p];
                if (zp == 0) continue;
                for (int q = 0; q < k; q++)
                {
                    double zpq = zp * z[k + q];
                    if (zpq == 0) continue;
                    var row = triple.AsSpan((p * k + q) * k, k);
                    for (int r = 0; r < k; r++) row[r] += zpq * z[2 * k + r];
                }
            }
        }
        for (int xy = 0; xy < 9; xy++)
            if (pairTasks[xy] > 0) for (int i = 0; i < kk; i++) pairs[xy * kk + i] /= pairTasks[xy];
        if (common > 0) for (int i = 0; i < triple.Length; i++) triple[i] /= common;
        SpectralDawidSkene.CompletePairs(pairs, k);
        return new GroupMoments(pairs, triple, cross, crossCount, common);
    }
}
