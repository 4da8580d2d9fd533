using Tally.Core;
namespace Tally.Sharing;

/// <summary>
/// A collaborative normal-mean-estimation problem: <see cref="Agents"/> agents each collect i.i.d. samples from
/// N(μ, σ²) with σ = <see cref="Sigma"/> known and μ unknown, paying <see cref="Cost"/> per sample. An agent's penalty is
/// her worst-case (over μ) mean squared error plus cost × samples collected.
/// Y. Chen, J. Zhu and K. Kandasamy, "Mechanism design for collaborative normal mean estimation", NeurIPS 2023.
/// </summary>
public sealed record SharingProblem
{
    /// <summary>The fewest agents the mechanism works for: for m ≤ 4 its first-order condition has no root.</summary>
    public const int MinimumAgents = 5;

    /// <summary>Creates a validated problem.</summary>
    /// <param name="agents">Number of agents m; the mechanism needs m ≥ 5 (for m ≤ 4 its first-order condition has no root).</param>
    /// <param name="sigma">Known noise standard deviation σ &gt; 0.</param>
    /// <param name="cost">Cost per sample c &gt; 0.</param>
    public SharingProblem(int agents, double sigma, double cost)
    {
        if (agents < MinimumAgents)
            throw new TallyUserException(
                $"the collaborative mean mechanism needs m ≥ {MinimumAgents} agents (got m = {agents}): for m ≤ 4 the first-order " +
                "condition G(α) = 0 that makes collecting n* samples a best response has no root");
        if (!(sigma > 0) || double.IsInfinity(sigma))
            throw new InvalidOptionException("Sigma", $"must be a positive finite number (got {NumberFormat.Number(sigma)})");
        if (!(cost > 0) || double.IsInfinity(cost))
            throw new InvalidOptionException("Cost", $"(per sample) must be a positive finite number (got {NumberFormat.Number(cost)})");
        Agents = agents;
        Sigma = sigma;
        Cost = cost;
    }

    /// <summary>Number of agents m (≥ 5).</summary>
    public int Agents { get; }

    /// <summary>Known noise standard deviation σ.</summary>
    public double Sigma { get; }

    /// <summary>Cost c per collected sample.</summary>
    public double Cost { get; }

    /// <summary>The socially optimal per-agent sample size n* = σ/√(c·m) (continuous; the paper's n*).</summary>
    public double ContinuousSampleSize => Sigma / Math.Sqrt(Cost * Agents);

    /// <summary>
    /// n* rounded to the nearest integer, at least 1: samples are indivisible, and an agent must contribute at
    /// least one point for the mechanism's comparison mean(Y_i) − mean(Z_i) to exist.
    /// </summary>
    public int RecommendedSampleSize => (int)Math.Max(1, Math.Round(ContinuousSampleSize, MidpointRounding.AwayFromZero));

    /// <summary>Penalty of an agent working alone: min_n σ²/n + c·n = 2σ√c (continuous n).</summary>
    public double SoloPenalty => 2 * Sigma * Math.Sqrt(Cost);

    /// <summary>
    /// The global optimum of the social penalty (sum over agents) when all data is pooled: m·σ²/N + c·N minimised at
    /// N = σ√(m/c), giving 2σ√(c·m).
    /// </summary>
    public double OptimalSocialPenalty => 2 * Sigma * Math.Sqrt(Cost * Agents);
}
