using System.Globalization;
using System.Text;

namespace Tally.Server.Dashboard;

/// <summary>
/// An HTML document being written. Text and attribute values always go through <see cref="Encode(StringBuilder, string?)"/> (the five
/// characters that can end a text run or a quoted attribute), so a task id, worker name or label from the database can
/// never become markup; only the page's own fixed markup is written raw.
/// </summary>
internal sealed class Html
{
    private readonly StringBuilder _sb = new(16 * 1024);

    /// <summary>Appends fixed markup (never data).</summary>
    public Html Raw(string markup)
    {
        _sb.Append(markup);
        return this;
    }

    /// <summary>Appends text, encoded.</summary>
    public Html Text(string? text)
    {
        Encode(_sb, text);
        return this;
    }

    /// <summary>Opens <paramref name="tag"/> with attributes (a null value leaves the attribute out, "" writes it bare).</summary>
    public Html Open(string tag, params (string Name, string? Value)[] attributes)
    {
        _sb.Append('<').Append(tag);
        foreach (var (name, value) in attributes)
        {
            if (value is null) continue;
            _sb.Append(' ').Append(name);
            if (value.Length == 0) continue;
            _sb.Append("=\"");
            Encode(_sb, value);
            _sb.Append('"');
        }
        _sb.Append('>');
        return this;
    }

    /// <summary>Closes <paramref name="tag"/>.</summary>
    public Html Close(string tag)
    {
        _sb.Append("</").Append(tag).Append('>');
        return this;
    }

    /// <summary>An element holding encoded text.</summary>
    public Html El(string tag, string? text, params (string Name, string? Value)[] attributes) => Open(tag, attributes).Text(text).Close(tag);

    /// <summary>A link.</summary>
    public Html Link(string href, string text, params (string Name, string? Value)[] attributes) =>
        Open("a", [("href", href), .. attributes]).Text(text).Close("a");

    /// <summary>The document so far.</summary>
    public override string ToString() => _sb.ToString();

    /// <summary>Writes <paramref name="text"/> safe for HTML text and double- or single-quoted attribute values.</summary>
    public static void Encode(StringBuilder sb, string? text)
    {
        if (text is null) return;
        foreach (char ch in text)
        {
            switch (ch)
            {
                case '&': sb.Append("&amp;"); break;
                case '<': sb.Append("&lt;"); break;
                case '>': sb.Append("&gt;"); break;
                case '"': sb.Append("&quot;"); break;
                case '\'': sb.Append("&#39;"); break;
                default: sb.Append(ch); break;
            }
        }
    }

    /// <summary>Encodes <paramref name="text"/> (see <see cref="Encode(StringBuilder, string?)"/>).</summary>
    public static string Encode(string? text)
    {
        var sb = new StringBuilder();
        Encode(sb, text);
        return sb.ToString();
    }

    /// <summary>A number for people: fixed decimals, invariant culture.</summary>
    public static string Number(double value, int decimals = 3) =>
        double.IsFinite(value) ? value.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture) : "—";

    /// <summary>A count with thousands separators.</summary>
    public static string Count(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>A share as a percentage.</summary>
    public static string Percent(long part, long whole) => whole == 0 ? "—" : (100.0 * part / whole).ToString("F1", CultureInfo.InvariantCulture) + "%";

    /// <summary>A time in UTC.</summary>
    public static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + " UTC";
}
