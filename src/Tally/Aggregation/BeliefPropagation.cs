using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using MathNet.Numerics;
using MathNet.Numerics.Distributions;
using Tally.Core;

namespace Tally.Aggregation;

/// <summary>How <see cref="BeliefPropagation"/> computes the worker-factor → task messages.</summary>
public enum BeliefPropagationMessages
{
    /// <summary><see cref="Exact"/> when the prior is one-coin, otherwise <see cref="MonteCarlo"/>.</summary>
    Auto,
    /// <summary>
    /// Exact messages for the one-coin prior (Liu, Peng &amp; Ihler 2012): the worker's factor depends only on how
    /// many of her answers are right, so each message is an expectation over the distribution of that count among
    /// her other tasks, found by dynamic programming in O(deg²) per worker. Requires a one-coin prior.
    /// </summary>
    Exact,
    /// <summary>Monte-Carlo messages for any prior (paper 003, Appendix E, eq. (42)) from <see cref="BeliefPropagationOptions.Samples"/> prior draws.</summary>
    MonteCarlo,
}

/// <summary>Options of <see cref="BeliefPropagation"/>.</summary>
public sealed record BeliefPropagationOptions : IterativeOptions
{
    /// <summary>
    /// Defaults: at most 100 sweeps; stop when no factor → task message (as a probability) moves by more than 1e-6.
    /// On a tree BP is exact after as many sweeps as the graph's diameter; on the bundled data it settles in 20–32.
    /// </summary>
    public BeliefPropagationOptions() { MaxIterations = 100; Tolerance = 1e-6; }

    /// <summary>
    /// Prior over every worker's confusion matrix; default <see cref="WorkerPrior.Default"/> (Dirichlet rows,
    /// α_kk = 2, α_kl = 1, as <see cref="MeanField"/>), which with <see cref="BeliefPropagationMessages.Auto"/> means
    /// Monte-Carlo messages. Why not the one-coin Beta(2, 1), whose messages are exact: real workers are not one-coin.
    /// On the bundled duck data (two classes, workers biased towards one answer) one-coin BP finds 72.2 % of the labels
    /// against 89.8 % with Dirichlet rows; on dog 83.0 % against 84.1 %, on face 62.8 % against 65.6 %. Choose
    /// <see cref="WorkerPrior.OneCoin"/> when workers are symmetric (e.g. the synthetic setting of paper 003 and Liu et al.)
    /// or for exact, cheaper messages.
    /// </summary>
    public WorkerPrior Prior { get; init; } = WorkerPrior.Default;

    /// <summary>How factor → task messages are computed; default <see cref="BeliefPropagationMessages.Auto"/>.</summary>
    public BeliefPropagationMessages Messages { get; init; } = BeliefPropagationMessages.Auto;

    /// <summary>
    /// Number S of prior draws θ_s for Monte-Carlo messages; default 400, the sample size of paper 003 (Appendix E.2
    /// and F.2), where its accuracy matched the exact messages. Cost is O(deg·K·S) per worker and sweep.
    /// </summary>
    public int Samples { get; init; } = 400;

    /// <summary>
    /// Weight of the previous message in each update, in the log domain: m ← (1 − d)·m_new + d·m_old. Damping does not
    /// move BP's fixed points (and on a tree not the result), it only slows the updates. Default 0.3, as insurance:
    /// undamped loopy BP can oscillate between two states instead of converging, and crowds are very loopy (on the
    /// bundled data every worker meets every other many times). Measured: undamped BP converged on all bundled
    /// datasets and on sparse regular graphs, in 14–22 sweeps; 0.3 takes 20–32 sweeps to the same labels, 0.5 about
    /// twice as many as 0. Use 0 for the plain sum-product schedule of paper 003 and Liu et al. Must be in [0, 1).
    /// </summary>
    public double Damping { get; init; } = 0.3;

    /// <summary>
    /// Exact messages cost O(deg²) time and memory per worker. Above this degree (default 2000: 2·10⁶ cells, a few
    /// milliseconds) a worker's messages are instead computed by quadrature over her accuracy p, at the
    /// <see cref="QuadratureNodes"/> quantiles of the Beta prior, in O(deg·nodes) — eq. (42) with deterministic
    /// stratified draws, accurate while nodes ≫ √deg (the posterior of p is ~1/√deg wide).
    /// </summary>
    public int ExactDegreeLimit { get; init; } = 2000;

    /// <summary>Quadrature nodes for workers above <see cref="ExactDegreeLimit"/>; default 2000.</summary>
    public int QuadratureNodes { get; init; } = 2000;

    /// <summary>
    /// Monte-Carlo messages with a Dirichlet prior: draw each worker's θ_s from a proposal near her posterior instead
    /// of from the prior, and weight them by prior/proposal (importance sampling; the estimate of eq. (42) stays
    /// consistent). Default true. Why: with K &gt; 2 and dozens of answers per worker, the posterior over θ occupies
    /// a tiny part of the K(K − 1)-dimensional prior, so S = 400 prior draws degenerate to the one or two that happen
    /// to lie nearest it and the result varies by several accuracy points between seeds (measured on the bundled dog
    /// data: 80.9–84.4 %). The proposal is Dir(α + N_u/2), N_u the worker's expected confusion counts under the
    /// mean-field posterior (<see cref="MeanField"/> with the same prior), halved so the proposal is wider than the
    /// (over-confident) mean-field posterior. Used for workers with at least
    /// <see cref="BeliefPropagation.ProposalMinDegree"/> answers; the others keep the shared prior draws.
    /// </summary>
    public bool ImportanceSampling { get; init; } = true;

    /// <summary>
    /// The class proportions κ. Default <see cref="ClassPriorMode.Auto"/>: run BP with κ uniform and with κ learned and
    /// keep the run whose model has the higher evidence lower bound at its beliefs. BP itself optimises no bound; the
    /// bound used is the collapsed variational one (<see cref="BayesianCrowd.CollapsedBound"/>, confusions and κ
    /// integrated out), which is a lower bound on log p(answers | model) for any factorised task posteriors, so evaluated
    /// at the BP beliefs it compares the two models without the Bethe approximation's intractable worker-factor beliefs. <see cref="ClassPriorMode.Learned"/>: an EM loop
    /// around the sweeps — after every sweep κ is re-estimated as the posterior mean of Dir(1 + Σ_i b_i) from the current
    /// beliefs b_i, and each task's factor becomes its log prior + log κ; the run stops when neither the messages nor κ
    /// move by more than the tolerance. Why not always learned: with κ uniform, BP on an imbalanced crowd (90/10, 3
    /// answers per task) found 68.9 % of the labels against Dawid-Skene's 90.5 %, but on nearly balanced real sets the
    /// learned κ fits noise (duck: 88.89 % learned, 89.81 % uniform); see docs/aggregation.md, sections 1 and 6. Auto
    /// costs two runs. <see cref="ClassPriorMode.Uniform"/> is the model of paper 003; Auto uses it whenever a per-task
    /// prior is given.
    /// </summary>
    public ClassPriorMode ClassPrior { get; init; } = ClassPriorMode.Auto;

    /// <summary>
    /// Work of a sweep (answers × samples × K, or the exact messages' deg² sums) above which it runs in waves of chunks
    /// with a progress report after each; default 10⁹ (≈ a third of a second on one core). Internal: it changes only
    /// how often progress is reported (the chunks, and so the result, are the same), and tests lower it.
    /// </summary>
    internal long WaveWork { get; init; } = 1_000_000_000L;

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        Check.NotNull(Prior, nameof(Prior));
        Check.Defined(Messages, nameof(Messages));
        Check.AtLeast(Samples, 1, nameof(Samples));
        if (!(Damping >= 0 && Damping < 1)) throw new InvalidOptionException(nameof(Damping), $"must be in [0, 1) (got {NumberFormat.Number(Damping)})");
        Check.AtLeast(ExactDegreeLimit, 1, nameof(ExactDegreeLimit));
        Check.AtLeast(QuadratureNodes, 1, nameof(QuadratureNodes));
        Check.Defined(ClassPrior, nameof(ClassPrior));
    }
}

