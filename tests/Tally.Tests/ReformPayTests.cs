using System.Diagnostics;
using System.Globalization;
using Tally.Core;
using Tally.Mechanisms;
using Tally.Mechanisms.Reputation;
using Xunit;

namespace Tally.Tests;

/// <summary>Paying rounds of real reports with REFORM from the command line, with the campaign saved between rounds.</summary>
public sealed class ReformPayTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-reform-pay-").FullName;

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    /// <summary>A round: <paramref name="agents"/> agents, one report each, 10 agents per task; the first 60% careful.</summary>
    private string WriteRound(string name, int agents, int seed, bool times = true, int tasksDivisor = 10)
    {
        var rng = new Random(seed);
        string path = Path.Combine(_dir, name);
        using var w = new StreamWriter(path);
        w.WriteLine(times ? "task,worker,label,seconds" : "task,worker,label");
        for (int a = 0; a < agents; a++)
        {
            int t = a % Math.Max(1, agents / tasksDivisor), truth = t % 3;
            int label = a < agents * 6 / 10 && rng.NextDouble() < 0.9 ? truth : rng.Next(3);
            w.WriteLine(times ? $"t{t},a{a},{label},{(5 + 90 * rng.NextDouble()).ToString("F1", CultureInfo.InvariantCulture)}" : $"t{t},a{a},{label}");
        }
        return path;
    }

    [Fact]
    public void Rounds_paid_one_by_one_through_the_state_file_equal_a_campaign_played_in_memory()
    {
        string state = Path.Combine(_dir, "campaign.json");
        var rounds = new[] { WriteRound("r0.csv", 60, 1), WriteRound("r1.csv", 60, 2), WriteRound("r2.csv", 60, 3) };
        foreach (var r in rounds)
        {
            var (code, _, err) = CliTests.Run("pay", r, "--mechanism", "reform:rptsc", "--k", "2", "--state", state, "--seed", "5");
            Assert.True(code == 0, err);
        }
        var saved = Campaign.Load(state);
        Assert.Equal(2, saved.Reputation.LastRound);

        // The same rounds played in one process, with the campaign seed the command was given.
        var memory = new Campaign(new Reform(options: new ReformOptions { Chances = 2 }), new TermReputation());
        for (int i = 0; i < rounds.Length; i++)
            memory.Play(RoundFile.Read(rounds[i], i).Round, 5);
        Assert.Equal(memory.ToJson(), saved.ToJson());
        // Careful agents earned more than careless ones over the campaign.
        double careful = 0, careless = 0;
        foreach (var (agent, total) in saved.TotalPayments)
            if (int.Parse(agent[1..], CultureInfo.InvariantCulture) < 36) careful += total / 36; else careless += total / 24;
        Assert.True(careful > careless, $"careful {careful} vs careless {careless}");
    }

    [Fact]
    public void Late_reports_are_ignored_and_counted()
    {
        string path = Path.Combine(_dir, "late.csv");
        File.WriteAllText(path, "task,worker,label,seconds\nt0,a,x,10\nt0,b,x,20\nt0,c,y,700\nt1,a,y,5\nt1,b,y,5\n");
        var (code, stdout, err) = CliTests.Run("pay", path, "--mechanism", "reform:rptsc", "--deadline", "600", "--out", _dir);
        Assert.True(code == 0, err);
        Assert.Matches(@"late reports \(ignored\)\s*│\s*1\b", stdout);
        var lines = File.ReadAllLines(Path.Combine(_dir, "payments.csv"));
        Assert.Equal("agent,payment,tasks,chances,reputation,total", lines[0]);
        Assert.Contains(lines, l => l.StartsWith("c,0,0,", StringComparison.Ordinal)); // its only report was late
    }

    [Theory]
    [InlineData("task,worker,label\nt0,a,x\nt0,a,y\n", "bad.csv:3:", "twice")]
    [InlineData("task,worker,label,seconds\nt0,a,x,-3\n", "bad.csv:2:", "seconds")]
    [InlineData("task,worker,label,deadline\nt0,a,x,10\nt0,b,x,20\n", "bad.csv:3:", "deadline")]
    [InlineData("task,worker\nt0,a\n", "", "label")]
    public void Bad_round_files_fail_with_the_line_and_the_problem(string content, string where, string what)
    {
        string path = Path.Combine(_dir, "bad.csv");
        File.WriteAllText(path, content);
        var (code, _, err) = CliTests.Run("pay", path, "--mechanism", "reform:rptsc");
        Assert.Equal(2, code);
        Assert.Contains("bad.csv", err);
        Assert.Contains(where, err);
        Assert.Contains(what, err);
        Assert.DoesNotContain("   at ", err);
    }

    [Fact]
    public void A_saved_campaign_cannot_be_silently_reconfigured()
    {
        string state = Path.Combine(_dir, "c.json");
        string r = WriteRound("r.csv", 40, 1);
        Assert.Equal(0, CliTests.Run("pay", r, "--mechanism", "reform:rptsc", "--k", "3", "--state", state).Code);
        var (code, _, err) = CliTests.Run("pay", r, "--mechanism", "reform:rptsc", "--k", "2", "--state", state);
        Assert.Equal(2, code);
        Assert.Contains("k = 3", err);
        (code, _, err) = CliTests.Run("pay", r, "--mechanism", "reform:rptsc", "--state", state, "--round", "0");
        Assert.Equal(2, code);
        Assert.Contains("does not follow", err);
        (code, _, err) = CliTests.Run("pay", r, "--mechanism", "ca", "--k", "2");
        Assert.Equal(2, code);
        Assert.Contains("--k applies only", err);
        (code, _, err) = CliTests.Run("pay", r, "--mechanism", "reform:rptsc", "--state", Path.Combine(_dir, "no", "such", "c.json"));
        Assert.Equal(2, code);
        Assert.Contains("does not exist", err);
        File.WriteAllText(state, "{ not json");
        (code, _, err) = CliTests.Run("pay", r, "--mechanism", "reform:rptsc", "--state", state);
        Assert.Equal(2, code);
        Assert.Contains("not a valid campaign state", err);
    }

    /// <summary>
    /// kill -9 of a real <c>tally pay --state</c> process at random moments, over and over: afterwards the state file is
    /// always either absent (no run finished yet) or a complete campaign, and the campaign only ever moves forward.
    /// </summary>
    [Fact]
    [Trait("Category", "Slow")]
    public void The_state_file_survives_kill_minus_9_at_any_moment()
    {
        string cli = Path.Combine(AppContext.BaseDirectory, "Tally.Cli.dll");
        Assert.True(File.Exists(cli), $"{cli} is missing (the test project references the CLI project)");
        string state = Path.Combine(_dir, "killed.json");
        // Big enough that writing the state takes a noticeable share of the run.
        string round = WriteRound("big.csv", 3000, 11, times: false, tasksDivisor: 10);
        var rng = new Random(3);
        int killed = 0, finished = 0, lastRound = -1;
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < 9 || (finished < 2 && clock.Elapsed < TimeSpan.FromSeconds(60)); i++)
        {
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var arg in new[] { cli, "pay", round, "--mechanism", "reform:rptsc", "--state", state }) psi.ArgumentList.Add(arg);
            using var process = Process.Start(psi)!;
            process.StandardOutput.ReadToEndAsync();
            process.StandardError.ReadToEndAsync();
            // Alternate early kills (start-up, reading, paying) with late ones around the write.
            int wait = i % 3 == 2 ? 100000 : rng.Next(150, 1800);
            if (!process.WaitForExit(wait))
            {
                process.Kill(entireProcessTree: true); // SIGKILL on Unix: no cleanup runs
                process.WaitForExit();
                killed++;
            }
            else
            {
                Assert.Equal(0, process.ExitCode);
                finished++;
            }
            if (!File.Exists(state)) { Assert.Equal(-1, lastRound); continue; }
            var campaign = Campaign.Load(state); // throws on a torn or empty file
            int now = campaign.Reputation.LastRound ?? -1;
            // A killed run may or may not have saved (the kill can land after the rename), but a run never loses or
            // skips a round.
            Assert.InRange(now, lastRound, lastRound + 1);
            lastRound = now;
        }
        Assert.True(killed > 0 && finished > 0, $"killed {killed}, finished {finished}");
        Assert.InRange(lastRound, finished - 1, finished - 1 + killed);
        // The next completed run removes what killed writers left behind.
        Assert.Equal(0, CliTests.Run("pay", round, "--mechanism", "reform:rptsc", "--state", state).Code);
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
    }
}
