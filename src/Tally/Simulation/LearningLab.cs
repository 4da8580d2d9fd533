using Tally.Catalogs;
using System.Collections.Immutable;
using System.Diagnostics;
using Tally.Core;
using Tally.Learning;

namespace Tally.Simulation;

/// <summary>Options of <see cref="LearningLab"/>.Run.</summary>
public sealed record LearningLabOptions
{
    /// <summary>Learner names (<see cref="CrowdLearnerCatalog"/>); default all.</summary>
    public ImmutableArray<string> Methods { get; init; } = [.. CrowdLearnerCatalog.All.Select(m => m.Name)];
    /// <summary>Number of seeds (0, 1, …) per method; default 5.</summary>
    public int Seeds { get; init; } = 5;
    /// <summary>
    /// The classifier every method trains (hidden layers, epochs, Adam step) and the restarts of the methods that have
    /// them (the others train once); the seed is set per run. Default: each method's own defaults. A fair comparison
    /// gives every method the same classifier.
    /// </summary>
    public LearnerSettings Settings { get; init; } = new();

    /// <summary>Checks the options; throws <see cref="InvalidOptionException"/> naming the first bad one.</summary>
    public void Validate()
    {
        if (Methods.IsDefaultOrEmpty) throw new InvalidOptionException(nameof(Methods), "must name at least one learner");
        foreach (var m in Methods)
            if (CrowdLearnerCatalog.Find(m) is null)
                throw new InvalidOptionException(nameof(Methods), $"has an unknown learner '{m}' (known: {string.Join(", ", CrowdLearnerCatalog.All.Select(i => i.Name))})");
        Check.AtLeast(Seeds, 1, nameof(Seeds));
        Check.NotNull(Settings, nameof(Settings)).Validate();
    }
}

/// <summary>One method's results over the seeds of a <see cref="LearningLab"/> run.</summary>
/// <param name="Method">Learner name.</param>
/// <param name="TestAccuracy">Per seed: accuracy of the trained classifier on the test tasks.</param>
/// <param name="TrainAccuracy">Per seed: accuracy of the method's posteriors on the training tasks (for Max-MIG the
/// data-crowds forecaster ζ, which needs the crowd's answers and so exists only for training tasks).</param>
/// <param name="Seconds">Mean training time per seed (wall clock; seeds may train side by side).</param>
/// <param name="Restarts">Per seed, with restarts: every run's start, criterion, consistency and accuracies; null without.</param>
public sealed record LearningLabCell(string Method, ImmutableArray<double> TestAccuracy, ImmutableArray<double> TrainAccuracy, double Seconds,
    ImmutableArray<LearningLabRestarts>? Restarts = null)
{
    /// <summary>Seeds whose selected run is also the most accurate of its runs on the test tasks (ties count); null without restarts.</summary>
    public int? SelectedMostAccurate => Restarts?.Count(r => r.SelectedIsMostAccurate);

    /// <summary>Mean test accuracy.</summary>
    public double TestMean => TestAccuracy.Average();
    /// <summary>Sample standard deviation of the test accuracy (0 for one seed).</summary>
    public double TestSd => Sd(TestAccuracy);
    /// <summary>Mean training-task accuracy.</summary>
    public double TrainMean => TrainAccuracy.Average();
    /// <summary>Sample standard deviation of the training-task accuracy.</summary>
    public double TrainSd => Sd(TrainAccuracy);

    private static double Sd(ImmutableArray<double> x)
    {
        if (x.Length < 2) return 0;
        double m = x.Average(), s = 0;
        foreach (double v in x) s += (v - m) * (v - m);
        return Math.Sqrt(s / (x.Length - 1));
    }
}

/// <summary>The restarts of one seed of a <see cref="LearningLab"/> run.</summary>
/// <param name="Summary">The learner's runs and the one it kept.</param>
/// <param name="TestAccuracy">Per run: test accuracy of its classifier (the lab's measure; never seen by the selection).</param>
/// <param name="TrainAccuracy">Per run: accuracy of its posteriors on the training tasks.</param>
public sealed record LearningLabRestarts(RestartSummary Summary, ImmutableArray<double> TestAccuracy, ImmutableArray<double> TrainAccuracy)
{
    /// <summary>Whether the selected run's test accuracy is the highest of the seed's runs (ties count).</summary>
    public bool SelectedIsMostAccurate => TestAccuracy[Summary.Selected] >= TestAccuracy.Max();
}

