using Tally.Aggregation.Pairwise;
using Tally.Application;
using Tally.Catalogs;
using Tally.Core;
using Tally.Metrics;
using Tally.Simulation;
using Xunit.Abstractions;

namespace Tally.Tests;

/// <summary>The Bradley-Terry family: a hand-checked example, recovery of true scores with spammers, components, errors.</summary>
public sealed class PairwiseTests(ITestOutputHelper output)
{
    private static PairwiseComparisons Of(params (string Worker, string Left, string Right, string Winner)[] rows) =>
        PairwiseComparisons.Create(rows.Select(r => (r.Worker, r.Left, r.Right, r.Winner == r.Left)).ToList());

    public static TheoryData<string> Methods => [.. PairwiseCatalog.All.Select(m => m.Name)];

    [Fact]
    public void Bradley_terry_matches_the_hand_computed_three_item_example()
    {
        // a beats b 2 of 3 times, b beats c 2 of 3 times, a and c never meet. The graph is a path, so the maximum
        // likelihood fits each edge exactly: γa/γb = 2 and γb/γc = 2, i.e. θ = (ln 2, 0, −ln 2) once centred.
        var c = Of(("w1", "a", "b", "a"), ("w2", "a", "b", "a"), ("w3", "b", "a", "b"),
                   ("w1", "b", "c", "b"), ("w2", "c", "b", "b"), ("w3", "b", "c", "c"));
        var r = new BradleyTerry(new BradleyTerryOptions { Regularization = 0, Tolerance = 0, MaxIterations = 2000 }).Aggregate(c);
        Assert.Equal(Math.Log(2), r.Scores[0], 9);
        Assert.Equal(0, r.Scores[1], 9);
        Assert.Equal(-Math.Log(2), r.Scores[2], 9);
        Assert.Equal(2.0 / 3, r.Probability(0, 1), 9);
        Assert.Equal(0.8, r.Probability(0, 2), 9); // 4 / (4 + 1)
        Assert.Equal([1, 2, 3], r.Ranks.ToArray());
        // Fisher information: each edge carries 3 · (2/3)(1/3) = 2/3, so Var(θa − θb) = 3/2 on a path (no other route).
        double z = (Math.Log(2) - 0) / Math.Sqrt(1.5);
        Assert.Equal(NormalDistribution.Cdf(z), r.RankConfidence[0], 9);
        Assert.Single(r.ComponentSizes);
    }

    [Fact]
    public void Regularisation_keeps_an_unbeaten_item_finite_and_on_top()
    {
        var c = Of(("w", "a", "b", "a"), ("w", "a", "c", "a"), ("w", "b", "c", "b"), ("w", "c", "b", "b"), ("w", "c", "b", "c"));
        foreach (var m in PairwiseCatalog.All)
        {
            var r = m.Create(new PairwiseMethodOptions()).Aggregate(c);
            Assert.Equal(1, r.Ranks[0]);
            Assert.All(r.Scores, s => Assert.True(double.IsFinite(s) && Math.Abs(s) < 10, $"{m.Name}: {s}"));
        }
    }