/// <summary>
/// Sum-product belief propagation on the task–worker factor graph of the Bayesian Dawid-Skene model with the worker
/// confusion matrices integrated out: worker u's factor is g_u(z_{N_u}) = ∫ p(θ | α) Π_{j∈N_u} θ(z_j, y_uj) dθ, task
/// messages m_{i→u}(z) ∝ prior_i(z) Π_{v≠u} m_{v→i}(z), factor messages
/// m_{u→i}(z_i) ∝ Σ_{z_{N_u∖i}} g_u Π_{j≠i} m_{j→u}(z_j), and q_i(z) ∝ prior_i(z) Π_u m_{u→i}(z).
/// J. Kim, H. Cho, J. Kim and J. Ok, "Robust Deep Learning from Crowds with Belief Propagation", AISTATS 2022,
/// Section 3.2, eqs. (19)–(21), Monte-Carlo messages Appendix E eq. (42); exact one-coin messages after Q. Liu,
/// J. Peng and A. Ihler, "Variational Inference for Crowdsourcing", NIPS 2012, Section 3.
/// </summary>
/// <remarks>
/// <para>Here the task factor (the classifier f_φ of deepBP) is uniform unless a per-task log prior is passed.
/// Messages start uniform (paper 003), and all are updated in parallel sweeps (tasks, then workers), damped
/// (<see cref="BeliefPropagationOptions.Damping"/>). On a tree-shaped assignment graph the result is the exact
/// posterior marginal (exact messages). Gold labels are clamped.</para>
/// <para>Exact messages (one-coin p ~ Beta(a, b)): with c right answers out of n, g_u = B(a + c, b + n − c)/B(a, b) ·
/// (K − 1)^−(n−c). The count among the other tasks is Poisson-binomial with success probabilities
/// ρ_j = m_{j→u}(y_uj); prefix distributions are built forwards and the expected factor given a prefix count
/// backwards, all in log space (the factor spans e^−n), in O(n²) per worker; above
/// <see cref="BeliefPropagationOptions.ExactDegreeLimit"/> a quadrature over p is used instead.</para>
/// <para>Monte-Carlo messages: m_{u→i}(z) ∝ Σ_s w_s θ_s(z, y_ui) Π_{j≠i} ⟨θ_s(·, y_uj), m_{j→u}⟩ over S draws θ_s
/// with importance weights w_s: S prior draws (w_s = 1) made once per run from <see cref="IterativeOptions.Seed"/>
/// and shared by all workers, or, for Dirichlet priors and workers with many answers, per-worker draws from a
/// proposal near the posterior (<see cref="BeliefPropagationOptions.ImportanceSampling"/>). The draws are the same in
/// every sweep, so the iteration is a deterministic fixed-point map and the same seed gives the same output. Being
/// random, they are not symmetric under renaming the classes: renamed classes give the renamed posteriors only up to
/// the Monte-Carlo error (exact messages are exactly equivariant).</para>
/// <para>Worker skill = posterior expected accuracy under the worker's factor belief: E[p] (one-coin) or
/// Σ_k κ̄_k E[θ(k, k)] with κ̄ the mean posterior class share; Confusions = posterior mean E[θ]. Progress reports the
/// largest message change of the sweep as the objective; <see cref="AggregationResult.LogLikelihoods"/> is empty
/// (BP optimises no bound). K = 1 is trivial.</para>
/// </remarks>
public sealed class BeliefPropagation(BeliefPropagationOptions? options = null) : IAggregator
{
    /// <summary>The options in use.</summary>
    public BeliefPropagationOptions Options { get; } = options ?? new BeliefPropagationOptions();

    /// <summary>
    /// Fewest answers for which a worker's Monte-Carlo messages use the importance-sampling proposal: below it her
    /// posterior is still close to the prior, which the shared prior draws cover, and drawing per-worker θs would
    /// cost more than her messages.
    /// </summary>
    public const int ProposalMinDegree = 8;

    /// <inheritdoc />
    public string Name => "bp";

    /// <inheritdoc />
    public AggregationResult Aggregate(LabelMatrix answers, ComputeOptions? compute = null, IProgress<IterationProgress>? progress = null,
        CancellationToken cancellationToken = default) => Aggregate(answers, null, compute, progress, cancellationToken);

    /// <summary>
    /// Infers the true labels with a per-task prior factor (deepBP's m_{h_i→i} = f_φ(z_i; x_i)):
    /// <paramref name="taskLogPrior"/> is T×K row-major log-probabilities, each row up to an additive constant
    /// (−∞ marks an impossible class; at least one per row must be finite); null = uniform.
    /// </summary>
    public AggregationResult Aggregate(LabelMatrix answers, double[]? taskLogPrior, ComputeOptions? compute = null,
        IProgress<IterationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        Options.Validate();
        ArgumentNullException.ThrowIfNull(answers);
        var mode = Options.ClassPrior;
        // With a per-task prior (deepBP's classifier) the task factor already carries the class frequencies; Auto then
        // keeps paper 003's model, without a second, shared κ.
        if (mode == ClassPriorMode.Auto && (taskLogPrior is not null || answers.ClassCount == 1)) mode = ClassPriorMode.Uniform;
        if (mode != ClassPriorMode.Auto)
            return FitMode(mode == ClassPriorMode.Learned, false, answers, taskLogPrior, compute, progress, cancellationToken);
        // Auto: both fits, each on half of the progress bar; the first's result is held while the second runs.
        int units = ProgressUnits();
        var uniform = FitMode(false, false, answers, null, compute, PhaseProgress.Of(progress, 0, 2 * units), cancellationToken);
        var learned = FitMode(true, true, answers, null, compute, PhaseProgress.Of(progress, units, 2 * units), cancellationToken);
        return BayesianCrowd.ChooseByEvidence(answers, Options.Prior, 1, uniform, learned, compute);
    }

    /// <summary>Progress units of one fit: the proposal's mean-field iterations (a tenth of the bar), then the sweeps.</summary>
    private int ProgressUnits()
    {
        bool propose = Options.Prior.Kind != WorkerPriorKind.OneCoin && Options.ImportanceSampling && Options.Messages != BeliefPropagationMessages.Exact;
        return propose ? 10 * new MeanFieldOptions().MaxIterations : Options.MaxIterations;
    }

