using System.Globalization;
using Tally.Application;
using Tally.Catalogs;
using Tally.Core;
using Tally.Mechanisms;

namespace Tally.Tests;

/// <summary><see cref="PayJob"/> and <c>tally pay</c>: mechanism names, budgets, options, campaigns over any mechanism.</summary>
public sealed class PayJobTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-pay-job-").FullName;

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private static string Dog => Path.Combine(TestData.RepoRoot, "data", "dog", "answers.csv");

    [Fact]
    public void The_budget_range_is_printed_once_scaled()
    {
        // It used to print [5, 55]: the range, already scaled to the budget, went through the scaling a second time.
        var (code, stdout, err) = CliTests.Run("pay", Dog, "--mechanism", "ca", "--budget", "10");
        Assert.True(code == 0, err);
        Assert.Contains("[0, 10]", stdout);
        var o = PayJob.Run(new PayRequest { Reports = new InputSource(Dog, null), Mechanism = "ca", Budget = 10 });
        Assert.Equal(new PaymentRange(0, 10), o.Result.Range);
        Assert.All(o.Result.Payments, p => Assert.InRange(p, 0, 10));
    }

    [Fact]
    public void An_unknown_mechanism_lists_every_name_reform_included()
    {
        var (code, _, err) = CliTests.Run("pay", Dog, "--mechanism", "nope");
        Assert.Equal(2, code);
        foreach (var name in MechanismCatalog.Names) Assert.Contains(name, err);
        Assert.Equal(2, CliTests.Run("pay", Dog, "--mechanism", "reform:nope").Code);
    }

    [Fact]
    public void Rptsc_options_apply_to_rptsc_only_and_are_validated()
    {
        var o = PayJob.Run(new PayRequest { Reports = new InputSource(Dog, null), Mechanism = "rptsc", Alpha = 2, SampleSize = 5 });
        Assert.Equal(new PaymentRange(-2, 10), o.Result.Range);
        var (code, _, err) = CliTests.Run("pay", Dog, "--mechanism", "ca", "--alpha", "2");
        Assert.Equal(2, code);
        Assert.Contains("--alpha applies only", err);
        (code, _, err) = CliTests.Run("pay", Dog, "--mechanism", "rptsc", "--sample-size", "0");
        Assert.Equal(2, code);
        Assert.Contains("--sample-size must be at least 1", err);
        (code, _, err) = CliTests.Run("pay", Dog, "--mechanism", "reform:ca", "--k", "0");
        Assert.Equal(2, code);
        Assert.Contains("--chances must be at least 1", err);   // --chances is the long alias of --k
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void A_campaign_over_another_mechanism_is_saved_with_it_and_refuses_a_different_one()
    {
        string state = Path.Combine(_dir, "ca.json"), outDir = Path.Combine(_dir, "out");
        var (code, stdout, err) = CliTests.Run("pay", Dog, "--mechanism", "reform:ca", "--k", "3", "--state", state, "--out", outDir);
        Assert.True(code == 0, err);
        Assert.Contains("reform:ca, round 0", stdout);
        var saved = Campaign.Load(state);
        Assert.Equal("ca", saved.Reform.Mechanism.Name);
        Assert.Equal(3, saved.Reform.Options.Chances);
        Assert.Equal("agent,payment,tasks,chances,reputation,total", File.ReadLines(Path.Combine(outDir, "payments.csv")).First());

        (code, _, err) = CliTests.Run("pay", Dog, "--mechanism", "reform:rptsc", "--state", state);
        Assert.Equal(2, code);
        Assert.Contains("differs from the saved campaign's reform:ca", err);
        (code, stdout, err) = CliTests.Run("pay", Dog, "--mechanism", "reform:correlated-agreement", "--state", state);
        Assert.True(code == 0, err);
        Assert.Contains("resumed", stdout);
        Assert.Equal(1, Campaign.Load(state).Reputation.LastRound);
        // With reputations from round 0, higher-ranked agents got extra chances in round 1.
        Assert.Matches(@"extra pairing chances\s*│\s*[1-9]", stdout);
    }

    [Fact]
    public void Reform_rounds_take_their_seeds_from_the_campaign_seed_and_the_round_index()
    {
        // Two state files, the same rounds and seed: identical; another seed: other peers, other payments.
        string a = Path.Combine(_dir, "a.json"), b = Path.Combine(_dir, "b.json"), c = Path.Combine(_dir, "c.json");
        string reports = Path.Combine(_dir, "dog-part.csv");
        File.WriteAllLines(reports, File.ReadLines(Dog).Take(1 + 1500));   // the first 150 tasks
        foreach (var (state, seed) in new[] { (a, "4"), (b, "4"), (c, "5") })
            for (int round = 0; round < 2; round++)
                Assert.Equal(0, CliTests.Run("pay", reports, "--mechanism", "reform:rptsc", "--state", state, "--seed", seed).Code);
        Assert.Equal(File.ReadAllText(a), File.ReadAllText(b));
        Assert.NotEqual(File.ReadAllText(a), File.ReadAllText(c));
        var (pay, evidence) = Campaign.RoundSeeds(4, 1);
        Assert.Equal(Seeding.Derive(4, 1, 0), pay);
        Assert.Equal(Seeding.Derive(4, 1, 1), evidence);
    }

    [Fact]
    public void Plain_payments_file_lists_every_agent_in_natural_order()
    {
        var o = PayJob.Run(new PayRequest { Reports = new InputSource(null, "dog", "reports"), Mechanism = "oa", OutputDirectory = _dir });
        var rows = File.ReadAllLines(Path.Combine(_dir, "payments.csv"));
        Assert.Equal("agent,payment,tasks", rows[0]);
        var agents = rows.Skip(1).Select(r => r.Split(',')[0]).ToList();
        Assert.Equal(o.Result.Reports.Workers.Names, agents);
        Assert.Equal(agents.Select(x => double.Parse(x, CultureInfo.InvariantCulture)).Order(), agents.Select(x => double.Parse(x, CultureInfo.InvariantCulture)));
        Assert.Equal([Path.Combine(_dir, "payments.csv")], o.Written);
    }
}
