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
}

/// <summary>
/// MACE (Multi-Annotator Competence Estimation): for each answer the worker either knows and gives the true label
/// (probability θ_w) or spams, drawing a label from her own strategy ξ_w. Variational Bayes with a Beta prior on θ_w and
/// a Dirichlet prior on ξ_w (expectations of logs by digamma), uniform class prior, from several random starts.
/// D. Hovy, T. Berg-Kirkpatrick, A. Vaswani, E. Hovy, "Learning whom to trust with MACE", NAACL-HLT 2013, §2 (model)
/// and §2.1 (variational training). Worker skill = posterior mean of θ_w; WorkerParameters["spamming"] = 1 − skill.
/// </summary>
public sealed class Mace(MaceOptions? options = null) : IAggregator
{
    /// <summary>The options in use.</summary>
    public MaceOptions Options { get; } = options ?? new MaceOptions();

    /// <inheritdoc />
    public string Name => "mace";

    /// <inheritdoc />
    public AggregationResult Aggregate(LabelMatrix answers, IProgress<IterationProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        int k = answers.ClassCount, T = answers.TaskCount, W = answers.WorkerCount;
        var rng = new Random(Options.Seed);
        Fit? best = null;
        int restarts = Math.Max(1, Options.Restarts);
        for (int r = 0; r < restarts; r++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var fit = FitOnce(answers, rng, cancellationToken);
            if (best is null || fit.Objective > best.Objective) best = fit;
            progress?.Report(new IterationProgress(r + 1, restarts, fit.Objective));
        }
        var skill = new double[W];
        var spamming = new double[W];
        for (int w = 0; w < W; w++)
        {
            skill[w] = best!.A[w] / (best.A[w] + best.B[w]);
            spamming[w] = 1 - skill[w];
        }
        return new AggregationResult
        {
            Method = Name,
            Answers = answers,
            Posteriors = new RowMatrix(T, k, best!.Posteriors),
            Labels = AggregationResult.Wrap(Numerics.ArgMaxRows(best.Posteriors, T, k)),
            WorkerSkills = AggregationResult.Wrap(skill),
            Iterations = best.Iterations,
            Converged = best.Converged,
            LogLikelihoods = AggregationResult.Wrap(best.Trace),
            WorkerParameters = System.Collections.Immutable.ImmutableDictionary<string, System.Collections.Immutable.ImmutableArray<double>>.Empty
                .Add("spamming", AggregationResult.Wrap(spamming)),
        };
    }

    private sealed record Fit(double[] Posteriors, double[] A, double[] B, double Objective, int Iterations, bool Converged, double[] Trace);

    private Fit FitOnce(LabelMatrix answers, Random rng, CancellationToken ct)
    {
        int k = answers.ClassCount, T = answers.TaskCount, W = answers.WorkerCount;
        // Variational parameters: Beta(A, B) over θ_w and Dirichlet(Xi) over ξ_w. Random start: competences drawn at
        // random (as in MACE); strategies start uniform rather than random, so that renaming the classes renames the
        // result instead of changing which local optimum a restart falls into.
        var a = new double[W]; var b = new double[W];
        var xi = new double[W * k];
        for (int w = 0; w < W; w++)
        {
            double theta = 0.5 + 0.5 * rng.NextDouble();
            a[w] = Options.CompetencePriorA + 2 * theta;
            b[w] = Options.CompetencePriorB + 2 * (1 - theta);
            for (int c = 0; c < k; c++) xi[w * k + c] = Options.StrategyPrior + 1;
        }
        var logTheta = new double[W]; var logSpam = new double[W]; var logXi = new double[W * k];
        var post = new double[T * k];
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
        return new Fit(post, a, b, trace[^1], it, converged, trace.ToArray());
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