    private AggregationResult FitMode(bool learnPrior, bool holding, LabelMatrix answers, double[]? taskLogPrior, ComputeOptions? compute,
        IProgress<IterationProgress>? progress, CancellationToken cancellationToken)
    {
        var o = Options with { ClassPrior = learnPrior ? ClassPriorMode.Learned : ClassPriorMode.Uniform };
        int k = answers.ClassCount, T = answers.TaskCount, W = answers.WorkerCount, n = answers.AnswerCount;
        // The two messages of every answer (n × K each), the prior draws of θ (per thread), the confusions (the
        // mean-field proposal's fit while it runs, then the result's and the model's copy).
        int threads = (compute ?? ComputeOptions.Default).Threads;
        var messages = 2 * Footprint.Doubles((double)n * k);
        var draws = o.Prior.Kind == WorkerPriorKind.OneCoin ? Footprint.None : (threads + 1) * Footprint.Doubles((double)o.Samples * k * k);
        Footprints.Require(Name, answers, compute, confusions: holding ? 7 : 5, posteriors: holding ? 5 : 3, extra: messages + draws,
            extraWhat: draws.Bytes > messages.Bytes
                ? $"{o.Samples:N0} prior draws of {k:N0} × {k:N0} confusion matrices per thread"
                : $"messages of {n:N0} answers × {k:N0} classes");
        o.Prior.Validate(k);
        bool oneCoin = o.Prior.Kind == WorkerPriorKind.OneCoin;
        var mode = o.Messages == BeliefPropagationMessages.Auto
            ? (oneCoin ? BeliefPropagationMessages.Exact : BeliefPropagationMessages.MonteCarlo)
            : o.Messages;
        if (mode == BeliefPropagationMessages.Exact && !oneCoin)
            throw new InvalidOptionException(nameof(BeliefPropagationOptions.Messages), "Exact needs a one-coin worker prior; use Monte-Carlo messages for Dirichlet priors");
        var baseLogPrior = BayesianCrowd.TaskLogPrior(answers, taskLogPrior);
        if (k == 1) return BayesianCrowd.Trivial(Name, o, answers);
        // With a learned κ the task factors are the given prior + log κ, rewritten after every sweep.
        var logPrior = learnPrior ? (double[])baseLogPrior.Clone() : baseLogPrior;
        var kappa = new double[k];
        kappa.AsSpan().Fill(1.0 / k);
        var post = new double[MemoryBudget.Length(T, k)];

        double[]? proposal = null;
        // Progress counts the proposal's mean-field iterations (the first tenth of the bar, each far cheaper than a
        // sweep), then the sweeps, so the bar moves from the start.
        var proposalOptions = new MeanFieldOptions { Prior = o.Prior, ClassPrior = o.ClassPrior };
        bool propose = mode == BeliefPropagationMessages.MonteCarlo && !oneCoin && o.ImportanceSampling;
        int before = propose ? proposalOptions.MaxIterations : 0, units = propose ? 10 * before : o.MaxIterations;
        int SweepUnits(int sweeps) => propose ? before + (int)((long)(units - before) * sweeps / Math.Max(1, o.MaxIterations)) : sweeps;
        if (propose)
            proposal = ProposalCounts(answers, proposalOptions, o.Prior, taskLogPrior, compute,
                PhaseProgress.Of(progress, 0, units), cancellationToken);
        var engine = new FactorEngine(answers, o, mode, oneCoin, proposal, compute);
        var fromFactor = new double[MemoryBudget.Length(n, k)];   // log m_{u→i}, normalised (log-sum-exp 0), by answer id
        var toFactor = new double[fromFactor.Length];             // m_{i→u} as probabilities, by answer id
        fromFactor.AsSpan().Fill(-Math.Log(k));
        long taskWork = n * (long)k;
        var chunkChange = new double[engine.Chunks];

        Action<int, int> taskSweep = (start, end) => TaskMessages(answers, logPrior, fromFactor, toFactor, start, end);
        Action<int> factorSweep = c => chunkChange[c] = engine.Sweep(c, toFactor, fromFactor);
        Action<int, int> beliefSweep = (start, end) => Beliefs(answers, logPrior, fromFactor, post, start, end);
        Action<int, int> priorSweep = (start, end) =>
        {
            Span<double> logKappa = stackalloc double[k];
            for (int c = 0; c < k; c++) logKappa[c] = Math.Log(kappa[c]);
            for (int t = start; t < end; t++)
                for (int c = 0; c < k; c++) logPrior[t * k + c] = baseLogPrior[t * k + c] + logKappa[c];
        };

        bool converged = false;
        int it = 0;
        while (it < o.MaxIterations)
        {
            cancellationToken.ThrowIfCancellationRequested();
            Parallelism.For(T, taskWork, compute, taskSweep, cancellationToken);
            // A long sweep runs in waves of chunks with a report after each, so the bar moves within the sweep too.
            double change = 0;
            for (int wave = 0; wave < engine.Waves; wave++)
            {
                var (first, end) = engine.Run(wave, factorSweep, cancellationToken);
                for (int c = first; c < end; c++) change = Math.Max(change, chunkChange[c]);
                if (wave + 1 < engine.Waves)
                    progress?.Report(new IterationProgress(SweepUnits(it) + (SweepUnits(it + 1) - SweepUnits(it)) * (wave + 1) / engine.Waves, units, change));
            }
            if (learnPrior) change = Math.Max(change, UpdateClassPrior());
            it++;
            progress?.Report(new IterationProgress(SweepUnits(it), units, change));
            if (o.Tolerance > 0 && change < o.Tolerance) { converged = true; break; }
        }

        // Beliefs (21) and, from the final task → factor messages, each worker's posterior over θ.
        Parallelism.For(T, taskWork, compute, beliefSweep, cancellationToken);
        Parallelism.For(T, taskWork, compute, taskSweep, cancellationToken);
        var share = new double[k];
        if (learnPrior) kappa.AsSpan().CopyTo(share);
        else
        {
            for (int i = 0; i < post.Length; i++) share[i % k] += post[i];
            Numerics.Normalize(share);
        }
        var conf = new double[MemoryBudget.Length(W, k, k)];
        engine.WorkerPosteriors(toFactor, conf, cancellationToken);
        var skills = Numerics.ExpectedAccuracy(conf, share, W, k);

        var model = AggregationModel.ForConfusions(Name, o, answers, (double[])conf.Clone(), learnPrior ? (double[])kappa.Clone() : null, skills);
        return AggregationResult.Create(Name, answers, post, skills, model) with
        {
            Confusions = new ConfusionMatrices(W, k, conf),
            ClassPriors = learnPrior ? AggregationResult.Wrap(kappa) : System.Collections.Immutable.ImmutableArray<double>.Empty,
            Iterations = it,
            Converged = converged,
        };

        // The M-step of the outer EM over κ: beliefs under the current factors, κ = E[Dir(1 + Σ_i b_i)], new task
        // factors. Returns the largest change of a share. Sums run in task order, so the result is thread-independent.
        double UpdateClassPrior()
        {
            Parallelism.For(T, taskWork, compute, beliefSweep, cancellationToken);
            Span<double> totals = stackalloc double[k];
            totals.Fill(1);
            for (int i = 0; i < post.Length; i++) totals[i % k] += post[i];
            double sum = 0, moved = 0;
            for (int c = 0; c < k; c++) sum += totals[c];
            for (int c = 0; c < k; c++)
            {
                double next = totals[c] / sum;
                moved = Math.Max(moved, Math.Abs(next - kappa[c]));
                kappa[c] = next;
            }
            Parallelism.For(T, taskWork, compute, priorSweep, cancellationToken);
            return moved;
        }
    }

    /// <summary>
    /// Dirichlet parameters of each worker's proposal, [w][k][l] = α[k, l] + ½ Σ_{j: y_uj = l} q_MF(z_j = k), from a
    /// mean-field fit with the same prior.
    /// </summary>
    private static double[] ProposalCounts(LabelMatrix answers, MeanFieldOptions options, WorkerPrior prior, double[]? taskLogPrior,
        ComputeOptions? compute, IProgress<IterationProgress>? progress, CancellationToken ct)
    {
        int k = answers.ClassCount, kk = k * k;
        var mf = new MeanField(options).Aggregate(answers, taskLogPrior, compute, progress, ct);
        var q = mf.Posteriors;
        var alpha = prior.Alpha(k);
        var beta = new double[MemoryBudget.Length(answers.WorkerCount, kk)];
        var off = answers.WorkerOffsets;
        var tasks = answers.WorkerTasks;
        var labels = answers.WorkerLabels;
        for (int w = 0; w < answers.WorkerCount; w++)
        {
            var b = beta.AsSpan(w * kk, kk);
            alpha.AsSpan().CopyTo(b);
            for (int i = off[w]; i < off[w + 1]; i++)
            {
                var row = q.Row(tasks[i]);
                for (int c = 0; c < k; c++) b[c * k + labels[i]] += 0.5 * row[c];
            }
        }
        return beta;
    }

    /// <summary>Task → factor messages: prior times every other factor's message, normalised (gold: one-hot).</summary>
    private static void TaskMessages(LabelMatrix answers, double[] logPrior, double[] fromFactor, double[] toFactor, int start, int end)
    {
        int k = answers.ClassCount;
        var off = answers.TaskOffsets;
        var gold = answers.Gold;
        Span<double> total = stackalloc double[k];
        for (int t = start; t < end; t++)
        {
            if (gold is not null && gold[t] >= 0)
            {
                for (int e = off[t]; e < off[t + 1]; e++)
                {
                    var m = toFactor.AsSpan(e * k, k);
                    m.Clear();
                    m[gold[t]] = 1;
                }
                continue;
            }
            logPrior.AsSpan(t * k, k).CopyTo(total);
            for (int e = off[t]; e < off[t + 1]; e++)
            {
                var f = fromFactor.AsSpan(e * k, k);
                for (int c = 0; c < k; c++) total[c] += f[c];
            }
            // Leave-one-out by subtraction is exact here: every log message is finite.
            for (int e = off[t]; e < off[t + 1]; e++)
            {
                var f = fromFactor.AsSpan(e * k, k);
                var m = toFactor.AsSpan(e * k, k);
                for (int c = 0; c < k; c++) m[c] = total[c] - f[c];
                Numerics.NormalizeLog(m);
            }
        }
    }

    private static void Beliefs(LabelMatrix answers, double[] logPrior, double[] fromFactor, double[] post, int start, int end)
    {
        int k = answers.ClassCount;
        var off = answers.TaskOffsets;
        var gold = answers.Gold;
        for (int t = start; t < end; t++)
        {
            var row = post.AsSpan(t * k, k);
            logPrior.AsSpan(t * k, k).CopyTo(row);
            for (int e = off[t]; e < off[t + 1]; e++)
            {
                var f = fromFactor.AsSpan(e * k, k);
                for (int c = 0; c < k; c++) row[c] += f[c];
            }
            Numerics.NormalizeLog(row);
            if (gold is not null && gold[t] >= 0) { row.Clear(); row[gold[t]] = 1; }
        }
    }
}

/// <summary>
/// The worker side of <see cref="BeliefPropagation"/>: factor → task messages and the workers' posteriors over θ.
/// Workers are split into a few contiguous chunks of about equal cost, each with its own scratch buffers, allocated
/// once per run.
/// </summary>
internal sealed class FactorEngine
{
    private readonly LabelMatrix _answers;
    private readonly int _k;
    private readonly double _a, _b, _damping, _logKm1;
    private readonly int _exactLimit;
    private readonly int[] _bounds;               // chunk c = workers [_bounds[c], _bounds[c+1])
    private readonly Scratch[] _scratch;
    private readonly double[]? _nodes;            // one-coin: accuracy nodes (MC draws or prior quantiles)
    private readonly double[]? _thetas;           // Dirichlet MC: θ_s sample-minor [l][z][s], s padded to _stride
    private readonly int _stride;                 // S rounded up to a multiple of 8; padding samples carry weight 0
    private readonly double[]?[]? _drawCache;     // per-worker proposal draws (θ, then log weights), made once per run
    private readonly double[]? _proposal;         // Dirichlet MC: per-worker proposal parameters [w][k][l], or null
    private readonly double[]? _alpha;            // Dirichlet MC: prior [k][l]
    private readonly ulong _seed;
    private readonly int _threads;
    private readonly int _samples;
    private readonly bool _exact;

