using Tally.Data;

namespace Tally.Aggregation;

/// <summary>
/// The two steps shared by the confusion-matrix models (Dawid-Skene and its one-coin restriction), written once
/// for speed: they are the hot loops of <c>tally aggregate</c> on large data.
/// Layout of per-worker K×K arrays here is label-major, <c>[w][l][k]</c> (k = true class), so one answer touches
/// K contiguous doubles in both steps.
/// </summary>
internal static class ConfusionEm
{
    /// <summary>
    /// E-step: posterior[t, k] ∝ prior[k] · Π_answers P(l | k), computed in log space; gold tasks are clamped.
    /// Returns the observed-data log-likelihood Σ_t log Σ_k prior[k] Π P(l | k).
    /// </summary>
    public static double EStep(LabelMatrix answers, double[] logConf, double[] logPrior, double[] posteriors, CancellationToken ct)
    {
        int k = answers.ClassCount, T = answers.TaskCount;
        double total = 0;
        object gate = new();
        Numerics.ForRange(T, answers.AnswerCount * (long)k, (start, end) =>
        {
            var off = answers.TaskOffsets;
            var workers = answers.TaskWorkers;
            var labels = answers.TaskLabels;
            var lc = logConf.AsSpan();
            var gold = answers.Gold;
            double ll = 0;
            for (int t = start; t < end; t++)
            {
                var row = posteriors.AsSpan(t * k, k);
                logPrior.AsSpan().CopyTo(row);
                for (int i = off[t]; i < off[t + 1]; i++)
                {
                    var p = lc.Slice((workers[i] * k + labels[i]) * k, k);
                    for (int c = 0; c < row.Length; c++) row[c] += p[c];
                }
                ll += Numerics.NormalizeLog(row);
                if (gold is not null && gold[t] >= 0) { row.Clear(); row[gold[t]] = 1; }
            }
            lock (gate) total += ll;
        }, ct);
        return total;
    }

    /// <summary>
    /// Expected counts: counts[w][l][k] = prior counts + Σ over w's answers with label l of posterior[t, k].
    /// Parallel over workers (each writes only its own block).
    /// </summary>
    public static void Counts(LabelMatrix answers, double[] posteriors, double[]? priorCounts, double smoothing,
        double[] counts, CancellationToken ct)
    {
        int k = answers.ClassCount, W = answers.WorkerCount, kk = k * k;
        Numerics.ForRange(W, answers.AnswerCount * (long)k, (start, end) =>
        {
            var off = answers.WorkerOffsets;
            var tasks = answers.WorkerTasks;
            var labels = answers.WorkerLabels;
            var post = posteriors.AsSpan();
            for (int w = start; w < end; w++)
            {
                var block = counts.AsSpan(w * kk, kk);
                if (priorCounts is null) block.Fill(smoothing);
                else
                {
                    // priorCounts is [w][j][l] (true-class-major, as users write confusion matrices) for one or all workers.
                    int b = priorCounts.Length == kk ? 0 : w * kk;
                    for (int j = 0; j < k; j++)
                        for (int l = 0; l < k; l++)
                            block[l * k + j] = priorCounts[b + j * k + l] + smoothing;
                }
                for (int i = off[w]; i < off[w + 1]; i++)
                {
                    var dst = block.Slice(labels[i] * k, k);
                    var src = post.Slice(tasks[i] * k, k);
                    for (int c = 0; c < dst.Length; c++) dst[c] += src[c];
                }
            }
        }, ct);
    }

    /// <summary>Class prior = mean posterior (floored so its log is finite).</summary>
    public static void Prior(double[] posteriors, int tasks, int k, double[] logPrior)
    {
        Span<double> p = stackalloc double[k];
        p.Clear();
        for (int t = 0; t < tasks; t++)
            for (int c = 0; c < k; c++) p[c] += posteriors[t * k + c];
        Numerics.Normalize(p);
        for (int c = 0; c < k; c++) logPrior[c] = Math.Log(Math.Max(p[c], Numerics.MinProbability));
    }

    /// <summary>Converts [w][l][k] log-confusions into a public [w][j][l] probability array.</summary>
    public static ConfusionMatrices ToPublic(double[] logConf, int workers, int k)
    {
        var v = new double[logConf.Length];
        for (int w = 0; w < workers; w++)
            for (int l = 0; l < k; l++)
                for (int j = 0; j < k; j++)
                    v[(w * k + j) * k + l] = Math.Exp(logConf[(w * k + l) * k + j]);
        // Re-normalise rows: flooring in log space can leave them a hair off 1.
        for (int r = 0; r < workers * k; r++) Numerics.Normalize(v.AsSpan(r * k, k));
        return new ConfusionMatrices(workers, k, v);
    }

    /// <summary>Worker accuracy under a class prior: Σ_j prior[j] · P(l = j | j).</summary>
    public static double[] Accuracy(ConfusionMatrices conf, double[] logPrior)
    {
        var acc = new double[conf.WorkerCount];
        for (int w = 0; w < acc.Length; w++)
        {
            double a = 0;
            for (int j = 0; j < conf.ClassCount; j++) a += Math.Exp(logPrior[j]) * conf[w, j, j];
            acc[w] = a;
        }
        return acc;
    }
}
