using System.Collections.Immutable;
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

    /// <summary>log(e^x + e^y) without overflow; −∞ when both are −∞.</summary>
    public static double LogAddExp(double x, double y)
    {
        if (x < y) (x, y) = (y, x);
        if (double.IsNegativeInfinity(y)) return x;
        return x + Math.Log(1 + Math.Exp(y - x));
    }
}
