using Tally.Mechanisms;
using Tally.Mechanisms.Reputation;

namespace Tally.Tests;

/// <summary>REFORM over RPTSC: k = 1 is RPTSC, the chance rules, campaign state round trips, no NaN.</summary>
public class ReformTests
{
    /// <summary>
    /// A synthetic round in the paper's style: agents 0..trust−1 report the truth with probability 0.9, the others
    /// uniformly at random; each agent answers <paramref name="perAgent"/> random distinct tasks at a random time.
    /// </summary>
    private static Round MakeRound(int index, int agents, int trust, int tasks, int perAgent, int classes, int seed, bool times = true)
    {
        var rng = new Random(seed);
        var truth = new int[tasks];
        for (int t = 0; t < tasks; t++) truth[t] = rng.Next(classes);
        var reports = new List<RoundReport>();
        for (int a = 0; a < agents; a++)
        {
            var mine = Enumerable.Range(0, tasks).OrderBy(_ => rng.Next()).Take(perAgent);
            foreach (int t in mine)
            {
                int y = a < trust ? (rng.NextDouble() < 0.9 ? truth[t] : rng.Next(classes)) : rng.Next(classes);
                reports.Add(new RoundReport($"agent{a:D3}", t, y, times ? rng.Next(1, 120) : null));
            }
        }
        return new Round(index, tasks, classes, reports, Enumerable.Repeat<double?>(100.0, tasks));
    }

    [Fact]
    public void With_one_chance_reform_is_rptsc_for_the_same_seed()
    {
        var round = MakeRound(1, 60, 36, 10, 3, 3, 11);
        var term = new TermReputation();
        term.Update(RoundEvidence.Draw(MakeRound(0, 60, 36, 10, 3, 3, 12), 5));
        var options = new RptscOptions { Alpha = 10, SampleSize = 20, Seed = 42 };
        var reform = new Reform(new Rptsc(options), new ReformOptions { Chances = 1 }).Pay(round, term);
        var rptsc = new Rptsc(options).Pay(round.ToLabelMatrix());
        Assert.Equal(rptsc.Payments.ToArray(), reform.Payments.ToArray());
        Assert.Equal(rptsc.TasksScored.ToArray(), reform.TasksScored.ToArray());
        Assert.Equal(reform.TasksScored.ToArray(), reform.ChancesUsed.ToArray());
        Assert.True(round.LateCount > 0);
        Assert.Equal(round.LateCount, reform.LateReports);
    }

    [Fact]
    public void Extra_chances_follow_the_rules()
    {
        const int k = 3;
        var campaign = new Campaign(new Reform(new Rptsc(new RptscOptions { Alpha = 11, SampleSize = 10 }), new ReformOptions { Chances = k }), new TermReputation());
        ReformResult? last = null;
        for (int j = 1; j <= 8; j++) last = campaign.Play(MakeRound(j, 40, 24, 6, 1, 3, 100 + j, times: false), 9);
        Assert.NotNull(last);
        bool anyExtra = false;
        for (int i = 0; i < last.Agents.Length; i++)
        {
            Assert.InRange(last.ChancesUsed[i], last.TasksScored[i], k * last.TasksScored[i]);
            Assert.Equal(last.ChancesUsed[i], last.Peers[i].Length);
            Assert.DoesNotContain(last.Agents[i], last.Peers[i]);
            Assert.Equal(last.Peers[i].Length, last.Peers[i].Distinct().Count());   // one task each: peers distinct
            // The reputation rule itself is checked on a hand-built state below; here only the bounds.
            if (last.ChancesUsed[i] > 1) anyExtra = true;
        }
        Assert.True(anyExtra);
        Assert.All(last.Payments, p => Assert.True(double.IsFinite(p)));
    }

    [Fact]
    public void Lowest_reputation_never_gets_an_extra_chance_and_the_highest_always_may()
    {
        // Hand-built TERM state: z has the lowest ψ, a the highest; on task 0 a and z disagree with everyone.
        var term = new TermReputation(new TermOptions { Lambda = 1 });
        term.Update(new RoundEvidence(1,
        [
            new ReportEvidence("a", true, 0.25, 1), new ReportEvidence("b", true, 0.5, 1),
            new ReportEvidence("c", true, 1, 1), new ReportEvidence("z", false, 1, 1),
        ]));
        var round = new Round(2, 2, 3,
        [
            new("a", 0, 2), new("b", 0, 0), new("c", 0, 0), new("z", 0, 1),
            new("b", 1, 0), new("c", 1, 1),
        ]);
        for (int seed = 0; seed < 20; seed++)
        {
            var r = new Reform(options: new ReformOptions { Chances = 5 }).WithSeed(seed).Pay(round, term);
            int a = r.Agents.IndexOf("a"), z = r.Agents.IndexOf("z");
            Assert.Equal(3, r.ChancesUsed[a]);            // beats b, c and z: tries all three, never matches
            Assert.Equal(1, r.ChancesUsed[z]);            // beats nobody
            Assert.Equal(["b", "c", "z"], r.Peers[a].Order().ToArray());
        }
    }