    private sealed class Scratch(int exactDegree, int nodes)
    {
        public readonly double[] Lr = new double[exactDegree];
        public readonly double[] Lq = new double[exactDegree];
        public readonly double[] Lg = new double[exactDegree + 1];
        public readonly double[] Forward = new double[exactDegree + 1];
        public readonly double[] Backward = new double[(long)exactDegree * (exactDegree + 3) / 2 + 1];
        public readonly double[] LogWeights = new double[nodes];
        public readonly double[] Buffer = new double[nodes];
        public double[] Thetas = [];
        public double[] Product = [];
        public long[] Exponent = [];
        public double[] Weights = [];
        public double[] Gathered = [];   // Monte-Carlo: a segment's m_{j→u}, grouped by answer (see Gather)
        public double[] Old = [];        // the segment's previous log messages m_{u→j}, then their probabilities
        public double[] Raw = [];        // the segment's new messages, then their damped, normalised logs
        public double[] RowSum = [];
        public int[] Order = [];
        public readonly SplitMixRandom Random = new(0);
    }

    public FactorEngine(LabelMatrix answers, BeliefPropagationOptions o, BeliefPropagationMessages mode, bool oneCoin, double[]? proposal,
        ComputeOptions? compute)
    {
        _threads = (compute ?? ComputeOptions.Default).Threads;
        _proposal = proposal;
        _seed = Seeding.Stream(Seeding.Base(o.Seed), 1);
        _answers = answers;
        _k = answers.ClassCount;
        _a = o.Prior.A; _b = o.Prior.B;
        _damping = o.Damping;
        _logKm1 = Math.Log(_k - 1);
        _exact = mode == BeliefPropagationMessages.Exact;
        _exactLimit = _exact ? o.ExactDegreeLimit : 0;
        int W = answers.WorkerCount;
        int maxExact = 0, maxDegree = 0;
        bool anyNodes = !_exact;
        var cost = new double[W];
        for (int w = 0; w < W; w++)
        {
            int d = answers.WorkerDegree(w);
            maxDegree = Math.Max(maxDegree, d);
            if (_exact && d <= _exactLimit) { maxExact = Math.Max(maxExact, d); cost[w] = (double)d * d + 1; }
            else
            {
                anyNodes = true;
                cost[w] = (double)d * (_exact ? o.QuadratureNodes : o.Samples * (oneCoin ? 1 : _k)) + 1;
            }
        }

        // Draws are made once, sequentially, so the result depends on the seed alone (not on threading).
        var rng = Seeding.Random(o.Seed);
        if (_exact)
        {
            _samples = anyNodes ? o.QuadratureNodes : 0;
            if (anyNodes)
            {
                // Midpoints of equal-probability strata of the prior: a deterministic version of eq. (42)'s draws.
                _nodes = new double[_samples];
                for (int s = 0; s < _samples; s++)
                    _nodes[s] = ClampAccuracy(Beta.InvCDF(_a, _b, (s + 0.5) / _samples));
            }
        }
        else if (oneCoin)
        {
            _samples = o.Samples;
            _nodes = new double[_samples];
            for (int s = 0; s < _samples; s++) _nodes[s] = ClampAccuracy(Beta.Sample(rng, _a, _b));
        }
        else
        {
            _samples = o.Samples;
            var alpha = o.Prior.Alpha(_k);
            _alpha = alpha;
            _stride = (_samples + 7) / 8 * 8;   // two vectors of four per step
            _thetas = new double[MemoryBudget.Length(_stride, _k, _k)];
            _thetas.AsSpan().Fill(1);
            Span<double> row = stackalloc double[_k];
            for (int s = 0; s < _samples; s++)
                for (int z = 0; z < _k; z++)
                {
                    double sum = 0;
                    for (int l = 0; l < _k; l++) { row[l] = Gamma.Sample(rng, alpha[z * _k + l], 1.0); sum += row[l]; }
                    for (int l = 0; l < _k; l++)
                    {
                        // Gamma draws with small shapes can underflow to 0; a floor keeps every log finite.
                        double p = sum > 0 ? row[l] / sum : 1.0 / _k;
                        _thetas[(l * _k + z) * _stride + s] = Math.Max(p, 1e-300);
                    }
                }
        }

        long total = 0;
        foreach (var c in cost) total += (long)c;

        // Workers are independent (each owns its edges and its random stream) and the sweep's result is a maximum, so
        // the split only spreads the work: the result is the same for any number of chunks.
        // A few chunks per thread, so that one slow chunk (a busy core) does not hold up the sweep.
        int chunks = total < Parallelism.MinParallelWork || W < 2 ? 1 : Math.Min(4 * _threads, W);
        _bounds = new int[chunks + 1];
        double acc = 0, target = (double)total / chunks;
        int next = 1;
        for (int w = 0; w < W && next < chunks; w++)
        {
            acc += cost[w];
            if (acc >= target * next) _bounds[next++] = w + 1;
        }
        for (; next <= chunks; next++) _bounds[next] = W;
        _scratch = new Scratch[chunks];
        Waves = total > o.WaveWork && chunks > _threads ? (chunks + _threads - 1) / _threads : 1;
        for (int c = 0; c < chunks; c++)
        {
            _scratch[c] = new Scratch(maxExact, Math.Max(_samples, _stride));
            if (_thetas is null) continue;
            var sc = _scratch[c];
            if (_proposal is not null) sc.Thetas = new double[MemoryBudget.Length(_stride, _k, _k)];
            sc.Product = new double[_stride]; sc.Exponent = new long[_stride]; sc.Weights = new double[_stride];
            int rows = Math.Max(1, Math.Min(maxDegree, Segment));
            sc.Gathered = new double[rows * _k]; sc.Old = new double[rows * _k]; sc.Raw = new double[rows * _k];
            sc.RowSum = new double[rows]; sc.Order = new int[rows];
        }
        if (_proposal is not null)
        {
            // The proposal draws of a worker are the same in every sweep (see Draws); keeping them saves drawing
            // S·K² Gamma variates per worker and sweep, when they fit in as much memory as one message array.
            long proposalWorkers = 0;
            for (int w = 0; w < W; w++) if (answers.WorkerDegree(w) >= BeliefPropagation.ProposalMinDegree) proposalWorkers++;
            if (proposalWorkers * (_k * _k + 1L) * _stride <= Math.Max((long)answers.AnswerCount * _k, 1L << 20))
                _drawCache = new double[]?[W];
        }
    }

    public int Chunks => _scratch.Length;

    public void Run(Action<int> body, CancellationToken ct)
    {
        if (Chunks == 1) { body(0); return; }
        Parallel.For(0, Chunks, new ParallelOptions { CancellationToken = ct, MaxDegreeOfParallelism = _threads }, body);
    }

    /// <summary>
    /// Waves a sweep is run in (<see cref="Run(int, Action{int}, CancellationToken)"/>): one when a sweep is short, else
    /// one per round of chunks over the threads, so that progress can be reported a few times per sweep. The chunks
    /// are the same either way, so the result is too.
    /// </summary>
    public int Waves { get; }

    /// <summary>Runs the chunks of wave <paramref name="wave"/> in parallel; returns the range of chunks it ran.</summary>
    public (int First, int End) Run(int wave, Action<int> body, CancellationToken ct)
    {
        int per = (Chunks + Waves - 1) / Waves, first = Math.Min(Chunks, wave * per), end = Math.Min(Chunks, first + per);
        if (end - first == 1) body(first);
        else if (end > first)
            Parallel.For(first, end, new ParallelOptions { CancellationToken = ct, MaxDegreeOfParallelism = _threads }, body);
        return (first, end);
    }

    private static double ClampAccuracy(double p) => Math.Clamp(p, 1e-15, 1 - 1e-15);

    /// <summary>
    /// Recomputes the messages of chunk c's workers from <paramref name="toFactor"/> and damps them into
    /// <paramref name="fromFactor"/> (each worker owns its edges, so in-place is safe); returns the largest change.
    /// </summary>
    public double Sweep(int chunk, double[] toFactor, double[] fromFactor)
    {
        var s = _scratch[chunk];
        double change = 0;
        for (int w = _bounds[chunk]; w < _bounds[chunk + 1]; w++)
        {
            int d = _answers.WorkerDegree(w);
            if (d == 0) continue;
            double c;
            if (_exact && d <= _exactLimit) c = ExactMessages(w, s, toFactor, fromFactor);
            else if (_nodes is not null) c = NodeMessages(w, s, toFactor, fromFactor);
            else c = SampleMessages(w, s, toFactor, fromFactor);
            change = Math.Max(change, c);
        }
        return change;
    }

    /// <summary>Writes the damped one-coin message (log m1 for the worker's answer, log m0 for the rest); returns the change.</summary>
    private double StoreOneCoin(double[] fromFactor, int e, int y, double m1, double m0)
    {
        // Normalise: one class gets m1, the other K − 1 get m0.
        double z = BayesianCrowd.LogAddExp(m1, m0 + _logKm1);
        m1 -= z; m0 -= z;
        var f = fromFactor.AsSpan(e * _k, _k);
        if (_damping == 0)
        {
            double change = Math.Abs(Math.Exp(m1) - Math.Exp(f[y]));
            for (int c = 0; c < _k; c++)
            {
                double v = c == y ? m1 : m0;
                change = Math.Max(change, Math.Abs(Math.Exp(v) - Math.Exp(f[c])));
                f[c] = v;
            }
            return change;
        }
        Span<double> v2 = stackalloc double[_k];
        for (int c = 0; c < _k; c++) v2[c] = (1 - _damping) * (c == y ? m1 : m0) + _damping * f[c];
        return Damp(f, v2);
    }

