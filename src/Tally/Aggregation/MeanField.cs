using MathNet.Numerics;
using Tally.Core;

namespace Tally.Aggregation;

/// <summary>Shape of a <see cref="WorkerPrior"/>.</summary>
public enum WorkerPriorKind
{
    /// <summary>
    /// One coin per worker: accuracy p ~ Beta(a, b), the same on every row, and wrong answers uniform over the other
    /// K − 1 classes (θ_kk = p, θ_kl = (1 − p)/(K − 1)). Paper 003 eq. (3); Liu, Peng &amp; Ihler 2012.
    /// </summary>
    OneCoin,
    /// <summary>Every row of the confusion matrix independently Dirichlet: θ_k· ~ Dir(α_k·) (two-coin for K = 2).</summary>
    Dirichlet,
}

/// <summary>
/// The prior over one worker's confusion matrix θ (row = true class, column = answer), shared by
/// <see cref="MeanField"/> and <see cref="BeliefPropagation"/>: either a one-coin Beta prior on the accuracy or
/// independent Dirichlet rows given by a K×K pseudo-count matrix α. Shorthands follow Kim, Cho, Kim &amp; Ok,
/// "Robust Deep Learning from Crowds with Belief Propagation", AISTATS 2022, eq. (3).
/// </summary>
/// <remarks>
/// The shorthands do not fix K; <see cref="Alpha"/> expands them for the K of the matrix being aggregated.
/// A prior built from a full matrix only accepts matrices with that K.
/// </remarks>
public sealed record WorkerPrior
{
    private readonly double[]? _matrix;

    private WorkerPrior(WorkerPriorKind kind, double a, double b, double[]? matrix, int classes)
    {
        Kind = kind; A = a; B = b; _matrix = matrix; FixedClassCount = classes;
    }

    /// <summary>Which family the prior belongs to.</summary>
    public WorkerPriorKind Kind { get; }

    /// <summary>One-coin: the Beta's a (pseudo-count of correct answers). Shorthand Dirichlet: α_kk.</summary>
    public double A { get; }

    /// <summary>One-coin: the Beta's b (pseudo-count of wrong answers). Shorthand Dirichlet: every α_kl, l ≠ k.</summary>
    public double B { get; }

    /// <summary>K of a prior given as a full matrix; 0 for the shorthands, which fit any K.</summary>
    public int FixedClassCount { get; }

    /// <summary>
    /// One-coin prior of paper 003 eq. (3): accuracy p ~ Beta(<paramref name="a"/>, <paramref name="b"/>), prior mean
    /// accuracy a/(a + b), wrong answers uniform over the other classes. The prior under which
    /// <see cref="BeliefPropagation"/> has exact messages.
    /// </summary>
    public static WorkerPrior OneCoin(double a, double b)
    {
        CheckPositive(a, nameof(a)); CheckPositive(b, nameof(b));
        return new WorkerPrior(WorkerPriorKind.OneCoin, a, b, null, 0);
    }

    /// <summary>
    /// Two-coin prior, generalised to K classes: every row independently θ_k· ~ Dir(α) with α_kk = <paramref name="a"/>
    /// and α_kl = <paramref name="b"/> for l ≠ k. For K = 2 this is paper 003's two-coin model, rows ~ Dir(a, b);
    /// the prior mean accuracy is a/(a + (K − 1)·b).
    /// </summary>
    public static WorkerPrior TwoCoin(double a, double b)
    {
        CheckPositive(a, nameof(a)); CheckPositive(b, nameof(b));
        return new WorkerPrior(WorkerPriorKind.Dirichlet, a, b, null, 0);
    }

