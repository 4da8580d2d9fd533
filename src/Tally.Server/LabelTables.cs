using System.Text;
using Microsoft.AspNetCore.Http;
using Tally.Core;

namespace Tally.Server;

/// <summary>
/// The labels as CSV with the columns of <c>labels.csv</c> (<c>task,label,confidence,p_CLASS…</c>), written by the API
/// (<c>GET /projects/{p}/labels?format=csv</c>) and the dashboard's download alike.
/// </summary>
internal static class LabelTables
{
    /// <summary>
    /// Writes the labels from <paramref name="offset"/> on (at most <paramref name="most"/>; null = all), streamed from one
    /// query in one snapshot (<see cref="TallyService.StreamLabels"/>, which checks the caller's rights).
    /// </summary>
    public static async Task WriteCsvAsync(HttpResponse response, TallyService s, Principal caller, string project, long offset, long? most, CancellationToken ct)
    {
        var classes = s.Classes(caller, project);
        response.ContentType = "text/csv; charset=utf-8";
        var sb = new StringBuilder("task,label,confidence");
        foreach (var c in classes) sb.Append(',').Append(CsvText.Escape("p_" + c));
        sb.Append('\n');
        await foreach (var l in s.StreamLabels(caller, project, offset, most, ct))
        {
            sb.Append(CsvText.Escape(l.Task)).Append(',').Append(CsvText.Escape(l.Label)).Append(',').Append(NumberFormat.Finite(l.Confidence));
            foreach (var c in classes) sb.Append(',').Append(NumberFormat.Finite(l.Probabilities[c]));
            sb.Append('\n');
            if (sb.Length > 60_000)
            {
                await response.WriteAsync(sb.ToString(), ct);
                sb.Clear();
            }
        }
        await response.WriteAsync(sb.ToString(), ct);
    }
}
