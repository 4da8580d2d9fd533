using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Tally.Application;
using Tally.Learning;
using Tally.Simulation;

namespace Tally.Cli;

/// <summary><c>tally lab maxmig-table</c>: Max-MIG's synthetic-expert experiments like for like, in the layout of its Table 3.</summary>
internal static class LabMaxMigTableCommand
{
    public static Command Create(CliContext ctx)
    {
        var d = new MaxMigReproductionRequest();
        var o = d.Options;
        var methods = new Option<string?>("--methods", "-m") { Description = $"Comma-separated methods of {string.Join(", ", MaxMigReproductionOptions.KnownMethods)} (em = AggNet). Default all." };
        var settings = new Option<string?>("--settings") { Description = $"Comma-separated settings of {string.Join(", ", ExpertSetting.PaperOrder.Select(s => s.Label))}. Default all six." };
        var runs = new Option<int?>("--runs") { Description = $"Training runs per method and setting, one crowd for all (default {o.Runs})." };
        var epochs = new Option<int?>("--epochs", "-e") { Description = $"Epochs (em: per round; default {o.Epochs})." };
        var emRounds = new Option<int?>("--em-rounds") { Description = $"EM (AggNet) rounds, each a fresh classifier (default {o.EmRounds})." };
        var model = new Option<string?>("--classifier") { Description = $"linear or mlp:WIDTH[,…] (default {ModelSpec.Format(o.Hidden)})." };
        var trainCount = new Option<int?>("--train") { Description = $"Fashion-MNIST training images (default {d.TrainItems}, all)." };
        var testCount = new Option<int?>("--test") { Description = $"Fashion-MNIST test images (default {d.TestItems}, all)." };
        var crowdSeed = new Option<int?>("--crowd-seed") { Description = $"Seed of the one crowd (default {o.CrowdSeed})." };
        var outDir = CommonOptions.Out($"{MaxMigReproductionJob.RunsTable}.csv or .json (one row per run)");
        var outFormat = CommonOptions.Format();
        var cmd = new Command("maxmig-table", $"""
            Max-MIG's synthetic-expert experiments (Cao et al., ICLR 2019, §4 and Appendix B) reproduced like for like on
            Fashion-MNIST with the protocol of the paper's CIFAR-10 runs: Adam {o.ClassifierLearningRate.ToString(CultureInfo.InvariantCulture)} for the classifier (no weight decay) and
            {o.AggregatorLearningRate.ToString(CultureInfo.InvariantCulture)} for Max-MIG's aggregator, batches of {o.BatchSize} with the partial batch dropped, {o.Epochs} epochs, the
            whole training set, one crowd drawn once for every run, the data-crowds forecasters scored on the test images'
            own simulated crowd. Prints the table in the layout of the paper's Table 3 — test accuracy after the last
            epoch (mean ± sd over the runs) and, in brackets, the best epoch's (optimistic, as the paper reports) — with
            the paper's CIFAR-10 figures beside Max-MIG's and AggNet's rows. The classifier is Tally's dense network,
            not VGG-16. The full run is long (hours on 2 cores): --train, --epochs, --methods and --settings cut it down.
            With --out, every run is journalled as it finishes; the same command started again resumes from there.

            Examples:
              tally lab maxmig-table --train 6000 --epochs 20 --out runs/table3
              tally lab maxmig-table --settings 4.3H --methods maxmig --runs 1
            """)
        { methods, settings, runs, epochs, emRounds, model, trainCount, testCount, crowdSeed, outDir, outFormat };
        cmd.SetAction(p =>
        {
            var options = o with
            {
                Methods = p.GetValue(methods) is { } m ? [.. Specs.List(m)] : o.Methods,
                Settings = p.GetValue(settings) is { } s ? [.. Specs.List(s).Select(ExpertSetting.Parse)] : o.Settings,
                Runs = p.GetValue(runs) ?? o.Runs,
                Epochs = p.GetValue(epochs) ?? o.Epochs,
                EmRounds = p.GetValue(emRounds) ?? o.EmRounds,
                Hidden = p.GetValue(model) is { } spec ? ModelSpec.HiddenLayers(spec) : o.Hidden,
                CrowdSeed = p.GetValue(crowdSeed) ?? o.CrowdSeed,
            };
            var request = d with
            {
                Options = options,
                TrainItems = p.GetValue(trainCount) ?? d.TrainItems,
                TestItems = p.GetValue(testCount) ?? d.TestItems,
                OutputDirectory = p.GetValue(outDir),
                OutputFormat = CommonOptions.ReadFormat(p, outFormat, p.GetValue(outDir)),
            };
            var outcome = ctx.WithJobProgress(report => MaxMigReproductionJob.Run(request, ctx.Compute, report));

            var table = new Table().Border(TableBorder.Rounded)
                .Title($"tally lab maxmig-table — Fashion-MNIST, {outcome.TrainItems:N0} training / {outcome.TestItems:N0} test images, {options.Epochs} epochs, {options.Runs} runs");
            table.AddColumn("method");
            foreach (var setting in options.Settings) table.AddColumn(new TableColumn(setting.Label).RightAligned());
            foreach (var row in outcome.Rows)
            {
                var cells = new List<string> { Markup.Escape(row.Name) };
                for (int i = 0; i < options.Settings.Length; i++)
                {
                    var (mean, sd) = row.Last[i];
                    string text = $"{100 * mean:0.00} ± {100 * sd:0.00} ({100 * row.Best[i]:0.00})";
                    if (row.Paper[i] is double paper) text += $"\n[grey]paper {paper:0.00}[/]";
                    cells.Add(text);
                }
                table.AddRow([.. cells]);
            }
            ctx.Out.Write(table);
            double seconds = outcome.Runs.Sum(r => r.Seconds);
            ctx.Error.WriteLine($"tally: {outcome.Runs.Length} runs, {seconds.ToString("0", CultureInfo.InvariantCulture)} s of training in all; (dc) = data-crowds forecaster on the test crowd, last epoch; paper = Table 3, CIFAR-10 with VGG-16");
            if (outcome.Resumed > 0) ctx.Error.WriteLine($"tally: {outcome.Resumed} of the {outcome.Runs.Length} runs were taken from {outcome.Journal} (an earlier start of the same options)");
            if (outcome.Written.Count > 0) ctx.Error.WriteLine($"tally: wrote {string.Join(" and ", outcome.Written)}");
            return 0;
        });
        return cmd;
    }
}
