using System.Text.Json;
using System.Text.Json.Serialization;
using Tally.Core;

namespace Tally.Service;

/// <summary>
/// The JSON the service speaks (camelCase names, nulls omitted), shared by <c>Tally.Server</c> and
/// <see cref="TallyClient"/> so both sides read and write the same shapes.
/// </summary>
public static class ServiceJson
{
    /// <summary>Serializer options of every request and response body.</summary>
    public static JsonSerializerOptions Options { get; } = Create();

    private static JsonSerializerOptions Create()
    {
        var o = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
            // Names and labels are shown as they are (é, not \u00E9); the service sends JSON only as JSON, never into HTML.
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        };
        o.MakeReadOnly(populateMissingResolver: true);
        return o;
    }
}

/// <summary>A key, shown once when it is created; only its hash is stored.</summary>
/// <param name="Id">The principal it belongs to (admin, requester or worker id).</param>
/// <param name="Name">The principal's name.</param>
/// <param name="Role"><c>admin</c>, <c>requester</c> or <c>worker</c>.</param>
/// <param name="Key">The secret: send it as <c>Authorization: Bearer KEY</c>.</param>
public sealed record IssuedKey(string Id, string Name, string Role, string Key);

/// <summary>An enrolment token to create: how many workers may use it and for how long (null = no limit).</summary>
/// <param name="MaxUses">Most workers who may enrol with it (1..1,000,000; null = any number).</param>
/// <param name="ExpiresSeconds">Seconds from now after which it no longer works (null = until revoked).</param>
public sealed record EnrolmentSpec(int? MaxUses = null, double? ExpiresSeconds = null);

/// <summary>
/// An enrolment token: a requester hands it to many workers, each of whom trades it at <c>POST /enrol</c> for a
/// worker key of their own. <c>Token</c> is shown once, when it is created (stored only as a hash).
/// </summary>
/// <param name="Id">Its id (to list or revoke it).</param>
/// <param name="Project">The project the workers join.</param>
/// <param name="Token">The secret (only in the response that creates it; null in lists).</param>
/// <param name="MaxUses">Most workers who may use it (null = any number).</param>
/// <param name="Uses">Workers who have used it.</param>
/// <param name="Expires">When it stops working (null = until revoked).</param>
/// <param name="Revoked">Whether it has been revoked.</param>
public sealed record EnrolmentView(string Id, string Project, string? Token, int? MaxUses, int Uses, DateTimeOffset? Expires, bool Revoked);

/// <summary>A worker enrols: the token they were given and the name they choose (unique in the project).</summary>
/// <param name="Token">The enrolment token.</param>
/// <param name="Name">1–200 printable characters.</param>
public sealed record EnrolRequest(string Token, string Name);

/// <summary>A new requester or worker: its name (unique among requesters, or among a project's workers).</summary>
/// <param name="Name">1–200 printable characters.</param>
public sealed record NewPrincipal(string Name);

