using Tally.Catalogs;
using Tally.Core;
using Tally.Mechanisms;
using Tally.Mechanisms.Reputation;

namespace Tally.Tests;

/// <summary>
/// REFORM over every registered mechanism: k = 1 (and "no re-pairing") is the wrapped mechanism bit for bit, extra
/// chances follow Algorithm 3's rules, decay scales as documented, the campaign state keeps the wrapped mechanism.
/// </summary>
public class ReformWrapTests
{
    /// <summary>Every registered mechanism by catalog name, plus DMI with a peer cap (its re-pairing path).</summary>
    public static IEnumerable<object[]> Mechanisms() =>
        MechanismCatalog.All.Select(m => new object[] { m.Name }).Append(["dmi:5"]);

    private static IPeerPredictionMechanism Make(string name, int seed) => name == "dmi:5"
        ? new Dmi(new DmiOptions { MaxPeers = 5, Seed = seed })
        : MechanismCatalog.Find(name)!.Create(seed);

    /// <summary>
    /// 14 agents on 40 tasks (3 answers), each task answered by each agent with probability 0.8 at a random time: dense
    /// enough for every mechanism (DMI's 2K shared tasks, RMIF-symmetric's batch capacity ⌊m_i/|W_i|⌋ ≥ 1). Agents
    /// a00..a08 are right with probability 0.85, the others answer at random.
    /// </summary>
    internal static Round MakeRound(int index, int seed, int agents = 14, int tasks = 40)
    {
        var rng = new Random(seed);
        var truth = Enumerable.Range(0, tasks).Select(_ => rng.Next(3)).ToArray();
        var reports = new List<RoundReport>();
        for (int a = 0; a < agents; a++)
            for (int t = 0; t < tasks; t++)
            {
                if (rng.NextDouble() >= 0.8) continue;
                int y = a < agents * 2 / 3 && rng.NextDouble() < 0.85 ? truth[t] : rng.Next(3);
                reports.Add(new RoundReport($"a{a:D2}", t, y, 5 + 100 * rng.NextDouble()));
            }
        return new Round(index, tasks, 3, reports);
    }

    /// <summary>TERM after two rounds, so agents' reputations differ.</summary>
    private static TermReputation History()
    {
        var term = new TermReputation();
        term.Update(RoundEvidence.Draw(MakeRound(1, 101), 1));
        term.Update(RoundEvidence.Draw(MakeRound(2, 102), 2));
        return term;
    }

    private static void AssertSamePayments(PaymentResult plain, ReformResult reform, string name)
    {
        Assert.Equal(plain.Payments.ToArray(), reform.Payments.ToArray());
        Assert.Equal(plain.TasksScored.ToArray(), reform.TasksScored.ToArray());
        Assert.Equal(plain.Range, reform.Result.Range);
        foreach (var (key, values) in plain.Breakdown) Assert.Equal(values.ToArray(), reform.Result.Breakdown[key].ToArray());
        Assert.True(plain.Payments.Any(p => p != 0), $"{name}: nothing was paid, the comparison would be empty");
    }

    [Theory]
    [MemberData(nameof(Mechanisms))]
    public void With_one_chance_reform_is_the_wrapped_mechanism_bit_for_bit(string name)
    {
        var round = MakeRound(3, 7);
        var term = History();
        var keys = round.Agents().Select(term.Key).ToArray();
        Assert.True(keys.Distinct().Count() > keys.Length / 2, "the reputations must differ for the test to mean anything");
        var mechanism = Make(name, 42);
        var plain = mechanism.Pay(round.ToLabelMatrix());
        var reform = new Reform(mechanism, new ReformOptions { Chances = 1 }).Pay(round, term);
        AssertSamePayments(plain, reform, name);
        Assert.Equal("reform:" + mechanism.Name, reform.Mechanism);
        // One pairing per slot: every report (OA, DG, CA, RPTSC, RMIF-symmetric), the one peer (TVD-MI), each peer (DMI).
        for (int i = 0; i < reform.Agents.Length; i++) Assert.Equal(Slots(name, plain, i), reform.ChancesUsed[i]);
    }

