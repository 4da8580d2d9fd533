using System.Collections.Immutable;
using System.Globalization;
using Tally.Catalogs;
using Tally.Core;
using Tally.Learning;
using Tally.Simulation;

namespace Tally.Application;

/// <summary>What <see cref="LearningLabJob"/> should do.</summary>
public sealed record LearningLabRequest
{
    /// <summary>
    /// The setting (see <see cref="LearningLabSetting.Parse"/>): <c>music-genre</c>, <c>experts:CASE:H|L</c> or
    /// <c>sparse:SPAMMERS</c>. Default music-genre.
    /// </summary>
    public string Setting { get; init; } = "music-genre";
    /// <summary>Learner names; null = every learner of <see cref="CrowdLearnerCatalog"/>.</summary>
    public ImmutableArray<string>? Methods { get; init; }
    /// <summary>Seeds (0, 1, …) per method; default <see cref="LearningLabOptions.Seeds"/>' default.</summary>
    public int Seeds { get; init; } = new LearningLabOptions().Seeds;
    /// <summary>The classifier every method trains (hidden layers, epochs, Adam step; the seed is set per run); null fields keep each method's own.</summary>
    public LearnerSettings Settings { get; init; } = new();
    /// <summary>Fashion-MNIST settings: training items. Default 2,000.</summary>
    public int TrainItems { get; init; } = 2000;
    /// <summary>Fashion-MNIST settings: test items. Default 1,000.</summary>
    public int TestItems { get; init; } = 1000;
    /// <summary>Folder for the <see cref="LearningLabJob.ResultsTable"/> table (null = write nothing).</summary>
    public string? OutputDirectory { get; init; }
    /// <summary>Format of the results table.</summary>
    public OutputFormat OutputFormat { get; init; } = OutputFormat.Csv;
}

/// <summary>What <see cref="LearningLabJob"/> did.</summary>
/// <param name="Setting">The setting run, as given.</param>
/// <param name="Options">The lab's options (methods, seeds, settings).</param>
/// <param name="Cells">Per method: test and training-task accuracy of every seed, and time per run.</param>
/// <param name="Written">Files written.</param>
public sealed record LearningLabOutcome(string Setting, LearningLabOptions Options, ImmutableArray<LearningLabCell> Cells, IReadOnlyList<string> Written);

/// <summary>Where <see cref="LearningLabSetting"/>'s data come from.</summary>
public enum LearningLabData
{
    /// <summary>The bundled music-genre crowd (the same for every seed).</summary>
    MusicGenre,
    /// <summary>Max-MIG's synthetic experts on Fashion-MNIST (a fresh crowd per seed).</summary>
    Experts,
    /// <summary>deepBP's sparse one-coin crowd on Fashion-MNIST pullover vs coat (a fresh crowd per seed).</summary>
    SparseOneCoin,
}

/// <summary>A parsed learning-lab setting.</summary>
/// <param name="Data">Which data.</param>
/// <param name="Case">Experts: the information structure.</param>
/// <param name="Expertise">Experts: high or low.</param>
/// <param name="Spammers">Sparse: extreme spammers added.</param>
public sealed record LearningLabSetting(LearningLabData Data, ExpertCase Case = ExpertCase.IndependentMistakes,
    Expertise Expertise = Expertise.High, int Spammers = 0)
{
    /// <summary>
    /// Parses <c>music-genre</c> (real crowd), <c>experts:CASE:H|L</c> (CASE = independent, naive-majority or
    /// correlated) or <c>sparse:SPAMMERS</c> (<c>sparse</c> alone = no spammers).
    /// </summary>
    /// <exception cref="InvalidOptionException">Anything else (option <c>Setting</c>).</exception>
    public static LearningLabSetting Parse(string setting)
    {
        ArgumentNullException.ThrowIfNull(setting);
        var parts = setting.Split(':');
        switch (parts[0].ToLowerInvariant())
        {
            case "music-genre" when parts.Length == 1:
                return new(LearningLabData.MusicGenre);
            case "experts":
            {
                if (parts.Length != 3) throw new InvalidOptionException("Setting", "experts:CASE:H|L, e.g. experts:correlated:L");
                var @case = parts[1].ToLowerInvariant() switch
                {
                    "independent" => ExpertCase.IndependentMistakes,
                    "naive-majority" => ExpertCase.NaiveMajority,
                    "correlated" => ExpertCase.CorrelatedMistakes,
                    _ => throw new InvalidOptionException("Setting", $"expert case {Quote.Value(parts[1])}: use independent, naive-majority or correlated"),
                };
                var expertise = parts[2].ToUpperInvariant() switch
                {
                    "H" => Expertise.High,
                    "L" => Expertise.Low,
                    _ => throw new InvalidOptionException("Setting", $"expertise {Quote.Value(parts[2])}: use H or L"),
                };
                return new(LearningLabData.Experts, @case, expertise);
            }
            case "sparse":
            {
                int spammers = 0;
                if (parts.Length > 2 || parts.Length == 2 && !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out spammers))
                    throw new InvalidOptionException("Setting", "sparse:SPAMMERS needs a whole number of spammers");
                return new(LearningLabData.SparseOneCoin, Spammers: spammers);
            }
            default:
                throw new InvalidOptionException("Setting", $"{Quote.Value(setting)} is not a setting: use music-genre, experts:CASE:H|L or sparse:SPAMMERS");
        }
    }
}

