using System.Collections.Immutable;
using Tally.Core;
using Tally.Simulation;

namespace Tally.Application;

/// <summary>What <see cref="MaxMigReproductionJob"/> should do.</summary>
public sealed record MaxMigReproductionRequest
{
    /// <summary>The experiment's options (methods, settings, runs, epochs, learning rates, classifier).</summary>
    public MaxMigReproductionOptions Options { get; init; } = new();
    /// <summary>Fashion-MNIST training images (the first N). Default 60,000, the whole training set.</summary>
    public int TrainItems { get; init; } = 60000;
    /// <summary>Fashion-MNIST test images (the first N). Default 10,000, the whole test set.</summary>
    public int TestItems { get; init; } = 10000;
    /// <summary>Folder for the <see cref="MaxMigReproductionJob.RunsTable"/> table (null = write nothing).</summary>
    public string? OutputDirectory { get; init; }
    /// <summary>Format of the table.</summary>
    public OutputFormat OutputFormat { get; init; } = OutputFormat.Csv;
}

/// <summary>One row of the summary: a method (or a forecaster) across the settings.</summary>
/// <param name="Name">Row name: the method, or <c>maxmig (dc)</c> / <c>em (dc)</c> for the data-crowds forecasters.</param>
/// <param name="Last">Per setting: mean and sample sd over the runs of the last-epoch test accuracy (NaN-free; sd 0 for one run).</param>
/// <param name="Best">Per setting: mean over the runs of the best-epoch test accuracy (the forecasters: the last epoch's).</param>
/// <param name="Paper">Per setting: the paper's Table 3 figure for CIFAR-10 where it has one (Max-MIG and AggNet, d and dc), else null.</param>
public sealed record MaxMigReproductionRow(string Name, ImmutableArray<(double Mean, double Sd)> Last, ImmutableArray<double> Best, ImmutableArray<double?> Paper);

/// <summary>What <see cref="MaxMigReproductionJob"/> did.</summary>
/// <param name="Options">The options run.</param>
/// <param name="TrainItems">Training images used.</param>
/// <param name="TestItems">Test images used.</param>
/// <param name="Runs">Every run.</param>
/// <param name="Rows">The summary in Table 3's layout.</param>
/// <param name="Written">Files written.</param>
/// <param name="Resumed">Runs taken from the journal of an earlier start instead of being trained (0 without <c>--out</c>).</param>
/// <param name="Journal">The journal's path (null without an output folder).</param>
public sealed record MaxMigReproductionOutcome(MaxMigReproductionOptions Options, int TrainItems, int TestItems,
    ImmutableArray<MaxMigReproductionRun> Runs, ImmutableArray<MaxMigReproductionRow> Rows, IReadOnlyList<string> Written,
    int Resumed = 0, string? Journal = null);

/// <summary>
/// Max-MIG's synthetic-expert experiments reproduced like for like on Fashion-MNIST (<see cref="MaxMigReproduction"/>),
/// summarised in the layout of the paper's Table 3 with its CIFAR-10 figures beside them. Used by
/// <c>tally lab maxmig-table</c>.
/// </summary>
public static class MaxMigReproductionJob
{
    /// <summary>One row per run: <c>setting,method,run,last_epoch,best_epoch,best_epoch_index,forecaster,seconds</c>.</summary>
    public const string RunsTable = "reproduction";

    /// <summary>
    /// Table 3 of the paper, CIFAR-10 rows, in <see cref="ExpertSetting.PaperOrder"/>: Max-MIG (d), Max-MIG (dc),
    /// AggNet (d), AggNet (dc), percent. (The paper's Figure 4 gives the other methods only as bars.)
    /// </summary>
    public static ImmutableDictionary<string, ImmutableArray<double>> PaperCifar10 { get; } = new Dictionary<string, ImmutableArray<double>>
    {
        ["maxmig"] = [86.33, 86.55, 86.71, 70.16, 69.99, 67.59],
        ["maxmig (dc)"] = [98.10, 98.18, 99.06, 75.55, 75.11, 72.47],
        ["em"] = [86.13, 86.27, 63.91, 70.21, 62.50, 38.27],
        ["em (dc)"] = [99.05, 99.01, 70.01, 74.76, 72.02, 29.03],
    }.ToImmutableDictionary(StringComparer.Ordinal);

