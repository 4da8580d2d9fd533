using Tally.Application;
using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Tally.Simulation;

namespace Tally.Cli;

/// <summary><c>tally rounds</c>: multi-round campaigns with reputation (REFORM over RPTSC).</summary>
internal static class RoundsCommand
{
    public static Command Create(CliContext ctx)
    {
        var cmd = new Command("rounds", """
            Multi-round crowdsourcing campaigns with reputation: REFORM (TERM + extra pairing chances) over RPTSC.

            Example:
              tally rounds run docs/scenarios/reform-paper.json --out reform/
            """);
        cmd.Add(CreateRun(ctx));
        return cmd;
    }

    private static Command CreateRun(CliContext ctx)
    {
        var scenario = new Argument<string>("SCENARIO")
        {
            Description = "Scenario JSON file (example: docs/scenarios/reform-paper.json in the repository; a copy ships with tally as " +
                Path.Combine(AppContext.BaseDirectory, "scenarios", "reform-paper.json") + ").",
        };
        var outDir = CommonOptions.Out($"{RoundsJob.RewardsTable}.csv (per-round rewards), {RoundsJob.SummaryTable}.csv (or .json) and PNG plots");
        var outFormat = CommonOptions.Format();
        var encoding = AnswerFormatOptions.EncodingOption("scenario file");
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
        { scenario, outDir, outFormat, encoding };
        cmd.SetAction(p =>
        {
            var request = new RoundsRequest { ScenarioPath = p.GetValue(scenario)!, OutputDirectory = p.GetValue(outDir),
                OutputFormat = CommonOptions.ReadFormat(p, outFormat, p.GetValue(outDir)), Encoding = AnswerFormatOptions.Encoding(p, encoding) };
            var outcome = ctx.WithJobProgress(report => RoundsJob.Run(request, ctx.Compute, report));
            Print(ctx, outcome.Result);
            if (request.OutputDirectory is { } dir) Plot(ctx, dir, outcome);
            return 0;
        });
        return cmd;
    }

    private static string F(double x, string format = "0.000") => x.ToString(format, CultureInfo.InvariantCulture);
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

    /// <summary>The charts (presentation only; the job wrote the numbers).</summary>
    private static void Plot(CliContext ctx, string dir, RoundsOutcome outcome)
    {
        var result = outcome.Result;
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
        ctx.Out.MarkupLine(Markup.Escape($"wrote {string.Join(", ", outcome.Written)} and the plots"));
    }
}
