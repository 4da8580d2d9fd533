using System.Text;

namespace Tally.Core;

/// <summary>
/// The character encoding of a text file Tally reads. Whatever is chosen, a byte order mark at the start of the file
/// wins (EF BB BF selects UTF-8, FF FE UTF-16 little-endian, FE FF UTF-16 big-endian), as editors do.
/// </summary>
public enum FileEncoding
{
    /// <summary>UTF-8, strictly: an invalid byte sequence is an error naming its line and column, never a U+FFFD.</summary>
    Utf8,
    /// <summary>ISO-8859-1: every byte is the code point of the same number (never invalid).</summary>
    Latin1,
    /// <summary>Windows-1252, the "ANSI" code page Excel uses on western Windows (Latin-1 with € ‚ ƒ „ … in 0x80–0x9F).</summary>
    Windows1252,
    /// <summary>UTF-16 little-endian (Windows' "Unicode"), unless a byte order mark says big-endian.</summary>
    Utf16,
    /// <summary>UTF-16 big-endian, unless a byte order mark says little-endian.</summary>
    Utf16BE,
}

/// <summary>The names of <see cref="FileEncoding"/> values as options and messages spell them.</summary>
public static class FileEncodings
{
    /// <summary>The canonical names, in <see cref="FileEncoding"/> order: <c>utf-8, latin1, windows-1252, utf-16, utf-16be</c>.</summary>
    public static IReadOnlyList<string> Names { get; } = ["utf-8", "latin1", "windows-1252", "utf-16", "utf-16be"];

    /// <summary>The canonical name of <paramref name="encoding"/>.</summary>
    public static string Name(FileEncoding encoding) =>
        Enum.IsDefined(encoding) ? Names[(int)encoding] : throw new ArgumentOutOfRangeException(nameof(encoding));

    /// <summary>
    /// The encoding called <paramref name="name"/>: a canonical name or a common alias (<c>utf8</c>, <c>iso-8859-1</c>,
    /// <c>latin-1</c>, <c>cp1252</c>, <c>ansi</c>, <c>utf-16le</c>, <c>unicode</c>), case-insensitive.
    /// </summary>
    /// <exception cref="InvalidOptionException">Any other name (option <c>Encoding</c>).</exception>
    public static FileEncoding Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name.Trim().ToLowerInvariant() switch
        {
            "utf-8" or "utf8" => FileEncoding.Utf8,
            "latin1" or "latin-1" or "iso-8859-1" or "iso8859-1" or "l1" => FileEncoding.Latin1,
            "windows-1252" or "windows1252" or "cp1252" or "cp-1252" or "ansi" => FileEncoding.Windows1252,
            "utf-16" or "utf16" or "utf-16le" or "utf16le" or "unicode" => FileEncoding.Utf16,
            "utf-16be" or "utf16be" => FileEncoding.Utf16BE,
            _ => throw new InvalidOptionException("Encoding", $"must be {string.Join(", ", Names)} (got {Quote.Value(name)})"),
        };
    }
}

/// <summary>
/// A strict decoder of a byte stream into text, for every text file Tally reads. It honours a byte order mark, and
/// stops at the first byte that is not valid in the encoding — or at a NUL character, which no text file holds —
/// with a <see cref="TallyDataException"/> naming the file, the line and the column, so that bad bytes can never
/// silently turn into U+FFFD (two different words becoming one class). Lines are counted as the CSV reader counts
/// them: LF, CR LF and a lone CR each end one.
/// </summary>
/// <remarks>The characters before the bad byte are handed out first; the error is thrown by the read that would go
/// past it.</remarks>
public sealed class DecodingReader : TextReader
{
    private const int ByteChunk = 1 << 16;
    /// <summary>The longest line <see cref="ReadLine"/> returns (64 Mi characters, as <see cref="CsvRecordReader.MaxRecordLength"/>).</summary>
    public const int MaxLineLength = CsvRecordReader.MaxRecordLength;
    private readonly Stream _stream;
    private readonly bool _ownsStream;
    private readonly byte[] _bytes = new byte[ByteChunk];
    private int _bytePos, _byteEnd;
    private bool _streamDone;
    private readonly char[] _chars = new char[ByteChunk + 1];
    private int _charPos, _charEnd;
    private Mode _mode;
    private readonly Encoding? _singleByte;
    private long _line = 1, _column;
    private bool _lastCr;
    private TallyDataException? _pending;
    private long _bytesRead;

    private enum Mode { Utf8, Utf16LE, Utf16BE, SingleByte }

