using System.Collections.Immutable;
using System.Diagnostics;
using Tally.Aggregation;
using Tally.Core;
using Tally.Learning;

namespace Tally.Simulation;

/// <summary>One of the six synthetic-expert settings of Max-MIG §4 (cases 4.1–4.3, expertise H or L).</summary>
/// <param name="Case">The information structure.</param>
/// <param name="Expertise">High (5 heterogeneous seniors) or low (10 weak seniors).</param>
public readonly record struct ExpertSetting(ExpertCase Case, Expertise Expertise)
{
    /// <summary>The six settings in the column order of the paper's Table 3: 4.1(H), 4.2(H), 4.3(H), 4.1(L), 4.2(L), 4.3(L).</summary>
    public static ImmutableArray<ExpertSetting> PaperOrder { get; } =
    [
        new(ExpertCase.IndependentMistakes, Expertise.High), new(ExpertCase.NaiveMajority, Expertise.High), new(ExpertCase.CorrelatedMistakes, Expertise.High),
        new(ExpertCase.IndependentMistakes, Expertise.Low), new(ExpertCase.NaiveMajority, Expertise.Low), new(ExpertCase.CorrelatedMistakes, Expertise.Low),
    ];

    /// <summary>The paper's column heading: <c>4.1(H)</c> … <c>4.3(L)</c>.</summary>
    public string Label => $"4.{(int)Case + 1}({(Expertise == Expertise.High ? 'H' : 'L')})";

    /// <summary>Parses a heading as <see cref="Label"/> writes it, with or without the brackets (<c>4.3(L)</c>, <c>4.3L</c>).</summary>
    /// <exception cref="InvalidOptionException">Not one of the six.</exception>
    public static ExpertSetting Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string compact = text.Trim().Replace("(", "", StringComparison.Ordinal).Replace(")", "", StringComparison.Ordinal).ToUpperInvariant();
        foreach (var s in PaperOrder)
            if (s.Label.Replace("(", "", StringComparison.Ordinal).Replace(")", "", StringComparison.Ordinal) == compact) return s;
        throw new InvalidOptionException("Settings", $"{Quote.Value(text)} is not a setting: use {string.Join(", ", PaperOrder.Select(s => s.Label))}");
    }
}

/// <summary>
/// Options of <see cref="MaxMigReproduction"/>: the protocol of Max-MIG's CIFAR-10 experiments (Cao, Xu, Kong &amp;
/// Wang, "Max-MIG: an information theoretic approach for joint learning from crowds", ICLR 2019, Appendix B.2 and
/// the authors' released scripts), with Tally's dense classifier in place of VGG-16. The defaults are the paper's:
/// Adam at 1e-3 for the classifier h without weight decay and 1e-4 for the aggregator W, batches of 64 with the
/// partial last batch dropped, 50 epochs, p fixed to uniform.
/// </summary>
public sealed record MaxMigReproductionOptions
{
    /// <summary>The methods the reproduction knows.</summary>
    public static ImmutableArray<string> KnownMethods { get; } = ["maxmig", "em", "mv", "crowdlayer", "conal"];

    /// <summary>Methods to train (of <see cref="KnownMethods"/>; <c>em</c> is AggNet). Default all five.</summary>
    public ImmutableArray<string> Methods { get; init; } = KnownMethods;

    /// <summary>Settings (columns). Default the paper's six, in its order.</summary>
    public ImmutableArray<ExpertSetting> Settings { get; init; } = ExpertSetting.PaperOrder;

    /// <summary>Training runs per method and setting (seeds 0, 1, …; the crowd stays the same). Default 3.</summary>
    public int Runs { get; init; } = 3;

    /// <summary>Epochs (for <c>em</c>: per EM round). Default 50, the paper's.</summary>
    public int Epochs { get; init; } = 50;

    /// <summary>Mini-batch size. Default 64, the paper's on CIFAR-10.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Adam step of the classifier h (every method's). Default 1e-3, the paper's on CIFAR-10.</summary>
    public double ClassifierLearningRate { get; init; } = 1e-3;

    /// <summary>Adam step of Max-MIG's aggregator weights W. Default 1e-4, the paper's.</summary>
    public double AggregatorLearningRate { get; init; } = 1e-4;

    /// <summary>Hidden layers of the classifier (Tally's stand-in for the paper's VGG-16). Default one layer of 128 ReLU units.</summary>
    public ImmutableArray<int> Hidden { get; init; } = [128];

