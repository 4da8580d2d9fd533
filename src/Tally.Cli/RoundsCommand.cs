using Tally.Application;
using System.Collections.Immutable;
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;
using Tally.Aggregation;
using Tally.Core;
using Tally.Simulation;

namespace Tally.Cli;

/// <summary><c>tally rounds</c>: multi-round campaigns with reputation (REFORM over RPTSC).</summary>
internal static class RoundsCommand
{
    public static Command Create(CliContext ctx)
    {
        var cmd = new Command("rounds", "Multi-round crowdsourcing campaigns with reputation: REFORM (TERM + extra pairing chances) over RPTSC.");
        cmd.Add(CreateRun(ctx));
        return cmd;
    }

    private static Command CreateRun(CliContext ctx)
    {
        var scenario = new Argument<string>("SCENARIO") { Description = "Scenario JSON file (see docs/scenarios/reform-paper.json)." };
        var outDir = new Option<string?>("--out", "-o") { Description = "Directory for rewards.csv (per-round rewards), summary.csv and PNG plots." };
        var cmd = new Command("run", """
            Simulates a population of trustworthy agents (correct with an accuracy drawn in a range) and random agents
            answering one task each per round, pays every round with RPTSC and with REFORM for each k, and reports the
            trustworthy (TA) and random (RA) agents' mean reward per round, E*/M* (N-RPTSC, N-REFORM), γ-fairness and
            the budget per agent and round (Kanaparthy, Damle and Gujar 2021, §5). RPTSC always runs as the baseline.

            Scenario fields (all optional; defaults = the paper's §5 setup):
              rounds, tasks_per_round, answers, seed, sample_size, lambda,
              population: { agents, trustworthy_share, accuracy: [min, max] },
              mechanism: "reform" (RPTSC and REFORM) or "rptsc" (RPTSC only),
              k: a number or a list, alpha: a number or { "rptsc": 10, "reform": 11 }

            Examples:
              tally rounds run docs/scenarios/reform-paper.json --out docs/img/reform
            """)
        { scenario, outDir };
        cmd.SetAction(p =>
        {
            string path = p.GetValue(scenario)!;
            var options = ReadScenario(path);
            var result = ctx.WithProgress("Simulating rounds", report => ReformLab.Run(options, new SyncProgress<ReformLabProgress>(p => report(p.Fraction))));
            Print(ctx, result);
            if (p.GetValue(outDir) is { } dir) Write(ctx, dir, result);
            return 0;
        });
        return cmd;
    }

    private static string F(double x, string format = "0.000") => x.ToString(format, CultureInfo.InvariantCulture);
    private static string R(double x) => NumberFormat.Finite(x);
    private static string Label(ReformLabRun r) => r.Mechanism == "rptsc" ? "RPTSC" : $"REFORM k={r.Chances}";

