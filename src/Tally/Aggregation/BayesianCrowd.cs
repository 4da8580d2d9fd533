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
    /// term is −T log K instead. Gold tasks enter with their gold class (no entropy). Used by
    /// <see cref="ClassPriorMode.Auto"/> to compare the two models; total, not per answer. Sums run in a fixed order.
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
    /// <see cref="ClassPriorMode.Auto"/>: of a fit with κ uniform and one with κ learned (the same method, start and
    /// worker prior), the one whose model has the higher <see cref="EvidenceBound"/> at its own posteriors. Ties keep
    /// the uniform model, the simpler one.
    /// </summary>
    public static AggregationResult ChooseByEvidence(LabelMatrix answers, WorkerPrior prior, double concentration,
        AggregationResult uniform, AggregationResult learned)
    {
        double u = EvidenceBound(answers, prior, uniform.Posteriors.Values, false, concentration);
        double l = EvidenceBound(answers, prior, learned.Posteriors.Values, true, concentration);
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