    /// <summary>
    /// EM (AggNet) rounds, each training a fresh classifier for <see cref="Epochs"/> epochs on the current posteriors.
    /// Default 2: the majority-vote start, then one E-step with the classifier as the task prior — the cost of two
    /// runs of the other methods, where EM's own default of 20 would cost twenty.
    /// </summary>
    public int EmRounds { get; init; } = 2;

    /// <summary>Seed of the crowd: the training crowd is drawn once from it and reused by every run; the test crowd (for the forecasters) from seed + 1.</summary>
    public int CrowdSeed { get; init; }

    /// <summary>Checks the options; throws <see cref="InvalidOptionException"/> naming the first bad one.</summary>
    public void Validate()
    {
        if (Methods.IsDefaultOrEmpty) throw new InvalidOptionException(nameof(Methods), "must name at least one method");
        foreach (var m in Methods)
            if (!KnownMethods.Contains(m))
                throw new InvalidOptionException(nameof(Methods), $"has {Quote.Value(m)}, which the reproduction does not run (it runs {string.Join(", ", KnownMethods)})");
        if (Settings.IsDefaultOrEmpty) throw new InvalidOptionException(nameof(Settings), "must name at least one setting");
        Check.AtLeast(Runs, 1, nameof(Runs));
        Check.AtLeast(Epochs, 1, nameof(Epochs));
        Check.AtLeast(BatchSize, 2, nameof(BatchSize));
        Check.Above(ClassifierLearningRate, 0, nameof(ClassifierLearningRate));
        Check.Above(AggregatorLearningRate, 0, nameof(AggregatorLearningRate));
        if (Hidden.IsDefault) throw new InvalidOptionException(nameof(Hidden), "must be set (use [] for softmax regression)");
        foreach (int h in Hidden) Check.AtLeast(h, 1, nameof(Hidden));
        Check.AtLeast(EmRounds, 1, nameof(EmRounds));
    }
}

/// <summary>One training run of the reproduction.</summary>
/// <param name="Setting">The column.</param>
/// <param name="Method">The method.</param>
/// <param name="Run">The run (its training seed).</param>
/// <param name="LastEpoch">Test accuracy of the classifier h after the last epoch (the honest figure).</param>
/// <param name="BestEpoch">The highest test accuracy of h after any epoch (EM: any round) — optimistic, as the paper reports; equal to the last for <c>mv</c>, whose epochs are not observed.</param>
/// <param name="BestEpochIndex">The epoch (EM: round) of <see cref="BestEpoch"/>.</param>
/// <param name="Forecaster">Test accuracy of the data-crowds forecaster after the last epoch, on the test items' own simulated crowd (Max-MIG: ζ ∝ h·exp(Σ W); EM: h times the Dawid-Skene likelihood); null for the other methods.</param>
/// <param name="Seconds">Training time of the run (wall clock).</param>
public sealed record MaxMigReproductionRun(ExpertSetting Setting, string Method, int Run, double LastEpoch, double BestEpoch, int BestEpochIndex,
    double? Forecaster, double Seconds);

/// <summary>
/// The like-for-like reproduction of Max-MIG's synthetic-expert experiments (paper 001 §4, Table 3 and Figure 4): every
/// method of <see cref="MaxMigReproductionOptions.Methods"/> on each setting, several runs with one crowd, scored on the
/// test images by the classifier (last and best epoch) and, for Max-MIG and EM/AggNet, by the data-crowds forecaster
/// on a crowd simulated for the test images.
/// </summary>
public static class MaxMigReproduction
{
    /// <summary>Runs the experiment on the given images (Fashion-MNIST in the lab); runs go in parallel, each on one thread.</summary>
    /// <param name="train">Training images (their crowd is simulated).</param>
    /// <param name="test">Test images (scored, and given their own crowd for the forecasters).</param>
    /// <param name="options">The experiment.</param>
    /// <param name="compute">Threads: runs go in parallel; the results do not depend on it.</param>
    /// <param name="progress">Fraction of the runs done.</param>
    /// <param name="cancellationToken">Stops between epochs.</param>
    /// <param name="earlier">
    /// Runs already done with the same options and images (setting, method, run → its result), taken as they are
    /// instead of being trained again — each run depends only on its seed and the crowd, so a resumed experiment
    /// gives the same table as an uninterrupted one. Null: train every run.
    /// </param>
    /// <param name="finished">Called with each run as soon as it is trained (from the run's thread), e.g. to journal it.</param>
    public static ImmutableArray<MaxMigReproductionRun> Run(LabelledImages train, LabelledImages test, MaxMigReproductionOptions? options = null,
        ComputeOptions? compute = null, IProgress<double>? progress = null, CancellationToken cancellationToken = default,
        IReadOnlyDictionary<(ExpertSetting Setting, string Method, int Run), MaxMigReproductionRun>? earlier = null,
        Action<MaxMigReproductionRun>? finished = null)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(test);
        options ??= new MaxMigReproductionOptions();
        options.Validate();
        compute ??= ComputeOptions.Default;
        compute.Validate();
        var settings = options.Settings;
        var crowds = new Crowds[settings.Length];
        Parallelism.ForEach(settings.Length, compute, s => crowds[s] = Crowds.Draw(train, test, settings[s], options.CrowdSeed), cancellationToken);