    /// <summary>Normalises the damped log message <paramref name="next"/>, stores it into <paramref name="f"/>, returns the change.</summary>
    private static double Damp(Span<double> f, Span<double> next)
    {
        double max = double.NegativeInfinity;
        foreach (var x in next) max = Math.Max(max, x);
        double sum = 0;
        foreach (var x in next) sum += Math.Exp(x - max);
        double lz = max + Math.Log(sum), change = 0;
        for (int c = 0; c < f.Length; c++)
        {
            double v = next[c] - lz;
            change = Math.Max(change, Math.Abs(Math.Exp(v) - Math.Exp(f[c])));
            f[c] = v;
        }
        return change;
    }

    /// <summary>ρ_j = m_{j→u}(y_uj) and log ρ_j, log(1 − ρ_j), the latter summed from the other classes (no cancellation).</summary>
    private (double LogRight, double LogWrong) Right(double[] toFactor, int e, int y)
    {
        var m = toFactor.AsSpan(e * _k, _k);
        double wrong = 0;
        for (int c = 0; c < _k; c++) if (c != y) wrong += m[c];
        return (Math.Log(m[y]), Math.Log(wrong));
    }

    /// <summary>Exact one-coin messages of worker w in O(deg²) (see <see cref="BeliefPropagation"/>).</summary>
    private double ExactMessages(int w, Scratch s, double[] toFactor, double[] fromFactor)
    {
        var off = _answers.WorkerOffsets;
        var ids = _answers.WorkerAnswerIds;
        var labels = _answers.WorkerLabels;
        int start = off[w], n = off[w + 1] - start;
        Prepare(w, s, toFactor);
        var lr = s.Lr; var lq = s.Lq; var bw = s.Backward; var fw = s.Forward;

        // Backward[i] (offset i(i+3)/2, entries a = 0..i+1): log E[g(a + C_{>i})], C_{>i} = right answers among tasks after i.
        int last = (n - 1) * (n + 2) / 2;
        for (int a = 0; a <= n; a++) bw[last + a] = s.Lg[a];
        for (int i = n - 2; i >= 0; i--)
        {
            int o = i * (i + 3) / 2, up = (i + 1) * (i + 4) / 2;
            double r = lr[i + 1], q = lq[i + 1];
            for (int a = 0; a <= i + 1; a++)
                bw[o + a] = BayesianCrowd.LogAddExp(r + bw[up + a + 1], q + bw[up + a]);
        }

        // Forward[a] = log P(a right answers among tasks before i); combined with Backward[i] it gives the messages.
        fw[0] = 0;
        double change = 0;
        for (int i = 0; i < n; i++)
        {
            int o = i * (i + 3) / 2;
            double max1 = double.NegativeInfinity, max0 = double.NegativeInfinity;
            for (int a = 0; a <= i; a++)
            {
                max1 = Math.Max(max1, fw[a] + bw[o + a + 1]);
                max0 = Math.Max(max0, fw[a] + bw[o + a]);
            }
            double s1 = 0, s0 = 0;
            for (int a = 0; a <= i; a++)
            {
                s1 += Math.Exp(fw[a] + bw[o + a + 1] - max1);
                s0 += Math.Exp(fw[a] + bw[o + a] - max0);
            }
            change = Math.Max(change, StoreOneCoin(fromFactor, ids[start + i], labels[start + i], max1 + Math.Log(s1), max0 + Math.Log(s0)));
            AdvanceForward(fw, i, lr[i], lq[i]);
        }
        return change;
    }

    /// <summary>Forward[0..i] (tasks before i) → Forward[0..i+1] (tasks up to i).</summary>
    private static void AdvanceForward(double[] fw, int i, double lr, double lq)
    {
        fw[i + 1] = fw[i] + lr;
        for (int a = i; a >= 1; a--) fw[a] = BayesianCrowd.LogAddExp(fw[a - 1] + lr, fw[a] + lq);
        fw[0] += lq;
    }

    /// <summary>Fills Lr, Lq (per task of w) and Lg[c] = log g(c) up to a constant, c = 0..deg.</summary>
    private void Prepare(int w, Scratch s, double[] toFactor)
    {
        var off = _answers.WorkerOffsets;
        var ids = _answers.WorkerAnswerIds;
        var labels = _answers.WorkerLabels;
        int start = off[w], n = off[w + 1] - start;
        for (int j = 0; j < n; j++) (s.Lr[j], s.Lq[j]) = Right(toFactor, ids[start + j], labels[start + j]);
        for (int c = 0; c <= n; c++) s.Lg[c] = SpecialFunctions.BetaLn(_a + c, _b + n - c) - (n - c) * _logKm1;
    }

    /// <summary>One-coin messages by equal-weight accuracy nodes (MC draws, or prior quantiles above the exact limit).</summary>
    private double NodeMessages(int w, Scratch s, double[] toFactor, double[] fromFactor)
    {
        var nodes = _nodes!;
        var off = _answers.WorkerOffsets;
        var ids = _answers.WorkerAnswerIds;
        var labels = _answers.WorkerLabels;
        int start = off[w], end = off[w + 1], S = nodes.Length;
        double km1 = _k - 1;
        var L = s.LogWeights.AsSpan(0, S);
        var v = s.Buffer.AsSpan(0, S);
        L.Clear();
        for (int i = start; i < end; i++)
        {
            double rho = toFactor[ids[i] * _k + labels[i]];
            for (int t = 0; t < S; t++) L[t] += Math.Log(nodes[t] * rho + (1 - nodes[t]) / km1 * (1 - rho));
        }
        double change = 0;
        for (int i = start; i < end; i++)
        {
            double rho = toFactor[ids[i] * _k + labels[i]];
            double max = double.NegativeInfinity;
            for (int t = 0; t < S; t++)
            {
                v[t] = L[t] - Math.Log(nodes[t] * rho + (1 - nodes[t]) / km1 * (1 - rho));
                max = Math.Max(max, v[t]);
            }
            double s1 = 0, s0 = 0;
            for (int t = 0; t < S; t++)
            {
                double x = Math.Exp(v[t] - max);
                s1 += nodes[t] * x;
                s0 += (1 - nodes[t]) / km1 * x;
            }
            change = Math.Max(change, StoreOneCoin(fromFactor, ids[i], labels[i], Math.Log(s1), Math.Log(s0)));
        }
        return change;
    }

