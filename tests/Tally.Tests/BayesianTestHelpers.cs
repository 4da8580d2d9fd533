using MathNet.Numerics;
using Tally.Core;

namespace Tally.Tests;

/// <summary>Brute-force posteriors of the Bayesian Dawid-Skene model with θ integrated out, for small crowds.</summary>
internal static class BruteForce
{
    /// <summary>log g_u(z) for a one-coin Beta(a, b) prior: log B(a + c, b + n − c) − log B(a, b) − (n − c) log(K − 1).</summary>
    public static double OneCoinLogFactor(int right, int n, int k, double a, double b) =>
        SpecialFunctions.BetaLn(a + right, b + n - right) - SpecialFunctions.BetaLn(a, b) - (n - right) * Math.Log(k - 1);

    /// <summary>log g_u(z) for independent Dirichlet rows: Σ_rows log B(α_row + counts_row) − log B(α_row).</summary>
    public static double DirichletLogFactor(int[] counts, double[] alpha, int k)
    {
        double s = 0;
        for (int r = 0; r < k; r++)
        {
            double a0 = 0, c0 = 0;
            for (int l = 0; l < k; l++)
            {
                double a = alpha[r * k + l];
                s += SpecialFunctions.GammaLn(a + counts[r * k + l]) - SpecialFunctions.GammaLn(a);
                a0 += a; c0 += counts[r * k + l];
            }
            s += SpecialFunctions.GammaLn(a0) - SpecialFunctions.GammaLn(a0 + c0);
        }
        return s;
    }

    /// <summary>Exact marginals p(z_t | answers) by enumerating all K^T label assignments.</summary>
    public static double[] Marginals(LabelMatrix m, Func<int[], int, double> logFactorOfWorker, double[]? taskLogPrior = null)
    {
        int T = m.TaskCount, k = m.ClassCount;
        var z = new int[T];
        var logW = new List<double>();
        var assignments = new List<int[]>();
        long total = (long)Math.Pow(k, T);
        for (long code = 0; code < total; code++)
        {
            long c = code;
            for (int t = 0; t < T; t++) { z[t] = (int)(c % k); c /= k; }
            double lw = 0;
            if (taskLogPrior is not null) for (int t = 0; t < T; t++) lw += taskLogPrior[t * k + z[t]];
            for (int w = 0; w < m.WorkerCount; w++) lw += logFactorOfWorker(z, w);
            logW.Add(lw);
            assignments.Add((int[])z.Clone());
        }
        double max = logW.Max();
        var post = new double[T * k];
        double norm = 0;
        for (int i = 0; i < logW.Count; i++)
        {
            double p = Math.Exp(logW[i] - max);
            norm += p;
            for (int t = 0; t < T; t++) post[t * k + assignments[i][t]] += p;
        }
        for (int i = 0; i < post.Length; i++) post[i] /= norm;
        return post;
    }

    public static Func<int[], int, double> OneCoin(LabelMatrix m, double a, double b) => (z, w) =>
    {
        var tasks = m.TasksOf(w); var labels = m.LabelsBy(w);
        int right = 0;
        for (int i = 0; i < tasks.Length; i++) if (z[tasks[i]] == labels[i]) right++;
        return OneCoinLogFactor(right, tasks.Length, m.ClassCount, a, b);
    };

    public static Func<int[], int, double> Dirichlet(LabelMatrix m, double[] alpha) => (z, w) =>
    {
        int k = m.ClassCount;
        var counts = new int[k * k];
        var tasks = m.TasksOf(w); var labels = m.LabelsBy(w);
        for (int i = 0; i < tasks.Length; i++) counts[z[tasks[i]] * k + labels[i]]++;
        return DirichletLogFactor(counts, alpha, k);
    };

    public static IEnumerable<(string Name, LabelMatrix Matrix)> DegenerateCases()
    {
        yield return ("single worker", LabelMatrix.FromTriples(3, 1, 2, [0, 1, 2], [0, 0, 0], [0, 1, 1]));
        yield return ("single answer", LabelMatrix.FromTriples(1, 1, 2, [0], [0], [1]));
        yield return ("task with one answer", LabelMatrix.FromTriples(2, 3, 2, [0, 0, 0, 1], [0, 1, 2, 0], [0, 0, 1, 1]));
        yield return ("worker with one answer", LabelMatrix.FromTriples(2, 3, 2, [0, 0, 1, 1, 1], [0, 1, 0, 1, 2], [0, 1, 1, 1, 0]));
        yield return ("all agree", LabelMatrix.FromTriples(3, 3, 2, [0, 0, 0, 1, 1, 1, 2, 2, 2], [0, 1, 2, 0, 1, 2, 0, 1, 2], [1, 1, 1, 1, 1, 1, 1, 1, 1]));
        yield return ("one class used of three", LabelMatrix.FromTriples(2, 2, 3, [0, 0, 1, 1], [0, 1, 0, 1], [0, 0, 0, 0]));
        yield return ("single class", LabelMatrix.FromTriples(2, 2, 1, [0, 0, 1], [0, 1, 1], [0, 0, 0]));
        yield return ("worker without answers", LabelMatrix.FromTriples(2, 3, 2, [0, 0, 1], [0, 1, 1], [0, 1, 1]));
        yield return ("duplicate answers kept", LabelMatrix.FromTriples(2, 2, 2, [0, 0, 0, 1], [0, 0, 1, 1], [1, 1, 0, 0], DuplicatePolicy.KeepAll));
    }
}
