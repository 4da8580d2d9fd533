using System.Collections.Immutable;
using Tally.Core;

namespace Tally.Mechanisms.Reputation;

/// <summary>
/// One scored report of a round, the evidence a reputation model learns from: whether the agent's report matched a
/// randomly chosen peer's report on the same task, the frequency f(y_i) of its report, and its answer time.
/// </summary>
/// <param name="Agent">Agent name.</param>
/// <param name="Matched">1[y_i = y_p].</param>
/// <param name="Frequency">f(y_i) in (0, 1].</param>
/// <param name="Seconds">Answer time t_i in seconds, or null when unknown (TERM then uses t_i = 1).</param>
public sealed record ReportEvidence(string Agent, bool Matched, double Frequency, double? Seconds);

/// <summary>The evidence of one round (its index and every on-time scored report).</summary>
/// <param name="Index">Round index; rounds must be fed to a model in increasing order.</param>
/// <param name="Reports">Scored reports; an agent may appear once per task it answered.</param>
public sealed record RoundEvidence(int Index, ImmutableArray<ReportEvidence> Reports)
{
    /// <summary>
    /// Draws the evidence of <paramref name="round"/> (late reports excluded): for each on-time report a peer is drawn
    /// uniformly among the other agents' on-time reports on the same task (reports without a peer are skipped), and
    /// f(y_i) = (1 + b)/n where b counts matches of y_i among one report drawn uniformly from each other task with
    /// on-time reports by other agents and n = 1 + the number of such tasks (the agent's own report counts once,
    /// REFORM's (b + 1)/n; so f never vanishes). The draws are sequential, in the round's report order, from
    /// <see cref="Seeding.Random(int, ulong)"/>(<paramref name="seed"/>).
    /// </summary>
    public static RoundEvidence Draw(Round round, int seed)
    {
        ArgumentNullException.ThrowIfNull(round);
        var rng = Seeding.Random(seed);
        var onTime = round.OnTimeReports();
        var byTask = new List<RoundReport>[round.TaskCount];
        for (int t = 0; t < byTask.Length; t++) byTask[t] = [];
        // Where each agent's own reports sit in their tasks' lists (a round holds at most one per agent and task), in
        // task order, so "a uniform report by another agent" is one draw per task, not a scan of the task's reports.
        var agentIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        var own = new List<List<(int Task, int Position)>>();
        var ownPosition = new int[onTime.Length];
        for (int i = 0; i < onTime.Length; i++)
        {
            var r = onTime[i];
            if (!agentIndex.TryGetValue(r.Agent, out int a)) { agentIndex[r.Agent] = a = own.Count; own.Add([]); }
            ownPosition[i] = byTask[r.Task].Count;
            own[a].Add((r.Task, ownPosition[i]));
            byTask[r.Task].Add(r);
        }
        foreach (var l in own) l.Sort();
        RoundReport? Other(int task, int ownPosition)
        {
            var reports = byTask[task];
            int count = reports.Count - (ownPosition >= 0 ? 1 : 0);
            if (count == 0) return null;
            int k = rng.Next(count);
            return reports[ownPosition >= 0 && k >= ownPosition ? k + 1 : k];
        }
        var list = ImmutableArray.CreateBuilder<ReportEvidence>();
        for (int i = 0; i < onTime.Length; i++)
        {
            var r = onTime[i];
            var mine = own[agentIndex[r.Agent]];
            int next = 0;
            int OwnAt(int t)
            {
                while (next < mine.Count && mine[next].Task < t) next++;
                return next < mine.Count && mine[next].Task == t ? mine[next].Position : -1;
            }
            if (Other(r.Task, ownPosition[i]) is not { } peer) continue;
            int n = 1, b = 0;
            for (int t = 0; t < byTask.Length; t++)
            {
                if (t == r.Task || Other(t, OwnAt(t)) is not { } sample) continue;
                n++;
                if (sample.Report == r.Report) b++;
            }
            list.Add(new ReportEvidence(r.Agent, peer.Report == r.Report, (1.0 + b) / n, r.Seconds));
        }
        return new RoundEvidence(round.Index, list.ToImmutable());
    }
}

