using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Tally.Application;

namespace Tally.Cli;

/// <summary><c>tally share</c>: the collaborative mean-estimation mechanism (data sharing without free-riding).</summary>
internal static class ShareCommand
{
    public static Command Create(CliContext ctx)
    {
        var cmd = new Command("share", """
            Data sharing without free-riding: the collaborative normal mean-estimation mechanism (Chen, Zhu & Kandasamy, NeurIPS 2023).

            Examples:
              tally share allocate --submissions subs.csv --sigma 1 --cost 0.01 --out alloc/
              tally share lab --agents 10 --plot penalties.png
            """);
        cmd.Add(CreateAllocate(ctx));
        cmd.Add(CreateEstimate(ctx));
        cmd.Add(CreateLab(ctx));
        return cmd;
    }

    private static Command CreateAllocate(CliContext ctx)
    {
        var submissions = new Option<string>("--submissions") { Description = "agent,value CSV, or a directory with one value CSV per agent (named after the agent).", Required = true };
        var sigma = new Option<double>("--sigma") { Description = "Known σ.", Required = true };
        var cost = new Option<double>("--cost") { Description = "Cost c per sample.", Required = true };
        var seed = CommonOptions.Seed("Seed for Z_i and the noise.");
        var outDir = new Option<string>("--out", "-o") { Description = "Folder for the allocation-<agent>.json files (created if needed).", Required = true };
        var encoding = AnswerFormatOptions.EncodingOption("submissions");
        var cmd = new Command("allocate", """
            The mediator's step: from every agent's submitted samples, each agent's allocation (Z_i: n* of the others' points;
            Z'_i: the rest, each with Gaussian noise of variance η_i² = α²(mean(Y_i) − mean(Z_i))²). Agents are sorted and
            each agent's values taken as a set, so the same submissions in any row order give the same allocations.

            Example:
              tally share allocate --submissions subs.csv --sigma 1 --cost 0.01 --seed 7 --out alloc/
            """)
        { submissions, sigma, cost, seed, outDir, encoding };
        cmd.SetAction(p =>
        {
            var request = new ShareAllocateRequest
            {
                SubmissionsPath = p.GetValue(submissions)!, Sigma = p.GetValue(sigma), Cost = p.GetValue(cost),
                Encoding = AnswerFormatOptions.Encoding(p, encoding), Seed = p.GetValue(seed), OutputDirectory = p.GetValue(outDir)!,
            };
            var o = ctx.WithJobProgress(report => ShareAllocateJob.Run(request, report));
            ctx.Out.MarkupLine(Markup.Escape($"m = {o.Agents.Count}, n* = {o.RecommendedSampleSize} samples per agent, α = {o.Alpha:0.######}; wrote {o.Written.Count} allocations to {request.OutputDirectory}"));
            return 0;
        });
        return cmd;
    }

    private static Command CreateEstimate(CliContext ctx)
    {
        var own = new Option<string>("--own") { Description = "The agent's own samples (CSV with a value column).", Required = true };
        var allocation = new Option<string>("--allocation") { Description = "The agent's allocation JSON from 'tally share allocate'.", Required = true };
        var encoding = AnswerFormatOptions.EncodingOption("--own file");
        var cmd = new Command("estimate", """
            The recommended estimate for one agent: precision-weighted mean of her own samples and Z (weight 1) and Z' (weight
            1/(1 + η²/σ²)).

            Example:
              tally share estimate --own mine.csv --allocation alloc/allocation-alice.json
            """)
        { own, allocation, encoding };
        cmd.SetAction(p =>
        {
            var o = ShareEstimateJob.Run(new ShareEstimateRequest(p.GetValue(own)!, p.GetValue(allocation)!, AnswerFormatOptions.Encoding(p, encoding)));
            ctx.Out.MarkupLine(Markup.Escape($"estimate {o.Estimate.ToString("G10", CultureInfo.InvariantCulture)} (own {o.Own}, Z {o.Z}, Z' {o.ZPrime} at weight {o.NoisyWeight:0.####})"));
            return 0;
        });
        return cmd;
    }

