using Tally.Aggregation;
using Tally.Catalogs;
using Tally.Core;
using Tally.Mechanisms;
using Tally.Mechanisms.Reputation;

namespace Tally.Application;

/// <summary>One stored answer as the round close sees it.</summary>
/// <param name="Task">Task id.</param>
/// <param name="Worker">Worker name.</param>
/// <param name="Label">The class answered.</param>
/// <param name="Round">The round it was given in.</param>
/// <param name="Seconds">Seconds from the assignment to the answer (null when unknown).</param>
/// <param name="Late">Given after the project's deadline.</param>
public sealed record ServiceAnswer(string Task, string Worker, string Label, int Round, double? Seconds, bool Late);

/// <summary>What closing a round needs: the project's settings, its fitted state, and the answers so far.</summary>
public sealed record ServiceRoundRequest
{
    /// <summary>The round being closed.</summary>
    public required int Round { get; init; }
    /// <summary>The project's classes, in order.</summary>
    public required IReadOnlyList<string> Classes { get; init; }
    /// <summary>Aggregation method.</summary>
    public required string Method { get; init; }
    /// <summary>Payment mechanism (<c>reform:NAME</c> for REFORM).</summary>
    public required string Mechanism { get; init; }
    /// <summary>Seed of the aggregation (for methods that draw random numbers) and of the payments.</summary>
    public int Seed { get; init; }
    /// <summary>Budget per worker (plain mechanisms).</summary>
    public double? Budget { get; init; }
    /// <summary>REFORM k for a new campaign.</summary>
    public int? ReformChances { get; init; }
    /// <summary>REFORM λ for a new campaign.</summary>
    public double? ReformLambda { get; init; }
    /// <summary>REFORM decay for a new campaign.</summary>
    public string? Decay { get; init; }
    /// <summary>Answer deadline in seconds (REFORM ignores later answers).</summary>
    public double? DeadlineSeconds { get; init; }
    /// <summary>The fitted aggregation model of the previous close (JSON), or null for the first.</summary>
    public string? ModelJson { get; init; }
    /// <summary>The REFORM campaign state (JSON), or null for the first round.</summary>
    public string? CampaignJson { get; init; }
    /// <summary>Every answer of the project up to and including this round.</summary>
    public required IReadOnlyList<ServiceAnswer> Answers { get; init; }
    /// <summary>Gold labels by task (calibration tasks), clamped by the methods that support gold; empty = none.</summary>
    public IReadOnlyDictionary<string, string> Gold { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);
}

/// <summary>One worker's payment in the round.</summary>
/// <param name="Worker">The worker.</param>
/// <param name="Payment">Mean reward over the worker's scored reports.</param>
/// <param name="Tasks">Reports scored.</param>
/// <param name="Chances">Pairings used (REFORM).</param>
/// <param name="Reputation">Reputation after the round (REFORM).</param>
/// <param name="CampaignTotal">Paid over the campaign so far (REFORM).</param>
/// <param name="Optimal">M* of γ-fairness (REFORM's <see cref="Mechanisms.ReformResult.Optimal"/>); null where the mechanism has none.</param>
public sealed record ServicePayment(string Worker, double Payment, int Tasks, int? Chances, double? Reputation, double? CampaignTotal, double? Optimal = null);

/// <summary>A task's label after the round.</summary>
public sealed record ServiceLabel(string Task, string Label, double Confidence, IReadOnlyList<double> Probabilities);

/// <summary>A worker's fitted reliability after the round.</summary>
public sealed record ServiceWorker(string Worker, double Skill, double Agreement);

/// <summary>What closing a round produced.</summary>
public sealed record ServiceRoundOutcome(IReadOnlyList<ServiceLabel> Labels, IReadOnlyList<ServiceWorker> Workers, string? ModelJson,
    IReadOnlyList<ServicePayment> Payments, string? CampaignJson, int RoundAnswers, int LateAnswers);

