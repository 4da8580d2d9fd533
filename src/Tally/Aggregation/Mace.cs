using MathNet.Numerics;
using Tally.Core;

namespace Tally.Aggregation;

/// <summary>Options of <see cref="Mace"/>.</summary>
public sealed record MaceOptions : IterativeOptions
{
    /// <summary>Defaults: 50 iterations per restart, tolerance 1e-5 (MACE's and Crowd-Kit's defaults).</summary>
    public MaceOptions() { MaxIterations = 50; Tolerance = 1e-5; }
    /// <summary>Random restarts; the one whose final objective (log-likelihood of the answers under the expected-log parameters) is highest wins (MACE: 10).</summary>
    public int Restarts { get; init; } = 10;
    /// <summary>Beta(a, b) prior on each worker's competence θ (probability of not spamming); MACE's VB default a = b = 0.5.</summary>
    public double CompetencePriorA { get; init; } = 0.5;
    /// <inheritdoc cref="CompetencePriorA"/>
    public double CompetencePriorB { get; init; } = 0.5;
    /// <summary>Symmetric Dirichlet prior on each worker's spamming strategy ξ (MACE's smoothing); default 0.5.</summary>
    public double StrategyPrior { get; init; } = 0.5;

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        Check.AtLeast(Restarts, 1, nameof(Restarts));
        Check.Above(CompetencePriorA, 0, nameof(CompetencePriorA));
        Check.Above(CompetencePriorB, 0, nameof(CompetencePriorB));
        Check.Above(StrategyPrior, 0, nameof(StrategyPrior));
    }
}

/// <summary>
/// MACE (Multi-Annotator Competence Estimation): for each answer the worker either knows and gives the true label
/// (probability θ_w) or spams, drawing a label from her own strategy ξ_w. Variational Bayes with a Beta prior on θ_w and
/// a Dirichlet prior on ξ_w (expectations of logs by digamma), uniform class prior, from several random starts.
/// D. Hovy, T. Berg-Kirkpatrick, A. Vaswani, E. Hovy, "Learning whom to trust with MACE", NAACL-HLT 2013, §2 (model)
/// and §2.1 (variational training). Worker skill = posterior mean of θ_w; WorkerParameters["spamming"] = 1 − skill.
/// Fitted model: confusions P(l | j) = θ_w·1[l = j] + (1 − θ_w)·ξ_w(l) at the posterior means; <see cref="Refine"/>
/// runs one restart from them, with as many pseudo-answers as each worker gave.
/// </summary>
public sealed class Mace(MaceOptions? options = null) : IAggregator
{
    /// <summary>The options in use.</summary>
    public MaceOptions Options { get; } = options ?? new MaceOptions();

    /// <inheritdoc />
    public string Name => "mace";

    /// <inheritdoc />
    public AggregationResult Aggregate(LabelMatrix answers, ComputeOptions? compute = null, IProgress<IterationProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        Options.Validate();
        // The fit itself is O(W·K + T·K); the model's confusion matrices are the one W·K² array.
        Footprints.Require(Name, answers, compute, confusions: 1, posteriors: 3);
        int k = answers.ClassCount, W = answers.WorkerCount;
        var rng = Seeding.Random(Options.Seed);
        Fit? best = null;
        var ws = new MaceWorkspace(answers);
        double[]? spare = null;
        int restarts = Options.Restarts;
        for (int r = 0; r < restarts; r++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            // Variational parameters: Beta(A, B) over θ_w and Dirichlet(Xi) over ξ_w. Random start: competences drawn
            // at random (as in MACE); strategies start uniform rather than random, so that renaming the classes renames
            // the result instead of changing which local optimum a restart falls into.
            var a = new double[W]; var b = new double[W];
            var xi = new double[MemoryBudget.Length(W, k)];
            for (int w = 0; w < W; w++)
            {
                double theta = 0.5 + 0.5 * rng.NextDouble();
                a[w] = Options.CompetencePriorA + 2 * theta;
                b[w] = Options.CompetencePriorB + 2 * (1 - theta);
                for (int c = 0; c < k; c++) xi[w * k + c] = Options.StrategyPrior + 1;
            }
            // Progress counts iterations over all restarts (a restart that converges early skips the rest of its share).
            int done = r * Math.Max(1, Options.MaxIterations), all = restarts * Math.Max(1, Options.MaxIterations);
            // Two posterior buffers serve all restarts: the best fit's and the one being run.
            var fit = FitOnce(answers, a, b, xi, ws, compute, cancellationToken,
                progress is null ? null : (i, objective) => progress.Report(new IterationProgress(done + i, all, objective)), spare);
            if (best is null || fit.Objective > best.Objective) { spare = best?.Posteriors; best = fit; }
            else spare = fit.Posteriors;
        }
        return Result(answers, best!);
    }

