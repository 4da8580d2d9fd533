using Tally.Aggregation;
using Tally.Application;
using Tally.Catalogs;
using Tally.Simulation;

namespace Tally.Tests;

/// <summary>
/// Results depend on the answers and the seed only: not on the order of the rows in the file, and not on how many
/// threads run — checked on the bytes of the output files, for every registered method.
/// </summary>
public sealed class AggregatorDeterminismTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "tally-determinism-" + Guid.NewGuid().ToString("N"));

    public AggregatorDeterminismTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    public static IEnumerable<object[]> Methods => TestData.AllMethods();

    private static IAggregator Make(string name) => AggregatorCatalog.Find(name)!.Create(new CommonMethodOptions(Seed: 3));

    private static LabelMatrix Crowd(string method, int tasks, int seed)
    {
        int k = AggregatorCatalog.Find(method)!.BinaryOnly ? 2 : 3;
        return new DawidSkeneSimulator().Generate(new DawidSkeneScenario
        {
            Tasks = tasks, Workers = 40, PerTask = 5, Classes = k, Accuracy = 0.7, AccuracySpread = 0.15, Seed = seed,
        }).Answers;
    }

    /// <summary>Every output file of a result (and the saved model), by name.</summary>
    private SortedDictionary<string, byte[]> Outputs(AggregationResult r, string name)
    {
        var dir = Path.Combine(_dir, name);
        AggregationWriter.Write(r, dir, OutputFormat.Csv);
        AggregationWriter.Write(r, dir, OutputFormat.Json);
        r.Model.Save(Path.Combine(dir, "model.json"));
        var files = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var f in Directory.GetFiles(dir)) files[Path.GetFileName(f)] = File.ReadAllBytes(f);
        return files;
    }

    private static void AssertSameFiles(SortedDictionary<string, byte[]> a, SortedDictionary<string, byte[]> b, string what)
    {
        Assert.Equal(a.Keys, b.Keys);
        foreach (var (name, bytes) in a)
            Assert.True(bytes.AsSpan().SequenceEqual(b[name]), $"{what}: {name} differs");
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void Shuffling_the_input_rows_gives_identical_output_files(string method)
    {
        var m = Crowd(method, 600, 21);
        var inOrder = Path.Combine(_dir, "in-order.csv");
        AnswerFiles.WriteAnswers(m, inOrder);
        var lines = File.ReadAllLines(inOrder);
        var rng = new Random(5);
        var body = lines.Skip(1).OrderBy(_ => rng.Next()).ToArray();
        var shuffled = Path.Combine(_dir, "shuffled.csv");
        File.WriteAllLines(shuffled, [lines[0], .. body]);
        Assert.NotEqual(lines.Skip(1).First(), body[0]);

        var a = Make(method).Aggregate(AnswerFiles.ReadAnswers(inOrder).Matrix);
        var b = Make(method).Aggregate(AnswerFiles.ReadAnswers(shuffled).Matrix);
        AssertSameFiles(Outputs(a, method + "-a"), Outputs(b, method + "-b"), method);
    }

    [Theory]
    [Trait("Category", "Slow")]
    [MemberData(nameof(Methods))]
    public void One_thread_and_four_threads_give_bit_identical_output(string method)
    {
        // 20,000 tasks × 5 answers × K: above the size at which the loops go parallel. BP's factor sweeps cost
        // answers × Monte-Carlo draws, so they go parallel (and would take a minute) at a tenth of that.
        var m = Crowd(method, method == "bp" ? 2_000 : 20_000, 8);
        var one = Make(method).Aggregate(m, new ComputeOptions { MaxDegreeOfParallelism = 1 });
        var four = Make(method).Aggregate(m, new ComputeOptions { MaxDegreeOfParallelism = 4 });
        Assert.Equal(one.Iterations, four.Iterations);
        AssertSameFiles(Outputs(one, method + "-1"), Outputs(four, method + "-4"), method);
    }
}
