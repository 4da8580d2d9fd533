using System.Diagnostics;
using System.Globalization;
using Tally.Catalogs;
using Tally.Core;
using Tally.Mechanisms;
using Tally.Mechanisms.Reputation;

namespace Tally.Application;

/// <summary>What <see cref="PayJob"/> should do: pay one round of reports with one mechanism, plain or under REFORM.</summary>
public sealed record PayRequest
{
    /// <summary>The mechanism used when none is named.</summary>
    public const string DefaultMechanism = "ca";

    /// <summary>The reports (<c>task,worker,label</c>; worker = agent); give <see cref="InputSource.What"/> = "reports" for the messages.</summary>
    public required InputSource Reports { get; init; }
    /// <summary>Mechanism name (see <see cref="MechanismCatalog.Resolve"/>): a registered one, or <c>reform:NAME</c> for one round of a REFORM campaign.</summary>
    public string Mechanism { get; init; } = DefaultMechanism;
    /// <summary>
    /// The seed: the mechanism's <see cref="MechanismOptions.Seed"/>; under REFORM the campaign's seed, from which every
    /// round draws its own streams (<see cref="Campaign.RoundSeeds"/>).
    /// </summary>
    public int Seed { get; init; }
    /// <summary>Budget per agent: payments are mapped affinely so the worst possible is 0 and the best is the budget (plain mechanisms only); null = raw payments.</summary>
    public double? Budget { get; init; }
    /// <summary>Folder for the <see cref="PayJob.PaymentsTable"/> table, or null.</summary>
    public string? OutputDirectory { get; init; }
    /// <summary>Format of the payments table.</summary>
    public OutputFormat OutputFormat { get; init; } = OutputFormat.Csv;
    /// <summary>Name of the task column.</summary>
    public string TaskColumn { get; init; } = ReformSettings.Columns.TaskColumn;
    /// <summary>Name of the agent column.</summary>
    public string WorkerColumn { get; init; } = ReformSettings.Columns.AgentColumn;
    /// <summary>Name of the report column.</summary>
    public string LabelColumn { get; init; } = ReformSettings.Columns.ReportColumn;
    /// <summary>RPTSC's α (rptsc and reform:rptsc; for REFORM only when starting a campaign); null = <see cref="RptscOptions.Alpha"/>'s default.</summary>
    public double? Alpha { get; init; }
    /// <summary>RPTSC's sample size (as <see cref="Alpha"/>); null = <see cref="RptscOptions.SampleSize"/>'s default.</summary>
    public int? SampleSize { get; init; }
    /// <summary>The REFORM-only settings.</summary>
    public ReformSettings Reform { get; init; } = new();
    /// <summary>The reports file's encoding when it has no byte order mark.</summary>
    public FileEncoding Encoding { get; init; } = FileEncoding.Utf8;
}

/// <summary>The settings of <see cref="PayRequest"/> that only REFORM uses; null = not given.</summary>
public sealed record ReformSettings
{
    /// <summary>Campaign state file (JSON): created if absent, resumed if present, saved crash-safely after the round; null = a one-round campaign, not saved.</summary>
    public string? StatePath { get; init; }
    /// <summary>k for a new campaign (a saved one keeps its own; giving another is an error); null = <see cref="ReformOptions.Chances"/>'s default.</summary>
    public int? Chances { get; init; }
    /// <summary>Round number; null = the state's last round + 1, or 0.</summary>
    public int? Round { get; init; }
    /// <summary>TERM's λ for a new campaign; null = <see cref="TermOptions.Lambda"/>'s default.</summary>
    public double? Lambda { get; init; }
    /// <summary>Decay β(t) for a new campaign: <c>none</c>, <c>exponential[:SECONDS]</c> or <c>linear[:SECONDS]</c> (see <see cref="PayJob.ParseDecay"/>); null = none.</summary>
    public string? Decay { get; init; }
    /// <summary>Deadline in seconds for tasks without a deadline column; later reports are ignored and counted. Null = none.</summary>
    public double? Deadline { get; init; }
    /// <summary>Answer-time column (seconds), used when the file has it.</summary>
    public string SecondsColumn { get; init; } = Columns.SecondsColumn;
    /// <summary>Per-row task deadline column (seconds), used when the file has it.</summary>
    public string DeadlineColumn { get; init; } = Columns.DeadlineColumn;

