using System.Text;
using Tally.Application;

namespace Tally.Tests;

/// <summary>
/// Text files in the encodings users have (Excel's Windows-1252, UTF-16 with and without a byte order mark, UTF-8
/// with a BOM): read right when the encoding is known, and a located one-line error — never U+FFFD merging two
/// words into one class — when a byte is not valid UTF-8.
/// </summary>
public sealed class EncodingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-encoding-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string WriteBytes(string name, byte[] bytes)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static byte[] Latin1(string text) => Encoding.Latin1.GetBytes(text);

    /// <summary>The file: café and cafè in Windows-1252 / Latin-1 bytes (0xE9, 0xE8).</summary>
    private string CafeFile() => WriteBytes("m.csv", Latin1("task,worker,label\n1,a,café\n1,b,cafè\n"));

    [Fact]
    public void Windows_1252_bytes_read_as_utf8_are_a_located_error_not_one_merged_class()
    {
        var e = Assert.Throws<TallyDataException>(() => AnswerFiles.ReadAnswers(CafeFile()));
        Assert.Equal(2, e.Line);
        Assert.Equal("not valid UTF-8 (byte 0xE9 at column 8); use --encoding latin1|windows-1252|utf-16 if the file is not UTF-8", e.Problem);
        Assert.EndsWith("m.csv:2: " + e.Problem, e.Message);
    }

    [Theory]
    [InlineData(FileEncoding.Latin1)]
    [InlineData(FileEncoding.Windows1252)]
    public void With_the_right_encoding_cafe_and_cafe_grave_are_two_classes(FileEncoding encoding)
    {
        var m = AnswerFiles.ReadAnswers(CafeFile(), new AnswerFileOptions(Encoding: encoding)).Matrix;
        Assert.Equal(["cafè", "café"], m.Classes.Names);
    }

    [Fact]
    public void Cli_aggregate_fails_with_exit_2_and_reads_two_classes_with_encoding()
    {
        string path = CafeFile();
        var (code, stdout, stderr) = CliTests.Run("aggregate", path, "--method", "mv");
        Assert.Equal(2, code);
        Assert.Contains("m.csv:2: not valid UTF-8 (byte 0xE9 at column 8)", stderr);
        Assert.Equal("", stdout);
        foreach (var name in new[] { "latin1", "windows-1252" })
        {
            (code, stdout, stderr) = CliTests.Run("aggregate", path, "--method", "mv", "--encoding", name);
            Assert.True(code == 0, stderr);
            Assert.Contains("2 (cafè, café)", stdout);
        }
    }

    [Fact]
    public void Windows_1252_differs_from_latin1_in_0x80_to_0x9f()
    {
        var path = WriteBytes("euro.csv", [.. Latin1("task,worker,label\n1,a,"), 0x80, (byte)'\n']);
        Assert.Equal("€", AnswerFiles.ReadAnswers(path, new AnswerFileOptions(Encoding: FileEncoding.Windows1252)).Matrix.Classes[0]);
        Assert.Equal("\u0080", AnswerFiles.ReadAnswers(path, new AnswerFileOptions(Encoding: FileEncoding.Latin1)).Matrix.Classes[0]);
    }

    [Theory]
    [InlineData("utf-8", FileEncoding.Utf8)]
    [InlineData("UTF8", FileEncoding.Utf8)]
    [InlineData("iso-8859-1", FileEncoding.Latin1)]
    [InlineData("cp1252", FileEncoding.Windows1252)]
    [InlineData("utf-16le", FileEncoding.Utf16)]
    [InlineData("utf-16be", FileEncoding.Utf16BE)]
    public void Encoding_names_and_aliases(string name, FileEncoding expected) => Assert.Equal(expected, FileEncodings.Parse(name));

    [Fact]
    public void An_unknown_encoding_is_an_option_error_listing_the_known_ones()
    {
        var e = Assert.Throws<InvalidOptionException>(() => FileEncodings.Parse("ebcdic"));
        Assert.Equal("Encoding", e.Option);
        Assert.Contains("utf-8, latin1, windows-1252, utf-16, utf-16be", e.Message);
        var (code, _, stderr) = CliTests.Run("aggregate", CafeFile(), "--encoding", "ebcdic");
        Assert.Equal(2, code);
        Assert.Contains("ebcdic", stderr);
    }

    [Theory]
    [InlineData("utf-8-bom")]
    [InlineData("utf-16le-bom")]
    [InlineData("utf-16be-bom")]
    public void A_byte_order_mark_selects_its_encoding_whatever_was_asked(string kind)
    {
        const string text = "task,worker,label\n1,a,café\n2,b,日本\n";
        byte[] bytes = kind switch
        {
            "utf-8-bom" => [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes(text)],
            "utf-16le-bom" => [0xFF, 0xFE, .. Encoding.Unicode.GetBytes(text)],
            _ => [0xFE, 0xFF, .. Encoding.BigEndianUnicode.GetBytes(text)],
        };
        var path = WriteBytes(kind + ".csv", bytes);
        foreach (var asked in Enum.GetValues<FileEncoding>())
        {
            var m = AnswerFiles.ReadAnswers(path, new AnswerFileOptions(Encoding: asked)).Matrix;
            Assert.Equal(["café", "日本"], m.Classes.Names); // the header's first column is "task", not "\uFEFFtask"
        }
    }

    [Fact]
    public void Utf16_without_a_byte_order_mark_needs_the_encoding_and_says_so()
    {
        var path = WriteBytes("u16.csv", Encoding.Unicode.GetBytes("task,worker,label\n1,a,x\n"));
        var e = Assert.Throws<TallyDataException>(() => AnswerFiles.ReadAnswers(path));
        Assert.Equal(1, e.Line);
        Assert.Contains("NUL character at column 2", e.Problem);
        Assert.Contains("--encoding utf-16", e.Problem);
        Assert.Equal(["x"], AnswerFiles.ReadAnswers(path, new AnswerFileOptions(Encoding: FileEncoding.Utf16)).Matrix.Classes.Names);
        var be = WriteBytes("u16be.csv", Encoding.BigEndianUnicode.GetBytes("task,worker,label\n1,a,y\n"));
        Assert.Equal(["y"], AnswerFiles.ReadAnswers(be, new AnswerFileOptions(Encoding: FileEncoding.Utf16BE)).Matrix.Classes.Names);
    }

    [Fact]
    public void Invalid_utf16_is_located()
    {
        // An unpaired high surrogate on line 3, after "1,a," (column 5).
        var units = "task,worker,label\n0,a,x\n1,a,\uD800\n".ToCharArray();
        var bytes = new byte[units.Length * 2];
        for (int i = 0; i < units.Length; i++) { bytes[2 * i] = (byte)units[i]; bytes[2 * i + 1] = (byte)(units[i] >> 8); }
        var e = Assert.Throws<TallyDataException>(() => AnswerFiles.ReadAnswers(WriteBytes("bad16.csv", bytes), new AnswerFileOptions(Encoding: FileEncoding.Utf16)));
        Assert.Equal(3, e.Line);
        Assert.Contains("unpaired surrogate 0xD800 at column 5", e.Problem);
        var odd = WriteBytes("odd.csv", [.. Encoding.Unicode.GetBytes("task,worker,label\n1,a,x\n"), 0x41]);
        Assert.Contains("odd number of bytes", Assert.Throws<TallyDataException>(() => AnswerFiles.ReadAnswers(odd, new AnswerFileOptions(Encoding: FileEncoding.Utf16))).Problem);
    }

    [Fact]
    public void The_line_of_a_bad_byte_counts_lines_inside_quoted_fields_and_crlf_and_lone_cr()
    {
        // Line 1 header; record 1 spans lines 2-3 (a quoted CR LF); line 4 ends with a lone CR; the bad byte is on line 6.
        var bytes = Latin1("task,worker,label\r\n1,a,\"two\r\nlines\"\r\n2,a,x\r3,a,ok\n4,a,\xFF\n");
        var e = Assert.Throws<TallyDataException>(() => AnswerFiles.ReadAnswers(WriteBytes("lines.csv", bytes)));
        Assert.Equal(6, e.Line);
        Assert.Contains("byte 0xFF at column 5", e.Problem);
    }

    [Fact]
    public void A_bad_byte_far_into_a_large_file_is_located_exactly()
    {
        var sb = new StringBuilder("task,worker,label\n");
        for (int i = 0; i < 20_000; i++) sb.Append(i).Append(",w").Append(i % 7).Append(",yes\n");
        var bytes = new List<byte>(Encoding.UTF8.GetBytes(sb.ToString()));
        bytes.AddRange(Latin1("20000,w1,caf\xE9\n"));
        var e = Assert.Throws<TallyDataException>(() => AnswerFiles.ReadAnswers(WriteBytes("big.csv", [.. bytes])));
        Assert.Equal(20_002, e.Line);
        Assert.Contains("byte 0xE9 at column 13", e.Problem);
    }

    [Fact]
    public void A_character_cut_by_the_end_of_the_file_is_an_error()
    {
        var path = WriteBytes("cut.csv", [.. Encoding.UTF8.GetBytes("task,worker,label\n1,a,caf"), 0xC3]);
        var e = Assert.Throws<TallyDataException>(() => AnswerFiles.ReadAnswers(path));
        Assert.Equal(2, e.Line);
        Assert.Contains("not valid UTF-8", e.Problem);
    }

    [Fact]
    public void A_binary_file_is_one_short_located_line()
    {
        var bytes = new byte[100_000];
        new Random(3).NextBytes(bytes);
        var (code, stdout, stderr) = CliTests.Run("aggregate", WriteBytes("image.csv", bytes));
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("image.csv:", line);
        Assert.True(line.Length < 300, line);
        Assert.DoesNotContain(line, c => char.IsControl(c) || c == '\uFFFD');
    }

    [Fact]
    public void Truth_and_gold_files_are_read_in_the_given_encoding()
    {
        var answers = WriteBytes("a.csv", Latin1("task,worker,label\n1,a,café\n1,b,café\n2,a,cafè\n2,b,cafè\n"));
        var truth = WriteBytes("t.csv", Latin1("task,truth\n1,café\n2,cafè\n"));
        var (code, stdout, stderr) = CliTests.Run("aggregate", answers, "--method", "ds", "--truth", truth, "--gold", truth, "--encoding", "latin1");
        Assert.True(code == 0, stderr);
        Assert.Contains("100.00%", stdout);
        (code, _, stderr) = CliTests.Run("compare", answers, "--truth", truth, "--methods", "mv");
        Assert.Equal(2, code);
        Assert.Contains("a.csv:2: not valid UTF-8", stderr);
        (code, _, stderr) = CliTests.Run("compare", answers, "--truth", truth, "--methods", "mv", "--encoding", "windows-1252");
        Assert.True(code == 0, stderr);
    }

    [Fact]
    public void Features_ids_and_sparse_files_are_strict_and_honour_the_encoding()
    {
        var csv = WriteBytes("f.csv", Latin1("task,größe\nα,1\n"));
        var e = Assert.Throws<TallyDataException>(() => FeatureFiles.ReadCsv(csv));
        Assert.Equal(1, e.Line);
        Assert.Contains("byte 0xF6 at column 8", e.Problem);
        Assert.Equal(["größe"], FeatureFiles.ReadCsv(csv, new FeatureCsvOptions(Encoding: FileEncoding.Latin1)).Columns);

        var sparse = WriteBytes("f.ldac", Latin1("1 0:1\n1 0:2\xE9\n"));
        e = Assert.Throws<TallyDataException>(() => FeatureFiles.ReadSparse(sparse));
        Assert.Equal(2, e.Line);
        var ids = WriteBytes("ids.txt", Latin1("tâche-1\ntâche-2\n"));
        Assert.Throws<TallyDataException>(() => FeatureFiles.ReadSparse(WriteBytes("g.ldac", Latin1("1 0:1\n1 0:2\n")), new SparseFeatureOptions(IdsPath: ids)));
        var t = FeatureFiles.ReadSparse(WriteBytes("h.ldac", Latin1("1 0:1\n1 0:2\n")), new SparseFeatureOptions(IdsPath: ids, Encoding: FileEncoding.Latin1));
        Assert.Equal(["tâche-1", "tâche-2"], t.Tasks);
    }

    [Fact]
    public void Json_readers_are_strict_and_locate_the_bad_byte()
    {
        var scenario = WriteBytes("s.json", Latin1("{\n  \"rounds\": 3,\n  \"mechanism\": \"réform\"\n}\n"));
        var e = Assert.Throws<TallyDataException>(() => RoundsJob.ReadScenario(scenario));
        Assert.Equal(3, e.Line);
        Assert.Contains("byte 0xE9 at column 18", e.Problem);
        var model = WriteBytes("m.json", Latin1("{ \"Method\": \"dé\" }"));
        e = Assert.Throws<TallyDataException>(() => Tally.Aggregation.AggregationModel.Load(model));
        Assert.Contains("not valid UTF-8", e.Problem);
    }

    [Fact]
    public void Every_command_that_reads_a_text_file_has_the_encoding_option()
    {
        string[][] commands =
        [
            ["aggregate"], ["compare"], ["pay"], ["learn"], ["predict"], ["share", "allocate"], ["share", "estimate"], ["rounds", "run"],
        ];
        foreach (var c in commands)
        {
            var (code, stdout, stderr) = CliTests.Run([.. c, "--help"]);
            Assert.True(code == 0, stderr);
            Assert.True(stdout.Contains("--encoding"), $"tally {string.Join(' ', c)} has no --encoding");
        }
    }
}
