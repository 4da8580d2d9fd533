using Tally.Aggregation.Numeric;

namespace Tally.Catalogs;

/// <summary>Overrides a front end may apply to a numeric method's defaults.</summary>
/// <param name="MaxIterations">Iteration limit (iterative methods), or null for the method's default.</param>
/// <param name="Tolerance">Convergence tolerance (0 = run exactly MaxIterations), or null for the default.</param>
/// <param name="IntervalLevel">Coverage of the intervals, or null for the default (0.95).</param>
public sealed record NumericMethodOverrides(int? MaxIterations = null, double? Tolerance = null, double? IntervalLevel = null);

/// <summary>A numeric method as listed by <c>tally methods</c>.</summary>
/// <param name="Name">Short name.</param>
/// <param name="Aliases">Other accepted names.</param>
/// <param name="Description">One line.</param>
/// <param name="Reference">Paper or source.</param>
/// <param name="Defaults">The default options — the very record <see cref="Create"/> starts from.</param>
/// <param name="Create">Makes the aggregator with the given overrides.</param>
public sealed record NumericAggregatorInfo(string Name, IReadOnlyList<string> Aliases, string Description, string Reference,
    NumericOptions Defaults, Func<NumericMethodOverrides, INumericAggregator> Create)
{
    /// <summary>Whether iteration options apply.</summary>
    public bool Iterative => Defaults is NumericIterativeOptions;
}

/// <summary>The truth-inference methods for numeric answers (<c>tally aggregate --type numeric</c>), by name.</summary>
public static class NumericAggregatorCatalog
{
    /// <summary>The method used when none is named: the bias-and-variance Gaussian model (lfc).</summary>
    public const string DefaultMethod = "lfc";

    /// <summary>Every numeric method, in the order they are listed.</summary>
    public static IReadOnlyList<NumericAggregatorInfo> All { get; } =
    [
        Entry("mean", ["average"], "Mean of each task's answers; interval from the t distribution.", "—",
            new MeanOptions(), o => new Mean(o)),
        Entry("median", [], "Median of each task's answers; distribution-free order-statistic interval.", "—",
            new MedianOptions(), o => new Median(o)),
        Entry("trimmed-mean", ["trimmed"], "Mean after cutting 20% of the answers from each end; Tukey-McLaughlin interval.",
            "Tukey & McLaughlin 1963; Wilcox, Introduction to Robust Estimation and Hypothesis Testing", new TrimmedMeanOptions(), o => new TrimmedMean(o)),
        Entry("lfc", ["learning-from-crowds"], "Per-worker bias and Gaussian noise variance, truths latent; EM.",
            "Raykar et al., Learning From Crowds, JMLR 2010, §4 (with a bias per worker)", new LearningFromCrowdsOptions(), o => new LearningFromCrowds(o)),
        Entry("lfc-n", ["lfcn", "lfc-unbiased"], "Per-worker Gaussian noise variance only (unbiased workers), truths latent; EM.",
            "Raykar et al., Learning From Crowds, JMLR 2010, §4 (LFC_N of Zheng et al., PVLDB 2017)", new LearningFromCrowdsOptions { Bias = false }, o => new LearningFromCrowds(o)),
        Entry("lfc-t", ["robust-lfc", "student-t"], "As lfc with heavy-tailed Student-t noise (ν = 4): wild answers weigh little; EM.",
            "Raykar et al. 2010 with t noise (Lange, Little & Taylor, JASA 1989)", new LearningFromCrowdsOptions { Noise = NumericNoise.StudentT }, o => new LearningFromCrowds(o)),
        Entry("catd", ["confidence-aware"], "Weights from chi-squared upper bounds on each worker's error variance.",
            "Li et al., A Confidence-Aware Approach for Truth Discovery on Long-Tail Data, PVLDB 2014", new CatdOptions(), o => new Catd(o)),
        Entry("pm", ["crh"], "Weights −log(share of the total loss), loss = squared error / task std.",
            "Li et al., Resolving Conflicts in Heterogeneous Data by Truth Discovery and Source Reliability Estimation, SIGMOD 2014", new CrhOptions(), o => new Crh(o)),
    ];

    /// <summary>Finds a method by name or alias (case-insensitive); null if unknown.</summary>
    public static NumericAggregatorInfo? Find(string name)
    {
        foreach (var m in All)
        {
            if (string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase)) return m;
            foreach (var a in m.Aliases) if (string.Equals(a, name, StringComparison.OrdinalIgnoreCase)) return m;
        }
        return null;
    }

    private static NumericAggregatorInfo Entry<T>(string name, IReadOnlyList<string> aliases, string description, string reference,
        T defaults, Func<T, INumericAggregator> make) where T : NumericOptions =>
        new(name, aliases, description, reference, defaults, o => make(Apply(defaults, o)));

    private static T Apply<T>(T options, NumericMethodOverrides o) where T : NumericOptions
    {
        var withLevel = options with { IntervalLevel = o.IntervalLevel ?? options.IntervalLevel };
        return withLevel is NumericIterativeOptions it
            ? (T)(NumericOptions)(it with { MaxIterations = o.MaxIterations ?? it.MaxIterations, Tolerance = o.Tolerance ?? it.Tolerance })
            : withLevel;
    }
}
