using Tally.Core;
using Tally.Learning;

namespace Tally.Tests;

/// <summary>Gaussian blobs with simulated crowd answers, for the joint learning-from-crowds tests.</summary>
internal static class CrowdToyData
{
    /// <summary>K well-separated Gaussian blobs in D dimensions (means 5·e_c, unit variance; Bayes error ≈ 0.1 %).</summary>
    public static (double[][] X, int[] Y) Blobs(int n, int k, int d, int seed)
    {
        var rng = new Random(seed);
        var x = new double[n][];
        var y = new int[n];
        for (int i = 0; i < n; i++)
        {
            int c = rng.Next(k);
            y[i] = c;
            x[i] = new double[d];
            for (int j = 0; j < d; j++) x[i][j] = Normal(rng) + (j == c % d ? 5.0 : 0.0);
            x[i][0] = 3 * x[i][0] + 10; // a shifted, rescaled feature: standardisation must cope
        }
        return (x, y);
    }

    /// <summary>
    /// Each task answered by <paramref name="perTask"/> distinct workers drawn at random; worker r is correct with
    /// probability accuracies[r] and otherwise answers one of the other classes uniformly.
    /// </summary>
    public static LabelMatrix Crowd(int[] truth, int k, double[] accuracies, int perTask, int seed)
    {
        var rng = new Random(seed);
        var tasks = new List<int>();
        var workers = new List<int>();
        var labels = new List<int>();
        var pick = Enumerable.Range(0, accuracies.Length).ToArray();
        for (int t = 0; t < truth.Length; t++)
        {
            for (int i = pick.Length - 1; i > 0; i--) { int j = rng.Next(i + 1); (pick[i], pick[j]) = (pick[j], pick[i]); }
            for (int a = 0; a < perTask; a++)
            {
                int w = pick[a];
                int y = rng.NextDouble() < accuracies[w] ? truth[t] : (truth[t] + 1 + rng.Next(k - 1)) % k;
                tasks.Add(t); workers.Add(w); labels.Add(y);
            }
        }
        return LabelMatrix.FromTriples(truth.Length, accuracies.Length, k, [.. tasks], [.. workers], [.. labels]);
    }

    /// <summary>The standard toy problem: 300 tasks, K = 3, D = 4, 20 workers with accuracies 0.6–0.9, 3 answers per task.</summary>
    public static (CrowdTrainingSet Data, int[] Truth, double[][] TestX, int[] TestY) Standard(int seed = 1)
    {
        const int k = 3;
        var (x, y) = Blobs(300, k, 4, seed);
        var acc = Enumerable.Range(0, 20).Select(r => 0.6 + 0.3 * r / 19.0).ToArray();
        var answers = Crowd(y, k, acc, 3, seed + 100);
        var (xt, yt) = Blobs(500, k, 4, seed + 200);
        return (new CrowdTrainingSet { Answers = answers, Features = x }, y, xt, yt);
    }

    public static double Accuracy(double[][] probabilities, int[] truth)
    {
        int hits = 0;
        for (int i = 0; i < truth.Length; i++)
        {
            int arg = 0;
            for (int c = 1; c < probabilities[i].Length; c++) if (probabilities[i][c] > probabilities[i][arg]) arg = c;
            if (arg == truth[i]) hits++;
        }
        return hits / (double)truth.Length;
    }

    public static double[][] Rows(Tally.Core.RowMatrix m)
    {
        var r = new double[m.Rows][];
        for (int i = 0; i < m.Rows; i++) r[i] = m.Row(i).ToArray();
        return r;
    }

    private static double Normal(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