    /// <summary>Independent Dirichlet rows θ_k· ~ Dir(alpha[k, ·]) from a full K×K matrix (row = true class).</summary>
    public static WorkerPrior Dirichlet(double[,] alpha)
    {
        ArgumentNullException.ThrowIfNull(alpha);
        int k = alpha.GetLength(0);
        if (k < 1 || alpha.GetLength(1) != k) throw new InvalidOptionException("Prior", "must be a non-empty square K×K matrix");
        var m = new double[MemoryBudget.Length(k, k)];
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++)
            {
                CheckPositive(alpha[i, j], nameof(alpha));
                m[i * k + j] = alpha[i, j];
            }
        return new WorkerPrior(WorkerPriorKind.Dirichlet, double.NaN, double.NaN, m, k);
    }

    /// <summary>
    /// The default of both methods: two-coin / Dirichlet rows with α_kk = 2, α_kl = 1. It is the prior of the
    /// synthetic experiments of paper 003 (Dir(2, 1)): mean accuracy 2/3 for K = 2, which encodes the one belief the
    /// model needs to break the label-swap symmetry (workers are better than chance), and it is weak (three
    /// pseudo-answers per row), so a few dozen real answers outweigh it. α_kl = 1 keeps the prior flat over how a
    /// worker's errors are distributed.
    /// </summary>
    public static WorkerPrior Default { get; } = TwoCoin(2, 1);

    /// <summary>
    /// The prior as a K×K pseudo-count matrix, row-major (row = true class). For one-coin this is
    /// α_kk = a, α_kl = b/(K − 1): the counts of correct and wrong answers the prior is worth (its rows are tied, which
    /// the matrix does not express).
    /// </summary>
    public double[] Alpha(int k)
    {
        Validate(k);
        if (_matrix is not null) return (double[])_matrix.Clone();
        var m = new double[MemoryBudget.Length(k, k)];
        double off = Kind == WorkerPriorKind.OneCoin ? (k > 1 ? B / (k - 1) : 0) : B;
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) m[i * k + j] = i == j ? A : off;
        return m;
    }

    /// <summary>Throws <see cref="ArgumentException"/> if the prior cannot be used with K classes.</summary>
    public void Validate(int k)
    {
        if (FixedClassCount != 0 && FixedClassCount != k)
            throw new InvalidOptionException("Prior", $"is a {FixedClassCount}×{FixedClassCount} matrix but the answers have {k} classes");
    }

    private static void CheckPositive(double x, string name)
    {
        if (!(x > 0) || double.IsInfinity(x)) throw new InvalidOptionException("Prior", $"pseudo-counts must be positive and finite (got {NumberFormat.Number(x)} for {name})");
    }
}

/// <summary>Options of <see cref="MeanField"/>.</summary>
public sealed record MeanFieldOptions : IterativeOptions
{
    /// <summary>
    /// Defaults: 200 iterations, tolerance 1e-7 on the change of the evidence lower bound per answer. Mean-field
    /// coordinate ascent raises the bound monotonically and each iteration costs one pass over the answers, so a tight
    /// tolerance is cheap; on the bundled data it is reached in 8–17 iterations.
    /// </summary>
    public MeanFieldOptions() { MaxIterations = 200; Tolerance = 1e-7; }

    /// <summary>Prior over every worker's confusion matrix; default <see cref="WorkerPrior.Default"/> (Dirichlet rows, α_kk = 2, α_kl = 1).</summary>
    public WorkerPrior Prior { get; init; } = WorkerPrior.Default;

    /// <summary>
    /// The class proportions κ. Default <see cref="ClassPriorMode.Auto"/>: fit twice, with κ uniform and with κ learned,
    /// and keep the fit whose model has the higher evidence lower bound (<see cref="BayesianCrowd.CollapsedBound"/>: the
    /// collapsed bound with the confusions and κ ~ Dir(a, …, a) integrated out, which pays for the extra K − 1
    /// parameters, against the one with κ = 1/K; not mean field's own bound, which on sparse crowds prefers a learned
    /// fit collapsed to one class). <see cref="ClassPriorMode.Learned"/> infers κ with the workers (as Kim &amp; Ghahramani's BCC does),
    /// q(κ) = Dir(a + Σ_i q_i), and q(z_i) gets the factor exp(E[log κ_z]). Why not always learned: with κ uniform, mean
    /// field on an imbalanced crowd (90/10, 3 answers per task) found 69.6 % of the labels against Dawid-Skene's 90.5 %,
    /// but on nearly balanced real sets the learned κ fits noise (duck: 88.89 % learned, 89.81 % uniform), and the
    /// evidence tells the two cases apart (docs/aggregation.md, sections 1 and 6). Auto costs two fits.
    /// <see cref="ClassPriorMode.Uniform"/> is the model of paper 003, which has no shared class prior (its task factor
    /// is the classifier or uniform); Auto uses it whenever a per-task prior is given.
    /// </summary>
    public ClassPriorMode ClassPrior { get; init; } = ClassPriorMode.Auto;