    [Fact]
    public void Without_regularisation_an_item_that_never_loses_is_a_clear_error()
    {
        var c = Of(("w", "a", "b", "a"), ("w", "b", "c", "b"), ("w", "c", "b", "b"), ("w", "c", "b", "c"));
        var e = Assert.Throws<TallyUserException>(() => new BradleyTerry(new BradleyTerryOptions { Regularization = 0 }).Aggregate(c));
        Assert.Contains("item 'a' never loses", e.Message);
        Assert.Contains("--regularization", e.Message);
        // Every item wins and loses, but {a, b} beat {c, d} in every comparison between the groups.
        var split = Of(("w", "a", "b", "a"), ("w", "b", "a", "a"), ("w", "a", "b", "b"), ("w", "c", "d", "c"), ("w", "d", "c", "d"), ("w", "b", "c", "b"));
        e = Assert.Throws<TallyUserException>(() => new BradleyTerry(new BradleyTerryOptions { Regularization = 0 }).Aggregate(split));
        Assert.Contains("one group of items wins every comparison with the rest", e.Message);
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void Disconnected_comparisons_are_ranked_per_component_and_never_against_each_other(string method)
    {
        // {a, b, c} and {x, y} never meet.
        var c = Of(("w1", "a", "b", "a"), ("w2", "b", "c", "b"), ("w1", "a", "c", "a"), ("w2", "b", "a", "a"),
                   ("w1", "x", "y", "y"), ("w2", "y", "x", "y"), ("w3", "x", "y", "x"));
        var r = PairwiseCatalog.Find(method)!.Create(new PairwiseMethodOptions()).Aggregate(c);
        Assert.Equal([3, 2], r.ComponentSizes.ToArray());
        Assert.Equal([0, 0, 0, 1, 1], r.Components.ToArray());
        Assert.Equal([1, 2, 3, 2, 1], r.Ranks.ToArray());
        // Each component is centred on its own.
        Assert.Equal(0, r.Scores[0] + r.Scores[1] + r.Scores[2], 9);
        Assert.Equal(0, r.Scores[3] + r.Scores[4], 9);
        var e = Assert.Throws<InvalidOperationException>(() => r.Probability(0, 3));
        Assert.Contains("different components", e.Message);
    }

    [Fact]
    public void On_simulated_crowds_with_spammers_noisybt_ranks_at_least_as_well_as_bt()
    {
        // 200 items, 20 workers of whom 4 click at random, 150 comparisons each, 5 seeds: Kendall's τ to the true scores.
        var rows = new PairwiseLab().Run(new PairwiseScenario(), seeds: 5);
        foreach (var g in rows.GroupBy(r => r.Method))
            output.WriteLine($"{g.Key,-8} τ {string.Join(" ", g.Select(r => r.KendallTau.ToString("0.0000")))}  mean {g.Average(r => r.KendallTau):0.0000}  skill careful {g.Average(r => r.CarefulSkill):0.000} spammers {g.Average(r => r.SpammerSkill):0.000}");
        double Mean(string m) => rows.Where(r => r.Method == m).Average(r => r.KendallTau);
        Assert.True(Mean("noisybt") >= Mean("bt"), $"NoisyBT τ {Mean("noisybt"):0.0000} < BT τ {Mean("bt"):0.0000}");
        // Not only on average: on every seed (docs/aggregation.md says so).
        foreach (var seed in rows.Select(r => r.Seed).Distinct())
            Assert.True(rows.Single(r => r.Seed == seed && r.Method == "noisybt").KendallTau > rows.Single(r => r.Seed == seed && r.Method == "bt").KendallTau, $"seed {seed}");
        Assert.True(Mean("crowdbt") >= Mean("bt"), $"Crowd-BT τ {Mean("crowdbt"):0.0000} < BT τ {Mean("bt"):0.0000}");
        // With 6,000 comparisons of 200 items, every method recovers the order well: τ ≈ 0.65–0.75, far above chance (0).
        Assert.All(rows, r => Assert.True(r.KendallTau > 0.6, $"{r.Method} seed {r.Seed}: τ {r.KendallTau}"));
        // The reliability models find the spammers.
        foreach (var m in new[] { "noisybt", "crowdbt" })
        {
            var g = rows.Where(r => r.Method == m).ToList();
            Assert.True(g.Average(r => r.SpammerSkill) + 0.2 < g.Average(r => r.CarefulSkill), m);
        }
    }
}

/// <summary>The invariants every method keeps: no NaN, row order and thread count change nothing, input errors name their line.</summary>
public sealed class PairwiseInvariantTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-pairwise-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string> Methods => [.. PairwiseCatalog.All.Select(m => m.Name)];

