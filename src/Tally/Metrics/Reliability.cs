using Tally.Core;

namespace Tally.Metrics;

/// <summary>How Krippendorff's α measures the difference between two values (its metric δ²).</summary>
public enum AlphaLevel
{
    /// <summary>Values are names: any two different values differ by 1.</summary>
    Nominal,
    /// <summary>Values are ranks in the class order: the difference grows with how many values lie between them.</summary>
    Ordinal,
    /// <summary>Values are numbers (every class name must parse as one): δ² = (v − w)².</summary>
    Interval,
    /// <summary>Values are numbers with a true zero: δ² = ((v − w) / (v + w))².</summary>
    Ratio,
}

/// <summary>
/// Agreement among workers beyond chance: Krippendorff's α and Fleiss' κ, on the answers alone (no aggregate needed).
/// Tasks are the units, workers the coders, classes the values; tasks with fewer than two answers carry no pair and are
/// left out, as both coefficients prescribe.
/// </summary>
public static class Reliability
{
    /// <summary>
    /// Krippendorff's α = 1 − D_o / D_e: observed over expected disagreement, from the coincidence matrix
    /// o_ck = Σ_u (number of c–k pairs of values in unit u) / (m_u − 1) and its marginals n_c (K. Krippendorff, "Computing
    /// Krippendorff's alpha-reliability", University of Pennsylvania, 2011, the "C." steps: α = 1 − (n − 1) Σ o_ck δ²_ck /
    /// Σ n_c n_k δ²_ck). Any number of workers, missing answers allowed. Ordinal uses the class order; interval and
    /// ratio need numeric class names.
    /// </summary>
    /// <returns>α, or null when it is undefined (fewer than two pairable values, or all pairable values equal, so D_e = 0).</returns>
    /// <exception cref="TallyUserException">Interval or ratio level with a class name that is not a number.</exception>
    public static double? KrippendorffAlpha(LabelMatrix answers, AlphaLevel level)
    {
        ArgumentNullException.ThrowIfNull(answers);
        int K = answers.ClassCount;
        double[]? values = level is AlphaLevel.Interval or AlphaLevel.Ratio ? NumericClasses(answers, level) : null;
        // Marginals n_c of the pairable values, then the unit sums of observed disagreement.
        var n = new double[K];
        var counts = new int[K];
        var present = new List<int>();
        for (int t = 0; t < answers.TaskCount; t++)
        {
            int m = answers.TaskDegree(t);
            if (m < 2) continue;
            foreach (int c in answers.LabelsOf(t)) n[c]++;
        }
        double total = 0;
        foreach (double x in n) total += x;
        if (total < 2) return null;
        var cumulative = new double[K + 1];
        for (int c = 0; c < K; c++) cumulative[c + 1] = cumulative[c] + n[c];

        double Delta(int c, int k)
        {
            if (c == k) return 0;
            switch (level)
            {
                case AlphaLevel.Nominal: return 1;
                case AlphaLevel.Ordinal:
                {
                    int lo = Math.Min(c, k), hi = Math.Max(c, k);
                    double d = cumulative[hi + 1] - cumulative[lo] - (n[c] + n[k]) / 2;
                    return d * d;
                }
                case AlphaLevel.Interval:
                {
                    double d = values![c] - values[k];
                    return d * d;
                }
                default:
                {
                    double s = values![c] + values[k];
                    if (s == 0) return 0;
                    double d = (values[c] - values[k]) / s;
                    return d * d;
                }
            }
        }

        double observed = 0;
        for (int t = 0; t < answers.TaskCount; t++)
        {
            int m = answers.TaskDegree(t);
            if (m < 2) continue;
            present.Clear();
            foreach (int c in answers.LabelsOf(t)) { if (counts[c]++ == 0) present.Add(c); }
            double unit = 0;
            foreach (int c in present)
                foreach (int k in present)
                    if (c != k) unit += (double)counts[c] * counts[k] * Delta(c, k);
            observed += unit / (m - 1);
            foreach (int c in present) counts[c] = 0;
        }
        double expected = 0;
        for (int c = 0; c < K; c++)
        {
            if (n[c] == 0) continue;
            for (int k = 0; k < K; k++) if (k != c && n[k] > 0) expected += n[c] * n[k] * Delta(c, k);
        }
        if (!(expected > 0)) return null;
        return 1 - (total - 1) * observed / expected;
    }

    private static double[] NumericClasses(LabelMatrix answers, AlphaLevel level)
    {
        var v = new double[answers.ClassCount];
        for (int c = 0; c < v.Length; c++)
            if (!NumberFormat.TryParse(answers.Classes[c], out v[c]) || !double.IsFinite(v[c]))
                throw new TallyUserException($"{Specs(level)} α needs numeric classes; class {Quote.Value(answers.Classes[c])} is not a number");
        return v;
    }

    private static string Specs(AlphaLevel level) => level.ToString().ToLowerInvariant();

    /// <summary>Whether every class name is a finite number (so the interval and ratio levels apply).</summary>
    public static bool HasNumericClasses(LabelMatrix answers)
    {
        ArgumentNullException.ThrowIfNull(answers);
        for (int c = 0; c < answers.ClassCount; c++)
            if (!NumberFormat.TryParse(answers.Classes[c], out double v) || !double.IsFinite(v)) return false;
        return true;
    }

    /// <summary>
    /// Fleiss' κ = (P̄ − P̄_e) / (1 − P̄_e), P_i = (Σ_j n_ij² − n_i) / (n_i (n_i − 1)) the agreement among task i's answers and
    /// P̄_e = Σ_j p_j² with p_j the share of all answers in class j (J. L. Fleiss, "Measuring nominal scale agreement among
    /// many raters", Psychological Bulletin 76(5), 1971, eqs. 2–6). Fleiss assumes the same number of answers per task;
    /// with unequal numbers each task's P_i uses its own n_i and p_j pools all answers (the usual generalisation).
    /// </summary>
    /// <returns>κ, or null when undefined (no task with two answers, or every answer in one class).</returns>
    public static double? FleissKappa(LabelMatrix answers)
    {
        ArgumentNullException.ThrowIfNull(answers);
        int K = answers.ClassCount;
        var classTotals = new double[K];
        var counts = new int[K];
        double agreement = 0, all = 0;
        int tasks = 0;
        for (int t = 0; t < answers.TaskCount; t++)
        {
            int m = answers.TaskDegree(t);
            if (m < 2) continue;
            foreach (int c in answers.LabelsOf(t)) counts[c]++;
            double squares = 0;
            foreach (int c in answers.LabelsOf(t))
            {
                if (counts[c] == 0) continue;
                squares += (double)counts[c] * counts[c];
                classTotals[c] += counts[c];
                counts[c] = 0;
            }
            agreement += (squares - m) / ((double)m * (m - 1));
            all += m;
            tasks++;
        }
        if (tasks == 0) return null;
        double pBar = agreement / tasks, pe = 0;
        foreach (double x in classTotals) pe += (x / all) * (x / all);
        if (!(1 - pe > 1e-15)) return null;
        return (pBar - pe) / (1 - pe);
    }
}
