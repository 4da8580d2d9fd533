using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using Tally.Core;
using Tally.Simulation;

namespace Tally.Application;

/// <summary>What <see cref="RoundsJob"/> should do.</summary>
public sealed record RoundsRequest
{
    /// <summary>The scenario JSON file (see <see cref="RoundsJob.ReadScenario(string, FileEncoding)"/>).</summary>
    public required string ScenarioPath { get; init; }
    /// <summary>Folder for <c>rewards.csv</c> and <c>summary.csv</c>, or null.</summary>
    public string? OutputDirectory { get; init; }
    /// <summary>Format of the rewards and summary tables.</summary>
    public OutputFormat OutputFormat { get; init; } = OutputFormat.Csv;
    /// <summary>The scenario file's encoding when it has no byte order mark (JSON is UTF-8 by its standard).</summary>
    public FileEncoding Encoding { get; init; } = FileEncoding.Utf8;
}

/// <summary>What <see cref="RoundsJob"/> did.</summary>
/// <param name="Result">The simulation's outcome.</param>
/// <param name="Written">Files written.</param>
public sealed record RoundsOutcome(ReformLabResult Result, IReadOnlyList<string> Written);

/// <summary>
/// The rounds job behind <c>tally rounds run</c>: read a scenario file, simulate REFORM's §5 experiment
/// (<see cref="ReformLab"/>), write the per-round rewards and the summary.
/// </summary>
/// <remarks>
/// <c>rewards.csv</c>: <c>round,mechanism,k,alpha,ta_reward,ra_reward,ta_optimal</c>, one row per round and mechanism.
/// <c>summary.csv</c>: <c>mechanism,k,alpha,ta_reward,ra_reward,ta_optimal,normalised,gamma,gamma_all_agents,
/// budget_per_agent,budget_increase,ta_chances,ra_chances,qualitative_fair</c> (empty cells where a value is undefined).
/// </remarks>
public static class RoundsJob
{
    /// <summary>Per-round rewards of every mechanism: <c>rewards.csv</c> or <c>rewards.json</c>.</summary>
    public const string RewardsTable = "rewards";

    /// <summary>One line per mechanism (fairness, budget): <c>summary.csv</c> or <c>summary.json</c>.</summary>
    public const string SummaryTable = "summary";

    /// <summary>Runs the job; the output folder is checked before the simulation.</summary>
    /// <exception cref="TallyUserException">A bad scenario (file, field and problem) or an unwritable folder.</exception>
    public static RoundsOutcome Run(RoundsRequest request, ComputeOptions? compute = null, IProgress<JobProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var options = ReadScenario(request.ScenarioPath, request.Encoding);
        if (request.OutputDirectory is { } dir) OutputChecks.WritableDirectory(dir);
        var result = ReformLab.Run(options, compute,
            new SyncProgress<ReformLabProgress>(p => progress?.Report(new JobProgress("Simulating rounds", p.Fraction))), cancellationToken);
        var written = request.OutputDirectory is { } outDir ? Write(outDir, result, request.OutputFormat) : [];
        return new RoundsOutcome(result, written);
    }

    private static List<string> Write(string dir, ReformLabResult result, OutputFormat format)
    {
        var runs = new[] { result.Rptsc }.Concat(result.Reform).ToList();
        string rewards = TableFile.Write(dir, RewardsTable, format, ["round", "mechanism", "k", "alpha", "ta_reward", "ra_reward", "ta_optimal"], t =>
        {
            foreach (var r in runs)
                for (int j = 0; j < r.TrustworthyReward.Length; j++)
                {
                    t.Integer(j + 1).Text(r.Mechanism).Integer(r.Chances).Number(r.Alpha).Number(r.TrustworthyReward[j])
                        .Number(r.RandomReward[j]).Number(r.TrustworthyOptimal[j]);
                    t.EndRow();
                }
        });
        string summary = TableFile.Write(dir, SummaryTable, format,
            ["mechanism", "k", "alpha", "ta_reward", "ra_reward", "ta_optimal", "normalised", "gamma", "gamma_all_agents", "budget_per_agent",
             "budget_increase", "ta_chances", "ra_chances", "qualitative_fair"], t =>
        {
            foreach (var r in runs)
            {
                t.Text(r.Mechanism).Integer(r.Chances).Number(r.Alpha).Number(r.MeanTrustworthyReward).Number(r.MeanRandomReward)
                    .Number(r.Fairness.OptimalReward).Number(r.Fairness.Normalised).Number(r.Fairness.Gamma).Number(r.FairnessAllAgents.Gamma)
                    .Number(r.BudgetPerAgent).Number(r.Mechanism != "rptsc" ? result.BudgetIncrease(r.Chances) : null)
                    .Number(r.ChancesPerReport.Trustworthy).Number(r.ChancesPerReport.Random).Boolean(r.Qualitative.Holds);
                t.EndRow();
            }
        });
        return [rewards, summary];
    }

