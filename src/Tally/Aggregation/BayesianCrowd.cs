using System.Collections.Immutable;
using MathNet.Numerics;
using Tally.Core;

namespace Tally.Aggregation;

/// <summary>Pieces shared by the Bayesian worker-prior methods (<see cref="MeanField"/>, <see cref="BeliefPropagation"/>).</summary>
internal static class BayesianCrowd
{
    /// <summary>
    /// Checks a per-task log prior (T×K row-major, each row up to a constant, −∞ allowed where a class is impossible)
    /// and returns it normalised per row (log-softmax) in a fresh array; all zeros (uniform) when null.
    /// </summary>
    public static double[] TaskLogPrior(LabelMatrix answers, double[]? taskLogPrior)
    {
        int k = answers.ClassCount, T = answers.TaskCount;
        var result = new double[MemoryBudget.Length(T, k)];
        if (taskLogPrior is null) return result;
        if (taskLogPrior.Length != result.Length)
            throw new ArgumentException($"The task log prior must have T×K = {result.Length} entries, not {taskLogPrior.Length}.", nameof(taskLogPrior));
        for (int t = 0; t < T; t++)
        {
            var src = taskLogPrior.AsSpan(t * k, k);
            double max = double.NegativeInfinity;
            foreach (var x in src)
            {
                if (double.IsNaN(x) || double.IsPositiveInfinity(x))
                    throw new ArgumentException($"The task log prior of task {t} contains {x}.", nameof(taskLogPrior));
                max = Math.Max(max, x);
            }
            if (double.IsNegativeInfinity(max))
                throw new ArgumentException($"The task log prior of task {t} rules out every class.", nameof(taskLogPrior));
            double sum = 0;
            foreach (var x in src) sum += Math.Exp(x - max);
            double shift = max + Math.Log(sum);
            for (int c = 0; c < k; c++) result[t * k + c] = src[c] - shift;
        }
        return result;
    }

    /// <summary>The result for K = 1, where every task is certainly of the only class and every answer is right.</summary>
    public static AggregationResult Trivial(string method, object options, LabelMatrix answers)
    {
        int T = answers.TaskCount, W = answers.WorkerCount;
        var post = new double[T];
        post.AsSpan().Fill(1);
        var skills = new double[W];
        skills.AsSpan().Fill(1);
        var conf = new double[W];
        conf.AsSpan().Fill(1);
        var model = AggregationModel.ForConfusions(method, options, answers, (double[])conf.Clone(), null, skills);
        return AggregationResult.Create(method, answers, post, skills, model) with
        {
            Confusions = new ConfusionMatrices(W, 1, conf),
            Iterations = 0,
            Converged = true,
            LogLikelihoods = ImmutableArray<double>.Empty,
        };
    }

