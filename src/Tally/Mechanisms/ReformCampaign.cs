using System.Text.Json;
using System.Text.Json.Serialization;
using Tally.Core;
using Tally.Mechanisms.Reputation;

namespace Tally.Mechanisms;

/// <summary>
/// A REFORM campaign across rounds: the reputation model (the agents' history), the payment rule — REFORM over one
/// wrapped mechanism — and per-agent totals. Each <see cref="Play"/> pays the round with the reputations as of the
/// previous round, then draws the round's TERM evidence (a fresh peer and f per on-time report,
/// <see cref="RoundEvidence.Draw(Round, int)"/>) and updates the model. Both draws come from streams of the campaign
/// seed and the round index (<see cref="RoundSeeds"/>), so replaying a round from the same state reproduces it. The
/// whole state round-trips through JSON exactly (doubles are written shortest-round-trip), the wrapped mechanism's
/// name and options included, so a saved and reloaded campaign pays future rounds identically.
/// </summary>
public sealed class Campaign
{
    private readonly SortedDictionary<string, double> _totals;

    /// <summary>Starts a campaign (default: REFORM with its defaults over RPTSC with its defaults, TERM with its defaults).</summary>
    public Campaign(Reform? reform = null, IReputationModel? reputation = null)
        : this(reform ?? new Reform(), reputation ?? new TermReputation(), new SortedDictionary<string, double>(StringComparer.Ordinal)) { }

    private Campaign(Reform reform, IReputationModel reputation, SortedDictionary<string, double> totals)
    {
        Reputation = reputation;
        Reform = reform;
        _totals = totals;
    }

    /// <summary>The reputation model (mutated by <see cref="Play"/>).</summary>
    public IReputationModel Reputation { get; }
    /// <summary>The payment rule (its wrapped mechanism's seed is replaced by each round's, see <see cref="RoundSeeds"/>).</summary>
    public Reform Reform { get; }
    /// <summary>Sum of each agent's payments over all rounds played.</summary>
    public IReadOnlyDictionary<string, double> TotalPayments => _totals;

    /// <summary>
    /// The seeds of round <paramref name="roundIndex"/> under campaign seed <paramref name="seed"/>: one for the payment
    /// (the wrapped mechanism's seed) and one for TERM's evidence, from <see cref="Seeding.Derive(int, ulong, ulong)"/>.
    /// </summary>
    public static (int Pay, int Evidence) RoundSeeds(int seed, int roundIndex)
    {
        ulong round = unchecked((ulong)(long)roundIndex);
        return (Seeding.Derive(seed, round, 0), Seeding.Derive(seed, round, 1));
    }

    /// <summary>Pays <paramref name="round"/> and then learns from it; its index must exceed the last one played.</summary>
    /// <param name="round">The round.</param>
    /// <param name="seed">The campaign's seed (the same for every round; each round draws from its own streams of it).</param>
    /// <param name="compute">Thread cap for the payment; never changes the result.</param>
    /// <param name="progress">Agents paid.</param>
    /// <param name="cancellationToken">Stops the payment; the campaign is then unchanged.</param>
    public ReformResult Play(Round round, int seed, ComputeOptions? compute = null, IProgress<WorkProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(round);
        if (Reputation.LastRound is int last && round.Index <= last)
            throw new ArgumentException($"Round {round.Index} does not follow round {last}.", nameof(round));
        var (paySeed, evidenceSeed) = RoundSeeds(seed, round.Index);
        var result = Reform.WithSeed(paySeed).Pay(round, Reputation, compute, progress, cancellationToken);
        var evidence = RoundEvidence.Draw(round, evidenceSeed);
        // Nothing is changed before both draws succeeded, so a cancelled round leaves the campaign as it was.
        Reputation.Update(evidence);
        for (int i = 0; i < result.Agents.Length; i++)
            _totals[result.Agents[i]] = _totals.GetValueOrDefault(result.Agents[i]) + result.Payments[i];
        return result;
    }