    /// <summary>The round file's default columns.</summary>
    internal static readonly RoundFileOptions Columns = new();

    /// <summary>The settings given, by command-line name, for "applies only to REFORM" messages.</summary>
    internal IEnumerable<string> Given()
    {
        if (StatePath is not null) yield return "--state";
        if (Chances is not null) yield return "--k";
        if (Round is not null) yield return "--round";
        if (Lambda is not null) yield return "--lambda";
        if (Decay is not null) yield return "--decay";
        if (Deadline is not null) yield return "--deadline";
    }
}

/// <summary>Mean over scored agents and the spread over all agents of one round's payments.</summary>
/// <param name="Mean">Mean payment of the scored agents (0 if none).</param>
/// <param name="Min">Smallest payment (unscored agents count as 0).</param>
/// <param name="Median">Median payment (the upper one for an even count).</param>
/// <param name="Max">Largest payment.</param>
/// <param name="Total">Sum of the payments.</param>
/// <param name="Unscored">Agents that could not be scored.</param>
public sealed record PaymentSummary(double Mean, double Min, double Median, double Max, double Total, int Unscored)
{
    /// <summary>The summary of <paramref name="result"/> (NaN-free: an empty result has all zeros).</summary>
    public static PaymentSummary Of(PaymentResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var pays = result.Payments.ToArray();
        Array.Sort(pays);
        double total = 0;
        foreach (var p in pays) total += p;
        return pays.Length == 0
            ? new PaymentSummary(0, 0, 0, 0, 0, 0)
            : new PaymentSummary(result.MeanPayment, pays[0], pays[pays.Length / 2], pays[^1], total, result.UnscoredCount);
    }
}

/// <summary>What a REFORM round did to its campaign.</summary>
/// <param name="Result">The round's REFORM result (chances, peers, M*).</param>
/// <param name="Campaign">The campaign after the round (reputations, totals, options).</param>
/// <param name="Round">The round's index.</param>
/// <param name="Resumed">Whether the campaign was loaded from <paramref name="StatePath"/> (else it is new).</param>
/// <param name="StatePath">The state file, or null (not saved).</param>
/// <param name="ExtraChances">Pairings beyond the first, over all scored reports.</param>
public sealed record ReformRound(ReformResult Result, Campaign Campaign, int Round, bool Resumed, string? StatePath, int ExtraChances)
{
    /// <summary>TERM's λ, or null for another reputation model.</summary>
    public double? Lambda => (Campaign.Reputation as TermReputation)?.Options.Lambda;
}

/// <summary>What <see cref="PayJob"/> did.</summary>
/// <param name="Mechanism">The canonical mechanism name (<c>ca</c>, <c>reform:ca</c>).</param>
/// <param name="Source">The input, for display.</param>
/// <param name="Result">The payments (scaled to the budget if one was given).</param>
/// <param name="Summary">Mean and spread of the payments.</param>
/// <param name="Tasks">Tasks in the reports.</param>
/// <param name="Reports">Reports read (late ones included for REFORM).</param>
/// <param name="DroppedDuplicates">Repeated (task, agent) reports dropped (plain mechanisms keep the last).</param>
/// <param name="Seconds">Time spent paying.</param>
/// <param name="Written">Files written (payments.csv, the state file).</param>
/// <param name="Reform">The REFORM round, or null for a plain mechanism.</param>
public sealed record PayOutcome(string Mechanism, string Source, PaymentResult Result, PaymentSummary Summary, int Tasks, int Reports,
    int DroppedDuplicates, double Seconds, IReadOnlyList<string> Written, ReformRound? Reform);

