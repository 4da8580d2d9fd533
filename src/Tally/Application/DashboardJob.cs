using System.Collections.Immutable;
using Tally.Aggregation;
using Tally.Catalogs;
using Tally.Mechanisms.Reputation;

namespace Tally.Application;

/// <summary>One worker as a project's fitted aggregation model sees them.</summary>
/// <param name="Worker">The worker's name.</param>
/// <param name="Skill">The skill the method reports (for <see cref="AggregatorInfo.SkillIsTrust"/> methods, the trust ω).</param>
/// <param name="Confusion">K×K, row = true class, column = answer, each row summing to 1; empty for voting methods, which fit no confusion.</param>
/// <param name="DownWeighted">Whether the robust method gave the worker a trust below 1 (always false for other methods).</param>
/// <param name="Answers">Answers of the worker in the fit.</param>
public sealed record FittedWorker(string Worker, double Skill, ImmutableArray<double> Confusion, bool DownWeighted, int Answers);

/// <summary>The workers of a fitted model.</summary>
/// <param name="Method">The method that fitted it.</param>
/// <param name="Classes">The classes, in the model's order (the rows and columns of the confusions).</param>
/// <param name="Workers">Per worker, in the model's order.</param>
/// <param name="FlagsDownWeighting">Whether the method down-weights workers (so <see cref="FittedWorker.DownWeighted"/> means something).</param>
/// <param name="AverageConfusion">The answer-weighted mean of the workers' confusions (the model's average worker); empty for voting methods.</param>
public sealed record FittedWorkers(string Method, IReadOnlyList<string> Classes, IReadOnlyList<FittedWorker> Workers, bool FlagsDownWeighting,
    ImmutableArray<double> AverageConfusion);

/// <summary>
/// What the service's dashboard shows beyond the stored rows: the workers of a project's fitted model (confusion
/// matrices to draw as heat maps, who the robust methods down-weighted) and REFORM's qualitative fairness of a round.
/// The front end renders these; the reading of models and the fairness test live here and in the library.
/// </summary>
public static class DashboardJob
{
    /// <summary>The workers of a stored model (<see cref="AggregationModel.ToJson"/>), or null when there is none yet.</summary>
    public static FittedWorkers? Workers(string? modelJson)
    {
        if (modelJson is null) return null;
        var model = AggregationModel.FromJson(modelJson);
        int k = model.ClassCount;
        bool trust = AggregatorCatalog.Find(model.Method)?.SkillIsTrust ?? false;
        var list = new List<FittedWorker>(model.WorkerCount);
        for (int w = 0; w < model.WorkerCount; w++)
        {
            ImmutableArray<double> confusion = model.Kind switch
            {
                WorkerModelKind.Confusion => model.Confusions.Slice(w * k * k, k * k),
                WorkerModelKind.OneCoin => OneCoin(model.Accuracies[w], k),
                _ => [],
            };
            double skill = model.Skills[w];
            // ω is exactly 1 for a worker the filter kept; anything below is a discount.
            list.Add(new FittedWorker(model.Workers[w], skill, confusion, trust && skill < 1, model.AnswerCounts[w]));
        }
        var mean = new double[k * k];
        double answers = 0;
        foreach (var w in list)
        {
            if (w.Confusion.IsEmpty || w.Answers == 0) continue;
            for (int i = 0; i < mean.Length; i++) mean[i] += w.Answers * w.Confusion[i];
            answers += w.Answers;
        }
        for (int i = 0; i < mean.Length && answers > 0; i++) mean[i] /= answers;
        return new FittedWorkers(model.Method, model.Classes, list, trust, answers > 0 ? ImmutableArray.Create(mean) : []);
    }

    /// <summary>The one-coin confusion of accuracy p: p on the diagonal, (1 − p)/(K − 1) elsewhere.</summary>
    private static ImmutableArray<double> OneCoin(double p, int k)
    {
        var m = new double[k * k];
        double off = k > 1 ? (1 - p) / (k - 1) : 0;
        for (int j = 0; j < k; j++)
            for (int l = 0; l < k; l++) m[j * k + l] = j == l ? p : off;
        return ImmutableArray.Create(m);
    }

    /// <summary>
    /// Trust below which a down-weighted worker is shown as discounted rather than partly discounted: the robust filter
    /// then counts less than half of their answers, as it does for the spammers and colluders it detects.
    /// </summary>
    public const double StrongDownWeighting = 0.5;

    /// <summary>
    /// REFORM's γ-fairness (Definition 2, <see cref="GammaFairness"/>) of one paid round from the payments ledger: each
    /// row is a worker's M* and payment, both means over the worker's scored reports, so each weighs by its reports and
    /// the result is the per-report E[M* − E*]. Definition 2 is about trustworthy agents, whom a live service cannot
    /// tell apart; the caller chooses the rows (all paid workers, or the more reputable ones). Null when no row has M*
    /// (mechanisms without per-report peer rewards, or none scored).
    /// </summary>
    /// <param name="rows">Per worker: M* (null = none), payment and reports scored.</param>
    public static GammaFairness? RoundGammaFairness(IEnumerable<(double? Optimal, double Payment, int Tasks)> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        double optimal = 0, reward = 0;
        long reports = 0;
        foreach (var (m, pay, n) in rows)
        {
            if (m is not double o || n <= 0 || !double.IsFinite(o) || !double.IsFinite(pay)) continue;
            optimal += o * n; reward += pay * n; reports += n;
        }
        return reports == 0 ? null : new GammaFairness(optimal / reports, reward / reports, reports);
    }

    /// <summary>Fewest workers for a qualitative-fairness check of a round (two per group of the smallest split).</summary>
    public const int MinFairnessSamples = 4;

    /// <summary>
    /// REFORM's qualitative fairness (Definition 3, <see cref="Fairness.Qualitative"/>) of one paid round, per worker:
    /// each worker's reputation before the round (the one stored with the previous round's payment) against the pay
    /// per scored task in this round. Definition 3 compares agents giving the same report at the same time; the ledger
    /// keeps one payment per worker and round, so this compares workers' mean pay per task instead. Null with fewer
    /// than <see cref="MinFairnessSamples"/> workers that have both numbers.
    /// </summary>
    /// <param name="samples">Per worker: reputation before the round and payment per scored task.</param>
    public static QualitativeFairness? RoundQualitativeFairness(IReadOnlyList<(double ReputationBefore, double PaymentPerTask)> samples)
    {
        ArgumentNullException.ThrowIfNull(samples);
        var usable = samples.Where(s => double.IsFinite(s.ReputationBefore) && double.IsFinite(s.PaymentPerTask)).ToList();
        if (usable.Count < MinFairnessSamples) return null;
        int groups = Math.Min(5, usable.Count / 2);
        return Fairness.Qualitative(usable.Select(s => s.ReputationBefore).ToList(), usable.Select(s => s.PaymentPerTask).ToList(), groups);
    }
}
