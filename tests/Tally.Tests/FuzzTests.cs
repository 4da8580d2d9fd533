using System.Text;
using Tally.Aggregation;
using Tally.Application;
using Tally.Bench;
using Tally.Learning;

namespace Tally.Tests;

/// <summary>
/// The reader fuzzer (<see cref="ReaderFuzz"/>) for a fixed small budget per reader — every input parses to what it
/// says or is refused with an error naming the input, no other exception, no hang, no row gained or lost — and one
/// regression test per finding of the long runs (<c>Tally.Bench fuzz</c>, bench/README.md).
/// </summary>
public sealed class FuzzTests
{
    public static TheoryData<string> Readers => new(ReaderFuzz.Readers);

    [Theory]
    [Trait("Category", "Slow")]
    [MemberData(nameof(Readers))]
    public void Every_reader_survives_a_fixed_fuzzing_budget(string reader)
    {
        FuzzFinding? hang = null;
        var report = ReaderFuzz.Run(reader, 4_000, seed: 2024, threads: 2, hangLimit: TimeSpan.FromSeconds(30), onHang: f => hang = f);
        Assert.Null(hang);
        Assert.Equal(4_000, report.Inputs);
        Assert.True(report.Findings.Count == 0, string.Join("\n", report.Findings.Select(f => $"{f.Kind}: {f.Detail} [{Convert.ToBase64String(f.Input)}]")));
        // Both outcomes are exercised: valid inputs parse, mutated ones are mostly refused.
        Assert.InRange(report.Parsed, 500, 3_500);
        Assert.InRange(report.Rejected, 500, 3_500);
    }

    private static TallyDataException Refused(Func<object> read)
    {
        var e = Assert.Throws<TallyDataException>(() => read());
        Assert.Equal("f", e.Source);
        return e;
    }

    [Fact]
    public void Finding_a_stray_huge_sparse_index_is_refused_at_its_line_instead_of_allocating_gigabytes()
    {
        // svmlight fuzzing: one index of 183,647,999 made a 1.4 GB dense row (a 20 s "hang").
        var bytes = Encoding.ASCII.GetBytes("-1 2:0.5\n-1 183647999:-0.46 2:-0.62\n");
        var e = Refused(() => FeatureFiles.ReadSparse(new MemoryStream(bytes), "f", new SparseFeatureOptions(SparseLeadingToken.Label, OneBased: true)));
        Assert.Equal(2, e.Line);
        Assert.Contains("183,647,999 columns", e.Problem);
        // svmlight fuzzing, 1M run: index 19,999,999 in a 2-row file made 40M zeros (7 s); few entries allow few values.
        e = Refused(() => FeatureFiles.ReadSparse(new MemoryStream("+1 1:-3.74 # comment\r\n-1 19999999:0.14\r\n"u8.ToArray()), "f",
            new SparseFeatureOptions(SparseLeadingToken.Label, OneBased: true)));
        Assert.Equal(2, e.Line);
        Assert.Contains("mistyped", e.Problem);
        // A wide table with many entries is fine: 100 rows × 200,000 columns from 100 × 200 entries.
        var wide = new StringBuilder();
        for (int r = 0; r < 100; r++)
            wide.Append("200 ").AppendJoin(' ', Enumerable.Range(0, 200).Select(j => $"{j * 1000 + r}:1")).Append('\n');
        Assert.Equal(199_100, FeatureFiles.ReadSparse(new MemoryStream(Encoding.ASCII.GetBytes(wide.ToString())), "f").Dimension);
        // An index at int.MaxValue does not overflow the width either.
        e = Refused(() => FeatureFiles.ReadSparse(new MemoryStream(Encoding.ASCII.GetBytes("1 2147483647:1\n")), "f"));
        Assert.Equal(1, e.Line);
    }