    /// <summary>
    /// Monte-Carlo messages (eq. (42)) for Dirichlet priors from the draws θ_s. With d_{s,j} = ⟨θ_s(·, y_j), m_{j→u}⟩
    /// and W_s = w_s Π_j d_{s,j}, the message to task i is m_{u→i}(z) ∝ Σ_s W_s θ_s(z, y_i) / d_{s,i}: leaving edge i
    /// out is a division, so each edge costs O(K·S) multiply-adds and one division per sample, no exp or log.
    /// Samples are the vector lanes (θ stored [l][z][s]). The worker's edges are taken a segment at a time, their
    /// incoming messages gathered next to each other and grouped by answer (<see cref="Gather"/>); the logs and
    /// exponentials of the damping and normalisation run over the whole segment at once (<see cref="VectorMath"/>).
    /// </summary>
    private double SampleMessages(int w, Scratch s, double[] toFactor, double[] fromFactor)
    {
        int k = _k, S = _stride;
        var ids = _answers.WorkerAnswerIds;
        int start = _answers.WorkerOffsets[w], end = _answers.WorkerOffsets[w + 1];
        var L = s.LogWeights.AsSpan(0, S);
        var th = Draws(w, s, L);
        Span<int> bounds = stackalloc int[k + 1];
        bool gathered = LogProduct(start, end, toFactor, th, L, s, bounds);
        // W_s relative to the largest, so the sums cannot overflow; the common factor cancels in the normalisation.
        double max = double.NegativeInfinity;
        foreach (var x in L) max = Math.Max(max, x);
        var weight = s.Weights.AsSpan(0, S);
        for (int t = 0; t < S; t++) weight[t] = Math.Exp(L[t] - max);
        double change = 0;
        for (int seg = start; seg < end; seg += Segment)
        {
            int segEnd = Math.Min(seg + Segment, end), rows = segEnd - seg;
            // A worker within one segment was gathered by the product pass already.
            if (!gathered) Gather(seg, segEnd, toFactor, s, bounds);
            gathered = false;
            var raw = s.Raw.AsSpan(0, rows * k);
            var m = s.Gathered.AsSpan(0, rows * k);
            for (int y = 0; y < k; y++)
            {
                var col = th.AsSpan(y * k * S, k * S);
                int e = bounds[y];
                for (; e + 1 < bounds[y + 1]; e += 2)
                    MessagePairSums(col, m.Slice(e * k, k), m.Slice((e + 1) * k, k), weight, raw.Slice(e * k, k), raw.Slice((e + 1) * k, k));
                if (e < bounds[y + 1]) MessageSums(col, m.Slice(e * k, k), weight, raw.Slice(e * k, k));
            }
            var order = s.Order.AsSpan(0, rows);
            var old = s.Old.AsSpan(0, rows * k);
            for (int e = 0; e < rows; e++)
            {
                int from = ids[order[e]] * k;
                for (int z = 0; z < k; z++) old[e * k + z] = fromFactor[from + z];
            }
            // next = (1 − d)·log m_new + d·log m_old, normalised in the log domain; the change is measured on probabilities.
            VectorMath.Log(raw);
            if (_damping != 0)
                for (int i = 0; i < raw.Length; i++) raw[i] = (1 - _damping) * raw[i] + _damping * old[i];
            var rowSum = s.RowSum.AsSpan(0, rows);
            for (int e = 0; e < rows; e++)
            {
                var row = raw.Slice(e * k, k);
                double top = double.NegativeInfinity;
                foreach (var x in row) top = Math.Max(top, x);
                for (int z = 0; z < k; z++) row[z] -= top;
            }
            var p = m;   // the gathered messages are used up: the segment's new probabilities go there
            raw.CopyTo(p);
            VectorMath.Exp(p);
            VectorMath.Exp(old);
            for (int e = 0; e < rows; e++)
            {
                var row = p.Slice(e * k, k);
                double sum = 0;
                foreach (var x in row) sum += x;
                rowSum[e] = sum;
                double inv = 1 / sum;
                for (int z = 0; z < k; z++) row[z] *= inv;
            }
            VectorMath.Log(rowSum);
            for (int e = 0; e < rows; e++)
            {
                var f = fromFactor.AsSpan(ids[order[e]] * k, k);
                double lz = rowSum[e];
                for (int z = 0; z < k; z++)
                {
                    change = Math.Max(change, Math.Abs(p[e * k + z] - old[e * k + z]));
                    f[z] = raw[e * k + z] - lz;
                }
            }
        }
        return change;
    }

    /// <summary>Most edges of one worker gathered at a time (the scratch holds this many rows of K).</summary>
    private const int Segment = 8192;

    /// <summary>
    /// Copies m_{j→u} of the worker's edges [start, end) into <see cref="Scratch.Gathered"/>, grouped by the worker's
    /// answer (stably): edges answered y are rows [bounds[y], bounds[y + 1]); <see cref="Scratch.Order"/> gives each
    /// row's edge. The kernels then read one θ column per group and the messages in sequence, not scattered over T.
    /// </summary>
    private void Gather(int start, int end, double[] toFactor, Scratch s, Span<int> bounds)
    {
        int k = _k;
        var ids = _answers.WorkerAnswerIds;
        var labels = _answers.WorkerLabels;
        bounds.Clear();
        for (int i = start; i < end; i++) bounds[labels[i] + 1]++;
        for (int y = 0; y < k; y++) bounds[y + 1] += bounds[y];
        Span<int> next = stackalloc int[k];
        bounds[..k].CopyTo(next);
        var g = s.Gathered;
        var order = s.Order;
        for (int i = start; i < end; i++)
        {
            int row = next[labels[i]]++;
            order[row] = i;
            // An element loop: K is small, and a copy call per edge costs more than the copy.
            int from = ids[i] * k, to = row * k;
            for (int z = 0; z < k; z++) g[to + z] = toFactor[from + z];
        }
    }

    /// <summary>
    /// L[s] += Σ_j log d_{s,j} over the answers [start, end) of one worker, as the log of a running product kept in
    /// registers for eight samples at a time: after each factor the product's binary exponent is moved into an integer
    /// (exactly, by bit operations) and its mantissa kept in [1, 2), so it neither underflows (d ≥ 10⁻³⁰⁰/K) nor needs
    /// a log per answer. Returns whether the edges fit in one segment (then <see cref="Scratch.Gathered"/> holds them).
    /// </summary>
    private bool LogProduct(int start, int end, double[] toFactor, double[] th, Span<double> L, Scratch s, Span<int> bounds)
    {
        int S = _stride;
        var prod = s.Product.AsSpan(0, S);
        var expo = s.Exponent.AsSpan(0, S);
        prod.Fill(1);
        expo.Clear();
        for (int seg = start; seg < end; seg += Segment)
        {
            int segEnd = Math.Min(seg + Segment, end);
            Gather(seg, segEnd, toFactor, s, bounds);
            if (_k == 2) ProductBlocks2(th, s, bounds, prod, expo);
            else ProductBlocks(th, s, bounds, prod, expo);
        }
        for (int t = 0; t < S; t++) L[t] += Math.Log(prod[t]) + expo[t] * Math.Log(2);
        return end - start <= Segment;
    }

    /// <summary>p·d with its binary exponent moved into e (p stays in [1, 2)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Fold(ref Vector256<double> p, ref Vector256<long> e, Vector256<double> d)
    {
        var bits = (p * d).AsInt64();
        e += Vector256.ShiftRightLogical(bits, 52) - Vector256.Create(1023L);
        p = ((bits & Vector256.Create(0x000F_FFFF_FFFF_FFFFL)) | Vector256.Create(0x3FF0_0000_0000_0000L)).AsDouble();
    }

    /// <summary>p·d₁·d₂ folded as <see cref="Fold"/>: at once when d₁d₂ is at least 2⁻¹⁰⁰⁰ in every lane, else one factor at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FoldPair(ref Vector256<double> p, ref Vector256<long> e, Vector256<double> d1, Vector256<double> d2)
    {
        var q = d1 * d2;
        if (Vector256.LessThanAny(q, PairFloor)) { Fold(ref p, ref e, d1); Fold(ref p, ref e, d2); }
        else Fold(ref p, ref e, q);
    }

    /// <summary><see cref="LogProduct"/>'s kernel for one gathered segment, any K.</summary>
    private void ProductBlocks(double[] th, Scratch s, ReadOnlySpan<int> bounds, Span<double> prod, Span<long> expo)
    {
        int k = _k, S = _stride;
        ref double g = ref MemoryMarshal.GetArrayDataReference(s.Gathered);
        ref double pp = ref MemoryMarshal.GetReference(prod);
        ref long pe = ref MemoryMarshal.GetReference(expo);
        Span<Vector256<double>> col = stackalloc Vector256<double>[2 * k];
        for (nuint t = 0; t < (nuint)S; t += 8)
        {
            var pa = Vector256.LoadUnsafe(ref pp, t); var pb = Vector256.LoadUnsafe(ref pp, t + 4);
            var ea = Vector256.LoadUnsafe(ref pe, t); var eb = Vector256.LoadUnsafe(ref pe, t + 4);
            for (int y = 0; y < k; y++)
            {
                int from = bounds[y], to = bounds[y + 1];
                if (from == to) continue;
                ref double c = ref th[y * k * S];
                for (int z = 0; z < k; z++)
                {
                    col[2 * z] = Vector256.LoadUnsafe(ref c, (nuint)(z * S) + t);
                    col[2 * z + 1] = Vector256.LoadUnsafe(ref c, (nuint)(z * S) + t + 4);
                }
                int e = from;
                for (; e + 1 < to; e += 2)
                {
                    ref double m = ref Unsafe.Add(ref g, e * k);
                    ref double n = ref Unsafe.Add(ref g, e * k + k);
                    var mv = Vector256.Create(m); var nv = Vector256.Create(n);
                    var da1 = col[0] * mv; var db1 = col[1] * mv;
                    var da2 = col[0] * nv; var db2 = col[1] * nv;
                    for (int z = 1; z < k; z++)
                    {
                        mv = Vector256.Create(Unsafe.Add(ref m, z)); nv = Vector256.Create(Unsafe.Add(ref n, z));
                        da1 = Fma(col[2 * z], mv, da1); db1 = Fma(col[2 * z + 1], mv, db1);
                        da2 = Fma(col[2 * z], nv, da2); db2 = Fma(col[2 * z + 1], nv, db2);
                    }
                    FoldPair(ref pa, ref ea, da1, da2);
                    FoldPair(ref pb, ref eb, db1, db2);
                }
                if (e < to)
                {
                    ref double m = ref Unsafe.Add(ref g, e * k);
                    var mv = Vector256.Create(m);
                    var da = col[0] * mv; var db = col[1] * mv;
                    for (int z = 1; z < k; z++)
                    {
                        mv = Vector256.Create(Unsafe.Add(ref m, z));
                        da = Fma(col[2 * z], mv, da); db = Fma(col[2 * z + 1], mv, db);
                    }
                    Fold(ref pa, ref ea, da);
                    Fold(ref pb, ref eb, db);
                }
            }
            pa.StoreUnsafe(ref pp, t); pb.StoreUnsafe(ref pp, t + 4);
            ea.StoreUnsafe(ref pe, t); eb.StoreUnsafe(ref pe, t + 4);
        }
    }

