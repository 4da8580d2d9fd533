using Tally.Core;

namespace Tally.Mechanisms;

/// <summary>
/// The hook through which <see cref="Reform"/> runs a mechanism's own per-agent loop with its re-pairing rule.
/// Every built-in mechanism implements it; its public <see cref="IPeerPredictionMechanism.Pay"/> is this call with no
/// pairing, so "the mechanism" and "REFORM with k = 1" are one code path.
/// </summary>
internal interface IPairedMechanism
{
    /// <summary>
    /// Whether the payment is a mean of per-report rewards (OA, DG, CA, RPTSC), so REFORM's β(t) weighs each report
    /// inside the loop; otherwise (pair- and label-level mechanisms) REFORM scales the agent's payment by the mean β of
    /// its reports.
    /// </summary>
    bool PaysPerReport { get; }

    /// <summary>Pays as <see cref="IPeerPredictionMechanism.Pay"/>; with <paramref name="pairing"/>, the loop asks it before every re-pairing and records every pairing in it.</summary>
    PaymentResult Pay(LabelMatrix reports, Pairing? pairing, ComputeOptions? compute, IProgress<WorkProgress>? progress,
        CancellationToken cancellationToken);
}

/// <summary>
/// REFORM's pairing policy for one <c>Pay</c> call (Kanaparthy, Damle and Gujar, 2021, Algorithm 3) and what the
/// mechanism's loop reports back. When an agent's pairing did not match (each mechanism defines "match" in its docs),
/// the loop asks <see cref="MayPairAgain"/>: yes while fewer than k chances were used and the agent's reputation key
/// is strictly above that peer's. The loop then draws a peer not yet paired with the same report (or pair slot) from
/// the agent's own stream, right after the draws it has made so far; when no untried peer is left the mismatch stands.
/// The reward is that of the last pairing. Nothing here draws random numbers, so a policy that never says yes leaves
/// every stream — and every payment — exactly as the plain mechanism's.
/// Agent <c>i</c>'s slots are written only by the loop body of agent <c>i</c>, so one instance serves all threads.
/// </summary>
internal sealed class Pairing
{
    private readonly double[] _keys;
    private readonly double[]? _weights;
    private readonly List<int>?[] _peers;

    /// <summary>A policy with <paramref name="chances"/> = k, reputation keys by worker and, for per-report mechanisms,
    /// β(t) by worker-side answer position (null = 1 everywhere).</summary>
    public Pairing(int chances, double[] keys, double[]? reportWeights)
    {
        Chances = chances;
        _keys = keys;
        _weights = reportWeights;
        _peers = new List<int>?[keys.Length];
        ChancesUsed = new int[keys.Length];
        Repairings = new int[keys.Length];
        Optimal = new double[keys.Length];
    }

    /// <summary>k, the most pairings per report (per peer slot for DMI).</summary>
    public int Chances { get; }
    /// <summary>Per agent: pairings over its scored reports (peer slots).</summary>
    public int[] ChancesUsed { get; }
    /// <summary>Per agent: the pairings that were extra chances (after a mismatch).</summary>
    public int[] Repairings { get; }
    /// <summary>Per agent: M*, the mean over scored reports of what each would have earned had its last pairing matched (per-report mechanisms only).</summary>
    public double[] Optimal { get; }
    /// <summary>Whether the mechanism filled <see cref="Optimal"/>.</summary>
    public bool HasOptimal { get; set; }

    /// <summary>Algorithm 3's test, after a pairing of <paramref name="agent"/> with <paramref name="peer"/> that did not match, its <paramref name="chancesUsed"/>-th.</summary>
    public bool MayPairAgain(int agent, int peer, int chancesUsed) => chancesUsed < Chances && _keys[agent] > _keys[peer];

    /// <summary>β(t) of the answer at <paramref name="position"/> of <see cref="LabelMatrix.TasksOf"/>(<paramref name="agent"/>).</summary>
    public double Weight(LabelMatrix m, int agent, int position) => _weights is null ? 1 : _weights[m.WorkerOffsets[agent] + position];

    /// <summary>Records one pairing of a scored report (or slot); <paramref name="again"/> for an extra chance.</summary>
    public void Paired(int agent, int peer, bool again = false)
    {
        (_peers[agent] ??= []).Add(peer);
        ChancesUsed[agent]++;
        if (again) Repairings[agent]++;
    }

