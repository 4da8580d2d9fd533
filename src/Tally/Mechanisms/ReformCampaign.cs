using System.Text.Json;
using Tally.Mechanisms.Reputation;

namespace Tally.Mechanisms;

/// <summary>
/// A REFORM campaign across rounds: the reputation model (the agents' history), the payment rule and per-agent totals.
/// Each <see cref="Play"/> pays the round with the reputations as of the previous round, then draws the round's TERM
/// evidence (a fresh peer and f per on-time report, <see cref="RoundEvidence.Draw"/>) from the same random source and
/// updates the model. The whole state round-trips through JSON exactly (doubles are written shortest-round-trip), so a
/// saved and reloaded campaign pays future rounds identically for the same seed.
/// </summary>
public sealed class Campaign
{
    private readonly SortedDictionary<string, double> _totals;

    /// <summary>Starts a campaign (default: TERM with its defaults, REFORM with its defaults).</summary>
    public Campaign(IReputationModel? reputation = null, ReformOptions? options = null)
        : this(reputation ?? new TermReputation(), options, new SortedDictionary<string, double>(StringComparer.Ordinal)) { }

    private Campaign(IReputationModel reputation, ReformOptions? options, SortedDictionary<string, double> totals)
    {
        Reputation = reputation;
        Reform = new Reform(options);
        _totals = totals;
    }

    /// <summary>The reputation model (mutated by <see cref="Play"/>).</summary>
    public IReputationModel Reputation { get; }
    /// <summary>The payment rule.</summary>
    public Reform Reform { get; }
    /// <summary>Sum of each agent's payments over all rounds played.</summary>
    public IReadOnlyDictionary<string, double> TotalPayments => _totals;

    /// <summary>Pays <paramref name="round"/> and then learns from it; its index must exceed the last one played.</summary>
    public ReformResult Play(Round round, Random rng)
    {
        ArgumentNullException.ThrowIfNull(round);
        ArgumentNullException.ThrowIfNull(rng);
        if (Reputation.LastRound is int last && round.Index <= last)
            throw new ArgumentException($"Round {round.Index} does not follow round {last}.", nameof(round));
        var result = Reform.Pay(round, Reputation, rng);
        Reputation.Update(RoundEvidence.Draw(round, rng));
        for (int i = 0; i < result.Agents.Length; i++)
            _totals[result.Agents[i]] = _totals.GetValueOrDefault(result.Agents[i]) + result.Payments[i];
        return result;
    }

    /// <summary>The serialisable state.</summary>
    public CampaignState State()
    {
        var o = Reform.Options;
        var (kind, parameter) = o.Decay switch
        {
            NoDecay => ("none", 0.0),
            ExponentialDecay e => ("exponential", e.TimeConstant),
            LinearDecay l => ("linear", l.Horizon),
            _ => throw new NotSupportedException("Only the built-in decay functions can be saved."),
        };
        return new CampaignState
        {
            Chances = o.Chances,
            Alpha = o.Rptsc.Alpha,
            SampleSize = o.Rptsc.SampleSize,
            MinTasks = o.Rptsc.MinTasks,
            Decay = kind,
            DecayParameter = parameter,
            Reputation = Reputation.Save(),
            TotalPayments = new SortedDictionary<string, double>(_totals, StringComparer.Ordinal),
        };
    }

    /// <summary>Rebuilds a campaign from <paramref name="state"/>.</summary>
    public static Campaign FromState(CampaignState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Version != 1) throw new InvalidDataException($"Unsupported campaign state version {state.Version}.");
        IDecayFunction decay = state.Decay switch
        {
            "none" => new NoDecay(),
            "exponential" => new ExponentialDecay(state.DecayParameter),
            "linear" => new LinearDecay(state.DecayParameter),
            _ => throw new InvalidDataException($"Unknown decay '{state.Decay}'."),
        };
        var options = new ReformOptions
        {
            Chances = state.Chances,
            Decay = decay,
            Rptsc = new RptscOptions { Alpha = state.Alpha, SampleSize = state.SampleSize, MinTasks = state.MinTasks },
        };
        return new Campaign(state.Reputation.Restore(), options,
            new SortedDictionary<string, double>(state.TotalPayments, StringComparer.Ordinal));
    }

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>The state as JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(State(), Json);

    /// <summary>A campaign from <see cref="ToJson"/>'s output.</summary>
    public static Campaign FromJson(string json) =>
        FromState(JsonSerializer.Deserialize<CampaignState>(json, Json) ?? throw new InvalidDataException("Empty campaign state."));

    /// <summary>
    /// Saves crash-safely (<see cref="Tally.Core.AtomicFile"/>): a crash leaves either the old or the new state, never a torn file.
    /// </summary>
    public void Save(string path)
    {
        var state = State();
        Tally.Core.AtomicFile.Write(path, s => JsonSerializer.Serialize(s, state, Json));
    }

    /// <summary>Loads a campaign saved with <see cref="Save"/>.</summary>
    public static Campaign Load(string path) => FromJson(File.ReadAllText(path));
}

/// <summary>The saved state of a <see cref="Campaign"/> (REFORM options, reputation model, payment totals).</summary>
public sealed record CampaignState
{
    /// <summary>Format version; 1.</summary>
    public int Version { get; init; } = 1;
    /// <summary><see cref="ReformOptions.Chances"/>.</summary>
    public int Chances { get; init; }
    /// <summary><see cref="RptscOptions.Alpha"/>.</summary>
    public double Alpha { get; init; }
    /// <summary><see cref="RptscOptions.SampleSize"/>.</summary>
    public int SampleSize { get; init; }
    /// <summary><see cref="RptscOptions.MinTasks"/>.</summary>
    public int MinTasks { get; init; }
    /// <summary>Decay kind: <c>none</c>, <c>exponential</c> or <c>linear</c>.</summary>
    public string Decay { get; init; } = "none";
    /// <summary>Time constant or horizon of the decay, in seconds (unused for <c>none</c>).</summary>
    public double DecayParameter { get; init; }
    /// <summary>The reputation model's state.</summary>
    public required ReputationState Reputation { get; init; }
    /// <summary>Per-agent payment totals.</summary>
    public SortedDictionary<string, double> TotalPayments { get; init; } = new(StringComparer.Ordinal);
}