    /// <summary>The serialisable state.</summary>
    /// <exception cref="NotSupportedException">A custom decay function or mechanism options type that cannot be saved.</exception>
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
        JsonElement options;
        try { options = JsonSerializer.SerializeToElement(Reform.Mechanism.Options, Json); }
        catch (NotSupportedException e) { throw new NotSupportedException($"The options of mechanism '{Reform.Mechanism.Name}' cannot be saved.", e); }
        return new CampaignState
        {
            Mechanism = Reform.Mechanism.Name,
            MechanismOptions = options,
            Chances = o.Chances,
            Decay = kind,
            DecayParameter = parameter,
            Reputation = Reputation.Save(),
            TotalPayments = new SortedDictionary<string, double>(_totals, StringComparer.Ordinal),
        };
    }

    /// <summary>Rebuilds a campaign from <paramref name="state"/> (version 1 states, from before REFORM wrapped other mechanisms, are RPTSC campaigns).</summary>
    /// <exception cref="InvalidDataException">An unknown version, decay or mechanism, or options that do not fit it.</exception>
    public static Campaign FromState(CampaignState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Version is not (1 or 2)) throw new InvalidDataException($"Unsupported campaign state version {state.Version}.");
        IDecayFunction decay = state.Decay switch
        {
            "none" => new NoDecay(),
            "exponential" => new ExponentialDecay(state.DecayParameter),
            "linear" => new LinearDecay(state.DecayParameter),
            _ => throw new InvalidDataException($"Unknown decay '{state.Decay}'."),
        };
        IPeerPredictionMechanism mechanism;
        if (state.Version == 1)
            mechanism = new Rptsc(new RptscOptions { Alpha = state.Alpha, SampleSize = state.SampleSize, MinTasks = state.MinTasks });
        else
        {
            if (state.MechanismOptions is not { ValueKind: JsonValueKind.Object } element)
                throw new InvalidDataException("The campaign state has no mechanism options.");
            MechanismOptions? options;
            try { options = element.Deserialize<MechanismOptions>(Json); }
            catch (Exception e) when (e is JsonException or NotSupportedException)
            {
                throw new InvalidDataException("The mechanism options are not valid: " + (e is JsonException j ? JsonErrors.Problem(j) : e.Message), e);
            }
            mechanism = (options ?? throw new InvalidDataException("The campaign state has no mechanism options.")).CreateMechanism();
            if (mechanism.Name != state.Mechanism)
                throw new InvalidDataException($"The state names mechanism '{state.Mechanism}' but holds options of '{mechanism.Name}'.");
        }
        var reform = new Reform(mechanism, new ReformOptions { Chances = state.Chances, Decay = decay });
        return new Campaign(reform, state.Reputation.Restore(),
            new SortedDictionary<string, double>(state.TotalPayments, StringComparer.Ordinal));
    }

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>The state as JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(State(), Json);

    /// <summary>A campaign from <see cref="ToJson"/>'s output.</summary>
    public static Campaign FromJson(string json) =>
        FromState(JsonSerializer.Deserialize<CampaignState>(json, Json) ?? throw new InvalidDataException("Empty campaign state."));

    /// <summary>
    /// Saves crash-safely (<see cref="AtomicFile"/>): a crash leaves either the old or the new state, never a torn file.
    /// </summary>
    public void Save(string path)
    {
        var state = State();
        AtomicFile.Write(path, s => JsonSerializer.Serialize(s, state, Json));
    }

    /// <summary>Loads a campaign saved with <see cref="Save"/>.</summary>
    public static Campaign Load(string path) => FromJson(Core.TextFiles.ReadAllText(path));
}

/// <summary>The saved state of a <see cref="Campaign"/> (the wrapped mechanism, REFORM options, reputation model, payment totals).</summary>
public sealed record CampaignState
{
    /// <summary>Format version: 2 (1 = RPTSC-only states with <see cref="Alpha"/>, <see cref="SampleSize"/>, <see cref="MinTasks"/>, still read).</summary>
    public int Version { get; init; } = 2;
    /// <summary>The wrapped mechanism's <see cref="IPeerPredictionMechanism.Name"/> (version 2).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Mechanism { get; init; }
    /// <summary>The wrapped mechanism's options, tagged with their mechanism (version 2).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public JsonElement? MechanismOptions { get; init; }
    /// <summary><see cref="ReformOptions.Chances"/>.</summary>
    public int Chances { get; init; }
    /// <summary>Version 1 only: <see cref="RptscOptions.Alpha"/>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public double Alpha { get; init; }
    /// <summary>Version 1 only: <see cref="RptscOptions.SampleSize"/>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public int SampleSize { get; init; }
    /// <summary>Version 1 only: <see cref="RptscOptions.MinTasks"/>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
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