    [Fact]
    public void Reform_ranks_by_psi_where_term_scores_underflow()
    {
        // λ = 1 and 40 lost rounds: ψ(bad) = ψ(d) = −40, ψ(worse) = −30 (joined 10 rounds later); all three Ω are 0.
        var term = new TermReputation(new TermOptions { Lambda = 1 });
        for (int j = 1; j <= 40; j++)
        {
            var ev = new List<ReportEvidence> { new("top", true, 0.5, 1), new("bad", false, 0.5, 1), new("d", false, 0.5, 1) };
            if (j > 10) ev.Add(new("worse", false, 0.5, 1));
            term.Update(new RoundEvidence(j, [.. ev]));
        }
        Assert.Equal(0, term.Score("worse"));
        Assert.Equal(0, term.Score("bad"));
        var round = new Round(41, 2, 2, [new("worse", 0, 1), new("bad", 0, 0), new("d", 0, 0), new("bad", 1, 0), new("d", 1, 1)]);
        for (int seed = 0; seed < 10; seed++)
        {
            var r = new Reform(options: new ReformOptions { Chances = 3 }).WithSeed(seed).Pay(round, term);
            Assert.Equal(2, r.ChancesUsed[r.Agents.IndexOf("worse")]);   // beats both peers on ψ, though all Ω tie at 0
            int bad = r.Agents.IndexOf("bad");
            Assert.Equal(r.TasksScored[bad], r.ChancesUsed[bad]);   // ties d (not strictly greater), below worse: one chance per report
        }
    }

    [Fact]
    public void Extra_chances_raise_trustworthy_pay_more_than_random_pay()
    {
        // The paper's simulation in small (§6): 60% trustworthy agents, answer space {0, 1, 2}, one task each per
        // round, α = 11; REFORM with k = 2 should pay trustworthy agents more than k = 1 (= RPTSC) does, and help
        // random agents less. Deterministic for the seeds below.
        (double Trust, double Random) Mean(int k)
        {
            var campaign = new Campaign(new Reform(new Rptsc(new RptscOptions { Alpha = 11, SampleSize = 10 }), new ReformOptions { Chances = k }), new TermReputation());
            double ta = 0, ra = 0; int nt = 0, nr = 0;
            for (int j = 1; j <= 30; j++)
            {
                var r = campaign.Play(MakeRound(j, 150, 90, 10, 1, 3, 500 + j, times: false), 17);
                for (int i = 0; i < r.Agents.Length; i++)
                {
                    if (r.TasksScored[i] == 0) continue;
                    if (int.Parse(r.Agents[i].AsSpan(5)) < 90) { ta += r.Payments[i]; nt++; } else { ra += r.Payments[i]; nr++; }
                }
            }
            return (ta / nt, ra / nr);
        }
        var one = Mean(1);
        var two = Mean(2);
        Assert.True(two.Trust > one.Trust, $"k = 2: {two.Trust}, k = 1: {one.Trust}");
        Assert.True(two.Trust - one.Trust > two.Random - one.Random, $"random gain {two.Random - one.Random}");
    }

    [Fact]
    public void Decay_multiplies_the_payment()
    {
        var round = MakeRound(1, 30, 20, 5, 2, 3, 3);
        var term = new TermReputation();
        var plain = new Reform(options: new ReformOptions { Chances = 2 }).WithSeed(1).Pay(round, term);
        var decayed = new Reform(options: new ReformOptions { Chances = 2, Decay = new LinearDecay(1e15) }).WithSeed(1).Pay(round, term);
        for (int i = 0; i < plain.Payments.Length; i++) Assert.Equal(plain.Payments[i], decayed.Payments[i], 6);
        var zero = new Reform(options: new ReformOptions { Chances = 2, Decay = new LinearDecay(1e-9) }).WithSeed(1).Pay(round, term);
        Assert.All(zero.Payments, p => Assert.Equal(0, p, 12));
    }

    [Fact]
    public void Campaign_state_round_trips_exactly()
    {
        string dir = Path.Combine(Path.GetTempPath(), "tally-reform-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            foreach (IReputationModel model in new IReputationModel[] { new TermReputation(), new BetaReputation() })
            {
                var a = new Campaign(new Reform(options: new ReformOptions { Chances = 3, Decay = new ExponentialDecay(90) }), model);
                for (int j = 1; j <= 5; j++) a.Play(MakeRound(j, 50, 30, 8, 2, 3, 200 + j), 4);
                string path = Path.Combine(dir, "campaign.json");
                File.WriteAllText(path, "old");
                a.Save(path);
                a.Save(path);   // overwriting works
                Assert.Single(Directory.GetFiles(dir));
                var b = Campaign.Load(path);
                Assert.Equal(a.ToJson(), b.ToJson());
                for (int j = 6; j <= 8; j++)
                {
                    var round = MakeRound(j, 50, 30, 8, 2, 3, 300 + j);
                    var ra = a.Play(round, j);
                    var rb = b.Play(round, j);
                    Assert.Equal(ra.Payments.ToArray(), rb.Payments.ToArray());
                    Assert.Equal(ra.ChancesUsed.ToArray(), rb.ChancesUsed.ToArray());
                }
                Assert.Equal(a.ToJson(), b.ToJson());
            }
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void No_nan_on_degenerate_rounds()
    {
        var term = new TermReputation();
        var reform = new Reform(options: new ReformOptions { Chances = 3, Decay = new ExponentialDecay() });
        Round[] rounds =
        [
            new Round(1, 1, 2, [new("a", 0, 0, 0)]),                                 // no peer
            new Round(2, 1, 2, [new("a", 0, 0, 0), new("b", 0, 0, 0)]),              // no other task: unscored
            new Round(3, 2, 2, [new("a", 0, 0), new("b", 0, 0), new("a", 1, 0), new("b", 1, 0)]),   // all the same
            new Round(4, 2, 2, [new("a", 0, 0, 9), new("b", 0, 1, 9)], [1.0, 1.0]),  // everything late
            new Round(5, 0, 1, []),
        ];
        var campaign = new Campaign(reform, term);
        foreach (var round in rounds)
        {
            var r = campaign.Play(round, round.Index);
            Assert.All(r.Payments, p => Assert.True(double.IsFinite(p)));
            foreach (var agent in round.Agents())
            {
                Assert.True(double.IsFinite(term.Score(agent)));
                Assert.True(double.IsFinite(term.Key(agent)));
            }
        }
    }
}
