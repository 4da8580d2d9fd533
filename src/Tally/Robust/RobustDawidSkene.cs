using System.Collections.Immutable;
using Tally.Aggregation;
using Tally.Core;

namespace Tally.Robust;

/// <summary>Options of <see cref="RobustDawidSkene"/>.</summary>
public sealed record RobustDawidSkeneOptions
{
    /// <summary>β, the assumed bound on the fraction of adversarial batches (= workers with <see cref="MomentBatching.Worker"/>). Default 0.1.</summary>
    public double AdversaryFraction { get; init; } = 0.1;
    /// <summary>
    /// C of the batch learner's stopping threshold (<see cref="RobustBatchOptions.ThresholdConstant"/>). Default 0.3:
    /// on symmetric crowds without adversaries the honest excess variance stayed ≥ 3× below τ (no worker lost trust),
    /// while C = 1 missed sparse label-flippers and shared-coin colluders that 0.3 catches (RobustDawidSkeneTests).
    /// On heterogeneous real crowds the filter also discounts unusual honest workers; see <see cref="TrustWeighting"/>.
    /// </summary>
    public double ThresholdConstant { get; init; } = 0.3;
    /// <summary>How answers are grouped into batches for the robust learner. Default <see cref="MomentBatching.Worker"/> (works on sparse designs; corruption fraction α rather than ≈ 3α).</summary>
    public MomentBatching Batching { get; init; } = MomentBatching.Worker;
    /// <summary>With <see cref="MomentBatching.AgentTuple"/>, the fewest joint reports a pair/triple needs to form a batch. Default 5.</summary>
    public int MinBatchSize { get; init; } = 5;
    /// <summary>
    /// With <see cref="MomentBatching.Worker"/>, weight each answer's log-likelihood in eq. (11) by its worker's trust ω
    /// (posterior ∝ w_j Π Γ[j, y]^ω): workers the filter discarded stop voting. False = the paper's plain eq. (11),
    /// where only (w, Γ) are robust and every answer counts fully. Default true. Measured: against 20% constant-label
    /// colluders (sparse crowd, RobustDawidSkeneTests) 86.6% with trust vs 79.8% without; but on the heterogeneous real
    /// "duck" data the filter discounts 21 of 39 workers (the crowd is not symmetric) and accuracy is 80.6% with trust
    /// vs 85.2% without (ds: 89.8%) — turn it off for crowds far from the symmetric model.
    /// </summary>
    public bool TrustWeighting { get; init; } = true;
    /// <summary>Random restarts of the tensor power method. Default 20.</summary>
    public int Restarts { get; init; } = 20;
    /// <summary>Power iterations per restart. Default 50.</summary>
    public int PowerIterations { get; init; } = 50;
    /// <summary>
    /// Floor on every entry of the fitted Γ and w before logs are taken (rows renormalised): an entry estimated as 0 from
    /// moments is more likely noise than an impossibility, and a hard 0 would let one answer veto a class. Capped at
    /// 1/(2K) per entry. Default 0.01.
    /// </summary>
    public double ProbabilityFloor { get; init; } = 0.01;
    /// <summary>Seed for partner draws and tensor restarts.</summary>
    public int Seed { get; init; }
    /// <summary>
    /// The class weights w in the posterior of eq. (11). Default <see cref="ClassPriorMode.Learned"/>: the weights the
    /// tensor decomposition recovered (the paper's MLE step). <see cref="ClassPriorMode.Uniform"/> uses w = 1/K there;
    /// <see cref="ClassPriorMode.Auto"/> is the same as learned (a maximum-likelihood fit never prefers the nested uniform model).
    /// </summary>
    public ClassPriorMode ClassPrior { get; init; } = ClassPriorMode.Learned;
    /// <summary>
    /// Refine (w, Γ) from the moment estimate by trust-weighted EM on the symmetric model's likelihood before labelling.
    /// Default false: measured on the lab's imbalanced crowds (<c>tally lab aggregation imbalance</c>, 90/10, 10 seeds)
    /// it lowered accuracy from 91.5 to 90.4 %, it costs 1.4 points on the bundled dog data and 0.9 on duck (it gains
    /// 1.2 on face), and held-out prediction with the fitted model falls 4.6 points below a direct fit (AggregationModelTests).
    /// </summary>
    public bool Refinement { get; init; }
    /// <summary>
    /// After the robust stage, refine one confusion matrix per worker by Dawid-Skene EM started from the robust fit
    /// (<see cref="RobustWorkerConfusions"/>): E-step posterior ∝ w_j Π_u π_u[j, y]^ω_u (trust-weighted as eq. (11)
    /// when <see cref="TrustWeighting"/> is on), M-step π_u[j, ·] ∝ K·Γ[j, ·] + N_u[j, ·] (a prior worth K answers per
    /// row centred on the robust Γ) and w = the mean posterior (unless held uniform). Default false, because it gives up
    /// the robustness the method exists for. Measured (<c>tally lab aggregation</c>, 20 seeds; docs/aggregation.md,
    /// section 4): against coordinated colluders it collapses as Dawid-Skene does (heterogeneous crowd, α = 0.25:
    /// 51.5 % against 72.5 % without it; symmetric rowdy crowd, α = 0.3: 56.9 against 68.7) — the filter trusts every
    /// colluder on the heterogeneous crowd, so a guard built on its trust cannot notice — and on the symmetric rowdy
    /// crowds, where one shared Γ is the right model, the per-worker matrices over-fit 25 answers each (constant
    /// colluders, α = 0.2: 83.0 against 86.1). It gains where honest workers differ: duck 89.81 % against 80.56 %, dog
    /// 83.89 against 82.90, face 64.90 against 64.38, the heterogeneous crowd with few colluders (coordinated, α = 0.1:
    /// 91.7 against 81.7; flippers decoded, α = 0.15: 98.1 against 58.4), and the 90/10 imbalanced crowds with
    /// <see cref="TrustWeighting"/> off (94.18 % against 91.48, ds 93.71; with trust weighting 91.05, because the
    /// filter discounts most of that heterogeneous crowd).
    /// </summary>
    public bool WorkerConfusions { get; init; }

