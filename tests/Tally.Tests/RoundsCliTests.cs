using System.Globalization;

namespace Tally.Tests;

/// <summary><c>tally rounds run</c> end to end.</summary>
public sealed class RoundsCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-rounds-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Scenario(string json)
    {
        var path = Path.Combine(_dir, "scenario.json");
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void A_small_scenario_prints_the_table_and_writes_csv_and_plots()
    {
        var path = Scenario("""
            { "rounds": 6, "tasks_per_round": 10, "answers": 3, "seed": 2,
              "population": { "agents": 150, "trustworthy_share": 0.6, "accuracy": [0.9, 1.0] },
              "mechanism": "reform", "k": [1, 2], "alpha": { "rptsc": 10, "reform": 11 }, "sample_size": 20, "lambda": 0.9 }
            """);
        var outDir = Path.Combine(_dir, "out");
        var (code, stdout, err) = CliTests.Run("rounds", "run", path, "--out", outDir);
        Assert.True(code == 0, err);
        Assert.Contains("RPTSC", stdout);
        Assert.Contains("REFORM k=2", stdout);
        var rows = File.ReadAllLines(Path.Combine(outDir, "rewards.csv"));
        Assert.Equal("round,mechanism,k,alpha,ta_reward,ra_reward,ta_optimal", rows[0]);
        Assert.Equal(1 + 6 * 3, rows.Length);   // RPTSC, REFORM k = 1 and k = 2, 6 rounds each
        var summary = File.ReadAllLines(Path.Combine(outDir, "summary.csv"));
        Assert.Equal(4, summary.Length);
        // REFORM k = 1 is RPTSC with α = 11 instead of 10 (the same seed): its budget is exactly 10% higher.
        double increase = double.Parse(summary[2].Split(',')[10], CultureInfo.InvariantCulture);
        Assert.Equal(0.1, increase, 9);
        Assert.True(new FileInfo(Path.Combine(outDir, "reward-per-round.png")).Length > 1000);
        Assert.True(new FileInfo(Path.Combine(outDir, "normalised-vs-k.png")).Length > 1000);
    }

    [Fact]
    public void Unknown_or_invalid_fields_name_the_file_and_field_with_exit_code_2()
    {
        var path = Scenario("""{ "rounds": 5, "agnets": 100 }""");
        var (code, _, err) = CliTests.Run("rounds", "run", path);
        Assert.Equal(2, code);
        Assert.Contains(path, err);
        Assert.Contains("'agnets'", err);

        path = Scenario("""{ "population": { "trustworthy_share": 1.5 } }""");
        (code, _, err) = CliTests.Run("rounds", "run", path);
        Assert.Equal(2, code);
        Assert.Contains("population.trustworthy_share", err);

        path = Scenario("""{ "k": [2, "three"] }""");
        (code, _, err) = CliTests.Run("rounds", "run", path);
        Assert.Equal(2, code);
        Assert.Contains("'k'", err);

        path = Scenario("""{ "rounds": 5, """);
        Assert.Equal(2, CliTests.Run("rounds", "run", path).Code);
        Assert.Equal(2, CliTests.Run("rounds", "run", Path.Combine(_dir, "missing.json")).Code);
    }

    [Fact]
    public void The_paper_scenario_file_is_valid()
    {
        var path = Path.Combine(TestData.RepoRoot, "docs", "scenarios", "reform-paper.json");
        var o = Tally.Application.RoundsJob.ReadScenario(path);
        // The file spells out the §5 setup, which is also the library's default (Chances compared by value).
        Assert.Equal(new Tally.Simulation.ReformLabOptions() with { Chances = o.Chances }, o);
        Assert.Equal([1, 2, 3, 4, 5], o.Chances.ToArray());
    }
}
