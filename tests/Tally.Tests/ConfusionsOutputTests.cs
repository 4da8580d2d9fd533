using System.Text;
using System.Text.Json;
using Tally.Application;

namespace Tally.Tests;

/// <summary>
/// confusions.json says which axis is which, and means it: rows are the true class, columns the worker's answer
/// (Crowd-Kit's <c>errors_</c> is the transpose, so a reader must not have to guess).
/// </summary>
public sealed class ConfusionsOutputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-confusions-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private JsonElement Aggregate(string answers, string method)
    {
        var outDir = Path.Combine(_dir, method);
        var (code, _, err) = CliTests.Run("aggregate", answers, "--method", method, "--out", outDir);
        Assert.True(code == 0, err);
        return JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "confusions.json"))).RootElement.Clone();
    }

    /// <summary>
    /// Six reliable workers and one who answers "b" whatever the task: with row = true class, that worker's matrix has
    /// its whole mass in column "b" (every row peaks there); read transposed it would be a row of ones.
    /// </summary>
    [Fact]
    public void Rows_are_the_true_class_and_columns_the_answer()
    {
        var csv = new StringBuilder("task,worker,label\n");
        string[] classes = ["a", "b", "c"];
        for (int t = 0; t < 60; t++)
        {
            string truth = classes[t % 3];
            for (int w = 0; w < 6; w++)
                csv.Append($"t{t},good{w},{(t % 10 == w ? classes[(t + 1) % 3] : truth)}\n");
            csv.Append($"t{t},always-b,b\n");
        }
        var answers = Path.Combine(_dir, "answers.csv");
        File.WriteAllText(answers, csv.ToString());

        var json = Aggregate(answers, "ds");
        Assert.Equal(AggregationWriter.ConfusionsLayout, json.GetProperty("layout").GetString());
        Assert.Contains("rows: true class, columns: answer", json.GetProperty("layout").GetString());
        Assert.Equal(classes, json.GetProperty("classes").EnumerateArray().Select(c => c.GetString()).ToArray());

        var stubborn = Matrix(json, "always-b");
        for (int truth = 0; truth < 3; truth++)
        {
            Assert.Equal(1, Array.IndexOf(stubborn[truth], stubborn[truth].Max()));
            Assert.True(stubborn[truth][1] > 0.9, $"P(b | {classes[truth]}) = {stubborn[truth][1]}");
        }
        var good = Matrix(json, "good0");
        for (int truth = 0; truth < 3; truth++) Assert.True(good[truth][truth] > 0.8, $"P({classes[truth]} | {classes[truth]}) = {good[truth][truth]}");
    }

    /// <summary>Every method that writes confusions.json writes the layout, and every row is a distribution over answers.</summary>
    [Theory]
    [InlineData("ds")]
    [InlineData("onecoin")]
    [InlineData("spectral")]
    [InlineData("mf")]
    [InlineData("bp")]
    [InlineData("robust-ds")]
    public void Every_confusion_method_states_the_layout_and_its_rows_sum_to_one(string method)
    {
        var json = Aggregate(Path.Combine(TestData.RepoRoot, "data", "dog", "answers.csv"), method);
        Assert.Equal(AggregationWriter.ConfusionsLayout, json.GetProperty("layout").GetString());
        int k = json.GetProperty("classes").GetArrayLength();
        int workers = 0;
        foreach (var worker in json.GetProperty("workers").EnumerateObject())
        {
            workers++;
            var m = Matrix(json, worker.Name);
            Assert.Equal(k, m.Length);
            foreach (var row in m)
            {
                Assert.Equal(k, row.Length);
                Assert.InRange(row.Sum(), 1 - 1e-6, 1 + 1e-6);
            }
        }
        Assert.Equal(109, workers);
    }

    private static double[][] Matrix(JsonElement json, string worker) =>
        json.GetProperty("workers").GetProperty(worker).EnumerateArray()
            .Select(row => row.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();
}
