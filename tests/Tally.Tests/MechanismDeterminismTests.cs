using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Tally.Application;
using Tally.Catalogs;
using Tally.Core;
using Tally.Mechanisms;
using Tally.Mechanisms.Reputation;

namespace Tally.Tests;

/// <summary>
/// Payments depend on the reports and the seed only: not on the rows' order (through <see cref="PayJob"/>, for every
/// registered mechanism and its REFORM wrapper), not on the thread count; calls report progress and honour cancellation.
/// </summary>
public sealed class MechanismDeterminismTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-mech-det-").FullName;

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    public static IEnumerable<object[]> Names() => MechanismCatalog.Names.Select(n => new object[] { n });

    public static IEnumerable<object[]> Registered() => MechanismCatalog.All.Select(m => new object[] { m.Name });

    /// <summary>
    /// A round's reports as CSV lines (no header): numeric agent ids (so their natural order is not the ordinal one),
    /// named tasks and classes, answer times; 40 agents (half of them answering at random, so REFORM has mismatches to
    /// re-pair) on 50 tasks, each answered with probability 0.75.
    /// </summary>
    private static List<string> Lines(int seed)
    {
        var rng = new Random(seed);
        string[] classes = ["fox", "cat", "dog"];
        var truth = Enumerable.Range(0, 50).Select(_ => rng.Next(3)).ToArray();
        var lines = new List<string>();
        for (int a = 0; a < 40; a++)
            for (int t = 0; t < 50; t++)
            {
                if (rng.NextDouble() >= 0.75) continue;
                int y = a < 20 && rng.NextDouble() < 0.85 ? truth[t] : rng.Next(3);
                lines.Add(string.Create(CultureInfo.InvariantCulture, $"task{t},{3 * a + 1},{classes[y]},{5 + 100 * rng.NextDouble():0.0}"));
            }
        return lines;
    }

    private string Write(string name, IEnumerable<string> lines)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllLines(path, ["task,worker,label,seconds", .. lines]);
        return path;
    }

    private static List<string> Shuffled(List<string> lines, int seed)
    {
        var copy = lines.ToList();
        new Random(seed).Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(copy));
        Assert.NotEqual(lines, copy);
        return copy;
    }

    private PayOutcome Pay(string mechanism, string reports, string outDir, string? state = null)
    {
        string? statePath = state is null ? null : Path.Combine(_dir, state);
        bool reform = mechanism.StartsWith("reform:", StringComparison.Ordinal);
        // A new campaign gets k = 3 and decay from the answer times; a resumed one keeps them.
        bool starting = statePath is null || !File.Exists(statePath);
        return PayJob.Run(new PayRequest
        {
            Reports = new InputSource(reports, null, "reports"),
            Mechanism = mechanism,
            Seed = 3,
            OutputDirectory = Path.Combine(_dir, outDir),
            Reform = !reform ? new ReformSettings()
                : starting ? new ReformSettings { StatePath = statePath, Chances = 3, Decay = "exponential:60" }
                : new ReformSettings { StatePath = statePath },
        });
    }

    private byte[] Bytes(string outDir) => File.ReadAllBytes(Path.Combine(_dir, outDir, "payments.csv"));

    [Theory]
    [MemberData(nameof(Names))]
    public void Shuffled_rows_give_a_byte_identical_payments_file(string mechanism)
    {
        var r0 = Lines(1);
        var r1 = Lines(2);
        string original0 = Write("r0.csv", r0), original1 = Write("r1.csv", r1);
        string shuffled0 = Write("s0.csv", Shuffled(r0, 10)), shuffled1 = Write("s1.csv", Shuffled(r1, 11));
        if (!mechanism.StartsWith("reform:", StringComparison.Ordinal))
        {
            var a = Pay(mechanism, original0, "a");
            Pay(mechanism, shuffled0, "b");
            Assert.True(a.Summary.Unscored < 40, $"{mechanism}: nobody was scored");
            Assert.Equal(Bytes("a"), Bytes("b"));
            return;
        }
        // Two rounds of a campaign, so the second is paid with reputations and extra chances (and decay from the times).
        Pay(mechanism, original0, "a0", "a.json");
        var a1 = Pay(mechanism, original1, "a1", "a.json");
        Pay(mechanism, shuffled0, "b0", "b.json");
        Pay(mechanism, shuffled1, "b1", "b.json");
        Assert.Equal(Bytes("a0"), Bytes("b0"));
        Assert.Equal(Bytes("a1"), Bytes("b1"));
        Assert.Equal(File.ReadAllBytes(Path.Combine(_dir, "a.json")), File.ReadAllBytes(Path.Combine(_dir, "b.json")));
        Assert.Equal(1, a1.Reform!.Round);
        if (mechanism is not ("reform:dmi" or "reform:rmif-ds")) Assert.True(a1.Reform.ExtraChances > 0, $"{mechanism}: no re-pairing to test");
    }

    /// <summary>
    /// 250 agents × 800 tasks, dense, K = 3: 200,000 reports, so every mechanism's work estimate (at least one step per
    /// report) reaches <see cref="Parallelism.MinParallelWork"/> and its loops run in parallel when allowed.
    /// </summary>
    private static readonly Lazy<LabelMatrix> Large = new(() =>
        MechanismTestData.Simulate(250, 800, 3, Simulation.PeerStrategy.Truthful, accuracy: 0.6, seed: 5).Reports);

    private static void AssertIdentical(PaymentResult a, PaymentResult b)
    {
        Assert.Equal(a.Payments.ToArray(), b.Payments.ToArray());
        Assert.Equal(a.TasksScored.ToArray(), b.TasksScored.ToArray());
        Assert.Equal(a.Breakdown.Keys.Order(), b.Breakdown.Keys.Order());
        foreach (var (k, v) in a.Breakdown) Assert.Equal(v.ToArray(), b.Breakdown[k].ToArray());
    }

    private static readonly ComputeOptions One = ComputeOptions.Sequential, Four = new() { MaxDegreeOfParallelism = 4 };

    [Theory]
    [Trait("Category", "Slow")]
    [MemberData(nameof(Registered))]
    public void One_and_four_threads_pay_bit_identically(string name)
    {
        var m = Large.Value;
        Assert.True(m.AnswerCount >= Parallelism.MinParallelWork);
        var mechanism = MechanismCatalog.Find(name)!.Create(17);
        var one = mechanism.Pay(m, One);
        var four = mechanism.Pay(m, Four);
        Assert.True(one.UnscoredCount < m.WorkerCount);
        AssertIdentical(one, four);
    }

    /// <summary>A reputation model with fixed keys (agent index mod 7), so REFORM re-pairs without a history to build.</summary>
    private sealed class FixedReputation(IReadOnlyList<string> agents) : IReputationModel
    {
        private readonly Dictionary<string, double> _keys = agents.Select((a, i) => (a, i)).ToDictionary(p => p.a, p => (double)(p.i % 7));
        public string Name => "fixed";
        public int? LastRound => 0;
        public void Update(RoundEvidence evidence) => throw new NotSupportedException();
        public double Score(string agent) => _keys[agent];
        public double Key(string agent) => _keys[agent];
        public ReputationState Save() => throw new NotSupportedException();
    }

    private static readonly Lazy<Round> LargeRound = new(() =>
    {
        var m = Large.Value;
        var reports = new List<RoundReport>(m.AnswerCount);
        for (int w = 0; w < m.WorkerCount; w++)
        {
            var tasks = m.TasksOf(w);
            var labels = m.LabelsBy(w);
            for (int p = 0; p < tasks.Length; p++) reports.Add(new RoundReport($"agent{w:D3}", tasks[p], labels[p], (w * 31 + p * 7) % 120));
        }
        return new Round(1, m.TaskCount, m.ClassCount, reports);
    });

    [Theory]
    [Trait("Category", "Slow")]
    [MemberData(nameof(Registered))]
    public void One_and_four_threads_pay_bit_identically_under_reform(string name)
    {
        var round = LargeRound.Value;
        var reputation = new FixedReputation(round.Agents());
        var reform = new Reform(MechanismCatalog.Find(name)!.Create(17), new ReformOptions { Chances = 3, Decay = new ExponentialDecay(60) });
        var one = reform.Pay(round, reputation, One);
        var four = reform.Pay(round, reputation, Four);
        AssertIdentical(one.Result, four.Result);
        Assert.Equal(one.ChancesUsed.ToArray(), four.ChancesUsed.ToArray());
        for (int i = 0; i < one.Peers.Length; i++) Assert.Equal(one.Peers[i].ToArray(), four.Peers[i].ToArray());
        Assert.Equal(one.Optimal?.ToArray(), four.Optimal?.ToArray());
    }

    [Theory]
    [Trait("Category", "Slow")]
    [MemberData(nameof(Registered))]
    public void Progress_counts_every_agent_once_and_only_up(string name)
    {
        var m = Large.Value;
        var seen = new ConcurrentQueue<WorkProgress>();
        MechanismCatalog.Find(name)!.Create().Pay(m, Four, new SyncProgress<WorkProgress>(seen.Enqueue));
        var reports = seen.ToArray();
        Assert.NotEmpty(reports);
        Assert.All(reports, r => Assert.Equal(m.WorkerCount, r.Total));
        for (int i = 1; i < reports.Length; i++) Assert.True(reports[i].Done > reports[i - 1].Done, "progress went back or stood still");
        Assert.Equal(m.WorkerCount, reports[^1].Done);
    }

    [Theory]
    [MemberData(nameof(Registered))]
    public void A_cancelled_token_stops_the_payment(string name)
    {
        var small = MechanismTestData.Simulate(30, 60, 2, Simulation.PeerStrategy.Truthful, seed: 2).Reports;
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        var mechanism = MechanismCatalog.Find(name)!.Create();
        Assert.ThrowsAny<OperationCanceledException>(() => mechanism.Pay(small, One, null, cancelled.Token));
        Assert.ThrowsAny<OperationCanceledException>(() => mechanism.Pay(small, Four, null, cancelled.Token));
    }

    [Theory]
    [Trait("Category", "Slow")]
    [MemberData(nameof(Registered))]
    public void Cancelling_during_the_payment_stops_it(string name)
    {
        var m = Large.Value;
        foreach (var compute in new[] { One, Four })
        {
            using var cts = new CancellationTokenSource();
            int reports = 0;
            var progress = new SyncProgress<WorkProgress>(_ => { Interlocked.Increment(ref reports); cts.Cancel(); });
            Assert.ThrowsAny<OperationCanceledException>(() => MechanismCatalog.Find(name)!.Create().Pay(m, compute, progress, cts.Token));
            // Stopped long before the end: a block per report, about a hundred blocks in all.
            Assert.InRange(reports, 1, 20);
        }
    }

    [Fact]
    public void Pay_job_progress_ends_with_the_payment_phase()
    {
        var phases = new List<JobProgress>();
        PayJob.Run(new PayRequest { Reports = new InputSource(null, "face", "reports"), Mechanism = "dmi" }, null,
            new SyncProgress<JobProgress>(phases.Add));
        Assert.Equal("Reading reports", phases[0].Phase);
        Assert.Equal(new JobProgress("Paying with dmi", 1), phases[^1]);
    }
}