    /// <summary>Checks the options.</summary>
    /// <exception cref="InvalidOptionException">An option is out of range.</exception>
    public void Validate()
    {
        if (!(AdversaryFraction > 0 && AdversaryFraction < 0.5))
            throw new InvalidOptionException(nameof(AdversaryFraction), $"must be in (0, 1/2) (got {NumberFormat.Number(AdversaryFraction)})");
        Check.Above(ThresholdConstant, 0, nameof(ThresholdConstant));
        Check.Defined(Batching, nameof(Batching));
        Check.AtLeast(MinBatchSize, 1, nameof(MinBatchSize));
        Check.AtLeast(Restarts, 1, nameof(Restarts));
        Check.AtLeast(PowerIterations, 1, nameof(PowerIterations));
        Check.InRange(ProbabilityFloor, 0, 1, nameof(ProbabilityFloor));
        Check.Defined(ClassPrior, nameof(ClassPrior));
    }
}

/// <summary>The fitted robust symmetric Dawid-Skene model.</summary>
/// <param name="ClassWeights">w, in class order (floored and normalised).</param>
/// <param name="Confusion">Γ, K × K (row = true class, floored and normalised), shared by all honest workers.</param>
/// <param name="Trust">Per-worker trust ω ∈ [0, 1] from the batch filter (all 1 with <see cref="MomentBatching.AgentTuple"/>).</param>
/// <param name="Success">False if the tensor step failed and the one-coin fallback was used.</param>
/// <param name="FilterIterations">Iterations of the batch filter.</param>
public sealed record RobustSymmetricModel(ImmutableArray<double> ClassWeights, RowMatrix Confusion, ImmutableArray<double> Trust,
    bool Success, int FilterIterations);

