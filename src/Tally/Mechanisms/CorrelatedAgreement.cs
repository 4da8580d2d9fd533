using System.Collections.Immutable;
using Tally.Core;

namespace Tally.Mechanisms;

/// <summary>Options of <see cref="CorrelatedAgreement"/>.</summary>
public sealed record CorrelatedAgreementOptions
{
    /// <summary>An agent is scored only if at least this many of its tasks could serve as a bonus task; default 1.</summary>
    public int MinTasks { get; init; } = 1;
}

/// <summary>
/// Correlated Agreement (detail-free): from all reports, estimate Δ(x, y) = P(x, y) − P(x)P(y), where P(x, y) is the
/// joint of two distinct agents' reports on the same task and P(x), P(y) its marginals, and set the score matrix
/// S(x, y) = 1 if Δ(x, y) &gt; 0, else 0. For each of agent i's tasks b (bonus task) draw a peer j who answered b,
/// a penalty task p of i and a penalty task q of j, with b, p, q distinct, and pay S(r_i(b), r_j(b)) − S(r_i(p), r_j(q)).
/// Payment = average over i's bonus tasks, range [−1, 1]. Rewarding agreement only on positively correlated report
/// pairs, minus the same score on unrelated tasks, makes truthful reporting pay at least as much as any strategy
/// profile and strictly more than any uninformed one (informed truthfulness), for any number of classes.
/// V. Shnayder, A. Agarwal, R. Frongillo and D. C. Parkes, "Informed truthfulness in multi-task peer prediction",
/// EC 2016 (the CA mechanism with S = Sign(Δ), and its detail-free variant that learns Δ from reports).
/// Here Δ is estimated once from every report, the paid agent's included: simple and low-variance, at the price of S
/// depending slightly on the paid agent's own reports, an influence that vanishes as the number of agents grows
/// (hence only ε-informed truthfulness, as for the paper's detail-free variant).
/// TasksScored = bonus tasks scored; Breakdown: <c>bonus</c> and <c>penalty</c> (means of the two S terms).
/// </summary>
public sealed class CorrelatedAgreement(CorrelatedAgreementOptions? options = null) : IPeerPredictionMechanism
{
    /// <summary>The options in use.</summary>
    public CorrelatedAgreementOptions Options { get; } = options ?? new CorrelatedAgreementOptions();

    /// <inheritdoc />
    public string Name => "ca";

    /// <summary>
    /// The detail-free score matrix Sign(Δ) (K×K row-major, 1 where Δ(x, y) &gt; 0, else 0) from the joint of all ordered
    /// pairs of distinct answers to the same task. The test Δ &gt; 0 is done in exact integer arithmetic on the counts,
    /// so ties (Δ = 0, e.g. everyone reporting one class) score 0 and relabelling classes permutes S exactly.
    /// </summary>
    public static int[] ScoreMatrix(LabelMatrix reports)
    {
        ArgumentNullException.ThrowIfNull(reports);
        int K = reports.ClassCount, T = reports.TaskCount;
        var pairs = new long[K * K];
        var count = new int[K];
        var present = new int[K];
        for (int t = 0; t < T; t++)
        {
            int nPresent = 0;
            foreach (int l in reports.LabelsOf(t)) if (count[l]++ == 0) present[nPresent++] = l;
            // Ordered pairs of distinct answers: c_x c_y, minus the c_x pairs of an answer with itself when x = y.
            for (int a = 0; a < nPresent; a++)
            {
                int x = present[a];
                for (int b = 0; b < nPresent; b++)
                {
                    int y = present[b];
                    pairs[x * K + y] += (long)count[x] * count[y] - (x == y ? count[x] : 0);
                }
            }
            for (int a = 0; a < nPresent; a++) count[present[a]] = 0;
        }
        long total = 0;
        var row = new long[K];
        for (int x = 0; x < K; x++)
            for (int y = 0; y < K; y++) { row[x] += pairs[x * K + y]; total += pairs[x * K + y]; }
        var s = new int[K * K];
        // Δ(x, y) > 0  ⇔  N·C(x, y) − R(x)R(y) > 0 with N = Σ C and R the row sums (the joint is symmetric, so R is both marginals).
        for (int x = 0; x < K; x++)
            for (int y = 0; y < K; y++)
                s[x * K + y] = (Int128)total * pairs[x * K + y] - (Int128)row[x] * row[y] > 0 ? 1 : 0;
        return s;
    }

    /// <inheritdoc />
    public PaymentResult Pay(LabelMatrix reports, Random rng)
    {
        MechanismKernel.Check(reports, rng);
        ulong seed = AgentRng.BaseSeed(rng);
        int W = reports.WorkerCount, K = reports.ClassCount, minTasks = Math.Max(1, Options.MinTasks);
        var score = ScoreMatrix(reports);
        var pay = new double[W];
        var bonusOut = new double[W];
        var penaltyOut = new double[W];
        var scored = new int[W];
        MechanismKernel.ForEachAgent(W, 8L * reports.AnswerCount, () => 0, (i, _) =>
        {
            var r = AgentRng.For(seed, (ulong)i);
            var tasksI = reports.TasksOf(i);
            var labelsI = reports.LabelsBy(i);
            var taskWorkers = reports.TaskWorkers;
            var taskLabels = reports.TaskLabels;
            int n = 0;
            long bonus = 0, penalty = 0;
            for (int p = 0; p < tasksI.Length; p++)
            {
                int b = tasksI[p];
                int a = MechanismKernel.PickOtherAnswer(reports, b, i, ref r);
                if (a < 0) continue;
                int j = taskWorkers[a];
                int pi = MechanismKernel.PickPosition(tasksI, b, b, ref r);
                if (pi < 0) continue;
                var tasksJ = reports.TasksOf(j);
                int qj = MechanismKernel.PickPosition(tasksJ, b, tasksI[pi], ref r);
                if (qj < 0) continue;
                n++;
                bonus += score[labelsI[p] * K + taskLabels[a]];
                penalty += score[labelsI[pi] * K + reports.LabelsBy(j)[qj]];
            }
            if (n >= minTasks)
            {
                bonusOut[i] = (double)bonus / n;
                penaltyOut[i] = (double)penalty / n;
                pay[i] = (double)(bonus - penalty) / n;
                scored[i] = n;
            }
        });
        return PaymentResult.BonusPenalty(Name, reports, pay, scored, bonusOut, penaltyOut);
    }
}