/// <summary>
/// How a project collects and pays: its classes, how many answers each task gets, when to re-ask, how truth is inferred
/// and how workers are paid. Defaults in parentheses.
/// </summary>
public sealed record ProjectSpec
{
    /// <summary>The project's name.</summary>
    public required string Name { get; init; }
    /// <summary>The answer classes, in order; answers outside them are refused.</summary>
    public required IReadOnlyList<string> Classes { get; init; }
    /// <summary>Answers every task gets before any is re-asked (3).</summary>
    public int MinAnswers { get; init; } = 3;
    /// <summary>Most answers a task gets when its posterior stays uncertain — dynamic overlap (5; = MinAnswers turns it off).</summary>
    public int MaxAnswers { get; init; } = 5;
    /// <summary>Posterior confidence below which a task is re-asked, up to <see cref="MaxAnswers"/> (0.9).</summary>
    public double ConfidenceTarget { get; init; } = 0.9;
    /// <summary>Aggregation method, any of <c>tally methods</c> (ds).</summary>
    public string Method { get; init; } = Catalogs.AggregatorCatalog.DefaultMethod;
    /// <summary>Payment mechanism, any of <c>tally pay</c>'s, or <c>reform:NAME</c> (ca).</summary>
    public string Mechanism { get; init; } = "ca";
    /// <summary>REFORM: pairing chances k (the mechanism's default).</summary>
    public int? ReformChances { get; init; }
    /// <summary>REFORM: TERM discount λ (the default).</summary>
    public double? ReformLambda { get; init; }
    /// <summary>REFORM: decay β(t): none, exponential[:SECONDS], linear[:SECONDS] (none).</summary>
    public string? Decay { get; init; }
    /// <summary>Budget per worker and round: payments mapped to [0, budget] (plain mechanisms; null = raw payments).</summary>
    public double? Budget { get; init; }
    /// <summary>Seed of the aggregation and the payments (0).</summary>
    public int Seed { get; init; } = Seeding.DefaultSeed;
    /// <summary>How long an assignment is held before the task returns to the pool, in seconds (600).</summary>
    public int LeaseSeconds { get; init; } = 600;
    /// <summary>Answer deadline in seconds from the assignment; later answers are stored, marked late, ignored by REFORM (null = none).</summary>
    public double? DeadlineSeconds { get; init; }
    /// <summary>
    /// Round length in seconds: a round closes by itself this long after it opened, as if its owner had closed it
    /// (null = rounds close only when asked). A round with no answers at its deadline stays open for another length.
    /// </summary>
    public double? RoundSeconds { get; init; }
    /// <summary>
    /// A classifier trained at every round close on the tasks' <see cref="TaskUpload.Features"/> and the crowd's
    /// answers, whose predictions rank the unanswered tasks by uncertainty (null = no learner; every task of a project
    /// with a learner must bring features).
    /// </summary>
    public LearnerSpec? Learner { get; init; }

    /// <summary>The problems of this spec, by field (empty when valid).</summary>
    public IReadOnlyList<(string Field, string Problem)> Problems()
    {
        var p = new List<(string, string)>();
        if (string.IsNullOrWhiteSpace(Name) || Name.Length > 200) p.Add(("name", "must be 1–200 characters"));
        if (Classes is null || Classes.Count < 2) p.Add(("classes", "needs at least 2 classes"));
        else
        {
            if (Classes.Distinct(StringComparer.Ordinal).Count() != Classes.Count) p.Add(("classes", "names a class twice"));
            if (Classes.Any(c => string.IsNullOrEmpty(c) || c.Length > 200)) p.Add(("classes", "every class must be 1–200 characters"));
            if (Classes.Count > 1000) p.Add(("classes", "at most 1,000 classes"));
        }
        if (MinAnswers < 1 || MinAnswers > 1000) p.Add(("minAnswers", "must be in 1..1000"));
        if (MaxAnswers < MinAnswers || MaxAnswers > 1000) p.Add(("maxAnswers", "must be at least minAnswers and at most 1000"));
        if (!(ConfidenceTarget > 0 && ConfidenceTarget <= 1)) p.Add(("confidenceTarget", "must be in (0, 1]"));
        if (Catalogs.AggregatorCatalog.Find(Method ?? "") is null)
            p.Add(("method", $"unknown method {Quote.Value(Method)} (known: {string.Join(", ", Catalogs.AggregatorCatalog.All.Select(m => m.Name))})"));
        var choice = Catalogs.MechanismCatalog.Resolve(Mechanism ?? "");
        if (choice is null) p.Add(("mechanism", Catalogs.MechanismCatalog.Unknown(Mechanism ?? "")));
        else if (!choice.Reform)
        {
            if (ReformChances is not null) p.Add(("reformChances", "applies only to a reform:NAME mechanism"));
            if (ReformLambda is not null) p.Add(("reformLambda", "applies only to a reform:NAME mechanism"));
            if (Decay is not null) p.Add(("decay", "applies only to a reform:NAME mechanism"));
        }
        else if (Budget is not null) p.Add(("budget", "is not supported with REFORM (payments stay in the mechanism's units)"));
        if (ReformChances is int k && (k < 1 || k > 100)) p.Add(("reformChances", "must be in 1..100"));
        if (ReformLambda is double l && !(l > 0 && l <= 1)) p.Add(("reformLambda", "must be in (0, 1]"));
        if (Budget is double b && !(b > 0 && double.IsFinite(b))) p.Add(("budget", "must be a positive finite number"));
        if (LeaseSeconds < 1 || LeaseSeconds > 7 * 24 * 3600) p.Add(("leaseSeconds", "must be in 1..604800"));
        if (DeadlineSeconds is double d && !(d > 0 && double.IsFinite(d))) p.Add(("deadlineSeconds", "must be a positive number of seconds"));
        if (RoundSeconds is double rs && !(rs >= 1 && rs <= 366 * 24 * 3600)) p.Add(("roundSeconds", "must be in 1..31622400 seconds"));
        if (Decay is not null)
        {
            try { Mechanisms.Reputation.DecayFunctions.Parse(Decay); }
            catch (TallyUserException e) { p.Add(("decay", e.Message)); }
        }
        if (Learner is not null) p.AddRange(Learner.Problems().Select(x => ("learner." + x.Field, x.Problem)));
        return p;
    }
}

