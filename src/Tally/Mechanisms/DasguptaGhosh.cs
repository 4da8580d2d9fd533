using System.Collections.Immutable;
using Tally.Core;

namespace Tally.Mechanisms;

/// <summary>Options of <see cref="DasguptaGhosh"/>.</summary>
public sealed record DasguptaGhoshOptions : MechanismOptions
{
    /// <summary>
    /// d, the most penalty tasks drawn for each of the two agents (the paper's disjoint sets of d tasks); default 50.
    /// Larger d lowers the variance of the penalty at a cost linear in d; if the agents' other tasks do not allow d
    /// each, they are shared out alternately so both sets stay as large as possible.
    /// </summary>
    public int PenaltyTasks { get; init; } = 50;

    /// <summary>An agent is scored only if at least this many of its tasks could serve as a bonus task; default 1.</summary>
    public int MinTasks { get; init; } = 1;

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        Check.AtLeast(PenaltyTasks, 1, nameof(PenaltyTasks));
        Check.AtLeast(MinTasks, 1, nameof(MinTasks));
    }

    /// <inheritdoc />
    public override IPeerPredictionMechanism CreateMechanism() => new DasguptaGhosh(this);
}

/// <summary>
/// Dasgupta-Ghosh multi-task mechanism: for each of agent i's tasks b (the bonus task), a peer j who also answered b is
/// drawn, then two disjoint random sets of other tasks, S_i from i's tasks and S_j from j's (both avoiding b); i earns
/// 1[r_i(b) = r_j(b)] − Σ_k f_i(k) f_j(k), where f_i(k) is the share of i's reports on S_i equal to k. The penalty is
/// the chance that i and j agree on unrelated tasks, so blind agreement (constant or random reports) earns 0 in
/// expectation while informed agreement earns more. Payment = average over i's bonus tasks, range [−1, 1].
/// A. Dasgupta and A. Ghosh, "Crowdsourced judgement elicitation with endogenous proficiency", WWW 2013
/// (their binary mechanism, whose penalty is f̄_i f̄_j + (1 − f̄_i)(1 − f̄_j)); for K classes Tally uses the sum over
/// classes above, which reduces to it for K = 2 (Shnayder et al., EC 2016, analyse this extension and show it stays
/// strongly truthful only for some signal distributions; <see cref="CorrelatedAgreement"/> fixes that).
/// TasksScored = bonus tasks scored; Breakdown: <c>bonus</c> (agreement rate) and <c>penalty</c> (mean penalty).
/// Under <see cref="Reform"/>: a report "did not match" when it differs from its peer's on the bonus task (the bonus
/// term is 0); a new peer j′ is drawn among b's other agents and both penalty sets are drawn afresh for (i, j′) (they
/// are built jointly, alternately); a candidate whose sets come out empty cannot be paired and is passed over without
/// using a chance. M* = 1 − penalty, the reward had the reports agreed.
/// </summary>
public sealed class DasguptaGhosh(DasguptaGhoshOptions? options = null) : PeerPredictionMechanism<DasguptaGhoshOptions>(options ?? new DasguptaGhoshOptions())
{
    /// <inheritdoc />
    public override string Name => "dg";

    private protected override bool PaysPerReport => true;

    private sealed class Scratch(int tasks, int maxDegree, int k, Pairing? pairing, int workers)
    {
        public readonly TriedPeers Tried = new(pairing, workers);
        public readonly int[] Mark = new int[tasks];
        public int Stamp;
        public readonly int[] PermI = new int[maxDegree];
        public readonly int[] PermJ = new int[maxDegree];
        public readonly int[] Fi = new int[k];
        public readonly int[] Fj = new int[k];
    }

    /// <inheritdoc />
    private protected override PaymentResult Pay(LabelMatrix reports, Pairing? pairing, ComputeOptions? compute,
        IProgress<WorkProgress>? progress, CancellationToken cancellationToken)
    {
        MechanismKernel.Check(reports, Options, compute, Name);
        ulong seed = Seeding.Base(Options.Seed);
        int W = reports.WorkerCount, T = reports.TaskCount, K = reports.ClassCount;
        int d = Options.PenaltyTasks, minTasks = Options.MinTasks;
        int maxDeg = MechanismKernel.MaxWorkerDegree(reports);
        var pay = new double[W];
        var bonusOut = new double[W];
        var penaltyOut = new double[W];
        var scored = new int[W];
        if (pairing is not null) pairing.HasOptimal = true;
        long work = (long)reports.AnswerCount * (2L * Math.Min(d, maxDeg) + maxDeg + 4);
        MechanismKernel.ForEachAgent(W, work, compute, progress, cancellationToken, () => new Scratch(T, maxDeg, K, pairing, W), (i, s) =>
        {
            var r = SplitMix64.For(seed, (ulong)i);
            var tasksI = reports.TasksOf(i);
            var labelsI = reports.LabelsBy(i);
            var taskWorkers = reports.TaskWorkers;
            var taskLabels = reports.TaskLabels;
            // A fixed permutation buffer for i: partial Fisher-Yates leaves it a permutation, so it needs no reset.
            for (int p = 0; p < tasksI.Length; p++) s.PermI[p] = p;
            int n = 0;
            double bonusSum = 0, penaltySum = 0, best = 0;
            for (int p = 0; p < tasksI.Length; p++)
            {
                int b = tasksI[p];
                int a = MechanismKernel.PickOtherAnswer(reports, b, i, ref r);
                if (a < 0) continue;
                int j = taskWorkers[a];
                if (!Penalty(reports, i, b, j, d, K, s, ref r, out double penalty)) continue;
                n++;
                double w = 1;
                if (pairing is not null)
                {
                    w = pairing.Weight(reports, i, p);
                    int chances = 1;
                    s.Tried.Clear();
                    s.Tried.Add(j);
                    pairing.Paired(i, j);
                    while (taskLabels[a] != labelsI[p] && pairing.MayPairAgain(i, j, chances))
                    {
                        int next = MechanismKernel.PickNewPeer(reports, b, i, s.Tried, ref r);
                        if (next < 0) break;
                        int j2 = taskWorkers[next];
                        s.Tried.Add(j2);
                        if (!Penalty(reports, i, b, j2, d, K, s, ref r, out double penalty2)) continue;   // cannot be paired on b
                        a = next; j = j2; penalty = penalty2; chances++;
                        pairing.Paired(i, j, again: true);
                    }
                }
                if (taskLabels[a] == labelsI[p]) bonusSum += w;
                penaltySum += w * penalty;
                best += w * (1 - penalty);
            }
            if (n >= minTasks)
            {
                bonusOut[i] = bonusSum / n;
                penaltyOut[i] = penaltySum / n;
                pay[i] = bonusOut[i] - penaltyOut[i];
                scored[i] = n;
                if (pairing is not null) pairing.Optimal[i] = best / n;
            }
            else pairing?.Discard(i);
        });
        return PaymentResult.BonusPenalty(Name, reports, pay, scored, bonusOut, penaltyOut);
    }

