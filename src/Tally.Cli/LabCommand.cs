using Tally.Catalogs;
using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Tally.Aggregation;
using Tally.Core;
using Tally.Simulation;


namespace Tally.Cli;

/// <summary><c>tally lab</c>: experiments on synthetic crowds.</summary>
internal static class LabCommand
{
    public static Command Create(CliContext ctx)
    {
        var cmd = new Command("lab", "Experiments on synthetic crowds: how methods fare as a scenario parameter varies.");
        cmd.Add(CreateAggregation(ctx));
        cmd.Add(PeerLabCommands.CreatePeer(ctx));
        cmd.Add(PeerLabCommands.CreateEdx(ctx));
        cmd.Add(PeerLabCommands.CreateGap(ctx));
        cmd.Add(LabLearningCommand.Create(ctx));
        return cmd;
    }

    private static Command CreateAggregation(CliContext ctx)
    {
        var experiment = new Argument<string>("EXPERIMENT") { Description = "One of: " + string.Join(", ", AggregationLab.Experiments.Select(e => e.Name)) };
        var methods = new Option<string>("--methods", "-m") { Description = "Comma-separated methods.", DefaultValueFactory = _ => "mv,ds" };
        var values = new Option<string?>("--values") { Description = "Comma-separated parameter values (default: the experiment's)." };
        var seeds = new Option<int>("--seeds") { Description = "Random crowds per value.", DefaultValueFactory = _ => 20 };
        var confidence = new Option<double>("--confidence") { Description = "Confidence level of the intervals.", DefaultValueFactory = _ => 0.99 };
        var csv = new Option<string?>("--csv") { Description = "Write x,method,mean,low,high,worst,seeds as CSV." };
        var plot = new Option<string?>("--plot") { Description = "Write accuracy curves with intervals (PNG)." };
        var cmd = new Command("aggregation", """
            Accuracy of truth-inference methods on synthetic crowds as one parameter varies, with confidence intervals
            over seeds. Experiments:
              prior        (3,4)-regular graph, one-coin workers ~ Beta(α1, α1/2), α1 from 0.2 to 2
              spammers     (3,4)-regular graph, workers ~ Beta(2,1), plus 0..5 extreme spammers answering every task
              adversaries  (10,20)-regular graph, workers ~ Beta(4,2), a fraction α colluding to flip every answer
              collusion    as adversaries, but the colluders all give the same random class on each task
              rowdy-constant, rowdy-flip, rowdy-pattern
                           symmetric Dawid-Skene crowd (K = 3, 400 workers, 5 per task) with a fraction α of colluders

            Examples:
              tally lab aggregation prior --methods mv,ds --seeds 20 --plot prior.png
              tally lab aggregation adversaries --methods mv,ds --values 0,0.1,0.2,0.3 --csv adv.csv
            """)
        { experiment, methods, values, seeds, confidence, csv, plot };
        cmd.SetAction(p =>
        {
            var exp = AggregationLab.Find(p.GetValue(experiment)!)
                ?? throw new UsageException($"unknown experiment '{p.GetValue(experiment)}' (known: {string.Join(", ", AggregationLab.Experiments.Select(e => e.Name))})");
            var chosen = p.GetValue(methods)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                .Select(n => AggregatorCatalog.Find(n) ?? throw new UsageException($"unknown method '{n}' (see 'tally methods')")).ToList();
            IReadOnlyList<double>? xs = null;
            if (p.GetValue(values) is { } v)
                xs = v.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(x =>
                    double.TryParse(x, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) ? d : throw new UsageException($"--values: '{x}' is not a number")).ToList();
            int n = p.GetValue(seeds);
            if (n < 2) throw new UsageException("--seeds must be at least 2");
            double level = p.GetValue(confidence);
            if (!(level > 0 && level < 1)) throw new UsageException("--confidence must be between 0 and 1");
            var points = ctx.WithProgress($"Running {exp.Name}", r => AggregationLab.Run(exp, xs, n, chosen, new CommonMethodOptions(), level, r));

            var table = new Table().Border(TableBorder.Rounded).Title($"{Markup.Escape(exp.Description)}\nmean accuracy % ± half-width of the {level:P0} interval, {n} seeds");
            table.AddColumn(Markup.Escape(exp.Symbol));
            foreach (var m in chosen) table.AddColumn(new TableColumn(m.Name).RightAligned().NoWrap());
            foreach (var x in points.Select(q => q.X).Distinct())
            {
                var row = new List<string> { x.ToString("0.###", CultureInfo.InvariantCulture) };
                foreach (var m in chosen)
                {
                    var q = points.FirstOrDefault(q => q.X == x && q.Method == m.Name);
                    row.Add(q is null ? "—" : $"{100 * q.Mean:0.00} ± {100 * (q.High - q.Low) / 2:0.00}");
                }
                table.AddRow(row.ToArray());
            }
            ctx.Out.Write(table);
            if (p.GetValue(csv) is { } csvPath)
                AtomicFile.WriteText(csvPath, w =>
                {
                    w.WriteLine("x,method,mean,low,high,worst,seeds");
                    foreach (var q in points)
                        w.WriteLine(string.Join(",", NumberFormat.Finite(q.X), q.Method, NumberFormat.Finite(q.Mean),
                            NumberFormat.Finite(q.Low), NumberFormat.Finite(q.High),
                            NumberFormat.Finite(q.Worst), q.Seeds.ToString(CultureInfo.InvariantCulture)));
                });
            if (p.GetValue(plot) is { } png)
                Plots.Lines(png, $"{exp.Name}: accuracy ({level:P0} interval, {n} seeds)", exp.Parameter, "accuracy (%)",
                    chosen.Select(m =>
                    {
                        var ps = points.Where(q => q.Method == m.Name).OrderBy(q => q.X).ToList();
                        return (m.Name, ps.Select(q => q.X).ToArray(), ps.Select(q => 100 * q.Mean).ToArray(),
                            (double[]?)ps.Select(q => 100 * q.Low).ToArray(), (double[]?)ps.Select(q => 100 * q.High).ToArray());
                    }).ToList());
            return 0;
        });
        return cmd;
    }
}
