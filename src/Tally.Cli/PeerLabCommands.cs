using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Tally.Application;
using Tally.Simulation;

namespace Tally.Cli;

/// <summary><c>tally lab peer | edx | gap</c>: the peer-prediction mechanism labs (parsing and rendering; the work is in <see cref="PeerLabJob"/>, <see cref="EdxTableJob"/>, <see cref="PaymentGapJob"/>).</summary>
internal static class PeerLabCommands
{
    public static Command CreateGap(CliContext ctx)
    {
        var d = new PaymentGapRequest();
        var mechanisms = new Option<string>("--mechanisms", "-m") { Description = "Comma-separated mechanisms.", DefaultValueFactory = _ => d.Mechanisms };
        var prior = new Option<string>("--signal-prior") { Description = "ds:K,ACCURACY or edx:INDEX.", DefaultValueFactory = _ => d.Prior };
        var vary = new Option<string>("--vary") { Description = "alpha or tasks.", DefaultValueFactory = _ => d.Vary };
        var values = new Option<string>("--values") { Description = "Comma-separated values of the varied parameter.", Required = true };
        var agents = new Option<int>("--agents") { Description = "Agents n.", DefaultValueFactory = _ => d.Agents };
        var tasks = new Option<int>("--tasks") { Description = "Tasks m (when varying alpha).", DefaultValueFactory = _ => d.Tasks };
        var alpha = new Option<double>("--adversary-fraction") { Description = "α (when varying tasks).", DefaultValueFactory = _ => d.AdversaryFraction };
        var strategy = new Option<string>("--adversary-strategy") { Description = "constant, random, flip or pattern.", DefaultValueFactory = _ => d.AdversaryStrategy };
        var seeds = new Option<int>("--seeds") { Description = "Seeds.", DefaultValueFactory = _ => d.Seeds };
        var outDir = CommonOptions.Out($"{PaymentGapJob.Table}.csv or .json ({string.Join(",", PaymentGapJob.Columns)})");
        var outFormat = CommonOptions.Format();
        var plot = new Option<string?>("--plot") { Description = "Write the gap curves (PNG)." };
        var cmd = new Command("gap", """
            How far an adversary moves honest agents' payments: |payment(truthful, adversary) − payment(truthful, none)|
            as α or m varies (paper 000: Θ(α) for Mechanism 1, → 0 with m for the robust mechanisms).

            Examples:
              tally lab gap --vary alpha --values 0,0.05,0.1,0.2,0.3 --plot gap-alpha.png
              tally lab gap --vary tasks --values 300,1000,3000,10000 --adversary-fraction 0.1 --plot gap-m.png
            """)
        { mechanisms, prior, vary, values, agents, tasks, alpha, strategy, seeds, outDir, outFormat, plot };
        cmd.SetAction(p =>
        {
            // The varied parameter's fixed value does nothing: refuse it rather than ignore it.
            string axis = p.GetValue(vary)!;
            if (axis == "tasks" && p.GetResult(tasks) is { Implicit: false })
                throw new UsageException("--tasks is the varied parameter with --vary tasks; give its values with --values");
            if (axis == "alpha" && p.GetResult(alpha) is { Implicit: false })
                throw new UsageException("--adversary-fraction is the varied parameter with --vary alpha; give its values with --values");
            string? png = p.GetValue(plot);
            if (png is not null) OutputChecks.WritableFile(png, "--plot");
            var request = d with
            {
                Mechanisms = p.GetValue(mechanisms)!, Prior = p.GetValue(prior)!, Vary = p.GetValue(vary)!, Values = p.GetValue(values)!,
                Agents = p.GetValue(agents), Tasks = p.GetValue(tasks), AdversaryFraction = p.GetValue(alpha),
                AdversaryStrategy = p.GetValue(strategy)!, Seeds = p.GetValue(seeds),
                OutputDirectory = p.GetValue(outDir), OutputFormat = CommonOptions.ReadFormat(p, outFormat, p.GetValue(outDir)),
            };
            var o = ctx.WithJobProgress(report => PaymentGapJob.Run(request, ctx.Compute, report));
            var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape(
                $"honest payment gap |with − without adversary| ± 95% half-width; {o.Scenario.Prior.Name}, n = {o.Scenario.Agents}, {o.Scenario.Adversary}"));
            table.AddColumn(o.Axis == GapAxis.AdversaryFraction ? "α" : "m");
            foreach (var n in o.Mechanisms) table.AddColumn(new TableColumn(Markup.Escape(n)).RightAligned().NoWrap());
            for (int v = 0; v < o.Values.Length; v++)
                table.AddRow([o.Values[v].ToString(CultureInfo.InvariantCulture), .. o.Points[v].Select(q => Markup.Escape($"{q.Gap:0.0000} ± {q.HalfWidth:0.0000}"))]);
            ctx.Out.Write(table);
            if (png is not null)
                Plots.Lines(png, "Honest payment gap caused by the adversary", o.Axis == GapAxis.AdversaryFraction ? "adversary fraction α" : "tasks m", "|Δ payment|",
                    o.Mechanisms.Select((n, m) =>
                    {
                        var ps = o.Points.Select(row => row[m]).OrderBy(q => q.X).ToList();
                        return (n, ps.Select(q => q.X).ToArray(), ps.Select(q => q.Gap).ToArray(),
                            (double[]?)ps.Select(q => Math.Max(0, q.Gap - q.HalfWidth)).ToArray(), (double[]?)ps.Select(q => q.Gap + q.HalfWidth).ToArray());
                    }).ToList());
            return 0;
        });
        return cmd;
    }

    public static Command CreatePeer(CliContext ctx)
    {
        var d = new PeerLabRequest();
        var mechanisms = new Option<string>("--mechanisms", "-m") { Description = "Comma-separated mechanisms (see 'tally pay --help').", DefaultValueFactory = _ => d.Mechanisms };
        var prior = new Option<string>("--signal-prior") { Description = "Signal prior: ds:K,ACCURACY (symmetric Dawid-Skene) or edx:INDEX (a bundled edX joint).", DefaultValueFactory = _ => d.Prior };
        var agents = new Option<int>("--agents") { Description = "Agents n.", DefaultValueFactory = _ => d.Agents };
        var tasks = new Option<int>("--tasks") { Description = "Tasks m.", DefaultValueFactory = _ => d.Tasks };
        var alpha = new Option<double>("--adversary-fraction") { Description = "Fraction α of agents controlled by one adversary.", DefaultValueFactory = _ => d.AdversaryFraction };
        var strategy = new Option<string>("--adversary-strategy") { Description = "constant, random, flip or pattern.", DefaultValueFactory = _ => d.AdversaryStrategy };
        var seeds = new Option<int>("--seeds") { Description = "Independent runs averaged.", DefaultValueFactory = _ => d.Seeds };
        var seed = new Option<int>("--seed", "-s") { Description = "Base seed.", DefaultValueFactory = _ => d.Seed };
        var cmd = new Command("peer", """
            Incentives of peer-prediction mechanisms by simulation: a truthful agent's expected payment, every unilateral
            deviation's (and the best one: the empirical ε), uninformed profiles, with 95% intervals over seeds.

            Examples:
              tally lab peer --signal-prior ds:3,0.7 --agents 30 --tasks 1000 --adversary-fraction 0.1 --adversary-strategy pattern
              tally lab peer --signal-prior edx:17 --mechanisms ca,dmi --seeds 100
            """)
        { mechanisms, prior, agents, tasks, alpha, strategy, seeds, seed };
        cmd.SetAction(p =>
        {
            var request = new PeerLabRequest
            {
                Mechanisms = p.GetValue(mechanisms)!, Prior = p.GetValue(prior)!, Agents = p.GetValue(agents), Tasks = p.GetValue(tasks),
                AdversaryFraction = p.GetValue(alpha), AdversaryStrategy = p.GetValue(strategy)!, Seeds = p.GetValue(seeds), Seed = p.GetValue(seed),
            };
            var o = ctx.WithJobProgress(report => PeerLabJob.Run(request, ctx.Compute, report));
            var sc = o.Result.Scenario;
            var table = new Table().Border(TableBorder.Rounded)
                .Title(Markup.Escape($"{sc.Prior.Name}: n = {sc.Agents}, m = {sc.Tasks}, α = {sc.AdversaryFraction} ({sc.Adversary}), {sc.Seeds} seeds, 95% intervals"));
            foreach (var h in new[] { "mechanism", "truthful", "uninformed: constant", "uninformed: random", "best own-signal deviation (gain)", "truthful best (own signal)", "best deviation overall (ε)" })
                table.AddColumn(h);
            static string Est(PaymentEstimate e) => $"{e.Mean:G3} ± {(e.High - e.Low) / 2:G2}";
            foreach (var row in o.Rows)
            {
                var r = row.Result;
                var own = row.BestOwnSignalDeviation;
                table.AddRow(Markup.Escape(r.Mechanism), Markup.Escape(Est(r.Truthful)), Markup.Escape(Est(r.UninformedConstant)),
                    Markup.Escape(Est(r.UninformedRandom)), own is null ? "—" : Markup.Escape($"{own.Strategy.Name} ({Est(own.Gain)})"),
                    row.TruthfulBestAmongOwnSignal ? "yes" : "[red]no[/]", Markup.Escape($"{r.BestDeviation.Name} ({r.Epsilon:G3})"));
            }
            ctx.Out.Write(table);
            return 0;
        });
        return cmd;
    }

    public static Command CreateEdx(CliContext ctx)
    {
        var d = new EdxTableRequest();
        var mechanisms = new Option<string>("--mechanisms", "-m") { Description = "Comma-separated mechanisms.", DefaultValueFactory = _ => d.Mechanisms };
        var seeds = new Option<int>("--seeds") { Description = "Seeds per prior.", DefaultValueFactory = _ => d.Seeds };
        var stride = new Option<int>("--stride") { Description = "Use every k-th prior (1 = all 1,944).", DefaultValueFactory = _ => d.Stride };
        var agents = new Option<int>("--agents") { Description = "Agents n.", DefaultValueFactory = _ => d.Agents };
        var tasks = new Option<int>("--tasks") { Description = "Tasks m.", DefaultValueFactory = _ => d.Tasks };
        var cmd = new Command("edx", """
            For each of the 1,944 real edX peer-grading joint distributions: is truthful reporting the best response among
            the deviation set (α = 0)? Prints the fraction of priors per mechanism, with all deviations and with only
            those that use the agent's own signal. The full table takes about a minute per 10 seeds on 2 cores.

            Example:
              tally lab edx --mechanisms ca,dmi,tvd-mi,rptsc --seeds 10 --stride 10
            """)
        { mechanisms, seeds, stride, agents, tasks };
        cmd.SetAction(p =>
        {
            var request = new EdxTableRequest
            {
                Mechanisms = p.GetValue(mechanisms)!, Seeds = p.GetValue(seeds), Stride = p.GetValue(stride), Agents = p.GetValue(agents), Tasks = p.GetValue(tasks),
            };
            var result = ctx.WithJobProgress(report => EdxTableJob.Run(request, ctx.Compute, report));
            var options = result.Options;
            var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape($"{result.Rows.Length:N0} edX priors, n = {options.Agents}, m = {options.Tasks}, {options.Seeds} seeds, α = 0"));
            table.AddColumn("mechanism"); table.AddColumn("truthful best (all deviations)"); table.AddColumn("truthful best (own-signal deviations)"); table.AddColumn("mean ε");
            foreach (var name in result.Mechanisms)
                table.AddRow(Markup.Escape(name), $"{100 * result.FractionTruthfulBest[name]:0.0}%", $"{100 * result.FractionTruthfulBestSignalOnly[name]:0.0}%",
                    result.MeanEpsilon[name].ToString("G3", CultureInfo.InvariantCulture));
            ctx.Out.Write(table);
            ctx.Out.MarkupLine(Markup.Escape($"{result.Elapsed.TotalSeconds:0.0} s"));
            return 0;
        });
        return cmd;
    }
}
