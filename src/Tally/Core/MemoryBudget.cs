using System.Globalization;

namespace Tally.Core;

/// <summary>
/// What a computation plans to allocate: its bytes in all, and the element count of its largest single array (.NET
/// arrays hold at most <see cref="Array.MaxLength"/> elements whatever the memory). Sums and products are in
/// <see cref="double"/>, so an estimate never overflows, however absurd the sizes.
/// </summary>
/// <param name="Bytes">Bytes in all.</param>
/// <param name="LargestArray">Elements of the largest array.</param>
public readonly record struct Footprint(double Bytes, double LargestArray)
{
    /// <summary>Nothing.</summary>
    public static Footprint None => default;

    /// <summary>One array of <paramref name="count"/> doubles.</summary>
    public static Footprint Doubles(double count) => new(count * sizeof(double), count);

    /// <summary>One array of <paramref name="count"/> ints.</summary>
    public static Footprint Ints(double count) => new(count * sizeof(int), count);

    /// <summary>Both: bytes add up, the largest array is the larger of the two.</summary>
    public static Footprint operator +(Footprint a, Footprint b) => new(a.Bytes + b.Bytes, Math.Max(a.LargestArray, b.LargestArray));

    /// <summary><paramref name="copies"/> arrays like the ones of <paramref name="a"/>.</summary>
    public static Footprint operator *(double copies, Footprint a) => copies > 0 ? new(copies * a.Bytes, a.LargestArray) : None;
}

/// <summary>
/// The memory check made before a large allocation: a method whose memory grows faster than its input estimates its
/// need (<see cref="Footprint"/>) from the sizes (tasks, workers, classes) and calls <see cref="Require"/>, which refuses
/// with a <see cref="MemoryLimitException"/> — naming the method, the estimate and what to use instead — rather than
/// letting the process grow for minutes and die (or overflow a 32-bit size).
/// </summary>
public static class MemoryBudget
{
    /// <summary>The share of the memory available to the runtime that one call may plan to use by default: 3/4.</summary>
    public const double DefaultFraction = 0.75;

    /// <summary>
    /// The limit for <paramref name="compute"/>: its <see cref="ComputeOptions.MaxMemoryBytes"/> when set, else
    /// <see cref="DefaultFraction"/> of <see cref="GCMemoryInfo.TotalAvailableMemoryBytes"/> (physical memory, or the
    /// container's or <c>GCHeapHardLimit</c>'s limit when lower).
    /// </summary>
    public static long Limit(ComputeOptions? compute)
    {
        if (compute is { MaxMemoryBytes: > 0 } c) return c.MaxMemoryBytes;
        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        // Before the first collection some runtimes report 0; 8 GB is then a sane guess for a machine that runs this.
        if (available <= 0) available = 8L << 30;
        return (long)(available * DefaultFraction);
    }

    /// <summary>
    /// Refuses when <paramref name="need"/> exceeds the limit, or when its largest array would exceed what a .NET
    /// array can hold.
    /// </summary>
    /// <param name="method">The method's name as the user knows it (<c>ds</c>, <c>rmif-ds</c>, <c>crowdlayer</c>).</param>
    /// <param name="need">What it would allocate.</param>
    /// <param name="what">What grows, for the message (e.g. "30 workers × 10,000² confusion entries").</param>
    /// <param name="instead">What to do instead (e.g. "use a method that grows with the answers, not K²: mv, wawa").</param>
    /// <param name="compute">Carries the limit (<see cref="ComputeOptions.MaxMemoryBytes"/>).</param>
    /// <exception cref="MemoryLimitException">The need exceeds the limit or an array's maximum length.</exception>
    public static void Require(string method, Footprint need, string what, string instead, ComputeOptions? compute)
    {
        long limit = Limit(compute);
        bool tooLong = need.LargestArray > Array.MaxLength;
        if (!tooLong && need.Bytes <= limit) return;
        string problem = tooLong
            ? $"{method} would need an array of {Count(need.LargestArray)} values ({what}), more than the {Count(Array.MaxLength)} a .NET array can hold"
            : $"{method} would need about {Size(need.Bytes)} of memory ({what}), more than the limit of {Size(limit)}";
        throw new MemoryLimitException(method, need.Bytes, limit, $"{problem}; {instead}");
    }

    /// <summary>A byte count for people: "7.5 GB", "310 MB", "12 kB" (powers of 1000, as disks and most tools show them).</summary>
    public static string Size(double bytes)
    {
        string[] units = ["bytes", "kB", "MB", "GB", "TB", "PB", "EB"];
        int u = 0;
        while (bytes >= 1000 && u < units.Length - 1) { bytes /= 1000; u++; }
        string number = u == 0 ? bytes.ToString("0", CultureInfo.InvariantCulture)
            : bytes.ToString(bytes < 10 ? "0.0" : "0", CultureInfo.InvariantCulture);
        return $"{number} {units[u]}";
    }

    /// <summary>A count with thousands separators; astronomically large counts in scientific form.</summary>
    public static string Count(double n) =>
        n < 1e15 ? n.ToString("N0", CultureInfo.InvariantCulture) : n.ToString("0.0e0", CultureInfo.InvariantCulture);

    /// <summary>
    /// The length of an array of <paramref name="a"/> × <paramref name="b"/> × <paramref name="c"/> elements, checked:
    /// the product in 64 bits, refused (not wrapped around to a negative or small length) when it exceeds
    /// <see cref="Array.MaxLength"/>. Sizes are validated by <see cref="Require"/> first, so this is the backstop that
    /// turns a missed check into a clear message instead of "arithmetic overflow" or a wrong-sized array.
    /// </summary>
    /// <exception cref="MemoryLimitException">The product exceeds <see cref="Array.MaxLength"/>.</exception>
    public static int Length(long a, long b = 1, long c = 1)
    {
        if (a < 0 || b < 0 || c < 0) throw new ArgumentOutOfRangeException(nameof(a), "array dimensions must be non-negative");
        double product = (double)a * b * c;
        if (product > Array.MaxLength)
            throw new MemoryLimitException("", product * sizeof(double), 0,
                $"the data need an array of {Count(a)} × {Count(b)} × {Count(c)} = {Count(product)} values, more than the {Count(Array.MaxLength)} a .NET array can hold");
        return (int)(a * b * c);
    }
}

/// <summary>A computation would need more memory than it may use (<see cref="MemoryBudget"/>); a user error: use a method that scales, fewer classes, or raise the limit.</summary>
public sealed class MemoryLimitException : TallyUserException
{
    /// <summary>Creates the error.</summary>
    public MemoryLimitException(string method, double estimatedBytes, long limitBytes, string message) : base(message)
    {
        Method = method;
        EstimatedBytes = estimatedBytes;
        LimitBytes = limitBytes;
    }

    /// <summary>The method that refused (empty when the size check of an array refused).</summary>
    public string Method { get; }
    /// <summary>What it estimated it would need.</summary>
    public double EstimatedBytes { get; }
    /// <summary>The limit it was held to (0 when an array's maximum length was the limit).</summary>
    public long LimitBytes { get; }
}
