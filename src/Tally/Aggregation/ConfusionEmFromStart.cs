using Tally.Data;

namespace Tally.Aggregation;

/// <summary>
/// <see cref="ConfusionEm.Run"/> started from given posteriors instead of majority vote (e.g. the E-step of externally
/// estimated confusions, as in <see cref="SpectralDawidSkene"/>). The loop is the same as <see cref="ConfusionEm.Run"/>
/// (same fused E-step + count pass, same stopping rule), kept in its own file so that the shared EM is untouched;
/// it only replaces the majority-vote start.
/// </summary>
internal static class ConfusionEmFromStart
{
    /// <summary>
    /// EM for a confusion-matrix model from <paramref name="initialPosteriors"/> (T×K, row-major; taken over and
    /// overwritten, becomes the returned posteriors): counts of the start → <paramref name="mStep"/> → fused
    /// E-step + counts → … until the per-answer log-likelihood changes by less than the tolerance, or the limit.
    /// Gold tasks are clamped in the start as in every E-step.
    /// </summary>
    public static ConfusionEm.EmRun Run(LabelMatrix answers, IterativeOptions options, double[]? priorCounts, double smoothing,
        Action<double[], double[], double[], double[]> mStep, double[] initialPosteriors,
        IProgress<IterationProgress>? progress, CancellationToken ct)
    {
        int k = answers.ClassCount, W = answers.WorkerCount;
        if (initialPosteriors.Length != answers.TaskCount * k)
            throw new ArgumentException("initialPosteriors must be T×K.", nameof(initialPosteriors));
        var post = initialPosteriors;
        Numerics.ClampGold(answers, post);
        var counts = new double[W * k * k];
        var totals = new double[k];
        var logConf = new double[W * k * k];
        var logPrior = new double[k];
        var ws = new EmWorkspace(answers);
        bool fused = ConfusionEm.CanFuse(answers, ws.Chunks);
        var trace = new List<double>(Math.Max(0, Math.Min(options.MaxIterations, 10_000)));
        double previous = double.NegativeInfinity;
        bool converged = false;
        int it = 0;
        ConfusionEm.Counts(answers, post, priorCounts, smoothing, counts, ct);
        ColumnTotals(post, k, totals);
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            mStep(counts, totals, logConf, logPrior);
            if (it >= options.MaxIterations) break;
            double ll;
            if (fused)
                ll = ConfusionEm.FusedStep(answers, logConf, logPrior, post, ws, priorCounts, smoothing, counts, totals, ct);
            else
            {
                ll = ConfusionEm.EStep(answers, logConf, logPrior, post, ct);
                ConfusionEm.Counts(answers, post, priorCounts, smoothing, counts, ct);
                ColumnTotals(post, k, totals);
            }
            ll /= Math.Max(1, answers.AnswerCount);
            it++;
            trace.Add(ll);
            progress?.Report(new IterationProgress(it, options.MaxIterations, ll));
            if (options.Tolerance > 0 && Math.Abs(ll - previous) < options.Tolerance) { converged = true; break; }
            previous = ll;
        }
        return new ConfusionEm.EmRun(post, logConf, logPrior, it, converged, trace.ToArray());
    }

    /// <summary>
    /// The full Dawid-Skene M-step (as <see cref="DawidSkene"/>'s): class prior from the posterior totals, each
    /// worker's confusion column k = expected counts normalised over answers (uniform when a worker has no expected
    /// answer for class k), floored at <see cref="Numerics.MinProbability"/> before the log. Layout [w][l][k].
    /// </summary>
    public static void DawidSkeneMStep(int workers, int k, double[] counts, double[] totals, double[] logConf, double[] logPrior)
    {
        ConfusionEm.PriorFromTotals(totals, logPrior);
        for (int w = 0; w < workers; w++)
        {
            int b = w * k * k;
            for (int j = 0; j < k; j++)
            {
                double denom = 0;
                for (int l = 0; l < k; l++) denom += counts[b + l * k + j];
                for (int l = 0; l < k; l++)
                {
                    double p = denom > 0 ? counts[b + l * k + j] / denom : 1.0 / k;
                    logConf[b + l * k + j] = Math.Log(Math.Max(p, Numerics.MinProbability));
                }
            }
        }
    }

    private static void ColumnTotals(double[] post, int k, double[] totals)
    {
        Array.Clear(totals);
        for (int i = 0; i < post.Length; i++) totals[i % k] += post[i];
    }
}
