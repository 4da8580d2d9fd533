using System.Buffers.Binary;
using System.Collections.Immutable;
using System.IO.Compression;

namespace Tally.Core;

/// <summary>
/// An unsigned-byte IDX array as read by <see cref="IdxFile"/>: <see cref="Dimensions"/>[0] items of
/// <see cref="ItemSize"/> bytes each (e.g. 28 × 28 pixels per image, or 1 byte per label), immutable.
/// </summary>
public sealed class IdxArray
{
    private readonly byte[] _data;

    internal IdxArray(ImmutableArray<int> dimensions, ImmutableArray<int> fileDimensions, byte[] data)
    {
        Dimensions = dimensions;
        FileDimensions = fileDimensions;
        _data = data;
        int size = 1;
        for (int i = 1; i < dimensions.Length; i++) size *= dimensions[i];
        ItemSize = size;
    }

    /// <summary>Dimensions of the data held: the first is the number of items read (at most the take limit).</summary>
    public ImmutableArray<int> Dimensions { get; }

    /// <summary>Dimensions declared by the file (the first is the number of items in the file).</summary>
    public ImmutableArray<int> FileDimensions { get; }

    /// <summary>Number of items read.</summary>
    public int Count => Dimensions[0];

    /// <summary>Bytes per item (product of the dimensions after the first; 1 for a vector of labels).</summary>
    public int ItemSize { get; }

    /// <summary>All bytes, item after item (row-major, as in the file).</summary>
    public ReadOnlySpan<byte> Data => _data;

    /// <summary>The bytes of item <paramref name="index"/>.</summary>
    public ReadOnlySpan<byte> Item(int index)
    {
        if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index));
        return _data.AsSpan(index * ItemSize, ItemSize);
    }
}

/// <summary>
/// Reads IDX files of unsigned bytes — the format of MNIST and Fashion-MNIST (LeCun et al., "The MNIST database of
/// handwritten digits"): a 4-byte magic number (two zero bytes, the element type 0x08 = unsigned byte, the number of
/// dimensions), one big-endian 32-bit size per dimension, then the data in row-major order. Files may be
/// gzip-compressed (recognised by their first bytes, whatever their name).
/// </summary>
public static class IdxFile
{
    /// <summary>Largest number of bytes read into memory (2 GiB − 1, the largest .NET array).</summary>
    private const long MaxBytes = int.MaxValue;

    /// <summary>Reads the first <paramref name="take"/> items (all when null) of an unsigned-byte IDX file.</summary>
    /// <exception cref="TallyDataException">Missing file, a bad magic number, an element type other than unsigned byte,
    /// no or zero-sized dimensions, a file that ends early, or (when reading all items) bytes after the data.</exception>
    public static IdxArray Read(string path, int? take = null)
    {
        if (take is < 0) throw new ArgumentOutOfRangeException(nameof(take), "take must be ≥ 0.");
        if (!File.Exists(path))
            throw new TallyDataException(path, 0, Directory.Exists(path) ? "is a directory, not a file" : "file not found");
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        using var stream = IsGzip(file) ? new GZipStream(file, CompressionMode.Decompress) : (Stream)file;
        try
        {
            return Read(stream, path, take);
        }
        catch (InvalidDataException e)
        {
            throw new TallyDataException(path, 0, "is not a valid gzip stream: " + e.Message, e);
        }
    }

    /// <summary>Reads images: a 3-dimensional IDX file (count × rows × columns).</summary>
    /// <exception cref="TallyDataException">As <see cref="Read(string, int?)"/>, or the file is not 3-dimensional.</exception>
    public static IdxArray ReadImages(string path, int? take = null)
    {
        var a = Read(path, take);
        if (a.FileDimensions.Length != 3)
            throw new TallyDataException(path, 0, $"has {a.FileDimensions.Length} dimensions; images need 3 (count × rows × columns)");
        return a;
    }

    /// <summary>Reads labels: a 1-dimensional IDX file, one byte per item.</summary>
    /// <exception cref="TallyDataException">As <see cref="Read(string, int?)"/>, or the file is not 1-dimensional.</exception>
    public static byte[] ReadLabels(string path, int? take = null)
    {
        var a = Read(path, take);
        if (a.FileDimensions.Length != 1)
            throw new TallyDataException(path, 0, $"has {a.FileDimensions.Length} dimensions; labels need 1");
        return a.Data.ToArray();
    }

    /// <summary>Reads from an open (already decompressed) stream; <paramref name="source"/> names it in errors.</summary>
    public static IdxArray Read(Stream stream, string source, int? take = null)
    {
        Span<byte> head = stackalloc byte[4];
        int got = ReadFully(stream, head);
        if (got < 4) throw new TallyDataException(source, 0, $"is {got} bytes long; an IDX file starts with a 4-byte magic number");
        if (head[0] != 0 || head[1] != 0)
            throw new TallyDataException(source, 0, $"bad magic number 0x{head[0]:X2}{head[1]:X2}{head[2]:X2}{head[3]:X2} (IDX files start with two zero bytes)");
        if (head[2] != 0x08)
            throw new TallyDataException(source, 0, $"element type 0x{head[2]:X2} is not supported (only 0x08, unsigned byte)");
        int rank = head[3];
        if (rank == 0) throw new TallyDataException(source, 0, "declares 0 dimensions");
        var dimsBytes = new byte[4 * rank];
        if (ReadFully(stream, dimsBytes) < dimsBytes.Length)
            throw new TallyDataException(source, 0, $"ends inside the header (expected {rank} dimension sizes)");
        var dims = new int[rank];
        long itemSize = 1;
        for (int i = 0; i < rank; i++)
        {
            int n = BinaryPrimitives.ReadInt32BigEndian(dimsBytes.AsSpan(4 * i));
            if (n < 0 || (i > 0 && n == 0))
                throw new TallyDataException(source, 0, $"dimension {i} has size {(uint)n} (at byte {4 + 4 * i})");
            dims[i] = n;
            if (i > 0) itemSize *= n;
            if (itemSize > MaxBytes) throw new TallyDataException(source, 0, "items are too large to read");
        }
        int count = take is int k ? Math.Min(k, dims[0]) : dims[0];
        long bytes = count * itemSize;
        if (bytes > MaxBytes)
            throw new TallyDataException(source, 0, $"{count} items of {itemSize} bytes exceed 2 GiB; read fewer (take)");
        var data = new byte[bytes];
        int read = ReadFully(stream, data);
        if (read < data.Length)
            throw new TallyDataException(source, 0,
                $"ends after {read / itemSize} of the {dims[0]} items it declares ({read} of {bytes} data bytes{(count < dims[0] ? " needed" : "")})");
        // Only when all items were read can trailing bytes be seen; they mean the header does not describe the file.
        if (count == dims[0] && stream.ReadByte() >= 0)
            throw new TallyDataException(source, 0, $"has bytes after the {dims[0]} items its header declares");
        var held = (int[])dims.Clone();
        held[0] = count;
        return new IdxArray(held.ToImmutableArray(), dims.ToImmutableArray(), data);
    }

    private static bool IsGzip(FileStream file)
    {
        Span<byte> magic = stackalloc byte[2];
        int n = ReadFully(file, magic);
        file.Position = 0;
        return n == 2 && magic[0] == 0x1F && magic[1] == 0x8B;
    }

    private static int ReadFully(Stream s, Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = s.Read(buffer[total..]);
            if (n == 0) break;
            total += n;
        }
        return total;
    }
}
