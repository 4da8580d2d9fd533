using Tally.Catalogs;
using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Tally.Aggregation;
using Tally.Core;
using Tally.Simulation;


namespace Tally.Cli;

/// <summary><c>tally lab peer | edx | gap</c>: the peer-prediction mechanism labs.</summary>
internal static class PeerLabCommands
{
    private static AdversaryStrategy ParseAdversary(string s) => s.ToLowerInvariant() switch
    {
        "constant" => AdversaryStrategy.Constant, "random" => AdversaryStrategy.Random,
        "flip" => AdversaryStrategy.Flip, "pattern" => AdversaryStrategy.Pattern,
        _ => throw new UsageException($"--adversary-strategy must be constant, random, flip or pattern (got '{s}')"),
    };

    public static Command CreateGap(CliContext ctx)
    {
        var mechanisms = new Option<string>("--mechanism", "-m") { Description = "Comma-separated mechanisms.", DefaultValueFactory = _ => "tvd-mi,rmif-symmetric,rmif-ds" };
        var prior = new Option<string>("--prior") { Description = "ds:K,ACCURACY or edx:INDEX.", DefaultValueFactory = _ => "ds:2,0.8" };
        var vary = new Option<string>("--vary") { Description = "alpha or tasks.", DefaultValueFactory = _ => "alpha" };
        var values = new Option<string>("--values") { Description = "Comma-separated values of the varied parameter.", Required = true };
        var agents = new Option<int>("--agents") { Description = "Agents n.", DefaultValueFactory = _ => 30 };
        var tasks = new Option<int>("--tasks") { Description = "Tasks m (when varying alpha).", DefaultValueFactory = _ => 1000 };
        var alpha = new Option<double>("--adversary-fraction") { Description = "α (when varying tasks).", DefaultValueFactory = _ => 0.1 };
        var strategy = new Option<string>("--adversary-strategy") { Description = "constant, random, flip or pattern.", DefaultValueFactory = _ => "pattern" };
        var seeds = new Option<int>("--seeds") { Description = "Seeds.", DefaultValueFactory = _ => 20 };
        var csv = new Option<string?>("--csv") { Description = "Write x,mechanism,with,without,gap,half_width." };
        var plot = new Option<string?>("--plot") { Description = "Write the gap curves (PNG)." };
        var cmd = new Command("gap", """
            How far an adversary moves honest agents' payments: |payment(truthful, adversary) − payment(truthful, none)|
            as α or m varies (paper 000: Θ(α) for Mechanism 1, → 0 with m for the robust mechanisms).

            Examples:
              tally lab gap --vary alpha --values 0,0.05,0.1,0.2,0.3 --plot gap-alpha.png
              tally lab gap --vary tasks --values 300,1000,3000,10000 --adversary-fraction 0.1 --plot gap-m.png
            """)
        { mechanisms, prior, vary, values, agents, tasks, alpha, strategy, seeds, csv, plot };
        cmd.SetAction(p =>
        {
            var mechs = ParseMechanisms(p.GetValue(mechanisms)!);
            var axis = p.GetValue(vary) switch
            {
                "alpha" => GapAxis.AdversaryFraction,
                "tasks" => GapAxis.Tasks,
                var x => throw new UsageException($"--vary must be alpha or tasks (got '{x}')"),
            };
            var xs = p.GetValue(values)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(x =>
                double.TryParse(x, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) ? d : throw new UsageException($"--values: '{x}' is not a number")).ToList();
            var scenario = new PeerLabScenario
            {
                Prior = ParsePrior(p.GetValue(prior)!, EdxPriors.LoadBundled), Agents = p.GetValue(agents), Tasks = p.GetValue(tasks),
                AdversaryFraction = p.GetValue(alpha), Adversary = ParseAdversary(p.GetValue(strategy)!), Seeds = p.GetValue(seeds),
            };
            scenario.Validate();
            var points = ctx.WithProgress("Sweeping", r => PaymentGapSweep.Run(mechs.Select(m => m.Create()).ToList(), scenario, axis, xs, 0.95, r));
            var names = points.Select(q => q.Mechanism).Distinct().ToList();
            var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape(
                $"honest payment gap |with − without adversary| ± 95% half-width; {scenario.Prior.Name}, n = {scenario.Agents}, {scenario.Adversary}"));
            table.AddColumn(axis == GapAxis.AdversaryFraction ? "α" : "m");
            foreach (var n in names) table.AddColumn(new TableColumn(Markup.Escape(n)).RightAligned().NoWrap());
            foreach (var x in xs)
                table.AddRow([x.ToString(CultureInfo.InvariantCulture), .. names.Select(n => points.First(q => q.X == x && q.Mechanism == n))
                    .Select(q => Markup.Escape($"{q.Gap:0.0000} ± {q.HalfWidth:0.0000}"))]);
            ctx.Out.Write(table);
            if (p.GetValue(csv) is { } csvPath)
                AtomicFile.WriteText(csvPath, w =>
                {
                    w.WriteLine("x,mechanism,with,without,gap,half_width");
                    foreach (var q in points)
                        w.WriteLine(string.Join(",", NumberFormat.Finite(q.X), q.Mechanism,
                            NumberFormat.Finite(q.WithAdversary), NumberFormat.Finite(q.WithoutAdversary),
                            NumberFormat.Finite(q.Gap), NumberFormat.Finite(q.HalfWidth)));
                });
            if (p.GetValue(plot) is { } png)
                Plots.Lines(png, "Honest payment gap caused by the adversary", axis == GapAxis.AdversaryFraction ? "adversary fraction α" : "tasks m", "|Δ payment|",
                    names.Select(n =>
                    {
                        var ps = points.Where(q => q.Mechanism == n).OrderBy(q => q.X).ToList();
                        return (n, ps.Select(q => q.X).ToArray(), ps.Select(q => q.Gap).ToArray(),
                            (double[]?)ps.Select(q => Math.Max(0, q.Gap - q.HalfWidth)).ToArray(), (double[]?)ps.Select(q => q.Gap + q.HalfWidth).ToArray());
                    }).ToList());
            return 0;
        });
        return cmd;
    }

    private static IReadOnlyList<Tally.Catalogs.MechanismInfo> ParseMechanisms(string list) =>
        list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(n => Tally.Catalogs.MechanismCatalog.Find(n) ?? throw new UsageException($"unknown mechanism '{n}' (see 'tally pay --help')")).ToList();

    private static ISignalPrior ParsePrior(string spec, Func<IReadOnlyList<EdxPrior>> Edx)
    {
        // ds:K,ACCURACY  (symmetric Dawid-Skene)  |  edx:INDEX  (one of the 1,944 bundled edX joints)
        var parts = spec.Split(':', 2);
        if (parts[0] == "ds")
        {
            var a = parts.Length == 2 ? parts[1].Split(',') : ["2", "0.8"];
            if (a.Length != 2 || !int.TryParse(a[0], out int k) || !double.TryParse(a[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double acc)
                || k < 2 || !(acc > 0 && acc < 1))
                throw new UsageException($"--prior ds:K,ACCURACY needs K ≥ 2 and accuracy in (0, 1) (got '{spec}')");
            return LatentClassPrior.SymmetricDawidSkene(k, acc);
        }
        if (parts[0] == "edx" && parts.Length == 2 && int.TryParse(parts[1], out int index))
        {
            var all = Edx();
            if (index < 0 || index >= all.Count) throw new UsageException($"--prior edx:INDEX must be between 0 and {all.Count - 1}");
            return all[index].ToSignalPrior();
        }
        throw new UsageException($"--prior must be ds:K,ACCURACY or edx:INDEX (got '{spec}')");
    }

    public static Command CreatePeer(CliContext ctx)
    {
        var mechanisms = new Option<string>("--mechanism", "-m") { Description = "Comma-separated mechanisms (see 'tally pay --help').", DefaultValueFactory = _ => "ca,dmi,tvd-mi,rmif-ds" };
        var prior = new Option<string>("--prior") { Description = "Signal prior: ds:K,ACCURACY (symmetric Dawid-Skene) or edx:INDEX (a bundled edX joint).", DefaultValueFactory = _ => "ds:2,0.8" };
        var agents = new Option<int>("--agents") { Description = "Agents n.", DefaultValueFactory = _ => 10 };
        var tasks = new Option<int>("--tasks") { Description = "Tasks m.", DefaultValueFactory = _ => 100 };
        var alpha = new Option<double>("--adversary-fraction") { Description = "Fraction α of agents controlled by one adversary.", DefaultValueFactory = _ => 0 };
        var strategy = new Option<string>("--adversary-strategy") { Description = "constant, random, flip or pattern.", DefaultValueFactory = _ => "constant" };
        var seeds = new Option<int>("--seeds") { Description = "Independent runs averaged.", DefaultValueFactory = _ => 50 };
        var seed = new Option<int>("--seed", "-s") { Description = "Base seed.", DefaultValueFactory = _ => 0 };
        var cmd = new Command("peer", """
            Incentives of peer-prediction mechanisms by simulation: a truthful agent's expected payment, every unilateral
            deviation's (and the best one: the empirical ε), uninformed profiles, with 95% intervals over seeds.

            Examples:
              tally lab peer --prior ds:3,0.7 --agents 30 --tasks 1000 --adversary-fraction 0.1 --adversary-strategy pattern
              tally lab peer --prior edx:17 --mechanism ca,dmi --seeds 100
            """)
        { mechanisms, prior, agents, tasks, alpha, strategy, seeds, seed };
        cmd.SetAction(p =>
        {
            var mechs = ParseMechanisms(p.GetValue(mechanisms)!);
            var signal = ParsePrior(p.GetValue(prior)!, EdxPriors.LoadBundled);
            var adversary = ParseAdversary(p.GetValue(strategy)!);
            var scenario = new PeerLabScenario
            {
                Prior = signal, Agents = p.GetValue(agents), Tasks = p.GetValue(tasks), AdversaryFraction = p.GetValue(alpha),
                Adversary = adversary, Seeds = p.GetValue(seeds), Seed = p.GetValue(seed),
            };
            scenario.Validate();
            var result = ctx.WithProgress("Simulating", _ => PeerLab.Run(mechs.Select(m => m.Create()).ToList(), scenario));
            var table = new Table().Border(TableBorder.Rounded)
                .Title(Markup.Escape($"{signal.Name}: n = {scenario.Agents}, m = {scenario.Tasks}, α = {scenario.AdversaryFraction} ({adversary}), {scenario.Seeds} seeds, 95% intervals"));
            foreach (var h in new[] { "mechanism", "truthful", "uninformed: constant", "uninformed: random", "best own-signal deviation (gain)", "truthful best (own signal)", "best deviation overall (ε)" })
                table.AddColumn(h);
            static string Est(PaymentEstimate e) => $"{e.Mean:G3} ± {(e.High - e.Low) / 2:G2}";
            foreach (var r in result.Mechanisms)
            {
                // The mechanisms' guarantees cover strategies that depend on the agent's own signal only; deviations
                // that peek at the other agents' signals (always-majority) are reported separately.
                DeviationResult? own = null;
                foreach (var dv in r.Deviations)
                    if (!dv.Strategy.UsesPeerSignals && (own is null || dv.Gain.Mean > own.Gain.Mean)) own = dv;
                bool ownBest = r.TruthfulIsBestResponseAmong(st => !st.UsesPeerSignals);
                table.AddRow(Markup.Escape(r.Mechanism), Markup.Escape(Est(r.Truthful)), Markup.Escape(Est(r.UninformedConstant)),
                    Markup.Escape(Est(r.UninformedRandom)), own is null ? "—" : Markup.Escape($"{own.Strategy.Name} ({Est(own.Gain)})"),
                    ownBest ? "yes" : "[red]no[/]", Markup.Escape($"{r.BestDeviation.Name} ({r.Epsilon:G3})"));
            }
            ctx.Out.Write(table);
            return 0;
        });
        return cmd;
    }

    public static Command CreateEdx(CliContext ctx)
    {
        var d = new EdxTableOptions();
        var mechanisms = new Option<string>("--mechanism", "-m") { Description = "Comma-separated mechanisms.", DefaultValueFactory = _ => string.Join(",", d.Mechanisms) };
        var seeds = new Option<int>("--seeds") { Description = "Seeds per prior.", DefaultValueFactory = _ => d.Seeds };
        var stride = new Option<int>("--stride") { Description = "Use every k-th prior (1 = all 1,944).", DefaultValueFactory = _ => d.Stride };
        var agents = new Option<int>("--agents") { Description = "Agents n.", DefaultValueFactory = _ => d.Agents };
        var tasks = new Option<int>("--tasks") { Description = "Tasks m.", DefaultValueFactory = _ => d.Tasks };
        var cmd = new Command("edx", """
            For each of the 1,944 real edX peer-grading joint distributions: is truthful reporting the best response among
            the deviation set (α = 0)? Prints the fraction of priors per mechanism, with all deviations and with only
            those that use the agent's own signal. The full table takes about a minute per 10 seeds on 2 cores.

            Example:
              tally lab edx --mechanism ca,dmi,tvd-mi,rptsc --seeds 10 --stride 10
            """)
        { mechanisms, seeds, stride, agents, tasks };
        cmd.SetAction(p =>
        {
            var mechs = ParseMechanisms(p.GetValue(mechanisms)!);
            var options = d with { Mechanisms = mechs.Select(m => m.Name).ToList(), Seeds = p.GetValue(seeds), Stride = p.GetValue(stride), Agents = p.GetValue(agents), Tasks = p.GetValue(tasks) };
            var priors = EdxPriors.LoadBundled();
            var result = ctx.WithProgress("Evaluating edX priors", r => EdxTruthfulnessTable.Run(priors, options, r));
            var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape($"{result.Rows.Length:N0} edX priors, n = {options.Agents}, m = {options.Tasks}, {options.Seeds} seeds, α = 0"));
            table.AddColumn("mechanism"); table.AddColumn("truthful best (all deviations)"); table.AddColumn("truthful best (own-signal deviations)"); table.AddColumn("mean ε");
            foreach (var (name, frac) in result.FractionTruthfulBest)
                table.AddRow(Markup.Escape(name), $"{100 * frac:0.0}%", $"{100 * result.FractionTruthfulBestSignalOnly[name]:0.0}%",
                    result.MeanEpsilon[name].ToString("G3", CultureInfo.InvariantCulture));
            ctx.Out.Write(table);
            ctx.Out.MarkupLine(Markup.Escape($"{result.Elapsed.TotalSeconds:0.0} s"));
            return 0;
        });
        return cmd;
    }
}