/// <summary>
/// Learning-from-crowds experiments: every method on one dataset over several seeds, and the dataset builders for the
/// synthetic settings of Max-MIG (Cao et al., ICLR 2019, Appendix B.1: independent mistakes, naive majority,
/// correlated mistakes with high or low expertise) and of deepBP (Kim et al., AISTATS 2022, §4.1: one-coin Beta(2, 1)
/// workers on a (3, 4)-regular graph with extreme spammers).
/// </summary>
public static class LearningLab
{
    /// <summary>Trains every method for every seed on <paramref name="data"/> and scores it.</summary>
    public static ImmutableArray<LearningLabCell> Run(CrowdLearningDataset data, LearningLabOptions? options = null,
        ComputeOptions? compute = null, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        return Run(_ => data, options, compute, progress, cancellationToken);
    }

    /// <summary>
    /// Trains every method for every seed s on the dataset <paramref name="dataForSeed"/>(s) and scores it: for synthetic
    /// crowds the crowd is drawn anew per seed, so the spread covers both the crowd and the training randomness.
    /// Each dataset is built once and shared by all methods.
    /// </summary>
    /// <remarks>
    /// Seeds run in parallel (up to <paramref name="compute"/>'s thread limit), each learner then on one thread, so
    /// nothing is nested; since every run depends on its seed only and learners are bit-identical for any thread
    /// count, the accuracies do not depend on the number of threads. <paramref name="dataForSeed"/> must be safe to
    /// call from several threads at once. Progress may be reported from any of them.
    /// </remarks>
    public static ImmutableArray<LearningLabCell> Run(Func<int, CrowdLearningDataset> dataForSeed, LearningLabOptions? options = null,
        ComputeOptions? compute = null, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataForSeed);
        options ??= new LearningLabOptions();
        options.Validate();
        compute ??= ComputeOptions.Default;
        compute.Validate();
        int seeds = options.Seeds;
        var inner = compute.Inner(Math.Min(compute.Threads, seeds));
        var infos = options.Methods.Select(CrowdLearnerCatalog.Get).ToArray();
        var datasets = new CrowdLearningDataset[seeds];
        Parallelism.ForEach(seeds, compute, seed => datasets[seed] = dataForSeed(seed), cancellationToken);
        var cells = ImmutableArray.CreateBuilder<LearningLabCell>(infos.Length);
        int done = 0, total = infos.Length * seeds;
        foreach (var info in infos)
        {
            var test = new double[seeds];
            var train = new double[seeds];
            var seconds = new double[seeds];
            var restarts = new LearningLabRestarts?[seeds];
            Parallelism.ForEach(seeds, compute, seed =>
            {
                var clock = Stopwatch.StartNew();
                var data = datasets[seed];
                // Restarts apply to the methods that have them; the others train their one run.
                var settings = options.Settings with { Seed = seed, Restarts = info.HasRestarts ? options.Settings.Restarts : null };
                var result = info.Create(settings).Learn(data.Train, inner, null, cancellationToken);
                seconds[seed] = clock.Elapsed.TotalSeconds;
                test[seed] = LearningEvaluation.Accuracy(result.Classifier.PredictProbabilities(data.TestFeatures), data.TestLabels);
                train[seed] = LearningEvaluation.Accuracy(result.Posteriors, data.TrainTruth);
                if (result.Restarts is { } summary)
                    restarts[seed] = new LearningLabRestarts(summary,
                        [.. summary.Runs.Select(r => LearningEvaluation.Accuracy(r.Classifier.PredictProbabilities(data.TestFeatures), data.TestLabels))],
                        [.. summary.Runs.Select(r => LearningEvaluation.Accuracy(r.Posteriors, data.TrainTruth))]);
                progress?.Report((double)Interlocked.Increment(ref done) / total);
            }, cancellationToken);
            cells.Add(new LearningLabCell(info.Name, [.. test], [.. train], seconds.Average(),
                restarts.All(r => r is not null) ? [.. restarts.Select(r => r!)] : null));
        }
        return cells.ToImmutable();
    }

    /// <summary>
    /// A Max-MIG expert-crowd dataset: the first <paramref name="trainCount"/> items of <paramref name="train"/> labelled by
    /// the experts of <paramref name="scenario"/>, and the first <paramref name="testCount"/> items of <paramref name="test"/>.
    /// </summary>
    public static CrowdLearningDataset ExpertDataset(LabelledImages train, LabelledImages test, ExpertScenario scenario, int trainCount, int testCount)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(test);
        int n = Math.Min(trainCount, train.Count), m = Math.Min(testCount, test.Count);
        var truth = train.Labels[..n];
        var ids = Ids("item-", n);
        var crowd = new ExpertSimulator().Generate(truth, train.Classes, scenario, ids);
        return Dataset(crowd.Answers, train.Features[..n], ids, truth, test, m, train.Classes);
    }

    /// <summary>
    /// The deepBP setting: the first <paramref name="trainCount"/> items of <paramref name="train"/> whose class is one of
    /// <paramref name="classes"/> (relabelled 0…), answered by one-coin Beta(2, 1) workers on a (3, 4)-regular graph plus
    /// <paramref name="spammers"/> workers answering every item at random; likewise the test items.
    /// </summary>
    public static CrowdLearningDataset SparseOneCoinDataset(LabelledImages train, LabelledImages test, IReadOnlyList<int> classes,
        int spammers, int trainCount, int testCount, int seed)
    {
        ArgumentNullException.ThrowIfNull(classes);
        var (trainX, trainY) = Select(train, classes, trainCount);
        // A (3, 4)-regular graph needs 3·tasks divisible by 4, i.e. a multiple of 4 tasks.
        int usable = trainY.Length - trainY.Length % 4;
        (trainX, trainY) = (trainX[..usable], trainY[..usable]);
        var (testX, testY) = Select(test, classes, testCount);
        var names = classes.Select(c => train.Classes[c]).ToArray();
        var ids = Ids("item-", trainY.Length);
        var crowd = new ExpertSimulator().SparseOneCoin(trainY, classes.Count, ExpertSimulator.KimOneCoin(classes.Count, spammers, seed), ids);
        var testImages = new LabelledImages(testX, testY, names, test.Rows, test.Columns);
        return Dataset(crowd.Answers, trainX, ids, trainY, testImages, testY.Length, names);
    }

    private static (double[][] X, int[] Y) Select(LabelledImages images, IReadOnlyList<int> classes, int count)
    {
        var x = new List<double[]>();
        var y = new List<int>();
        for (int i = 0; i < images.Count && x.Count < count; i++)
        {
            int c = -1;
            for (int j = 0; j < classes.Count; j++) if (classes[j] == images.Labels[i]) c = j;
            if (c < 0) continue;
            x.Add(images.Features[i]);
            y.Add(c);
        }
        return ([.. x], [.. y]);
    }

    private static string[] Ids(string prefix, int n)
    {
        var ids = new string[n];
        for (int i = 0; i < n; i++) ids[i] = prefix + (i + 1).ToString("D5", System.Globalization.CultureInfo.InvariantCulture);
        return ids;
    }

    /// <summary>Aligns features and truth to the answers' task order (the simulators may order tasks differently).</summary>
    private static CrowdLearningDataset Dataset(LabelMatrix answers, double[][] features, string[] ids, int[] truth,
        LabelledImages test, int testCount, IReadOnlyList<string> classes)
    {
        var table = new FeatureTable(ids, features);
        var aligned = table.Align(answers);
        var gold = new int[answers.TaskCount];
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < ids.Length; i++) index[ids[i]] = i;
        for (int t = 0; t < answers.TaskCount; t++) gold[t] = truth[index[answers.Tasks[t]]];
        return new CrowdLearningDataset(
            new CrowdTrainingSet { Answers = answers, Features = aligned },
            new GoldLabels(gold, answers.ClassCount),
            Ids("test-", testCount), test.Features[..testCount], test.Labels[..testCount], classes);
    }
}
