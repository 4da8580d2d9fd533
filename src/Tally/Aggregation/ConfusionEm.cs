using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Tally.Core;

namespace Tally.Aggregation;

/// <summary>Scratch buffers for <see cref="ConfusionEm.FusedStep"/>, allocated once per fit, not per iteration.</summary>
internal sealed class EmWorkspace
{
    public EmWorkspace(LabelMatrix answers)
    {
        int size = MemoryBudget.Length(answers.WorkerCount, answers.ClassCount, answers.ClassCount);
        // The partition depends on the input only, so the counts are summed in the same order on every machine.
        Chunks = Parallelism.ReductionParts(answers.TaskCount, answers.AnswerCount * (long)answers.ClassCount, size);
        Fused = ConfusionEm.CanFuse(answers, Chunks);
        ChunkCounts = new double[Chunks][];
        ChunkTotals = new double[Chunks][];
        // The per-chunk count blocks serve the fused pass only; without it they would be Chunks more copies of W·K².
        for (int c = 0; c < Chunks; c++) { ChunkCounts[c] = Fused ? new double[size] : []; ChunkTotals[c] = new double[answers.ClassCount]; }
        EStepParts = Parallelism.ReductionParts(answers.TaskCount, answers.AnswerCount * (long)answers.ClassCount);
        EStepLogLikelihoods = new double[EStepParts];
        ChunkLogLikelihoods = new double[Chunks];
    }

