using System.Collections.Immutable;
using Tally.Mechanisms.Reputation;

namespace Tally.Mechanisms;

/// <summary>Options of <see cref="Reform"/>.</summary>
public sealed record ReformOptions
{
    /// <summary>The wrapped reward scheme (RPTSC: α, sample size for f, minimum tasks); default RPTSC's defaults.</summary>
    public RptscOptions Rptsc { get; init; } = new();

    /// <summary>k ≥ 1, the maximum number of pairing chances per report; default 2 (the paper's smallest k &gt; 1). k = 1 is plain RPTSC.</summary>
    public int Chances { get; init; } = 2;

    /// <summary>β(t), multiplying each report's reward; default <see cref="NoDecay"/> (β = 1; reports without a time always get β = 1).</summary>
    public IDecayFunction Decay { get; init; } = new NoDecay();
}

/// <summary>What <see cref="Reform"/> paid in one round.</summary>
public sealed record ReformResult
{
    /// <summary>Round index.</summary>
    public required int Round { get; init; }
    /// <summary>Agents, in the worker order of <see cref="Reputation.Round.ToLabelMatrix"/>.</summary>
    public required ImmutableArray<string> Agents { get; init; }
    /// <summary>Per-agent payment: mean over scored reports of β(t)·(RPTSC reward at the last chance used); 0 if unscored.</summary>
    public required ImmutableArray<double> Payments { get; init; }
    /// <summary>Per-agent number of scored reports (0 = unscored).</summary>
    public required ImmutableArray<int> TasksScored { get; init; }
    /// <summary>
    /// Per-agent optimal payment M* (γ-fairness, REFORM Definition 2): mean over scored reports of β(t)·α(1/f(y_i) − 1),
    /// what each report would have earned had its (last) pairing matched, with the same f; 0 if unscored.
    /// M* − payment is the unfair penalty that extra chances are meant to shrink.
    /// </summary>
    public required ImmutableArray<double> Optimal { get; init; }
    /// <summary>Per-agent total number of pairing chances used over its scored reports.</summary>
    public required ImmutableArray<int> ChancesUsed { get; init; }
    /// <summary>Per-agent peers it was paired with, in order (all chances of all scored reports; empty if unscored).</summary>
    public required ImmutableArray<ImmutableArray<string>> Peers { get; init; }
    /// <summary>Reports ignored because they arrived after their task's deadline.</summary>
    public required int LateReports { get; init; }
    /// <summary>The plain payment result (the same payments as a <see cref="PaymentResult"/>, mechanism <c>reform</c>).</summary>
    public required PaymentResult Result { get; init; }
}

/// <summary>
/// REFORM (Kanaparthy, Damle and Gujar, "REFORM: Reputation based fair and temporal reward framework for
/// crowdsourcing", 2021, Framework 2 / Algorithm 3) over RPTSC's reward α(1[y_i = y_p]/f(y_i) − 1): each on-time
/// report is paired with a random peer on its task; if the reports differ, the agent's reputation is strictly greater
/// than this peer's, and fewer than k chances were used, it is paired again with a new peer (peers are distinct across
/// chances; when none is left the mismatch stands). The reward is that of the last pairing times β(t_i).
/// Reputations are those of the model as of the previous round, compared through <see cref="IReputationModel.Key"/>
/// (for TERM, ψ: Ω underflows to 0 below ψ ≈ −13 and would tie distinct agents). f is drawn once per report exactly
/// as <see cref="Rptsc"/> does, and the first peer and sample consume the random stream exactly as Rptsc does, so with
/// k = 1 and no decay the payments equal <see cref="Rptsc.Pay"/> on <see cref="Round.ToLabelMatrix"/> for the same seed.
/// </summary>
public sealed class Reform(ReformOptions? options = null)
{
    /// <summary>The options in use.</summary>
    public ReformOptions Options { get; } = options ?? new ReformOptions();