    /// <summary>Decodes <paramref name="stream"/> as <paramref name="encoding"/> (a byte order mark overrides it).</summary>
    /// <param name="stream">The bytes.</param>
    /// <param name="sourceName">The file name used in errors.</param>
    /// <param name="encoding">The encoding when the file has no byte order mark.</param>
    /// <param name="ownsStream">Whether disposing this reader disposes the stream.</param>
    public DecodingReader(Stream stream, string sourceName, FileEncoding encoding = FileEncoding.Utf8, bool ownsStream = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(sourceName);
        if (!Enum.IsDefined(encoding)) throw new ArgumentOutOfRangeException(nameof(encoding));
        _stream = stream;
        _ownsStream = ownsStream;
        SourceName = sourceName;
        Requested = encoding;
        _mode = encoding switch
        {
            FileEncoding.Utf16 => Mode.Utf16LE,
            FileEncoding.Utf16BE => Mode.Utf16BE,
            FileEncoding.Latin1 or FileEncoding.Windows1252 => Mode.SingleByte,
            _ => Mode.Utf8,
        };
        if (encoding == FileEncoding.Latin1) _singleByte = Encoding.Latin1;
        // The code-page provider is used directly (no process-wide registration); 1252 maps all 256 bytes.
        else if (encoding == FileEncoding.Windows1252) _singleByte = CodePagesEncodingProvider.Instance.GetEncoding(1252)!;
        DetectByteOrderMark();
    }

    /// <summary>The file name used in errors.</summary>
    public string SourceName { get; }
    /// <summary>The encoding asked for (a byte order mark may have chosen another: see <see cref="Actual"/>).</summary>
    public FileEncoding Requested { get; }
    /// <summary>The encoding in use: the byte order mark's, else <see cref="Requested"/>.</summary>
    public FileEncoding Actual { get; private set; }
    /// <summary>Whether the file started with a byte order mark.</summary>
    public bool HadByteOrderMark { get; private set; }

    /// <summary>Fraction of the stream consumed, when its length is known (for progress bars); else 0.</summary>
    public double Progress
    {
        get
        {
            try { return _stream.CanSeek && _stream.Length > 0 ? Math.Min(1, (double)_bytesRead / _stream.Length) : 0; }
            catch (IOException) { return 0; }
        }
    }

