using System.Globalization;
using System.Text;
using System.Text.Json;
using Tally.Core;

using Tally.Aggregation;

namespace Tally.Application;

/// <summary>
/// Writes an aggregation result: <c>labels</c> (task, label, confidence, p_&lt;class&gt; per class), <c>workers</c>
/// (worker, answers, skill, agreement with the aggregate) and, for confusion models, <c>confusions.json</c>.
/// Task ids and class names are written exactly as read. Every file is written to a temporary name and renamed,
/// so a crash never leaves a half-written file under the final name.
/// </summary>
public static class AggregationWriter
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Writes the result into <paramref name="directory"/> (created if needed); returns the paths written.</summary>
    public static IReadOnlyList<string> Write(AggregationResult result, string directory, OutputFormat format)
    {
        Directory.CreateDirectory(directory);
        var written = new List<string>();
        if (format == OutputFormat.Csv)
        {
            written.Add(AtomicFile.Write(Path.Combine(directory, "labels.csv"), s => WriteLabelsCsv(result, s)));
            written.Add(AtomicFile.Write(Path.Combine(directory, "workers.csv"), s => WriteWorkersCsv(result, s)));
        }
        else
        {
            written.Add(AtomicFile.Write(Path.Combine(directory, "labels.json"), s => WriteLabelsJson(result, s)));
            written.Add(AtomicFile.Write(Path.Combine(directory, "workers.json"), s => WriteWorkersJson(result, s)));
        }
        if (result.Confusions is not null)
            written.Add(AtomicFile.Write(Path.Combine(directory, "confusions.json"), s => WriteConfusionsJson(result, s)));
        return written;
    }

    /// <summary>labels.csv: task,label,confidence,p_&lt;class&gt;… (UTF-8, \n line ends).</summary>
    public static void WriteLabelsCsv(AggregationResult r, Stream s)
    {
        var a = r.Answers;
        var header = new StringBuilder("task,label,confidence");
        for (int c = 0; c < a.ClassCount; c++) header.Append(',').Append(CsvText.Escape("p_" + a.Classes[c]));
        s.Write(Encoding.UTF8.GetBytes(header.Append('\n').ToString()));
        // Class names as written, encoded once.
        var classes = new byte[a.ClassCount][];
        for (int c = 0; c < classes.Length; c++) classes[c] = Encoding.UTF8.GetBytes(CsvText.Escape(a.Classes[c]));
        Utf8Rows.Write(s, a.TaskCount, (t, line) =>
        {
            int label = r.Labels[t];
            line.Name(a.Tasks, t).Byte((byte)',').Raw(classes[label]).Byte((byte)',');
            // The confidence is the label's posterior: formatted once, copied into its column.
            int at = line.Length;
            line.Number(r.Confidence(t));
            int length = line.Length - at;
            var row = r.Posteriors.Row(t);
            for (int c = 0; c < row.Length; c++)
            {
                line.Byte((byte)',');
                if (c == label) line.Repeat(at, length);
                else line.Number(row[c]);
            }
        });
    }

    /// <summary>workers.csv: worker,answers,skill,agreement (then the method's own per-worker parameters, by name).</summary>
    public static void WriteWorkersCsv(AggregationResult r, Stream s)
    {
        var a = r.Answers;
        var agreement = Numerics.AgreementWith(a, r.Labels.AsSpan());
        var extra = r.WorkerParameters.Keys.OrderBy(k => k, StringComparer.Ordinal).ToArray();
        var values = extra.Select(e => r.WorkerParameters[e]).ToArray();
        s.Write(Encoding.UTF8.GetBytes("worker,answers,skill,agreement" + string.Concat(extra.Select(e => "," + CsvText.Escape(e))) + "\n"));
        Utf8Rows.Write(s, a.WorkerCount, (i, line) =>
        {
            line.Name(a.Workers, i).Byte((byte)',').Integer(a.WorkerDegree(i))
                .Byte((byte)',').Number(r.WorkerSkills[i]).Byte((byte)',').Number(agreement[i]);
            foreach (var v in values) line.Byte((byte)',').Number(v[i]);
        });
    }

    private static void WriteLabelsJson(AggregationResult r, Stream tw)
    {
        using var j = new Utf8JsonWriter(tw, new JsonWriterOptions { Indented = false });
        var a = r.Answers;
        j.WriteStartArray();
        for (int t = 0; t < a.TaskCount; t++)
        {
            j.WriteStartObject();
            j.WriteString("task", a.Tasks[t]);
            j.WriteString("label", a.Classes[r.Labels[t]]);
            j.WriteNumber("confidence", Finite(r.Confidence(t)));
            j.WriteStartObject("probabilities");
            var row = r.Posteriors.Row(t);
            for (int c = 0; c < row.Length; c++) j.WriteNumber(a.Classes[c], Finite(row[c]));
            j.WriteEndObject();
            j.WriteEndObject();
        }
        j.WriteEndArray();
    }

    private static void WriteWorkersJson(AggregationResult r, Stream tw)
    {
        using var j = new Utf8JsonWriter(tw);
        var a = r.Answers;
        var agreement = Numerics.AgreementWith(a, r.Labels.AsSpan());
        var extra = r.WorkerParameters.OrderBy(p => p.Key, StringComparer.Ordinal).ToArray();
        j.WriteStartArray();
        for (int i = 0; i < a.WorkerCount; i++)
        {
            j.WriteStartObject();
            j.WriteString("worker", a.Workers[i]);
            j.WriteNumber("answers", a.WorkerDegree(i));
            j.WriteNumber("skill", Finite(r.WorkerSkills[i]));
            j.WriteNumber("agreement", Finite(agreement[i]));
            foreach (var (name, values) in extra)
                j.WriteNumber(name, Finite(values[i]));
            j.WriteEndObject();
        }
        j.WriteEndArray();
    }

    /// <summary>How <c>confusions.json</c> lays out each worker's matrix, written into the file as its <c>layout</c> field.</summary>
    /// <remarks>Row = true class, column = the worker's answer, so each row sums to 1. Crowd-Kit's <c>errors_</c> is the
    /// transpose (indexed by the observed label first); the field says which axis is which so nobody has to guess.</remarks>
    public const string ConfusionsLayout = "workers[worker][true_class][answer] = P(answer | true class); rows: true class, columns: answer, each row sums to 1";

    /// <summary>confusions.json: method, <see cref="ConfusionsLayout"/>, classes, class priors, and per worker a K×K matrix
    /// (row = true class, column = answer).</summary>
    public static void WriteConfusionsJson(AggregationResult r, Stream tw)
    {
        var conf = r.Confusions ?? throw new InvalidOperationException("The result has no confusion matrices.");
        using var j = new Utf8JsonWriter(tw, new JsonWriterOptions { Indented = true });
        var a = r.Answers;
        int k = a.ClassCount;
        j.WriteStartObject();
        j.WriteString("method", r.Method);
        j.WriteString("layout", ConfusionsLayout);
        j.WriteStartArray("classes");
        for (int c = 0; c < k; c++) j.WriteStringValue(a.Classes[c]);
        j.WriteEndArray();
        if (!r.ClassPriors.IsEmpty)
        {
            j.WriteStartArray("priors");
            foreach (var p in r.ClassPriors) j.WriteNumberValue(Finite(p));
            j.WriteEndArray();
        }
        j.WriteStartObject("workers");
        for (int w = 0; w < a.WorkerCount; w++)
        {
            j.WriteStartArray(a.Workers[w]);
            for (int t = 0; t < k; t++)
            {
                j.WriteStartArray();
                for (int l = 0; l < k; l++) j.WriteNumberValue(Finite(conf[w, t, l]));
                j.WriteEndArray();
            }
            j.WriteEndArray();
        }
        j.WriteEndObject();
        j.WriteEndObject();
    }

    private static string Num(double x) => NumberFormat.Finite(x);
    private static double Finite(double x) => NumberFormat.CheckFinite(x);
}