    /// <inheritdoc />
    public bool SupportsWarmStart => true;

    /// <summary>One variational run from <paramref name="start"/>'s competences and strategies (unseen workers: the usual uniform start).</summary>
    public AggregationResult Refine(AggregationModel start, LabelMatrix answers, ComputeOptions? compute = null,
        IProgress<IterationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        Options.Validate();
        AggregationModel.CheckStart(start, Name, answers);
        Footprints.Require(Name, answers, compute, confusions: 1, posteriors: 3);
        int k = answers.ClassCount, W = answers.WorkerCount;
        var map = start.MapWorkers(answers, out _);
        var a = new double[W]; var b = new double[W];
        var xi = new double[MemoryBudget.Length(W, k)];
        for (int w = 0; w < W; w++)
        {
            int m = map[w];
            double theta = m >= 0 ? start.Skills[m] : 0.75, weight = m >= 0 ? Math.Max(2, start.AnswerCounts[m]) : 2;
            a[w] = Options.CompetencePriorA + weight * theta;
            b[w] = Options.CompetencePriorB + weight * (1 - theta);
            for (int l = 0; l < k; l++)
            {
                // ξ(l) from an off-diagonal entry: P(l | j ≠ l) = (1 − θ)·ξ(l).
                double share = m >= 0 && k > 1 && theta < 1 ? start.Confusions[(m * k + (l + 1) % k) * k + l] / (1 - theta) : 1.0 / k;
                xi[w * k + l] = Options.StrategyPrior + weight * (1 - theta) * share + (m >= 0 ? 0 : 1);
            }
        }
        var fit = FitOnce(answers, a, b, xi, new MaceWorkspace(answers), compute, cancellationToken,
            progress is null ? null : (i, objective) => progress.Report(new IterationProgress(i, Math.Max(1, Options.MaxIterations), objective)));
        return Result(answers, fit);
    }

    private AggregationResult Result(LabelMatrix answers, Fit best)
    {
        int k = answers.ClassCount, W = answers.WorkerCount;
        var skill = new double[W];
        var spamming = new double[W];
        var conf = new double[MemoryBudget.Length(W, k, k)];
        for (int w = 0; w < W; w++)
        {
            skill[w] = best.A[w] / (best.A[w] + best.B[w]);
            spamming[w] = 1 - skill[w];
            double xiSum = 0;
            for (int l = 0; l < k; l++) xiSum += best.Xi[w * k + l];
            for (int j = 0; j < k; j++)
                for (int l = 0; l < k; l++)
                    conf[(w * k + j) * k + l] = (l == j ? skill[w] : 0) + spamming[w] * best.Xi[w * k + l] / xiSum;
        }
        var model = AggregationModel.ForConfusions(Name, Options, answers, conf, null, skill);
        return AggregationResult.Create(Name, answers, best.Posteriors, skill, model) with
        {
            Iterations = best.Iterations,
            Converged = best.Converged,
            LogLikelihoods = AggregationResult.Wrap(best.Trace),
            WorkerParameters = System.Collections.Immutable.ImmutableDictionary<string, System.Collections.Immutable.ImmutableArray<double>>.Empty
                .Add("spamming", AggregationResult.Wrap(spamming)),
        };
    }