/// <summary>
/// A reputation model: learns from each round's evidence and ranks agents. REFORM only ever compares agents through
/// <see cref="Key"/>, which must order agents exactly like <see cref="Score"/> but without its loss of resolution.
/// Implementations are not thread-safe for <see cref="Update"/>; reads may run concurrently between updates.
/// </summary>
public interface IReputationModel
{
    /// <summary>Short name (<c>term</c>, <c>beta</c>).</summary>
    string Name { get; }
    /// <summary>Index of the last round learned from, or null before the first.</summary>
    int? LastRound { get; }
    /// <summary>Learns from a round; its index must exceed <see cref="LastRound"/>.</summary>
    void Update(RoundEvidence evidence);
    /// <summary>The agent's reputation score (unknown agents get the prior score).</summary>
    double Score(string agent);
    /// <summary>An order-preserving comparison key: Key(a) &gt; Key(b) ⇔ Score(a) &gt; Score(b) wherever Score resolves the difference.</summary>
    double Key(string agent);
    /// <summary>The full state, enough to rebuild an identical model with <see cref="ReputationState.Restore"/>.</summary>
    ReputationState Save();
}

/// <summary>A serialisable snapshot of a reputation model.</summary>
/// <param name="Model">The model's <see cref="IReputationModel.Name"/>.</param>
/// <param name="Parameters">The model's options, in the order the model documents.</param>
/// <param name="LastRound">Last round learned from.</param>
/// <param name="Agents">Per-agent state, in the order the model documents.</param>
public sealed record ReputationState(string Model, double[] Parameters, int? LastRound, SortedDictionary<string, double[]> Agents)
{
    /// <summary>Rebuilds the model this state was saved from.</summary>
    public IReputationModel Restore() => Model switch
    {
        "term" => TermReputation.FromState(this),
        "beta" => BetaReputation.FromState(this),
        _ => throw new InvalidDataException($"Unknown reputation model '{Model}'."),
    };
}

/// <summary>Options of <see cref="TermReputation"/>.</summary>
public sealed record TermOptions
{
    /// <summary>λ in (0, 1], the per-round discount of older round scores in ψ; default 0.9 (the paper gives no value).</summary>
    public double Lambda { get; init; } = 0.9;
    /// <summary>Gompertz asymptote a &gt; 0; default 1 (paper).</summary>
    public double A { get; init; } = 1;
    /// <summary>Gompertz displacement b &lt; 0; default −1 (paper).</summary>
    public double B { get; init; } = -1;
    /// <summary>Gompertz growth rate c &lt; 0; default −1/2 (paper).</summary>
    public double C { get; init; } = -0.5;
    /// <summary>Answer times below this many seconds are raised to it, so φ stays finite; default 1e-3.</summary>
    public double MinSeconds { get; init; } = 1e-3;

    /// <summary>Checks the options.</summary>
    /// <exception cref="InvalidOptionException">An option is out of range.</exception>
    public void Validate()
    {
        if (!(Lambda > 0 && Lambda <= 1)) throw new InvalidOptionException(nameof(Lambda), $"must lie in (0, 1] (got {NumberFormat.Number(Lambda)})");
        Check.Above(A, 0, nameof(A));
        if (!(B < 0) || !double.IsFinite(B)) throw new InvalidOptionException(nameof(B), $"must be finite and negative (got {NumberFormat.Number(B)})");
        if (!(C < 0) || !double.IsFinite(C)) throw new InvalidOptionException(nameof(C), $"must be finite and negative (got {NumberFormat.Number(C)})");
        Check.Above(MinSeconds, 0, nameof(MinSeconds));
    }
}

