using Tally.Application;
using Tally.Catalogs;
using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Tally.Learning;

namespace Tally.Cli;

/// <summary><c>tally lab learning</c>: every learning-from-crowds method on one setting over several seeds.</summary>
internal static class LabLearningCommand
{
    public static Command Create(CliContext ctx)
    {
        var defaults = new LearningLabRequest();
        var setting = new Option<string?>("--setting") { Description = $"music-genre (real crowd), experts:CASE:H|L (Max-MIG's synthetic experts on Fashion-MNIST; CASE = independent, naive-majority, correlated) or sparse:SPAMMERS (deepBP's one-coin Beta(2,1) workers on a (3,4)-regular graph, Fashion-MNIST pullover vs coat). Default {defaults.Setting}." };
        var methods = new Option<string?>("--methods", "-m") { Description = "Comma-separated learners (default all: " + string.Join(", ", CrowdLearnerCatalog.All.Select(m => m.Name)) + ")." };
        var seeds = new Option<int?>("--seeds") { Description = $"Seeds per method (default {defaults.Seeds})." };
        var model = new Option<string?>("--classifier") { Description = "Classifier for every method: linear or mlp:WIDTH[,…] (default: each method's own)." };
        var learningRate = new Option<double?>("--learning-rate") { Description = "Adam step of every classifier (default: each method's own)." };
        var epochs = new Option<int?>("--epochs", "-e") { Description = "Epochs (per round for alternating methods; default: each method's own)." };
        var restarts = new Option<int?>("--restarts") { Description = "Label-free restarts of the methods that have them (" + string.Join(", ", CrowdLearnerCatalog.All.Where(m => m.HasRestarts).Select(m => $"{m.Name}: highest {m.SelectionCriterion}")) + $"); the others train once. Default {new RestartOptions().Count} (no restarts)." };
        var trainCount = new Option<int?>("--train") { Description = $"Fashion-MNIST settings: training items (default {defaults.TrainItems})." };
        var testCount = new Option<int?>("--test") { Description = $"Fashion-MNIST settings: test items (default {defaults.TestItems})." };
        var outDir = CommonOptions.Out($"{LearningLabJob.ResultsTable}.csv or .json (setting,method,seed,test_accuracy,train_accuracy) and learning.png");
        var outFormat = CommonOptions.Format();
        var cmd = new Command("learning", """
            Train every learning-from-crowds method on one setting over several seeds; report mean ± sd test accuracy of the
            classifier and accuracy of the method's posteriors on the training tasks (Max-MIG: the data-crowds forecaster). Synthetic crowds are drawn anew for every seed.
            Fashion-MNIST comes from Debian's dataset-fashion-mnist package (or $FASHION_MNIST).

            Examples:
              tally lab learning --setting music-genre --classifier linear --learning-rate 0.001 --out runs/music
              tally lab learning --setting experts:naive-majority:H --classifier linear --seeds 3
              tally lab learning --setting sparse:5 --methods deepmf,deepbp --seeds 10
            """)
        { setting, methods, seeds, model, learningRate, epochs, restarts, trainCount, testCount, outDir, outFormat };
        cmd.SetAction(p =>
        {
            string chosen = p.GetValue(setting) ?? defaults.Setting;
            if (string.Equals(chosen, "music-genre", StringComparison.OrdinalIgnoreCase))
                foreach (var (given, name) in new (Option<int?>, string)[] { (trainCount, "--train"), (testCount, "--test") })
                    if (p.GetValue(given) is not null)
                        throw new UsageException($"{name} applies to the Fashion-MNIST settings (experts:…, sparse:…), not {chosen}, whose split is fixed");
            var request = new LearningLabRequest
            {
                Setting = p.GetValue(setting) ?? defaults.Setting,
                Methods = p.GetValue(methods) is { } list
                    ? [.. list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)]
                    : null,
                Seeds = p.GetValue(seeds) ?? defaults.Seeds,
                Settings = new LearnerSettings
                {
                    Hidden = p.GetValue(model) is { } spec ? ModelSpec.HiddenLayers(spec) : null,
                    Epochs = p.GetValue(epochs),
                    LearningRate = p.GetValue(learningRate),
                    Restarts = p.GetValue(restarts),
                },
                TrainItems = p.GetValue(trainCount) ?? defaults.TrainItems,
                TestItems = p.GetValue(testCount) ?? defaults.TestItems,
                OutputDirectory = p.GetValue(outDir),
                OutputFormat = CommonOptions.ReadFormat(p, outFormat, p.GetValue(outDir)),
            };
            var o = ctx.WithJobProgress(report => LearningLabJob.Run(request, ctx.Compute, report));

            var table = new Table().Border(TableBorder.Rounded).Title($"tally lab learning — {Markup.Escape(o.Setting)}, {o.Options.Seeds} seeds");
            table.AddColumn("method"); table.AddColumn(new TableColumn("test accuracy %").RightAligned());
            table.AddColumn(new TableColumn("training-task accuracy %").RightAligned()); table.AddColumn(new TableColumn("s / run").RightAligned());
            foreach (var c in o.Cells)
                table.AddRow(c.Method, $"{100 * c.TestMean:0.00} ± {100 * c.TestSd:0.00}", $"{100 * c.TrainMean:0.00} ± {100 * c.TrainSd:0.00}", c.Seconds.ToString("0.0", CultureInfo.InvariantCulture));
            ctx.Out.Write(table);
            foreach (var c in o.Cells)
                if (c.Restarts is { } runs && c.SelectedMostAccurate is int best)
                    ctx.Out.WriteLine($"{c.Method}: {runs[0].Summary.Runs.Length} restarts, kept the highest {CrowdLearnerCatalog.Get(c.Method).SelectionCriterion}; " +
                        $"the kept run is also the most accurate on the test tasks in {best} of {runs.Length} seeds");
            if (request.OutputDirectory is { } dir)
            {
                string png = Path.Combine(dir, "learning.png");
                Plots.Bars(png, $"Test accuracy (%), {o.Setting}", "test accuracy %", [.. o.Cells.Select(c => c.Method)], [.. o.Cells.Select(c => 100 * c.TestMean)]);
                ctx.Error.WriteLine($"tally: wrote {string.Join(" and ", o.Written.Append(png))}");
            }
            return 0;
        });
        return cmd;
    }
}
