using System.Text.Json;
using Tally.Core;
using Tally.Service;

namespace Tally.Server;

/// <summary>Task uploads in text form, read the same way by the API (<c>POST /projects/{p}/tasks</c>) and the dashboard's upload form.</summary>
internal static class TaskUploads
{
    /// <summary>JSON lines: one task object per line (blank lines skipped).</summary>
    public static IReadOnlyList<TaskUpload> FromJsonLines(string text)
    {
        var list = new List<TaskUpload>();
        int line = 0;
        foreach (var raw in text.Split('\n'))
        {
            line++;
            if (raw.Trim().Length == 0) continue;
            try { list.Add(JsonSerializer.Deserialize<TaskUpload>(raw, ServiceJson.Options) ?? throw ApiException.BadRequest($"line {line}: null")); }
            catch (JsonException e) { throw ApiException.BadRequest($"line {line}: not a task object: {JsonErrors.Problem(e)}"); }
        }
        return list;
    }

    /// <summary>CSV with a header: <c>id</c>, optional <c>payload</c> (JSON), <c>gold</c> and <c>features</c> (a JSON array of numbers, quoted).</summary>
    public static IReadOnlyList<TaskUpload> FromCsv(string text)
    {
        try
        {
            using var csv = new CsvRecordReader(new StringReader(text), "request body", ',');
            int id = csv.Column("id");
            int payload = csv.Header.ToList().FindIndex(h => string.Equals(h, "payload", StringComparison.OrdinalIgnoreCase));
            int gold = csv.Header.ToList().FindIndex(h => string.Equals(h, "gold", StringComparison.OrdinalIgnoreCase));
            int features = csv.Header.ToList().FindIndex(h => string.Equals(h, "features", StringComparison.OrdinalIgnoreCase));
            var list = new List<TaskUpload>();
            while (csv.ReadChecked())
            {
                JsonElement? pl = null;
                if (payload >= 0 && csv.Field(payload).Length > 0)
                {
                    try { pl = JsonDocument.Parse(csv.Field(payload).ToString()).RootElement.Clone(); }
                    catch (JsonException) { throw ApiException.BadRequest($"line {csv.LineNumber}: the payload is not JSON"); }
                }
                string? g = gold >= 0 && csv.Field(gold).Length > 0 ? csv.Field(gold).ToString() : null;
                double[]? f = null;
                if (features >= 0 && csv.Field(features).Length > 0)
                {
                    try { f = JsonSerializer.Deserialize<double[]>(csv.Field(features).ToString()); }
                    catch (JsonException) { throw ApiException.BadRequest($"line {csv.LineNumber}: the features are not a JSON array of numbers"); }
                }
                list.Add(new TaskUpload(csv.Field(id).ToString(), pl, g, f));
            }
            return list;
        }
        catch (TallyUserException e) { throw ApiException.BadRequest(e.Message); }
    }
}
