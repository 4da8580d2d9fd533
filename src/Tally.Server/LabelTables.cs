using System.Text;
using Tally.Core;

namespace Tally.Server;

/// <summary>The labels as CSV, with the columns of <c>labels.csv</c> (<c>task,label,confidence,p_CLASS…</c>).</summary>
internal static class LabelTables
{
    /// <summary>Rows read from the database per page while writing.</summary>
    public const int PageSize = 10_000;

    /// <summary>Writes every label of the project (the caller's rights checked by <see cref="TallyService.Labels"/>) page by page.</summary>
    public static async Task WriteCsvAsync(Stream output, TallyService service, Principal caller, string project, IReadOnlyList<string> classes, CancellationToken ct)
    {
        await using var writer = new StreamWriter(output, new UTF8Encoding(false), 64 * 1024, leaveOpen: true);
        var sb = new StringBuilder("task,label,confidence");
        foreach (var c in classes) sb.Append(',').Append(CsvText.Escape("p_" + c));
        sb.Append('\n');
        for (long offset = 0; ; offset += PageSize)
        {
            var page = service.Labels(caller, project, offset, PageSize);
            foreach (var l in page.Items)
            {
                sb.Append(CsvText.Escape(l.Task)).Append(',').Append(CsvText.Escape(l.Label)).Append(',').Append(NumberFormat.Finite(l.Confidence));
                foreach (var c in classes) sb.Append(',').Append(NumberFormat.Finite(l.Probabilities[c]));
                sb.Append('\n');
            }
            await writer.WriteAsync(sb, ct).ConfigureAwait(false);
            sb.Clear();
            if (page.Items.Count < PageSize) break;
        }
        await writer.FlushAsync(ct).ConfigureAwait(false);
    }
}
