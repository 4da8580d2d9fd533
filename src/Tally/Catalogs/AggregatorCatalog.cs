using Tally.Aggregation;
using Tally.Learning;
using Tally.Mechanisms;
namespace Tally.Catalogs;

/// <summary>Overrides a front end may apply to any method's defaults.</summary>
/// <param name="MaxIterations">Iteration limit (iterative methods), or null for the method's default.</param>
/// <param name="Tolerance">Convergence tolerance (0 = run exactly MaxIterations), or null for the default.</param>
/// <param name="Seed">Seed for randomness, or null for the default (0). For majority vote a seed switches ties to random.</param>
/// <param name="Prior">Worker prior for the Bayesian methods (mf, bp), or null for their default.</param>
/// <param name="ClassPrior">Learned, uniform or automatically chosen class proportions for the methods that accept it (<see cref="AggregatorInfo.AcceptsClassPrior"/>), or null for each method's default (<see cref="AggregatorInfo.DefaultClassPrior"/>).</param>
public sealed record CommonMethodOptions(int? MaxIterations = null, double? Tolerance = null, int? Seed = null, WorkerPrior? Prior = null,
    ClassPriorMode? ClassPrior = null);

/// <summary>A method as listed by <c>tally methods</c>.</summary>
/// <param name="Name">Short name.</param>
/// <param name="Aliases">Other accepted names (long names).</param>
/// <param name="Description">One line.</param>
/// <param name="Reference">Paper or source.</param>
/// <param name="Iterative">Whether iteration options apply.</param>
/// <param name="Create">Makes the aggregator with the given overrides.</param>
public sealed record AggregatorInfo(string Name, IReadOnlyList<string> Aliases, string Description, string Reference,
    bool Iterative, Func<CommonMethodOptions, IAggregator> Create)
{
    /// <summary>True for methods defined only for two classes (they reject other inputs with a <see cref="Tally.Core.TallyUserException"/>).</summary>
    public bool BinaryOnly { get; init; }
    /// <summary>True for the methods with a worker prior (<see cref="CommonMethodOptions.Prior"/> applies).</summary>
    public bool AcceptsPrior { get; init; }
    /// <summary>True for the methods whose class proportions can be held uniform (<see cref="CommonMethodOptions.ClassPrior"/> applies).</summary>
    public bool AcceptsClassPrior => DefaultClassPrior is not null;
    /// <summary>
    /// The method's own default class-prior mode (read from its options record, so front ends need not restate it);
    /// null for the methods without a class-prior option.
    /// </summary>
    public ClassPriorMode? DefaultClassPrior { get; init; }
    /// <summary>True for the methods that clamp gold labels during inference.</summary>
    public bool SupportsGold { get; init; }
    /// <summary>True for the methods that draw random numbers (so <see cref="CommonMethodOptions.Seed"/> changes something).</summary>
    public bool UsesSeed { get; init; }
    /// <summary>
    /// True for the robust methods whose reported worker skill is the trust ω ∈ [0, 1] their filter gives each worker:
    /// a worker below 1 has had its answers down-weighted as a likely adversary or outlier.
    /// </summary>
    public bool SkillIsTrust { get; init; }
    /// <summary>
    /// The iterative method's default options (iteration limit, tolerance, seed) — the very record
    /// <see cref="Create"/> starts from, so front ends can show the defaults without restating them; null for the
    /// methods that do not iterate.
    /// </summary>
    public IterativeOptions? Defaults { get; init; }
}

/// <summary>The truth-inference methods Tally ships, by name.</summary>
public static class AggregatorCatalog
{
    /// <summary>The method used when none is named: Dawid-Skene.</summary>
    public const string DefaultMethod = "ds";

