using System.Text;
using System.Text.Json;

namespace Tally.Core;

/// <summary>How result tables are written: CSV (a header line, RFC 4180 quoting) or JSON (an array of objects).</summary>
public enum OutputFormat
{
    /// <summary><c>NAME.csv</c>: a header, then one line per row; numbers in shortest round-trip form, missing values empty.</summary>
    Csv,
    /// <summary><c>NAME.json</c>: an array with one object per row, keyed by the column names; numbers as JSON numbers, missing values null.</summary>
    Json,
}

/// <summary>
/// A result table in <see cref="OutputFormat.Csv"/> or <see cref="OutputFormat.Json"/>, written atomically. Every
/// command that writes a table (comparisons, sweeps, payments, rewards, predictions) goes through here, so
/// <c>--format json</c> means the same everywhere and the two formats hold the same values: the CSV text of a number
/// is what the JSON number parses to. A non-finite number is refused rather than written.
/// </summary>
public sealed class TableFile : IDisposable
{
    private readonly OutputFormat _format;
    private readonly IReadOnlyList<string> _columns;
    private readonly TextWriter? _csv;
    private readonly Utf8JsonWriter? _json;
    private readonly StringBuilder _line = new();
    private int _cell;

    private TableFile(Stream stream, OutputFormat format, IReadOnlyList<string> columns)
    {
        if (columns.Count == 0) throw new ArgumentException("A table needs at least one column.", nameof(columns));
        _format = format;
        _columns = columns;
        if (format == OutputFormat.Csv)
        {
            _csv = new StreamWriter(stream, new UTF8Encoding(false), 1 << 16, leaveOpen: true) { NewLine = "\n" };
            for (int i = 0; i < columns.Count; i++) _line.Append(i == 0 ? "" : ",").Append(CsvText.Escape(columns[i]));
            _csv.WriteLine(_line.ToString());
            _line.Clear();
        }
        else
        {
            _json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
            _json.WriteStartArray();
        }
    }

    /// <summary>The file name for a table called <paramref name="name"/>: <c>NAME.csv</c> or <c>NAME.json</c>.</summary>
    public static string FileName(string name, OutputFormat format) => name + (format == OutputFormat.Csv ? ".csv" : ".json");

    /// <summary>
    /// Writes a table named <paramref name="name"/> into <paramref name="directory"/> (created if needed); returns the path.
    /// </summary>
    /// <param name="directory">The output folder.</param>
    /// <param name="name">The table's name without extension (<c>payments</c>).</param>
    /// <param name="format">CSV or JSON.</param>
    /// <param name="columns">Column names, in order.</param>
    /// <param name="rows">Writes the rows: one call per cell, in column order, then <see cref="EndRow"/>.</param>
    public static string Write(string directory, string name, OutputFormat format, IReadOnlyList<string> columns, Action<TableFile> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        Directory.CreateDirectory(directory);
        return AtomicFile.Write(Path.Combine(directory, FileName(name, format)), s => WriteTo(s, format, columns, rows));
    }

    /// <summary>Writes a table to <paramref name="stream"/> (standard output, a file the caller owns).</summary>
    public static void WriteTo(Stream stream, OutputFormat format, IReadOnlyList<string> columns, Action<TableFile> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        using var table = new TableFile(stream, format, columns);
        rows(table);
        table.Finish();
    }

    /// <summary>A text cell.</summary>
    public TableFile Text(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (_csv is not null) Csv(CsvText.Escape(value));
        else { _json!.WriteString(Next(), value); }
        return this;
    }

    /// <summary>A number cell (shortest round-trip form); throws on NaN or ±∞.</summary>
    /// <exception cref="InvalidOperationException">The value is not finite.</exception>
    public TableFile Number(double value)
    {
        if (_csv is not null) Csv(NumberFormat.Finite(value));
        else _json!.WriteNumber(Next(), NumberFormat.CheckFinite(value));
        return this;
    }

    /// <summary>A number cell, or a missing value when <paramref name="value"/> is null.</summary>
    public TableFile Number(double? value) => value is double v ? Number(v) : Missing();

    /// <summary>An integer cell.</summary>
    public TableFile Integer(long value)
    {
        if (_csv is not null) Csv(NumberFormat.Integer(value));
        else _json!.WriteNumber(Next(), value);
        return this;
    }

    /// <summary>An integer cell, or a missing value when <paramref name="value"/> is null.</summary>
    public TableFile Integer(long? value) => value is long v ? Integer(v) : Missing();

    /// <summary>A true/false cell (<c>true</c>/<c>false</c> in both formats).</summary>
    public TableFile Boolean(bool value)
    {
        if (_csv is not null) Csv(value ? "true" : "false");
        else _json!.WriteBoolean(Next(), value);
        return this;
    }

    /// <summary>A missing value: empty in CSV, null in JSON.</summary>
    public TableFile Missing()
    {
        if (_csv is not null) Csv("");
        else _json!.WriteNull(Next());
        return this;
    }

    /// <summary>Ends the row; every column must have had its cell.</summary>
    /// <exception cref="InvalidOperationException">Fewer or more cells than columns.</exception>
    public void EndRow()
    {
        if (_cell != _columns.Count) throw new InvalidOperationException($"A row has {_cell} cells for {_columns.Count} columns.");
        if (_csv is not null)
        {
            _csv.WriteLine(_line.ToString());
            _line.Clear();
        }
        else _json!.WriteEndObject();
        _cell = 0;
    }

    private void Csv(string text)
    {
        if (_cell >= _columns.Count) throw new InvalidOperationException($"More cells than the {_columns.Count} columns.");
        if (_cell > 0) _line.Append(',');
        _line.Append(text);
        _cell++;
    }

    private string Next()
    {
        if (_cell >= _columns.Count) throw new InvalidOperationException($"More cells than the {_columns.Count} columns.");
        if (_cell == 0) _json!.WriteStartObject();
        return _columns[_cell++];
    }

    private void Finish()
    {
        if (_cell != 0) throw new InvalidOperationException("The last row was not ended.");
        if (_json is not null) _json.WriteEndArray();
    }

    /// <summary>Flushes what was written.</summary>
    public void Dispose()
    {
        _csv?.Flush();
        _csv?.Dispose();
        _json?.Flush();
        _json?.Dispose();
    }
}