    /// <summary><see cref="ProductBlocks"/> for K = 2, the θ columns held in registers.</summary>
    private void ProductBlocks2(double[] th, Scratch s, ReadOnlySpan<int> bounds, Span<double> prod, Span<long> expo)
    {
        int S = _stride;
        ref double g = ref MemoryMarshal.GetArrayDataReference(s.Gathered);
        ref double pp = ref MemoryMarshal.GetReference(prod);
        ref long pe = ref MemoryMarshal.GetReference(expo);
        for (nuint t = 0; t < (nuint)S; t += 8)
        {
            var pa = Vector256.LoadUnsafe(ref pp, t); var pb = Vector256.LoadUnsafe(ref pp, t + 4);
            var ea = Vector256.LoadUnsafe(ref pe, t); var eb = Vector256.LoadUnsafe(ref pe, t + 4);
            for (int y = 0; y < 2; y++)
            {
                ref double c = ref th[y * 2 * S];
                var c0a = Vector256.LoadUnsafe(ref c, t); var c0b = Vector256.LoadUnsafe(ref c, t + 4);
                var c1a = Vector256.LoadUnsafe(ref c, (nuint)S + t); var c1b = Vector256.LoadUnsafe(ref c, (nuint)S + t + 4);
                int e = bounds[y], to = bounds[y + 1];
                // Two factors at a time: their product is folded once, halving the dependency chain through p.
                for (; e + 1 < to; e += 2)
                {
                    var m0 = Vector256.Create(Unsafe.Add(ref g, 2 * e));
                    var m1 = Vector256.Create(Unsafe.Add(ref g, 2 * e + 1));
                    var n0 = Vector256.Create(Unsafe.Add(ref g, 2 * e + 2));
                    var n1 = Vector256.Create(Unsafe.Add(ref g, 2 * e + 3));
                    var da1 = Fma(c1a, m1, c0a * m0); var da2 = Fma(c1a, n1, c0a * n0);
                    var db1 = Fma(c1b, m1, c0b * m0); var db2 = Fma(c1b, n1, c0b * n0);
                    FoldPair(ref pa, ref ea, da1, da2);
                    FoldPair(ref pb, ref eb, db1, db2);
                }
                if (e < to)
                {
                    var m0 = Vector256.Create(Unsafe.Add(ref g, 2 * e));
                    var m1 = Vector256.Create(Unsafe.Add(ref g, 2 * e + 1));
                    Fold(ref pa, ref ea, Fma(c1a, m1, c0a * m0));
                    Fold(ref pb, ref eb, Fma(c1b, m1, c0b * m0));
                }
            }
            pa.StoreUnsafe(ref pp, t); pb.StoreUnsafe(ref pp, t + 4);
            ea.StoreUnsafe(ref pe, t); eb.StoreUnsafe(ref pe, t + 4);
        }
    }

    /// <summary>
    /// Below this, a product of two factors d is not folded at once (<see cref="Fold"/> needs a normal number, and the
    /// leave-two-out weight W/(d₁d₂) must stay below 2¹⁰⁰⁰): the pair is then taken one factor at a time.
    /// </summary>
    private static readonly Vector256<double> PairFloor = Vector256.Create(Math.ScaleB(1.0, -1000));

    /// <summary>
    /// <see cref="MessageSums"/> for two edges answered alike (θ column <paramref name="col"/>): one division per sample
    /// for both, W/(d₁d₂), times d₂ for the first and d₁ for the second (each sum over four lanes, in lane order).
    /// </summary>
    private static void MessagePairSums(ReadOnlySpan<double> col, ReadOnlySpan<double> m1, ReadOnlySpan<double> m2, ReadOnlySpan<double> weight,
        Span<double> msg1, Span<double> msg2)
    {
        int k = m1.Length, S = weight.Length;
        ref double c = ref MemoryMarshal.GetReference(col);
        ref double wt = ref MemoryMarshal.GetReference(weight);
        if (k == 2)
        {
            var a0 = Vector256.Create(m1[0]); var a1 = Vector256.Create(m1[1]);
            var b0 = Vector256.Create(m2[0]); var b1 = Vector256.Create(m2[1]);
            Vector256<double> s10 = default, s11 = default, s20 = default, s21 = default;
            nuint row = (nuint)S;
            for (nuint t = 0; t < (nuint)S; t += 4)
            {
                var c0 = Vector256.LoadUnsafe(ref c, t); var c1 = Vector256.LoadUnsafe(ref c, row + t);
                var w = Vector256.LoadUnsafe(ref wt, t);
                var d1 = Fma(c1, a1, c0 * a0);
                var d2 = Fma(c1, b1, c0 * b0);
                var q = d1 * d2;
                Vector256<double> x1, x2;
                if (Vector256.LessThanAny(q, PairFloor)) { x1 = w / d1; x2 = w / d2; }
                else { var r = w / q; x1 = r * d2; x2 = r * d1; }
                s10 = Fma(c0, x1, s10); s11 = Fma(c1, x1, s11); s20 = Fma(c0, x2, s20); s21 = Fma(c1, x2, s21);
            }
            msg1[0] = Lanes(s10); msg1[1] = Lanes(s11); msg2[0] = Lanes(s20); msg2[1] = Lanes(s21);
            return;
        }
        Span<Vector256<double>> mz = stackalloc Vector256<double>[2 * k];
        Span<Vector256<double>> acc = stackalloc Vector256<double>[2 * k];
        for (int z = 0; z < k; z++) { mz[z] = Vector256.Create(m1[z]); mz[k + z] = Vector256.Create(m2[z]); }
        acc.Clear();
        for (nuint t = 0; t < (nuint)S; t += 4)
        {
            var c0 = Vector256.LoadUnsafe(ref c, t);
            var d1 = c0 * mz[0];
            var d2 = c0 * mz[k];
            for (int z = 1; z < k; z++)
            {
                var cz = Vector256.LoadUnsafe(ref c, (nuint)(z * S) + t);
                d1 = Fma(cz, mz[z], d1);
                d2 = Fma(cz, mz[k + z], d2);
            }
            var w = Vector256.LoadUnsafe(ref wt, t);
            var q = d1 * d2;
            Vector256<double> x1, x2;
            if (Vector256.LessThanAny(q, PairFloor)) { x1 = w / d1; x2 = w / d2; }
            else { var r = w / q; x1 = r * d2; x2 = r * d1; }
            for (int z = 0; z < k; z++)
            {
                var cz = Vector256.LoadUnsafe(ref c, (nuint)(z * S) + t);
                acc[z] = Fma(cz, x1, acc[z]);
                acc[k + z] = Fma(cz, x2, acc[k + z]);
            }
        }
        for (int z = 0; z < k; z++) { msg1[z] = Lanes(acc[z]); msg2[z] = Lanes(acc[k + z]); }
    }

    /// <summary>
    /// a·b + c rounded once (IEEE 754 fused multiply-add): one instruction where two were, and the same bits on every
    /// machine (exactly specified; computed in software where the processor has no FMA).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> Fma(Vector256<double> a, Vector256<double> b, Vector256<double> c) => Vector256.FusedMultiplyAdd(a, b, c);

    /// <summary>The four lanes of a vector summed in lane order (the same on every machine).</summary>
    private static double Lanes(Vector256<double> a) => (a[0] + a[1]) + (a[2] + a[3]);