    private void DetectByteOrderMark()
    {
        Actual = Requested;
        FillBytes();
        while (!_streamDone && _byteEnd < 3) FillBytes();
        var b = _bytes.AsSpan(0, _byteEnd);
        if (b.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) { _bytePos = 3; _mode = Mode.Utf8; Actual = FileEncoding.Utf8; }
        else if (b.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE])) { _bytePos = 2; _mode = Mode.Utf16LE; Actual = FileEncoding.Utf16; }
        else if (b.StartsWith((ReadOnlySpan<byte>)[0xFE, 0xFF])) { _bytePos = 2; _mode = Mode.Utf16BE; Actual = FileEncoding.Utf16BE; }
        else return;
        HadByteOrderMark = true;
    }

    /// <summary>Moves the unread bytes to the front and reads more; sets <see cref="_streamDone"/> at the end.</summary>
    private void FillBytes()
    {
        if (_streamDone) return;
        if (_bytePos > 0)
        {
            _bytes.AsSpan(_bytePos, _byteEnd - _bytePos).CopyTo(_bytes);
            _byteEnd -= _bytePos;
            _bytePos = 0;
        }
        if (_byteEnd == _bytes.Length) return;
        int n;
        try { n = _stream.Read(_bytes, _byteEnd, _bytes.Length - _byteEnd); }
        catch (IOException e) { throw new TallyDataException(SourceName, _line, "cannot be read: " + e.Message, e); }
        if (n == 0) _streamDone = true;
        _byteEnd += n;
        _bytesRead += n;
    }

    /// <summary>Decodes the next chunk into <see cref="_chars"/>; false at the end of the text.</summary>
    private bool FillChars()
    {
        _charPos = _charEnd = 0;
        while (true)
        {
            if (_pending is not null) throw _pending;
            if (_byteEnd - _bytePos < 8) FillBytes();
            if (_bytePos == _byteEnd && _streamDone) return false;
            int written = Decode(_chars.AsSpan(0, ByteChunk));
            if (written > 0)
            {
                var text = _chars.AsSpan(0, written);
                int nul = text.IndexOf('\0');
                if (nul >= 0)
                {
                    Track(text[..nul]);
                    _pending = Error($"a NUL character at column {_column + 1} (a binary file, or UTF-16 text without a byte order mark? then use --encoding utf-16)");
                    written = nul;
                    if (written == 0) throw _pending;
                }
                else Track(text);
                _charEnd = written;
                return true;
            }
            if (_pending is not null) throw _pending;
            // Nothing decoded and no error: an incomplete sequence waits for more bytes.
            if (_streamDone) throw Error(Truncated());
            FillBytes();
        }
    }

    /// <summary>Decodes as much as fits into <paramref name="dest"/>; sets <see cref="_pending"/> at an invalid sequence.</summary>
    private int Decode(Span<char> dest)
    {
        var src = _bytes.AsSpan(_bytePos, _byteEnd - _bytePos);
        switch (_mode)
        {
            case Mode.Utf8:
            {
                var status = System.Text.Unicode.Utf8.ToUtf16(src, dest, out int read, out int written,
                    replaceInvalidSequences: false, isFinalBlock: _streamDone);
                _bytePos += read;
                if (status == System.Buffers.OperationStatus.InvalidData)
                {
                    // Locate after the characters before it are counted: the caller tracks them first.
                    byte bad = _bytes[_bytePos];
                    var (line, column) = Locate(dest[..written]);
                    _pending = new TallyDataException(SourceName, line,
                        $"not valid UTF-8 (byte 0x{bad:X2} at column {column}); use --encoding latin1|windows-1252|utf-16 if the file is not UTF-8");
                }
                return written;
            }
            case Mode.SingleByte:
            {
                int n = Math.Min(src.Length, dest.Length);
                int written = _singleByte!.GetChars(src[..n], dest);
                _bytePos += n;
                return written;
            }
            default:
            {
                int units = Math.Min(src.Length / 2, dest.Length);
                var target = dest[..units];
                for (int i = 0; i < units; i++)
                    target[i] = _mode == Mode.Utf16LE
                        ? (char)(src[2 * i] | src[2 * i + 1] << 8)
                        : (char)(src[2 * i] << 8 | src[2 * i + 1]);
                int valid = ValidSurrogates(target, out bool waitForLow);
                if (valid < units && !waitForLow)
                {
                    _bytePos += 2 * valid;
                    var (line, column) = Locate(target[..valid]);
                    _pending = new TallyDataException(SourceName, line,
                        $"not valid UTF-16 (unpaired surrogate 0x{(int)target[valid]:X4} at column {column}); use --encoding utf-8|latin1|windows-1252 if the file is not UTF-16");
                    return valid;
                }
                if (waitForLow && _streamDone && valid == units - 1 && src.Length - 2 * units < 2)
                {
                    _bytePos += 2 * valid;
                    _pending = new TallyDataException(SourceName, _line + Breaks(target[..valid]),
                        "not valid UTF-16 (the file ends with half of a surrogate pair)");
                    return valid;
                }
                _bytePos += 2 * valid;
                if (valid == 0 && _streamDone && src.Length == 1)
                    _pending = new TallyDataException(SourceName, _line, "not valid UTF-16 (an odd number of bytes)");
                return valid;
            }
        }
    }

    /// <summary>The number of leading units that are valid UTF-16; <paramref name="waitForLow"/> when the next is a high surrogate at the very end.</summary>
    private static int ValidSurrogates(ReadOnlySpan<char> s, out bool waitForLow)
    {
        waitForLow = false;
        int i = s.IndexOfAnyInRange('\uD800', '\uDFFF');
        if (i < 0) return s.Length;
        while (i < s.Length)
        {
            char c = s[i];
            if (!char.IsSurrogate(c)) { i++; continue; }
            if (char.IsLowSurrogate(c)) return i;
            if (i + 1 == s.Length) { waitForLow = true; return i; }
            if (!char.IsLowSurrogate(s[i + 1])) return i;
            i += 2;
        }
        return i;
    }

    private string Truncated() => _mode switch
    {
        Mode.Utf8 => $"not valid UTF-8 (the file ends in the middle of a character, at column {_column + 1}); {Hint()}",
        _ => "not valid UTF-16 (an odd number of bytes)",
    };

    private string Hint() => _mode == Mode.Utf8 ? "use --encoding latin1|windows-1252|utf-16 if the file is not UTF-8" : "see --encoding";

    private TallyDataException Error(string problem) => new(SourceName, _line, problem);

    /// <summary>Line breaks in <paramref name="s"/> (LF, CR LF, lone CR), given what came before.</summary>
    private long Breaks(ReadOnlySpan<char> s)
    {
        if (_lastCr && s.Length > 0 && s[0] == '\n') s = s[1..];
        long n = s.Count('\n');
        if (s.Contains('\r'))
            for (int i = 0; i < s.Length; i++)
                if (s[i] == '\r' && (i + 1 == s.Length || s[i + 1] != '\n')) n++;
        return n;
    }

    /// <summary>The 1-based line and column of the character after <paramref name="before"/> (not yet tracked).</summary>
    private (long Line, long Column) Locate(ReadOnlySpan<char> before)
    {
        int after = LastBreakOffset(before);
        return (_line + Breaks(before), after == 0 ? _column + before.Length + 1 : before.Length - after + 1);
    }

    /// <summary>Characters of <paramref name="s"/> up to and including its last line break (0 when it has none).</summary>
    private static int LastBreakOffset(ReadOnlySpan<char> s) => s.LastIndexOfAny('\n', '\r') + 1;

    private void Track(ReadOnlySpan<char> s)
    {
        if (s.IsEmpty) return;
        _line += Breaks(s);
        int after = LastBreakOffset(s);
        _column = after == 0 ? _column + s.Length : s.Length - after;
        _lastCr = s[^1] == '\r';
    }

    /// <inheritdoc />
    public override int Peek()
    {
        if (_charPos == _charEnd && !FillChars()) return -1;
        return _chars[_charPos];
    }

    /// <inheritdoc />
    public override int Read()
    {
        if (_charPos == _charEnd && !FillChars()) return -1;
        return _chars[_charPos++];
    }

    /// <inheritdoc />
    public override int Read(char[] buffer, int index, int count) => Read(buffer.AsSpan(index, count));

    /// <inheritdoc />
    public override int Read(Span<char> buffer)
    {
        if (buffer.IsEmpty) return 0;
        if (_charPos == _charEnd && !FillChars()) return 0;
        int n = Math.Min(buffer.Length, _charEnd - _charPos);
        _chars.AsSpan(_charPos, n).CopyTo(buffer);
        _charPos += n;
        return n;
    }

    /// <inheritdoc />
    public override string? ReadLine()
    {
        StringBuilder? sb = null;
        while (true)
        {
            if (_charPos == _charEnd && !FillChars()) return sb?.ToString();
            var span = _chars.AsSpan(_charPos, _charEnd - _charPos);
            int i = span.IndexOfAny('\n', '\r');
            if (i < 0)
            {
                (sb ??= new StringBuilder()).Append(span);
                _charPos = _charEnd;
                if (sb.Length > MaxLineLength)
                    throw new TallyDataException(SourceName, _line, $"a line longer than {MaxLineLength:N0} characters (a binary file?)");
                continue;
            }
            string line = sb is null ? new string(span[..i]) : sb.Append(span[..i]).ToString();
            _charPos += i + 1;
            if (span[i] == '\r' && (_charPos < _charEnd || FillChars()) && _chars[_charPos] == '\n') _charPos++;
            return line;
        }
    }

    /// <inheritdoc />
    public override string ReadToEnd()
    {
        var sb = new StringBuilder();
        while (_charPos < _charEnd || FillChars())
        {
            sb.Append(_chars, _charPos, _charEnd - _charPos);
            _charPos = _charEnd;
        }
        return sb.ToString();
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing && _ownsStream) _stream.Dispose();
        base.Dispose(disposing);
    }
}