    private string Write(string name, IEnumerable<string> lines)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllLines(path, lines);
        return path;
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void Shuffled_rows_and_any_thread_count_give_identical_files(string method)
    {
        var sim = new PairwiseSimulator().Generate(new PairwiseScenario { Items = 40, Workers = 8, Spammers = 2, ComparisonsPerWorker = 60, Seed = 4 });
        var c = sim.Comparisons;
        var lines = Enumerable.Range(0, c.Count)
            .Select(k => $"{c.Workers[c.ComparisonWorkers[k]]},{c.Items[c.Left[k]]},{c.Items[c.Right[k]]},{c.Items[c.Winner(k)]}").ToList();
        var rng = new Random(9);
        var a = Write("a.csv", ["worker,left,right,label", .. lines]);
        var b = Write("b.csv", ["worker,left,right,label", .. lines.OrderBy(_ => rng.Next())]);
        var ra = PairwiseJob.Run(new PairwiseRequest { Answers = new InputSource(a, null), Method = method, OutputDirectory = Path.Combine(_dir, "a") },
            new ComputeOptions { MaxDegreeOfParallelism = 1 });
        PairwiseJob.Run(new PairwiseRequest { Answers = new InputSource(b, null), Method = method, OutputDirectory = Path.Combine(_dir, "b") },
            new ComputeOptions { MaxDegreeOfParallelism = 4 });
        foreach (var f in new[] { "scores.csv", "workers.csv" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(_dir, "a", f)), File.ReadAllBytes(Path.Combine(_dir, "b", f)));
        // In memory (as a service would call it) the same fit as from the file.
        Assert.Equal(ra.Result.Scores.ToArray(), PairwiseJob.Fit(c, method).Scores.ToArray());
    }

    public static TheoryData<string, string> Degenerate()
    {
        var data = new TheoryData<string, string>();
        string[] inputs =
        [
            "w,a,b,a",                                   // one comparison
            "w,a,b,a;w,a,b,a;w,a,b,a;w,b,a,a",          // one item always wins
            "w,a,b,a;w,b,c,b;w,c,a,c",                   // a perfect cycle: every score equal
            "w1,a,b,a;w2,a,b,b;w1,c,d,c;w2,d,c,d;w3,e,f,f", // three components
        ];
        foreach (var m in PairwiseCatalog.All) foreach (var i in inputs) data.Add(m.Name, i);
        return data;
    }

    [Theory]
    [MemberData(nameof(Degenerate))]
    public void Degenerate_inputs_give_finite_numbers(string method, string rows)
    {
        var path = Write("d.csv", ["worker,left,right,label", .. rows.Split(';')]);
        var o = PairwiseJob.Run(new PairwiseRequest { Answers = new InputSource(path, null), Method = method, OutputDirectory = Path.Combine(_dir, "d") });
        var r = o.Result;
        foreach (var x in r.Scores.Concat(r.StandardErrors).Concat(r.Low).Concat(r.High).Concat(r.RankConfidence).Concat(r.WorkerSkills))
            Assert.True(double.IsFinite(x));
        Assert.All(r.RankConfidence, x => Assert.InRange(x, 0, 1));
        Assert.DoesNotContain("NaN", File.ReadAllText(Path.Combine(_dir, "d", "scores.csv")));
        Assert.Equal(r.ComponentCount > 1, o.ComponentsNotice is not null);
    }

    [Fact]
    public void A_label_that_is_neither_item_is_an_error_naming_its_line()
    {
        var path = Write("bad.csv", ["worker,left,right,label", "w,a,b,a", "w,a,b,c"]);
        var e = Assert.Throws<TallyDataException>(() => ComparisonFiles.Read(path));
        Assert.Equal($"{path}:3: label 'c' is neither the left item 'a' nor the right item 'b' (it must name the winner)", e.Message);
        path = Write("self.csv", ["worker,left,right,label", "w,a,a,a"]);
        e = Assert.Throws<TallyDataException>(() => ComparisonFiles.Read(path));
        Assert.Contains(":2: item 'a' is compared with itself", e.Message);
    }

    [Fact]
    public void Kendall_tau_against_a_truth_file_and_the_components_notice()
    {
        var path = Write("c.csv", ["worker,left,right,label", "w,a,b,a", "w,b,c,b", "w,a,c,a", "w,x,y,y", "w,y,x,y"]);
        var truth = Write("t.csv", ["item,score", "a,3", "b,2", "c,1", "x,0", "y,5", "z,9"]);
        var o = PairwiseJob.Run(new PairwiseRequest { Answers = new InputSource(path, null), Method = "bt", TruthPath = truth });
        Assert.Equal(1, o.KendallTau!.Value, 12);
        Assert.Equal(5, o.ScoredItems);
        Assert.Equal(1, o.UnknownTruthItems);
        Assert.Contains("2 groups that are never compared with each other (0: 3 items from 'a'; 1: 2 items from 'x')", o.ComponentsNotice);
        Assert.Contains("no order between groups is claimed", o.ComponentsNotice);
    }
}