    /// <summary>
    /// Runs the job; options and the output folder are checked before any data are read. With an output folder, each
    /// run is journalled as it finishes (<c>reproduction.journal.jsonl</c>) and the runs an earlier start of the same
    /// options journalled are taken from it, so a long run that is stopped resumes where it was.
    /// </summary>
    /// <exception cref="TallyUserException">A bad option, Fashion-MNIST not installed, or an unwritable output folder.</exception>
    public static MaxMigReproductionOutcome Run(MaxMigReproductionRequest request, ComputeOptions? compute = null,
        IProgress<JobProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Options.Validate();
        Check.AtLeast(request.TrainItems, request.Options.BatchSize, nameof(request.TrainItems));
        Check.AtLeast(request.TestItems, 1, nameof(request.TestItems));
        if (request.OutputDirectory is { } outDir) OutputChecks.WritableDirectory(outDir);
        if (FashionMnist.TryLocate() is null) throw new TallyUserException("Fashion-MNIST not found. " + FashionMnist.InstallHint);

        progress?.Report(new JobProgress("Loading Fashion-MNIST", 0));
        var train = FashionMnist.Load(Math.Min(request.TrainItems, 60000), FashionMnistSplit.Train);
        var test = FashionMnist.Load(Math.Min(request.TestItems, 10000), FashionMnistSplit.Test);
        var o = request.Options;
        // With an output folder every finished run is journalled at once, and a restarted command resumes from it.
        using var journal = request.OutputDirectory is { } journalDir ? ReproductionJournal.Open(journalDir, o, train.Count, test.Count) : null;
        string phase = $"Training ({o.Settings.Length} settings × {o.Methods.Length} methods × {o.Runs} runs)";
        progress?.Report(new JobProgress(phase, 0));
        int resumed = 0;
        var runs = MaxMigReproduction.Run(train, test, o, compute,
            new SyncProgress<double>(f => progress?.Report(new JobProgress(phase, f))), cancellationToken,
            journal?.Earlier, journal is null ? null : journal.Add);
        if (journal is not null)
            foreach (var r in runs)
                if (journal.Earlier.TryGetValue((r.Setting, r.Method, r.Run), out var before) && ReferenceEquals(before, r)) resumed++;

        var written = new List<string>();
        if (request.OutputDirectory is { } dir)
            written.Add(TableFile.Write(dir, RunsTable, request.OutputFormat,
                ["setting", "method", "run", "last_epoch", "best_epoch", "best_epoch_index", "forecaster", "seconds"], t =>
                {
                    foreach (var r in runs)
                    {
                        t.Text(r.Setting.Label).Text(r.Method).Integer(r.Run).Number(r.LastEpoch).Number(r.BestEpoch)
                            .Integer(r.BestEpochIndex).Number(r.Forecaster).Number(r.Seconds);
                        t.EndRow();
                    }
                }));
        return new MaxMigReproductionOutcome(o, train.Count, test.Count, runs, Summarise(o, runs), written, resumed, journal?.Path);
    }

    /// <summary>The summary rows: each method's classifier, then the forecasters of Max-MIG and EM.</summary>
    private static ImmutableArray<MaxMigReproductionRow> Summarise(MaxMigReproductionOptions o, ImmutableArray<MaxMigReproductionRun> runs)
    {
        var rows = ImmutableArray.CreateBuilder<MaxMigReproductionRow>();
        foreach (var method in o.Methods)
        {
            rows.Add(Row(method, o, runs, method, r => r.LastEpoch, r => r.BestEpoch));
            if (method is "maxmig" or "em")
                rows.Add(Row(method + " (dc)", o, runs, method, r => r.Forecaster ?? 0, r => r.Forecaster ?? 0));
        }
        return rows.ToImmutable();
    }

    private static MaxMigReproductionRow Row(string name, MaxMigReproductionOptions o, ImmutableArray<MaxMigReproductionRun> runs, string method,
        Func<MaxMigReproductionRun, double> last, Func<MaxMigReproductionRun, double> best)
    {
        var lasts = ImmutableArray.CreateBuilder<(double, double)>(o.Settings.Length);
        var bests = ImmutableArray.CreateBuilder<double>(o.Settings.Length);
        var paper = ImmutableArray.CreateBuilder<double?>(o.Settings.Length);
        foreach (var setting in o.Settings)
        {
            var mine = runs.Where(r => r.Method == method && r.Setting == setting).ToArray();
            var values = mine.Select(last).ToArray();
            double mean = values.Average();
            double sd = values.Length < 2 ? 0 : Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Length - 1));
            lasts.Add((mean, sd));
            bests.Add(mine.Select(best).Average());
            int column = ExpertSetting.PaperOrder.IndexOf(setting);
            paper.Add(PaperCifar10.TryGetValue(name, out var figures) ? figures[column] : null);
        }
        return new MaxMigReproductionRow(name, lasts.MoveToImmutable(), bests.MoveToImmutable(), paper.MoveToImmutable());
    }
}
