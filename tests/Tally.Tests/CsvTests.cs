using System.Text;

namespace Tally.Tests;

/// <summary>
/// The one CSV reader every command uses: RFC 4180 in full (quoted delimiters, doubled quotes, line breaks inside
/// quotes), records located at the line they start on, malformed quoting always an error (never swallowed rows), and
/// values echoed short and escaped in messages.
/// </summary>
public sealed class CsvTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-csv-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static List<string[]> Records(string text, char? delimiter = null)
    {
        using var csv = new CsvRecordReader(new StringReader(text), "t.csv", delimiter);
        var list = new List<string[]> { csv.Header.ToArray() };
        while (csv.Read())
            list.Add(Enumerable.Range(0, csv.FieldCount).Select(i => csv.Field(i).ToString()).ToArray());
        return list;
    }

    private static TallyDataException Fails(string text) => Assert.Throws<TallyDataException>(() => Records(text));

    [Fact]
    public void A_quoted_field_may_hold_line_breaks_of_every_kind()
    {
        var r = Records("task,worker,label\n1,a,\"two\nlines\"\n2,b,\"crlf\r\nhere\"\r\n3,c,\"cr\ronly\"\n");
        Assert.Equal(4, r.Count);
        Assert.Equal(["1", "a", "two\nlines"], r[1]);
        Assert.Equal(["2", "b", "crlf\r\nhere"], r[2]);
        Assert.Equal(["3", "c", "cr\ronly"], r[3]);
    }

    [Fact]
    public void Quoted_newline_answers_give_the_right_answers_and_the_next_errors_the_right_line()
    {
        var path = Write("q.csv", "task,worker,label\n1,a,\"multi\nline\"\n2,b,\"x \"\"q\"\"\"\n3,c,\n");
        var e = Assert.Throws<TallyDataException>(() => AnswerFiles.ReadAnswers(path));
        Assert.Equal(5, e.Line); // lines 2-3 are one record, line 4 the next, the empty label is on line 5
        var m = AnswerFiles.ReadAnswers(Write("ok.csv", "task,worker,label\n1,a,\"multi\nline\"\n2,b,\"x \"\"q\"\"\"\n")).Matrix;
        Assert.Equal(["multi\nline", "x \"q\""], m.Classes.Names);
        Assert.Equal(2, m.AnswerCount);
    }

    [Fact]
    public void Cli_reads_a_quoted_newline_instead_of_calling_it_unterminated()
    {
        var (code, stdout, stderr) = CliTests.Run("aggregate", Write("q.csv", "task,worker,label\n1,a,\"multi\nline\"\n1,b,\"multi\nline\"\n"), "--method", "mv", "--out", Path.Combine(_dir, "out"));
        Assert.True(code == 0, stderr);
        var labels = File.ReadAllText(Path.Combine(_dir, "out", "labels.csv"));
        Assert.Contains("1,\"multi\nline\",1", labels); // written back quoted, so it reads back the same
    }

    [Fact]
    public void Doubled_quotes_delimiters_and_empty_quoted_fields()
    {
        var r = Records("a,b,c\n\"he said \"\"hi\"\"\",\"x,y\",\"\"\n\"\"\"\",,\"\"\"\"\"\"\n");
        Assert.Equal(["he said \"hi\"", "x,y", ""], r[1]);
        Assert.Equal(["\"", "", "\"\""], r[2]);
    }

    [Fact]
    public void A_quote_inside_an_unquoted_field_is_a_character()
    {
        Assert.Equal(["w\"2", "x"], Records("a,b\nw\"2,x\n")[1]);
    }

    [Fact]
    public void Trailing_delimiter_last_line_without_newline_blank_lines_and_tsv()
    {
        var r = Records("a,b,c\n\n1,2,\n   \n4,5,6");
        Assert.Equal(3, r.Count);
        Assert.Equal(["1", "2", ""], r[1]);
        Assert.Equal(["4", "5", "6"], r[2]);
        Assert.Equal(["x y", "\"q\""], Records("a\tb\nx y\t\"\"\"q\"\"\"\n")[1]);
        Assert.Equal(["1", "2"], Records("a;b\n1;2\n")[1]);
    }

    [Fact]
    public void An_unterminated_quote_is_an_error_at_the_line_its_record_starts_not_swallowed_rows()
    {
        var e = Fails("task,worker,label\n1,a,x\n2,b,\"y\n3,c,z\n4,d,w\n");
        Assert.Equal(3, e.Line);
        Assert.Contains("unterminated quoted field", e.Problem);
        Assert.Contains("line 3, column 5", e.Problem);
    }

    [Fact]
    public void Text_after_a_closing_quote_is_an_error()
    {
        var e = Fails("a,b\n\"x\"y,z\n");
        Assert.Equal(2, e.Line);
        Assert.Contains("after a closing quote", e.Problem);
        // In a record spanning lines, the error names the record's first line and where the text is.
        e = Fails("a,b\n1,\"x\ny\"z\n");
        Assert.Equal(2, e.Line);
        Assert.Contains("line 3, column 3", e.Problem);
    }

    [Fact]
    public void Records_and_quotes_across_buffer_boundaries_read_back_exactly()
    {
        // Many records with quoted fields of every kind, long enough to cross the 64K buffer several times.
        var rng = new Random(11);
        var expected = new List<string[]>();
        var sb = new StringBuilder("task,worker,label\n");
        string[] pieces = ["a", "b,c", "\"", "\n", "\r\n", " ", "é", "日本", "x\"y", ""];
        for (int i = 0; i < 30_000; i++)
        {
            var row = new string[3];
            for (int f = 0; f < 3; f++)
            {
                var v = new StringBuilder();
                int n = rng.Next(0, 4);
                for (int k = 0; k < n; k++) v.Append(pieces[rng.Next(pieces.Length)]);
                if (rng.Next(2000) == 0) v.Append('z', rng.Next(70_000, 140_000)); // longer than the buffer
                row[f] = v.Length == 0 ? "v" : v.ToString();
            }
            expected.Add(row);
            sb.Append(string.Join(",", row.Select(v => rng.Next(3) == 0 ? "\"" + v.Replace("\"", "\"\"") + "\"" : CsvText.Escape(v))));
            sb.Append(rng.Next(2) == 0 ? "\n" : "\r\n");
        }
        var r = Records(sb.ToString());
        Assert.Equal(expected.Count + 1, r.Count);
        for (int i = 0; i < expected.Count; i++) Assert.Equal(expected[i], r[i + 1]);
    }

    [Fact]
    public void Line_numbers_count_physical_lines()
    {
        using var csv = new CsvRecordReader(new StringReader("a,b\n\"1\n\n\",x\n\n2,y\r3,z\r\n"), "t.csv");
        var lines = new List<long>();
        while (csv.Read()) lines.Add(csv.LineNumber);
        Assert.Equal([2L, 6, 7], lines);
    }

    [Fact]
    public void A_huge_field_is_read_but_echoed_cut_in_errors()
    {
        string huge = new('x', 5_000_000);
        var path = Write("h.csv", $"task,worker,label\n1,a,{huge}\n");
        var m = AnswerFiles.ReadAnswers(path).Matrix;
        Assert.Equal(5_000_000, m.Classes[0].Length);
        var e = Assert.Throws<TallyDataException>(() => AnswerFiles.ReadAnswers(path, new AnswerFileOptions(Classes: ["yes", "no"])));
        Assert.Equal(2, e.Line);
        Assert.True(e.Message.Length < 300, e.Message.Length.ToString());
        Assert.Contains("(5,000,000 characters)", e.Message);
    }

    [Fact]
    public void Values_in_messages_have_control_characters_escaped()
    {
        var path = Write("c.csv", "task,worker,label\n1,a,\"bad\tone\nhere\u0007\"\n");
        var e = Assert.Throws<TallyDataException>(() => AnswerFiles.ReadAnswers(path, new AnswerFileOptions(Classes: ["yes"])));
        Assert.Contains("'bad\\tone\\nhere\\x07'", e.Message);
        Assert.DoesNotContain(e.Message, char.IsControl);
    }

    [Fact]
    public void Every_reader_of_csv_goes_through_the_one_reader()
    {
        // Round files (pay under REFORM), sharing submissions and features all accept a quoted newline.
        var round = Write("r.csv", "task,worker,label\n\"t\n1\",a,x\n\"t\n1\",b,y\n");
        var read = Tally.Mechanisms.Reputation.RoundFile.Read(round, 0);
        Assert.Equal(["t\n1"], read.Tasks);
        var subs = Tally.Application.SharingFiles.ReadSubmissions(Write("s.csv", "agent,value\n\"al\nice\",1\nbob,2\ncy,3\ndi,4\ned,5\n"));
        Assert.Equal(["al\nice", "bob", "cy", "di", "ed"], subs.Agents);
        var f = FeatureFiles.ReadCsv(Write("f.csv", "task,\"x\ny\"\n1,2\n"));
        Assert.Equal(["x\ny"], f.Columns);
    }
}
