using System.Buffers;

namespace Tally.Core;

/// <summary>
/// A streaming reader of delimited text with a header, RFC 4180 in full: fields may be quoted, a quoted field may
/// hold delimiters, doubled quotes and line breaks (LF, CR LF or CR), and every record is checked as it is read — a
/// quote that is never closed or text after a closing quote is an error at the record's line, never a silently
/// swallowed row. It holds one record at a time in a growing buffer (a record may be at most
/// <see cref="MaxRecordLength"/> characters), so files of any size can be read; fields are handed out as spans into
/// that buffer. Blank lines are skipped. Every Tally command reads its CSV/TSV files with this reader.
/// </summary>
/// <remarks>
/// Lenient where it cannot lose data: a quote inside an unquoted field is kept as a character (<c>w"2</c>), and the
/// delimiter is sniffed from the header (tab, comma or semicolon) unless given. <see cref="LineNumber"/> is the
/// physical line a record starts on, so a record spanning lines is reported at its first line.
/// </remarks>
public sealed class CsvRecordReader : IDisposable
{
    /// <summary>The longest record, in characters (64 Mi); a longer one is an error (a binary file, or a quote never closed).</summary>
    public const int MaxRecordLength = 1 << 26;

    private static readonly SearchValues<char> LineBreaks = SearchValues.Create("\n\r");
    private readonly TextReader _reader;
    private readonly bool _ownsReader;
    private readonly SearchValues<char> _fieldStops;
    private char[] _buf = new char[1 << 16];
    private int _pos, _end;
    private bool _eof;
    private long _nextLine = 1;
    private int[] _starts = new int[16], _lengths = new int[16];
    private byte[] _kinds = new byte[16];
    private int _count;

    private const byte Plain = 0, Quoted = 1, QuotedWithDoubles = 2;