    private sealed record Fit(double[] Posteriors, double[] A, double[] B, double[] Xi, double Objective, int Iterations, bool Converged, double[] Trace);

    /// <summary>
    /// Variational Bayes from the given Beta(a, b) and Dirichlet(xi) parameters (overwritten). Each iteration is one
    /// fused pass over the tasks (<see cref="FusedStep"/>): the E-step of a task, then its answers' expected
    /// "knowing" counts for the next M-step, from per-worker tables that hold every transcendental function.
    /// </summary>
    private Fit FitOnce(LabelMatrix answers, double[] a, double[] b, double[] xi, MaceWorkspace ws, ComputeOptions? compute, CancellationToken ct,
        Action<int, double>? onIteration, double[]? posteriors = null)
    {
        int k = answers.ClassCount, T = answers.TaskCount, W = answers.WorkerCount;
        var post = posteriors ?? new double[MemoryBudget.Length(T, k)];
        var trace = new List<double>();
        double previous = double.NegativeInfinity;
        bool converged = false;
        int it = 0;
        // At least one E-step: the posteriors come from it.
        while (it < Math.Max(1, Options.MaxIterations))
        {
            ct.ThrowIfCancellationRequested();
            // Expected logs under the current variational posteriors (the VB "geometric mean" parameters), turned
            // into the per-(worker, label) terms of the E-step and of the M-step's responsibilities.
            for (int w = 0; w < W; w++)
            {
                double dAll = SpecialFunctions.DiGamma(a[w] + b[w]);
                double logTheta = SpecialFunctions.DiGamma(a[w]) - dAll;
                double logSpam = SpecialFunctions.DiGamma(b[w]) - dAll;
                double sum = 0;
                for (int c = 0; c < k; c++) sum += xi[w * k + c];
                double dSum = SpecialFunctions.DiGamma(sum);
                for (int c = 0; c < k; c++)
                {
                    // spam = E log[(1 − θ) ξ(l)]: the answer's term for every class but l; l gets log(e^E log θ + e^spam).
                    double spam = logSpam + SpecialFunctions.DiGamma(xi[w * k + c]) - dSum;
                    double match = LogAddExp(logTheta, spam);
                    ws.Spam[w * k + c] = spam;
                    ws.Bonus[w * k + c] = match - spam;
                    // P(knowing | answer l, truth l) = know / (know + spam).
                    ws.KnowShare[w * k + c] = Math.Exp(logTheta - match);
                }
            }
            double objective = FusedStep(answers, ws, post, compute, ct) / Math.Max(1, answers.AnswerCount);
            // M-step: expected counts of knowing vs spamming answers and of spam labels, plus the priors.
            for (int w = 0; w < W; w++)
            {
                double know = 0;
                for (int c = 0; c < k; c++)
                {
                    double s = ws.Know[w * k + c];
                    know += s;
                    xi[w * k + c] = Options.StrategyPrior + (ws.LabelCounts[w * k + c] - s);
                }
                a[w] = Options.CompetencePriorA + know;
                b[w] = Options.CompetencePriorB + (answers.WorkerDegree(w) - know);
            }
            it++;
            trace.Add(objective);
            onIteration?.Invoke(it, objective);
            if (Options.Tolerance > 0 && Math.Abs(objective - previous) < Options.Tolerance) { converged = true; break; }
            previous = objective;
        }
        return new Fit(post, a, b, xi, trace[^1], it, converged, trace.ToArray());
    }