/// <summary>
/// TERM, the temporal reputation model of Kanaparthy, Damle and Gujar, "REFORM: Reputation based fair and temporal
/// reward framework for crowdsourcing", 2021 (Algorithm 1, Eqs. 3–5): round score φ_{i,j} = 1[y_i = y_p]/(f(y_i)·t_i),
/// min-max normalised over the round's agents to |φ|_{i,j} = 2(φ − min φ_j)/(max φ_j − min φ_j) − 1 ∈ [−1, 1],
/// cumulative score ψ_{i,j} = Σ_{k ≤ j} λ^(j−k) |φ|_{i,k} and TERM score Ω_{i,j} = G(ψ_{i,j}) = a·exp(b·exp(c·ψ)).
/// Interpretations where the paper is silent: an agent with several reports in a round gets the mean of their φ;
/// if all agents of a round have the same φ the round normalises to 0 (no information); rounds an agent skipped add
/// nothing but still discount its older scores (ψ is kept as ψ at its last round times λ^gap); unknown agents have ψ = 0.
/// The key is ψ itself: G is increasing in ψ (b, c &lt; 0) but Ω underflows to exactly 0 below ψ ≈ −13, so comparing Ω
/// would tie agents whose histories differ.
/// State parameters: [λ, a, b, c, MinSeconds]; per agent: [ψ at its last round, that round].
/// </summary>
public sealed class TermReputation : IReputationModel
{
    private readonly Dictionary<string, (double Psi, int Round)> _agents = new(StringComparer.Ordinal);

    /// <summary>Creates an empty model.</summary>
    public TermReputation(TermOptions? options = null)
    {
        Options = options ?? new TermOptions();
        Options.Validate();
    }

    /// <summary>The options in use.</summary>
    public TermOptions Options { get; }
    /// <inheritdoc />
    public string Name => "term";
    /// <inheritdoc />
    public int? LastRound { get; private set; }

    /// <summary>The Gompertz function G(ψ) = a·exp(b·exp(c·ψ)) with this model's parameters.</summary>
    public double Gompertz(double psi) => Options.A * Math.Exp(Options.B * Math.Exp(Options.C * psi));

    /// <summary>ψ of the agent as of <see cref="LastRound"/> (0 for unknown agents).</summary>
    public double Psi(string agent)
    {
        if (!_agents.TryGetValue(agent, out var s) || LastRound is not int now) return 0;
        return s.Psi * Math.Pow(Options.Lambda, now - s.Round);
    }

    /// <inheritdoc />
    public double Score(string agent) => Gompertz(Psi(agent));
    /// <inheritdoc />
    public double Key(string agent) => Psi(agent);

    /// <inheritdoc />
    public void Update(RoundEvidence evidence)
    {
        ArgumentNullException.ThrowIfNull(evidence);
        if (LastRound is int last && evidence.Index <= last)
            throw new ArgumentException($"Round {evidence.Index} does not follow round {last}.", nameof(evidence));
        var sum = new Dictionary<string, (double Sum, int Count)>(StringComparer.Ordinal);
        foreach (var e in evidence.Reports)
        {
            if (!(e.Frequency > 0) || e.Frequency > 1) throw new ArgumentException("Frequency must lie in (0, 1].", nameof(evidence));
            double t = e.Seconds is double s ? (double.IsNaN(s) ? 1 : Math.Max(s, Options.MinSeconds)) : 1;
            double phi = e.Matched ? 1 / (e.Frequency * t) : 0;
            if (!double.IsFinite(phi)) phi = e.Matched ? double.MaxValue : 0;
            sum[e.Agent] = sum.TryGetValue(e.Agent, out var a) ? (a.Sum + phi, a.Count + 1) : (phi, 1);
        }
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (var (_, a) in sum) { double m = a.Sum / a.Count; min = Math.Min(min, m); max = Math.Max(max, m); }
        foreach (var (agent, a) in sum)
        {
            double m = a.Sum / a.Count;
            // Computed as 2·((m − min)/(max − min)) − 1 so huge φ cannot overflow the width; equal φ carry no information.
            double norm = max > min ? 2 * ((m - min) / (max - min)) - 1 : 0;
            if (!double.IsFinite(norm)) norm = 0;
            double prev = _agents.TryGetValue(agent, out var s) ? s.Psi * Math.Pow(Options.Lambda, evidence.Index - s.Round) : 0;
            _agents[agent] = (prev + norm, evidence.Index);
        }
        LastRound = evidence.Index;
    }

