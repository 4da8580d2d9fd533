using Tally.Core;
using Tally.Mechanisms;
namespace Tally.Catalogs;

/// <summary>A payment mechanism as listed by <c>tally pay --help</c>.</summary>
/// <param name="Name">Short name.</param>
/// <param name="Aliases">Other accepted names.</param>
/// <param name="Description">One line.</param>
/// <param name="Reference">Paper.</param>
/// <param name="DefaultOptions">Makes the mechanism's default options (seed 0).</param>
public sealed record MechanismInfo(string Name, IReadOnlyList<string> Aliases, string Description, string Reference,
    Func<MechanismOptions> DefaultOptions)
{
    /// <summary>The mechanism with default options and seed <paramref name="seed"/>.</summary>
    public IPeerPredictionMechanism Create(int seed = 0) => (DefaultOptions() with { Seed = seed }).CreateMechanism();
}

/// <summary>A mechanism name resolved by <see cref="MechanismCatalog.Resolve"/>: a registered mechanism, plain or wrapped by REFORM.</summary>
/// <param name="Mechanism">The registered (wrapped) mechanism.</param>
/// <param name="Reform">Whether REFORM wraps it (<c>reform:NAME</c>).</param>
public sealed record MechanismChoice(MechanismInfo Mechanism, bool Reform)
{
    /// <summary>The canonical name: <c>ca</c> or <c>reform:ca</c>.</summary>
    public string Name => Reform ? MechanismCatalog.ReformPrefix + Mechanism.Name : Mechanism.Name;
}

/// <summary>The peer-prediction mechanisms Tally ships, by name, and their REFORM wrappers.</summary>
public static class MechanismCatalog
{
    /// <summary>The prefix of a REFORM-wrapped mechanism's name (<c>reform:ca</c>).</summary>
    public const string ReformPrefix = "reform:";

    /// <summary>Every mechanism, in listing order.</summary>
    public static IReadOnlyList<MechanismInfo> All { get; } =
    [
        new("oa", ["output-agreement"], "Output agreement: 1 if the report matches a random peer's on the same task.",
            "von Ahn & Dabbish, CHI 2004", () => new OutputAgreementOptions()),
        new("dg", ["dasgupta-ghosh"], "Agreement on a shared task minus agreement expected from the two agents' report frequencies.",
            "Dasgupta & Ghosh, WWW 2013", () => new DasguptaGhoshOptions()),
        new("ca", ["correlated-agreement"], "Correlated agreement: score matrix sign(Δ) on a bonus task minus on two distinct penalty tasks.",
            "Shnayder, Agarwal, Frongillo & Parkes, EC 2016", () => new CorrelatedAgreementOptions()),
        new("rptsc", ["peer-truth-serum", "ptsc"], "Peer truth serum for crowdsourcing: α(1[match]/f(report) − 1).",
            "Radanovic, Faltings & Jurca, ACM TIST 2016", () => new RptscOptions()),
        new("dmi", ["determinant-mutual-information"], "Determinant mutual information over two disjoint halves of shared tasks.",
            "Kong, SODA 2020", () => new DmiOptions()),
        new("tvd-mi", ["tvdmi", "rmif-naive", "mechanism1"], "TVD mutual information with one random peer (paper's Mechanism 1).",
            "Schoenebeck, Yu et al., WWW 2021, eq. (7)", () => new TvdMutualInformationOptions()),
        new("rmif-symmetric", ["mechanism2"], "Robust TVD-MI for symmetric priors: robust batch learning of the pairwise joint (paper's Mechanism 2).",
            "Schoenebeck, Yu et al., WWW 2021, eq. (8)", () => new RobustSymmetricOptions()),
        new("rmif-ds", ["mechanism3"], "Robust Dawid-Skene: recovered labels from robust moments + tensor decomposition, pay TVD-MI with them (Mechanism 3).",
            "Schoenebeck, Yu et al., WWW 2021, §6, eq. (11)", () => new RobustDawidSkeneMechanismOptions()),
    ];

    /// <summary>REFORM, as listed next to the mechanisms it wraps.</summary>
    public const string ReformDescription =
        "REFORM over NAME: an agent whose reputation (TERM) beats her peer's gets up to k pairing chances; reputations persist across rounds";

    /// <summary>REFORM's paper.</summary>
    public const string ReformReference = "Kanaparthy, Damle & Gujar 2021";

    /// <summary>Every accepted canonical name: the mechanisms, then <c>reform:NAME</c> for each.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. All.Select(m => m.Name), .. All.Select(m => ReformPrefix + m.Name)];

    /// <summary>Finds a registered mechanism by name or alias (case-insensitive); null if unknown (REFORM names are resolved by <see cref="Resolve"/>).</summary>
    public static MechanismInfo? Find(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        foreach (var m in All)
        {
            if (string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase)) return m;
            foreach (var a in m.Aliases) if (string.Equals(a, name, StringComparison.OrdinalIgnoreCase)) return m;
        }
        return null;
    }

    /// <summary>
    /// Resolves a mechanism name (case-insensitive): a registered name or alias, <c>reform:NAME</c> for REFORM over one,
    /// or <c>reform</c> alone for REFORM over RPTSC (the paper's pairing). Null if unknown.
    /// </summary>
    public static MechanismChoice? Resolve(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        name = name.Trim();
        if (string.Equals(name, "reform", StringComparison.OrdinalIgnoreCase)) return new MechanismChoice(Find("rptsc")!, true);
        if (name.StartsWith(ReformPrefix, StringComparison.OrdinalIgnoreCase))
            return Find(name[ReformPrefix.Length..]) is { } wrapped ? new MechanismChoice(wrapped, true) : null;
        return Find(name) is { } plain ? new MechanismChoice(plain, false) : null;
    }

    /// <summary>The message for an unknown name, listing every accepted one.</summary>
    public static string Unknown(string name) => $"unknown mechanism {Quote.Value(name)} (known: {string.Join(", ", Names)})";
}
