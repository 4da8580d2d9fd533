using Tally.Core;
using System.Collections.Immutable;

namespace Tally.Mechanisms.Reputation;

/// <summary>
/// γ-fairness of a peer-based mechanism (Kanaparthy, Damle and Gujar, "REFORM: Reputation based fair and temporal
/// reward framework for crowdsourcing", 2021, Definition 2): 1/γ = E[M* − E*] for trustworthy agents, where M* is the
/// optimal reward (the reward when the report matches its peer's) and E* the reward actually earned.
/// The paper leaves open whether M* is one number for the mechanism or per report; here it is per report: M* is what
/// that very report would have earned had it matched, with the f(y_i) drawn for it (for RPTSC α(1/f(y_i) − 1), times
/// β(t) when decay is on; <see cref="ReformResult.Optimal"/>). Then M* − E* is 0 on a match and α/f(y_i) on a
/// mismatch, which is the paper's Proposition 3 ((1 − q)·(g − l) for RPTSC) measured rather than computed.
/// </summary>
/// <param name="OptimalReward">Mean M* over the reports.</param>
/// <param name="Reward">Mean reward E* over the same reports.</param>
/// <param name="Reports">Number of reports averaged.</param>
public sealed record GammaFairness(double OptimalReward, double Reward, long Reports)
{
    /// <summary>E[M* − E*] (≥ 0 up to rounding for RPTSC and REFORM, whose reward is either M* or the penalty).</summary>
    public double Gap => OptimalReward - Reward;

    /// <summary>γ = 1/E[M* − E*]; null when the gap is not positive (no unfair penalty at all: γ unbounded) or there are no reports.</summary>
    public double? Gamma => Reports > 0 && Gap > 0 ? 1 / Gap : null;

    /// <summary>E*/M*, the share of the optimal reward actually earned (the paper's N-RPTSC and N-REFORM, independent of α); null when M* is not positive.</summary>
    public double? Normalised => Reports > 0 && OptimalReward > 0 ? Reward / OptimalReward : null;
}

/// <summary>One reputation group of a <see cref="QualitativeFairness"/> check.</summary>
/// <param name="MinReputation">Lowest reputation key in the group.</param>
/// <param name="MaxReputation">Highest reputation key in the group.</param>
/// <param name="Count">Reports in the group.</param>
/// <param name="MeanReward">Mean reward of the group.</param>
/// <param name="StandardError">Standard error of <paramref name="MeanReward"/> (0 for a group of one).</param>
public sealed record ReputationGroup(double MinReputation, double MaxReputation, int Count, double MeanReward, double StandardError);

/// <summary>
/// Qualitative fairness (REFORM Definition 3): agents submitting the same report at the same time should earn, in
/// expectation, at least as much when their reputation is higher. Checked on samples by sorting them by reputation,
/// cutting them into groups of about equal size (equal reputations never straddle two groups) and requiring every
/// group's mean reward to be at least the previous group's minus z standard errors of the difference.
/// </summary>
/// <param name="Groups">The groups in increasing reputation.</param>
/// <param name="Violations">Indices g ≥ 1 where group g's mean falls significantly below group g − 1's.</param>
/// <param name="Z">The number of standard errors tolerated.</param>
public sealed record QualitativeFairness(ImmutableArray<ReputationGroup> Groups, ImmutableArray<int> Violations, double Z)
{
    /// <summary>Whether no significant violation was found.</summary>
    public bool Holds => Violations.IsEmpty;
}

/// <summary>Fairness and budget measures of REFORM's §4–§5 computed from observed rewards.</summary>
public static class Fairness
{
    /// <summary>γ-fairness from paired per-report (or per-agent) optimal and actual rewards of trustworthy agents.</summary>
    public static GammaFairness Gamma(IReadOnlyList<double> optimal, IReadOnlyList<double> reward)
    {
        ArgumentNullException.ThrowIfNull(optimal);
        ArgumentNullException.ThrowIfNull(reward);
        if (optimal.Count != reward.Count) throw new ArgumentException("One optimal reward per reward is needed.", nameof(optimal));
        double so = 0, sr = 0;
        for (int i = 0; i < reward.Count; i++)
        {
            if (!double.IsFinite(optimal[i]) || !double.IsFinite(reward[i])) throw new TallyUserException("Rewards must be finite.");
            so += optimal[i];
            sr += reward[i];
        }
        int n = reward.Count;
        return n == 0 ? new GammaFairness(0, 0, 0) : new GammaFairness(so / n, sr / n, n);
    }

