using Tally.Aggregation;
using Tally.Core;
using Tally.Learning;

namespace Tally.Tests;

public sealed class MusicGenreTests
{
    private static readonly string DataRoot = Path.Combine(TestData.RepoRoot, "data");
    private static readonly string Folder = Path.Combine(DataRoot, MusicGenre.Name);
    private static readonly Lazy<CrowdLearningDataset> Data = new(() => MusicGenre.Load(DataRoot));

    [Fact]
    public void Counts_MatchTheSource()
    {
        var d = Data.Value;
        var m = d.Train.Answers;
        Assert.Equal(700, m.TaskCount);
        Assert.Equal(2945, m.AnswerCount);
        Assert.Equal(44, m.WorkerCount);
        Assert.Equal(10, m.ClassCount);
        Assert.Equal(MusicGenre.Classes, m.Classes.Names);
        Assert.Equal(700, d.Train.Features.Length);
        Assert.All(d.Train.Features, r => Assert.Equal(124, r.Length));
        Assert.Equal(700, d.TrainTruth.KnownCount);
        Assert.Equal(300, d.TestTasks.Count);
        Assert.Equal(300, d.TestFeatures.Length);
        Assert.All(d.TestFeatures, r => Assert.Equal(124, r.Length));
        Assert.Equal(300, d.TestLabels.Length);
        Assert.All(d.TestLabels, l => Assert.InRange(l, 0, 9));
        d.Train.Validate();

        // Answers per song 1..7 with the source README's histogram.
        var histogram = Enumerable.Range(0, m.TaskCount).GroupBy(m.TaskDegree).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(new Dictionary<int, int> { [1] = 58, [2] = 158, [3] = 91, [4] = 18, [5] = 105, [6] = 189, [7] = 81 }, histogram);

        // Training truth per genre, as in the folder's README.
        var perClass = new int[10];
        foreach (int y in d.TrainTruth.Labels) perClass[y]++;
        Assert.Equal([67, 72, 74, 72, 63, 71, 75, 64, 70, 72], perClass);
    }

    [Fact]
    public void MajorityVote_OnTheTrainingSongs_IsAbout071()
    {
        var d = Data.Value;
        // Ties split evenly: the expected accuracy of random tie-breaking, independent of any tie rule.
        var post = new MajorityVote().Aggregate(d.Train.Answers).Posteriors;
        double expected = 0;
        for (int t = 0; t < d.Train.Answers.TaskCount; t++)
        {
            var row = post.Row(t);
            double max = 0;
            foreach (double p in row) max = Math.Max(max, p);
            int top = 0;
            foreach (double p in row) if (p == max) top++;
            if (row[d.TrainTruth[t]] == max) expected += 1.0 / top;
        }
        expected /= d.Train.Answers.TaskCount;
        Assert.InRange(expected, 0.69, 0.72);

        var random = new MajorityVote(new MajorityVoteOptions { Ties = TieBreak.Random, Seed = 1 }).Aggregate(d.Train.Answers);
        Assert.InRange(Accuracy.Of(random.Labels.AsSpan(), d.TrainTruth).Value, 0.65, 0.76);
    }

    [Fact]
    public void Features_AreAlignedWithTheAnswers()
    {
        var d = Data.Value;
        var table = FeatureFiles.ReadCsv(Path.Combine(Folder, "train-features.csv"));
        Assert.Equal(700, table.Count);
        Assert.Equal(Enumerable.Range(0, 124).Select(j => $"f{j}"), table.Columns);
        var tasks = d.Train.Answers.Tasks;
        for (int t = 0; t < tasks.Count; t++)
            Assert.Equal(table.Row(table.IndexOf(tasks[t])).ToArray(), d.Train.Features[t]);
        // The first song of the source (hiphop.00053.mp3) is song-0001: f4 is its MFCC0, -50.612322.
        int first = tasks.IndexOf("song-0001");
        Assert.Equal(-50.612322, d.Train.Features[first][4]);
        Assert.Equal("hiphop", MusicGenre.Classes[d.TrainTruth[first]]);
    }

    [Fact]
    public void Ids_AreOpaqueAndConsistentAcrossFiles()
    {
        var d = Data.Value;
        var train = d.Train.Answers.Tasks.Names;
        Assert.All(train.Concat(d.TestTasks), id => Assert.Matches("^song-[0-9]{4}$", id));
        Assert.Empty(train.Intersect(d.TestTasks));
        Assert.Equal(Enumerable.Range(1, 700).Select(i => $"song-{i:D4}").Order(), train.Order());
        Assert.Equal(Enumerable.Range(701, 300).Select(i => $"song-{i:D4}"), d.TestTasks);
        // The genre never leaks into an id or a header.
        foreach (var file in Directory.GetFiles(Folder, "*.csv"))
        {
            var text = File.ReadAllText(file);
            foreach (var genre in MusicGenre.Classes)
                Assert.DoesNotContain(genre + ".", text);
        }
    }

    [Fact]
    public void TruthCsv_IsTrainTruthUnderTheBundledConvention()
    {
        var d = Data.Value;
        var truth = AnswerFiles.ReadTruth(Path.Combine(Folder, "truth.csv"), d.Train.Answers);
        Assert.Equal(0, truth.UnknownTasks);
        Assert.Equal(d.TrainTruth.Labels.ToArray(), truth.Labels.Labels.ToArray());
    }

    [Fact]
    public void BundledDatasets_ListsItAndFindsItsFiles()
    {
        var previous = Environment.GetEnvironmentVariable("TALLY_DATA");
        try
        {
            Environment.SetEnvironmentVariable("TALLY_DATA", DataRoot);
            var ds = BundledDatasets.Get("music-genre");
            Assert.NotNull(ds.TruthPath);
            Assert.Equal(Path.Combine(Folder, "test-features.csv"), ds.File("test-features.csv"));
            Assert.Equal(Path.Combine(Folder, "train-truth.csv"), BundledDatasetFiles.File("music-genre", "train-truth.csv"));
            var e = Assert.Throws<TallyDataException>(() => ds.File("nope.csv"));
            Assert.StartsWith("bundled dataset 'music-genre' has no file nope.csv (it has: README.md, answers.csv", e.Problem);
            Assert.Equal(700, MusicGenre.Load().Train.Answers.TaskCount);
        }
        finally
        {
            Environment.SetEnvironmentVariable("TALLY_DATA", previous);
        }
    }

    [Fact]
    public void Load_MissingFolder_IsLocated()
    {
        var dir = Path.Combine(Path.GetTempPath(), "tally-no-such-root-" + Guid.NewGuid().ToString("N"));
        var e = Assert.Throws<TallyDataException>(() => MusicGenre.Load(dir));
        Assert.Equal(Path.Combine(dir, "music-genre"), e.Source);
        Assert.Equal("music-genre dataset folder not found", e.Problem);
    }
}
