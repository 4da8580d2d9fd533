using System.Collections.Immutable;
using Tally.Core;

namespace Tally.Mechanisms;

/// <summary>Options of <see cref="CorrelatedAgreement"/>.</summary>
public sealed record CorrelatedAgreementOptions : MechanismOptions
{
    /// <summary>An agent is scored only if at least this many of its tasks could serve as a bonus task; default 1.</summary>
    public int MinTasks { get; init; } = 1;

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        Check.AtLeast(MinTasks, 1, nameof(MinTasks));
    }

    /// <inheritdoc />
    public override IPeerPredictionMechanism CreateMechanism() => new CorrelatedAgreement(this);
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
/// Under <see cref="Reform"/>: CA's peer factor pays the bonus S(r_i(b), r_j(b)), so a report "did not match" when
/// that score is 0 (with S the identity, as for most priors, exactly when the reports differ); a new peer j′ is drawn
/// among b's other agents and the pairing is redone with j′ — a fresh penalty task q of j′, i's penalty task p kept (it
/// does not depend on the peer). A candidate with no admissible penalty task cannot be paired and is passed over
/// without using a chance. M* = 1 − S(r_i(p), r_j(q)), the reward had the bonus scored.
/// </summary>
public sealed class CorrelatedAgreement(CorrelatedAgreementOptions? options = null) : PeerPredictionMechanism<CorrelatedAgreementOptions>(options ?? new CorrelatedAgreementOptions())
{
    /// <inheritdoc />
    public override string Name => "ca";

    private protected override bool PaysPerReport => true;

    /// <summary>
    /// The detail-free score matrix Sign(Δ) (K×K row-major, 1 where Δ(x, y) &gt; 0, else 0) from the joint of all ordered
    /// pairs of distinct answers to the same task. The test Δ &gt; 0 is done in exact integer arithmetic on the counts,
    /// so ties (Δ = 0, e.g. everyone reporting one class) score 0 and relabelling classes permutes S exactly.
    /// </summary>
    public static int[] ScoreMatrix(LabelMatrix reports)
    {
        ArgumentNullException.ThrowIfNull(reports);
        int K = reports.ClassCount, T = reports.TaskCount;
        var pairs = new long[MemoryBudget.Length(K, K)];
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
        var s = new int[MemoryBudget.Length(K, K)];
        // Δ(x, y) > 0  ⇔  N·C(x, y) − R(x)R(y) > 0 with N = Σ C and R the row sums (the joint is symmetric, so R is both marginals).
        for (int x = 0; x < K; x++)
            for (int y = 0; y < K; y++)
                s[x * K + y] = (Int128)total * pairs[x * K + y] - (Int128)row[x] * row[y] > 0 ? 1 : 0;
        return s;
    }

    /// <inheritdoc />
    private protected override PaymentResult Pay(LabelMatrix reports, Pairing? pairing, ComputeOptions? compute,
        IProgress<WorkProgress>? progress, CancellationToken cancellationToken)
    {
        MechanismKernel.Check(reports, Options, compute, Name);
        ulong seed = Seeding.Base(Options.Seed);
        int W = reports.WorkerCount, K = reports.ClassCount, minTasks = Options.MinTasks;
        var score = ScoreMatrix(reports);
        var pay = new double[W];
        var bonusOut = new double[W];
        var penaltyOut = new double[W];
        var scored = new int[W];
        if (pairing is not null) pairing.HasOptimal = true;
        MechanismKernel.ForEachAgent(W, 8L * reports.AnswerCount, compute, progress, cancellationToken, () => new TriedPeers(pairing, W), (i, tried) =>
        {
            var r = SplitMix64.For(seed, (ulong)i);
            var tasksI = reports.TasksOf(i);
            var labelsI = reports.LabelsBy(i);
            var taskWorkers = reports.TaskWorkers;
            var taskLabels = reports.TaskLabels;
            int n = 0;
            // Sums of S terms; with every weight 1 they hold exact integers, as counts would.
            double bonus = 0, penalty = 0, best = 0;
            for (int p = 0; p < tasksI.Length; p++)
            {
                int b = tasksI[p];
                int a = MechanismKernel.PickOtherAnswer(reports, b, i, ref r);
                if (a < 0) continue;
                int j = taskWorkers[a];
                int pi = MechanismKernel.PickPosition(tasksI, b, b, ref r);
                if (pi < 0) continue;
                int qj = MechanismKernel.PickPosition(reports.TasksOf(j), b, tasksI[pi], ref r);
                if (qj < 0) continue;
                n++;
                int row = labelsI[p] * K;
                double w = 1;
                if (pairing is not null)
                {
                    w = pairing.Weight(reports, i, p);
                    int chances = 1;
                    tried.Clear();
                    tried.Add(j);
                    pairing.Paired(i, j);
                    while (score[row + taskLabels[a]] == 0 && pairing.MayPairAgain(i, j, chances))
                    {
                        int next = MechanismKernel.PickNewPeer(reports, b, i, tried, ref r);
                        if (next < 0) break;
                        int j2 = taskWorkers[next];
                        tried.Add(j2);
                        int q2 = MechanismKernel.PickPosition(reports.TasksOf(j2), b, tasksI[pi], ref r);
                        if (q2 < 0) continue;   // no admissible penalty task: j2 cannot be paired on b
                        a = next; j = j2; qj = q2; chances++;
                        pairing.Paired(i, j, again: true);
                    }
                }
                double pen = score[labelsI[pi] * K + reports.LabelsBy(j)[qj]];
                bonus += w * score[row + taskLabels[a]];
                penalty += w * pen;
                best += w * (1 - pen);
            }
            if (n >= minTasks)
            {
                bonusOut[i] = bonus / n;
                penaltyOut[i] = penalty / n;
                pay[i] = (bonus - penalty) / n;
                scored[i] = n;
                if (pairing is not null) pairing.Optimal[i] = best / n;
            }
            else pairing?.Discard(i);
        });
        return PaymentResult.BonusPenalty(Name, reports, pay, scored, bonusOut, penaltyOut);
    }
}
