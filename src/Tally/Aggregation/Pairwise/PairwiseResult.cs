using System.Collections.Immutable;
using System.Runtime.InteropServices;
using Tally.Core;

namespace Tally.Aggregation.Pairwise;

/// <summary>
/// What a pairwise-comparison method concluded: a score per item on the log-strength scale of the Bradley-Terry model
/// (P(i beats j) = σ(score_i − score_j)), its uncertainty, and the items' rank. Scores are only comparable inside one
/// connected component of the comparison graph: each component is centred on mean 0 and ranked on its own, and no
/// order between components is claimed.
/// </summary>
public sealed record PairwiseResult
{
    /// <summary>Short name of the method (as on the command line).</summary>
    public required string Method { get; init; }
    /// <summary>The comparisons the result refers to (for item and worker names).</summary>
    public required PairwiseComparisons Comparisons { get; init; }
    /// <summary>Log-strength θ of each item, centred on mean 0 within its component.</summary>
    public required ImmutableArray<double> Scores { get; init; }
    /// <summary>Standard error of each centred score (normal approximation from the Fisher information; see the method's docs).</summary>
    public required ImmutableArray<double> StandardErrors { get; init; }
    /// <summary>Lower end of each score's <see cref="ConfidenceLevel"/> interval.</summary>
    public required ImmutableArray<double> Low { get; init; }
    /// <summary>Upper end of each score's <see cref="ConfidenceLevel"/> interval.</summary>
    public required ImmutableArray<double> High { get; init; }
    /// <summary>Rank of each item within its component: 1 = best; ties by item order.</summary>
    public required ImmutableArray<int> Ranks { get; init; }
    /// <summary>
    /// How sure the rank is: the probability, under the normal approximation, that the item is ordered correctly against
    /// both of its neighbours in the ranking (the smaller of the two pairwise probabilities); 1 for a single item.
    /// </summary>
    public required ImmutableArray<double> RankConfidence { get; init; }
    /// <summary>Component (0, 1, …, numbered by their first item) of each item in the comparison graph.</summary>
    public required ImmutableArray<int> Components { get; init; }
    /// <summary>Number of items in each component.</summary>
    public required ImmutableArray<int> ComponentSizes { get; init; }
    /// <summary>Each worker's reliability in the method's sense (see its docs); for plain Bradley-Terry the agreement with the fitted order.</summary>
    public required ImmutableArray<double> WorkerSkills { get; init; }
    /// <summary>Fraction of each worker's comparisons whose winner has the higher fitted score.</summary>
    public required ImmutableArray<double> WorkerAgreement { get; init; }
    /// <summary>Method-specific per-worker parameters (e.g. NoisyBT's left bias), by name.</summary>
    public ImmutableDictionary<string, ImmutableArray<double>> WorkerParameters { get; init; } =
        ImmutableDictionary<string, ImmutableArray<double>>.Empty;
    /// <summary>The coverage of <see cref="Low"/>–<see cref="High"/>.</summary>
    public required double ConfidenceLevel { get; init; }
    /// <summary>Iterations run.</summary>
    public int Iterations { get; init; }
    /// <summary>Whether the tolerance was reached before the iteration limit.</summary>
    public bool Converged { get; init; }
    /// <summary>Objective (penalised log-likelihood per comparison) after each iteration.</summary>
    public ImmutableArray<double> LogLikelihoods { get; init; } = ImmutableArray<double>.Empty;

    /// <summary>Number of connected components of the comparison graph.</summary>
    public int ComponentCount => ComponentSizes.Length;

    /// <summary>The model's probability that item <paramref name="i"/> beats item <paramref name="j"/>.</summary>
    /// <exception cref="InvalidOperationException">The two items are in different components: the comparisons say nothing about their order.</exception>
    public double Probability(int i, int j)
    {
        if (Components[i] != Components[j])
            throw new InvalidOperationException($"Items '{Comparisons.Items[i]}' and '{Comparisons.Items[j]}' are in different components; no comparison relates them.");
        return 1 / (1 + Math.Exp(Scores[j] - Scores[i]));
    }

    internal static ImmutableArray<T> Wrap<T>(T[] array) => ImmutableCollectionsMarshal.AsImmutableArray(array);
}

/// <summary>
/// A method that scores and ranks items from crowd pairwise comparisons. Implementations are stateless apart from their
/// options, so one instance can serve many inputs and threads.
/// </summary>
public interface IPairwiseAggregator
{
    /// <summary>Short name as on the command line (e.g. <c>bt</c>).</summary>
    string Name { get; }

    /// <summary>
    /// Fits the method. Deterministic: the same bytes whatever the row order of the input and whatever
    /// <paramref name="compute"/> allows.
    /// </summary>
    /// <exception cref="InvalidOptionException">The options are invalid.</exception>
    /// <exception cref="TallyUserException">The scores cannot be estimated (e.g. unregularised and an item never loses).</exception>
    PairwiseResult Aggregate(PairwiseComparisons comparisons, ComputeOptions? compute = null, CancellationToken cancellationToken = default);
}

/// <summary>Options shared by the Bradley-Terry family.</summary>
public abstract record PairwiseOptions : IterativeOptions
{
    /// <summary>Sets the family's defaults: MM converges linearly, so more and finer iterations than EM on labels.</summary>
    protected PairwiseOptions()
    {
        MaxIterations = 1000;
        Tolerance = 1e-8;
    }

    /// <summary>
    /// λ ≥ 0: each item gets λ virtual wins and λ virtual losses against a reference item of score 0 (a prior
    /// ∝ σ(θ)^λ σ(−θ)^λ), so an item that never lost still gets a finite score. Default 0.5; with 0 the plain maximum
    /// likelihood is fitted, which exists only when every component's win graph is strongly connected (Hunter 2004,
    /// Assumption 1).
    /// </summary>
    public double Regularization { get; init; } = 0.5;

    /// <summary>Coverage of the score intervals (default 0.95).</summary>
    public double ConfidenceLevel { get; init; } = 0.95;

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        Check.AtLeast(Regularization, 0, nameof(Regularization));
        if (!(ConfidenceLevel > 0 && ConfidenceLevel < 1))
            throw new InvalidOptionException(nameof(ConfidenceLevel), $"must be strictly between 0 and 1 (got {NumberFormat.Number(ConfidenceLevel)})");
    }
}
