using Tally.Aggregation;
using Tally.Learning;
using Tally.Mechanisms;
namespace Tally.Catalogs;

/// <summary>A payment mechanism as listed by <c>tally pay --help</c>.</summary>
/// <param name="Name">Short name.</param>
/// <param name="Aliases">Other accepted names.</param>
/// <param name="Description">One line.</param>
/// <param name="Reference">Paper.</param>
/// <param name="Create">Makes the mechanism with default options.</param>
public sealed record MechanismInfo(string Name, IReadOnlyList<string> Aliases, string Description, string Reference,
    Func<IPeerPredictionMechanism> Create);

/// <summary>The peer-prediction mechanisms Tally ships, by name.</summary>
public static class MechanismCatalog
{
    /// <summary>Every mechanism, in listing order.</summary>
    public static IReadOnlyList<MechanismInfo> All { get; } =
    [
        new("oa", ["output-agreement"], "Output agreement: 1 if the report matches a random peer's on the same task.",
            "von Ahn & Dabbish, CHI 2004", () => new OutputAgreement()),
        new("dg", ["dasgupta-ghosh"], "Agreement on a shared task minus agreement expected from the two agents' report frequencies.",
            "Dasgupta & Ghosh, WWW 2013", () => new DasguptaGhosh()),
        new("ca", ["correlated-agreement"], "Correlated agreement: score matrix sign(Δ) on a bonus task minus on two distinct penalty tasks.",
            "Shnayder, Agarwal, Frongillo & Parkes, EC 2016", () => new CorrelatedAgreement()),
        new("rptsc", ["peer-truth-serum", "ptsc"], "Peer truth serum for crowdsourcing: α(1[match]/f(report) − 1).",
            "Radanovic, Faltings & Jurca, ACM TIST 2016", () => new Rptsc()),
        new("dmi", ["determinant-mutual-information"], "Determinant mutual information over two disjoint halves of shared tasks.",
            "Kong, SODA 2020", () => new Dmi()),
        new("tvd-mi", ["tvdmi", "rmif-naive", "mechanism1"], "TVD mutual information with one random peer (paper's Mechanism 1).",
            "Schoenebeck, Yu et al., WWW 2021, eq. (7)", () => new TvdMutualInformation()),
        new("rmif-symmetric", ["mechanism2"], "Robust TVD-MI for symmetric priors: robust batch learning of the pairwise joint (paper's Mechanism 2).",
            "Schoenebeck, Yu et al., WWW 2021, eq. (8)", () => new RobustSymmetricMechanism()),
        new("rmif-ds", ["mechanism3"], "Robust Dawid-Skene: recovered labels from robust moments + tensor decomposition, pay TVD-MI with them (Mechanism 3).",
            "Schoenebeck, Yu et al., WWW 2021, §6, eq. (11)", () => new RobustDawidSkeneMechanism()),
    ];

    /// <summary>Finds a mechanism by name or alias (case-insensitive); null if unknown.</summary>
    public static MechanismInfo? Find(string name)
    {
        foreach (var m in All)
        {
            if (string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase)) return m;
            foreach (var a in m.Aliases) if (string.Equals(a, name, StringComparison.OrdinalIgnoreCase)) return m;
        }
        return null;
    }
}
