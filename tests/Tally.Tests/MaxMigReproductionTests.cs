using Tally.Application;
using Tally.Core;
using Tally.Learning;
using Tally.Simulation;
using Xunit;

namespace Tally.Tests;

/// <summary>The like-for-like Max-MIG reproduction (<c>tally lab maxmig-table</c>) and the drop-partial-batch option it uses.</summary>
public sealed class MaxMigReproductionTests
{
    [Fact]
    public void The_six_settings_parse_from_their_headings_with_or_without_brackets_and_anything_else_is_refused()
    {
        foreach (var s in ExpertSetting.PaperOrder)
        {
            Assert.Equal(s, ExpertSetting.Parse(s.Label));
            Assert.Equal(s, ExpertSetting.Parse(s.Label.Replace("(", "").Replace(")", "").ToLowerInvariant()));
        }
        Assert.Equal(["4.1(H)", "4.2(H)", "4.3(H)", "4.1(L)", "4.2(L)", "4.3(L)"], ExpertSetting.PaperOrder.Select(s => s.Label));
        var e = Assert.Throws<InvalidOptionException>(() => ExpertSetting.Parse("4.4H"));
        Assert.Contains("4.3(L)", e.Message);
    }

    [Fact]
    public void Options_refuse_a_method_the_reproduction_does_not_run_and_too_small_batches()
    {
        var e = Assert.Throws<InvalidOptionException>(() => new MaxMigReproductionOptions { Methods = ["maxmig", "deepbp"] }.Validate());
        Assert.Equal("Methods", e.Option);
        Assert.Contains("deepbp", e.Message);
        Assert.Equal("BatchSize", Assert.Throws<InvalidOptionException>(() => new MaxMigReproductionOptions { BatchSize = 1 }.Validate()).Option);
    }

    [Fact]
    public void Dropping_the_partial_batch_changes_nothing_when_the_rows_fill_whole_batches_and_skips_the_remainder_otherwise()
    {
        var rng = new Random(3);
        double[][] Rows(int n) => [.. Enumerable.Range(0, n).Select(i => new[] { rng.NextDouble() + (i % 2), rng.NextDouble() })];
        double[][] Labels(int n) => [.. Enumerable.Range(0, n).Select(i => i % 2 == 0 ? new[] { 1.0, 0.0 } : new[] { 0.0, 1.0 })];
        var options = new DenseNetworkOptions { Epochs = 3, BatchSize = 16, ValidationFraction = 0, Seed = 1 };
        double[][] Fit(double[][] x, double[][] y, bool drop)
        {
            var net = new DenseNetwork(options with { DropPartialBatch = drop });
            net.Fit(x, y);
            return net.PredictProbabilities(x);
        }
        var whole = Rows(64);
        Assert.Equal(Fit(whole, Labels(64), false), Fit(whole, Labels(64), true));
        var ragged = Rows(70);
        var kept = Fit(ragged, Labels(70), false);
        var dropped = Fit(ragged, Labels(70), true);
        Assert.NotEqual(kept, dropped);
        Assert.All(dropped, row => Assert.All(row, p => Assert.True(double.IsFinite(p))));
    }

