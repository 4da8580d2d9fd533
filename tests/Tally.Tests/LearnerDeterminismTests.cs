using Tally.Core;
using System.Globalization;
using System.Text;
using Tally.Application;
using Tally.Catalogs;
using Tally.Learning;
using Tally.Simulation;

namespace Tally.Tests;

/// <summary>
/// A learner's outputs depend on the data and the seed only: not on the order of the rows of the answers and feature
/// files, and not on how many threads run — checked on the bytes of the files the learn job writes (model.tlm,
/// predictions.csv, train-posteriors.csv, epochs.csv), for every learner of <see cref="CrowdLearnerCatalog"/>.
/// </summary>
public sealed class LearnerDeterminismTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-learn-determinism-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    public static IEnumerable<object[]> Learners => CrowdLearnerCatalog.All.Select(m => new object[] { m.Name });

    /// <summary>The learners fast enough for the quick subset: all but deepBP, whose Monte-Carlo messages (400 draws per answer, ten rounds) take seconds even on 150 tasks.</summary>
    public static IEnumerable<object[]> FastLearners => Learners.Where(m => (string)m[0] != "deepbp");

    /// <summary>Softmax regression (what varies between methods is what they do with the crowd), a few epochs.</summary>
    private static LearnerSettings Settings(int epochs) => new() { Hidden = [], Epochs = epochs, Seed = 3 };

    /// <summary>Class names whose sorted order (ant, moth, zebra) is not the order the generator numbers them in.</summary>
    private static readonly string[] ClassNames = ["zebra", "ant", "moth"];

    private sealed record Files(string Answers, string Features, string TestFeatures, string TestTruth);

    /// <summary>
    /// Writes the blobs problem as CSV files with string task, worker and class names (so the canonical order is
    /// neither numeric nor the order of generation), rows in generation order or shuffled.
    /// </summary>
    private Files Write(string name, int tasks, bool shuffle)
    {
        var toy = LearnerTestData.Blobs(tasks: tasks, seed: 11);
        var m = toy.Data.Answers;
        // A fixed bijection t → id, so that sorted ids are in neither generation nor reverse order.
        string Task(int t) => "item-" + ((t * 7919L + 17) % 1_000_003).ToString("D7", CultureInfo.InvariantCulture);
        string Worker(int w) => "annotator-" + (char)('a' + (w * 7) % 26) + w.ToString(CultureInfo.InvariantCulture);
        var rng = new Random(shuffle ? 5 : 0);
        IEnumerable<string> Order(IEnumerable<string> rows) => shuffle ? rows.OrderBy(_ => rng.Next()).ToArray() : rows;

        var answers = new List<string>();
        for (int t = 0; t < m.TaskCount; t++)
        {
            var ws = m.WorkersOf(t);
            var ls = m.LabelsOf(t);
            for (int i = 0; i < ws.Length; i++) answers.Add($"{Task(t)},{Worker(ws[i])},{ClassNames[ls[i]]}");
        }
        string Row(string id, double[] x) => id + "," + string.Join(",", x.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
        var features = Enumerable.Range(0, m.TaskCount).Select(t => Row(Task(t), toy.Data.Features[t]));
        const int testCount = 60;
        string TestTask(int i) => "new-" + ((i * 37) % 101).ToString(CultureInfo.InvariantCulture);
        var testFeatures = Enumerable.Range(0, testCount).Select(i => Row(TestTask(i), toy.TestX[i]));
        var testTruth = Enumerable.Range(0, testCount).Select(i => $"{TestTask(i)},{ClassNames[toy.TestY[i]]}");

        string dir = Path.Combine(_dir, name);
        Directory.CreateDirectory(dir);
        string F(string file, string header, IEnumerable<string> rows)
        {
            string path = Path.Combine(dir, file);
            File.WriteAllLines(path, [header, .. Order(rows)], new UTF8Encoding(false));
            return path;
        }
        string featureHeader = "task," + string.Join(",", Enumerable.Range(0, toy.Data.Features[0].Length).Select(j => "x" + j));
        return new Files(
            F("answers.csv", "task,worker,label", answers),
            F("features.csv", featureHeader, features),
            F("test-features.csv", featureHeader, testFeatures),
            F("test-truth.csv", "task,truth", testTruth));
    }

    private (LearnOutcome Outcome, SortedDictionary<string, byte[]> Files) Learn(string method, Files files, string name, int epochs,
        ComputeOptions? compute = null)
    {
        string outDir = Path.Combine(_dir, name + "-out");
        var outcome = LearnJob.Run(new LearnRequest
        {
            AnswersPath = files.Answers,
            FeaturesPath = files.Features,
            TestFeaturesPath = files.TestFeatures,
            TestTruthPath = files.TestTruth,
            Method = method,
            Settings = Settings(epochs),
            OutputDirectory = outDir,
        }, compute);
        var written = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var f in Directory.GetFiles(outDir)) written[Path.GetFileName(f)] = File.ReadAllBytes(f);
        return (outcome, written);
    }

    private static void AssertSameFiles(SortedDictionary<string, byte[]> a, SortedDictionary<string, byte[]> b, string what)
    {
        Assert.Equal([TableFile.FileName(LearnJob.EpochsTable, OutputFormat.Csv), LearnJob.ModelFile, TableFile.FileName(LearnJob.PredictionsTable, OutputFormat.Csv), TableFile.FileName(LearnJob.PosteriorsTable, OutputFormat.Csv)], a.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(a.Keys, b.Keys);
        foreach (var (name, bytes) in a)
            Assert.True(bytes.AsSpan().SequenceEqual(b[name]), $"{what}: {name} differs");
    }

    [Theory]
    [MemberData(nameof(FastLearners))]
    public void Shuffling_the_rows_of_the_answers_and_features_files_gives_identical_output_files(string method) => AssertShuffleInvariant(method);

    [Fact]
    [Trait("Category", "Slow")]
    public void Shuffling_the_rows_gives_identical_output_files_for_deepbp() => AssertShuffleInvariant("deepbp");

    private void AssertShuffleInvariant(string method)
    {
        var inOrder = Write("in-order", 150, shuffle: false);
        var shuffled = Write("shuffled", 150, shuffle: true);
        Assert.NotEqual(File.ReadLines(inOrder.Answers).Skip(1).First(), File.ReadLines(shuffled.Answers).Skip(1).First());
        Assert.NotEqual(File.ReadLines(inOrder.Features).Skip(1).First(), File.ReadLines(shuffled.Features).Skip(1).First());

        // 150 tasks are three batches an epoch: 30 epochs let softmax regression fit them.
        var (a, filesA) = Learn(method, inOrder, "a", 30);
        var (_, filesB) = Learn(method, shuffled, "b", 30);
        AssertSameFiles(filesA, filesB, method);
        // Canonical orders: classes sorted, tasks sorted (the matrix's and the predictions').
        Assert.Equal(["ant", "moth", "zebra"], a.Answers.Classes.Names);
        Assert.Equal(a.Answers.Tasks.Names.Order(StringComparer.Ordinal), a.Answers.Tasks.Names);
        var predicted = File.ReadLines(Path.Combine(_dir, "a-out", TableFile.FileName(LearnJob.PredictionsTable, OutputFormat.Csv))).Skip(1).Select(l => l.Split(',')[0]).ToArray();
        Assert.Equal(predicted.Order(StringComparer.Ordinal), predicted);
        // The runs learnt something, so the comparison is not between two trivial outputs.
        Assert.True(a.TestAccuracy > 0.8, $"{method}: test accuracy {a.TestAccuracy}");
    }

    /// <summary>
    /// Large enough for the inner inference to split its loops (mean field, Dawid-Skene and EM counts: answers × K
    /// above <see cref="Parallelism.MinParallelWork"/>; belief propagation's factor sweeps at answers × 400 draws, so
    /// on far fewer tasks). Max-MIG, Crowd Layer and CoNAL are single-threaded; they are checked at a small size.
    /// </summary>
    private static int ParallelSize(string method) => method switch
    {
        "deepbp" => 600,
        "maxmig" or "crowdlayer" or "conal" => 300,
        _ => 25_000,
    };

    [Theory]
    [Trait("Category", "Slow")]
    [MemberData(nameof(Learners))]
    public void One_thread_and_four_threads_give_bit_identical_output_files(string method)
    {
        int tasks = ParallelSize(method);
        if (tasks >= 25_000) Assert.True(tasks * 3L * ClassNames.Length >= Parallelism.MinParallelWork);
        var files = Write("data", tasks, shuffle: true);
        var (one, filesOne) = Learn(method, files, "one", 4, new ComputeOptions { MaxDegreeOfParallelism = 1 });
        var (four, filesFour) = Learn(method, files, "four", 4, new ComputeOptions { MaxDegreeOfParallelism = 4 });
        Assert.Equal(one.Result.Losses.ToArray(), four.Result.Losses.ToArray());
        AssertSameFiles(filesOne, filesFour, method);
    }

    [Theory]
    [MemberData(nameof(Learners))]
    public void Every_learner_stops_when_cancelled(string method)
    {
        var toy = LearnerTestData.Blobs(tasks: 60);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var learner = CrowdLearnerCatalog.Get(method).Create(Settings(4));
        Assert.ThrowsAny<OperationCanceledException>(() => learner.Learn(toy.Data, null, null, cts.Token));
    }

    [Fact]
    public void A_bad_output_folder_or_bad_settings_fail_before_anything_is_read_or_trained()
    {
        var files = Write("data", 60, shuffle: false);
        string blocker = Path.Combine(_dir, "a-file");
        File.WriteAllText(blocker, "");
        var phases = new List<string>();
        var progress = new SyncProgress<JobProgress>(p => phases.Add(p.Phase));
        var request = new LearnRequest
        {
            AnswersPath = files.Answers, FeaturesPath = files.Features, Method = "maxmig",
            Settings = new LearnerSettings { Epochs = 100_000 }, OutputDirectory = Path.Combine(blocker, "out"),
        };
        var e = Assert.Throws<TallyUserException>(() => LearnJob.Run(request, null, progress));
        Assert.Contains("is a file, not a folder", e.Message);
        Assert.Empty(phases);

        var bad = request with { OutputDirectory = Path.Combine(_dir, "fine"), Settings = new LearnerSettings { Epochs = 0 } };
        Assert.Equal("Epochs", Assert.Throws<InvalidOptionException>(() => LearnJob.Run(bad, null, progress)).Option);
        Assert.Contains("unknown method 'nope'", Assert.Throws<TallyUserException>(() => LearnJob.Run(bad with { Method = "nope" })).Message);
        Assert.Empty(phases);
        Assert.False(Directory.Exists(Path.Combine(_dir, "fine")));
    }

    [Fact]
    public void Predict_gives_the_same_file_for_shuffled_features_and_reproduces_the_learn_predictions()
    {
        var inOrder = Write("in-order", 90, shuffle: false);
        var shuffled = Write("shuffled", 90, shuffle: true);
        Learn("mv", inOrder, "model", 10);
        string model = Path.Combine(_dir, "model-out", LearnJob.ModelFile);
        var a = PredictJob.Run(new PredictRequest { ModelPath = model, FeaturesPath = inOrder.TestFeatures, OutputDirectory = Path.Combine(_dir, "p-a") });
        var b = PredictJob.Run(new PredictRequest { ModelPath = model, FeaturesPath = shuffled.TestFeatures, OutputDirectory = Path.Combine(_dir, "p-b") });
        Assert.Equal(File.ReadAllBytes(a.Written!), File.ReadAllBytes(b.Written!));
        Assert.Equal(File.ReadAllBytes(Path.Combine(_dir, "model-out", TableFile.FileName(LearnJob.PredictionsTable, OutputFormat.Csv))), File.ReadAllBytes(a.Written!));

        // Columns in another order are refused rather than silently mixed up.
        var lines = File.ReadAllLines(inOrder.TestFeatures);
        var header = lines[0].Split(',');
        (header[1], header[2]) = (header[2], header[1]);
        string swapped = Path.Combine(_dir, "swapped.csv");
        File.WriteAllLines(swapped, [string.Join(",", header), .. lines.Skip(1)]);
        var e = Assert.Throws<TallyDataException>(() => PredictJob.Run(new PredictRequest { ModelPath = model, FeaturesPath = swapped }));
        Assert.Contains("trained with 'x0'", e.Message);
    }

    [Fact]
    public void The_learning_lab_gives_the_same_accuracies_on_one_thread_and_on_four()
    {
        CrowdLearningDataset Data(int seed)
        {
            var toy = LearnerTestData.Blobs(tasks: 120, seed: 20 + seed);
            return new CrowdLearningDataset(toy.Data, new GoldLabels(toy.Truth, 3), Enumerable.Range(0, 200).Select(i => "t" + i).ToArray(),
                toy.TestX[..200], toy.TestY[..200], toy.Data.Answers.Classes.Names);
        }
        var options = new LearningLabOptions { Methods = ["mv", "deepmf", "maxmig"], Seeds = 3, Settings = new LearnerSettings { Hidden = [], Epochs = 20 } };
        var one = LearningLab.Run(Data, options, ComputeOptions.Sequential);
        var four = LearningLab.Run(Data, options, new ComputeOptions { MaxDegreeOfParallelism = 4 });
        Assert.Equal(one.Select(c => c.Method), four.Select(c => c.Method));
        for (int i = 0; i < one.Length; i++)
        {
            Assert.Equal(one[i].TestAccuracy.ToArray(), four[i].TestAccuracy.ToArray());
            Assert.Equal(one[i].TrainAccuracy.ToArray(), four[i].TrainAccuracy.ToArray());
            Assert.True(one[i].TestMean > 0.6, $"{one[i].Method}: {one[i].TestMean}");
        }
        Assert.Equal("Seeds", Assert.Throws<InvalidOptionException>(() => LearningLab.Run(Data, options with { Seeds = 0 })).Option);
        Assert.Equal("Methods", Assert.Throws<InvalidOptionException>(() => LearningLab.Run(Data, options with { Methods = ["nope"] })).Option);
    }
}
