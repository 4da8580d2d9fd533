using System.Collections.Immutable;
using Tally.Core;
using Tally.Mechanisms.Reputation;

namespace Tally.Mechanisms;

/// <summary>Options of <see cref="Reform"/> (the wrapped mechanism keeps its own options, its seed included).</summary>
public sealed record ReformOptions
{
    /// <summary>k ≥ 1, the maximum number of pairing chances per report; default 2 (the paper's smallest k &gt; 1). k = 1 is the wrapped mechanism.</summary>
    public int Chances { get; init; } = 2;

    /// <summary>β(t), multiplying each report's reward; default <see cref="NoDecay"/> (β = 1; reports without a time always get β = 1).</summary>
    public IDecayFunction Decay { get; init; } = new NoDecay();

    /// <summary>Checks the options.</summary>
    /// <exception cref="InvalidOptionException">An option is out of range.</exception>
    public void Validate()
    {
        Check.AtLeast(Chances, 1, nameof(Chances));
        Check.NotNull(Decay, nameof(Decay));
    }
}

/// <summary>What <see cref="Reform"/> paid in one round.</summary>
public sealed record ReformResult
{
    /// <summary>Round index.</summary>
    public required int Round { get; init; }
    /// <summary><c>reform:</c> and the wrapped mechanism's name.</summary>
    public required string Mechanism { get; init; }
    /// <summary>Agents, in the worker order of <see cref="Reputation.Round.ToLabelMatrix"/>.</summary>
    public required ImmutableArray<string> Agents { get; init; }
    /// <summary>Per-agent payment: the wrapped mechanism's, its rewards taken at the last pairing and weighted by β(t); 0 if unscored.</summary>
    public required ImmutableArray<double> Payments { get; init; }
    /// <summary>Per-agent number of scored reports (the wrapped mechanism's TasksScored; 0 = unscored).</summary>
    public required ImmutableArray<int> TasksScored { get; init; }
    /// <summary>
    /// Per-agent optimal payment M* (γ-fairness, REFORM Definition 2): mean over scored reports of β(t) times what each
    /// report would have earned had its (last) pairing matched (for RPTSC α(1/f − 1) with the same f); 0 if unscored.
    /// M* − payment is the unfair penalty that extra chances are meant to shrink. Null for mechanisms that pay pairs of
    /// agents or recovered labels rather than per-report peer factors (DMI, TVD-MI, RMIF), where Definition 2's
    /// "reward when the report matches" has no counterpart.
    /// </summary>
    public required ImmutableArray<double>? Optimal { get; init; }
    /// <summary>Per-agent total number of pairings over its scored reports (peer slots for DMI; 0 for RMIF-DS, which draws no peer).</summary>
    public required ImmutableArray<int> ChancesUsed { get; init; }
    /// <summary>Per-agent number of those pairings that were extra chances (a re-pairing after a mismatch).</summary>
    public required ImmutableArray<int> ExtraChances { get; init; }
    /// <summary>Per-agent peers it was paired with, in order (all chances of all scored reports; empty if unscored).</summary>
    public required ImmutableArray<ImmutableArray<string>> Peers { get; init; }
    /// <summary>Reports ignored because they arrived after their task's deadline.</summary>
    public required int LateReports { get; init; }
    /// <summary>The plain payment result (the same payments as a <see cref="PaymentResult"/>, mechanism <see cref="Mechanism"/>).</summary>
    public required PaymentResult Result { get; init; }
}

/// <summary>
/// REFORM (Kanaparthy, Damle and Gujar, "REFORM: Reputation based fair and temporal reward framework for
/// crowdsourcing", 2021, Framework 2 / Algorithm 3) over any of Tally's peer-based mechanisms — "REFORM ... can adopt
/// the reward scheme of any existing PBM". The wrapped mechanism runs its own per-agent loop; whenever a pairing did
/// not match (each mechanism's docs say what that means for it), the agent's reputation is strictly greater than this
/// peer's and fewer than k chances were used, the loop pairs it again with a new peer (peers are distinct across a
/// report's chances; when none is left the mismatch stands). The reward is that of the last pairing, times β(t_i):
/// per report for the mechanisms that pay a mean of per-report rewards (OA, DG, CA, RPTSC), and as the mean β of the
/// agent's on-time reports on the whole payment for the others (DMI, TVD-MI, RMIF), whose payments are not sums over
/// reports. Every mechanism's range contains 0, so β ∈ [0, 1] keeps payments in it.
/// Reputations are those of the model as of the previous round, compared through <see cref="IReputationModel.Key"/>
/// (for TERM, ψ: Ω underflows to 0 below ψ ≈ −13 and would tie distinct agents). The random choices are the wrapped
/// mechanism's, from its <see cref="MechanismOptions.Seed"/>; re-pairing draws follow them on the agent's stream, so
/// with k = 1 (or whenever no re-pairing happens) and no decay the payments equal the wrapped mechanism's
/// <see cref="IPeerPredictionMechanism.Pay"/> on <see cref="Round.ToLabelMatrix"/>, bit for bit.
/// </summary>
public sealed class Reform
{
    private readonly IPairedMechanism _paired;

