using System.CommandLine;
using Spectre.Console;
using Tally.Application;
using Tally.Simulation;

namespace Tally.Cli;

/// <summary><c>tally lab pairwise</c>: the pairwise methods on simulated comparisons with random clickers.</summary>
internal static class LabPairwiseCommand
{
    public static Command Create(CliContext ctx)
    {
        var d = new PairwiseLabRequest();
        var s = d.Scenario;
        var methods = new Option<string>("--methods", "-m") { Description = "Comma-separated pairwise methods (see 'tally methods'), or 'all'.", DefaultValueFactory = _ => "all" };
        var seeds = new Option<int>("--seeds") { Description = "Simulated crowds (seeds --seed, --seed + 1, …).", DefaultValueFactory = _ => d.Seeds };
        var items = new Option<int>("--items") { Description = "Items compared.", DefaultValueFactory = _ => s.Items };
        var workers = new Option<int>("--workers") { Description = "Workers, spammers included.", DefaultValueFactory = _ => s.Workers };
        var spammers = new Option<int>("--spammers") { Description = "Workers who click at random.", DefaultValueFactory = _ => s.Spammers };
        var perWorker = new Option<int>("--per-worker") { Description = "Comparisons per worker (random pairs).", DefaultValueFactory = _ => s.ComparisonsPerWorker };
        var bias = new Option<double>("--spammer-left-bias") { Description = "Probability a spammer clicks the left item (0.5 = a fair coin).", DefaultValueFactory = _ => s.SpammerLeftBias };
        var seed = CommonOptions.Seed("Seed of the first simulated crowd.");
        var outDir = CommonOptions.Out($"{PairwiseLabJob.Table}.csv or .json ({string.Join(",", PairwiseLabJob.Columns)})");
        var format = CommonOptions.Format();
        var cmd = new Command("pairwise", """
            Kendall's tau of every pairwise-comparison method against the true scores of simulated Bradley-Terry crowds in
            which some workers click at random, one crowd per seed; also each method's mean skill for spammers and careful workers.

            Examples:
              tally lab pairwise
              tally lab pairwise --spammers 8 --seeds 10 --out pairwise-lab/
            """)
        { methods, seeds, items, workers, spammers, perWorker, bias, seed, outDir, format };
        cmd.SetAction(p =>
        {
            var request = new PairwiseLabRequest
            {
                Scenario = s with
                {
                    Items = p.GetValue(items), Workers = p.GetValue(workers), Spammers = p.GetValue(spammers),
                    ComparisonsPerWorker = p.GetValue(perWorker), SpammerLeftBias = p.GetValue(bias), Seed = p.GetValue(seed),
                },
                Seeds = p.GetValue(seeds),
                Methods = p.GetValue(methods) is { } m && !string.Equals(m, "all", StringComparison.OrdinalIgnoreCase) ? Specs.List(m) : null,
                OutputDirectory = p.GetValue(outDir),
                OutputFormat = CommonOptions.ReadFormat(p, format, p.GetValue(outDir)),
            };
            var (rows, written) = ctx.WithProgress("Simulating and fitting", _ => PairwiseLabJob.Run(request));
            var sc = request.Scenario;
            var table = new Table().Border(TableBorder.Rounded)
                .Title($"{sc.Items} items, {sc.Workers} workers ({sc.Spammers} random), {sc.ComparisonsPerWorker} comparisons each, {request.Seeds} seeds");
            table.AddColumn("method");
            table.AddColumn(new TableColumn("Kendall's τ (mean ± sd)").RightAligned());
            table.AddColumn(new TableColumn("min … max").RightAligned());
            table.AddColumn(new TableColumn("skill: careful").RightAligned());
            table.AddColumn(new TableColumn("skill: spammers").RightAligned());
            foreach (var g in rows.GroupBy(r => r.Method))
            {
                var tau = g.Select(r => r.KendallTau).ToArray();
                double mean = tau.Average(), sd = tau.Length > 1 ? Math.Sqrt(tau.Sum(x => (x - mean) * (x - mean)) / (tau.Length - 1)) : 0;
                table.AddRow(g.Key, $"{CliValues.Fixed(mean, "0.0000")} ± {CliValues.Fixed(sd, "0.0000")}", $"{CliValues.Fixed(tau.Min(), "0.0000")} … {CliValues.Fixed(tau.Max(), "0.0000")}",
                    sc.Spammers < sc.Workers ? CliValues.Fixed(g.Average(r => r.CarefulSkill), "0.000") : "—",
                    sc.Spammers > 0 ? CliValues.Fixed(g.Average(r => r.SpammerSkill), "0.000") : "—");
            }
            ctx.Out.Write(table);
            foreach (var f in written) ctx.Notice("wrote " + f);
            return 0;
        });
        return cmd;
    }
}
