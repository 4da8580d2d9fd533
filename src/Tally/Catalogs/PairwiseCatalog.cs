using Tally.Aggregation.Pairwise;

namespace Tally.Catalogs;

/// <summary>Overrides a front end may apply to a pairwise method's defaults; null keeps the default.</summary>
/// <param name="MaxIterations">Iteration limit.</param>
/// <param name="Tolerance">Convergence tolerance on the objective per comparison (0 = run exactly MaxIterations).</param>
/// <param name="Regularization">Virtual wins and losses per item against a reference item (see <see cref="PairwiseOptions.Regularization"/>).</param>
public sealed record PairwiseMethodOptions(int? MaxIterations = null, double? Tolerance = null, double? Regularization = null);

/// <summary>A pairwise-comparison method as listed by <c>tally methods</c>.</summary>
/// <param name="Name">Short name.</param>
/// <param name="Aliases">Other accepted names.</param>
/// <param name="Description">One line.</param>
/// <param name="Reference">Paper.</param>
/// <param name="Defaults">The default options (what <see cref="Create"/> starts from).</param>
/// <param name="Create">Makes the method with the given overrides.</param>
public sealed record PairwiseMethodInfo(string Name, IReadOnlyList<string> Aliases, string Description, string Reference,
    PairwiseOptions Defaults, Func<PairwiseMethodOptions, IPairwiseAggregator> Create);

/// <summary>The pairwise-comparison methods Tally ships, by name.</summary>
public static class PairwiseCatalog
{
    /// <summary>The method used when none is named: NoisyBT, which discounts random and position-biased workers.</summary>
    public const string DefaultMethod = "noisybt";

    /// <summary>Every method, in the order they are listed.</summary>
    public static IReadOnlyList<PairwiseMethodInfo> All { get; } =
    [
        Entry("bt", ["bradley-terry", "bradleyterry"], "Bradley-Terry: P(i beats j) = σ(θi − θj) for every worker; MM algorithm.",
            "Hunter, Annals of Statistics 2004 (eq. 3); Bradley & Terry, Biometrika 1952", new BradleyTerryOptions(), o => new BradleyTerry(o)),
        Entry("noisybt", ["noisy-bt", "noisy-bradley-terry", "noisybradleyterry"], "NoisyBT: each worker follows Bradley-Terry with probability = skill, else clicks left with her own bias; EM.",
            "Bugakova, Fedorova, Gusev & Drutsa, NeurIPS 2019 Crowdsourcing workshop", new NoisyBradleyTerryOptions(), o => new NoisyBradleyTerry(o)),
        Entry("crowdbt", ["crowd-bt", "crowd-bradley-terry"], "Crowd-BT: each worker reports the Bradley-Terry outcome with probability η, its reverse otherwise; EM.",
            "Chen, Bennett, Collins-Thompson & Horvitz, WSDM 2013", new CrowdBradleyTerryOptions(), o => new CrowdBradleyTerry(o)),
    ];

    /// <summary>Finds a method by name or alias (case-insensitive); null if unknown.</summary>
    public static PairwiseMethodInfo? Find(string name)
    {
        foreach (var m in All)
        {
            if (string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase)) return m;
            foreach (var a in m.Aliases) if (string.Equals(a, name, StringComparison.OrdinalIgnoreCase)) return m;
        }
        return null;
    }

    private static PairwiseMethodInfo Entry<T>(string name, IReadOnlyList<string> aliases, string description, string reference,
        T defaults, Func<T, IPairwiseAggregator> make) where T : PairwiseOptions =>
        new(name, aliases, description, reference, defaults, o => make(defaults with
        {
            MaxIterations = o.MaxIterations ?? defaults.MaxIterations,
            Tolerance = o.Tolerance ?? defaults.Tolerance,
            Regularization = o.Regularization ?? defaults.Regularization,
        }));
}