    /// <summary>Concentration a of the symmetric Dirichlet prior κ ~ Dir(a, …, a) when κ is learned. Default 1 (flat).</summary>
    public double ClassPriorConcentration { get; init; } = 1;

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        Check.NotNull(Prior, nameof(Prior));
        Check.Defined(ClassPrior, nameof(ClassPrior));
        Check.Above(ClassPriorConcentration, 0, nameof(ClassPriorConcentration));
    }
}

/// <summary>
/// Variational Bayes Dawid-Skene (mean field; Bayesian classifier combination without features): each worker's
/// confusion matrix θ_u has a Dirichlet (or one-coin Beta) prior; the posterior is approximated by
/// q(z)·q(θ) = Π_i q_i(z_i) Π_u Dir(θ_u; β_u), updated alternately by β_u[k, l] = α[k, l] + Σ_{i: y_ui = l} q_i(k)
/// and q_i(z) ∝ prior_i(z) · exp(Σ_u E[log θ_u(z, y_ui)]) (digamma expectations), from majority-vote q.
/// J. Kim, H. Cho, J. Kim and J. Ok, "Robust Deep Learning from Crowds with Belief Propagation", AISTATS 2022,
/// Section 3.1, eq. (16), and Appendix B, eq. (29) (here without features: the task factor f_φ is uniform unless a
/// per-task log prior is given; this is the "MF" baseline of that paper).
/// </summary>
/// <remarks>
/// <para>Objective: the evidence lower bound (15) per answer, evaluated after each β update, where it equals
/// Σ_u [log B(β_u) − log B(α)] + Σ_i [E_q log prior_i(z_i) + H(q_i)]; it never decreases.</para>
/// <para>Worker skill = posterior expected accuracy Σ_k κ̄_k E[θ_u(k, k)], with κ̄ the mean posterior class share
/// (or the learned class prior). Confusions = posterior means E[θ_u]. Gold labels are clamped. K = 1 is trivial
/// (every posterior is 1).</para>
/// </remarks>
public sealed class MeanField(MeanFieldOptions? options = null) : IAggregator
{
    /// <summary>The options in use.</summary>
    public MeanFieldOptions Options { get; } = options ?? new MeanFieldOptions();

    /// <inheritdoc />
    public string Name => "mf";

    /// <inheritdoc />
    public AggregationResult Aggregate(LabelMatrix answers, ComputeOptions? compute = null, IProgress<IterationProgress>? progress = null,
        CancellationToken cancellationToken = default) => Aggregate(answers, null, compute, progress, cancellationToken);

    /// <inheritdoc />
    public bool SupportsWarmStart => true;

    /// <summary>Coordinate ascent from the posteriors <paramref name="start"/> predicts, instead of majority vote.</summary>
    public AggregationResult Refine(AggregationModel start, LabelMatrix answers, ComputeOptions? compute = null,
        IProgress<IterationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        Options.Validate();
        return Fit(answers, null, AggregationModel.StartingPosteriors(start, Name, answers, compute, cancellationToken), compute, progress, cancellationToken);
    }

