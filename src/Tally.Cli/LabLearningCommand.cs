using Tally.Application;
using Tally.Catalogs;
using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Tally.Aggregation;
using Tally.Core;
using Tally.Learning;
using Tally.Simulation;

namespace Tally.Cli;

/// <summary><c>tally lab learning</c>: every learning-from-crowds method on one setting over several seeds.</summary>
internal static class LabLearningCommand
{
    public static Command Create(CliContext ctx)
    {
        var setting = new Option<string>("--setting") { Description = "music-genre (real crowd), experts:CASE:H|L (Max-MIG's synthetic experts on Fashion-MNIST; CASE = independent, naive-majority, correlated) or sparse:SPAMMERS (deepBP's one-coin Beta(2,1) workers on a (3,4)-regular graph, Fashion-MNIST pullover vs coat).", DefaultValueFactory = _ => "music-genre" };
        var methods = new Option<string?>("--methods") { Description = "Comma-separated learners (default all)." };
        var seeds = new Option<int>("--seeds") { Description = "Seeds per method.", DefaultValueFactory = _ => 5 };
        var model = new Option<string?>("--model") { Description = "Classifier for every method: linear or mlp:WIDTH[,…] (default: each method's own)." };
        var learningRate = new Option<double?>("--learning-rate") { Description = "Adam step of every classifier (default: each method's own)." };
        var epochs = new Option<int?>("--epochs") { Description = "Epochs (per round for alternating methods)." };
        var trainCount = new Option<int>("--train") { Description = "Fashion-MNIST settings: training items.", DefaultValueFactory = _ => 2000 };
        var testCount = new Option<int>("--test") { Description = "Fashion-MNIST settings: test items.", DefaultValueFactory = _ => 1000 };
        var outDir = new Option<string?>("--out", "-o") { Description = "Directory for learning.csv and learning.png." };
        var cmd = new Command("learning", """
            Train every learning-from-crowds method on one setting over several seeds; report mean ± sd test accuracy of the
            classifier and accuracy of the method's posteriors on the training tasks (Max-MIG: the data-crowds forecaster). Synthetic crowds are drawn anew for every seed.
            Fashion-MNIST comes from Debian's dataset-fashion-mnist package (or $FASHION_MNIST).

            Examples:
              tally lab learning --setting music-genre --model linear --learning-rate 0.001 --out runs/music
              tally lab learning --setting experts:naive-majority:H --model linear --seeds 3
              tally lab learning --setting sparse:5 --methods deepmf,deepbp --seeds 10
            """)
        { setting, methods, seeds, model, learningRate, epochs, trainCount, testCount, outDir };
        cmd.SetAction(p =>
        {
            if (p.GetValue(seeds) < 1) throw new UsageException("--seeds must be at least 1");
            System.Collections.Immutable.ImmutableArray<int>? hidden = null;
            if (p.GetValue(model) is { } spec)
            {
                try { hidden = ModelSpec.HiddenLayers(spec); }
                catch (ArgumentException e) { throw new UsageException("--model: " + e.Message); }
            }
            var names = p.GetValue(methods) is { } list
                ? list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                : CrowdLearnerCatalog.All.Select(m => m.Name).ToArray();
            foreach (var n in names)
                if (CrowdLearnerCatalog.Find(n) is null) throw new UsageException($"unknown learner '{n}' (known: {string.Join(", ", CrowdLearnerCatalog.All.Select(m => m.Name))})");
            string name = p.GetValue(setting)!;
            var make = Build(name, p.GetValue(trainCount), p.GetValue(testCount));
            var options = new LearningLabOptions
            {
                Methods = [.. names],
                Seeds = p.GetValue(seeds),
                Settings = new LearnerSettings { Hidden = hidden, Epochs = p.GetValue(epochs), LearningRate = p.GetValue(learningRate) },
            };
            var cells = ctx.WithProgress($"Training ({names.Length} methods × {options.Seeds} seeds)", r => LearningLab.Run(make, options, ctx.Compute, new SyncProgress<double>(r)));

            var table = new Table().Border(TableBorder.Rounded).Title($"tally lab learning — {Markup.Escape(name)}, {options.Seeds} seeds");
            table.AddColumn("method"); table.AddColumn(new TableColumn("test accuracy %").RightAligned());
            table.AddColumn(new TableColumn("training-task accuracy %").RightAligned()); table.AddColumn(new TableColumn("s / run").RightAligned());
            foreach (var c in cells)
                table.AddRow(c.Method, $"{100 * c.TestMean:0.00} ± {100 * c.TestSd:0.00}", $"{100 * c.TrainMean:0.00} ± {100 * c.TrainSd:0.00}", c.Seconds.ToString("0.0", CultureInfo.InvariantCulture));
            ctx.Out.Write(table);
            if (p.GetValue(outDir) is { } dir)
            {
                Directory.CreateDirectory(dir);
                string csv = Path.Combine(dir, "learning.csv");
                AtomicFile.WriteText(csv, w =>
                {
                    w.WriteLine("setting,method,seed,test_accuracy,train_accuracy");
                    foreach (var c in cells)
                        for (int s = 0; s < c.TestAccuracy.Length; s++)
                            w.WriteLine(string.Join(',', CsvText.Escape(name), c.Method, s.ToString(CultureInfo.InvariantCulture),
                                c.TestAccuracy[s].ToString("G6", CultureInfo.InvariantCulture), c.TrainAccuracy[s].ToString("G6", CultureInfo.InvariantCulture)));
                });
                string png = Path.Combine(dir, "learning.png");
                Plots.Bars(png, $"Test accuracy (%), {name}", "test accuracy %", [.. cells.Select(c => c.Method)], [.. cells.Select(c => 100 * c.TestMean)]);
                ctx.Error.WriteLine($"tally: wrote {csv} and {png}");
            }
            return 0;
        });
        return cmd;
    }