    /// <summary>REFORM over <paramref name="mechanism"/> (default: RPTSC with its defaults).</summary>
    /// <exception cref="ArgumentException">The mechanism is not one of Tally's peer-based mechanisms.</exception>
    public Reform(IPeerPredictionMechanism? mechanism = null, ReformOptions? options = null)
    {
        Mechanism = mechanism ?? new Rptsc();
        _paired = Mechanism as IPairedMechanism
            ?? throw new ArgumentException($"REFORM wraps Tally's peer-based mechanisms; '{Mechanism.Name}' is not one.", nameof(mechanism));
        Options = options ?? new ReformOptions();
    }

    /// <summary>Whether <paramref name="mechanism"/> can be wrapped.</summary>
    public static bool CanWrap(IPeerPredictionMechanism mechanism) => mechanism is IPairedMechanism;

    /// <summary>The wrapped mechanism.</summary>
    public IPeerPredictionMechanism Mechanism { get; }

    /// <summary>The options in use.</summary>
    public ReformOptions Options { get; }

    /// <summary><c>reform:</c> and the wrapped mechanism's name.</summary>
    public string Name => "reform:" + Mechanism.Name;

    /// <summary>The same framework with the wrapped mechanism's seed set to <paramref name="seed"/>.</summary>
    public Reform WithSeed(int seed) => new(Mechanism.WithSeed(seed), Options);

    /// <summary>Pays one round; <paramref name="reputation"/> is only read and must not have seen this round or a later one.</summary>
    /// <exception cref="InvalidOptionException">An option of REFORM or of the wrapped mechanism is out of range.</exception>
    public ReformResult Pay(Round round, IReputationModel reputation, ComputeOptions? compute = null,
        IProgress<WorkProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(round);
        ArgumentNullException.ThrowIfNull(reputation);
        Options.Validate();
        // Reputations must be those of earlier rounds only: a model that already learned from this round would let
        // the round's own reports decide who gets extra chances on it.
        if (reputation.LastRound is int last && last >= round.Index)
            throw new ArgumentException($"The reputation model has already seen round {last} ≥ {round.Index}.", nameof(reputation));
        var reports = round.ToLabelMatrix();
        var agents = round.Agents();
        int W = reports.WorkerCount;
        // Keys read once up front: the model is as of the previous round and is never touched by the workers.
        var keys = new double[W];
        for (int i = 0; i < W; i++) keys[i] = reputation.Key(agents[i]);
        var beta = Weights(round, reports, agents, out bool allOne);
        var pairing = new Pairing(Options.Chances, keys, allOne || !_paired.PaysPerReport ? null : beta);
        var paid = _paired.Pay(reports, pairing, compute, progress, cancellationToken);
        var payments = paid.Payments;
        if (!allOne && !_paired.PaysPerReport)
        {
            // The mean β of each agent's on-time reports, on the whole payment (no per-report rewards to weigh).
            var weighted = new double[W];
            var offsets = reports.WorkerOffsets;
            for (int i = 0; i < W; i++)
            {
                if (!paid.IsScored(i)) continue;
                double sum = 0;
                for (int q = offsets[i]; q < offsets[i + 1]; q++) sum += beta[q];
                weighted[i] = payments[i] * (sum / (offsets[i + 1] - offsets[i]));
            }
            payments = PaymentResult.Wrap(weighted);
        }
        var result = paid with { Mechanism = Name, Payments = payments };
        var peers = new ImmutableArray<string>[W];
        for (int i = 0; i < W; i++)
        {
            var list = pairing.PeersOf(i);
            var names = new string[list.Count];
            for (int q = 0; q < names.Length; q++) names[q] = agents[list[q]];
            peers[i] = PaymentResult.Wrap(names);
        }
        return new ReformResult
        {
            Round = round.Index,
            Mechanism = Name,
            Agents = agents,
            Payments = result.Payments,
            TasksScored = result.TasksScored,
            Optimal = pairing.HasOptimal ? PaymentResult.Wrap((double[])pairing.Optimal.Clone()) : null,
            ChancesUsed = PaymentResult.Wrap(pairing.ChancesUsed),
            ExtraChances = PaymentResult.Wrap(pairing.Repairings),
            Peers = PaymentResult.Wrap(peers),
            LateReports = round.LateCount,
            Result = result,
        };
    }

    /// <summary>β(t) of every on-time report, by worker-side answer position of <paramref name="reports"/>.</summary>
    private double[] Weights(Round round, LabelMatrix reports, ImmutableArray<string> agents, out bool allOne)
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < agents.Length; i++) index[agents[i]] = i;
        var beta = new double[reports.AnswerCount];
        var offsets = reports.WorkerOffsets;
        allOne = true;
        foreach (var r in round.OnTimeReports())
        {
            double b = Options.Decay.Factor(r.Seconds);
            if (!double.IsFinite(b) || b < 0 || b > 1) throw new InvalidOperationException("The decay function must return a factor in [0, 1].");
            int i = index[r.Agent];
            // A round holds one report per (agent, task), so the task's position among the agent's sorted tasks is unique.
            int p = reports.TasksOf(i).BinarySearch(r.Task);
            beta[offsets[i] + p] = b;
            if (b != 1) allOne = false;
        }
        return beta;
    }
}
