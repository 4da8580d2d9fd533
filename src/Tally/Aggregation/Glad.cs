using Tally.Core;

namespace Tally.Aggregation;

/// <summary>Options of <see cref="Glad"/>.</summary>
public sealed record GladOptions : IterativeOptions
{
    /// <summary>Defaults: 100 EM iterations, tolerance 1e-5 on the per-answer objective (Crowd-Kit's defaults).</summary>
    public GladOptions() { MaxIterations = 100; Tolerance = 1e-5; }
    /// <summary>Mean of the Gaussian prior on each worker's ability α (unit variance). 1 = "somewhat better than chance".</summary>
    public double AbilityPriorMean { get; init; } = 1.0;
    /// <summary>Mean of the Gaussian prior on each task's log inverse difficulty log β (unit variance); 0 means β = 1.</summary>
    public double LogInverseDifficultyPriorMean { get; init; } = 0.0;
    /// <summary>Newton sweeps over (α, log β) per M-step (Crowd-Kit: 25 optimiser iterations).</summary>
    public int MStepIterations { get; init; } = 25;
    /// <summary>An M-step stops early when no parameter moves by more than this (Crowd-Kit: 1e-2).</summary>
    public double MStepTolerance { get; init; } = 1e-2;

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        Check.Finite(AbilityPriorMean, nameof(AbilityPriorMean));
        Check.Finite(LogInverseDifficultyPriorMean, nameof(LogInverseDifficultyPriorMean));
        Check.AtLeast(MStepIterations, 0, nameof(MStepIterations));
        Check.AtLeast(MStepTolerance, 0, nameof(MStepTolerance));
    }
}

/// <summary>
/// GLAD (Generative model of Labels, Abilities and Difficulties): worker w labels task t correctly with probability
/// σ(α_w β_t), where α_w is the worker's ability and β_t &gt; 0 the task's inverse difficulty, and picks one of the
/// K − 1 wrong classes uniformly otherwise. EM: the E-step is the exact posterior over each task's class (log space);
/// the M-step maximises the expected complete log-likelihood plus Gaussian priors on α and log β by alternating
/// one-dimensional Newton steps. J. Whitehill, P. Ruvolo, T. Wu, J. Bergsma, J. Movellan, "Whose vote should count
/// more: optimal integration of labels from labelers of unknown expertise", NIPS 2009, eqs. (1)–(5).
/// Worker skill = α_w (negative for adversarial workers); class prior uniform, as in the paper.
/// Fitted model: one-coin confusions with accuracy σ(α_w β₀), β₀ the prior inverse difficulty, so new tasks are
/// labelled as tasks of typical difficulty; <see cref="Refine"/> starts from the model's abilities.
/// </summary>
public sealed class Glad(GladOptions? options = null) : IAggregator
{
    /// <summary>The options in use.</summary>
    public GladOptions Options { get; } = options ?? new GladOptions();

    /// <inheritdoc />
    public string Name => "glad";

    /// <inheritdoc />
    public AggregationResult Aggregate(LabelMatrix answers, ComputeOptions? compute = null, IProgress<IterationProgress>? progress = null,
        CancellationToken cancellationToken = default) => Fit(answers, null, null, compute, progress, cancellationToken);

    /// <inheritdoc />
    public bool SupportsWarmStart => true;

    /// <summary>EM from <paramref name="start"/>'s abilities (unseen workers at the prior mean) and the posteriors it predicts.</summary>
    public AggregationResult Refine(AggregationModel start, LabelMatrix answers, ComputeOptions? compute = null,
        IProgress<IterationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        Options.Validate();
        AggregationModel.CheckStart(start, Name, answers);
        var map = start.MapWorkers(answers, out _);
        var alpha = new double[answers.WorkerCount];
        for (int w = 0; w < alpha.Length; w++) alpha[w] = map[w] >= 0 ? start.Skills[map[w]] : Options.AbilityPriorMean;
        var post = AggregationModel.StartingPosteriors(start, Name, answers, compute, cancellationToken);
        return Fit(answers, alpha, post, compute, progress, cancellationToken);
    }