    private static byte[] SavedModel()
    {
        var net = new DenseNetwork(new DenseNetworkOptions { Hidden = [3], Epochs = 1, Seed = 1 });
        net.Fit([[0.0, 1.0], [1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]);
        var ms = new MemoryStream();
        new LearnedModel { Method = "mv", Classes = ["no", "yes"], FeatureNames = ["f0", "f1"], Classifier = net }.Save(ms);
        return ms.ToArray();
    }

    /// <summary>The offset of the network's layer widths in <see cref="SavedModel"/>'s bytes (after the header and the options).</summary>
    private static int WidthsOffset(byte[] model)
    {
        int net = model.AsSpan().IndexOf("TLDN"u8);
        // magic, version, hidden count + 1 width, epochs, batch, 4 doubles... : find the widths by their known values.
        ReadOnlySpan<byte> widths = [3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0]; // count 3, then 2, 3, 2
        return net + model.AsSpan(net).IndexOf(widths);
    }

    [Fact]
    public void Finding_a_corrupt_layer_width_is_refused_before_allocating()
    {
        // learned-model fuzzing: a width of 0x1E000002 asked for billions of parameters (a hang, then an overflow).
        var model = SavedModel();
        Assert.NotNull(LearnedModel.Load(new MemoryStream(model), "f"));
        int at = WidthsOffset(model) + 8; // the hidden width
        var bad = (byte[])model.Clone();
        bad[at + 3] = 0x1E;
        var e = Refused(() => LearnedModel.Load(new MemoryStream(bad), "f"));
        Assert.Contains("corrupt", e.Problem, StringComparison.OrdinalIgnoreCase);
        bad = (byte[])model.Clone();
        bad[at] = 0xFF; bad[at + 1] = 0xFF; bad[at + 2] = 0xFF; bad[at + 3] = 0x7F; bad[at + 4] = 0xFF; bad[at + 5] = 0xFF; bad[at + 6] = 0xFF; bad[at + 7] = 0x7F;
        Refused(() => LearnedModel.Load(new MemoryStream(bad), "f"));
    }

    [Fact]
    public void Finding_a_corrupt_string_length_is_a_located_error_not_a_FormatException()
    {
        // learned-model fuzzing: BinaryReader.ReadString threw FormatException ("Too many bytes in what should have been
        // a 7-bit encoded integer") on a mutated length, and a huge length took seconds.
        var model = SavedModel();
        var bad = (byte[])model.Clone();
        int method = 8; // magic + version, then the method's length prefix
        bad[method] = 0xFF;
        bad.AsSpan(method + 1, 4).Fill(0xFF);
        Assert.Contains("corrupt string length", Refused(() => LearnedModel.Load(new MemoryStream(bad), "f")).Problem);
        bad = (byte[])model.Clone();
        bad[method] = 0xFF; bad[method + 1] = 0xFF; bad[method + 2] = 0xFF; bad[method + 3] = 0x0F;
        Assert.Contains("corrupt string length", Refused(() => LearnedModel.Load(new MemoryStream(bad), "f")).Problem);
        bad = (byte[])model.Clone();
        bad[method + 1] = 0xE9; // "mv" → "\xE9v": not UTF-8
        Assert.Contains("not valid UTF-8", Refused(() => LearnedModel.Load(new MemoryStream(bad), "f")).Problem);
    }

    [Fact]
    public void Every_fuzzed_reader_reads_from_a_stream_and_names_it()
    {
        byte[] junk = [0x7B, 0xE9, 0x00, 0x22];
        Refused(() => AnswerFiles.ReadAnswers(new MemoryStream(junk), "f"));
        Refused(() => FeatureFiles.ReadCsv(new MemoryStream(junk), "f"));
        Refused(() => FeatureFiles.ReadSparse(new MemoryStream(junk), "f"));
        Refused(() => AggregationModel.Load(new MemoryStream(junk), "f"));
        Refused(() => LearnedModel.Load(new MemoryStream(junk), "f"));
        Refused(() => RoundsJob.ReadScenario(new MemoryStream(junk), "f"));
    }

    [Fact]
    public void Json_errors_are_in_the_users_terms()
    {
        var e = Refused(() => RoundsJob.ReadScenario(new MemoryStream("{\n  \"rounds\": 3,\n  \"k\": [1,\n}"u8.ToArray()), "f"));
        Assert.Equal(4, e.Line);
        Assert.DoesNotContain("LineNumber", e.Message);
        Assert.DoesNotContain("BytePositionInLine", e.Message);
        e = Refused(() => AggregationModel.Load(new MemoryStream("{ \"FormatVersion\": \"x\" }"u8.ToArray()), "f"));
        Assert.DoesNotContain("Path:", e.Message);
        Assert.DoesNotContain("LineNumber", e.Message);
    }

    [Fact]
    public void Finding_a_huge_or_binary_json_field_name_is_echoed_cut_and_escaped()
    {
        // aggregation-model fuzzing, 1M run: a field name of 886,866 characters was echoed in full, "\u0000" in a name raw.
        var huge = Encoding.UTF8.GetBytes("{\n  \"FormatVersion\": 2,\n  \"Opti" + new string('x', 900_000) + "\": nope\n}");
        var e = Refused(() => AggregationModel.Load(new MemoryStream(huge), "f"));
        Assert.True(e.Message.Length < 400, $"{e.Message.Length:N0} characters");
        Assert.Contains("characters)", e.Message);
        e = Refused(() => AggregationModel.Load(new MemoryStream("{\n  \"FormatVersion\": 2,\n  \"S\\u0000kills\": [ 1, ]x\n}"u8.ToArray()), "f"));
        Assert.DoesNotContain(e.Message, char.IsControl);
        Assert.Contains("S\\0kills", e.Message);
    }
}