    private static Command CreateLab(CliContext ctx)
    {
        var d = new ShareLabRequest();
        var agents = new Option<int>("--agents") { Description = "Number of agents m (at least 5).", DefaultValueFactory = _ => d.Agents };
        var sigma = new Option<double>("--sigma") { Description = "Known standard deviation σ of the samples.", DefaultValueFactory = _ => d.Sigma };
        var cost = new Option<double>("--cost") { Description = "Cost c of one sample.", DefaultValueFactory = _ => d.Cost };
        var rule = new Option<string>("--rule") { Description = "collaborative (the mechanism), pool (pool-and-share) or threshold (pool-if-you-contribute-enough).", DefaultValueFactory = _ => d.Rule };
        rule.AcceptOnlyFromAmong([.. ShareLabJob.RuleNames]);
        var reps = new Option<int>("--replications") { Description = "Monte-Carlo replications per strategy and mean.", DefaultValueFactory = _ => d.Lab.Replications };
        var seed = new Option<int>("--seed", "-s") { Description = "Seed.", DefaultValueFactory = _ => d.Lab.Seed };
        var plot = new Option<string?>("--plot") { Description = "Write a bar chart of every strategy's penalty (PNG)." };
        var cmd = new Command("lab", """
            Penalty (worst-case squared error over μ ∈ {0, σ, 3σ} + c·samples) of one agent under the recommended profile and
            under unilateral deviations (collect more/less, withhold, fabricate, ignore the noise weights, free-ride), with 95%
            half-widths; individual rationality and the social penalty against the optimum 2σ√(cm).

            Examples:
              tally share lab --agents 10 --sigma 1 --cost 0.01
              tally share lab --agents 10 --rule pool        # the naive rule: free-riding pays
            """)
        { agents, sigma, cost, rule, reps, seed, plot };
        cmd.SetAction(p =>
        {
            var request = new ShareLabRequest
            {
                Agents = p.GetValue(agents), Sigma = p.GetValue(sigma), Cost = p.GetValue(cost), Rule = p.GetValue(rule)!,
                Lab = d.Lab with { Replications = p.GetValue(reps), Seed = p.GetValue(seed) },
            };
            string? png = p.GetValue(plot);
            if (png is not null) OutputChecks.WritableDirectory(Path.GetDirectoryName(Path.GetFullPath(png))!, "--plot");
            var o = ctx.WithJobProgress(r => ShareLabJob.Run(request, ctx.Compute, r));
            var report = o.Report;
            var problem = report.Problem;
            var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape(
                $"m = {problem.Agents}, σ = {problem.Sigma}, c = {problem.Cost}, rule = {report.Rule}: n* = {report.RecommendedSampleSize}, α = {report.Alpha:0.#####}"));
            table.AddColumn("strategy"); table.AddColumn(new TableColumn("samples").RightAligned());
            table.AddColumn(new TableColumn("penalty (worst μ)").RightAligned()); table.AddColumn(new TableColumn("gain vs recommended").RightAligned());
            table.AddRow(Markup.Escape(report.Recommended.Strategy), report.Recommended.Collected.ToString(CultureInfo.InvariantCulture),
                Markup.Escape($"{report.Recommended.Penalty:0.0000} ± {report.Recommended.HalfWidth:0.0000}"), "—");
            foreach (var dev in report.Deviations)
                table.AddRow(Markup.Escape(dev.Strategy), dev.Collected.ToString(CultureInfo.InvariantCulture), Markup.Escape($"{dev.Penalty:0.0000} ± {dev.HalfWidth:0.0000}"),
                    dev.Gain > dev.GainHalfWidth ? $"[red]{Markup.Escape($"+{dev.Gain:0.0000} ± {dev.GainHalfWidth:0.0000}")}[/]" : Markup.Escape($"{dev.Gain:+0.0000;-0.0000} ± {dev.GainHalfWidth:0.0000}"));
            ctx.Out.Write(table);
            if (o.ExactRecommendedPenalty is { } exact && o.ExactSocialPenalty is { } social)
                ctx.Out.MarkupLine(Markup.Escape($"exact recommended penalty R(n*) + c·n* = {exact:0.00000}; social {social:0.0000} = {social / report.OptimalSocialPenalty:0.0000} × optimum"));
            if (png is not null)
                Plots.Bars(png, $"Penalty per strategy (m = {problem.Agents}, {report.Rule}; solo = {report.SoloPenalty:0.###})", "penalty (worst μ)",
                    o.Strategies.Select(s => s.Strategy).ToList(), o.Strategies.Select(s => s.Penalty).ToList());
            ctx.Out.MarkupLine(Markup.Escape($"individually rational: {(report.IndividuallyRational ? "yes" : "no")} (alone: 2σ√c = {report.SoloPenalty:0.0000}); social penalty {report.SocialPenalty:0.000} vs optimum 2σ√(cm) = {report.OptimalSocialPenalty:0.000} (ratio {report.SocialPenalty / report.OptimalSocialPenalty:0.00})"));
            return 0;
        });
        return cmd;
    }
}