    /// <summary>
    /// Infers the true labels with a per-task prior factor (deepMF's classifier output f_φ(z_i; x_i)):
    /// <paramref name="taskLogPrior"/> is T×K row-major log-probabilities, each row known up to an additive
    /// constant (−∞ marks an impossible class; at least one class per row must be finite); null = uniform.
    /// </summary>
    public AggregationResult Aggregate(LabelMatrix answers, double[]? taskLogPrior, ComputeOptions? compute = null,
        IProgress<IterationProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Fit(answers, taskLogPrior, null, compute, progress, cancellationToken);

    private AggregationResult Fit(LabelMatrix answers, double[]? taskLogPrior, double[]? initialPosteriors, ComputeOptions? compute,
        IProgress<IterationProgress>? progress, CancellationToken cancellationToken)
    {
        Options.Validate();
        var mode = Options.ClassPrior;
        // With a per-task prior (deepMF's classifier) the task factor already carries the class frequencies; Auto then
        // keeps paper 003's model, without a second, shared κ.
        if (mode == ClassPriorMode.Auto && (taskLogPrior is not null || answers.ClassCount == 1)) mode = ClassPriorMode.Uniform;
        if (mode != ClassPriorMode.Auto)
            return FitMode(mode == ClassPriorMode.Learned, answers, taskLogPrior, initialPosteriors, compute, progress, cancellationToken);
        // Auto: both fits from the same start; while the second runs the first's result is held (confusions ×2, posteriors).
        Footprints.Require(Name, answers, compute, confusions: 6, posteriors: 5);
        int units = 2 * Options.MaxIterations;
        var uniform = FitMode(false, answers, null, (double[]?)initialPosteriors?.Clone(), compute,
            PhaseProgress.Of(progress, 0, units), cancellationToken);
        var learned = FitMode(true, answers, null, initialPosteriors, compute,
            PhaseProgress.Of(progress, Options.MaxIterations, units), cancellationToken);
        return BayesianCrowd.ChooseByEvidence(answers, Options.Prior, Options.ClassPriorConcentration, uniform, learned, compute);
    }

    private AggregationResult FitMode(bool learnPrior, LabelMatrix answers, double[]? taskLogPrior, double[]? initialPosteriors, ComputeOptions? compute,
        IProgress<IterationProgress>? progress, CancellationToken cancellationToken)
    {
        var options = Options with { ClassPrior = learnPrior ? ClassPriorMode.Learned : ClassPriorMode.Uniform };
        // β and E[log θ] per worker, and the result's confusions with the model's copy; the posteriors, the task prior.
        Footprints.Require(Name, answers, compute, confusions: 4, posteriors: 3);
        int k = answers.ClassCount, T = answers.TaskCount, W = answers.WorkerCount, kk = k * k;
        Options.Prior.Validate(k);
        var logPrior = BayesianCrowd.TaskLogPrior(answers, taskLogPrior);
        if (k == 1) return BayesianCrowd.Trivial(Name, options, answers);

        bool oneCoin = Options.Prior.Kind == WorkerPriorKind.OneCoin;
        // log B(a, …, a) of κ's prior, for the bound.
        double classPriorLogB = k * SpecialFunctions.GammaLn(Options.ClassPriorConcentration) - SpecialFunctions.GammaLn(k * Options.ClassPriorConcentration);
        var alpha = Options.Prior.Alpha(k);
        double logKm1 = Math.Log(k - 1);
        // log B(α_row) per row (constant): the normaliser of the prior, needed for the bound.
        double priorLogB = 0;
        if (oneCoin) priorLogB = SpecialFunctions.BetaLn(Options.Prior.A, Options.Prior.B);
        else for (int r = 0; r < k; r++) priorLogB += DirichletLogB(alpha.AsSpan(r * k, k));

        var q = initialPosteriors ?? MajorityVote.WeightedVote(answers, null);
        Numerics.ClampGold(answers, q);
        var beta = new double[MemoryBudget.Length(W, k, k)];   // [w][k][l], true-class-major like α
        var elog = new double[beta.Length];     // E[log θ_w(k, l)] stored label-major [w][l][k] for the task pass
        var workerTerm = new double[W];         // log B(β_w) − log B(α)
        var taskTerm = new double[T];           // E_q log prior_t + H(q_t)
        var classLogPrior = new double[k];      // E[log κ] (0 when not learned)
        var classTotals = new double[k];
        var trace = new List<double>();
        int n = Math.Max(1, answers.AnswerCount);
        long work = answers.AnswerCount * (long)k + (long)W * kk;

        // Σ over each worker's answers of q(task), [w][l][c] (label-major: one answer adds K contiguous values). The
        // fused task step scatters into per-part blocks (parts fixed by the input, summed in part order), so the
        // worker step reads no answers; with too many workers for the blocks, a by-worker scan fills it instead.
        var counts = new double[beta.Length];
        int parts = Parallelism.ReductionParts(T, answers.AnswerCount * (long)k, kk * (long)W);
        bool fused = (long)W * kk * parts * sizeof(double) <= 64L << 20;
        var partCounts = new double[fused ? parts : 0][];
        for (int p = 0; p < partCounts.Length; p++) partCounts[p] = new double[beta.Length];
        Action<int, int> scanCounts = (start, end) =>
        {
            var off = answers.WorkerOffsets;
            var tasks = answers.WorkerTasks;
            var labels = answers.WorkerLabels;
            for (int w = start; w < end; w++)
            {
                var cnt = counts.AsSpan(w * kk, kk);
                cnt.Clear();
                for (int i = off[w]; i < off[w + 1]; i++)
                {
                    var dst = cnt.Slice(labels[i] * k, k);
                    var src = q.AsSpan(tasks[i] * k, k);
                    for (int c = 0; c < k; c++) dst[c] += src[c];
                }
            }
        };

        // The half-steps as delegates built once, so the iteration loop allocates nothing.
        Action<int, int> workerStep = (start, end) =>
        {
            for (int w = start; w < end; w++)
            {
                var b = beta.AsSpan(w * kk, kk);
                var cnt = counts.AsSpan(w * kk, kk);
                for (int c = 0; c < k; c++)
                    for (int l = 0; l < k; l++) b[c * k + l] = alpha[c * k + l] + cnt[l * k + c];
                var e = elog.AsSpan(w * kk, kk);
                if (oneCoin)
                {
                    // Tied rows: one Beta over the accuracy with the expected numbers of right and wrong answers.
                    double right = Options.Prior.A, wrong = Options.Prior.B;
                    for (int c = 0; c < k; c++)
                        for (int l = 0; l < k; l++)
                        {
                            double x = b[c * k + l] - alpha[c * k + l];
                            if (c == l) right += x; else wrong += x;
                        }
                    double psiAll = SpecialFunctions.DiGamma(right + wrong);
                    double eRight = SpecialFunctions.DiGamma(right) - psiAll;
                    double eWrong = SpecialFunctions.DiGamma(wrong) - psiAll - logKm1;
                    for (int l = 0; l < k; l++)
                        for (int c = 0; c < k; c++) e[l * k + c] = c == l ? eRight : eWrong;
                    // The uniform split of errors costs log(K − 1) per expected wrong answer.
                    workerTerm[w] = SpecialFunctions.BetaLn(right, wrong) - priorLogB - (wrong - Options.Prior.B) * logKm1;
                }
                else
                {
                    double term = -priorLogB;
                    for (int c = 0; c < k; c++)
                    {
                        var row = b.Slice(c * k, k);
                        double sum = 0;
                        for (int l = 0; l < k; l++) sum += row[l];
                        double psiSum = SpecialFunctions.DiGamma(sum);
                        for (int l = 0; l < k; l++) e[l * k + c] = SpecialFunctions.DiGamma(row[l]) - psiSum;
                        term += DirichletLogB(row);
                    }
                    workerTerm[w] = term;
                }
            }
        };
        Action<int, int, int> taskStep = (part, start, end) =>
        {
            var off = answers.TaskOffsets;
            var workers = answers.TaskWorkers;
            var labels = answers.TaskLabels;
            var gold = answers.Gold;
            var local = fused ? partCounts[part] : null;
            if (local is not null) Array.Clear(local);
            Span<double> row = stackalloc double[k];
            for (int t = start; t < end; t++)
            {
                var lp = logPrior.AsSpan(t * k, k);
                for (int c = 0; c < k; c++) row[c] = lp[c] + classLogPrior[c];
                for (int i = off[t]; i < off[t + 1]; i++)
                {
                    var e = elog.AsSpan((workers[i] * k + labels[i]) * k, k);
                    for (int c = 0; c < k; c++) row[c] += e[c];
                }
                Numerics.NormalizeLog(row);
                bool isGold = gold is not null && gold[t] >= 0;
                if (isGold) { row.Clear(); row[gold![t]] = 1; }
                row.CopyTo(q.AsSpan(t * k, k));
                // A clamped task's terms are constant; leaving them out keeps a gold class the prior rules out finite.
                taskTerm[t] = isGold ? 0 : TaskTerm(row, lp);
                if (local is null) continue;
                for (int i = off[t]; i < off[t + 1]; i++)
                {
                    var dst = local.AsSpan((workers[i] * k + labels[i]) * k, k);
                    for (int c = 0; c < k; c++) dst[c] += row[c];
                }
            }
        };

        for (int t = 0; t < T; t++)
            taskTerm[t] = answers.Gold is { } g0 && g0[t] >= 0 ? 0 : TaskTerm(q.AsSpan(t * k, k), logPrior.AsSpan(t * k, k));
        Parallelism.For(W, work, compute, scanCounts, cancellationToken);
        double previous = Bound();
        bool converged = false;
        int it = 0;
        while (it < Options.MaxIterations)
        {
            cancellationToken.ThrowIfCancellationRequested();
            Parallelism.ForParts(T, parts, compute, taskStep, cancellationToken);
            if (fused)
            {
                Array.Clear(counts);
                foreach (var local in partCounts)
                    for (int j = 0; j < counts.Length; j++) counts[j] += local[j];
            }
            else Parallelism.For(W, work, compute, scanCounts, cancellationToken);
            double elbo = Bound();
            it++;
            trace.Add(elbo);
            progress?.Report(new IterationProgress(it, Options.MaxIterations, elbo));
            if (Options.Tolerance > 0 && Math.Abs(elbo - previous) < Options.Tolerance) { converged = true; break; }
            previous = elbo;
        }

        // β (and the confusions) are always those of the final q.
        var conf = new double[MemoryBudget.Length(W, kk)];
        var skills = new double[W];
        var share = new double[k];
        if (learnPrior)
        {
            double s = 0;
            for (int c = 0; c < k; c++) s += classTotals[c] + Options.ClassPriorConcentration;
            for (int c = 0; c < k; c++) share[c] = (classTotals[c] + Options.ClassPriorConcentration) / s;
        }
        else
        {
            for (int i = 0; i < q.Length; i++) share[i % k] += q[i];
            Numerics.Normalize(share);
        }
        for (int w = 0; w < W; w++)
        {
            var b = beta.AsSpan(w * kk, kk);
            var c = conf.AsSpan(w * kk, kk);
            if (oneCoin)
            {
                double right = Options.Prior.A, wrong = Options.Prior.B;
                for (int j = 0; j < k; j++)
                    for (int l = 0; l < k; l++) { double x = b[j * k + l] - alpha[j * k + l]; if (j == l) right += x; else wrong += x; }
                double p = right / (right + wrong);
                for (int j = 0; j < k; j++)
                    for (int l = 0; l < k; l++) c[j * k + l] = j == l ? p : (1 - p) / (k - 1);
            }
            else
            {
                b.CopyTo(c);
                for (int j = 0; j < k; j++) Numerics.Normalize(c.Slice(j * k, k));
            }
            double acc = 0;
            for (int j = 0; j < k; j++) acc += share[j] * c[j * k + j];
            skills[w] = acc;
        }

        var model = AggregationModel.ForConfusions(Name, options, answers, (double[])conf.Clone(),
            learnPrior ? (double[])share.Clone() : null, skills);
        return AggregationResult.Create(Name, answers, q, skills, model) with
        {
            Confusions = new ConfusionMatrices(W, k, conf),
            ClassPriors = learnPrior ? AggregationResult.Wrap(share) : System.Collections.Immutable.ImmutableArray<double>.Empty,
            Iterations = it,
            Converged = converged,
            LogLikelihoods = AggregationResult.Wrap(trace.ToArray()),
        };

        // β-step for the current q (workers, then the class prior), and the bound at the optimal β, per answer.
        double Bound()
        {
            Parallelism.For(W, work, compute, workerStep, cancellationToken);
            double total = 0;
            if (learnPrior)
            {
                // q(κ) = Dir(1 + Σ_t q_t): E[log κ_c] feeds the next task step; its bound term is log B(1 + N) − log B(1).
                Array.Clear(classTotals);
                for (int i = 0; i < q.Length; i++) classTotals[i % k] += q[i];
                Span<double> post = stackalloc double[k];
                double s = 0;
                for (int c = 0; c < k; c++) { post[c] = Options.ClassPriorConcentration + classTotals[c]; s += post[c]; }
                double psi = SpecialFunctions.DiGamma(s);
                for (int c = 0; c < k; c++) classLogPrior[c] = SpecialFunctions.DiGamma(post[c]) - psi;
                // Bound terms of z under κ, of κ's prior and of q(κ) collapse to log B(1 + N) − log B(1, …, 1).
                total += DirichletLogB(post) - classPriorLogB;
            }
            for (int w = 0; w < W; w++) total += workerTerm[w];
            for (int t = 0; t < T; t++) total += taskTerm[t];
            return total / n;
        }
    }

    /// <summary>log of the multivariate Beta function, log Π Γ(x_l) − log Γ(Σ x_l).</summary>
    internal static double DirichletLogB(ReadOnlySpan<double> x)
    {
        double s = 0, r = 0;
        for (int i = 0; i < x.Length; i++) { r += SpecialFunctions.GammaLn(x[i]); s += x[i]; }
        return r - SpecialFunctions.GammaLn(s);
    }

    /// <summary>E_q[log prior] + H(q) of one task (the class prior's share is in the κ term), with 0·log 0 = 0.</summary>
    private static double TaskTerm(ReadOnlySpan<double> q, ReadOnlySpan<double> logPrior)
    {
        double s = 0;
        for (int c = 0; c < q.Length; c++)
            if (q[c] > 0) s += q[c] * (logPrior[c] - Math.Log(q[c]));
        return s;
    }
}
