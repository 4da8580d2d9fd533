using Tally.Core;

namespace Tally.Aggregation;

/// <summary>Accuracy of hard labels against truth.</summary>
/// <param name="Evaluated">Tasks that have both a label and a truth.</param>
/// <param name="Correct">Of those, correctly labelled.</param>
/// <param name="ClassRecall">Per class: correct / tasks whose truth is that class (NaN-free: 0 when the class never occurs, see <see cref="ClassSupport"/>).</param>
/// <param name="ClassSupport">Per class: tasks whose truth is that class.</param>
public sealed record Accuracy(int Evaluated, int Correct, IReadOnlyList<double> ClassRecall, IReadOnlyList<int> ClassSupport)
{
    /// <summary>Correct / Evaluated (0 if nothing was evaluated).</summary>
    public double Value => Evaluated == 0 ? 0 : (double)Correct / Evaluated;

    /// <summary>Scores <paramref name="labels"/> against <paramref name="truth"/>; tasks without truth are skipped.</summary>
    public static Accuracy Of(ReadOnlySpan<int> labels, GoldLabels truth)
    {
        int k = truth.ClassCount, n = 0, correct = 0;
        var support = new int[k];
        var hits = new int[k];
        for (int t = 0; t < labels.Length && t < truth.TaskCount; t++)
        {
            int y = truth[t];
            if (y < 0) continue;
            n++;
            support[y]++;
            if (labels[t] == y) { correct++; hits[y]++; }
        }
        var recall = new double[k];
        for (int c = 0; c < k; c++) recall[c] = support[c] == 0 ? 0 : (double)hits[c] / support[c];
        return new Accuracy(n, correct, recall, support);
    }
}
