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
            var fit = FitOnce(answers, a, b, xi, cancellationToken);
            if (best is null || fit.Objective > best.Objective) best = fit;
            progress?.Report(new IterationProgress(r + 1, restarts, fit.Objective));
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
        var fit = FitOnce(answers, a, b, xi, cancellationToken);
        progress?.Report(new IterationProgress(1, 1, fit.Objective));
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

    /// <summary>Variational Bayes from the given Beta(a, b) and Dirichlet(xi) parameters (overwritten).</summary>
    private Fit FitOnce(LabelMatrix answers, double[] a, double[] b, double[] xi, CancellationToken ct)
    {
        int k = answers.ClassCount, T = answers.TaskCount, W = answers.WorkerCount;
        var logTheta = new double[W]; var logSpam = new double[W]; var logXi = new double[MemoryBudget.Length(W, k)];
        var post = new double[MemoryBudget.Length(T, k)];
        var trace = new List<double>();
        double previous = double.NegativeInfinity;
        bool converged = false;
        int it = 0;
        // At least one E-step: the posteriors come from it.
        while (it < Math.Max(1, Options.MaxIterations))
        {
            ct.ThrowIfCancellationRequested();
            // Expected logs under the current variational posteriors (the VB "geometric mean" parameters).
            for (int w = 0; w < W; w++)
            {
                double dAll = SpecialFunctions.DiGamma(a[w] + b[w]);
                logTheta[w] = SpecialFunctions.DiGamma(a[w]) - dAll;
                logSpam[w] = SpecialFunctions.DiGamma(b[w]) - dAll;
                double sum = 0;
                for (int c = 0; c < k; c++) sum += xi[w * k + c];
                double dSum = SpecialFunctions.DiGamma(sum);
                for (int c = 0; c < k; c++) logXi[w * k + c] = SpecialFunctions.DiGamma(xi[w * k + c]) - dSum;
            }
            double objective = EStep(answers, logTheta, logSpam, logXi, post) / Math.Max(1, answers.AnswerCount);
            // M-step: expected counts of knowing vs spamming answers and of spam labels, plus the priors.
            for (int w = 0; w < W; w++) { a[w] = Options.CompetencePriorA; b[w] = Options.CompetencePriorB; }
            for (int i = 0; i < xi.Length; i++) xi[i] = Options.StrategyPrior;
            var off = answers.TaskOffsets;
            var workers = answers.TaskWorkers;
            var labels = answers.TaskLabels;
            for (int t = 0; t < T; t++)
            {
                for (int i = off[t]; i < off[t + 1]; i++)
                {
                    int w = workers[i], l = labels[i];
                    double spam = Math.Exp(logSpam[w] + logXi[w * k + l]);
                    double know = Math.Exp(logTheta[w]);
                    // P(spam | answer, truth = c): 1 when c ≠ l; spam / (spam + know) when c = l.
                    double pTrue = post[t * k + l];
                    double pKnow = pTrue * know / (know + spam);
                    a[w] += pKnow;
                    b[w] += 1 - pKnow;
                    xi[w * k + l] += 1 - pKnow;
                }
            }
            it++;
            trace.Add(objective);
            if (Options.Tolerance > 0 && Math.Abs(objective - previous) < Options.Tolerance) { converged = true; break; }
            previous = objective;
        }
        return new Fit(post, a, b, xi, trace[^1], it, converged, trace.ToArray());
    }

    /// <summary>q(truth of t = c) ∝ Π_answers [1[l = c]·exp E log θ + exp E log(1−θ) · exp E log ξ(l)], uniform prior.</summary>
    private static double EStep(LabelMatrix answers, double[] logTheta, double[] logSpam, double[] logXi, double[] post)
    {
        int k = answers.ClassCount;
        var off = answers.TaskOffsets;
        var workers = answers.TaskWorkers;
        var labels = answers.TaskLabels;
        var gold = answers.Gold;
        double total = 0;
        for (int t = 0; t < answers.TaskCount; t++)
        {
            var row = post.AsSpan(t * k, k);
            row.Fill(-Math.Log(k));
            for (int i = off[t]; i < off[t + 1]; i++)
            {
                int w = workers[i], l = labels[i];
                double spam = logSpam[w] + logXi[w * k + l];
                double match = LogAddExp(logTheta[w], spam);
                for (int c = 0; c < k; c++) row[c] += c == l ? match : spam;
            }
            total += Numerics.NormalizeLog(row);
            if (gold is not null && gold[t] >= 0) { row.Clear(); row[gold[t]] = 1; }
        }
        return total;
    }

    private static double LogAddExp(double x, double y)
    {
        double m = Math.Max(x, y);
        return m + Math.Log(Math.Exp(x - m) + Math.Exp(y - m));
    }
}