/// <summary>
/// A project's learner: a learning-from-crowds method of <c>tally learn</c> trained on the answered tasks' features
/// and all the answers at each round close. Null settings keep the method's defaults (the catalog's, as <c>tally
/// learn</c> uses them).
/// </summary>
public sealed record LearnerSpec
{
    /// <summary>Features per task: every task uploaded to the project carries exactly this many finite numbers.</summary>
    public required int Dimension { get; init; }
    /// <summary>Learning-from-crowds method, any of <c>tally learn --method</c> (the catalog's default, <c>maxmig</c>).</summary>
    public string Method { get; init; } = Catalogs.CrowdLearnerCatalog.Default.Name;
    /// <summary>Classifier: <c>linear</c> or <c>mlp:WIDTH[,WIDTH…]</c> (null = the method's default).</summary>
    public string? Classifier { get; init; }
    /// <summary>Training epochs (per round for the alternating methods; null = the method's default).</summary>
    public int? Epochs { get; init; }
    /// <summary>Adam step of the classifier (null = the method's default).</summary>
    public double? LearningRate { get; init; }
    /// <summary>Seed of the training (null = the project's seed).</summary>
    public int? Seed { get; init; }

    /// <summary>The largest <see cref="Dimension"/> accepted.</summary>
    public const int MaxDimension = 100_000;

    /// <summary>The problems of this learner spec, by field (empty when valid).</summary>
    public IReadOnlyList<(string Field, string Problem)> Problems()
    {
        var p = new List<(string, string)>();
        if (Dimension < 1 || Dimension > MaxDimension) p.Add(("dimension", $"must be in 1..{MaxDimension}"));
        if (Catalogs.CrowdLearnerCatalog.Find(Method ?? "") is null)
            p.Add(("method", $"unknown method {Quote.Value(Method)} (known: {string.Join(", ", Catalogs.CrowdLearnerCatalog.All.Select(m => m.Name))})"));
        if (Classifier is not null)
        {
            try { Learning.ModelSpec.HiddenLayers(Classifier, "classifier"); }
            catch (InvalidOptionException e) { p.Add(("classifier", e.Problem)); }
        }
        if (Epochs is int e0 && (e0 < 1 || e0 > 10_000)) p.Add(("epochs", "must be in 1..10000"));
        if (LearningRate is double lr && !(lr > 0 && lr <= 1)) p.Add(("learningRate", "must be in (0, 1]"));
        return p;
    }

