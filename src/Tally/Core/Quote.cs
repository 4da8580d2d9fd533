using System.Globalization;
using System.Text;

namespace Tally.Core;

/// <summary>
/// The one way a value from the user's input (a field, an option value, a name) is echoed into an error message: in
/// single quotes, cut after <see cref="MaxLength"/> characters, with every character that a terminal would not show
/// as itself escaped. A binary file's bytes or a 5 MB field then cost one readable line, not a screenful of noise, and
/// a tab or a carriage return inside a value cannot break the line apart or hide what came before it.
/// </summary>
public static class Quote
{
    /// <summary>Most characters of the value shown; the rest is replaced by "…" and the value's full length.</summary>
    public const int MaxLength = 80;

    /// <summary>
    /// <paramref name="value"/> quoted for a message: <c>'abc'</c>; <c>'a\tb'</c> for a tab; <c>'\x01'</c> for a control
    /// byte; <c>'aaaa…' (5,000,000 characters)</c> when longer than <see cref="MaxLength"/>. Null is shown as <c>(none)</c>.
    /// </summary>
    public static string Value(string? value)
    {
        if (value is null) return "(none)";
        var b = new StringBuilder(Math.Min(value.Length, MaxLength) + 8);
        b.Append('\'');
        int shown = Append(b, value, quoted: true);
        b.Append('\'');
        if (shown < value.Length)
            b.Append(" (").Append(value.Length.ToString("N0", CultureInfo.InvariantCulture)).Append(" characters)");
        return b.ToString();
    }

    /// <summary><paramref name="value"/> quoted for a message, as <see cref="Value(string?)"/> (a field still in the reader's buffer).</summary>
    public static string Value(ReadOnlySpan<char> value) => Value(value.ToString());

    /// <summary>
    /// Like <see cref="Value(string?)"/> without the quotes, for a value that already stands between delimiters of its own (a
    /// column name after "column", a path): cut and escaped the same way.
    /// </summary>
    public static string Bare(string? value)
    {
        if (value is null) return "(none)";
        var b = new StringBuilder(Math.Min(value.Length, MaxLength) + 4);
        int shown = Append(b, value, quoted: false);
        if (shown < value.Length)
            b.Append(" (").Append(value.Length.ToString("N0", CultureInfo.InvariantCulture)).Append(" characters)");
        return b.ToString();
    }

    /// <summary>Appends at most <see cref="MaxLength"/> characters of <paramref name="value"/>, escaped; returns how many were consumed.</summary>
    private static int Append(StringBuilder b, string value, bool quoted)
    {
        int i = 0, count = 0;
        while (i < value.Length)
        {
            if (count == MaxLength) { b.Append('…'); return i; }
            // A pair of surrogates is one character to the reader; a lone one is shown by its code.
            if (Rune.DecodeFromUtf16(value.AsSpan(i), out var rune, out int used) != System.Buffers.OperationStatus.Done)
            {
                b.Append("\\u").Append(((int)value[i]).ToString("X4", CultureInfo.InvariantCulture));
                i++;
                count++;
                continue;
            }
            AppendRune(b, rune, quoted);
            i += used;
            count++;
        }
        return i;
    }

    private static void AppendRune(StringBuilder b, Rune r, bool quoted)
    {
        switch (r.Value)
        {
            case '\t': b.Append("\\t"); return;
            case '\n': b.Append("\\n"); return;
            case '\r': b.Append("\\r"); return;
            case '\0': b.Append("\\0"); return;
            case '\\': b.Append("\\\\"); return;
            case '\'' when quoted: b.Append("\\'"); return;   // only a quoted value's own quotes need it
        }
        if (Printable(r)) { b.Append(r.ToString()); return; }
        b.Append(r.Value < 0x100 ? "\\x" + r.Value.ToString("X2", CultureInfo.InvariantCulture)
            : r.Value <= 0xFFFF ? "\\u" + r.Value.ToString("X4", CultureInfo.InvariantCulture)
            : "\\U" + r.Value.ToString("X8", CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// False for what a terminal would not show as one visible character: controls (C0, DEL, C1), format characters
    /// (zero-width spaces, bidirectional overrides that reorder the rest of the line), line and paragraph separators,
    /// private-use and unassigned code points. U+FFFD, the replacement character, is shown: it tells the reader that
    /// bytes were not text.
    /// </summary>
    private static bool Printable(Rune r) => Rune.GetUnicodeCategory(r) switch
    {
        UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator
            or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned or UnicodeCategory.Surrogate => false,
        _ => true,
    };
}