    public int Chunks { get; }
    /// <summary>Whether <see cref="ConfusionEm.FusedStep"/> is used (the count blocks are small enough to sit in cache).</summary>
    public bool Fused { get; }
    public double[][] ChunkCounts { get; }
    public double[][] ChunkTotals { get; }
    public double[] ChunkLogLikelihoods { get; }
    public int EStepParts { get; }
    public double[] EStepLogLikelihoods { get; }
}

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
    public static double EStep(LabelMatrix answers, double[] logConf, double[] logPrior, double[] posteriors,
        EmWorkspace ws, ComputeOptions? compute, CancellationToken ct)
    {
        int k = answers.ClassCount, T = answers.TaskCount;
        var parts = ws.EStepLogLikelihoods;
        Parallelism.ForParts(T, ws.EStepParts, compute, (part, start, end) =>
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
            parts[part] = ll;
        }, ct);
        double total = 0;
        foreach (double ll in parts) total += ll;   // in part order: the same sum on every machine
        return total;
    }

    /// <summary>State at the end of <see cref="Run"/>.</summary>
    public sealed record EmRun(double[] Posteriors, double[] LogConfusions, double[] LogPrior, int Iterations, bool Converged, double[] Trace);

    /// <summary>
    /// EM for a confusion-matrix model from majority-vote posteriors: <paramref name="mStep"/>(counts, class totals,
    /// logConf, logPrior) turns expected counts ([w][l][k]) into parameters; the E-step is shared. Stops when the
    /// per-answer log-likelihood changes by less than the tolerance, or at the iteration limit.
    /// </summary>
    /// <remarks><paramref name="initialPosteriors"/>, if given, is the start instead of majority vote (T×K, taken over and
    /// overwritten) — e.g. the E-step of spectrally estimated confusions.</remarks>
    public static EmRun Run(LabelMatrix answers, IterativeOptions options, double[]? priorCounts, double smoothing,
        Action<double[], double[], double[], double[]> mStep, ComputeOptions? compute, IProgress<IterationProgress>? progress,
        CancellationToken ct, double[]? initialPosteriors = null)
    {
        int k = answers.ClassCount, W = answers.WorkerCount;
        if (initialPosteriors is not null && initialPosteriors.Length != (long)answers.TaskCount * k)
            throw new ArgumentException("initialPosteriors must be T×K.", nameof(initialPosteriors));
        var post = initialPosteriors ?? MajorityVote.WeightedVote(answers, null);
        Numerics.ClampGold(answers, post);
        var counts = new double[MemoryBudget.Length(W, k, k)];
        var totals = new double[k];
        var logConf = new double[counts.Length];
        var logPrior = new double[k];
        var ws = new EmWorkspace(answers);
        bool fused = ws.Fused;
        var trace = new List<double>();
        double previous = double.NegativeInfinity;
        bool converged = false;
        int it = 0;
        // Counts of the majority-vote start; afterwards each fused pass leaves the counts for the next M-step.
        if (fused) TaskOrderCounts(answers, post, ws, priorCounts, smoothing, counts, compute, ct);
        else Counts(answers, post, priorCounts, smoothing, counts, compute, ct);
        ColumnTotals(post, k, totals);
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            mStep(counts, totals, logConf, logPrior);
            if (it >= options.MaxIterations) break;
            double ll;
            if (fused)
                ll = FusedStep(answers, logConf, logPrior, post, ws, priorCounts, smoothing, counts, totals, compute, ct);
            else
            {
                ll = EStep(answers, logConf, logPrior, post, ws, compute, ct);
                Counts(answers, post, priorCounts, smoothing, counts, compute, ct);
                ColumnTotals(post, k, totals);
            }
            ll /= Math.Max(1, answers.AnswerCount);
            it++;
            trace.Add(ll);
            progress?.Report(new IterationProgress(it, options.MaxIterations, ll));
            if (options.Tolerance > 0 && Math.Abs(ll - previous) < options.Tolerance) { converged = true; break; }
            previous = ll;
        }
        return new EmRun(post, logConf, logPrior, it, converged, trace.ToArray());
    }

    private static void ColumnTotals(double[] post, int k, double[] totals)
    {
        Array.Clear(totals);
        for (int i = 0; i < post.Length; i++) totals[i % k] += post[i];
    }

    /// <summary>
    /// One fused pass over the tasks: the E-step for each task, immediately followed by scattering its new
    /// posterior into the expected counts of the next M-step. Reading the answers once per iteration, in storage
    /// order, is what makes EM memory-bandwidth bound instead of latency bound (a by-worker M-step reads the
    /// posteriors at random). Each chunk scatters into its own count block, summed at the end.
    /// Returns the log-likelihood, as <see cref="EStep"/>; fills <paramref name="counts"/> ([w][l][k], plus
    /// <paramref name="smoothing"/> / prior counts) and <paramref name="classTotals"/> (Σ_t posterior).
    /// </summary>
    public static double FusedStep(LabelMatrix answers, double[] logConf, double[] logPrior, double[] posteriors,
        EmWorkspace ws, double[]? priorCounts, double smoothing, double[] counts, double[] classTotals, ComputeOptions? compute,
        CancellationToken ct)
    {
        int k = answers.ClassCount, T = answers.TaskCount;
        var lls = ws.ChunkLogLikelihoods;
        Parallelism.ForParts(T, ws.Chunks, compute, (chunk, start, end) =>
        {
            var off = answers.TaskOffsets;
            var workers = answers.TaskWorkers;
            var labels = answers.TaskLabels;
            var lc = logConf.AsSpan();
            var local = ws.ChunkCounts[chunk].AsSpan();
            var totals = ws.ChunkTotals[chunk].AsSpan();
            local.Clear();
            totals.Clear();
            var gold = answers.Gold;
            double ll = 0;
            // Σ log z over the tasks as the log of products of a few z's at a time (each z is in [1, K]): one log per
            // 32 tasks instead of one per task.
            double zs = 1;
            if (k == 2)
            {
                // Two classes dominate real workloads; scalar code avoids the per-answer span slicing.
                double p0 = logPrior[0], p1 = logPrior[1];
                for (int t = start; t < end; t++)
                {
                    double a0 = p0, a1 = p1;
                    int e = off[t + 1];
                    for (int i = off[t]; i < e; i++)
                    {
                        int b = (workers[i] * 2 + labels[i]) * 2;
                        a0 += lc[b]; a1 += lc[b + 1];
                    }
                    // The larger term's exponential is exp(0) = 1 exactly: one exp a task.
                    double m, e0, e1;
                    if (a0 >= a1) { m = a0; e0 = 1; e1 = Math.Exp(a1 - a0); }
                    else { m = a1; e1 = 1; e0 = Math.Exp(a0 - a1); }
                    double z = e0 + e1;
                    ll += m;
                    zs *= z;
                    if (((t - start) & 31) == 31) { ll += Math.Log(zs); zs = 1; }
                    double q0 = e0 / z, q1 = e1 / z;
                    if (gold is not null && gold[t] >= 0) { q0 = gold[t] == 0 ? 1 : 0; q1 = 1 - q0; }
                    posteriors[2 * t] = q0; posteriors[2 * t + 1] = q1;
                    totals[0] += q0; totals[1] += q1;
                    for (int i = off[t]; i < e; i++)
                    {
                        int b = (workers[i] * 2 + labels[i]) * 2;
                        local[b] += q0; local[b + 1] += q1;
                    }
                }
            }
            else
            {
                // General K: refs into the arrays instead of per-answer span slices keep bounds checks out of the
                // inner loops (indexes are valid by construction of the matrix).
                ref double lcBase = ref MemoryMarshal.GetArrayDataReference(logConf);
                ref double localBase = ref MemoryMarshal.GetReference(local);
                Span<double> row = stackalloc double[k];
                for (int t = start; t < end; t++)
                {
                    logPrior.AsSpan().CopyTo(row);
                    int e = off[t + 1];
                    for (int i = off[t]; i < e; i++)
                    {
                        ref double p = ref Unsafe.Add(ref lcBase, (workers[i] * k + labels[i]) * k);
                        for (int c = 0; c < row.Length; c++) row[c] += Unsafe.Add(ref p, c);
                    }
                    ll += Numerics.NormalizeLog(row);
                    if (gold is not null && gold[t] >= 0) { row.Clear(); row[gold[t]] = 1; }
                    row.CopyTo(posteriors.AsSpan(t * k, k));
                    for (int c = 0; c < row.Length; c++) totals[c] += row[c];
                    for (int i = off[t]; i < e; i++)
                    {
                        ref double dst = ref Unsafe.Add(ref localBase, (workers[i] * k + labels[i]) * k);
                        for (int c = 0; c < row.Length; c++) Unsafe.Add(ref dst, c) += row[c];
                    }
                }
            }
            lls[chunk] = ll + Math.Log(zs);
        }, ct);
        InitialCounts(answers, priorCounts, smoothing, counts);
        var total = counts.AsSpan();
        classTotals.AsSpan().Clear();
        double sum = 0;
        for (int c = 0; c < ws.Chunks; c++)
        {
            var local = ws.ChunkCounts[c];
            for (int i = 0; i < total.Length; i++) total[i] += local[i];
            for (int j = 0; j < k; j++) classTotals[j] += ws.ChunkTotals[c][j];
            sum += lls[c];
        }
        return sum;
    }

    /// <summary>
    /// <see cref="Counts"/> in task order, as <see cref="FusedStep"/> makes them: each chunk of tasks adds its answers'
    /// posteriors into its own block, read in sequence (by worker, each answer would gather a random task's row of a
    /// posterior table far larger than the cache), and the blocks are summed in chunk order.
    /// </summary>
    public static void TaskOrderCounts(LabelMatrix answers, double[] posteriors, EmWorkspace ws, double[]? priorCounts,
        double smoothing, double[] counts, ComputeOptions? compute, CancellationToken ct)
    {
        int k = answers.ClassCount;
        Parallelism.ForParts(answers.TaskCount, ws.Chunks, compute, (chunk, start, end) =>
        {
            var off = answers.TaskOffsets;
            var workers = answers.TaskWorkers;
            var labels = answers.TaskLabels;
            var local = ws.ChunkCounts[chunk].AsSpan();
            local.Clear();
            for (int t = start; t < end; t++)
            {
                var row = posteriors.AsSpan(t * k, k);
                for (int i = off[t], e = off[t + 1]; i < e; i++)
                {
                    var dst = local.Slice((workers[i] * k + labels[i]) * k, k);
                    for (int c = 0; c < dst.Length; c++) dst[c] += row[c];
                }
            }
        }, ct);
        InitialCounts(answers, priorCounts, smoothing, counts);
        var total = counts.AsSpan();
        for (int c = 0; c < ws.Chunks; c++)
        {
            var local = ws.ChunkCounts[c];
            for (int i = 0; i < total.Length; i++) total[i] += local[i];
        }
    }

    /// <summary>Fills counts with the smoothing constant plus any prior counts (converted to [w][l][k]).</summary>
    public static void InitialCounts(LabelMatrix answers, double[]? priorCounts, double smoothing, double[] counts)
    {
        int k = answers.ClassCount, kk = k * k;
        if (priorCounts is null) { counts.AsSpan().Fill(smoothing); return; }
        for (int w = 0; w < answers.WorkerCount; w++)
        {
            int b = priorCounts.Length == kk ? 0 : w * kk;
            for (int j = 0; j < k; j++)
                for (int l = 0; l < k; l++)
                    counts[w * kk + l * k + j] = priorCounts[b + j * k + l] + smoothing;
        }
    }

    /// <summary>
    /// True when per-chunk count blocks are small enough to use <see cref="FusedStep"/>; with very many workers
    /// the blocks would not fit in cache and the by-worker <see cref="Counts"/> is used instead.
    /// </summary>
    public static bool CanFuse(LabelMatrix answers, int chunks) =>
        (long)answers.WorkerCount * answers.ClassCount * answers.ClassCount * chunks * sizeof(double) <= 64L << 20;

    /// <summary>
    /// Expected counts: counts[w][l][k] = prior counts + Σ over w's answers with label l of posterior[t, k].
    /// Parallel over workers (each writes only its own block).
    /// </summary>
    public static void Counts(LabelMatrix answers, double[] posteriors, double[]? priorCounts, double smoothing,
        double[] counts, ComputeOptions? compute, CancellationToken ct)
    {
        int k = answers.ClassCount, W = answers.WorkerCount, kk = k * k;
        Parallelism.For(W, answers.AnswerCount * (long)k, compute, (start, end) =>
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

    /// <summary>
    /// The full Dawid-Skene M-step: class prior from the posterior totals; each worker's confusion column k = expected
    /// counts normalised over answers (uniform when a worker has no expected answer for class k), floored at
    /// <see cref="Numerics.MinProbability"/> before the log. Layout [w][l][k].
    /// </summary>
    public static void DawidSkeneMStep(int workers, int k, double[] counts, double[] totals, double[] logConf, double[] logPrior)
    {
        PriorFromTotals(totals, logPrior);
        for (int w = 0; w < workers; w++)
        {
            int b = w * k * k;
            for (int j = 0; j < k; j++)
            {
                double denom = 0;
                for (int l = 0; l < k; l++) denom += counts[b + l * k + j];
                for (int l = 0; l < k; l++)
                {
                    // A worker with no (expected) answers for true class j tells us nothing: uniform row.
                    double p = denom > 0 ? counts[b + l * k + j] / denom : 1.0 / k;
                    logConf[b + l * k + j] = Math.Log(Math.Max(p, Numerics.MinProbability));
                }
            }
        }
    }

    /// <summary>Class prior from posterior column sums (floored so its log is finite).</summary>
    public static void PriorFromTotals(double[] totals, double[] logPrior)
    {
        Span<double> p = stackalloc double[totals.Length];
        totals.AsSpan().CopyTo(p);
        Numerics.Normalize(p);
        for (int c = 0; c < p.Length; c++) logPrior[c] = Math.Log(Math.Max(p[c], Numerics.MinProbability));
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

    /// <summary>
    /// The result of a confusion-matrix EM fit: public confusions and prior, the fitted model, the trace; skills are
    /// <paramref name="skills"/> or, when null, each worker's expected accuracy under the prior.
    /// </summary>
    public static AggregationResult Result(string method, object options, LabelMatrix answers, EmRun run, double[]? skills)
    {
        int k = answers.ClassCount, W = answers.WorkerCount;
        var conf = ToPublic(run.LogConfusions, W, k);
        var prior = new double[k];
        for (int c = 0; c < k; c++) prior[c] = Math.Exp(run.LogPrior[c]);
        Numerics.Normalize(prior);
        skills ??= Accuracy(conf, run.LogPrior);
        // The model and the result share the one immutable W·K² array: a second copy would double the largest allocation.
        var model = AggregationModel.ForConfusions(method, options, answers, conf.Array, (double[])prior.Clone(), skills);
        return AggregationResult.Create(method, answers, run.Posteriors, skills, model) with
        {
            Confusions = conf,
            ClassPriors = AggregationResult.Wrap(prior),
            Iterations = run.Iterations,
            Converged = run.Converged,
            LogLikelihoods = AggregationResult.Wrap(run.Trace),
        };
    }

    /// <summary>Worker accuracy under a class prior: Σ_j prior[j] · P(l = j | j).</summary>
    public static double[] Accuracy(ConfusionMatrices conf, double[] logPrior)
    {
        Span<double> share = stackalloc double[logPrior.Length];
        for (int j = 0; j < share.Length; j++) share[j] = Math.Exp(logPrior[j]);
        return Numerics.ExpectedAccuracy(conf.Values, share, conf.WorkerCount, conf.ClassCount);
    }
}