    /// <summary>Pays one round; <paramref name="reputation"/> is only read and must not have seen this round or a later one.</summary>
    public ReformResult Pay(Round round, IReputationModel reputation, Random rng)
    {
        ArgumentNullException.ThrowIfNull(round);
        ArgumentNullException.ThrowIfNull(reputation);
        ArgumentNullException.ThrowIfNull(Options.Decay);
        // Reputations must be those of earlier rounds only: a model that already learned from this round would let
        // the round's own reports decide who gets extra chances on it.
        if (reputation.LastRound is int last && last >= round.Index)
            throw new ArgumentException($"The reputation model has already seen round {last} ≥ {round.Index}.", nameof(reputation));
        var reports = round.ToLabelMatrix();
        MechanismKernel.Check(reports, rng);
        double alpha = Options.Rptsc.Alpha;
        int S = Options.Rptsc.SampleSize, k = Options.Chances;
        if (!double.IsFinite(alpha) || alpha < 0) throw new ArgumentOutOfRangeException(nameof(RptscOptions.Alpha), "Alpha must be finite and non-negative.");
        if (S < 1) throw new ArgumentOutOfRangeException(nameof(RptscOptions.SampleSize), "SampleSize must be at least 1.");
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(ReformOptions.Chances), "Chances must be at least 1.");
        ulong seed = AgentRng.BaseSeed(rng);
        var agents = round.Agents();
        int W = reports.WorkerCount, T = reports.TaskCount, A = reports.AnswerCount, minTasks = Math.Max(1, Options.Rptsc.MinTasks);
        // Keys read once up front: the model is as of the previous round and is never touched by the workers.
        var keys = new double[W];
        for (int i = 0; i < W; i++) keys[i] = reputation.Key(agents[i]);
        // β per (worker, task), from the on-time reports' times.
        var beta = new Dictionary<(int, int), double>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < W; i++) index[agents[i]] = i;
        foreach (var r in round.OnTimeReports())
        {
            double b = Options.Decay.Factor(r.Seconds);
            if (!double.IsFinite(b) || b < 0) throw new InvalidOperationException("The decay function must return a finite non-negative factor.");
            beta[(index[r.Agent], r.Task)] = b;
        }
        var answerTask = new int[A];
        var offsets = reports.TaskOffsets;
        for (int t = 0; t < T; t++)
            for (int a = offsets[t]; a < offsets[t + 1]; a++) answerTask[a] = t;
        var pay = new double[W];
        var optimal = new double[W];
        var scored = new int[W];
        var chances = new int[W];
        var peers = new ImmutableArray<string>[W];
        int maxTries = 8 * S + 64;
        // Sequential on purpose: the per-agent streams make the order irrelevant, and the per-agent lists stay simple.
        for (int i = 0; i < W; i++)
        {
            var r = AgentRng.For(seed, (ulong)i);
            var tasksI = reports.TasksOf(i);
            var labelsI = reports.LabelsBy(i);
            var taskWorkers = reports.TaskWorkers;
            var taskLabels = reports.TaskLabels;
            var peerList = ImmutableArray.CreateBuilder<string>();
            var used = new List<int>();
            int n = 0, chancesI = 0;
            double sum = 0, best = 0;
            for (int p = 0; p < tasksI.Length; p++)
            {
                int t = tasksI[p], y = labelsI[p];
                int a = MechanismKernel.PickOtherAnswer(reports, t, i, ref r);
                if (a < 0) continue;
                var (drawn, same) = MechanismKernel.SampleOtherReports(ref r, answerTask, taskWorkers, taskLabels, t, i, y, S, maxTries);
                if (drawn == 0) continue;
                n++;
                used.Clear();
                int l = 1;
                used.Add(taskWorkers[a]);
                peerList.Add(agents[taskWorkers[a]]);
                // Algorithm 3: another chance only after a mismatch, with a strictly better reputation, below k chances.
                while (taskLabels[a] != y && l < k && keys[i] > keys[taskWorkers[a]])
                {
                    int next = PickNewPeer(reports, t, i, used, ref r);
                    if (next < 0) break;
                    a = next;
                    l++;
                    used.Add(taskWorkers[a]);
                    peerList.Add(agents[taskWorkers[a]]);
                }
                chancesI += l;
                double matched = alpha * ((drawn + 1.0) / (same + 1.0) - 1);
                double reward = taskLabels[a] == y ? matched : -alpha;
                double b = beta[(i, t)];
                sum += b * reward;
                best += b * matched;
            }
            if (n >= minTasks)
            {
                pay[i] = sum / n;
                optimal[i] = best / n;
                scored[i] = n;
                chances[i] = chancesI;
                peers[i] = peerList.ToImmutable();
            }
            else peers[i] = [];   // unscored: as if never paired, so peers and chances agree
        }
        var result = new PaymentResult
        {
            Mechanism = "reform",
            Reports = reports,
            Payments = PaymentResult.Wrap(pay),
            TasksScored = PaymentResult.Wrap(scored),
            Range = new PaymentRange(-alpha, alpha * S),
        };
        return new ReformResult
        {
            Round = round.Index,
            Agents = agents,
            Payments = result.Payments,
            TasksScored = result.TasksScored,
            Optimal = PaymentResult.Wrap(optimal),
            ChancesUsed = PaymentResult.Wrap(chances),
            Peers = PaymentResult.Wrap(peers),
            LateReports = round.LateCount,
            Result = result,
        };
    }

    /// <summary>Answer id of a uniformly chosen answer to <paramref name="task"/> by an agent neither <paramref name="agent"/> nor in <paramref name="used"/>, or −1.</summary>
    private static int PickNewPeer(Tally.Core.LabelMatrix m, int task, int agent, List<int> used, ref AgentRng rng)
    {
        var offsets = m.TaskOffsets;
        var workers = m.TaskWorkers;
        int start = offsets[task], end = offsets[task + 1], count = 0;
        for (int a = start; a < end; a++) if (workers[a] != agent && !used.Contains(workers[a])) count++;
        if (count == 0) return -1;
        int pick = rng.Next(count);
        for (int a = start; a < end; a++)
            if (workers[a] != agent && !used.Contains(workers[a]) && pick-- == 0) return a;
        return -1;
    }
}
