using System.Globalization;
using System.Text;
using System.Text.Json;
using Tally.Core;

namespace Tally.Tests;

/// <summary>The one table writer behind every <c>--format csv|json</c>: both formats hold the same values.</summary>
public sealed class TableFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-table-").FullName;

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private static void Rows(TableFile t)
    {
        t.Text("a,b \"quoted\"").Number(0.1).Integer(3).Boolean(true).Missing();
        t.EndRow();
        t.Text("café").Number(1e-300).Integer(-7).Boolean(false).Number((double?)null);
        t.EndRow();
    }

    private static readonly string[] Columns = ["name", "x", "n", "ok", "maybe"];

    [Fact]
    public void Csv_and_json_hold_the_same_cells()
    {
        string csv = TableFile.Write(_dir, "t", OutputFormat.Csv, Columns, Rows);
        string json = TableFile.Write(_dir, "t", OutputFormat.Json, Columns, Rows);
        Assert.Equal(Path.Combine(_dir, "t.csv"), csv);
        Assert.Equal(Path.Combine(_dir, "t.json"), json);

        var lines = File.ReadAllLines(csv);
        Assert.Equal("name,x,n,ok,maybe", lines[0]);
        Assert.Equal("\"a,b \"\"quoted\"\"\",0.1,3,true,", lines[1]);
        Assert.Equal("café,1E-300,-7,false,", lines[2]);

        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var rows = doc.RootElement.EnumerateArray().ToList();
        Assert.Equal(2, rows.Count);
        Assert.Equal("a,b \"quoted\"", rows[0].GetProperty("name").GetString());
        Assert.Equal(0.1, rows[0].GetProperty("x").GetDouble());
        Assert.Equal(3, rows[0].GetProperty("n").GetInt64());
        Assert.True(rows[0].GetProperty("ok").GetBoolean());
        Assert.Equal(JsonValueKind.Null, rows[0].GetProperty("maybe").ValueKind);
        Assert.Equal("café", rows[1].GetProperty("name").GetString());
        // The CSV text of a number parses to the JSON number.
        Assert.Equal(double.Parse(lines[2].Split(',')[1], CultureInfo.InvariantCulture), rows[1].GetProperty("x").GetDouble());
    }

    [Fact]
    public void A_non_finite_number_or_a_ragged_row_is_refused_and_leaves_no_file()
    {
        foreach (var format in new[] { OutputFormat.Csv, OutputFormat.Json })
        {
            Assert.Throws<InvalidOperationException>(() => TableFile.Write(_dir, "nan", format, ["x"], t => { t.Number(double.NaN); t.EndRow(); }));
            Assert.Throws<InvalidOperationException>(() => TableFile.Write(_dir, "short", format, ["x", "y"], t => { t.Number(1); t.EndRow(); }));
            Assert.Throws<InvalidOperationException>(() => TableFile.Write(_dir, "long", format, ["x"], t => t.Number(1).Number(2)));
        }
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir));
    }

    [Fact]
    public void An_empty_table_is_a_header_or_an_empty_array()
    {
        Assert.Equal("x,y\n", File.ReadAllText(TableFile.Write(_dir, "e", OutputFormat.Csv, ["x", "y"], _ => { })));
        using var doc = JsonDocument.Parse(File.ReadAllText(TableFile.Write(_dir, "e", OutputFormat.Json, ["x", "y"], _ => { })));
        Assert.Equal(0, doc.RootElement.GetArrayLength());
    }

    [Fact]
    public void Writing_to_a_stream_gives_the_file_bytes()
    {
        string path = TableFile.Write(_dir, "s", OutputFormat.Json, Columns, Rows);
        using var ms = new MemoryStream();
        TableFile.WriteTo(ms, OutputFormat.Json, Columns, Rows);
        Assert.Equal(File.ReadAllBytes(path), ms.ToArray());
        Assert.DoesNotContain("\\u00E9", Encoding.UTF8.GetString(ms.ToArray()));   // é written as itself, as the CSV has it
    }
}