    [Theory]
    [MemberData(nameof(Mechanisms))]
    public void Without_reputation_differences_extra_chances_change_nothing(string name)
    {
        // A fresh model: every key is equal, so no reputation is strictly higher than a peer's and nobody is re-paired.
        var round = MakeRound(3, 8);
        var mechanism = Make(name, 5);
        var plain = mechanism.Pay(round.ToLabelMatrix());
        var reform = new Reform(mechanism, new ReformOptions { Chances = 4 }).Pay(round, new TermReputation());
        AssertSamePayments(plain, reform, name);
    }

    /// <summary>The number of pairings an agent gets without extra chances.</summary>
    private static int Slots(string name, PaymentResult plain, int agent) => name switch
    {
        "oa" or "dg" or "ca" or "rptsc" or "rmif-symmetric" => plain.TasksScored[agent],
        "tvd-mi" => plain.IsScored(agent) ? 1 : 0,
        "dmi" or "dmi:5" => (int)plain.Breakdown["peers"][agent],
        "rmif-ds" => 0,
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(Mechanisms))]
    public void Extra_chances_follow_algorithm_3(string name)
    {
        const int k = 3;
        var round = MakeRound(3, 9);
        var term = History();
        var agents = round.Agents();
        var keys = agents.Select(term.Key).ToArray();
        var mechanism = Make(name, 11);
        var plain = mechanism.Pay(round.ToLabelMatrix());
        var r = new Reform(mechanism, new ReformOptions { Chances = k }).Pay(round, term);
        int lowest = Array.IndexOf(keys, keys.Min());
        Assert.Single(keys, keys[lowest]);
        int extra = 0;
        for (int i = 0; i < agents.Length; i++)
        {
            int slots = Slots(name, r.Result, i);
            Assert.InRange(r.ChancesUsed[i], slots, k * slots);
            Assert.Equal(r.ChancesUsed[i], r.Peers[i].Length);
            Assert.DoesNotContain(agents[i], r.Peers[i]);
            Assert.Equal(r.ChancesUsed[i] - slots, r.ExtraChances[i]);
            extra += r.ExtraChances[i];
            // Every peer after a slot's first was beaten on reputation: the lowest-ranked agent never gets another chance.
            if (i == lowest) Assert.Equal(slots, r.ChancesUsed[i]);
        }
        // TVD-MI's only slot and DMI's peer pool: no peer twice.
        if (name is "tvd-mi" or "dmi:5")
            for (int i = 0; i < agents.Length; i++) Assert.Equal(r.Peers[i].Length, r.Peers[i].Distinct().Count());
        // DMI with every eligible peer used has no untried peer; RMIF-DS draws no peer at all.
        if (name is "dmi" or "rmif-ds")
        {
            Assert.Equal(0, extra);
            Assert.Equal(plain.Payments.ToArray(), r.Payments.ToArray());
        }
        else Assert.True(extra > 0, $"{name}: no extra chance was ever given");
        Assert.All(r.Payments, p => Assert.True(double.IsFinite(p) && r.Result.Range.Contains(p, 1e-9 * Math.Max(1, r.Result.Range.Width))));
        Assert.Equal(name is "oa" or "dg" or "ca" or "rptsc", r.Optimal is not null);
    }

    [Theory]
    [InlineData("tvd-mi")]
    [InlineData("dmi")]
    [InlineData("rmif-symmetric")]
    [InlineData("rmif-ds")]
    public void Decay_scales_pair_level_payments_by_the_agents_mean_beta(string name)
    {
        // No per-report rewards to weigh: with k = 1 the payment is the mechanism's times the mean β of the agent's reports.
        var round = MakeRound(3, 12);
        var decay = new ExponentialDecay(60);
        var mechanism = Make(name, 3);
        var plain = mechanism.Pay(round.ToLabelMatrix());
        var r = new Reform(mechanism, new ReformOptions { Chances = 1, Decay = decay }).Pay(round, History());
        for (int i = 0; i < r.Agents.Length; i++)
        {
            var mine = round.OnTimeReports().Where(x => x.Agent == r.Agents[i]).Select(x => decay.Factor(x.Seconds)).ToArray();
            double expected = plain.IsScored(i) ? plain.Payments[i] * mine.Average() : 0;
            Assert.Equal(expected, r.Payments[i], 1e-12 * Math.Max(1, Math.Abs(expected)));
        }
    }

    [Theory]
    [MemberData(nameof(Mechanisms))]
    public void A_campaign_keeps_the_wrapped_mechanism_and_its_options_across_a_save(string name)
    {
        var a = new Campaign(new Reform(Make(name, 0), new ReformOptions { Chances = 2, Decay = new LinearDecay(300) }), new TermReputation());
        for (int j = 1; j <= 2; j++) a.Play(MakeRound(j, 200 + j), 4);
        string json = a.ToJson();
        var b = Campaign.FromJson(json);
        Assert.Equal(json, b.ToJson());
        Assert.Equal(a.Reform.Mechanism.Name, b.Reform.Mechanism.Name);
        Assert.Equal(a.Reform.Mechanism.Options, b.Reform.Mechanism.Options);
        var round = MakeRound(3, 203);
        var ra = a.Play(round, 4);
        var rb = b.Play(round, 4);
        Assert.Equal(ra.Payments.ToArray(), rb.Payments.ToArray());
        Assert.Equal(ra.ChancesUsed.ToArray(), rb.ChancesUsed.ToArray());
        Assert.Equal(a.ToJson(), b.ToJson());
    }

    [Fact]
    public void A_version_1_state_is_an_rptsc_campaign()
    {
        var v2 = new Campaign(new Reform(options: new ReformOptions { Chances = 3 })).State();
        var v1 = v2 with { Version = 1, Mechanism = null, MechanismOptions = null, Alpha = 4, SampleSize = 7, MinTasks = 2 };
        var campaign = Campaign.FromState(v1);
        var rptsc = Assert.IsType<Rptsc>(campaign.Reform.Mechanism);
        Assert.Equal(new RptscOptions { Alpha = 4, SampleSize = 7, MinTasks = 2 }, rptsc.Options);
        Assert.Equal(3, campaign.Reform.Options.Chances);
        // Saved again it is a version 2 state naming its mechanism.
        Assert.Equal(2, campaign.State().Version);
        Assert.Equal("rptsc", campaign.State().Mechanism);
        Assert.Throws<InvalidDataException>(() => Campaign.FromState(v2 with { Mechanism = "ca" }));
    }

    [Fact]
    public void Reform_refuses_a_mechanism_it_cannot_hook_into()
    {
        Assert.False(Reform.CanWrap(new Foreign()));
        Assert.Throws<ArgumentException>(() => new Reform(new Foreign()));
        Assert.All(MechanismCatalog.All, m => Assert.True(Reform.CanWrap(m.Create())));
    }

    private sealed class Foreign : IPeerPredictionMechanism
    {
        public string Name => "foreign";
        public MechanismOptions Options => new RptscOptions();
        public PaymentResult Pay(LabelMatrix reports, ComputeOptions? compute = null, IProgress<WorkProgress>? progress = null,
            CancellationToken cancellationToken = default) => throw new NotSupportedException();
    }

    [Fact]
    public void The_catalog_resolves_reform_names()
    {
        Assert.Equal("reform:ca", MechanismCatalog.Resolve("reform:ca")!.Name);
        Assert.Equal("reform:tvd-mi", MechanismCatalog.Resolve("REFORM:tvdmi")!.Name);
        Assert.Equal("reform:rptsc", MechanismCatalog.Resolve("reform")!.Name);
        Assert.Equal("dmi", MechanismCatalog.Resolve("determinant-mutual-information")!.Name);
        Assert.False(MechanismCatalog.Resolve("ca")!.Reform);
        Assert.Null(MechanismCatalog.Resolve("reform:nope"));
        Assert.Null(MechanismCatalog.Resolve("nope"));
        string message = MechanismCatalog.Unknown("nope");
        foreach (var m in MechanismCatalog.All)
        {
            Assert.Contains(m.Name, message);
            Assert.Contains("reform:" + m.Name, message);
        }
    }
}