    private AggregationResult Fit(LabelMatrix answers, double[]? startAlpha, double[]? startPosteriors, ComputeOptions? compute,
        IProgress<IterationProgress>? progress, CancellationToken cancellationToken)
    {
        Options.Validate();
        // O(answers + T·K): four numbers per answer (P(correct) by task and by worker, σ(α β), β by worker), the posteriors (and the result's); the model is one-coin (W numbers).
        Footprints.Require(Name, answers, compute, posteriors: 3, extra: 4 * Footprints.PerAnswer(answers));
        int k = answers.ClassCount, T = answers.TaskCount, W = answers.WorkerCount, n = answers.AnswerCount;
        double logWrongShare = k > 1 ? Math.Log(k - 1) : 0;
        var alpha = startAlpha ?? new double[W];
        var logBeta = new double[T];
        if (startAlpha is null) Array.Fill(alpha, Options.AbilityPriorMean);
        Array.Fill(logBeta, Options.LogInverseDifficultyPriorMean);
        var post = startPosteriors ?? MajorityVote.WeightedVote(answers, null);
        Numerics.ClampGold(answers, post);
        var correct = new double[n];     // posterior probability that answer i is correct, indexed by answer id
        var ws = new GladWorkspace(answers, logBeta);
        FillCorrect(answers, post, correct);
        var trace = new List<double>();
        double previous = double.NegativeInfinity;
        bool converged = false;
        int it = 0;
        while (it < Options.MaxIterations)
        {
            cancellationToken.ThrowIfCancellationRequested();
            MStep(answers, correct, alpha, logBeta, ws, compute, cancellationToken);
            double objective = EStep(answers, alpha, logBeta, logWrongShare, post, correct, ws, compute, cancellationToken) / Math.Max(1, n);
            it++;
            trace.Add(objective);
            progress?.Report(new IterationProgress(it, Options.MaxIterations, objective));
            if (Options.Tolerance > 0 && Math.Abs(objective - previous) < Options.Tolerance) { converged = true; break; }
            previous = objective;
        }
        double beta0 = Math.Exp(Options.LogInverseDifficultyPriorMean);
        var accuracy = new double[W];
        for (int w = 0; w < W; w++) accuracy[w] = 1 / (1 + Math.Exp(-alpha[w] * beta0));
        var model = AggregationModel.ForOneCoin(Name, Options, answers, accuracy, null, alpha);
        return AggregationResult.Create(Name, answers, post, alpha, model) with
        {
            Iterations = it,
            Converged = converged,
            LogLikelihoods = AggregationResult.Wrap(trace.ToArray()),
        };
    }

    private static void FillCorrect(LabelMatrix answers, double[] post, double[] correct)
    {
        int k = answers.ClassCount;
        var off = answers.TaskOffsets;
        var labels = answers.TaskLabels;
        for (int t = 0; t < answers.TaskCount; t++)
            for (int i = off[t]; i < off[t + 1]; i++) correct[i] = post[t * k + labels[i]];
    }