    /// <summary>Every method, in the order they are listed.</summary>
    public static IReadOnlyList<AggregatorInfo> All { get; } =
    [
        new("mv", ["majority-vote", "majorityvote"], "Majority vote; posterior = vote shares; ties to the lowest class index (random with --seed).",
            "—", false,
            o => new MajorityVote(new MajorityVoteOptions { Ties = o.Seed is null ? TieBreak.LowestIndex : TieBreak.Random, Seed = o.Seed ?? 0 })) { UsesSeed = true },
        new("wawa", ["worker-agreement-with-aggregate"], "Vote weighted by each worker's agreement with the majority.",
            "Crowd-Kit Wawa (Appen)", false, _ => new Wawa()),
        Iterative("zbs", ["zero-based-skill", "zerobasedskill"], "Skill-weighted vote; skills move towards agreement with the weighted vote.",
            "Crowd-Kit ZeroBasedSkill", new ZeroBasedSkillOptions(), (opt, _) => new ZeroBasedSkill(opt)),
        Iterative("ds", ["dawid-skene", "dawidskene"], "Dawid-Skene: per-worker confusion matrices fitted by EM from majority vote.",
            "Dawid & Skene, J. Royal Statistical Society C, 1979", new DawidSkeneOptions(), (opt, _) => new DawidSkene(opt)) with { SupportsGold = true },
        Iterative("spectral", ["spectral-ds", "opt-ds"], "Dawid-Skene EM started from spectral (three-view tensor) estimates of the confusions.",
            "Zhang, Chen, Zhou & Jordan, NIPS 2014 (Opt-D&S)", new SpectralDawidSkeneOptions(),
            (opt, o) => new SpectralDawidSkene(opt with { ClassPrior = o.ClassPrior ?? opt.ClassPrior })) with { SupportsGold = true, UsesSeed = true, DefaultClassPrior = new SpectralDawidSkeneOptions().ClassPrior },
        Iterative("onecoin", ["one-coin", "onecoin-dawid-skene", "onecoindawidskene"], "One-coin Dawid-Skene: one accuracy per worker, errors uniform.",
            "Dawid & Skene 1979 (one-coin restriction)", new OneCoinDawidSkeneOptions(), (opt, _) => new OneCoinDawidSkene(opt)) with { SupportsGold = true },
        Iterative("mf", ["mean-field", "meanfield", "vi-mf", "bcc"], "Variational Bayes Dawid-Skene (mean field) with a Dirichlet worker prior.",
            "Liu, Peng & Ihler, NIPS 2012; Kim et al., AISTATS 2022 eqs. (16), (29)", new MeanFieldOptions(),
            (opt, o) => new MeanField(opt with { Prior = o.Prior ?? opt.Prior, ClassPrior = o.ClassPrior ?? opt.ClassPrior })) with { SupportsGold = true, AcceptsPrior = true, DefaultClassPrior = new MeanFieldOptions().ClassPrior },
        Iterative("bp", ["belief-propagation", "beliefpropagation"], "Belief propagation on the task–worker graph with a Dirichlet worker prior (Monte-Carlo messages; exact for one-coin).",
            "Liu, Peng & Ihler, NIPS 2012; Kim et al., AISTATS 2022 eqs. (20), (21), (42)", new BeliefPropagationOptions(),
            (opt, o) => new BeliefPropagation(opt with { Prior = o.Prior ?? opt.Prior, ClassPrior = o.ClassPrior ?? opt.ClassPrior })) with { SupportsGold = true, AcceptsPrior = true, DefaultClassPrior = new BeliefPropagationOptions().ClassPrior, UsesSeed = true },
        new("robust-ds", ["robustds", "robust-dawid-skene"], "Symmetric Dawid-Skene fitted by robust moments + tensor decomposition, resistant to colluding workers.",
            "Schoenebeck, Yu et al., WWW 2021 (Mechanism 3, stages 1–2)", false,
            o =>
            {
                var d = new Tally.Robust.RobustDawidSkeneOptions { Seed = o.Seed ?? 0 };
                return new Tally.Robust.RobustDawidSkene(d with { ClassPrior = o.ClassPrior ?? d.ClassPrior });
            }) { SupportsGold = true, UsesSeed = true, DefaultClassPrior = new Tally.Robust.RobustDawidSkeneOptions().ClassPrior, SkillIsTrust = true },
        Iterative("glad", ["generative-labels-abilities-difficulties"], "GLAD: correct with probability σ(ability × inverse difficulty); EM.",
            "Whitehill et al., NIPS 2009", new GladOptions(), (opt, _) => new Glad(opt)) with { SupportsGold = true },
        Iterative("mace", ["multi-annotator-competence-estimation"], "MACE: each worker knows the answer or spams from her own strategy; variational Bayes.",
            "Hovy et al., NAACL-HLT 2013", new MaceOptions(), (opt, _) => new Mace(opt)) with { SupportsGold = true, UsesSeed = true },
        Iterative("kos", ["karger-oh-shah"], "Binary only: message passing between tasks and workers on the assignment graph.",
            "Karger, Oh & Shah, NIPS 2011", new KosOptions(), (opt, _) => new Kos(opt)) with { BinaryOnly = true, UsesSeed = true },
        Iterative("mmsr", ["m-msr", "matrix-mean-subsequence-reduced"], "Worker skills by robust rank-one completion of the agreement matrix, then weighted vote.",
            "Ma & Olshevsky, NeurIPS 2020", new MMsrOptions(), (opt, _) => new MMsr(opt)) with { UsesSeed = true },
    ];

    /// <summary>Finds a method by name or alias (case-insensitive); null if unknown.</summary>
    public static AggregatorInfo? Find(string name)
    {
        foreach (var m in All)
        {
            if (string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase)) return m;
            foreach (var a in m.Aliases) if (string.Equals(a, name, StringComparison.OrdinalIgnoreCase)) return m;
        }
        return null;
    }

    /// <summary>
    /// An iterative method's entry: <paramref name="defaults"/> is both what <see cref="AggregatorInfo.Defaults"/>
    /// shows and what <see cref="AggregatorInfo.Create"/> applies the overrides to, so the two cannot drift apart.
    /// </summary>
    private static AggregatorInfo Iterative<T>(string name, IReadOnlyList<string> aliases, string description, string reference,
        T defaults, Func<T, CommonMethodOptions, IAggregator> make) where T : IterativeOptions =>
        new(name, aliases, description, reference, true, o => make(Apply(defaults, o), o)) { Defaults = defaults };

    /// <summary>Applies the common overrides to an iterative method's options.</summary>
    public static T Apply<T>(T options, CommonMethodOptions o) where T : IterativeOptions => options with
    {
        MaxIterations = o.MaxIterations ?? options.MaxIterations,
        Tolerance = o.Tolerance ?? options.Tolerance,
        Seed = o.Seed ?? options.Seed,
    };
}
