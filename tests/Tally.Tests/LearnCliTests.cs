using Tally.Catalogs;
using System.Globalization;
using Tally.Learning;
using Xunit;

namespace Tally.Tests;

/// <summary><c>tally learn</c> and <c>tally predict</c> end to end on the bundled music-genre data and on small files.</summary>
public sealed class LearnCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-learn-").FullName;

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    [Fact]
    public void Learn_on_music_genre_with_maxmig_writes_model_predictions_log_and_plot_and_predict_reproduces_the_predictions()
    {
        var (code, stdout, err) = CliTests.Run("learn", "--dataset", "music-genre", "--method", "maxmig", "--model", "linear", "--epochs", "20", "--out", _dir);
        Assert.True(code == 0, err);
        foreach (var f in new[] { "model.tlm", "predictions.csv", "train-posteriors.csv", "epochs.csv", "learning-curve.png" })
            Assert.True(File.Exists(Path.Combine(_dir, f)), f);
        Assert.Contains("test accuracy", stdout);
        var predictions = File.ReadAllLines(Path.Combine(_dir, "predictions.csv"));
        var header = predictions[0].Split(',');
        Assert.Equal(["task", "label"], header[..2]);
        Assert.Equal(MusicGenre.Classes.Select(c => "p_" + c).Order(), header[2..].Order());
        Assert.Equal(301, predictions.Length);
        // Probabilities of each row sum to 1 and are numbers.
        foreach (var line in predictions.Skip(1))
        {
            double sum = line.Split(',').Skip(2).Sum(v => double.Parse(v, CultureInfo.InvariantCulture));
            Assert.InRange(sum, 1 - 1e-6, 1 + 1e-6);
        }
        Assert.Equal(21, File.ReadAllLines(Path.Combine(_dir, "epochs.csv")).Length);

        string again = Path.Combine(_dir, "again.csv");
        var test = Path.Combine(TestData.RepoRoot, "data", "music-genre", "test-features.csv");
        (code, _, err) = CliTests.Run("predict", Path.Combine(_dir, "model.tlm"), test, "--out", again);
        Assert.True(code == 0, err);
        Assert.Equal(predictions, File.ReadAllLines(again));
    }

    [Fact]
    public void Learn_is_deterministic_under_a_seed()
    {
        string a = Path.Combine(_dir, "a"), b = Path.Combine(_dir, "b");
        Assert.Equal(0, CliTests.Run("learn", "--dataset", "music-genre", "--method", "maxmig", "--model", "linear", "--epochs", "3", "--seed", "4", "--out", a).Code);
        Assert.Equal(0, CliTests.Run("learn", "--dataset", "music-genre", "--method", "maxmig", "--model", "linear", "--epochs", "3", "--seed", "4", "--out", b).Code);
        Assert.Equal(File.ReadAllText(Path.Combine(a, "predictions.csv")), File.ReadAllText(Path.Combine(b, "predictions.csv")));
    }

    [Fact]
    public void Missing_feature_rows_and_bad_options_fail_clearly()
    {
        string answers = Path.Combine(_dir, "answers.csv"), features = Path.Combine(_dir, "features.csv");
        File.WriteAllText(answers, "task,worker,label\nt1,w1,a\nt2,w1,b\nt3,w2,a\n");
        File.WriteAllText(features, "task,x,y\nt1,0,1\nt2,1,0\n");
        var (code, _, err) = CliTests.Run("learn", "--answers", answers, "--features", features, "--method", "mv");
        Assert.Equal(2, code);
        Assert.Contains("t3", err);
        Assert.DoesNotContain("   at ", err);

        File.WriteAllText(features, "task,x,y\nt1,0,1\nt2,1,oops\nt3,1,1\n");
        (code, _, err) = CliTests.Run("learn", "--answers", answers, "--features", features, "--method", "mv");
        Assert.Equal(2, code);
        Assert.Contains("features.csv:3", err);

        (code, _, err) = CliTests.Run("learn", "--answers", answers, "--features", features, "--method", "nope");
        Assert.Equal(2, code);
        Assert.Contains("unknown method", err);
        (code, _, err) = CliTests.Run("learn", "--answers", answers, "--features", features, "--model", "mlp:x");
        Assert.Equal(2, code);
        Assert.Contains("--model", err);

        (code, _, err) = CliTests.Run("predict", Path.Combine(_dir, "missing.tlm"), features);
        Assert.Equal(2, code);
        Assert.Contains("missing.tlm: file not found", err);

        string junk = Path.Combine(_dir, "junk.tlm");
        File.WriteAllText(junk, "not a model");
        (code, _, err) = CliTests.Run("predict", junk, features);
        Assert.Equal(2, code);
        Assert.Contains("not a Tally model", err);
    }

    [Fact]
    public void Sparse_ldac_features_train_and_predict_with_task_ids_and_located_errors()
    {
        string answers = Path.Combine(_dir, "a.csv"), features = Path.Combine(_dir, "f.ldac"), ids = Path.Combine(_dir, "ids.txt");
        File.WriteAllText(answers, "task,worker,label\ns0,w1,a\ns1,w1,b\ns2,w2,a\ns3,w2,b\ns0,w3,a\ns1,w3,b\n");
        File.WriteAllText(features, "2 0:1 1:0.5\n1 1:2\n2 0:1 2:1\n1 2:3\n");
        File.WriteAllText(ids, "s0\ns1\ns2\ns3\n");
        var (code, _, err) = CliTests.Run("learn", "--answers", answers, "--features", features, "--feature-ids", ids, "--method", "mv", "--out", _dir);
        Assert.True(code == 0, err);
        string bad = Path.Combine(_dir, "bad.ldac");
        File.WriteAllText(bad, "2 0:1 1:0.5\n1 7:2\n");
        (code, _, err) = CliTests.Run("predict", Path.Combine(_dir, "model.tlm"), bad);
        Assert.Equal(2, code);
        Assert.Contains("bad.ldac:2", err);
        string ok = Path.Combine(_dir, "ok.ldac");
        File.WriteAllText(ok, "2 0:1 1:0.5\n1 2:2\n");
        string outPath = Path.Combine(_dir, "p.csv");
        (code, _, err) = CliTests.Run("predict", Path.Combine(_dir, "model.tlm"), ok, "--out", outPath);
        Assert.True(code == 0, err);
        Assert.Equal(3, File.ReadAllLines(outPath).Length);
    }

    [Fact]
    public void Every_catalogued_learner_builds_from_settings_and_honours_the_seed()
    {
        foreach (var info in CrowdLearnerCatalog.All)
        {
            var learner = info.Create(new LearnerSettings { Seed = 3, Hidden = [], Epochs = 2 });
            Assert.Equal(info.Name, learner.Name);
            _ = ModelSpec.HiddenLayers(info.DefaultModel); // the documented default must parse
        }
        Assert.Equal([128, 64], ModelSpec.HiddenLayers("mlp:128,64").ToArray());
        Assert.Empty(ModelSpec.HiddenLayers("linear"));
        Assert.Throws<ArgumentException>(() => ModelSpec.HiddenLayers("cnn"));
    }
}
