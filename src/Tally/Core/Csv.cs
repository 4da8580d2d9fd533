using System.Text;

namespace Tally.Core;

/// <summary>
/// A streaming reader of delimited text with a header (RFC 4180 quoting within a line). It holds one line at a
/// time, so files of any size can be read; fields are handed out as spans into that line.
/// </summary>
public sealed class CsvRecordReader : IDisposable
{
    private readonly TextReader _reader;
    private readonly bool _ownsReader;
    private readonly StringBuilder _unquoted = new();
    private readonly List<(int Start, int Length)> _fieldRanges = new();
    private readonly List<string?> _quotedFields = new();
    private string _line = "";

    /// <summary>Opens <paramref name="path"/>; the delimiter is a tab for .tsv/.tab files, else sniffed from the header.</summary>
    public static CsvRecordReader Open(string path, char? delimiter = null)
    {
        if (!File.Exists(path))
            throw new TallyDataException(path, 0, Directory.Exists(path) ? "is a directory, not a file" : "file not found");
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        var reader = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16);
        string ext = Path.GetExtension(path).ToLowerInvariant();
        char? d = delimiter ?? (ext is ".tsv" or ".tab" ? '\t' : null);
        return new CsvRecordReader(reader, path, d, ownsReader: true);
    }

    /// <summary>Reads from <paramref name="reader"/>, naming it <paramref name="sourceName"/> in errors.</summary>
    public CsvRecordReader(TextReader reader, string sourceName, char? delimiter = null, bool ownsReader = false)
    {
        _reader = reader;
        _ownsReader = ownsReader;
        SourceName = sourceName;
        string? header = ReadNonBlankLine();
        if (header is null) throw new TallyDataException(sourceName, 0, "file is empty (expected a header line)");
        Delimiter = delimiter ?? Sniff(header);
        Split(header);
        var names = new string[_fieldRanges.Count];
        for (int i = 0; i < names.Length; i++) names[i] = Field(i).Trim().ToString();
        Header = names;
        HeaderLine = LineNumber;
    }

    /// <summary>Name used in error messages.</summary>
    public string SourceName { get; }
    /// <summary>The field delimiter in use.</summary>
    public char Delimiter { get; }
    /// <summary>Column names from the header line.</summary>
    public IReadOnlyList<string> Header { get; }
    /// <summary>Line number of the header.</summary>
    public long HeaderLine { get; }
    /// <summary>1-based number of the line last read.</summary>
    public long LineNumber { get; private set; }
    /// <summary>Number of fields in the current record.</summary>
    public int FieldCount => _fieldRanges.Count;
    /// <summary>Fraction of the underlying file consumed, when known (for progress bars).</summary>
    public double Progress =>
        _reader is StreamReader { BaseStream: { CanSeek: true } s } && s.Length > 0 ? (double)s.Position / s.Length : 0;

    /// <summary>Index of the column named <paramref name="name"/> (exact match, then case-insensitive), or throws.</summary>
    public int Column(string name)
    {
        for (int i = 0; i < Header.Count; i++) if (Header[i] == name) return i;
        for (int i = 0; i < Header.Count; i++) if (string.Equals(Header[i], name, StringComparison.OrdinalIgnoreCase)) return i;
        throw new TallyDataException(SourceName, HeaderLine,
            $"no column '{name}' in the header (columns: {string.Join(", ", Header)})");
    }

    /// <summary>Moves to the next non-blank record; false at end of input.</summary>
    public bool Read()
    {
        string? line = ReadNonBlankLine();
        if (line is null) return false;
        Split(line);
        return true;
    }

    /// <summary>Moves to the next record and checks that it has as many fields as the header.</summary>
    public bool ReadChecked()
    {
        if (!Read()) return false;
        if (FieldCount != Header.Count)
            throw new TallyDataException(SourceName, LineNumber,
                $"expected {Header.Count} fields like the header, found {FieldCount}");
        return true;
    }

    /// <summary>The i-th field of the current record (unquoted).</summary>
    public ReadOnlySpan<char> Field(int i)
    {
        string? q = _quotedFields[i];
        if (q is not null) return q.AsSpan();
        var (start, length) = _fieldRanges[i];
        return _line.AsSpan(start, length);
    }

    private string? ReadNonBlankLine()
    {
        while (true)
        {
            string? line = _reader.ReadLine();
            if (line is null) return null;
            LineNumber++;
            if (!string.IsNullOrWhiteSpace(line)) return line;
        }
    }

    private static char Sniff(string header)
    {
        int tabs = header.Count(c => c == '\t'), commas = header.Count(c => c == ','), semis = header.Count(c => c == ';');
        if (tabs > 0 && tabs >= commas) return '\t';
        if (commas == 0 && semis > 0) return ';';
        return ',';
    }

    private void Split(string line)
    {
        _line = line;
        _fieldRanges.Clear();
        _quotedFields.Clear();
        int i = 0, n = line.Length;
        char d = Delimiter == '\0' ? ',' : Delimiter;
        while (true)
        {
            if (i < n && line[i] == '"')
            {
                _unquoted.Clear();
                int j = i + 1;
                while (true)
                {
                    if (j >= n)
                        throw new TallyDataException(SourceName, LineNumber, "unterminated quoted field");
                    if (line[j] == '"')
                    {
                        if (j + 1 < n && line[j + 1] == '"') { _unquoted.Append('"'); j += 2; continue; }
                        j++;
                        break;
                    }
                    _unquoted.Append(line[j++]);
                }
                if (j < n && line[j] != d)
                    throw new TallyDataException(SourceName, LineNumber, "unexpected text after a closing quote");
                _fieldRanges.Add((i, j - i));
                _quotedFields.Add(_unquoted.ToString());
                i = j;
            }
            else
            {
                int end = line.IndexOf(d, i);
                if (end < 0) end = n;
                _fieldRanges.Add((i, end - i));
                _quotedFields.Add(null);
                i = end;
            }
            if (i >= n) break;
            i++; // skip the delimiter
            if (i == n) { _fieldRanges.Add((n, 0)); _quotedFields.Add(null); break; }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsReader) _reader.Dispose();
    }
}

/// <summary>Writes delimited text, quoting fields only where needed.</summary>
public static class CsvText
{
    /// <summary>The field as it must appear in a CSV line with delimiter <paramref name="delimiter"/>.</summary>
    public static string Escape(string field, char delimiter = ',')
    {
        if (field.IndexOfAny([delimiter, '"', '\n', '\r']) < 0 && (field.Length == 0 || (field[0] != ' ' && field[^1] != ' ')))
            return field;
        return "\"" + field.Replace("\"", "\"\"") + "\"";
    }
}