    [FashionMnistFact]
    public void A_small_reproduction_is_deterministic_whatever_the_threads_and_the_forecasters_use_the_test_crowd()
    {
        var train = FashionMnist.Load(320, FashionMnistSplit.Train);
        var test = FashionMnist.Load(300, FashionMnistSplit.Test);
        var options = new MaxMigReproductionOptions
        {
            Methods = ["maxmig", "em", "mv"],
            Settings = [ExpertSetting.Parse("4.1H"), ExpertSetting.Parse("4.3H")],
            Runs = 2, Epochs = 3, EmRounds = 2, Hidden = [],
        };
        var parallel = MaxMigReproduction.Run(train, test, options);
        var sequential = MaxMigReproduction.Run(train, test, options, ComputeOptions.Sequential);
        Assert.Equal(2 * 3 * 2, parallel.Length);
        Assert.Equal(parallel.Select(r => r with { Seconds = 0 }), sequential.Select(r => r with { Seconds = 0 }));
        Assert.Equal(["maxmig", "maxmig", "em", "em", "mv", "mv"], parallel.Take(6).Select(r => r.Method));
        foreach (var r in parallel)
        {
            Assert.InRange(r.LastEpoch, 0, 1);
            Assert.True(r.BestEpoch >= r.LastEpoch, $"{r.Method} best {r.BestEpoch} < last {r.LastEpoch}");
            Assert.Equal(r.Method is "maxmig" or "em", r.Forecaster is not null);
            if (r.Method == "maxmig") Assert.InRange(r.BestEpochIndex, 1, 3);
        }
        // The forecaster also reads the test images' own expert answers, so it beats the classifier by far in the
        // independent-mistakes setting (5 seniors who confuse only the hard pairs), as in the paper's Table 3.
        foreach (var r in parallel.Where(r => r.Forecaster is not null && r.Setting == ExpertSetting.Parse("4.1H")))
            Assert.True(r.Forecaster > r.LastEpoch + 0.1, $"{r.Method}: forecaster {r.Forecaster} vs classifier {r.LastEpoch}");
    }

    [FashionMnistFact]
    public void A_stopped_reproduction_resumes_from_its_journal_and_gives_the_table_of_an_uninterrupted_one()
    {
        string dir = Directory.CreateTempSubdirectory("tally-maxmig-journal-").FullName;
        try
        {
            var options = new MaxMigReproductionOptions { Methods = ["maxmig"], Settings = [ExpertSetting.Parse("4.3H")], Runs = 1, Epochs = 1, Hidden = [] };
            var request = new MaxMigReproductionRequest { Options = options, TrainItems = 320, TestItems = 300, OutputDirectory = dir };
            var first = MaxMigReproductionJob.Run(request);
            Assert.Equal(0, first.Resumed);
            string journal = Path.Combine(dir, "reproduction.journal.jsonl");
            Assert.Equal(2, File.ReadAllLines(journal).Length); // the header and the one run

            // Started again with more methods and runs: the journalled run is taken as it is, the others trained.
            var wider = request with { Options = options with { Methods = ["maxmig", "mv"], Runs = 2 } };
            var second = MaxMigReproductionJob.Run(wider);
            Assert.Equal(1, second.Resumed);
            Assert.Equal(first.Runs[0], second.Runs[0]);
            var uninterrupted = MaxMigReproductionJob.Run(wider with { OutputDirectory = null });
            Assert.Equal(uninterrupted.Runs.Select(r => r with { Seconds = 0 }), second.Runs.Select(r => r with { Seconds = 0 }));

            // A line cut short by a kill is dropped (and the file repaired so the next line starts on its own).
            File.AppendAllText(journal, "{\"setting\":\"4.3(H)\",\"meth");
            var third = MaxMigReproductionJob.Run(wider);
            Assert.Equal(4, third.Resumed);
            Assert.EndsWith("}\n", File.ReadAllText(journal));

            // Other options: refused, naming what differs, and the journal is left alone.
            string before = File.ReadAllText(journal);
            var e = Assert.Throws<TallyUserException>(() => MaxMigReproductionJob.Run(wider with { Options = wider.Options with { Epochs = 2 } }));
            Assert.Contains("epochs 1 in the journal, 2 now", e.Message);
            Assert.Equal(before, File.ReadAllText(journal));

            // Damage before the last line is reported with its line number.
            var lines = File.ReadAllLines(journal);
            lines[1] = "{\"setting\":\"4.9(H)\"}";
            File.WriteAllLines(journal, lines);
            e = Assert.Throws<TallyUserException>(() => MaxMigReproductionJob.Run(wider));
            Assert.Contains("line 2", e.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