    /// <summary>The library's settings for this spec (<paramref name="projectSeed"/> when <see cref="Seed"/> is null); valid specs only.</summary>
    public Catalogs.LearnerSettings Settings(int projectSeed) => new()
    {
        Hidden = Classifier is null ? null : Learning.ModelSpec.HiddenLayers(Classifier, "classifier"),
        Epochs = Epochs,
        LearningRate = LearningRate,
        Seed = Seed ?? projectSeed,
    };
}

/// <summary>A project as its owner sees it.</summary>
public sealed record ProjectView(string Id, string Owner, ProjectSpec Spec, int CurrentRound, long Tasks, long Answers, DateTimeOffset Created);

/// <summary>
/// One task to upload: an id, an opaque JSON payload shown to workers, optionally a gold label, and — in a project with
/// a <see cref="ProjectSpec.Learner"/>, required there — its feature vector (<see cref="LearnerSpec.Dimension"/> finite numbers).
/// </summary>
public sealed record TaskUpload(string Id, JsonElement? Payload = null, string? Gold = null, IReadOnlyList<double>? Features = null);

/// <summary>What a task upload did.</summary>
/// <param name="Added">New tasks.</param>
/// <param name="Unchanged">Tasks already there with the same payload and gold (an upload can be retried).</param>
/// <param name="Total">Tasks in the project now.</param>
public sealed record TasksAdded(int Added, int Unchanged, long Total);

/// <summary>A request for work: any task (the service picks), or one named task.</summary>
public sealed record AssignmentRequest(string? Task = null);

/// <summary>A task leased to a worker until <see cref="Expires"/>.</summary>
public sealed record AssignmentView(string Id, string Task, JsonElement? Payload, int Round, DateTimeOffset Started, DateTimeOffset Expires);

/// <summary>One answer. <see cref="Id"/> is the client's idempotency key: a retry with the same id returns the first result.</summary>
/// <param name="Id">Unique per worker and project (1–200 characters).</param>
/// <param name="Task">The task answered.</param>
/// <param name="Label">One of the project's classes.</param>
/// <param name="Assignment">The assignment it answers (null: the worker's open assignment of the task).</param>
public sealed record AnswerPost(string Id, string Task, string Label, string? Assignment = null);

/// <summary>Several answers in one request.</summary>
public sealed record AnswerBatch(IReadOnlyList<AnswerPost> Answers);

/// <summary>The acknowledgement of one answer, sent only after it is committed.</summary>
/// <param name="Id">The client's id.</param>
/// <param name="Status"><c>stored</c>, or <c>duplicate</c> for a retry of an answer already stored (its first result).</param>
/// <param name="Round">The round it belongs to.</param>
/// <param name="Late">Answered after the project's deadline: stored, ignored by REFORM.</param>
public sealed record AnswerAck(string Id, string Status, int Round, bool Late);

/// <summary>The acknowledgements of a batch, in request order.</summary>
public sealed record AnswerAcks(IReadOnlyList<AnswerAck> Answers);

/// <summary>
/// A round: open while answers come in, then closed once (labels refined, workers paid). <c>Due</c> is when an open
/// round closes by itself (projects with <see cref="ProjectSpec.RoundSeconds"/>; null otherwise).
/// </summary>
public sealed record RoundView(int Round, string Status, int Answers, int LateAnswers, int Tasks, int Workers, string? Method, string? Mechanism,
    DateTimeOffset? Closed, double? TotalPaid, double? MeanPayment, DateTimeOffset? Due = null, LearnerStatus? Learner = null);

/// <summary>What the project's learner did at a round close (null on rounds of projects without a learner).</summary>
/// <param name="Status"><c>trained</c> (a model and predictions were stored), <c>skipped</c> (nothing to train on yet) or
/// <c>failed</c> (the round closed all the same; the previous model, if any, stays the latest).</param>
/// <param name="Message">Why it was skipped or failed (null when trained).</param>
/// <param name="Method">The learning-from-crowds method.</param>
/// <param name="TrainingTasks">Answered tasks it was trained on.</param>
/// <param name="Predicted">Tasks it predicted (every task of the project).</param>
public sealed record LearnerStatus(string Status, string? Message, string Method, int TrainingTasks, int Predicted);