/// <summary>
/// Robust symmetric Dawid-Skene: every honest worker shares class weights w and confusion Γ (Γ[j, l] = P(answer l |
/// class j)); (w, Γ) are recovered from robust estimates of the pair and triple moments M2, M3 of distinct workers'
/// answers on a task by whitening and the tensor power method (<see cref="TensorDecomposition"/>), and each task's
/// posterior is ∝ w_j Π_answers Γ[j, y] (log space). This is Mechanism 3 stages 1–2 of G. Schoenebeck, F.-Y. Yu et al.,
/// "Information Elicitation from Rowdy Crowds", WWW 2021 (§6.2, eqs. (9)–(11), Algorithm 4 for the batches), used
/// for inference on all tasks rather than on a held-out split (no payments here).
/// Default robustness (<see cref="MomentBatching.Worker"/>): the batch learner (<see cref="RobustBatchDistributionEstimator"/>)
/// filters per-worker batches of (own answer, random co-worker's answer) pairs; its batch weights become per-worker
/// trust ω ∈ [0, 1], the moments are trust-weighted, and (with <see cref="RobustDawidSkeneOptions.TrustWeighting"/>)
/// so are the answers in eq. (11). Components are matched to classes by <see cref="TensorDecomposition.AlignToDiagonal"/>
/// (assumes the honest crowd answers each class correctly more often than any other component does).
/// If the moments cannot be decomposed (K = 1, no task with three answers, M2 of rank &lt; K) the model falls back to
/// a one-coin Γ whose accuracy solves P(two answers agree) = p² + (1 − p)²/(K − 1) (0.7 if no task has two answers),
/// with w = the (trust-weighted) answer marginal, and <see cref="AggregationResult.Converged"/> is false.
/// Result: ClassPriors = w, Confusions = Γ for every worker (symmetric model; with
/// <see cref="RobustDawidSkeneOptions.WorkerConfusions"/> each worker's refined π_u), WorkerSkills = trust ω
/// (1 = kept by the filter, or no evidence), Iterations = filter iterations, LogLikelihoods = the final (trust-weighted)
/// log-likelihood per answer. Lives in <c>Tally.Robust</c> with its building blocks.
/// Limits: discarding adversaries is all it does with them — colluders who answer a fixed permutation of the truth are
/// informative to a per-worker model, and full Dawid-Skene beats this method on them once each worker has tens of
/// answers (measured −7 to −8 points); it also assumes honest workers share one Γ.
/// </summary>
public sealed class RobustDawidSkene(RobustDawidSkeneOptions? options = null) : IAggregator
{
    /// <summary>The options in use.</summary>
    public RobustDawidSkeneOptions Options { get; } = options ?? new RobustDawidSkeneOptions();

    /// <inheritdoc />
    public string Name => "robust-ds";

    /// <summary>Fits the robust symmetric model without labelling the tasks (stage 1 of Mechanism 3).</summary>
    /// <exception cref="MemoryLimitException">The moment matrices of the answers' K would not fit in memory.</exception>
    public RobustSymmetricModel Fit(LabelMatrix answers, CancellationToken cancellationToken = default) =>
        Fit(answers, null, cancellationToken);

    /// <summary>As <see cref="Fit(LabelMatrix, CancellationToken)"/>, held to <paramref name="compute"/>'s memory limit.</summary>
    /// <exception cref="MemoryLimitException">The moment matrices of the answers' K would not fit in memory.</exception>
    public RobustSymmetricModel Fit(LabelMatrix answers, ComputeOptions? compute, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(answers);
        Options.Validate();
        RequireMemory(answers, compute, Name, labels: false);
        var (w, g, trust, success, it) = FitArrays(answers, cancellationToken);
        int k = w.Length;
        return new RobustSymmetricModel(AggregationResult.Wrap(w), new RowMatrix(k, k, g), AggregationResult.Wrap(trust), success, it);
    }

