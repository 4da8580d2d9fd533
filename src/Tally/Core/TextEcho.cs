using System.Globalization;
using System.Text;

namespace Tally.Core;

/// <summary>
/// How error messages show a value from the user's input: cut to <see cref="MaxLength"/> characters and with every
/// character that is not printable (control characters, NUL, tabs and line breaks, unpaired surrogates, format
/// characters) written as an escape, so that a binary file's bytes or a 5 MB field never land in the terminal and a
/// message stays one line.
/// </summary>
public static class TextEcho
{
    /// <summary>The most characters of a value a message shows.</summary>
    public const int MaxLength = 80;

    /// <summary>The value in single quotes, escaped and cut (<c>'caf\x00…' (12,345 characters)</c>).</summary>
    public static string Quote(ReadOnlySpan<char> value) => "'" + Escape(value, out bool cut) + "'" + (cut ? $" ({value.Length.ToString("N0", CultureInfo.InvariantCulture)} characters)" : "");

    /// <summary>The value in single quotes, escaped and cut.</summary>
    public static string Quote(string? value) => value is null ? "null" : Quote(value.AsSpan());

    /// <summary>The value escaped and cut (no quotes): for text that is already part of a sentence.</summary>
    public static string Clean(string value) => Escape(value.AsSpan(), out _);

    private static string Escape(ReadOnlySpan<char> value, out bool cut)
    {
        cut = false;
        var b = new StringBuilder(Math.Min(value.Length, MaxLength) + 8);
        int shown = 0;
        for (int i = 0; i < value.Length; i++)
        {
            if (shown >= MaxLength)
            {
                cut = true;
                b.Append('…');
                break;
            }
            char c = value[i];
            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                b.Append(c).Append(value[i + 1]);
                i++;
            }
            else if (c == '\n') b.Append("\\n");
            else if (c == '\r') b.Append("\\r");
            else if (c == '\t') b.Append("\\t");
            else if (c == '\0') b.Append("\\0");
            else if (c == '\\') b.Append('\\');
            else if (IsPrintable(c)) b.Append(c);
            else b.Append(c <= 0xFF ? $"\\x{(int)c:X2}" : $"\\u{(int)c:X4}");
            shown++;
        }
        return b.ToString();
    }

    private static bool IsPrintable(char c) => CharUnicodeInfo.GetUnicodeCategory(c) switch
    {
        UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.OtherNotAssigned
            or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator or UnicodeCategory.PrivateUse => false,
        _ => c != '\uFFFD',
    };
}
