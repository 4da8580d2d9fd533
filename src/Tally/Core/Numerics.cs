
namespace Tally.Core;

/// <summary>Small numeric kernels shared by the aggregators.</summary>
internal static class Numerics
{
    /// <summary>Smallest probability used where a log is taken, so an impossible event costs a large finite penalty instead of −∞.</summary>
    public const double MinProbability = 1e-12;

    /// <summary>Turns log-weights into probabilities in place (softmax) and returns log Σ exp(x).</summary>
    public static double NormalizeLog(Span<double> x)
    {
        double max = double.NegativeInfinity;
        for (int i = 0; i < x.Length; i++) if (x[i] > max) max = x[i];
        if (double.IsNegativeInfinity(max) || double.IsNaN(max))
        {
            x.Fill(1.0 / x.Length);
            return double.NegativeInfinity;
        }
        double sum = 0;
        for (int i = 0; i < x.Length; i++) { x[i] = Math.Exp(x[i] - max); sum += x[i]; }
        double inv = 1.0 / sum;
        for (int i = 0; i < x.Length; i++) x[i] *= inv;
        return max + Math.Log(sum);
    }

    /// <summary>
    /// <see cref="NormalizeLog"/> for each of the rows of length <paramref name="k"/> in <paramref name="rows"/>, with the
    /// exponentials and logs of the whole block vectorised (<see cref="VectorMath"/>); returns Σ over rows of
    /// log Σ exp(row). A row without a finite entry becomes uniform and adds −∞, as in <see cref="NormalizeLog"/>.
    /// </summary>
    public static double NormalizeLogRows(Span<double> rows, int k, Span<double> scratch)
    {
        int n = rows.Length / k;
        var max = scratch[..n];
        for (int r = 0; r < n; r++)
        {
            var row = rows.Slice(r * k, k);
            double m = double.NegativeInfinity;
            for (int i = 0; i < k; i++) if (row[i] > m) m = row[i];
            max[r] = m;
            // Rows without a finite maximum are set aside (all −∞ after the shift, so their exps are 0).
            bool ok = !double.IsNegativeInfinity(m) && !double.IsNaN(m);
            for (int i = 0; i < k; i++) row[i] = ok ? row[i] - m : double.NegativeInfinity;
        }
        VectorMath.Exp(rows);
        var sums = scratch.Slice(n, n);
        for (int r = 0; r < n; r++)
        {
            var row = rows.Slice(r * k, k);
            double sum = 0;
            for (int i = 0; i < k; i++) sum += row[i];
            sums[r] = sum > 0 ? sum : 1;
            double inv = 1.0 / sum;
            if (sum > 0) for (int i = 0; i < k; i++) row[i] *= inv;
            else row.Fill(1.0 / k);
        }
        VectorMath.Log(sums);
        double total = 0;
        for (int r = 0; r < n; r++)
        {
            double m = max[r];
            total += double.IsNegativeInfinity(m) || double.IsNaN(m) ? double.NegativeInfinity : m + sums[r];
        }
        return total;
    }

    /// <summary>Divides by the sum in place; uniform if the sum is not positive.</summary>
    public static void Normalize(Span<double> x)
    {
        double sum = 0;
        for (int i = 0; i < x.Length; i++) sum += x[i];
        if (!(sum > 0) || double.IsInfinity(sum)) { x.Fill(1.0 / x.Length); return; }
        double inv = 1.0 / sum;
        for (int i = 0; i < x.Length; i++) x[i] *= inv;
    }

    /// <summary>Index of the largest value; ties go to the lowest index.</summary>
    public static int ArgMax(ReadOnlySpan<double> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    /// <summary>Hard labels from a posterior matrix, ties to the lowest class index.</summary>
    public static int[] ArgMaxRows(double[] posteriors, int rows, int k)
    {
        var labels = new int[rows];
        for (int t = 0; t < rows; t++) labels[t] = ArgMax(posteriors.AsSpan(t * k, k));
        return labels;
    }

    /// <summary>Each worker's expected accuracy Σ_j share[j] · conf[w, j, j] from W×K×K true-class-major confusions.</summary>
    public static double[] ExpectedAccuracy(ReadOnlySpan<double> confusions, ReadOnlySpan<double> share, int workers, int k)
    {
        var acc = new double[workers];
        for (int w = 0; w < workers; w++)
        {
            double a = 0;
            for (int j = 0; j < k; j++) a += share[j] * confusions[(w * k + j) * k + j];
            acc[w] = a;
        }
        return acc;
    }

    /// <summary>Clamps gold tasks to one-hot rows.</summary>
    public static void ClampGold(LabelMatrix answers, double[] posteriors)
    {
        if (answers.Gold is not { } gold) return;
        int k = answers.ClassCount;
        for (int t = 0; t < answers.TaskCount; t++)
        {
            int g = gold[t];
            if (g < 0) continue;
            var row = posteriors.AsSpan(t * k, k);
            row.Clear();
            row[g] = 1;
        }
    }

    /// <summary>Fraction of each worker's answers that agree with <paramref name="labels"/> (0.5 prior-free default for workers with none).</summary>
    public static double[] AgreementWith(LabelMatrix answers, ReadOnlySpan<int> labels)
    {
        int T = answers.TaskCount, W = answers.WorkerCount;
        var labelArray = labels.ToArray();
        // In task order (the by-task arrays, read in sequence; no by-worker index needed): each part counts its
        // agreements per worker, and integer counts summed in part order are the same for any split.
        int parts = Parallelism.ReductionParts(T, answers.AnswerCount, W);
        var agree = new int[parts][];
        Parallelism.ForParts(T, parts, null, (part, start, end) =>
        {
            var counts = agree[part] = new int[W];
            var off = answers.TaskOffsets;
            var workers = answers.TaskWorkers;
            var given = answers.TaskLabels;
            for (int t = start; t < end; t++)
            {
                int y = labelArray[t];
                for (int i = off[t], e = off[t + 1]; i < e; i++) if (given[i] == y) counts[workers[i]]++;
            }
        });
        var acc = new double[W];
        AgreementShares(answers, agree, acc);
        return acc;
    }

    /// <summary>
    /// acc[w] = (Σ over parts of agree[part][w]) / w's answer count, 0 for a worker with none: per-part agreement counts
    /// (from task-order passes) as each worker's share of agreeing answers, summed in part order.
    /// </summary>
    public static void AgreementShares(LabelMatrix answers, int[][] agree, Span<double> acc)
    {
        var degrees = answers.WorkerOffsets;
        for (int w = 0; w < acc.Length; w++)
        {
            int n = degrees[w + 1] - degrees[w], a = 0;
            for (int p = 0; p < agree.Length; p++) a += agree[p][w];
            acc[w] = n == 0 ? 0 : (double)a / n;
        }
    }
}