    /// <summary>
    /// E-step, q(truth of t = c) ∝ Π_answers [1[l = c]·exp E log θ + exp E log(1−θ) · exp E log ξ(l)] (uniform
    /// prior), fused with the M-step's sums Know[w, l] = Σ over w's answers l of q(truth = l)·P(knowing | l, truth l).
    /// Parallel over fixed parts of the tasks, each with its own Know block, summed in part order. Returns the
    /// log-likelihood under the expected-log parameters.
    /// </summary>
    private static double FusedStep(LabelMatrix answers, MaceWorkspace ws, double[] post, ComputeOptions? compute, CancellationToken ct)
    {
        int k = answers.ClassCount;
        Parallelism.ForParts(answers.TaskCount, ws.Parts, compute, (part, start, end) =>
        {
            var off = answers.TaskOffsets;
            var workers = answers.TaskWorkers;
            var labels = answers.TaskLabels;
            var gold = answers.Gold;
            var spamT = ws.Spam; var bonusT = ws.Bonus; var shareT = ws.KnowShare;
            var know = ws.PartKnow[part];
            Array.Clear(know);
            double logUniform = -Math.Log(k), total = 0;
            Span<double> scratch = stackalloc double[2 * Block];
            for (int t0 = start; t0 < end; t0 += Block)
            {
                int t1 = Math.Min(end, t0 + Block);
                // A block of rows is built in place in the posteriors and normalised at once (vectorised exp and log).
                for (int t = t0; t < t1; t++)
                {
                    var row = post.AsSpan(t * k, k);
                    int e = off[t + 1];
                    // Every class gets each answer's spam term; the answer's own class gets the difference on top, so
                    // an answer costs O(1) instead of O(K).
                    double all = logUniform;
                    for (int i = off[t]; i < e; i++) all += spamT[workers[i] * k + labels[i]];
                    row.Fill(all);
                    for (int i = off[t]; i < e; i++) row[labels[i]] += bonusT[workers[i] * k + labels[i]];
                }
                total += Numerics.NormalizeLogRows(post.AsSpan(t0 * k, (t1 - t0) * k), k, scratch);
                for (int t = t0; t < t1; t++)
                {
                    var row = post.AsSpan(t * k, k);
                    if (gold is not null && gold[t] >= 0) { row.Clear(); row[gold[t]] = 1; }
                    for (int i = off[t]; i < off[t + 1]; i++)
                    {
                        int j = workers[i] * k + labels[i];
                        know[j] += row[labels[i]] * shareT[j];
                    }
                }
            }
            ws.PartObjective[part] = total;
        }, ct);
        Array.Clear(ws.Know);
        double sum = 0;
        for (int p = 0; p < ws.Parts; p++)
        {
            var know = ws.PartKnow[p];
            for (int j = 0; j < know.Length; j++) ws.Know[j] += know[j];
            sum += ws.PartObjective[p];
        }
        return sum;
    }

    /// <summary>Tasks whose posteriors are normalised together (vectorised exp and log over Block × K values).</summary>
    private const int Block = 256;

    /// <summary>Per-fit buffers of <see cref="FusedStep"/>, allocated once for all restarts and iterations.</summary>
    private sealed class MaceWorkspace
    {
        public MaceWorkspace(LabelMatrix answers)
        {
            int k = answers.ClassCount, size = MemoryBudget.Length(answers.WorkerCount, k);
            Spam = new double[size]; Bonus = new double[size]; KnowShare = new double[size]; Know = new double[size];
            LabelCounts = new double[size];
            var workers = answers.TaskWorkers;
            var labels = answers.TaskLabels;
            for (int i = 0; i < workers.Length; i++) LabelCounts[workers[i] * k + labels[i]]++;
            // The partition depends on the input only, so the sums are the same on every machine.
            Parts = Parallelism.ReductionParts(answers.TaskCount, answers.AnswerCount * (long)k, size);
            PartKnow = new double[Parts][];
            for (int p = 0; p < Parts; p++) PartKnow[p] = new double[size];
            PartObjective = new double[Parts];
        }

        public int Parts { get; }
        public double[] Spam { get; }
        public double[] Bonus { get; }
        public double[] KnowShare { get; }
        public double[] Know { get; }
        public double[] LabelCounts { get; }
        public double[][] PartKnow { get; }
        public double[] PartObjective { get; }
    }

    private static double LogAddExp(double x, double y)
    {
        double m = Math.Max(x, y);
        return m + Math.Log(Math.Exp(x - m) + Math.Exp(y - m));
    }
}
