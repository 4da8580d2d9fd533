using System.Text.Json;

namespace Tally.Core;

/// <summary>
/// JSON reader errors in the user's terms. System.Text.Json ends its messages with its own coordinates
/// ("LineNumber: 0 | BytePositionInLine: 0", zero-based, and "Path: $.Kind") and names .NET types
/// ("could not be converted to System.Int32"); a person editing the file wants "line 1, column 1" and the field.
/// </summary>
public static class JsonErrors
{
    /// <summary>1-based line of the error, or 0 when the reader did not say.</summary>
    public static long Line(JsonException e)
    {
        ArgumentNullException.ThrowIfNull(e);
        return e.LineNumber is { } l ? l + 1 : 0;
    }

    /// <summary>
    /// What was wrong, without the reader's coordinates or .NET type names: "column 5: 'x' is an invalid start of a
    /// value", "field Kind: this value is not valid here". The line goes in the location (<see cref="Line"/>).
    /// </summary>
    public static string Problem(JsonException e)
    {
        ArgumentNullException.ThrowIfNull(e);
        string message = e.Message;
        // "… Path: $.x | LineNumber: 0 | BytePositionInLine: 3." or "… LineNumber: 0 | BytePositionInLine: 3."
        foreach (var marker in new[] { " Path: ", " LineNumber: " })
        {
            int cut = message.IndexOf(marker, StringComparison.Ordinal);
            if (cut >= 0) message = message[..cut];
        }
        message = message.TrimEnd(' ', '.');
        string? field = e.Path is { Length: > 1 } p && p.StartsWith('$') ? p.TrimStart('$', '.') : null;
        // Conversion errors name the target .NET type, which tells the user nothing they can act on.
        if (message.StartsWith("The JSON value could not be converted to", StringComparison.Ordinal))
            message = "this value does not have the expected type";
        var where = new List<string>();
        if (e.BytePositionInLine is { } column && e.LineNumber is not null) where.Add($"column {column + 1}");
        // The field name comes from the file: it may be a megabyte long or hold control characters.
        if (!string.IsNullOrEmpty(field)) where.Add($"field {Quote.Bare(field)}");
        message = Quote.Bare(message);   // the reader quotes the offending text, which may be any bytes
        return where.Count == 0 ? message : $"{string.Join(", ", where)}: {message}";
    }
}