    /// <summary>
    /// Posterior over each task's class, and from it each answer's probability of being correct (the next M-step's
    /// input), in one pass; returns the observed-data log-likelihood plus the log-priors of α and β. Parallel over
    /// fixed parts of the tasks, the parts' sums added in part order.
    /// </summary>
    private double EStep(LabelMatrix answers, double[] alpha, double[] logBeta, double logWrongShare, double[] post,
        double[] correct, GladWorkspace ws, ComputeOptions? compute, CancellationToken ct)
    {
        int k = answers.ClassCount;
        double muBeta = Options.LogInverseDifficultyPriorMean;
        var betas = ws.Beta;
        Parallelism.ForParts(answers.TaskCount, ws.Parts, compute, (part, start, end) =>
        {
            var off = answers.TaskOffsets;
            var workers = answers.TaskWorkers;
            var labels = answers.TaskLabels;
            var gold = answers.Gold;
            double logUniform = -Math.Log(k), total = 0;
            var wrong = ws.Sigmoids;
            // log σ(−α β) of the part's answers in one vectorised sweep.
            for (int t = start; t < end; t++)
                for (int i = off[t]; i < off[t + 1]; i++) wrong[i] = -alpha[workers[i]] * betas[t];
            VectorMath.LogSigmoid(wrong.AsSpan(off[start], off[end] - off[start]));
            for (int t = start; t < end; t++)
            {
                var row = post.AsSpan(t * k, k);
                double beta = betas[t];
                int e = off[t + 1];
                // Every class but the answer's gets the answer's "wrong" term: add it to all, and the difference to the
                // answer's class, so an answer costs O(1) instead of O(K). The difference is
                // log σ(x) − (log σ(−x) − log(K − 1)) = x + log(K − 1).
                double allWrong = 0;
                for (int i = off[t]; i < e; i++) allWrong += wrong[i] - logWrongShare;
                row.Fill(logUniform + allWrong);
                for (int i = off[t]; i < e; i++)
                    row[labels[i]] += alpha[workers[i]] * beta + logWrongShare;
                total += Numerics.NormalizeLog(row);
                if (gold is not null && gold[t] >= 0) { row.Clear(); row[gold[t]] = 1; }
                for (int i = off[t]; i < e; i++) correct[i] = row[labels[i]];
                double d = logBeta[t] - muBeta;
                total -= 0.5 * d * d;
            }
            ws.PartSums[part] = total;
        }, ct);
        double sum = 0;
        foreach (double x in ws.PartSums) sum += x;
        for (int w = 0; w < alpha.Length; w++) { double d = alpha[w] - Options.AbilityPriorMean; sum -= 0.5 * d * d; }
        return sum;
    }