/// <summary>
/// The pay job: read one round of reports, pay it with one mechanism — or with REFORM over it, loading, advancing and
/// saving the campaign state — scale to a budget, write <c>payments.csv</c>. Used by <c>tally pay</c> and by the server.
/// </summary>
/// <remarks>
/// <c>payments.csv</c>: <c>agent,payment,tasks</c> for a plain mechanism; <c>agent,payment,tasks,chances,reputation,total</c>
/// under REFORM (pairings used, the reputation score after the round, the campaign total). Agents are in the reports'
/// natural order, numbers in round-trip form, so the same reports in any row order give the same bytes.
/// Crash safety: the state folder is checked before paying (a round paid but not saved would be paid again on the
/// retry) and the state is replaced atomically after the round, before payments.csv is written.
/// </remarks>
public static class PayJob
{
    /// <summary>The payments table's name in the output folder (<c>payments.csv</c> or <c>payments.json</c>).</summary>
    public const string PaymentsTable = "payments";

    /// <summary>Runs the job. Output locations and options are checked before any work.</summary>
    /// <exception cref="TallyUserException">Bad input or options, an unknown mechanism, a state that does not fit the request.</exception>
    public static PayOutcome Run(PayRequest request, ComputeOptions? compute = null, IProgress<JobProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var choice = MechanismCatalog.Resolve(request.Mechanism) ?? throw new TallyUserException(MechanismCatalog.Unknown(request.Mechanism));
        bool rptsc = choice.Mechanism.Name == "rptsc";
        if (!rptsc && request.Alpha is not null) throw new TallyUserException("--alpha applies only to rptsc and reform:rptsc");
        if (!rptsc && request.SampleSize is not null) throw new TallyUserException("--sample-size applies only to rptsc and reform:rptsc");
        if (request.Budget is double b && !(b > 0 && double.IsFinite(b)))
            throw new TallyUserException($"--budget must be a positive finite number (got {NumberFormat.Number(b)})");
        var (path, _, source) = request.Reports.Resolve();
        if (request.OutputDirectory is { } outDir) OutputChecks.WritableDirectory(outDir);
        return choice.Reform
            ? PayReform(request, choice, path, source, compute, progress, cancellationToken)
            : PayPlain(request, choice, path, source, compute, progress, cancellationToken);
    }

    private static MechanismOptions Options(PayRequest request, MechanismInfo info, int seed) =>
        MechanismOptionsFor(info, seed, request.Alpha, request.SampleSize);

    private static PayOutcome PayPlain(PayRequest request, MechanismChoice choice, string path, string source, ComputeOptions? compute,
        IProgress<JobProgress>? progress, CancellationToken ct)
    {
        if (request.Reform.Given().FirstOrDefault() is { } option)
            throw new TallyUserException($"{option} applies only to --mechanism reform:NAME");
        var mechanism = Options(request, choice.Mechanism, request.Seed).CreateMechanism();
        progress?.Report(new JobProgress("Reading reports", 0));
        var build = AnswerFiles.ReadAnswers(path, new AnswerFileOptions(request.TaskColumn, request.WorkerColumn, request.LabelColumn, Encoding: request.Encoding),
            f => progress?.Report(new JobProgress("Reading reports", f)));
        var matrix = build.Matrix;
        var clock = Stopwatch.StartNew();
        string phase = "Paying with " + choice.Name;
        var result = mechanism.Pay(matrix, compute, new SyncProgress<WorkProgress>(w => progress?.Report(new JobProgress(phase, w.Fraction))), ct);
        if (request.Budget is double budget) result = PaymentScaling.ForBudget(budget, result.Range).Apply(result);
        double seconds = clock.Elapsed.TotalSeconds;
        var written = new List<string>();
        if (request.OutputDirectory is { } dir)
        {
            written.Add(TableFile.Write(dir, PaymentsTable, request.OutputFormat, ["agent", "payment", "tasks"], t =>
            {
                for (int a = 0; a < matrix.WorkerCount; a++)
                {
                    t.Text(matrix.Workers[a]).Number(result.Payments[a]).Integer(result.TasksScored[a]);
                    t.EndRow();
                }
            }));
        }
        return new PayOutcome(choice.Name, source, result, PaymentSummary.Of(result), matrix.TaskCount, matrix.AnswerCount,
            build.DroppedDuplicates, seconds, written, null);
    }

