using System.Globalization;
using System.Text;
using Tally.Aggregation;
using Tally.Core;

namespace Tally.Learning;

/// <summary>
/// Class probabilities per task as a table (<see cref="TableFile"/>, CSV or JSON): <c>task,label,p_&lt;class&gt;…</c>
/// (label = the most probable class).
/// </summary>
public static class PredictionFile
{
    /// <summary>The columns: task, label, then p_&lt;class&gt; per class.</summary>
    public static string[] Columns(IReadOnlyList<string> classes)
    {
        ArgumentNullException.ThrowIfNull(classes);
        var columns = new string[classes.Count + 2];
        columns[0] = "task";
        columns[1] = "label";
        for (int c = 0; c < classes.Count; c++) columns[c + 2] = "p_" + classes[c];
        return columns;
    }

    /// <summary>
    /// Writes one row per task, in the order given, probabilities in round-trip form; a non-finite probability (never
    /// produced by Tally's models) is a bug and throws.
    /// </summary>
    public static Action<TableFile> Rows(IReadOnlyList<string> tasks, IReadOnlyList<string> classes, IReadOnlyList<double[]> probabilities)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        ArgumentNullException.ThrowIfNull(probabilities);
        if (probabilities.Count != tasks.Count) throw new ArgumentException("One probability row per task is needed.", nameof(probabilities));
        return t =>
        {
            var labels = LearningEvaluation.ArgMax(probabilities);
            for (int i = 0; i < tasks.Count; i++)
            {
                t.Text(tasks[i]).Text(classes[labels[i]]);
                foreach (double v in probabilities[i]) t.Number(v);
                t.EndRow();
            }
        };
    }

    /// <summary>Writes the table <paramref name="name"/> into <paramref name="directory"/>; returns the path.</summary>
    public static string Write(string directory, string name, OutputFormat format, IReadOnlyList<string> tasks, IReadOnlyList<string> classes,
        IReadOnlyList<double[]> probabilities) =>
        TableFile.Write(directory, name, format, Columns(classes), Rows(tasks, classes, probabilities));

    /// <summary>The rows of a posterior matrix (one per task).</summary>
    public static double[][] RowsOf(RowMatrix posteriors)
    {
        ArgumentNullException.ThrowIfNull(posteriors);
        var rows = new double[posteriors.Rows][];
        for (int i = 0; i < rows.Length; i++) rows[i] = posteriors.Row(i).ToArray();
        return rows;
    }
}