    /// <summary>
    /// The mean-field evidence lower bound on log p(answers | model) at task posteriors <paramref name="q"/> (T×K), with
    /// the workers' confusions and (for <paramref name="learnedClassPrior"/>) κ ~ Dir(a, …, a) integrated out: for any q,
    /// with each q(θ_u) and q(κ) at their optimum given q, the bound collapses to
    /// Σ_u [log B(α + N_u) − log B(α)] + [log B(a + Σ_i q_i) − log B(a)] + Σ_i H(q_i), N_u the worker's expected
    /// confusion counts (paper 003, eq. (15); the κ term as in Kim &amp; Ghahramani's BCC); with κ held uniform the κ
    /// term is −T log K instead. Gold tasks enter with their gold class (no entropy). It is the bound mean field
    /// climbs; <see cref="ClassPriorMode.Auto"/> compares the two models by the tighter <see cref="CollapsedBound"/>
    /// instead. Total, not per answer. Sums run in a fixed order.
    /// </summary>
    public static double EvidenceBound(LabelMatrix answers, WorkerPrior prior, ReadOnlySpan<double> q, bool learnedClassPrior, double concentration)
    {
        int k = answers.ClassCount, T = answers.TaskCount, W = answers.WorkerCount, kk = k * k;
        if (k == 1) return 0;
        var alpha = prior.Alpha(k);
        bool oneCoin = prior.Kind == WorkerPriorKind.OneCoin;
        double logKm1 = Math.Log(k - 1);
        double priorLogB = 0;
        if (oneCoin) priorLogB = SpecialFunctions.BetaLn(prior.A, prior.B);
        else for (int r = 0; r < k; r++) priorLogB += MeanField.DirichletLogB(alpha.AsSpan(r * k, k));
        var gold = answers.Gold;
        var off = answers.WorkerOffsets;
        var tasks = answers.WorkerTasks;
        var labels = answers.WorkerLabels;
        var b = new double[kk];
        Span<double> one = stackalloc double[k];
        double total = 0;
        for (int w = 0; w < W; w++)
        {
            alpha.AsSpan().CopyTo(b);
            for (int i = off[w]; i < off[w + 1]; i++)
            {
                var row = TaskRow(q, gold is not null && gold[tasks[i]] >= 0 ? gold[tasks[i]] : -1, tasks[i], k, one);
                for (int c = 0; c < k; c++) b[c * k + labels[i]] += row[c];
            }
            if (oneCoin)
            {
                // Tied rows: one Beta over the accuracy; the uniform split of errors costs log(K − 1) per wrong answer.
                double right = prior.A, wrong = prior.B;
                for (int c = 0; c < k; c++)
                    for (int l = 0; l < k; l++) { double x = b[c * k + l] - alpha[c * k + l]; if (c == l) right += x; else wrong += x; }
                total += SpecialFunctions.BetaLn(right, wrong) - priorLogB - (wrong - prior.B) * logKm1;
            }
            else
            {
                total -= priorLogB;
                for (int c = 0; c < k; c++) total += MeanField.DirichletLogB(b.AsSpan(c * k, k));
            }
        }
        var classTotals = new double[k];
        for (int t = 0; t < T; t++)
        {
            var row = TaskRow(q, gold is not null && gold[t] >= 0 ? gold[t] : -1, t, k, one);
            for (int c = 0; c < k; c++)
            {
                classTotals[c] += row[c];
                if (row[c] > 0) total -= row[c] * Math.Log(row[c]);
            }
        }
        if (learnedClassPrior)
        {
            var a = new double[k];
            Array.Fill(a, concentration);
            double before = MeanField.DirichletLogB(a);
            for (int c = 0; c < k; c++) a[c] += classTotals[c];
            total += MeanField.DirichletLogB(a) - before;
        }
        else total -= T * Math.Log(k);
        return total;
    }

    /// <summary>Task <paramref name="t"/>'s posterior row, or (<paramref name="goldClass"/> ≥ 0) its gold class one-hot in <paramref name="scratch"/>.</summary>
    private static ReadOnlySpan<double> TaskRow(ReadOnlySpan<double> q, int goldClass, int t, int k, Span<double> scratch)
    {
        if (goldClass < 0) return q.Slice(t * k, k);
        scratch.Clear();
        scratch[goldClass] = 1;
        return scratch;
    }

