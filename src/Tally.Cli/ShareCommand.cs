using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Tally.Sharing;

namespace Tally.Cli;

/// <summary><c>tally share</c>: the collaborative mean-estimation mechanism (data sharing without free-riding).</summary>
internal static class ShareCommand
{
    public static Command Create(CliContext ctx)
    {
        var cmd = new Command("share", "Data sharing without free-riding: the collaborative normal mean-estimation mechanism (Chen, Zhu & Kandasamy, NeurIPS 2023).");
        cmd.Add(CreateLab(ctx));
        return cmd;
    }

    private static Command CreateLab(CliContext ctx)
    {
        var agents = new Option<int>("--agents", "-m") { Description = "Number of agents m (at least 5).", DefaultValueFactory = _ => 10 };
        var sigma = new Option<double>("--sigma") { Description = "Known standard deviation σ of the samples.", DefaultValueFactory = _ => 1 };
        var cost = new Option<double>("--cost") { Description = "Cost c of one sample.", DefaultValueFactory = _ => 0.01 };
        var rule = new Option<string>("--rule") { Description = "collaborative (the mechanism), pool (pool-and-share) or threshold (pool-if-you-contribute-enough).", DefaultValueFactory = _ => "collaborative" };
        var reps = new Option<int>("--replications") { Description = "Monte-Carlo replications per strategy and mean.", DefaultValueFactory = _ => 2000 };
        var seed = new Option<int>("--seed", "-s") { Description = "Seed.", DefaultValueFactory = _ => 1 };
        var cmd = new Command("lab", """
            Penalty (worst-case squared error over μ ∈ {0, σ, 3σ} + c·samples) of one agent under the recommended profile and
            under unilateral deviations (collect more/less, withhold, fabricate, ignore the noise weights, free-ride), with 95%
            half-widths; individual rationality and the social penalty against the optimum 2σ√(cm).

            Examples:
              tally share lab --agents 10 --sigma 1 --cost 0.01
              tally share lab --agents 10 --rule pool        # the naive rule: free-riding pays
            """)
        { agents, sigma, cost, rule, reps, seed };
        cmd.SetAction(p =>
        {
            var problem = new SharingProblem(p.GetValue(agents), p.GetValue(sigma), p.GetValue(cost));
            var r = p.GetValue(rule) switch
            {
                "collaborative" => SharingRule.Collaborative,
                "pool" => SharingRule.PoolAndShare,
                "threshold" => SharingRule.PoolIfContributeEnough,
                var x => throw new UsageException($"--rule must be collaborative, pool or threshold (got '{x}')"),
            };
            if (p.GetValue(reps) < 10) throw new UsageException("--replications must be at least 10");
            var lab = new SharingLab(new SharingLabOptions { Replications = p.GetValue(reps), Seed = p.GetValue(seed) });
            var report = ctx.WithProgress("Simulating", _ => lab.Run(problem, r));
            var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape(
                $"m = {problem.Agents}, σ = {problem.Sigma}, c = {problem.Cost}, rule = {r}: n* = {report.RecommendedSampleSize}, α = {report.Alpha:0.#####}"));
            table.AddColumn("strategy"); table.AddColumn(new TableColumn("samples").RightAligned());
            table.AddColumn(new TableColumn("penalty (worst μ)").RightAligned()); table.AddColumn(new TableColumn("gain vs recommended").RightAligned());
            table.AddRow(Markup.Escape(report.Recommended.Strategy), report.Recommended.Collected.ToString(CultureInfo.InvariantCulture),
                Markup.Escape($"{report.Recommended.Penalty:0.0000} ± {report.Recommended.HalfWidth:0.0000}"), "—");
            foreach (var d in report.Deviations)
                table.AddRow(Markup.Escape(d.Strategy), d.Collected.ToString(CultureInfo.InvariantCulture), Markup.Escape($"{d.Penalty:0.0000} ± {d.HalfWidth:0.0000}"),
                    d.Gain > d.GainHalfWidth ? $"[red]{Markup.Escape($"+{d.Gain:0.0000} ± {d.GainHalfWidth:0.0000}")}[/]" : Markup.Escape($"{d.Gain:+0.0000;-0.0000} ± {d.GainHalfWidth:0.0000}"));
            ctx.Out.Write(table);
            ctx.Out.MarkupLine(Markup.Escape($"individually rational: {(report.IndividuallyRational ? "yes" : "no")} (alone: 2σ√c = {report.SoloPenalty:0.0000}); social penalty {report.SocialPenalty:0.000} vs optimum 2σ√(cm) = {report.OptimalSocialPenalty:0.000} (ratio {report.SocialPenalty / report.OptimalSocialPenalty:0.00})"));
            return 0;
        });
        return cmd;
    }
}