    private (double[] Weights, double[] Confusion, double[] Trust, bool Success, int FilterIterations) FitArrays(LabelMatrix answers,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(answers);
        int k = answers.ClassCount, W = answers.WorkerCount;
        var trust = new double[W];
        Array.Fill(trust, 1.0);
        if (k <= 1) return ([1.0], [1.0], trust, true, 0);
        var batchOptions = new RobustBatchOptions { AdversaryFraction = Options.AdversaryFraction, ThresholdConstant = Options.ThresholdConstant };
        int filterIterations = 0;
        MomentEstimate moments;
        if (Options.Batching == MomentBatching.Worker)
        {
            var (t, est) = SymmetricMoments.WorkerTrust(answers, batchOptions, Options.Seed);
            trust = t;
            filterIterations = est.Iterations;
            cancellationToken.ThrowIfCancellationRequested();
            moments = SymmetricMoments.Weighted(answers, trust);
        }
        else
        {
            moments = SymmetricMoments.RobustByAgentTuples(answers, batchOptions, Options.MinBatchSize);
        }
        cancellationToken.ThrowIfCancellationRequested();

        double[] w, gamma;
        bool success = false;
        if (moments.TripleMass > 0)
        {
            var model = new TensorDecomposition(new TensorDecompositionOptions
            {
                Restarts = Options.Restarts,
                Iterations = Options.PowerIterations,
                Seed = Options.Seed,
            }).Decompose(moments.M2.AsSpan(), moments.M3.AsSpan(), k, k);
            success = model.Success;
            w = new double[k];
            gamma = new double[MemoryBudget.Length(k, k)];
            if (success)
            {
                var perm = TensorDecomposition.AlignToDiagonal(model.Means.Values, k);
                for (int y = 0; y < k; y++)
                {
                    w[y] = model.Weights[perm[y]];
                    model.Means.Row(perm[y]).CopyTo(gamma.AsSpan(y * k, k));
                }
                // The alignment assumes honest workers answer each class correctly more often than wrongly; when the
                // moments of a rare class drown in noise the decomposition can instead split the common class (measured
                // on a 97/3 crowd: w = (0.01, 0.99) and 2 % accuracy), which no alignment repairs. Fall back then.
                success = TensorDecomposition.DiagonallyDominant(gamma, k);
            }
        }
        else { w = []; gamma = []; }
        if (!success) (w, gamma) = OneCoinFallback(moments, k);
        Floor(w, Options.ProbabilityFloor);
        for (int y = 0; y < k; y++) Floor(gamma.AsSpan(y * k, k), Options.ProbabilityFloor);
        return (w, gamma, trust, success, filterIterations);
    }

