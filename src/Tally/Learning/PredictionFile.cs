using System.Globalization;
using System.Text;
using Tally.Aggregation;
using Tally.Core;

namespace Tally.Learning;

/// <summary>Class probabilities per task as CSV: <c>task,label,p_&lt;class&gt;…</c> (label = the most probable class).</summary>
public static class PredictionFile
{
    /// <summary>
    /// Writes one row per task, in the order given, probabilities in round-trip form; a non-finite probability (never
    /// produced by Tally's models) is a bug and throws (<see cref="NumberFormat.Finite"/>).
    /// </summary>
    public static void Write(TextWriter writer, IReadOnlyList<string> tasks, IReadOnlyList<string> classes, IReadOnlyList<double[]> probabilities)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (probabilities.Count != tasks.Count) throw new ArgumentException("One probability row per task is needed.", nameof(probabilities));
        var sb = new StringBuilder("task,label");
        foreach (var c in classes) sb.Append(',').Append(CsvText.Escape("p_" + c));
        writer.WriteLine(sb.ToString());
        var labels = LearningEvaluation.ArgMax(probabilities);
        for (int i = 0; i < tasks.Count; i++)
        {
            sb.Clear();
            sb.Append(CsvText.Escape(tasks[i])).Append(',').Append(CsvText.Escape(classes[labels[i]]));
            foreach (double v in probabilities[i]) sb.Append(',').Append(NumberFormat.Finite(v));
            writer.WriteLine(sb.ToString());
        }
    }

    /// <summary>Writes posteriors over tasks (rows of <paramref name="posteriors"/>).</summary>
    public static void Write(TextWriter writer, IReadOnlyList<string> tasks, IReadOnlyList<string> classes, RowMatrix posteriors)
    {
        ArgumentNullException.ThrowIfNull(posteriors);
        var rows = new double[posteriors.Rows][];
        for (int i = 0; i < rows.Length; i++) rows[i] = posteriors.Row(i).ToArray();
        Write(writer, tasks, classes, rows);
    }
}