    /// <summary>
    /// The penalty Σ_k f_i(k) f_j(k) of bonus task <paramref name="b"/> for agents i and j: two disjoint sets of up to d
    /// other tasks, drawn alternately from i's and j's tasks (both avoiding b). False if either set is empty.
    /// </summary>
    private static bool Penalty(LabelMatrix reports, int i, int b, int j, int d, int k, Scratch s, ref SplitMix64 r, out double penalty)
    {
        var tasksI = reports.TasksOf(i);
        var labelsI = reports.LabelsBy(i);
        var tasksJ = reports.TasksOf(j);
        var labelsJ = reports.LabelsBy(j);
        int nI = tasksI.Length, nJ = tasksJ.Length;
        // When j has many more tasks than can be marked (b and at most 2d picks), rejection sampling of its
        // positions avoids an O(deg j) buffer reset per bonus task; otherwise shuffle a fresh permutation.
        bool sparseJ = nJ >= 4 * (d + 1);
        if (!sparseJ) for (int q = 0; q < nJ; q++) s.PermJ[q] = q;
        int stamp = ++s.Stamp;
        s.Mark[b] = stamp;
        Array.Clear(s.Fi);
        Array.Clear(s.Fj);
        // Alternate picks keep the two sets disjoint and as balanced as the assignments allow.
        int ci = 0, cj = 0, nextI = 0, nextJ = 0;
        bool iOpen = true, jOpen = true;
        while (iOpen || jOpen)
        {
            if (iOpen)
            {
                int pos = ci < d ? TakeNext(s.PermI, nI, ref nextI, tasksI, s.Mark, stamp, ref r) : -1;
                if (pos < 0) iOpen = false;
                else { s.Mark[tasksI[pos]] = stamp; s.Fi[labelsI[pos]]++; ci++; }
            }
            if (jOpen)
            {
                int pos = cj >= d ? -1
                    : sparseJ ? TakeRandom(nJ, tasksJ, s.Mark, stamp, ref r)
                    : TakeNext(s.PermJ, nJ, ref nextJ, tasksJ, s.Mark, stamp, ref r);
                if (pos < 0) jOpen = false;
                else { s.Mark[tasksJ[pos]] = stamp; s.Fj[labelsJ[pos]]++; cj++; }
            }
        }
        penalty = 0;
        if (ci == 0 || cj == 0) return false;
        long agree = 0;
        for (int c = 0; c < k; c++) agree += (long)s.Fi[c] * s.Fj[c];
        penalty = (double)agree / ((double)ci * cj);
        return true;
    }

    /// <summary>
    /// A uniformly chosen position whose task is not marked, by rejection: fewer than half of the positions can be
    /// marked when this is used, so 64 failures in a row (probability below 2⁻⁶⁴) only happen if duplicate answers
    /// fill the list with marked tasks, and then the list counts as used up.
    /// </summary>
    private static int TakeRandom(int n, ReadOnlySpan<int> tasks, int[] mark, int stamp, ref SplitMix64 r)
    {
        for (int tries = 0; tries < 64; tries++)
        {
            int pos = r.Next(n);
            if (mark[tasks[pos]] != stamp) return pos;
        }
        return -1;
    }

    /// <summary>
    /// Next position of a uniformly shuffled order of <paramref name="perm"/>[0..n) whose task is not marked
    /// (partial Fisher-Yates from <paramref name="next"/>), or −1 when the list is used up.
    /// </summary>
    private static int TakeNext(int[] perm, int n, ref int next, ReadOnlySpan<int> tasks, int[] mark, int stamp, ref SplitMix64 r)
    {
        while (next < n)
        {
            int k = next + r.Next(n - next);
            (perm[next], perm[k]) = (perm[k], perm[next]);
            int pos = perm[next++];
            if (mark[tasks[pos]] != stamp) return pos;
        }
        return -1;
    }
}