        int methods = options.Methods.Length, runs = options.Runs, total = settings.Length * methods * runs;
        var results = new MaxMigReproductionRun[total];
        var todo = new List<int>(total);
        for (int i = 0; i < total; i++)
        {
            int s = i / (methods * runs), m = i / runs % methods, r = i % runs;
            if (earlier is not null && earlier.TryGetValue((settings[s], options.Methods[m], r), out var before)) results[i] = before;
            else todo.Add(i);
        }
        int done = total - todo.Count;
        if (done > 0) progress?.Report((double)done / total);
        // Largest jobs first would balance better, but a fixed order keeps the output order and the progress simple;
        // every run depends only on its own seed, so the results do not depend on the thread count.
        Parallelism.ForEach(todo.Count, compute, j =>
        {
            int i = todo[j];
            int s = i / (methods * runs), m = i / runs % methods, r = i % runs;
            results[i] = RunOne(crowds[s], settings[s], options.Methods[m], r, options, cancellationToken);
            finished?.Invoke(results[i]);
            progress?.Report((double)Interlocked.Increment(ref done) / total);
        }, cancellationToken);
        return [.. results];
    }

    private static MaxMigReproductionRun RunOne(Crowds data, ExpertSetting setting, string method, int run, MaxMigReproductionOptions o, CancellationToken ct)
    {
        var network = new DenseNetworkOptions
        {
            Hidden = o.Hidden,
            LearningRate = o.ClassifierLearningRate,
            WeightDecay = 0,
            Epochs = o.Epochs,
            BatchSize = o.BatchSize,
            DropPartialBatch = true,
            ValidationFraction = 0, // the paper trains on every item and picks no epoch by a hold-out
            Seed = run,
        };
        var epochs = new EpochScores(data.TestFeatures, data.TestLabels);
        var clock = Stopwatch.StartNew();
        CrowdLearningResult result;
        double? forecaster = null;
        switch (method)
        {
            case "maxmig":
            {
                var trained = new MaxMig(new MaxMigOptions
                {
                    Network = network, Epochs = o.Epochs, BatchSize = o.BatchSize, DropPartialBatch = true,
                    LearningRate = o.AggregatorLearningRate, Seed = run,
                }).Train(data.Train, ComputeOptions.Sequential, epochs, ct);
                result = trained.Learning;
                forecaster = LearningEvaluation.Accuracy(trained.Model.Forecast(data.TestFeatures, data.TestAnswers), data.TestLabels);
                break;
            }
            case "em":
                result = new EmLearner(new EmLearnerOptions { Network = network, Rounds = o.EmRounds, Tolerance = 0, Seed = run })
                    .Learn(data.Train, ComputeOptions.Sequential, epochs, ct);
                forecaster = LearningEvaluation.Accuracy(ConfusionForecast(result, data), data.TestLabels);
                break;
            case "mv":
                result = new TwoStageLearner(new TwoStageLearnerOptions { Aggregation = TwoStageAggregation.MajorityVote, Network = network, Seed = run })
                    .Learn(data.Train, ComputeOptions.Sequential, null, ct);
                break;
            case "crowdlayer":
                result = new CrowdLayer(new CrowdLayerOptions { Network = network, Epochs = o.Epochs, BatchSize = o.BatchSize, DropPartialBatch = true, Seed = run })
                    .Learn(data.Train, ComputeOptions.Sequential, epochs, ct);
                break;
            case "conal":
                result = new CoNal(new CoNalOptions { Network = network, Epochs = o.Epochs, BatchSize = o.BatchSize, DropPartialBatch = true, Seed = run })
                    .Learn(data.Train, ComputeOptions.Sequential, epochs, ct);
                break;
            default:
                throw new InvalidOptionException(nameof(MaxMigReproductionOptions.Methods), $"has {Quote.Value(method)}");
        }
        double seconds = clock.Elapsed.TotalSeconds;
        double last = LearningEvaluation.Accuracy(result.Classifier.PredictProbabilities(data.TestFeatures), data.TestLabels);
        var (best, bestIndex) = epochs.Best(last);
        return new MaxMigReproductionRun(setting, method, run, last, best, bestIndex, forecaster, seconds);
    }

    /// <summary>
    /// EM's (AggNet's) data-crowds forecaster on the test crowd: P(z | x, y) ∝ h(x)_z Π_m π_m[z, y_m], in log space,
    /// with the confusions the method learnt (test workers matched to the training workers by name).
    /// </summary>
    private static double[][] ConfusionForecast(CrowdLearningResult result, Crowds data)
    {
        var confusions = result.Confusions ?? throw new InvalidOperationException("EM returned no confusion matrices.");
        var h = result.Classifier.PredictProbabilities(data.TestFeatures);
        var answers = data.TestAnswers;
        int k = answers.ClassCount;
        var workerMap = new int[answers.WorkerCount];
        for (int w = 0; w < workerMap.Length; w++) workerMap[w] = data.Train.Answers.Workers.IndexOf(answers.Workers[w]);
        var z = new double[k];
        var forecast = new double[answers.TaskCount][];
        for (int t = 0; t < forecast.Length; t++)
        {
            for (int c = 0; c < k; c++) z[c] = Math.Log(Math.Max(h[t][c], 1e-300));
            var workers = answers.WorkersOf(t);
            var labels = answers.LabelsOf(t);
            for (int a = 0; a < workers.Length; a++)
            {
                int m = workerMap[workers[a]];
                if (m < 0) continue; // a worker EM never saw says nothing it can weigh
                for (int c = 0; c < k; c++) z[c] += Math.Log(Math.Max(confusions[m, c, labels[a]], 1e-300));
            }
            double lse = JointTraining.LogSumExp(z);
            var row = new double[k];
            for (int c = 0; c < k; c++) row[c] = Math.Exp(z[c] - lse);
            forecast[t] = row;
        }
        return forecast;
    }

    /// <summary>Test accuracy of the classifier after every reported epoch (reports arrive synchronously, on the training thread).</summary>
    private sealed class EpochScores(double[][] features, int[] labels) : IProgress<EpochReport>
    {
        private double _best = double.NegativeInfinity;
        private int _bestEpoch;

        public void Report(EpochReport value)
        {
            double accuracy = LearningEvaluation.Accuracy(value.Model.PredictProbabilities(features), labels);
            if (accuracy > _best) (_best, _bestEpoch) = (accuracy, value.Epoch);
        }

        /// <summary>The best epoch's accuracy, or <paramref name="last"/> at epoch 0 when no epoch was reported.</summary>
        public (double Accuracy, int Epoch) Best(double last) => _bestEpoch == 0 ? (last, 0) : (_best, _bestEpoch);
    }

    /// <summary>One setting's data: the training crowd (drawn once), the test images and their own crowd.</summary>
    private sealed record Crowds(CrowdTrainingSet Train, double[][] TestFeatures, int[] TestLabels, LabelMatrix TestAnswers)
    {
        public static Crowds Draw(LabelledImages train, LabelledImages test, ExpertSetting setting, int seed)
        {
            var scenario = new ExpertScenario { Case = setting.Case, Expertise = setting.Expertise, Seed = seed };
            var dataset = LearningLab.ExpertDataset(train, test, scenario, train.Count, test.Count);
            // The test crowd: the same experts on the test images, an independent draw; features and labels follow its task order.
            var testIds = dataset.TestTasks;
            var crowd = new ExpertSimulator().Generate(test.Labels, train.Classes, scenario with { Seed = seed + 1 }, testIds);
            var index = new Dictionary<string, int>(StringComparer.Ordinal);
            for (int i = 0; i < testIds.Count; i++) index[testIds[i]] = i;
            var features = new double[crowd.Answers.TaskCount][];
            var labels = new int[crowd.Answers.TaskCount];
            for (int t = 0; t < features.Length; t++)
            {
                int i = index[crowd.Answers.Tasks[t]];
                features[t] = test.Features[i];
                labels[t] = test.Labels[i];
            }
            return new Crowds(dataset.Train, features, labels, crowd.Answers);
        }
    }
}