    /// <summary>
    /// Checks qualitative fairness on (reputation, reward) samples that share the report and the time
    /// (the caller's job: Definition 3 compares like with like).
    /// </summary>
    /// <param name="reputation">Reputation key of each sample (e.g. TERM's ψ before the round).</param>
    /// <param name="reward">Reward of each sample.</param>
    /// <param name="groups">Number of reputation groups, ≥ 2; default 5.</param>
    /// <param name="z">Standard errors tolerated between consecutive groups; default 3 (a 0.13% one-sided false alarm per pair under normality).</param>
    public static QualitativeFairness Qualitative(IReadOnlyList<double> reputation, IReadOnlyList<double> reward, int groups = 5, double z = 3)
    {
        ArgumentNullException.ThrowIfNull(reputation);
        ArgumentNullException.ThrowIfNull(reward);
        if (reputation.Count != reward.Count) throw new ArgumentException("One reputation per reward is needed.", nameof(reputation));
        if (groups < 2) throw new ArgumentOutOfRangeException(nameof(groups), "At least 2 groups are needed.");
        if (!(z >= 0) || !double.IsFinite(z)) throw new ArgumentOutOfRangeException(nameof(z), "z must be finite and non-negative.");
        int n = reward.Count;
        for (int i = 0; i < n; i++)
            if (!double.IsFinite(reputation[i]) || !double.IsFinite(reward[i])) throw new TallyUserException("Reputations and rewards must be finite.");
        var order = Enumerable.Range(0, n).OrderBy(i => reputation[i]).ToArray();
        var list = ImmutableArray.CreateBuilder<ReputationGroup>();
        int start = 0;
        for (int g = 0; g < groups && start < n; g++)
        {
            int end = g == groups - 1 ? n : Math.Max(start + 1, (int)Math.Round((double)n * (g + 1) / groups));
            // Ties stay together: a group boundary between equal reputations would compare agents the definition treats alike.
            while (end < n && reputation[order[end]] == reputation[order[end - 1]]) end++;
            double sum = 0, sq = 0;
            for (int p = start; p < end; p++) sum += reward[order[p]];
            int c = end - start;
            double mean = sum / c;
            for (int p = start; p < end; p++) sq += (reward[order[p]] - mean) * (reward[order[p]] - mean);
            double se = c > 1 ? Math.Sqrt(sq / (c - 1) / c) : 0;
            list.Add(new ReputationGroup(reputation[order[start]], reputation[order[end - 1]], c, mean, se));
            start = end;
        }
        var gs = list.ToImmutable();
        var bad = ImmutableArray.CreateBuilder<int>();
        for (int g = 1; g < gs.Length; g++)
        {
            double tol = z * Math.Sqrt(gs[g].StandardError * gs[g].StandardError + gs[g - 1].StandardError * gs[g - 1].StandardError);
            if (gs[g].MeanReward < gs[g - 1].MeanReward - tol) bad.Add(g);
        }
        return new QualitativeFairness(gs, bad.ToImmutable(), z);
    }

    /// <summary>Mean reward per agent type (types with no samples are absent).</summary>
    public static ImmutableSortedDictionary<TType, double> MeanByType<TType>(IReadOnlyList<double> reward, IReadOnlyList<TType> type) where TType : notnull
    {
        ArgumentNullException.ThrowIfNull(reward);
        ArgumentNullException.ThrowIfNull(type);
        if (reward.Count != type.Count) throw new ArgumentException("One type per reward is needed.", nameof(type));
        var acc = new Dictionary<TType, (double Sum, int Count)>();
        for (int i = 0; i < reward.Count; i++)
        {
            var a = acc.GetValueOrDefault(type[i]);
            acc[type[i]] = (a.Sum + reward[i], a.Count + 1);
        }
        return acc.ToImmutableSortedDictionary(kv => kv.Key, kv => kv.Value.Sum / kv.Value.Count);
    }

    /// <summary>The requester's budget per agent and round: total payments / agents / rounds (REFORM §5).</summary>
    public static double BudgetPerAgent(double totalPayments, int agents, int rounds)
    {
        if (!double.IsFinite(totalPayments)) throw new ArgumentOutOfRangeException(nameof(totalPayments), "The total must be finite.");
        if (agents < 1) throw new ArgumentOutOfRangeException(nameof(agents), "At least one agent is needed.");
        if (rounds < 1) throw new ArgumentOutOfRangeException(nameof(rounds), "At least one round is needed.");
        return totalPayments / agents / rounds;
    }
}