/// <summary>
/// The server's round close: refine the project's aggregation model on all its answers (warm start from the previous
/// close's model; the first close fits, exactly as <c>tally aggregate --method M --classes C</c> on the same answers),
/// and pay the round's answers with the project's mechanism exactly as <c>tally pay</c> pays a file of the same rows
/// (REFORM: one round of the project's campaign, late answers ignored).
/// </summary>
public static class ServiceRoundJob
{
    /// <summary>Closes the round.</summary>
    /// <exception cref="TallyUserException">A setting that does not fit (unknown method or mechanism).</exception>
    public static ServiceRoundOutcome Run(ServiceRoundRequest request, ComputeOptions? compute = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var info = AggregatorCatalog.Find(request.Method) ?? throw new TallyUserException($"unknown method {Quote.Value(request.Method)}");

        // Labels: every answer so far, the project's classes in its order.
        var labels = new List<ServiceLabel>();
        var workers = new List<ServiceWorker>();
        string? modelJson = request.ModelJson;
        if (request.Answers.Count > 0)
        {
            var builder = new LabelMatrixBuilder(request.Classes);
            foreach (var a in request.Answers) builder.Add(a.Task, a.Worker, a.Label);
            var matrix = builder.Build().Matrix;
            if (info.SupportsGold && request.Gold.Count > 0)
            {
                var gold = new int[matrix.TaskCount];
                for (int t = 0; t < gold.Length; t++)
                    gold[t] = request.Gold.TryGetValue(matrix.Tasks[t], out var g) ? matrix.Classes.IndexOf(g) : -1;
                if (gold.Any(g => g >= 0)) matrix = matrix.WithGold(new GoldLabels(gold, matrix.ClassCount));
            }
            var aggregator = info.Create(new CommonMethodOptions(Seed: info.UsesSeed ? request.Seed : null));
            var start = request.ModelJson is { } json ? AggregationModel.FromJson(json) : null;
            var result = start is not null && start.Method == info.Name && start.Classes.SequenceEqual(matrix.Classes.Names, StringComparer.Ordinal)
                ? aggregator.Refine(start, matrix, compute, null, cancellationToken)
                : aggregator.Aggregate(matrix, compute, null, cancellationToken);
            for (int t = 0; t < matrix.TaskCount; t++)
                labels.Add(new ServiceLabel(matrix.Tasks[t], matrix.Classes[result.Labels[t]], result.Confidence(t), result.Posteriors.Row(t).ToArray()));
            var agreement = Numerics.AgreementWith(matrix, result.Labels.AsSpan());
            for (int w = 0; w < matrix.WorkerCount; w++) workers.Add(new ServiceWorker(matrix.Workers[w], result.WorkerSkills[w], agreement[w]));
            modelJson = result.Model.ToJson();
        }

        // Payments: this round's answers.
        var round = request.Answers.Where(a => a.Round == request.Round).ToList();
        var choice = MechanismCatalog.Resolve(request.Mechanism) ?? throw new TallyUserException(MechanismCatalog.Unknown(request.Mechanism));
        var payments = new List<ServicePayment>();
        string? campaignJson = request.CampaignJson;
        if (round.Count > 0)
        {
            if (!choice.Reform)
            {
                var paid = PayJob.PayReports(round.Select(a => (a.Task, a.Worker, a.Label)), choice.Name, request.Seed, request.Budget,
                    compute: compute, cancellationToken: cancellationToken);
                for (int w = 0; w < paid.Reports.WorkerCount; w++)
                    payments.Add(new ServicePayment(paid.Reports.Workers[w], paid.Payments[w], paid.TasksScored[w], null, null, null));
            }
            else
            {
                var campaign = request.CampaignJson is { } cj ? Campaign.FromJson(cj)
                    : PayJob.NewCampaign(choice, request.ReformChances, request.ReformLambda, request.Decay);
                // A late answer carries a time beyond the deadline, so the round marks it late as the paper does.
                var read = RoundFile.FromReports(request.Round,
                    round.Select(a => (a.Task, a.Worker, a.Label, a.Seconds, request.DeadlineSeconds)));
                var result = campaign.Play(read.Round, request.Seed, compute, null, cancellationToken);
                for (int i = 0; i < result.Agents.Length; i++)
                {
                    string agent = result.Agents[i];
                    payments.Add(new ServicePayment(agent, result.Payments[i], result.TasksScored[i], result.ChancesUsed[i],
                        campaign.Reputation.Score(agent), campaign.TotalPayments.GetValueOrDefault(agent),
                        result.Optimal is { } optimal && result.TasksScored[i] > 0 ? optimal[i] : null));
                }
                campaignJson = campaign.ToJson();
            }
        }
        return new ServiceRoundOutcome(labels, workers, modelJson, payments, campaignJson, round.Count, round.Count(a => a.Late));
    }
}