/// <summary>Opening text files for reading: one place for "not found", "is a folder" and strict decoding.</summary>
public static class TextFiles
{
    /// <summary>Opens <paramref name="path"/> for sequential reading.</summary>
    /// <exception cref="TallyDataException">The file does not exist, is a folder, or cannot be opened.</exception>
    public static FileStream OpenFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
            throw new TallyDataException(path, 0, Directory.Exists(path) ? "is a directory, not a file" : "file not found");
        try { return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TallyDataException(path, 0, "cannot be read: " + e.Message, e);
        }
    }

    /// <summary>A strict decoding reader of the file <paramref name="path"/> (see <see cref="DecodingReader"/>).</summary>
    /// <exception cref="TallyDataException">As <see cref="OpenFile"/>.</exception>
    public static DecodingReader Open(string path, FileEncoding encoding = FileEncoding.Utf8) =>
        new(OpenFile(path), path, encoding, ownsStream: true);

    /// <summary>The whole text of <paramref name="path"/>, strictly decoded.</summary>
    /// <exception cref="TallyDataException">Missing, unreadable, or not valid in the encoding (with the line and column).</exception>
    public static string ReadAllText(string path, FileEncoding encoding = FileEncoding.Utf8)
    {
        using var reader = Open(path, encoding);
        return reader.ReadToEnd();
    }

    /// <summary>The whole text of <paramref name="stream"/>, strictly decoded; errors name <paramref name="sourceName"/>.</summary>
    /// <exception cref="TallyDataException">Not valid in the encoding (with the line and column).</exception>
    public static string ReadAllText(Stream stream, string sourceName, FileEncoding encoding = FileEncoding.Utf8)
    {
        using var reader = new DecodingReader(stream, sourceName, encoding);
        return reader.ReadToEnd();
    }
}