/// <summary>
/// The learning lab job: every learning-from-crowds method on one setting over several seeds (<see cref="LearningLab"/>),
/// with the per-seed results written as CSV. Used by <c>tally lab learning</c>.
/// </summary>
public static class LearningLabJob
{
    /// <summary>Per method and seed: <c>setting,method,seed,test_accuracy,train_accuracy</c>.</summary>
    public const string ResultsTable = "learning";

    /// <summary>
    /// With restarts, per method, seed and run: <c>setting,method,seed,run,start,criterion,consistent,selected,test_accuracy,train_accuracy</c>
    /// (criterion = the method's training objective, higher is better).
    /// </summary>
    public const string RestartsTable = "learning-restarts";

    /// <summary>Pullover (2) vs coat (4): a binary pair a linear model separates only partly, so the crowd matters.</summary>
    private static readonly int[] SparseClasses = [2, 4];

    /// <summary>Runs the job; the setting, the options and the output folder are checked before any data are read.</summary>
    /// <exception cref="TallyUserException">A bad setting or option, Fashion-MNIST not installed, or an unwritable output folder.</exception>
    public static LearningLabOutcome Run(LearningLabRequest request, ComputeOptions? compute = null,
        IProgress<JobProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var setting = LearningLabSetting.Parse(request.Setting);
        var defaults = new LearningLabOptions();
        var options = defaults with
        {
            Methods = request.Methods ?? defaults.Methods,
            Seeds = request.Seeds,
            Settings = request.Settings,
        };
        options.Validate();
        Check.AtLeast(request.TrainItems, 1, nameof(request.TrainItems));
        Check.AtLeast(request.TestItems, 1, nameof(request.TestItems));
        if (request.OutputDirectory is { } outDir) OutputChecks.WritableDirectory(outDir);

        progress?.Report(new JobProgress("Loading data", 0));
        var dataForSeed = Data(setting, request.TrainItems, request.TestItems);
        string phase = $"Training ({options.Methods.Length} methods × {options.Seeds} seeds)";
        progress?.Report(new JobProgress(phase, 0));
        var cells = LearningLab.Run(dataForSeed, options, compute,
            new SyncProgress<double>(f => progress?.Report(new JobProgress(phase, f))), cancellationToken);

        var written = new List<string>();
        if (request.OutputDirectory is { } dir)
        {
            written.Add(TableFile.Write(dir, ResultsTable, request.OutputFormat, ["setting", "method", "seed", "test_accuracy", "train_accuracy"],
                t => WriteResults(t, request.Setting, cells)));
            if (cells.Any(c => c.Restarts is not null))
                written.Add(TableFile.Write(dir, RestartsTable, request.OutputFormat,
                    ["setting", "method", "seed", "run", "start", "criterion", "consistent", "selected", "test_accuracy", "train_accuracy"],
                    t => WriteRestarts(t, request.Setting, cells)));
        }
        return new LearningLabOutcome(request.Setting, options, cells, written);
    }

    /// <summary>The per-seed results, one row per method and seed.</summary>
    private static void WriteResults(TableFile table, string setting, IReadOnlyList<LearningLabCell> cells)
    {
        foreach (var c in cells)
            for (int s = 0; s < c.TestAccuracy.Length; s++)
            {
                table.Text(setting).Text(c.Method).Integer(s).Number(c.TestAccuracy[s]).Number(c.TrainAccuracy[s]);
                table.EndRow();
            }
    }

    /// <summary>Every run of every seed of the methods that restarted.</summary>
    private static void WriteRestarts(TableFile table, string setting, IReadOnlyList<LearningLabCell> cells)
    {
        foreach (var c in cells)
        {
            if (c.Restarts is not { } seeds) continue;
            for (int s = 0; s < seeds.Length; s++)
            {
                var r = seeds[s];
                for (int i = 0; i < r.Summary.Runs.Length; i++)
                {
                    var run = r.Summary.Runs[i];
                    table.Text(setting).Text(c.Method).Integer(s).Integer(i).Text(run.Start.ToString().ToLowerInvariant())
                        .Number(run.Criterion).Boolean(run.Consistent).Boolean(i == r.Summary.Selected)
                        .Number(r.TestAccuracy[i]).Number(r.TrainAccuracy[i]);
                    table.EndRow();
                }
            }
        }
    }

    /// <summary>The dataset of each seed: the real crowd for music genre, a fresh synthetic crowd per seed otherwise.</summary>
    private static Func<int, CrowdLearningDataset> Data(LearningLabSetting setting, int trainCount, int testCount)
    {
        switch (setting.Data)
        {
            case LearningLabData.MusicGenre:
                var music = MusicGenre.Load();
                return _ => music;
            case LearningLabData.Experts:
            {
                var (train, test) = Fashion(trainCount, testCount);
                return seed => LearningLab.ExpertDataset(train, test,
                    new ExpertScenario { Case = setting.Case, Expertise = setting.Expertise, Seed = seed }, trainCount, testCount);
            }
            default:
            {
                // Two classes of ten: read enough images to find the requested number of each split.
                var (train, test) = Fashion(Math.Min(60000, 6 * trainCount), Math.Min(10000, 6 * testCount));
                return seed => LearningLab.SparseOneCoinDataset(train, test, SparseClasses, setting.Spammers, trainCount, testCount, seed);
            }
        }
    }

    private static (LabelledImages Train, LabelledImages Test) Fashion(int trainCount, int testCount)
    {
        if (FashionMnist.TryLocate() is null) throw new TallyUserException("Fashion-MNIST not found. " + FashionMnist.InstallHint);
        return (FashionMnist.Load(trainCount, FashionMnistSplit.Train), FashionMnist.Load(testCount, FashionMnistSplit.Test));
    }
}
