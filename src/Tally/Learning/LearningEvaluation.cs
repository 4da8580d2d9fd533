using Tally.Aggregation;
using Tally.Core;

namespace Tally.Learning;

/// <summary>Accuracy of predicted class probabilities against known labels.</summary>
public static class LearningEvaluation
{
    /// <summary>Index of the largest probability of each row (ties → lowest index).</summary>
    public static int[] ArgMax(IReadOnlyList<double[]> probabilities)
    {
        ArgumentNullException.ThrowIfNull(probabilities);
        var labels = new int[probabilities.Count];
        for (int i = 0; i < labels.Length; i++)
        {
            var row = probabilities[i];
            int arg = 0;
            for (int c = 1; c < row.Length; c++) if (row[c] > row[arg]) arg = c;
            labels[i] = arg;
        }
        return labels;
    }

    /// <summary>Index of the largest value of each row of <paramref name="posteriors"/>.</summary>
    public static int[] ArgMax(RowMatrix posteriors)
    {
        ArgumentNullException.ThrowIfNull(posteriors);
        return Numerics.ArgMaxRows(posteriors.Values.ToArray(), posteriors.Rows, posteriors.Columns);
    }

    /// <summary>Share of rows whose most probable class equals the label; rows labelled −1 (unknown) are skipped; 0 if none is known.</summary>
    public static double Accuracy(IReadOnlyList<double[]> probabilities, ReadOnlySpan<int> labels)
    {
        if (labels.Length != probabilities.Count) throw new ArgumentException("One label per row is needed.", nameof(labels));
        var predicted = ArgMax(probabilities);
        int n = 0, right = 0;
        for (int i = 0; i < predicted.Length; i++)
        {
            if (labels[i] < 0) continue;
            n++;
            if (predicted[i] == labels[i]) right++;
        }
        return n == 0 ? 0 : (double)right / n;
    }

    /// <summary>Accuracy of the posteriors' most probable class on the tasks <paramref name="truth"/> knows.</summary>
    public static double Accuracy(RowMatrix posteriors, GoldLabels truth) =>
        Tally.Aggregation.Accuracy.Of(ArgMax(posteriors), truth).Value;
}
