using System.Globalization;

namespace Tally.Core;

/// <summary>
/// The one way Tally writes numbers into files and messages: invariant culture, shortest round-trip form ("R"), so a
/// value read back is the value written, on every machine. NaN and infinities are never written: they are bugs or
/// bad input, and a file that silently said 0 instead would hide them.
/// </summary>
public static class NumberFormat
{
    /// <summary>Invariant culture, used for every number Tally reads or writes.</summary>
    public static CultureInfo Invariant => CultureInfo.InvariantCulture;

    /// <summary>A finite number in shortest round-trip form; throws on NaN or ±∞.</summary>
    /// <exception cref="InvalidOperationException">The value is not finite.</exception>
    public static string Finite(double x) =>
        double.IsFinite(x) ? x.ToString("R", CultureInfo.InvariantCulture)
            : throw new InvalidOperationException($"A non-finite value ({x.ToString(CultureInfo.InvariantCulture)}) was about to be written.");

    /// <summary>Returns <paramref name="x"/> when finite, for writers that format numbers themselves (JSON); throws otherwise.</summary>
    /// <exception cref="InvalidOperationException">The value is not finite.</exception>
    public static double CheckFinite(double x) =>
        double.IsFinite(x) ? x : throw new InvalidOperationException($"A non-finite value ({x.ToString(CultureInfo.InvariantCulture)}) was about to be written.");

    /// <summary>Any number for a message (NaN and ∞ spelled out), round-trip form.</summary>
    public static string Number(double x) => x.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>An integer, invariant culture.</summary>
    public static string Integer(long x) => x.ToString(CultureInfo.InvariantCulture);

    /// <summary>Parses a number written by <see cref="Finite"/> (or any invariant-culture float); false if it is not one.</summary>
    public static bool TryParse(ReadOnlySpan<char> s, out double value) =>
        double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
}