    /// <summary>
    /// msg[z] = Σ_s weight[s] col[z][s] / d[s], d[s] = Σ_z col[z][s] m[z] (col is θ(·, y) as K rows of S), in one
    /// pass over the samples, eight at a time; each sum is taken over eight lanes in a fixed order.
    /// </summary>
    private static void MessageSums(ReadOnlySpan<double> col, ReadOnlySpan<double> m, ReadOnlySpan<double> weight, Span<double> msg)
    {
        int k = m.Length, S = weight.Length;
        ref double c = ref MemoryMarshal.GetReference(col);
        ref double wt = ref MemoryMarshal.GetReference(weight);
        if (k == 2)
        {
            var m0 = Vector256.Create(m[0]); var m1 = Vector256.Create(m[1]);
            Vector256<double> a0 = default, b0 = default, a1 = default, b1 = default;
            nuint row = (nuint)S;
            for (nuint t = 0; t < (nuint)S; t += 8)
            {
                var ca0 = Vector256.LoadUnsafe(ref c, t); var cb0 = Vector256.LoadUnsafe(ref c, t + 4);
                var ca1 = Vector256.LoadUnsafe(ref c, row + t); var cb1 = Vector256.LoadUnsafe(ref c, row + t + 4);
                var xa = Vector256.LoadUnsafe(ref wt, t) / (ca0 * m0 + ca1 * m1);
                var xb = Vector256.LoadUnsafe(ref wt, t + 4) / (cb0 * m0 + cb1 * m1);
                a0 += ca0 * xa; b0 += cb0 * xb; a1 += ca1 * xa; b1 += cb1 * xb;
            }
            msg[0] = LaneSum(a0, b0); msg[1] = LaneSum(a1, b1);
            return;
        }
        Span<Vector256<double>> mz = stackalloc Vector256<double>[k];
        Span<Vector256<double>> acc = stackalloc Vector256<double>[2 * k];
        for (int z = 0; z < k; z++) mz[z] = Vector256.Create(m[z]);
        acc.Clear();
        for (nuint t = 0; t < (nuint)S; t += 8)
        {
            var da = Vector256.LoadUnsafe(ref c, t) * mz[0];
            var db = Vector256.LoadUnsafe(ref c, t + 4) * mz[0];
            for (int z = 1; z < k; z++)
            {
                nuint o = (nuint)(z * S) + t;
                da += Vector256.LoadUnsafe(ref c, o) * mz[z];
                db += Vector256.LoadUnsafe(ref c, o + 4) * mz[z];
            }
            var xa = Vector256.LoadUnsafe(ref wt, t) / da;
            var xb = Vector256.LoadUnsafe(ref wt, t + 4) / db;
            for (int z = 0; z < k; z++)
            {
                nuint o = (nuint)(z * S) + t;
                acc[2 * z] += Vector256.LoadUnsafe(ref c, o) * xa;
                acc[2 * z + 1] += Vector256.LoadUnsafe(ref c, o + 4) * xb;
            }
        }
        for (int z = 0; z < k; z++) msg[z] = LaneSum(acc[2 * z], acc[2 * z + 1]);
    }

    /// <summary>The eight lanes of two vectors summed in lane order (the same on every machine).</summary>
    private static double LaneSum(Vector256<double> a, Vector256<double> b) =>
        ((a[0] + a[1]) + (a[2] + a[3])) + ((b[0] + b[1]) + (b[2] + b[3]));

    /// <summary>
    /// The draws θ_s for worker w ([l][z][s]) and their log importance weights (into <paramref name="logWeights"/>;
    /// −∞ for the padding samples): the shared prior draws with weight 1, or, with a proposal, per-worker draws from
    /// Dir(β_w) with weights p(θ|α)/q(θ|β_w) up to a constant. The per-worker draws come from a generator seeded by
    /// (seed, w), so every sweep sees the same draws (made once and kept, when they fit): the messages stay a
    /// deterministic function of their inputs, the iteration can converge, and the result does not depend on threading.
    /// </summary>
    private double[] Draws(int w, Scratch s, Span<double> logWeights)
    {
        logWeights[_samples..].Fill(double.NegativeInfinity);
        if (_proposal is null || _answers.WorkerDegree(w) < BeliefPropagation.ProposalMinDegree)
        {
            logWeights[.._samples].Clear();
            return _thetas!;
        }
        int k = _k, kk = k * k, S = _stride;
        if (_drawCache?[w] is { } kept)
        {
            kept.AsSpan(kk * S, _samples).CopyTo(logWeights);
            return kept;
        }
        var beta = _proposal.AsSpan(w * kk, kk);
        var alpha = _alpha!;
        var th = _drawCache is null ? s.Thetas : new double[(kk + 1) * S];
        th.AsSpan(0, kk * S).Fill(1);
        var rng = s.Random;
        rng.Reset(Seeding.Stream(_seed, (ulong)w));
        Span<double> logRow = stackalloc double[k];
        for (int t = 0; t < _samples; t++)
        {
            double lw = 0;
            for (int z = 0; z < k; z++)
            {
                // Log-space Dirichlet draw: small shapes give Gamma variates far below the smallest double.
                double max = double.NegativeInfinity;
                for (int l = 0; l < k; l++) { logRow[l] = LogGamma(rng, beta[z * k + l]); max = Math.Max(max, logRow[l]); }
                double sum = 0;
                for (int l = 0; l < k; l++) sum += Math.Exp(logRow[l] - max);
                double lz = max + Math.Log(sum);
                for (int l = 0; l < k; l++)
                {
                    double lt = logRow[l] - lz;
                    lw += (alpha[z * k + l] - beta[z * k + l]) * lt;
                    th[(l * k + z) * S + t] = Math.Max(Math.Exp(lt), 1e-300);
                }
            }
            logWeights[t] = lw;
        }
        if (_drawCache is not null)
        {
            logWeights[.._samples].CopyTo(th.AsSpan(kk * S));
            _drawCache[w] = th;
        }
        return th;
    }

    /// <summary>
    /// log of a Gamma(shape, 1) variate by Marsaglia and Tsang ("A simple method for generating gamma variables", ACM
    /// TOMS 2000), kept in logs: for shape &lt; 1 via Gamma(shape + 1)·U^(1/shape), whose value underflows a double for
    /// the small shapes of sparse workers. Normals from MathNet's sampler on the worker's own stream.
    /// </summary>
    private static double LogGamma(Random rng, double shape)
    {
        double boost = 0;
        if (shape < 1) { boost = Math.Log(1 - rng.NextDouble()) / shape; shape += 1; }
        double d = shape - 1.0 / 3, c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double x = Normal.Sample(rng, 0, 1), v = 1 + c * x;
            if (v <= 0) continue;
            v = v * v * v;
            double u = 1 - rng.NextDouble();
            if (Math.Log(u) < 0.5 * x * x + d - d * v + d * Math.Log(v)) return Math.Log(d * v) + boost;
        }
    }

    /// <summary>
    /// Posterior mean of each worker's confusion matrix (public layout [w][j][l]) given the final task → factor
    /// messages: the worker's factor belief ∝ p(θ | α) Π_j ⟨θ(·, y_j), m_{j→u}⟩. Workers without answers get the prior mean.
    /// </summary>
    public void WorkerPosteriors(double[] toFactor, double[] conf, CancellationToken ct)
    {
        int k = _k, kk = k * k;
        Run(chunk =>
        {
            var s = _scratch[chunk];
            var off = _answers.WorkerOffsets;
            var ids = _answers.WorkerAnswerIds;
            var labels = _answers.WorkerLabels;
            Span<int> bounds = stackalloc int[k + 1];
            for (int w = _bounds[chunk]; w < _bounds[chunk + 1]; w++)
            {
                int start = off[w], n = off[w + 1] - start;
                var c = conf.AsSpan(w * kk, kk);
                if (_thetas is null)
                {
                    double p;
                    if (n == 0) p = _a / (_a + _b);
                    else if (_exact && n <= _exactLimit)
                    {
                        // E[p] = Σ_c P(c) g(c) (a + c)/(a + b + n) / Σ_c P(c) g(c), P from the forward pass over all n.
                        Prepare(w, s, toFactor);
                        var fw = s.Forward;
                        fw[0] = 0;
                        for (int i = 0; i < n; i++) AdvanceForward(fw, i, s.Lr[i], s.Lq[i]);
                        double max = double.NegativeInfinity;
                        for (int a = 0; a <= n; a++) max = Math.Max(max, fw[a] + s.Lg[a]);
                        double num = 0, den = 0;
                        for (int a = 0; a <= n; a++)
                        {
                            double x = Math.Exp(fw[a] + s.Lg[a] - max);
                            num += x * (_a + a);
                            den += x;
                        }
                        p = num / den / (_a + _b + n);
                    }
                    else
                    {
                        var nodes = _nodes!;
                        var L = s.LogWeights.AsSpan(0, nodes.Length);
                        L.Clear();
                        for (int i = start; i < start + n; i++)
                        {
                            double rho = toFactor[ids[i] * k + labels[i]];
                            for (int t = 0; t < nodes.Length; t++) L[t] += Math.Log(nodes[t] * rho + (1 - nodes[t]) / (k - 1) * (1 - rho));
                        }
                        double max = double.NegativeInfinity;
                        foreach (var x in L) max = Math.Max(max, x);
                        double num = 0, den = 0;
                        for (int t = 0; t < nodes.Length; t++) { double x = Math.Exp(L[t] - max); num += x * nodes[t]; den += x; }
                        p = num / den;
                    }
                    for (int j = 0; j < k; j++)
                        for (int l = 0; l < k; l++) c[j * k + l] = j == l ? p : (1 - p) / (k - 1);
                }
                else
                {
                    int S = _stride;
                    var L = s.LogWeights.AsSpan(0, S);
                    var th = Draws(w, s, L);
                    LogProduct(start, start + n, toFactor, th, L, s, bounds);
                    double max = double.NegativeInfinity;
                    foreach (var x in L) max = Math.Max(max, x);
                    c.Clear();
                    for (int t = 0; t < _samples; t++)
                    {
                        double x = Math.Exp(L[t] - max);
                        for (int l = 0; l < k; l++)
                            for (int j = 0; j < k; j++) c[j * k + l] += x * th[(l * k + j) * S + t];
                    }
                    for (int j = 0; j < k; j++) Numerics.Normalize(c.Slice(j * k, k));
                }
            }
        }, ct);
    }
}