    /// <inheritdoc />
    public ReputationState Save()
    {
        var agents = new SortedDictionary<string, double[]>(StringComparer.Ordinal);
        foreach (var (k, v) in _agents) agents[k] = [v.Psi, v.Round];
        var o = Options;
        return new ReputationState(Name, [o.Lambda, o.A, o.B, o.C, o.MinSeconds], LastRound, agents);
    }

    internal static TermReputation FromState(ReputationState s)
    {
        if (s.Parameters.Length != 5) throw new InvalidDataException("TERM state needs 5 parameters.");
        var m = new TermReputation(new TermOptions { Lambda = s.Parameters[0], A = s.Parameters[1], B = s.Parameters[2], C = s.Parameters[3], MinSeconds = s.Parameters[4] });
        foreach (var (k, v) in s.Agents)
        {
            if (v.Length != 2 || !double.IsFinite(v[0])) throw new InvalidDataException($"Bad TERM state of agent '{k}'.");
            m._agents[k] = (v[0], checked((int)v[1]));
        }
        m.LastRound = s.LastRound;
        return m;
    }
}

/// <summary>
/// Beta reputation baseline: α = 1 + matches, β = 1 + mismatches over all of an agent's scored reports; score = key =
/// the posterior mean α/(α + β) (1/2 for unknown agents). Ignores time and frequency.
/// State parameters: none; per agent: [matches, mismatches].
/// </summary>
public sealed class BetaReputation : IReputationModel
{
    private readonly Dictionary<string, (long Match, long Mismatch)> _agents = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public string Name => "beta";
    /// <inheritdoc />
    public int? LastRound { get; private set; }

    /// <inheritdoc />
    public void Update(RoundEvidence evidence)
    {
        ArgumentNullException.ThrowIfNull(evidence);
        if (LastRound is int last && evidence.Index <= last)
            throw new ArgumentException($"Round {evidence.Index} does not follow round {last}.", nameof(evidence));
        foreach (var e in evidence.Reports)
        {
            var a = _agents.GetValueOrDefault(e.Agent);
            _agents[e.Agent] = e.Matched ? (a.Match + 1, a.Mismatch) : (a.Match, a.Mismatch + 1);
        }
        LastRound = evidence.Index;
    }

    /// <inheritdoc />
    public double Score(string agent)
    {
        var a = _agents.GetValueOrDefault(agent);
        return (1.0 + a.Match) / (2.0 + a.Match + a.Mismatch);
    }

    /// <inheritdoc />
    public double Key(string agent) => Score(agent);

    /// <inheritdoc />
    public ReputationState Save()
    {
        var agents = new SortedDictionary<string, double[]>(StringComparer.Ordinal);
        foreach (var (k, v) in _agents) agents[k] = [v.Match, v.Mismatch];
        return new ReputationState(Name, [], LastRound, agents);
    }

    internal static BetaReputation FromState(ReputationState s)
    {
        var m = new BetaReputation { LastRound = s.LastRound };
        foreach (var (k, v) in s.Agents)
        {
            if (v.Length != 2) throw new InvalidDataException($"Bad beta state of agent '{k}'.");
            m._agents[k] = (checked((long)v[0]), checked((long)v[1]));
        }
        return m;
    }
}