    private static PayOutcome PayReform(PayRequest request, MechanismChoice choice, string path, string source, ComputeOptions? compute,
        IProgress<JobProgress>? progress, CancellationToken ct)
    {
        var settings = request.Reform;
        if (request.Budget is not null)
            throw new TallyUserException("--budget is not supported with REFORM (the campaign's totals and reputations are kept in the wrapped mechanism's units)");
        if (settings.Deadline is double dl && !(dl >= 0 && double.IsFinite(dl)))
            throw new TallyUserException($"--deadline must be a non-negative number of seconds (got {NumberFormat.Number(dl)})");
        if (settings.Round is int roundGiven && roundGiven < 0)
            throw new TallyUserException($"--round must be at least 0 (got {roundGiven})");
        string? statePath = settings.StatePath;
        // Checked before paying: a round paid but not saved would be paid again on the retry.
        if (statePath is not null) OutputChecks.WritableFile(statePath, "--state");
        bool resumed = statePath is not null && File.Exists(statePath);
        Campaign campaign;
        if (resumed)
        {
            try { campaign = Campaign.Load(statePath!); }
            catch (Exception e) when (e is System.Text.Json.JsonException or InvalidDataException or NotSupportedException or InvalidOptionException)
            {
                throw new TallyDataException(statePath!, e is System.Text.Json.JsonException j ? JsonErrors.Line(j) : 0,
                    "is not a valid campaign state: " + (e is System.Text.Json.JsonException je ? JsonErrors.Problem(je) : e.Message));
            }
            string saved = MechanismCatalog.ReformPrefix + CatalogName(campaign.Reform.Mechanism);
            if (!string.Equals(saved, choice.Name, StringComparison.Ordinal))
                throw new TallyUserException($"--mechanism {request.Mechanism} differs from the saved campaign's {saved} ({statePath}); start a new state file");
            foreach (var (given, name) in new (bool, string)[]
                     { (settings.Lambda is not null, "--lambda"), (request.Alpha is not null, "--alpha"), (request.SampleSize is not null, "--sample-size"), (settings.Decay is not null, "--decay") })
                if (given) throw new TallyUserException($"{name} cannot change a saved campaign ({statePath}); start a new state file");
            if (settings.Chances is int k && k != campaign.Reform.Options.Chances)
                throw new TallyUserException($"--k {k} differs from the saved campaign's k = {campaign.Reform.Options.Chances}");
        }
        else campaign = NewCampaign(choice, settings.Chances, settings.Lambda, settings.Decay, request.Alpha, request.SampleSize);
        int index = settings.Round ?? (campaign.Reputation.LastRound is int last ? last + 1 : 0);
        if (campaign.Reputation.LastRound is int prev && index <= prev)
            throw new TallyUserException($"round {index} does not follow the saved campaign's last round {prev}");

        progress?.Report(new JobProgress("Reading reports", 0));
        var read = RoundFile.Read(path, index, new RoundFileOptions(request.TaskColumn, request.WorkerColumn, request.LabelColumn,
            settings.SecondsColumn, settings.DeadlineColumn, settings.Deadline, request.Encoding));
        var clock = Stopwatch.StartNew();
        string phase = "Paying with " + choice.Name;
        var result = campaign.Play(read.Round, request.Seed, compute,
            new SyncProgress<WorkProgress>(w => progress?.Report(new JobProgress(phase, w.Fraction))), ct);
        double seconds = clock.Elapsed.TotalSeconds;
        var written = new List<string>();
        if (statePath is not null) { campaign.Save(statePath); written.Add(statePath); }
        if (request.OutputDirectory is { } dir)
        {
            written.Add(TableFile.Write(dir, PaymentsTable, request.OutputFormat, ["agent", "payment", "tasks", "chances", "reputation", "total"], t =>
            {
                for (int i = 0; i < result.Agents.Length; i++)
                {
                    string agent = result.Agents[i];
                    t.Text(agent).Number(result.Payments[i]).Integer(result.TasksScored[i]).Integer(result.ChancesUsed[i])
                        .Number(campaign.Reputation.Score(agent)).Number(campaign.TotalPayments.GetValueOrDefault(agent));
                    t.EndRow();
                }
            }));
        }
        var round = new ReformRound(result, campaign, index, resumed, statePath, result.ExtraChances.Sum());
        return new PayOutcome(choice.Name, source, result.Result, PaymentSummary.Of(result.Result), read.Round.TaskCount,
            read.Round.Reports.Length, 0, seconds, written, round);
    }