    /// <summary>Forgets the pairings of an agent that ended up unscored (as if never paired).</summary>
    public void Discard(int agent)
    {
        _peers[agent] = null;
        ChancesUsed[agent] = 0;
        Repairings[agent] = 0;
        Optimal[agent] = 0;
    }

    /// <summary>
    /// Algorithm 3 for a report whose peer factor pays only agreement with the peer's report on the same task (OA,
    /// RPTSC): records the first pairing (answer id <paramref name="answer"/>), then, while the reports differ and
    /// <see cref="MayPairAgain"/>, pairs with an untried other agent on the task. Returns the answer id of the last pairing.
    /// </summary>
    public int OnTask(LabelMatrix m, int agent, int task, int report, int answer, TriedPeers tried, ref SplitMix64 rng)
    {
        var taskWorkers = m.TaskWorkers;
        var taskLabels = m.TaskLabels;
        int peer = taskWorkers[answer], chances = 1;
        tried.Clear();
        tried.Add(peer);
        Paired(agent, peer);
        while (taskLabels[answer] != report && MayPairAgain(agent, peer, chances))
        {
            int next = MechanismKernel.PickNewPeer(m, task, agent, tried, ref rng);
            if (next < 0) break;
            answer = next;
            peer = taskWorkers[answer];
            chances++;
            tried.Add(peer);
            Paired(agent, peer, again: true);
        }
        return answer;
    }

    /// <summary>The peers agent <paramref name="agent"/> was paired with, in order.</summary>
    public IReadOnlyList<int> PeersOf(int agent) => _peers[agent] ?? (IReadOnlyList<int>)[];
}

/// <summary>Per-thread scratch: the peers already tried for the current report (or slot) of a re-pairing loop.</summary>
internal sealed class TriedPeers
{
    private readonly int[] _mark;
    private int _stamp;

    /// <summary>Scratch for <paramref name="workers"/> workers when a pairing is given; with none, an empty one that is never used.</summary>
    public TriedPeers(Pairing? pairing, int workers) => _mark = pairing is null ? [] : new int[workers];

    /// <summary>Starts a new report: nobody tried yet.</summary>
    public void Clear() => _stamp++;

    /// <summary>Marks <paramref name="worker"/> as tried.</summary>
    public void Add(int worker) => _mark[worker] = _stamp;

    /// <summary>Whether <paramref name="worker"/> was tried for the current report.</summary>
    public bool Contains(int worker) => _mark[worker] == _stamp;
}

/// <summary>
/// What every registered peer-prediction mechanism shares: its validated options, its name, and the two ways it is
/// paid — plainly (<see cref="Pay(LabelMatrix, ComputeOptions?, IProgress{WorkProgress}?, CancellationToken)"/>) or
/// under REFORM's pairing policy — both through the mechanism's one loop, so REFORM with no re-pairing is the plain
/// mechanism bit for bit.
/// </summary>
/// <typeparam name="TOptions">The mechanism's options record.</typeparam>
public abstract class PeerPredictionMechanism<TOptions> : IPeerPredictionMechanism, IPairedMechanism where TOptions : MechanismOptions
{
    private protected PeerPredictionMechanism(TOptions options) => Options = options ?? throw new ArgumentNullException(nameof(options));

    /// <summary>The options in use.</summary>
    public TOptions Options { get; }

    MechanismOptions IPeerPredictionMechanism.Options => Options;

    /// <inheritdoc />
    public abstract string Name { get; }

    /// <summary>See <see cref="IPairedMechanism.PaysPerReport"/>.</summary>
    private protected abstract bool PaysPerReport { get; }

    bool IPairedMechanism.PaysPerReport => PaysPerReport;

    /// <inheritdoc />
    public PaymentResult Pay(LabelMatrix reports, ComputeOptions? compute = null, IProgress<WorkProgress>? progress = null,
        CancellationToken cancellationToken = default) => Pay(reports, null, compute, progress, cancellationToken);

    PaymentResult IPairedMechanism.Pay(LabelMatrix reports, Pairing? pairing, ComputeOptions? compute, IProgress<WorkProgress>? progress,
        CancellationToken cancellationToken) => Pay(reports, pairing, compute, progress, cancellationToken);

    /// <summary>The mechanism's loop; <paramref name="pairing"/> (REFORM) is asked before every re-pairing, null for a plain payment.</summary>
    private protected abstract PaymentResult Pay(LabelMatrix reports, Pairing? pairing, ComputeOptions? compute,
        IProgress<WorkProgress>? progress, CancellationToken cancellationToken);
}