/// <summary>
/// A task's class probabilities under the project's latest model, and their entropy (nats): the higher, the more
/// uncertain the model is — the tasks most worth asking about next.
/// </summary>
/// <param name="Task">The task.</param>
/// <param name="Label">The most probable class.</param>
/// <param name="Entropy">−Σ p log p over the classes, in nats (0 = certain; log K = uniform).</param>
/// <param name="Probabilities">Probability per class.</param>
/// <param name="Answers">Answers the task has now.</param>
/// <param name="Round">The round whose close trained the model.</param>
public sealed record PredictionView(string Task, string Label, double Entropy, IReadOnlyDictionary<string, double> Probabilities, int Answers, int Round);

/// <summary>A task's inferred label, with the columns of <c>labels.csv</c>.</summary>
public sealed record LabelView(string Task, string Label, double Confidence, IReadOnlyDictionary<string, double> Probabilities);

/// <summary>A worker as the requester sees it.</summary>
public sealed record WorkerView(string Worker, long Answers, double? Skill, double? Agreement, double? Reputation, double TotalPaid, bool Revoked);

/// <summary>One payment of one round.</summary>
/// <param name="Round">The round.</param>
/// <param name="Worker">The worker paid.</param>
/// <param name="Payment">The payment: the mechanism's mean reward over the worker's scored reports (budget-scaled when the project has a budget).</param>
/// <param name="Tasks">Reports scored.</param>
/// <param name="Chances">Pairings used (REFORM mechanisms).</param>
/// <param name="Reputation">The worker's reputation after the round (REFORM mechanisms).</param>
/// <param name="Optimal">M* of REFORM's γ-fairness (Definition 2): the mean reward the worker's scored reports would have
/// earned had each matched its peer, in the payment's units; null for mechanisms without per-report peer rewards and
/// for mechanisms not wrapped in REFORM.</param>
public sealed record PaymentView(int Round, string Worker, double Payment, int Tasks, int? Chances, double? Reputation, double? Optimal = null);

/// <summary>One stored answer.</summary>
public sealed record AnswerView(string Id, string Task, string Worker, string Label, int Round, bool Late, double? Seconds);

/// <summary>What a worker may see of themself.</summary>
public sealed record WorkerSelf(string Worker, string Project, long Answers, double TotalPaid, double? Reputation, IReadOnlyList<PaymentView> Payments);

/// <summary>A page of results.</summary>
public sealed record Page<T>(IReadOnlyList<T> Items, long Offset, long Total);

/// <summary>A data-sharing session: m agents, known σ, cost c per sample (Chen, Zhu &amp; Kandasamy, NeurIPS 2023).</summary>
public sealed record SharingSpec(int Agents, double Sigma, double Cost, int Seed = 0);

/// <summary>A sharing session's state: <c>collecting</c> until every agent has posted, then <c>allocated</c>.</summary>
public sealed record SharingView(string Id, SharingSpec Spec, string Status, int Posted);

/// <summary>An agent's samples.</summary>
public sealed record SharingSamples(IReadOnlyList<double> Values);

/// <summary>An agent's own allocation: the others' points it receives, clean (Z) and noisy (Z').</summary>
/// <param name="Session">The sharing session.</param>
/// <param name="Agent">The agent (the worker's name).</param>
/// <param name="RecommendedSampleSize">n*, the samples each agent should collect.</param>
/// <param name="Clean">Z: the others' points, as submitted.</param>
/// <param name="Noisy">Z': the others' remaining points with Gaussian noise of variance η².</param>
/// <param name="NoisyWeight">Weight 1/(1 + η²/σ²) of each noisy point in the recommended estimate (0 when η² is infinite).</param>
public sealed record SharingAllocationView(string Session, string Agent, int RecommendedSampleSize, IReadOnlyList<double> Clean, IReadOnlyList<double> Noisy, double NoisyWeight);