    /// <inheritdoc />
    public AggregationResult Aggregate(LabelMatrix answers, ComputeOptions? compute = null, IProgress<IterationProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(answers);
        Options.Validate();
        RequireMemory(answers, compute, Name, labels: true);
        int k = answers.ClassCount, T = answers.TaskCount, W = answers.WorkerCount;
        var (w, gamma, trust, success, iterations) = FitArrays(answers, cancellationToken);
        if (Options.ClassPrior == ClassPriorMode.Uniform) w.AsSpan().Fill(1.0 / k);
        bool weighted = Options.TrustWeighting && Options.Batching == MomentBatching.Worker;

        if (Options.Refinement) RefineByMaximumLikelihood(answers, weighted ? trust : null, w, gamma, Options.ClassPrior != ClassPriorMode.Uniform, cancellationToken);
        double[]? perWorker = null;
        if (Options.WorkerConfusions && k > 1)
        {
            var refined = RobustWorkerConfusions.Refine(answers, weighted ? trust : null, w, gamma, Options.ClassPrior != ClassPriorMode.Uniform, cancellationToken);
            perWorker = refined.Confusions;
            refined.Weights.AsSpan().CopyTo(w);
            Floor(w, Options.ProbabilityFloor);
        }
        var logW = new double[k];
        var logG = new double[MemoryBudget.Length(k, k)]; // transposed: logG[l * k + j] = log Γ[j, l], so one answer reads a contiguous row
        for (int j = 0; j < k; j++) logW[j] = Math.Log(Math.Max(w[j], Numerics.MinProbability));
        for (int j = 0; j < k; j++)
            for (int l = 0; l < k; l++)
                logG[l * k + j] = Math.Log(Math.Max(gamma[j * k + l], Numerics.MinProbability));
        var post = new double[MemoryBudget.Length(T, k)];
        double logLik = 0, mass = 0;
        var logPi = perWorker is null ? null : RobustWorkerConfusions.LogTransposed(perWorker, W, k);
        for (int t = 0; t < T; t++)
            logLik += logPi is null
                ? TaskPosterior(answers, t, weighted ? trust : null, logW, logG, post.AsSpan(t * k, k), ref mass)
                : RobustWorkerConfusions.TaskPosterior(answers, t, weighted ? trust : null, logW, logPi, post.AsSpan(t * k, k), ref mass);
        double objective = mass > 0 ? logLik / mass : 0;
        if (!double.IsFinite(objective)) objective = 0;
        Numerics.ClampGold(answers, post);
        progress?.Report(new IterationProgress(1, 1, objective));

        var conf = new double[MemoryBudget.Length(W, k, k)];
        if (perWorker is not null) perWorker.AsSpan().CopyTo(conf);
        else for (int a = 0; a < W; a++) gamma.AsSpan().CopyTo(conf.AsSpan(a * k * k, k * k));
        // The model: Γ for every worker, or with trust weighting Γ^ω row-normalised (the fit's Γ^ω is not a
        // distribution, so predictions on the fitted answers can differ slightly from the fit's posteriors).
        var modelConf = (double[])conf.Clone();
        if (weighted)
            for (int a = 0; a < W; a++)
                for (int j = 0; j < k; j++)
                {
                    var row = modelConf.AsSpan((a * k + j) * k, k);
                    double omega = Math.Max(0, trust[a]);
                    for (int l = 0; l < k; l++) row[l] = Math.Pow(row[l], omega);
                    Numerics.Normalize(row);
                }
        var prior = new double[k];
        for (int j = 0; j < k; j++) prior[j] = w[j];
        Numerics.Normalize(prior);
        var model = AggregationModel.ForConfusions(Name, Options, answers, modelConf, prior, trust);
        return AggregationResult.Create(Name, answers, post, trust, model) with
        {
            Confusions = new ConfusionMatrices(W, k, conf),
            ClassPriors = AggregationResult.Wrap(w),
            Iterations = iterations,
            Converged = success,
            LogLikelihoods = ImmutableArray.Create(objective),
        };
    }

    /// <summary>
    /// The memory check of the fit: the robust batch learner works on one K² (worker batches) or K³ (agent tuples)
    /// frequency vector per batch and on the D × D second moment of those vectors and its eigendecomposition — K⁴ or
    /// K⁶ numbers — and the tensor decomposition on K³ moments; labelling adds the posteriors and the W·K² confusions
    /// of the result and the model.
    /// </summary>
    /// <param name="answers">The answers to fit.</param>
    /// <param name="compute">Carries the limit.</param>
    /// <param name="method">The name to refuse in (a mechanism built on the fit gives its own).</param>
    /// <param name="labels">Whether the tasks are labelled too (<see cref="Aggregate"/>).</param>
    /// <param name="fits">How many such fits run at once.</param>
    internal void RequireMemory(LabelMatrix answers, ComputeOptions? compute, string method, bool labels, int fits = 1)
    {
        double k = answers.ClassCount, W = answers.WorkerCount;
        if (k <= 1) return;
        bool byWorker = Options.Batching == MomentBatching.Worker;
        double d = byWorker ? k * k : k * k * k;
        double batches = W;
        if (!byWorker)
        {
            // At most one batch per pair and per triple of co-workers on a task.
            double tuples = 0;
            var off = answers.TaskOffsets;
            for (int t = 0; t < answers.TaskCount; t++)
            {
                double deg = off[t + 1] - off[t];
                tuples += deg * (deg - 1) / 2 + deg * (deg - 1) * (deg - 2) / 6;
            }
            batches = Math.Min(tuples, W * W + W * W * W);
        }
        var learner = fits * (2 * Footprint.Doubles(batches * d) + 5 * Footprint.Doubles(d * d) + 6 * Footprint.Doubles(k * k * k));
        string what = $"{(byWorker ? "K²" : "K³")} × {(byWorker ? "K²" : "K³")} robust moment matrices for K = {k:N0}";
        Footprints.Require(method, answers, compute, confusions: labels ? 2 : 0, posteriors: labels ? 2 : 0, extra: learner, extraWhat: what);
    }