    /// <summary>
    /// A new REFORM campaign over <paramref name="choice"/>'s mechanism, as <c>tally pay --mechanism reform:NAME</c> starts
    /// one (k, λ, decay and RPTSC's α and sample size; null = the defaults).
    /// </summary>
    /// <exception cref="InvalidOptionException">An option out of range.</exception>
    public static Campaign NewCampaign(MechanismChoice choice, int? chances, double? lambda, string? decay, double? alpha = null, int? sampleSize = null)
    {
        ArgumentNullException.ThrowIfNull(choice);
        var options = new ReformOptions();
        options = options with { Chances = chances ?? options.Chances, Decay = ParseDecay(decay) };
        options.Validate();
        var term = new TermOptions();
        term = term with { Lambda = lambda ?? term.Lambda };
        term.Validate();
        // The wrapped mechanism's own seed is replaced by each round's (Campaign.RoundSeeds).
        var mechanism = MechanismOptionsFor(choice.Mechanism, 0, alpha, sampleSize).CreateMechanism();
        return new Campaign(new Reform(mechanism, options), new TermReputation(term));
    }

    /// <summary>
    /// Pays reports held in memory with a plain mechanism exactly as <see cref="Run"/> pays a file with the same rows
    /// (classes as found, sorted; a repeated (task, agent) keeps the last), then scales to <paramref name="budget"/>.
    /// Used by the server's round close.
    /// </summary>
    /// <exception cref="TallyUserException">An unknown mechanism or a bad option.</exception>
    public static PaymentResult PayReports(IEnumerable<(string Task, string Agent, string Report)> reports, string mechanism, int seed,
        double? budget = null, double? alpha = null, int? sampleSize = null, ComputeOptions? compute = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reports);
        var choice = MechanismCatalog.Resolve(mechanism) ?? throw new TallyUserException(MechanismCatalog.Unknown(mechanism));
        if (choice.Reform) throw new ArgumentException("REFORM pays through a campaign (Campaign.Play).", nameof(mechanism));
        var builder = new LabelMatrixBuilder();
        foreach (var (task, agent, report) in reports) builder.Add(task, agent, report);
        var matrix = builder.Build().Matrix;
        var result = MechanismOptionsFor(choice.Mechanism, seed, alpha, sampleSize).CreateMechanism().Pay(matrix, compute, null, cancellationToken);
        return budget is double b ? PaymentScaling.ForBudget(b, result.Range).Apply(result) : result;
    }

    private static MechanismOptions MechanismOptionsFor(MechanismInfo info, int seed, double? alpha, int? sampleSize)
    {
        var options = info.DefaultOptions() with { Seed = seed };
        if (options is RptscOptions r)
            options = r with { Alpha = alpha ?? r.Alpha, SampleSize = sampleSize ?? r.SampleSize };
        options.Validate();
        return options;
    }

    /// <summary>The catalog name of a built-in mechanism (its <see cref="IPeerPredictionMechanism.Name"/> may be an alias, e.g. <c>tvdmi</c>).</summary>
    private static string CatalogName(IPeerPredictionMechanism mechanism) =>
        MechanismCatalog.Find(mechanism.Name)?.Name ?? mechanism.Name;

    /// <summary>
    /// A decay function from its command-line form: <c>none</c> (or null/empty), <c>exponential[:SECONDS]</c> or
    /// <c>linear[:SECONDS]</c>; without SECONDS the function's own default time.
    /// </summary>
    /// <exception cref="TallyUserException">Any other form, or a time that is not a positive number.</exception>
    public static IDecayFunction ParseDecay(string? text) => DecayFunctions.Parse(text);
}