    private static readonly ImmutableHashSet<string> TopFields =
        ["rounds", "tasks_per_round", "answers", "seed", "sample_size", "lambda", "population", "mechanism", "k", "alpha"];
    private static readonly ImmutableHashSet<string> PopulationFields = ["agents", "trustworthy_share", "accuracy"];

    /// <summary>
    /// Reads a scenario file into lab options; every field is optional (defaults = <see cref="ReformLabOptions"/>'s, the
    /// paper's §5 setup): <c>rounds, tasks_per_round, answers, seed, sample_size, lambda, population: { agents,
    /// trustworthy_share, accuracy: [min, max] }, mechanism: "reform" | "rptsc", k: a number or a list, alpha: a number or
    /// { "rptsc": A, "reform": B }</c>.
    /// </summary>
    /// <exception cref="TallyDataException">Missing file, invalid JSON, an unknown or invalid field (named).</exception>
    public static ReformLabOptions ReadScenario(string path, FileEncoding encoding = FileEncoding.Utf8)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var stream = TextFiles.OpenFile(path);
        return ReadScenario(stream, path, encoding);
    }

    /// <summary>Reads a scenario from the bytes of <paramref name="stream"/>; errors name <paramref name="sourceName"/>.</summary>
    /// <exception cref="TallyDataException">Bad bytes, invalid JSON, an unknown or invalid field (named).</exception>
    public static ReformLabOptions ReadScenario(Stream stream, string sourceName, FileEncoding encoding = FileEncoding.Utf8)
    {
        ArgumentNullException.ThrowIfNull(stream);
        string path = sourceName;
        JsonElement root;
        try
        {
            using var doc = JsonDocument.Parse(TextFiles.ReadAllText(stream, sourceName, encoding),
                new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            root = doc.RootElement.Clone();
        }
        catch (JsonException e) { throw new TallyDataException(path, JsonErrors.Line(e), "not valid JSON: " + JsonErrors.Problem(e)); }
        if (root.ValueKind != JsonValueKind.Object) throw new TallyDataException(path, 0, "the scenario must be a JSON object");
        Exception Bad(string field, string problem) => new TallyDataException(path, 0, $"field {Quote.Value(field)}: {problem}");
        foreach (var prop in root.EnumerateObject())
            if (!TopFields.Contains(prop.Name)) throw Bad(prop.Name, $"unknown field (known: {string.Join(", ", TopFields.Order())})");

        int Int(JsonElement e, string field) =>
            e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int v) ? v : throw Bad(field, $"must be an integer (got {Quote.Bare(e.GetRawText())})");
        double Num(JsonElement e, string field) =>
            e.ValueKind == JsonValueKind.Number && e.TryGetDouble(out double v) && double.IsFinite(v) ? v : throw Bad(field, $"must be a number (got {Quote.Bare(e.GetRawText())})");

        var o = new ReformLabOptions();
        if (root.TryGetProperty("rounds", out var x)) o = o with { Rounds = Int(x, "rounds") };
        if (root.TryGetProperty("tasks_per_round", out x)) o = o with { TasksPerRound = Int(x, "tasks_per_round") };
        if (root.TryGetProperty("answers", out x)) o = o with { Answers = Int(x, "answers") };
        if (root.TryGetProperty("seed", out x)) o = o with { Seed = Int(x, "seed") };
        if (root.TryGetProperty("sample_size", out x)) o = o with { SampleSize = Int(x, "sample_size") };
        if (root.TryGetProperty("lambda", out x)) o = o with { Lambda = Num(x, "lambda") };
        if (root.TryGetProperty("population", out var pop))
        {
            if (pop.ValueKind != JsonValueKind.Object) throw Bad("population", "must be an object");
            foreach (var prop in pop.EnumerateObject())
                if (!PopulationFields.Contains(prop.Name)) throw Bad("population." + prop.Name, $"unknown field (known: {string.Join(", ", PopulationFields.Order())})");
            if (pop.TryGetProperty("agents", out x)) o = o with { Agents = Int(x, "population.agents") };
            if (pop.TryGetProperty("trustworthy_share", out x)) o = o with { TrustworthyShare = Num(x, "population.trustworthy_share") };
            if (pop.TryGetProperty("accuracy", out x))
            {
                if (x.ValueKind != JsonValueKind.Array || x.GetArrayLength() != 2) throw Bad("population.accuracy", "must be [min, max]");
                o = o with { MinAccuracy = Num(x[0], "population.accuracy"), MaxAccuracy = Num(x[1], "population.accuracy") };
            }
        }
        string mechanism = "reform";
        if (root.TryGetProperty("mechanism", out x))
            mechanism = x.ValueKind == JsonValueKind.String && x.GetString() is "rptsc" or "reform" ? x.GetString()! : throw Bad("mechanism", $"must be \"rptsc\" or \"reform\" (got {Quote.Bare(x.GetRawText())})");
        if (root.TryGetProperty("k", out x))
        {
            if (mechanism == "rptsc") throw Bad("k", "only applies to mechanism \"reform\"");
            ImmutableArray<int> ks = x.ValueKind == JsonValueKind.Array ? [.. x.EnumerateArray().Select(e => Int(e, "k"))] : [Int(x, "k")];
            o = o with { Chances = ks };
        }
        if (mechanism == "rptsc") o = o with { Chances = [] };
        if (root.TryGetProperty("alpha", out x))
        {
            if (x.ValueKind == JsonValueKind.Object)
            {
                foreach (var prop in x.EnumerateObject())
                    if (prop.Name is not ("rptsc" or "reform")) throw Bad("alpha." + prop.Name, "unknown field (known: reform, rptsc)");
                if (x.TryGetProperty("rptsc", out var a)) o = o with { RptscAlpha = Num(a, "alpha.rptsc") };
                if (x.TryGetProperty("reform", out a)) o = o with { ReformAlpha = Num(a, "alpha.reform") };
            }
            else
            {
                double a = Num(x, "alpha");
                o = o with { RptscAlpha = a, ReformAlpha = a };
            }
        }
        // The library's checks name the option; map them back to the scenario's field names.
        try { o.Validate(); }
        catch (InvalidOptionException e)
        {
            string field = e.Option switch
            {
                nameof(ReformLabOptions.Rounds) => "rounds",
                nameof(ReformLabOptions.TasksPerRound) => "tasks_per_round",
                nameof(ReformLabOptions.Agents) => "population.agents",
                nameof(ReformLabOptions.Answers) => "answers",
                nameof(ReformLabOptions.TrustworthyShare) => "population.trustworthy_share",
                nameof(ReformLabOptions.MinAccuracy) => "population.accuracy",
                nameof(ReformLabOptions.RptscAlpha) => "alpha.rptsc",
                nameof(ReformLabOptions.ReformAlpha) => "alpha.reform",
                nameof(ReformLabOptions.Chances) => "k",
                nameof(ReformLabOptions.SampleSize) => "sample_size",
                nameof(ReformLabOptions.Lambda) => "lambda",
                _ => e.Option,
            };
            throw Bad(field, e.Problem);
        }
        return o;
    }
}