    private static void Print(CliContext ctx, ReformLabResult result)
    {
        var o = result.Options;
        var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape(
            $"{o.Rounds} rounds × {o.TasksPerRound} tasks, {o.Agents} agents ({100 * o.TrustworthyShare:0.#}% trustworthy, accuracy {o.MinAccuracy}–{o.MaxAccuracy}), {o.Answers} answers, S = {o.SampleSize}, λ = {o.Lambda}, seed {o.Seed}"));
        foreach (var h in new[] { "mechanism", "α", "TA reward/round", "RA reward/round", "N = E*/M*", "γ", "budget/agent/round", "vs RPTSC", "chances/TA report", "qualitatively fair" })
            table.AddColumn(new TableColumn(Markup.Escape(h)).RightAligned());
        foreach (var r in new[] { result.Rptsc }.Concat(result.Reform))
        {
            double? inc = r.Mechanism == "rptsc" ? null : result.BudgetIncrease(r.Chances);
            table.AddRow(Markup.Escape(Label(r)), F(r.Alpha, "0.###"), F(r.MeanTrustworthyReward), F(r.MeanRandomReward),
                r.Fairness.Normalised is double n ? F(n) : "—", r.Fairness.Gamma is double g ? F(g, "0.0000") : "∞",
                F(r.BudgetPerAgent), inc is double i ? Markup.Escape($"{100 * i:+0.0;-0.0}%") : "—", F(r.ChancesPerReport.Trustworthy),
                r.Qualitative.Holds ? "yes" : "[red]no[/]");
        }
        ctx.Out.Write(table);
        ctx.Out.MarkupLine(Markup.Escape($"{result.Elapsed.TotalSeconds:0.0} s"));
    }

    private static void Write(CliContext ctx, string dir, ReformLabResult result)
    {
        Directory.CreateDirectory(dir);
        var runs = new[] { result.Rptsc }.Concat(result.Reform).ToList();
        AtomicFile.WriteText(Path.Combine(dir, "rewards.csv"), w =>
        {
            w.WriteLine("round,mechanism,k,alpha,ta_reward,ra_reward,ta_optimal");
            foreach (var r in runs)
                for (int j = 0; j < r.TrustworthyReward.Length; j++)
                    w.WriteLine(string.Join(",", (j + 1).ToString(CultureInfo.InvariantCulture), r.Mechanism, r.Chances.ToString(CultureInfo.InvariantCulture),
                        R(r.Alpha), R(r.TrustworthyReward[j]), R(r.RandomReward[j]), R(r.TrustworthyOptimal[j])));
        });
        AtomicFile.WriteText(Path.Combine(dir, "summary.csv"), w =>
        {
            w.WriteLine("mechanism,k,alpha,ta_reward,ra_reward,ta_optimal,normalised,gamma,gamma_all_agents,budget_per_agent,budget_increase,ta_chances,ra_chances,qualitative_fair");
            foreach (var r in runs)
                w.WriteLine(string.Join(",", r.Mechanism, r.Chances.ToString(CultureInfo.InvariantCulture), R(r.Alpha), R(r.MeanTrustworthyReward),
                    R(r.MeanRandomReward), R(r.Fairness.OptimalReward), r.Fairness.Normalised is double n ? R(n) : "",
                    r.Fairness.Gamma is double g ? R(g) : "", r.FairnessAllAgents.Gamma is double ga ? R(ga) : "", R(r.BudgetPerAgent),
                    r.Mechanism != "rptsc" && result.BudgetIncrease(r.Chances) is double i ? R(i) : "",
                    R(r.ChancesPerReport.Trustworthy), R(r.ChancesPerReport.Random), r.Qualitative.Holds ? "true" : "false"));
        });
        var xs = Enumerable.Range(1, result.Options.Rounds).Select(j => (double)j).ToArray();
        var shown = result.ReformWith(2) ?? result.Reform.FirstOrDefault(r => r.Chances > 1) ?? result.Reform.FirstOrDefault();
        var series = new List<(string, double[], double[], double[]?, double[]?)>
        {
            ("RPTSC TA", xs, [.. result.Rptsc.TrustworthyReward], null, null),
            ("RPTSC RA", xs, [.. result.Rptsc.RandomReward], null, null),
        };
        if (shown is not null)
        {
            series.Add(($"{Label(shown)} TA", xs, [.. shown.TrustworthyReward], null, null));
            series.Add(($"{Label(shown)} RA", xs, [.. shown.RandomReward], null, null));
        }
        Plots.Lines(Path.Combine(dir, "reward-per-round.png"), "Mean reward per round of trustworthy (TA) and random (RA) agents", "round", "mean reward", series, legendOutside: true);
        if (result.Reform.Length > 0)
        {
            var ks = result.Reform.OrderBy(r => r.Chances).ToList();
            double[] kx = [.. ks.Select(r => (double)r.Chances)];
            Plots.Lines(Path.Combine(dir, "normalised-vs-k.png"), "TA reward / optimal reward (E*/M*)", "k (pairing chances)", "normalised TA reward",
            [
                ("N-REFORM", kx, [.. ks.Select(r => r.Fairness.Normalised ?? 0)], null, null),
                ("N-RPTSC", kx, [.. ks.Select(_ => result.Rptsc.Fairness.Normalised ?? 0)], null, null),
            ], legendOutside: true);
        }
        ctx.Out.MarkupLine(Markup.Escape($"wrote {Path.Combine(dir, "rewards.csv")}, summary.csv and the plots"));
    }

    private static readonly ImmutableHashSet<string> TopFields =
        ["rounds", "tasks_per_round", "answers", "seed", "sample_size", "lambda", "population", "mechanism", "k", "alpha"];
    private static readonly ImmutableHashSet<string> PopulationFields = ["agents", "trustworthy_share", "accuracy"];

    /// <summary>Reads a scenario file into lab options; any unknown or invalid field is an error naming the file and the field.</summary>
    internal static ReformLabOptions ReadScenario(string path)
    {
        if (!File.Exists(path)) throw new TallyDataException(path, 0, "file not found");
        JsonElement root;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            root = doc.RootElement.Clone();
        }
        catch (JsonException e) { throw new TallyDataException(path, (e.LineNumber ?? -1) + 1, "not valid JSON: " + e.Message); }
        if (root.ValueKind != JsonValueKind.Object) throw new TallyDataException(path, 0, "the scenario must be a JSON object");
        Exception Bad(string field, string problem) => new TallyDataException(path, 0, $"field '{field}': {problem}");
        foreach (var prop in root.EnumerateObject())
            if (!TopFields.Contains(prop.Name)) throw Bad(prop.Name, $"unknown field (known: {string.Join(", ", TopFields.Order())})");

        int Int(JsonElement e, string field) =>
            e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int v) ? v : throw Bad(field, $"must be an integer (got {e.GetRawText()})");
        double Num(JsonElement e, string field) =>
            e.ValueKind == JsonValueKind.Number && e.TryGetDouble(out double v) && double.IsFinite(v) ? v : throw Bad(field, $"must be a number (got {e.GetRawText()})");

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
            mechanism = x.ValueKind == JsonValueKind.String && x.GetString() is "rptsc" or "reform" ? x.GetString()! : throw Bad("mechanism", $"must be \"rptsc\" or \"reform\" (got {x.GetRawText()})");
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