    /// <summary>
    /// Posterior of task <paramref name="t"/> ∝ w_j Π_answers Γ[j, y]^ω (eq. (11), log space) into <paramref name="row"/>;
    /// returns log Σ_j w_j Π Γ[j, y]^ω and adds the answers' trust to <paramref name="mass"/>. Gold is not clamped here.
    /// </summary>
    private static double TaskPosterior(LabelMatrix answers, int t, double[]? trust, double[] logW, double[] logG, Span<double> row, ref double mass)
    {
        int k = answers.ClassCount;
        var off = answers.TaskOffsets;
        var workers = answers.TaskWorkers;
        var labels = answers.TaskLabels;
        logW.AsSpan().CopyTo(row);
        for (int i = off[t]; i < off[t + 1]; i++)
        {
            double omega = trust is null ? 1 : trust[workers[i]];
            if (!(omega > 0)) continue;
            var lg = logG.AsSpan(labels[i] * k, k);
            for (int j = 0; j < k; j++) row[j] += omega * lg[j];
            mass += omega;
        }
        return Numerics.NormalizeLog(row);
    }

    /// <summary>
    /// The final MLE step: EM on the symmetric model's own likelihood Σ_t log Σ_j w_j Π Γ[j, y]^ω, from the robust
    /// moment estimate, with every answer weighted by its worker's trust ω (so the workers the filter discarded still
    /// count for nothing). M-step: w = mean posterior (unless held uniform), Γ[j, l] ∝ ε + Σ_t q_t(j) Σ_{answers l} ω.
    /// Why: the moments estimate a rare class poorly — on a 90/10 crowd with 3 answers per task ŵ ranged over
    /// 0.01–0.27 and Γ's rare row over 0.57–0.99 between seeds — while the likelihood of the answers pins both down.
    /// Gold tasks count their gold class. Updates <paramref name="w"/> and <paramref name="gamma"/> in place.
    /// </summary>
    private void RefineByMaximumLikelihood(LabelMatrix answers, double[]? trust, double[] w, double[] gamma, bool learnWeights, CancellationToken ct)
    {
        int k = answers.ClassCount, T = answers.TaskCount, kk = k * k;
        if (T == 0) return;
        var gold = answers.Gold;
        var off = answers.TaskOffsets;
        var workers = answers.TaskWorkers;
        var labels = answers.TaskLabels;
        var logW = new double[k];
        var logG = new double[kk];
        var counts = new double[kk];
        Span<double> row = stackalloc double[k];
        Span<double> totals = stackalloc double[k];
        for (int it = 0; it < MaxRefineIterations; it++)
        {
            ct.ThrowIfCancellationRequested();
            for (int j = 0; j < k; j++) logW[j] = Math.Log(Math.Max(w[j], Numerics.MinProbability));
            for (int j = 0; j < k; j++)
                for (int l = 0; l < k; l++) logG[l * k + j] = Math.Log(Math.Max(gamma[j * k + l], Numerics.MinProbability));
            totals.Clear();
            counts.AsSpan().Fill(RefineSmoothing);
            double mass = 0;
            for (int t = 0; t < T; t++)
            {
                TaskPosterior(answers, t, trust, logW, logG, row, ref mass);
                if (gold is not null && gold[t] >= 0) { row.Clear(); row[gold[t]] = 1; }
                for (int j = 0; j < k; j++) totals[j] += row[j];
                for (int i = off[t]; i < off[t + 1]; i++)
                {
                    double omega = trust is null ? 1 : trust[workers[i]];
                    if (!(omega > 0)) continue;
                    int l = labels[i];
                    for (int j = 0; j < k; j++) counts[j * k + l] += omega * row[j];
                }
            }
            double moved = 0;
            for (int j = 0; j < k; j++)
            {
                if (learnWeights)
                {
                    double next = totals[j] / T;
                    moved = Math.Max(moved, Math.Abs(next - w[j]));
                    w[j] = next;
                }
                var c = counts.AsSpan(j * k, k);
                Numerics.Normalize(c);
                for (int l = 0; l < k; l++) { moved = Math.Max(moved, Math.Abs(c[l] - gamma[j * k + l])); gamma[j * k + l] = c[l]; }
            }
            if (moved < RefineTolerance) break;
        }
        Floor(w, Options.ProbabilityFloor);
        for (int y = 0; y < k; y++) Floor(gamma.AsSpan(y * k, k), Options.ProbabilityFloor);
    }