    /// <summary>
    /// The collapsed variational bound on log p(answers | model) at task posteriors <paramref name="q"/> (T×K):
    /// E_q[log p(answers, z)] + H(q), with the workers' confusions and (for <paramref name="learnedClassPrior"/>)
    /// κ ~ Dir(a, …, a) integrated out exactly inside the expectation, rather than replaced by a factorised q(θ), q(κ)
    /// as in <see cref="EvidenceBound"/>. Y. W. Teh, D. Newman and M. Welling, "A Collapsed Variational Bayesian
    /// Inference Algorithm for Latent Dirichlet Allocation", NIPS 2006, Section 3: it is a lower bound on the log
    /// evidence for any factorised q(z), and never below the mean-field bound (log B is convex, so
    /// E[log B(α + N)] ≥ log B(α + E[N]), the mean-field term). The expectation of each log B over the counts N
    /// (sums of independent per-task indicators) is taken to second order, as in Teh et al.'s Gaussian approximation:
    /// log B(α + E N) + ½ Σ_l ψ′(α_l + E N_l) Var N_l − ½ ψ′(Σ_l α_l + E N_l) Var Σ_l N_l, each Var a sum of q(1 − q).
    /// Why it and not the mean-field bound for <see cref="ClassPriorMode.Auto"/>: the mean-field bound loses the
    /// coupling between a worker's confusions and her tasks' labels, which costs most where q is uncertain; a fit that
    /// puts every task in one class (κ → 0 for the other, the workers at chance) has certain q, loses nothing, and on
    /// sparse crowds (3 answers per task, 4 per worker) out-scored the right fit by 60–90 nats under the mean-field
    /// bound but lost by 5–30 under this one (a Monte-Carlo estimate of the exact expectation agrees to within 3 nats;
    /// docs/aggregation.md, section 3). Gold tasks enter with their gold class. Total, not per answer; fixed summation order.
    /// </summary>
    public static double CollapsedBound(LabelMatrix answers, WorkerPrior prior, ReadOnlySpan<double> q, bool learnedClassPrior, double concentration)
    {
        int k = answers.ClassCount, T = answers.TaskCount, W = answers.WorkerCount, kk = k * k;
        if (k == 1) return 0;
        var alpha = prior.Alpha(k);
        bool oneCoin = prior.Kind == WorkerPriorKind.OneCoin;
        double logKm1 = Math.Log(k - 1);
        double priorLogB = 0;
        if (oneCoin) priorLogB = SpecialFunctions.BetaLn(prior.A, prior.B);
        else for (int r = 0; r < k; r++) priorLogB += MeanField.DirichletLogB(alpha.AsSpan(r * k, k));
        var gold = answers.Gold;
        var off = answers.WorkerOffsets;
        var tasks = answers.WorkerTasks;
        var labels = answers.WorkerLabels;
        var b = new double[kk];
        var v = new double[kk];   // Var of each count: Σ q(1 − q) over the answers it sums
        Span<double> one = stackalloc double[k];
        double total = 0;
        for (int w = 0; w < W; w++)
        {
            if (oneCoin)
            {
                // Tied rows: the count of right answers c is what matters; Beta(a + c, b + n − c), (K − 1)^−(n − c).
                double right = 0, var = 0, n = off[w + 1] - off[w];
                for (int i = off[w]; i < off[w + 1]; i++)
                {
                    double p = TaskRow(q, gold is not null && gold[tasks[i]] >= 0 ? gold[tasks[i]] : -1, tasks[i], k, one)[labels[i]];
                    right += p;
                    var += p * (1 - p);
                }
                double wrong = n - right;
                total += SpecialFunctions.BetaLn(prior.A + right, prior.B + wrong) - priorLogB - wrong * logKm1
                    + 0.5 * var * (Trigamma(prior.A + right) + Trigamma(prior.B + wrong));
            }
            else
            {
                alpha.AsSpan().CopyTo(b);
                Array.Clear(v);
                for (int i = off[w]; i < off[w + 1]; i++)
                {
                    var row = TaskRow(q, gold is not null && gold[tasks[i]] >= 0 ? gold[tasks[i]] : -1, tasks[i], k, one);
                    for (int c = 0; c < k; c++) { b[c * k + labels[i]] += row[c]; v[c * k + labels[i]] += row[c] * (1 - row[c]); }
                }
                total -= priorLogB;
                for (int c = 0; c < k; c++) total += MeanField.DirichletLogB(b.AsSpan(c * k, k)) + SecondOrder(b.AsSpan(c * k, k), v.AsSpan(c * k, k));
            }
        }
        var classTotals = new double[k];
        var classVar = new double[k];
        for (int t = 0; t < T; t++)
        {
            var row = TaskRow(q, gold is not null && gold[t] >= 0 ? gold[t] : -1, t, k, one);
            for (int c = 0; c < k; c++)
            {
                classTotals[c] += row[c];
                classVar[c] += row[c] * (1 - row[c]);
                if (row[c] > 0) total -= row[c] * Math.Log(row[c]);
            }
        }
        if (learnedClassPrior)
        {
            var a = new double[k];
            Array.Fill(a, concentration);
            double before = MeanField.DirichletLogB(a);
            for (int c = 0; c < k; c++) a[c] += classTotals[c];
            // Σ_c N_c = T is fixed, so only the per-class variances enter.
            double second = 0;
            for (int c = 0; c < k; c++) second += 0.5 * Trigamma(a[c]) * classVar[c];
            total += MeanField.DirichletLogB(a) - before + second;
        }
        else total -= T * Math.Log(k);
        return total;
    }

