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
        var (code, stdout, err) = CliTests.Run("learn", "--dataset", "music-genre", "--method", "maxmig", "--classifier", "linear", "--epochs", "20", "--out", _dir);
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

        string again = Path.Combine(_dir, "again");
        var test = Path.Combine(TestData.RepoRoot, "data", "music-genre", "test-features.csv");
        (code, _, err) = CliTests.Run("predict", Path.Combine(_dir, "model.tlm"), test, "--out", again);
        Assert.True(code == 0, err);
        Assert.Equal(predictions, File.ReadAllLines(Path.Combine(again, "predictions.csv")));
        // The same predictions as JSON, one object per task with the same numbers.
        (code, var json, err) = CliTests.Run("predict", Path.Combine(_dir, "model.tlm"), test, "--format", "json");
        Assert.True(code == 0, err);
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        Assert.Equal(300, doc.RootElement.GetArrayLength());
        var first = predictions[1].Split(',');
        Assert.Equal(first[0], doc.RootElement[0].GetProperty("task").GetString());
        Assert.Equal(first[1], doc.RootElement[0].GetProperty("label").GetString());
        Assert.Equal(double.Parse(first[2], CultureInfo.InvariantCulture), doc.RootElement[0].GetProperty(header[2]).GetDouble());
    }

    [Fact]
    public void Learn_is_deterministic_under_a_seed()
    {
        string a = Path.Combine(_dir, "a"), b = Path.Combine(_dir, "b");
        Assert.Equal(0, CliTests.Run("learn", "--dataset", "music-genre", "--method", "maxmig", "--classifier", "linear", "--epochs", "3", "--seed", "4", "--out", a).Code);
        Assert.Equal(0, CliTests.Run("learn", "--dataset", "music-genre", "--method", "maxmig", "--classifier", "linear", "--epochs", "3", "--seed", "4", "--out", b).Code);
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
        (code, _, err) = CliTests.Run("learn", "--answers", answers, "--features", features, "--classifier", "mlp:x");
        Assert.Equal(2, code);
        Assert.Contains("--classifier", err);

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
        string outDir = Path.Combine(_dir, "p");
        (code, _, err) = CliTests.Run("predict", Path.Combine(_dir, "model.tlm"), ok, "--out", outDir);
        Assert.True(code == 0, err);
        Assert.Equal(3, File.ReadAllLines(Path.Combine(outDir, "predictions.csv")).Length);
    }

    [Fact]
    public void An_unwritable_output_folder_fails_before_training()
    {
        string blocker = Path.Combine(_dir, "a-file");
        File.WriteAllText(blocker, "");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        // 100,000 epochs would run for hours: failing at once shows the check comes first.
        var (code, _, err) = CliTests.Run("learn", "--dataset", "music-genre", "--method", "maxmig", "--epochs", "100000", "--out", Path.Combine(blocker, "run"));
        Assert.Equal(2, code);
        Assert.Contains("--out", err);
        Assert.Contains("is a file, not a folder", err);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
        (code, _, err) = CliTests.Run("learn", "--dataset", "music-genre", "--epochs", "0");
        Assert.Equal(2, code);
        Assert.Contains("--epochs must be at least 1", err);
    }

    [Fact]
    public void Lab_learning_on_music_genre_writes_per_seed_results_and_a_chart()
    {
        string dir = Path.Combine(_dir, "lab");
        var (code, stdout, err) = CliTests.Run("lab", "learning", "--setting", "music-genre", "--methods", "mv,ds", "--seeds", "2",
            "--classifier", "linear", "--epochs", "5", "--out", dir);
        Assert.True(code == 0, err);
        Assert.Contains("mv", stdout);
        var lines = File.ReadAllLines(Path.Combine(dir, "learning.csv"));
        Assert.Equal("setting,method,seed,test_accuracy,train_accuracy", lines[0]);
        Assert.Equal(5, lines.Length);
        foreach (var line in lines.Skip(1))
        {
            var f = line.Split(',');
            Assert.Equal("music-genre", f[0]);
            Assert.InRange(double.Parse(f[3], CultureInfo.InvariantCulture), 0.3, 1);
            // The posteriors of the two-stage methods are the first stage's: MV ≈ 71 % and DS ≈ 77 % right.
            Assert.InRange(double.Parse(f[4], CultureInfo.InvariantCulture), 0.65, 0.8);
        }
        Assert.True(File.Exists(Path.Combine(dir, "learning.png")));

        (code, _, err) = CliTests.Run("lab", "learning", "--setting", "experts:sometimes:H");
        Assert.Equal(2, code);
        Assert.Contains("--setting", err);
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
        Assert.Equal("Model", Assert.Throws<InvalidOptionException>(() => ModelSpec.HiddenLayers("cnn")).Option);
        Assert.Throws<InvalidOptionException>(() => ModelSpec.HiddenLayers("mlp:0"));
        foreach (var spec in new[] { "linear", "mlp:128", "mlp:256,64" })
            Assert.Equal(spec, ModelSpec.Format(ModelSpec.HiddenLayers(spec)));
    }
}
