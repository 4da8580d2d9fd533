namespace Tally.Metrics;

/// <summary>Rank correlation between two scorings of the same items.</summary>
public static class RankCorrelation
{
    /// <summary>
    /// Kendall's τ-b: (concordant − discordant) / √((n₀ − n₁)(n₀ − n₂)) over all pairs, n₁ and n₂ the pairs tied in
    /// <paramref name="x"/> and in <paramref name="y"/> (M. G. Kendall, "The treatment of ties in ranking problems",
    /// Biometrika 33, 1945). Pairs where either value is NaN are left out. O(n²); 0 when either side is all ties.
    /// </summary>
    public static double KendallTau(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        if (x.Length != y.Length) throw new ArgumentException("The two scorings have different lengths.");
        long concordant = 0, discordant = 0, tiedX = 0, tiedY = 0, pairs = 0;
        for (int i = 0; i < x.Length; i++)
        {
            if (double.IsNaN(x[i]) || double.IsNaN(y[i])) continue;
            for (int j = i + 1; j < x.Length; j++)
            {
                if (double.IsNaN(x[j]) || double.IsNaN(y[j])) continue;
                pairs++;
                int a = Math.Sign(x[i] - x[j]), b = Math.Sign(y[i] - y[j]);
                if (a == 0) tiedX++;
                if (b == 0) tiedY++;
                if (a * b > 0) concordant++;
                else if (a * b < 0) discordant++;
            }
        }
        double denominator = Math.Sqrt((double)(pairs - tiedX) * (pairs - tiedY));
        return denominator > 0 ? (concordant - discordant) / denominator : 0;
    }
}
