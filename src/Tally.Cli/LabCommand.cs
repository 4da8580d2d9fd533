using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Tally.Application;

namespace Tally.Cli;

/// <summary><c>tally lab</c>: experiments on synthetic crowds.</summary>
internal static class LabCommand
{
    public static Command Create(CliContext ctx)
    {
        var cmd = new Command("lab", """
            Experiments on synthetic crowds: how methods fare as a scenario parameter varies.

            Examples:
              tally lab aggregation prior --methods mv,ds --seeds 20 --plot prior.png
              tally lab gap --vary alpha --values 0,0.1,0.2 --out gap/
            """);
        cmd.Add(CreateAggregation(ctx));
        cmd.Add(PeerLabCommands.CreatePeer(ctx));
        cmd.Add(PeerLabCommands.CreateEdx(ctx));
        cmd.Add(PeerLabCommands.CreateGap(ctx));
        cmd.Add(LabLearningCommand.Create(ctx));
        cmd.Add(LabMaxMigTableCommand.Create(ctx));
        cmd.Add(LabPairwiseCommand.Create(ctx));
        return cmd;
    }

    private static Command CreateAggregation(CliContext ctx)
    {
        var d = new AggregationLabRequest { Experiment = "" };
        var experiments = AggregationLabJob.Experiments;
        var experiment = new Argument<string>("EXPERIMENT") { Description = "One of: " + string.Join(", ", experiments.Select(e => e.Name)) };
        var methods = new Option<string>("--methods", "-m") { Description = "Comma-separated methods (see 'tally methods'), or 'all'.", DefaultValueFactory = _ => string.Join(",", d.Methods) };
        var values = new Option<string?>("--values") { Description = "Comma-separated parameter values (default: the experiment's)." };
        var seeds = new Option<int>("--seeds") { Description = "Random crowds per value.", DefaultValueFactory = _ => d.Seeds };
        var confidence = new Option<double>("--confidence") { Description = "Confidence level of the intervals.", DefaultValueFactory = _ => d.Confidence };
        var prior = new Option<string?>("--prior") { Description = "Worker prior given to mf and bp instead of the experiment's: onecoin:A,B or twocoin:A,B." };
        var outDir = CommonOptions.Out($"{AggregationLabJob.Table}.csv or .json ({string.Join(",", AggregationLabJob.Columns)}; accuracies as fractions)");
        var outFormat = CommonOptions.Format();
        var plot = new Option<string?>("--plot") { Description = "Write accuracy curves with intervals (PNG)." };
        var list = string.Join("\n", experiments.Select(e => $"  {e.Name,-15}{e.Summary}"));
        var cmd = new Command("aggregation", $"""
            Accuracy of truth-inference methods on synthetic crowds as one parameter varies, with confidence intervals
            over seeds. Experiments:
            {list}

            Examples:
              tally lab aggregation prior --methods mv,ds --seeds 20 --plot prior.png
              tally lab aggregation adversaries --methods mv,ds --values 0,0.1,0.2,0.3 --out adv/
            """)
        { experiment, methods, values, seeds, confidence, prior, outDir, outFormat, plot };
        cmd.SetAction(p =>
        {
            var request = d with
            {
                Experiment = p.GetValue(experiment)!,
                Methods = Specs.List(p.GetValue(methods)),
                Values = Specs.Numbers(p.GetValue(values), "Values"),
                Seeds = p.GetValue(seeds),
                Confidence = p.GetValue(confidence),
                Prior = Specs.Prior(p.GetValue(prior)),
                OutputDirectory = p.GetValue(outDir),
                OutputFormat = CommonOptions.ReadFormat(p, outFormat, p.GetValue(outDir)),
            };
            string? png = p.GetValue(plot);
            if (png is not null) OutputChecks.WritableDirectory(Path.GetDirectoryName(Path.GetFullPath(png))!, "--plot");
            var o = ctx.WithJobProgress(report => AggregationLabJob.Run(request, ctx.Compute, report));

            var table = new Table().Border(TableBorder.Rounded)
                .Title($"{Markup.Escape(o.Experiment.Description)}\nmean accuracy % ± half-width of the {o.Confidence:P0} interval, {o.Seeds} seeds");
            table.AddColumn(Markup.Escape(o.Experiment.Symbol));
            foreach (var m in o.Methods) table.AddColumn(new TableColumn(m).RightAligned().NoWrap());
            for (int i = 0; i < o.Values.Count; i++)
            {
                var row = new List<string> { o.Values[i].ToString("0.###", CultureInfo.InvariantCulture) };
                foreach (var m in o.Methods)
                    row.Add(o.At(i, m) is { } q ? $"{100 * q.Mean:0.00} ± {100 * (q.High - q.Low) / 2:0.00}" : "—");
                table.AddRow(row.ToArray());
            }
            ctx.Out.Write(table);
            if (png is not null)
                Plots.Lines(png, $"{o.Experiment.Name}: accuracy ({o.Confidence:P0} interval, {o.Seeds} seeds)", o.Experiment.Parameter, "accuracy (%)",
                    o.Methods.Select(m =>
                    {
                        var ps = o.Curve(m);
                        return (m, ps.Select(q => q.X).ToArray(), ps.Select(q => 100 * q.Mean).ToArray(),
                            (double[]?)ps.Select(q => 100 * q.Low).ToArray(), (double[]?)ps.Select(q => 100 * q.High).ToArray());
                    }).ToList());
            return 0;
        });
        return cmd;
    }
}