    /// <summary>
    /// ½ Σ_l ψ′(x_l) v_l − ½ ψ′(Σ x) Σ v_l: the second-order term of E[log B(x + δ)] for independent zero-mean δ_l of
    /// variance v_l (the Hessian of log B is diag ψ′(x_l) − ψ′(Σ x)). Never negative: ψ′ decreases and x_l ≤ Σ x.
    /// </summary>
    private static double SecondOrder(ReadOnlySpan<double> x, ReadOnlySpan<double> v)
    {
        double sum = 0, vs = 0, r = 0;
        for (int l = 0; l < x.Length; l++) { sum += x[l]; vs += v[l]; r += Trigamma(x[l]) * v[l]; }
        return 0.5 * (r - Trigamma(sum) * vs);
    }

    /// <summary>
    /// The trigamma function ψ′(x) for x &gt; 0: the recurrence ψ′(x) = ψ′(x + 1) + 1/x² up to x ≥ 10, then the
    /// asymptotic series 1/x + 1/(2x²) + 1/(6x³) − 1/(30x⁵) + 1/(42x⁷) − 1/(30x⁹) (error below 1e-12 there).
    /// </summary>
    internal static double Trigamma(double x)
    {
        double r = 0;
        while (x < 10) { r += 1 / (x * x); x += 1; }
        double x2 = 1 / (x * x);
        return r + 1 / x + x2 / 2 + x2 / x * (1.0 / 6 - x2 * (1.0 / 30 - x2 * (1.0 / 42 - x2 / 30)));
    }

    /// <summary>
    /// <see cref="ClassPriorMode.Auto"/>: of a fit with κ uniform and one with κ learned (the same method, start and
    /// worker prior), the one whose model has the higher <see cref="CollapsedBound"/> at its own posteriors. Ties keep
    /// the uniform model, the simpler one. The two bounds are computed at once when <paramref name="compute"/> allows
    /// two threads (each on its own, so the values do not depend on it): at 10M answers each is a second of gathers.
    /// </summary>
    public static AggregationResult ChooseByEvidence(LabelMatrix answers, WorkerPrior prior, double concentration,
        AggregationResult uniform, AggregationResult learned, ComputeOptions? compute = null)
    {
        double u = 0, l = 0;
        Action first = () => u = CollapsedBound(answers, prior, uniform.Posteriors.Values, false, concentration);
        Action second = () => l = CollapsedBound(answers, prior, learned.Posteriors.Values, true, concentration);
        if ((compute ?? ComputeOptions.Default).Threads > 1 && (long)answers.AnswerCount * answers.ClassCount >= Parallelism.MinParallelWork)
            Parallel.Invoke(first, second);
        else { first(); second(); }
        return l > u ? learned : uniform;
    }

    /// <summary>log(e^x + e^y) without overflow; −∞ when both are −∞.</summary>
    public static double LogAddExp(double x, double y)
    {
        if (x < y) (x, y) = (y, x);
        if (double.IsNegativeInfinity(y)) return x;
        return x + Math.Log(1 + Math.Exp(y - x));
    }
}