    /// <summary>The dataset of each seed: the real crowd for music genre, a fresh synthetic crowd per seed otherwise.</summary>
    private static Func<int, CrowdLearningDataset> Build(string setting, int trainCount, int testCount)
    {
        var parts = setting.Split(':');
        switch (parts[0].ToLowerInvariant())
        {
            case "music-genre":
                var music = MusicGenre.Load(BundledDatasets.Root());
                return _ => music;
            case "experts":
            {
                if (parts.Length != 3) throw new UsageException("--setting experts:CASE:H|L, e.g. experts:correlated:L");
                var @case = parts[1].ToLowerInvariant() switch
                {
                    "independent" => ExpertCase.IndependentMistakes,
                    "naive-majority" => ExpertCase.NaiveMajority,
                    "correlated" => ExpertCase.CorrelatedMistakes,
                    _ => throw new UsageException($"expert case '{parts[1]}': use independent, naive-majority or correlated"),
                };
                var expertise = parts[2].ToUpperInvariant() switch
                {
                    "H" => Expertise.High,
                    "L" => Expertise.Low,
                    _ => throw new UsageException($"expertise '{parts[2]}': use H or L"),
                };
                var (train, test) = Fashion(trainCount, testCount);
                return seed => LearningLab.ExpertDataset(train, test, new ExpertScenario { Case = @case, Expertise = expertise, Seed = seed }, trainCount, testCount);
            }
            case "sparse":
            {
                int spammers = 0;
                if (parts.Length == 2 && (!int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out spammers)))
                    throw new UsageException("--setting sparse:SPAMMERS needs a whole number of spammers");
                // Two classes of ten: read enough images to find the requested number of each split.
                var (train, test) = Fashion(Math.Min(60000, 6 * trainCount), Math.Min(10000, 6 * testCount));
                return seed => LearningLab.SparseOneCoinDataset(train, test, SparseClasses, spammers, trainCount, testCount, seed);
            }
            default:
                throw new UsageException($"unknown setting '{setting}': use music-genre, experts:CASE:H|L or sparse:SPAMMERS");
        }
    }

    /// <summary>Pullover (2) vs coat (4): a binary pair a linear model separates only partly, so the crowd matters.</summary>
    private static readonly int[] SparseClasses = [2, 4];

    private static (LabelledImages Train, LabelledImages Test) Fashion(int trainCount, int testCount)
    {
        if (FashionMnist.TryLocate() is null) throw new UsageException("Fashion-MNIST not found. " + FashionMnist.InstallHint);
        return (FashionMnist.Load(trainCount, FashionMnistSplit.Train), FashionMnist.Load(testCount, FashionMnistSplit.Test));
    }
}
