using System.Globalization;
using System.Text;

namespace Tally.Core;

/// <summary>
/// Writes a long CSV table fast: rows are formatted straight to UTF-8 bytes (numbers with
/// <see cref="IUtf8SpanFormattable"/>, no string per cell or per row), in blocks of rows formatted in parallel and
/// written in block order, so the bytes are those of a sequential writer whatever the core count.
/// </summary>
public static class Utf8Rows
{
    private const int RowsPerBlock = 8192;
    private const int BlocksPerWave = 16;

    /// <summary>
    /// Writes <paramref name="rows"/> rows to <paramref name="stream"/>: <paramref name="format"/>(row, line) appends one
    /// row (without its line end) to the line; each row is followed by <c>\n</c>.
    /// </summary>
    public static void Write(Stream stream, int rows, Action<int, Utf8Line> format, ComputeOptions? compute = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(format);
        int blocks = (rows + RowsPerBlock - 1) / RowsPerBlock;
        var lines = new Utf8Line[Math.Min(blocks, BlocksPerWave)];
        for (int i = 0; i < lines.Length; i++) lines[i] = new Utf8Line();
        for (int wave = 0; wave < blocks; wave += BlocksPerWave)
        {
            int count = Math.Min(BlocksPerWave, blocks - wave);
            Parallelism.ForEach(count, compute, b =>
            {
                var line = lines[b];
                line.Clear();
                int from = (wave + b) * RowsPerBlock, to = Math.Min(rows, from + RowsPerBlock);
                for (int r = from; r < to; r++)
                {
                    format(r, line);
                    line.Byte((byte)'\n');
                }
            });
            for (int b = 0; b < count; b++) stream.Write(lines[b].Written);
        }
    }
}

/// <summary>A growing UTF-8 buffer that CSV cells are appended to (see <see cref="Utf8Rows"/>).</summary>
public sealed class Utf8Line
{
    private byte[] _buf = new byte[1 << 16];
    private int _n;

    /// <summary>The bytes appended since the last <see cref="Clear"/>.</summary>
    public ReadOnlySpan<byte> Written => _buf.AsSpan(0, _n);

    /// <summary>Empties the buffer.</summary>
    public void Clear() => _n = 0;

    private Span<byte> Room(int bytes)
    {
        if (_n + bytes > _buf.Length) Array.Resize(ref _buf, Math.Max(_buf.Length * 2, _n + bytes));
        return _buf.AsSpan(_n);
    }

    /// <summary>One byte (a delimiter, a line end).</summary>
    public Utf8Line Byte(byte b)
    {
        Room(1)[0] = b;
        _n++;
        return this;
    }

    /// <summary>Text already escaped (or known to need no quoting), as UTF-8.</summary>
    public Utf8Line Raw(string text)
    {
        int n = Encoding.UTF8.GetBytes(text, Room(Encoding.UTF8.GetMaxByteCount(text.Length)));
        _n += n;
        return this;
    }

    /// <summary>Bytes as they are.</summary>
    public Utf8Line Raw(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(Room(bytes.Length));
        _n += bytes.Length;
        return this;
    }

    /// <summary>A text cell, quoted as <see cref="CsvText.Escape"/> quotes it.</summary>
    public Utf8Line Text(string value, char delimiter = ',') => Raw(CsvText.Escape(value, delimiter));

    /// <summary>Appends an identifier as a CSV field: an integer name formatted straight into the line (no string), any other escaped.</summary>
    public Utf8Line Name(Vocabulary names, int index, char delimiter = ',') =>
        names.TryGetIntegerName(index, out int value) ? Integer(value) : Text(names[index], delimiter);

    /// <summary>A number as <see cref="NumberFormat.Finite"/> writes it (shortest round trip); throws on NaN or ±∞.</summary>
    /// <exception cref="InvalidOperationException">The value is not finite.</exception>
    public Utf8Line Number(double x)
    {
        NumberFormat.CheckFinite(x);
        // Whole numbers below 10^15 are written as integers by the shortest round-trip form too ("1", not "1E+00"); -0 is not.
        if (x == Math.Floor(x) && Math.Abs(x) < 1e15 && !(x == 0 && double.IsNegative(x))) return Integer((long)x);
        // Shortest round-trip formatting costs ~100 ns a number; output columns repeat values a lot (vote shares,
        // posteriors of 0 or 1, skills of workers with the same record), so the last forms are remembered by bits.
        ulong bits = BitConverter.DoubleToUInt64Bits(x);
        int slot = (int)((bits * 0x9E3779B97F4A7C15UL) >> (64 - MemoBits));
        _memoText ??= new byte[(1 << MemoBits) * MemoWidth];
        _memoBits ??= new ulong[1 << MemoBits];
        _memoLength ??= new byte[1 << MemoBits];
        var room = Room(32);
        if (_memoLength[slot] != 0 && _memoBits[slot] == bits)
        {
            int known = _memoLength[slot];
            _memoText.AsSpan(slot * MemoWidth, known).CopyTo(room);
            _n += known;
            return this;
        }
        if (!x.TryFormat(room, out int n, "R", CultureInfo.InvariantCulture))
            throw new InvalidOperationException("A number did not fit its buffer.");
        if (n <= MemoWidth)
        {
            room[..n].CopyTo(_memoText.AsSpan(slot * MemoWidth));
            _memoBits[slot] = bits;
            _memoLength[slot] = (byte)n;
        }
        _n += n;
        return this;
    }

    private const int MemoBits = 8, MemoWidth = 32;
    private byte[]? _memoText;
    private ulong[]? _memoBits;
    private byte[]? _memoLength;

    /// <summary>Bytes written so far (to copy a cell again with <see cref="Repeat"/>).</summary>
    public int Length => _n;

    /// <summary>Appends again the <paramref name="length"/> bytes written at <paramref name="start"/> (a value already formatted).</summary>
    public Utf8Line Repeat(int start, int length)
    {
        Room(length);
        _buf.AsSpan(start, length).CopyTo(_buf.AsSpan(_n));
        _n += length;
        return this;
    }

    /// <summary>An integer, invariant culture.</summary>
    public Utf8Line Integer(long x)
    {
        x.TryFormat(Room(24), out int n, default, CultureInfo.InvariantCulture);
        _n += n;
        return this;
    }
}
