using Tally.Core;

namespace Tally.Robust;

/// <summary>
/// The per-worker stage of <see cref="RobustDawidSkene"/> (<see cref="RobustDawidSkeneOptions.WorkerConfusions"/>):
/// Dawid-Skene EM (A. P. Dawid and A. M. Skene, "Maximum likelihood estimation of observer error-rates using the EM
/// algorithm", JRSS C, 1979) started from the robust symmetric fit (w, Γ) and trust ω of Schoenebeck, Yu et al.
/// (WWW 2021, Mechanism 3), with each worker's answers weighted by ω in the E-step and each row of her confusion
/// matrix shrunk towards Γ. Why: the symmetric model gives every honest worker one Γ, which on heterogeneous crowds
/// throws away what a per-worker model learns (robust-ds 2–7 points below DS on the imbalanced lab crowds). Why it
/// is off by default: per-worker EM also learns coordinated colluders as reliable (see the option).
/// </summary>
internal static class RobustWorkerConfusions
{
    private const int MaxIterations = 100;
    private const double Tolerance = 1e-6;

    /// <summary>The refined class weights and per-worker confusions [w][j][l] (floored away from 0).</summary>
    public sealed record Fit(double[] Weights, double[] Confusions, int Iterations);

    /// <summary>
    /// EM from (w, Γ): E-step q_t(j) ∝ w_j Π π_u[j, y]^ω_u; M-step π_u[j, ·] = (K·Γ[j, ·] + N_u[j, ·]) / (K + Σ N_u[j, ·]),
    /// N_u the worker's expected counts (the MAP estimate under a Dirichlet prior worth K answers per row with mean
    /// Γ's row: a worker with few answers keeps the robust Γ), and w = mean posterior when <paramref name="learnWeights"/>.
    /// Gold tasks count their gold class. Sums run in task order, so the fit does not depend on threading.
    /// </summary>
    public static Fit Refine(LabelMatrix answers, double[]? trust, double[] w0, double[] gamma, bool learnWeights, CancellationToken ct)
    {
        int k = answers.ClassCount, T = answers.TaskCount, W = answers.WorkerCount, kk = k * k;
        var w = (double[])w0.Clone();
        var pi = new double[MemoryBudget.Length(W, kk)];
        for (int u = 0; u < W; u++) gamma.AsSpan().CopyTo(pi.AsSpan(u * kk, kk));
        var counts = new double[pi.Length];
        var logW = new double[k];
        var gold = answers.Gold;
        var off = answers.TaskOffsets;
        var workers = answers.TaskWorkers;
        var labels = answers.TaskLabels;
        Span<double> row = stackalloc double[k];
        Span<double> totals = stackalloc double[k];
        int it = 0;
        while (it < MaxIterations)
        {
            ct.ThrowIfCancellationRequested();
            it++;
            var logPi = LogTransposed(pi, W, k);
            for (int j = 0; j < k; j++) logW[j] = Math.Log(Math.Max(w[j], Numerics.MinProbability));
            Array.Clear(counts);
            totals.Clear();
            double mass = 0;
            for (int t = 0; t < T; t++)
            {
                TaskPosterior(answers, t, trust, logW, logPi, row, ref mass);
                if (gold is not null && gold[t] >= 0) { row.Clear(); row[gold[t]] = 1; }
                for (int j = 0; j < k; j++) totals[j] += row[j];
                for (int i = off[t]; i < off[t + 1]; i++)
                {
                    var c = counts.AsSpan(workers[i] * kk, kk);
                    int l = labels[i];
                    for (int j = 0; j < k; j++) c[j * k + l] += row[j];
                }
            }
            double moved = 0;
            for (int u = 0; u < W; u++)
                for (int j = 0; j < k; j++)
                {
                    var c = counts.AsSpan(u * kk + j * k, k);
                    var p = pi.AsSpan(u * kk + j * k, k);
                    double n = k;
                    foreach (var x in c) n += x;
                    for (int l = 0; l < k; l++)
                    {
                        double next = (k * gamma[j * k + l] + c[l]) / n;
                        moved = Math.Max(moved, Math.Abs(next - p[l]));
                        p[l] = next;
                    }
                }
            if (learnWeights && T > 0)
                for (int j = 0; j < k; j++)
                {
                    double next = totals[j] / T;
                    moved = Math.Max(moved, Math.Abs(next - w[j]));
                    w[j] = next;
                }
            if (moved < Tolerance) break;
        }
        return new Fit(w, pi, it);
    }

    /// <summary>log π_u, transposed per worker ([u][l][j] = log π_u[j, l]) so one answer reads a contiguous row.</summary>
    public static double[] LogTransposed(double[] pi, int W, int k)
    {
        int kk = k * k;
        var log = new double[pi.Length];
        for (int u = 0; u < W; u++)
            for (int j = 0; j < k; j++)
                for (int l = 0; l < k; l++)
                    log[u * kk + l * k + j] = Math.Log(Math.Max(pi[u * kk + j * k + l], Numerics.MinProbability));
        return log;
    }

    /// <summary>
    /// Posterior of task <paramref name="t"/> ∝ w_j Π π_u[j, y]^ω_u (log space) into <paramref name="row"/>; returns
    /// the log normaliser and adds the answers' trust to <paramref name="mass"/>. Gold is not clamped here.
    /// </summary>
    public static double TaskPosterior(LabelMatrix answers, int t, double[]? trust, double[] logW, double[] logPi, Span<double> row, ref double mass)
    {
        int k = answers.ClassCount, kk = k * k;
        var off = answers.TaskOffsets;
        var workers = answers.TaskWorkers;
        var labels = answers.TaskLabels;
        logW.AsSpan().CopyTo(row);
        for (int i = off[t]; i < off[t + 1]; i++)
        {
            int u = workers[i];
            double omega = trust is null ? 1 : trust[u];
            if (!(omega > 0)) continue;
            var lg = logPi.AsSpan(u * kk + labels[i] * k, k);
            for (int j = 0; j < k; j++) row[j] += omega * lg[j];
            mass += omega;
        }
        return Numerics.NormalizeLog(row);
    }
}
