namespace Tally.Tests;

/// <summary><c>tally aggregate --type pairwise|multilabel</c> and <c>tally metrics</c> end to end, as a user runs them.</summary>
public sealed class AnswerTypesCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-types-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string File(string name, params string[] lines)
    {
        var path = Path.Combine(_dir, name);
        System.IO.File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void Pairwise_writes_scores_and_says_which_components_are_never_compared()
    {
        var path = File("pairs.csv", "worker,left,right,label", "w1,a,b,a", "w2,b,c,b", "w1,a,c,a", "w2,c,a,a", "w1,x,y,y", "w2,y,x,y");
        var outDir = Path.Combine(_dir, "out");
        var (code, stdout, err) = CliTests.Run("aggregate", path, "--type", "pairwise", "--method", "bt", "--out", outDir);
        Assert.True(code == 0, err);
        Assert.Contains("the comparisons fall into 2 groups that are never compared with each other", err);
        Assert.Contains("no order between groups is claimed", err);
        Assert.Contains("components", stdout);
        var rows = System.IO.File.ReadAllLines(Path.Combine(outDir, "scores.csv"));
        Assert.Equal("item,component,rank,score,std_error,low,high,confidence,wins,losses", rows[0]);
        Assert.StartsWith("a,0,1,", rows[1]);
        Assert.StartsWith("y,1,1,", rows[5]);
        Assert.True(System.IO.File.Exists(Path.Combine(outDir, "workers.csv")));
    }

    [Fact]
    public void Options_of_another_answer_type_are_refused()
    {
        var path = File("p.csv", "worker,left,right,label", "w,a,b,a");
        var (code, _, err) = CliTests.Run("aggregate", path, "--type", "pairwise", "--gold", path);
        Assert.Equal(2, code);
        Assert.Contains("tally: error: --gold applies to --type categorical, not pairwise", err);
        (code, _, err) = CliTests.Run("aggregate", "--dataset", "dog", "--regularization", "1");
        Assert.Equal(2, code);
        Assert.Contains("--regularization applies to --type pairwise, not categorical", err);
        (code, _, err) = CliTests.Run("aggregate", path, "--type", "pairwise", "--classes", "a,b");
        Assert.Equal(2, code);
        Assert.Contains("--classes does not apply to --type pairwise", err);
        (code, _, err) = CliTests.Run("aggregate", "--dataset", "dog", "--type", "pairwise");
        Assert.Equal(2, code);
        Assert.Contains("bundled datasets hold categorical answers", err);
        var bad = File("bad.csv", "worker,left,right,label", "w,a,b,c");
        (code, _, err) = CliTests.Run("aggregate", bad, "--type", "pairwise");
        Assert.Equal(2, code);
        Assert.Equal($"tally: error: {bad}:2: label 'c' is neither the left item 'a' nor the right item 'b' (it must name the winner)", err.Trim());
    }

    [Fact]
    public void Multilabel_writes_one_probability_per_label()
    {
        var path = File("tags.csv", "task,worker,label", "1,a,cat|dog", "1,b,cat", "1,c,", "2,a,dog", "2,b,dog|cat", "2,c,dog");
        var outDir = Path.Combine(_dir, "ml");
        var (code, _, err) = CliTests.Run("aggregate", path, "--type", "multilabel", "-m", "mv", "--threshold", "0.6", "--out", outDir);
        Assert.True(code == 0, err);
        var rows = System.IO.File.ReadAllLines(Path.Combine(outDir, "labels.csv"));
        Assert.Equal(["task,labels,p_cat,p_dog", "1,cat,0.6666666666666666,0.3333333333333333", "2,dog,0.3333333333333333,1"], rows);
    }

    [Fact]
    public void Metrics_writes_its_tables_and_the_worker_plot()
    {
        var outDir = Path.Combine(_dir, "q");
        var png = Path.Combine(_dir, "workers.png");
        var (code, stdout, err) = CliTests.Run("metrics", "--dataset", "dog", "--method", "mv", "--out", outDir, "--plot", png);
        Assert.True(code == 0, err);
        Assert.Contains("alpha nominal", stdout);
        Assert.Contains("fleiss kappa", stdout);
        var metrics = System.IO.File.ReadAllLines(Path.Combine(outDir, "metrics.csv"));
        Assert.Equal("metric,value", metrics[0]);
        Assert.Contains(metrics, l => l.StartsWith("alpha_nominal,0.", StringComparison.Ordinal));
        Assert.Equal(808, System.IO.File.ReadAllLines(Path.Combine(outDir, "tasks.csv")).Length);
        Assert.Equal(110, System.IO.File.ReadAllLines(Path.Combine(outDir, "workers.csv")).Length);
        var bytes = System.IO.File.ReadAllBytes(png);
        Assert.True(bytes.Length > 1000 && bytes[1] == 'P' && bytes[2] == 'N' && bytes[3] == 'G');
        (code, _, err) = CliTests.Run("metrics", "--dataset", "dog", "--labels", Path.Combine(outDir, "tasks.csv"), "--method", "ds");
        Assert.Equal(2, code);
        Assert.Contains("give one of the two", err);
    }
}