    /// <summary>
    /// Maximises Q = Σ_i [c_i log σ(x_i) + (1 − c_i) log(1 − σ(x_i))] − ½Σ(α − μ_α)² − ½Σ(log β − μ_β)², x_i = α_w β_t,
    /// over α (concave: Newton steps are exact ascent directions) and log β (Newton where the curvature is negative,
    /// otherwise a bounded gradient step), alternating. Each half-sweep updates independent coordinates (every α_w
    /// from the current β, then every β_t from the new α), so it runs in parallel with the same result.
    /// </summary>
    private void MStep(LabelMatrix answers, double[] correct, double[] alpha, double[] logBeta, GladWorkspace ws,
        ComputeOptions? compute, CancellationToken ct)
    {
        double muAlpha = Options.AbilityPriorMean, muBeta = Options.LogInverseDifficultyPriorMean;
        var betas = ws.Beta;
        var moves = ws.PartMoves;
        int W = alpha.Length, T = logBeta.Length;
        // P(correct) in worker order, read in order by every α half-sweep of this M-step.
        Parallelism.For(answers.AnswerCount, answers.AnswerCount, compute, (start, end) =>
        {
            var wIds = answers.WorkerAnswerIds;
            for (int j = start; j < end; j++) ws.WorkerCorrect[j] = correct[wIds[j]];
        }, ct);
        for (int sweep = 0; sweep < Options.MStepIterations; sweep++)
        {
            Array.Clear(moves);
            // A maximum does not depend on the order it is taken in, so any partition gives the same result.
            Parallelism.ForParts(W, ws.WorkerParts, compute, (part, start, end) =>
            {
                var wOff = answers.WorkerOffsets;
                var wTasks = answers.WorkerTasks;
                double moved = 0;
                var sig = ws.Sigmoids;
                var bw = ws.WorkerBeta;
                var cw = ws.WorkerCorrect;
                for (int w = start; w < end; w++)
                {
                    double a = alpha[w], g = -(a - muAlpha), h = -1;
                    int first = wOff[w], last = wOff[w + 1];
                    // β of the worker's tasks gathered once per half-sweep (one random read per answer), then read in order.
                    for (int j = first; j < last; j++) { double b = betas[wTasks[j]]; bw[j] = b; sig[j] = a * b; }
                    VectorMath.Sigmoid(sig.AsSpan(first, last - first));
                    for (int j = first; j < last; j++)
                    {
                        double beta = bw[j], s = sig[j];
                        g += (cw[j] - s) * beta;
                        h -= s * (1 - s) * beta * beta;
                    }
                    double step = Math.Clamp(-g / h, -2, 2);
                    alpha[w] = a + step;
                    moved = Math.Max(moved, Math.Abs(step));
                }
                moves[part] = Math.Max(moves[part], moved);
            }, ct);
            Parallelism.ForParts(T, ws.Parts, compute, (part, start, end) =>
            {
                var tOff = answers.TaskOffsets;
                var tWorkers = answers.TaskWorkers;
                double moved = 0;
                var sig = ws.Sigmoids;
                int first = tOff[start], last = tOff[end];
                // σ(α β) of the part's answers in one vectorised sweep, then the per-task sums.
                for (int t = start; t < end; t++)
                    for (int i = tOff[t]; i < tOff[t + 1]; i++) sig[i] = alpha[tWorkers[i]] * betas[t];
                VectorMath.Sigmoid(sig.AsSpan(first, last - first));
                for (int t = start; t < end; t++)
                {
                    double beta = betas[t];
                    double g = -(logBeta[t] - muBeta), h = -1;
                    for (int i = tOff[t]; i < tOff[t + 1]; i++)
                    {
                        double x = alpha[tWorkers[i]] * beta, s = sig[i], r = correct[i] - s;
                        g += r * x;
                        h += r * x - s * (1 - s) * x * x;
                    }
                    double step = h < -1e-9 ? -g / h : 0.1 * g;
                    step = Math.Clamp(step, -1, 1);
                    // Keep β within e^±10: beyond that σ saturates and the likelihood carries no further information.
                    logBeta[t] = Math.Clamp(logBeta[t] + step, -10, 10);
                    betas[t] = Math.Exp(logBeta[t]);
                    moved = Math.Max(moved, Math.Abs(step));
                }
                moves[part] = Math.Max(moves[part], moved);
            }, ct);
            double most = 0;
            foreach (double m in moves) most = Math.Max(most, m);
            if (most < Options.MStepTolerance) break;
        }
    }

    /// <summary>Per-fit buffers: β = e^{log β} per task (kept in step with log β) and the parts' sums.</summary>
    private sealed class GladWorkspace
    {
        public GladWorkspace(LabelMatrix answers, double[] logBeta)
        {
            Beta = new double[logBeta.Length];
            for (int t = 0; t < Beta.Length; t++) Beta[t] = Math.Exp(logBeta[t]);
            // Fixed by the input size only, so the sums are added in the same order on every machine.
            Parts = Parallelism.ReductionParts(answers.TaskCount, answers.AnswerCount * (long)answers.ClassCount);
            WorkerParts = Parallelism.ReductionParts(answers.WorkerCount, answers.AnswerCount);
            PartSums = new double[Parts];
            PartMoves = new double[Math.Max(Parts, WorkerParts)];
            Sigmoids = new double[answers.AnswerCount];
            WorkerBeta = new double[answers.AnswerCount];
            WorkerCorrect = new double[answers.AnswerCount];
        }

        /// <summary>β of each answer's task, in worker order (refreshed by every α half-sweep).</summary>
        public double[] WorkerBeta { get; }
        /// <summary>P(answer correct), in worker order (refreshed by every M-step).</summary>
        public double[] WorkerCorrect { get; }

        /// <summary>σ(α β) per answer, in task order in the β half-sweep and in worker order in the α half-sweep.</summary>
        public double[] Sigmoids { get; }

        public double[] Beta { get; }
        public int Parts { get; }
        public int WorkerParts { get; }
        public double[] PartSums { get; }
        public double[] PartMoves { get; }
    }
}