    /// <summary>Opens <paramref name="path"/>; the delimiter is a tab for .tsv/.tab files, else sniffed from the header.</summary>
    /// <param name="path">The file.</param>
    /// <param name="delimiter">The field delimiter; null = tab for .tsv/.tab, else sniffed from the header.</param>
    /// <param name="encoding">The encoding when the file has no byte order mark (strict: see <see cref="DecodingReader"/>).</param>
    /// <exception cref="TallyDataException">Missing, empty or unreadable file, bad bytes, or a malformed header.</exception>
    public static CsvRecordReader Open(string path, char? delimiter = null, FileEncoding encoding = FileEncoding.Utf8)
    {
        var stream = TextFiles.OpenFile(path);
        try
        {
            string ext = Path.GetExtension(path).ToLowerInvariant();
            char? d = delimiter ?? (ext is ".tsv" or ".tab" ? '\t' : null);
            return new CsvRecordReader(new DecodingReader(stream, path, encoding, ownsStream: true), path, d, ownsReader: true);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Reads the bytes of <paramref name="stream"/>, naming it <paramref name="sourceName"/> in errors (the stream is not disposed).</summary>
    /// <exception cref="TallyDataException">Empty input, bad bytes, or a malformed header.</exception>
    public static CsvRecordReader Open(Stream stream, string sourceName, char? delimiter = null, FileEncoding encoding = FileEncoding.Utf8) =>
        new(new DecodingReader(stream, sourceName, encoding), sourceName, delimiter, ownsReader: true);

    /// <summary>Reads from <paramref name="reader"/>, naming it <paramref name="sourceName"/> in errors.</summary>
    /// <exception cref="TallyDataException">Empty input or a malformed header.</exception>
    public CsvRecordReader(TextReader reader, string sourceName, char? delimiter = null, bool ownsReader = false)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(sourceName);
        if (delimiter is '"' or '\n' or '\r')
            throw new InvalidOptionException("Delimiter", "cannot be a quote or a line break");
        _reader = reader;
        _ownsReader = ownsReader;
        SourceName = sourceName;
        Delimiter = delimiter ?? SniffDelimiter();
        _fieldStops = SearchValues.Create([Delimiter, '\n', '\r']);
        if (!Read()) throw new TallyDataException(sourceName, 0, "file is empty (expected a header line)");
        var names = new string[_count];
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
    /// <summary>1-based number of the physical line the current record starts on.</summary>
    public long LineNumber { get; private set; }
    /// <summary>Number of fields in the current record.</summary>
    public int FieldCount => _count;
    /// <summary>Fraction of the underlying file consumed, when known (for progress bars).</summary>
    public double Progress => _reader is DecodingReader d ? d.Progress : 0;

    /// <summary>Index of the column named <paramref name="name"/> (exact match, then case-insensitive), or throws.</summary>
    public int Column(string name)
    {
        for (int i = 0; i < Header.Count; i++) if (Header[i] == name) return i;
        for (int i = 0; i < Header.Count; i++) if (string.Equals(Header[i], name, StringComparison.OrdinalIgnoreCase)) return i;
        throw new TallyDataException(SourceName, HeaderLine,
            $"no column {Quote.Value(name)} in the header (columns: {Quote.Bare(string.Join(", ", Header))})");
    }

    /// <summary>Moves to the next record that is not a blank line; false at end of input.</summary>
    /// <exception cref="TallyDataException">A quote never closed, text after a closing quote, or a record that is too long.</exception>
    public bool Read()
    {
        while (ParseRecord())
            if (!IsBlank()) return true;
        return false;
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
        if ((uint)i >= (uint)_count) throw new ArgumentOutOfRangeException(nameof(i));
        return _buf.AsSpan(_starts[i], _lengths[i]);
    }

    private bool IsBlank() => _count == 1 && _kinds[0] == Plain && _buf.AsSpan(_starts[0], _lengths[0]).IsWhiteSpace();

    /// <summary>
    /// Parses the record at <see cref="_pos"/>. When the buffer ends before the record does, more text is read (the
    /// record moved to the front, the buffer grown if need be) and the record is parsed again from its start; the
    /// raw text is only changed (doubled quotes undone) once the whole record is in the buffer.
    /// </summary>
    private bool ParseRecord()
    {
        while (true)
        {
            if (_pos == _end)
            {
                if (_eof) return false;
                Fill();
                continue;
            }
            if (TryParse()) return true;
            Fill();
        }
    }

    /// <summary>One attempt at the record at <see cref="_pos"/>; false when more text is needed.</summary>
    private bool TryParse()
    {
        var buf = _buf;
        int end = _end;
        char d = Delimiter;
        _count = 0;
        long innerBreaks = 0;
        int i = _pos;
        while (true)
        {
            if (i < end && buf[i] == '"')
            {
                int j = i + 1;
                byte kind = Quoted;
                int close;
                while (true)
                {
                    int k = buf.AsSpan(j, end - j).IndexOf('"');
                    if (k < 0)
                    {
                        if (!_eof) return false;
                        var (line, column) = Locate(i);
                        throw new TallyDataException(SourceName, _nextLine,
                            $"unterminated quoted field: the quote at line {line}, column {column} is never closed");
                    }
                    k += j;
                    if (k + 1 == end && !_eof) return false;
                    if (k + 1 < end && buf[k + 1] == '"') { kind = QuotedWithDoubles; j = k + 2; continue; }
                    close = k;
                    break;
                }
                innerBreaks += Breaks(buf.AsSpan(i + 1, close - i - 1));
                Add(i, close + 1 - i, kind);
                i = close + 1;
                if (i < end && buf[i] == d) { i++; continue; }
                if (i < end && buf[i] is not ('\n' or '\r'))
                {
                    var (line, column) = Locate(i);
                    throw new TallyDataException(SourceName, _nextLine,
                        $"unexpected text after a closing quote (line {line}, column {column}; a quote inside a quoted field is written twice: \"\")");
                }
            }
            else
            {
                int k = buf.AsSpan(i, end - i).IndexOfAny(_fieldStops);
                if (k < 0)
                {
                    if (!_eof) return false;
                    Add(i, end - i, Plain);
                    i = end;
                }
                else
                {
                    k += i;
                    Add(i, k - i, Plain);
                    i = k;
                    if (buf[k] == d) { i++; continue; }
                }
            }
            // The record ends at i: a line break or the end of the text.
            if (i < end)
            {
                if (buf[i] == '\r')
                {
                    if (i + 1 == end && !_eof) return false;
                    i += i + 1 < end && buf[i + 1] == '\n' ? 2 : 1;
                }
                else i++;
            }
            if (i - _pos > MaxRecordLength) throw TooLong();
            LineNumber = _nextLine;
            _nextLine += 1 + innerBreaks;
            _pos = i;
            Unquote();
            return true;
        }
    }

    private void Add(int start, int length, byte kind)
    {
        if (_count == _starts.Length)
        {
            Array.Resize(ref _starts, _count * 2);
            Array.Resize(ref _lengths, _count * 2);
            Array.Resize(ref _kinds, _count * 2);
        }
        _starts[_count] = start;
        _lengths[_count] = length;
        _kinds[_count] = kind;
        _count++;
    }

    /// <summary>Strips the quotes of quoted fields and undoes their doubled quotes, in place.</summary>
    private void Unquote()
    {
        for (int f = 0; f < _count; f++)
        {
            byte kind = _kinds[f];
            if (kind == Plain) continue;
            int start = _starts[f] + 1, length = _lengths[f] - 2;
            _starts[f] = start;
            _lengths[f] = length;
            if (kind != QuotedWithDoubles) continue;
            var span = _buf.AsSpan(start, length);
            int w = 0;
            for (int r = 0; r < span.Length; r++)
            {
                span[w++] = span[r];
                if (span[r] == '"') r++; // the second of a doubled quote
            }
            _lengths[f] = w;
        }
    }

    /// <summary>Line breaks in quoted text (LF, CR LF or a lone CR).</summary>
    private static long Breaks(ReadOnlySpan<char> s)
    {
        int first = s.IndexOfAny(LineBreaks);
        if (first < 0) return 0;
        long n = 0;
        for (int i = first; i < s.Length; i++)
        {
            char c = s[i];
            if (c == '\n') n++;
            else if (c == '\r' && (i + 1 == s.Length || s[i + 1] != '\n')) n++;
        }
        return n;
    }

    /// <summary>The physical line and 1-based column of buffer index <paramref name="index"/> in the record being parsed.</summary>
    private (long Line, long Column) Locate(int index)
    {
        var before = _buf.AsSpan(_pos, index - _pos);
        int last = before.LastIndexOfAny(LineBreaks);
        return (_nextLine + Breaks(before), index - (last < 0 ? _pos : _pos + last + 1) + 1);
    }

    private TallyDataException TooLong() => new(SourceName, _nextLine,
        $"a record longer than {MaxRecordLength:N0} characters starts here (a binary file, or a quote that is never closed?)");

    /// <summary>Moves the unparsed text to the front of the buffer (growing it when the record fills it) and reads more.</summary>
    private void Fill()
    {
        if (_eof) return;
        if (_pos > 0)
        {
            _buf.AsSpan(_pos, _end - _pos).CopyTo(_buf);
            _end -= _pos;
            _pos = 0;
        }
        if (_end == _buf.Length)
        {
            if (_buf.Length > MaxRecordLength) throw TooLong();
            Array.Resize(ref _buf, _buf.Length * 2);
        }
        int n = _reader.Read(_buf.AsSpan(_end));
        if (n == 0) _eof = true;
        _end += n;
    }

    /// <summary>The delimiter of the first non-blank line: a tab if it has tabs (at least as many as commas), a
    /// semicolon if it has semicolons and no commas, else a comma.</summary>
    private char SniffDelimiter()
    {
        int p = 0;
        while (true)
        {
            int nl = _buf.AsSpan(p, _end - p).IndexOfAny(LineBreaks);
            if (nl < 0)
            {
                if (_eof) return Sniff(_buf.AsSpan(p, _end - p));
                Fill(); // nothing is consumed yet (_pos = 0), so p stays valid
                continue;
            }
            var line = _buf.AsSpan(p, nl);
            if (!line.IsWhiteSpace()) return Sniff(line);
            p += nl + 1;
        }
    }

    private static char Sniff(ReadOnlySpan<char> header)
    {
        int tabs = header.Count('\t'), commas = header.Count(','), semis = header.Count(';');
        if (tabs > 0 && tabs >= commas) return '\t';
        if (commas == 0 && semis > 0) return ';';
        return ',';
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