    private const int MaxRefineIterations = 500;
    private const double RefineTolerance = 1e-7;
    private const double RefineSmoothing = 0.01;


    /// <summary>
    /// One-coin Γ from the agreement rate A = Σ_x M2[x, x]: the root p ≥ 1/K of p² + (1 − p)²/(K − 1) = A; and w
    /// from the answer marginal M1 = Γᵀw un-mixed through that Γ, w_y = (M1_y − e)/(p − e) with e = (1 − p)/(K − 1)
    /// (clipped at 0, normalised) — the marginal itself would pull every class share towards 1/K by the error rate.
    /// </summary>
    private static (double[] W, double[] Gamma) OneCoinFallback(MomentEstimate m, int k)
    {
        var w = m.M1.ToArray();
        Numerics.Normalize(w);
        double p = 0.7;
        if (m.PairMass > 0)
        {
            double agree = 0;
            for (int x = 0; x < k; x++) agree += m.M2[x * k + x];
            double a = (double)k / (k - 1), b = -2.0 / (k - 1), c = 1.0 / (k - 1) - agree;
            double disc = b * b - 4 * a * c;
            // Below chance agreement (disc < 0 or root < 1/K) carries no usable signal: answers then count as chance.
            p = disc >= 0 ? (-b + Math.Sqrt(disc)) / (2 * a) : 1.0 / k;
            p = Math.Clamp(double.IsFinite(p) ? p : 1.0 / k, 1.0 / k, 0.99);
        }
        var g = new double[MemoryBudget.Length(k, k)];
        for (int j = 0; j < k; j++)
            for (int l = 0; l < k; l++)
                g[j * k + l] = l == j ? p : (1 - p) / (k - 1);
        double e = (1 - p) / (k - 1);
        if (p - e > 0.05)
        {
            // Too close to chance the division amplifies noise; keep the marginal there.
            var unmixed = new double[k];
            double total = 0;
            for (int y = 0; y < k; y++) total += unmixed[y] = Math.Max(0, (w[y] - e) / (p - e));
            if (total > 0) for (int y = 0; y < k; y++) w[y] = unmixed[y] / total;
        }
        return (w, g);
    }

    private static void Floor(Span<double> p, double floor)
    {
        // Never more than half the mass in floors, or a large K would flatten every row to uniform.
        floor = Math.Min(Math.Max(floor, 0), 0.5 / p.Length);
        for (int i = 0; i < p.Length; i++) if (!(p[i] >= floor)) p[i] = floor; // also replaces NaN
        Numerics.Normalize(p);
    }
}
