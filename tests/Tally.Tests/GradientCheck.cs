using Xunit;

namespace Tally.Tests;

/// <summary>Central finite-difference checks of analytic gradients.</summary>
internal static class GradientCheck
{
    /// <summary>
    /// Perturbs each entry of <paramref name="values"/> by ±1e-6, compares the central difference of
    /// <paramref name="loss"/> with <paramref name="analytic"/> (relative error below <paramref name="tolerance"/>), restores
    /// the value, and returns the worst relative error seen.
    /// </summary>
    public static double Central(double[] values, double[] analytic, Func<double> loss, string what, double tolerance = 1e-6)
    {
        const double step = 1e-6;
        double worst = 0;
        for (int q = 0; q < values.Length; q++)
        {
            double orig = values[q];
            values[q] = orig + step; double lp = loss();
            values[q] = orig - step; double lm = loss();
            values[q] = orig;
            double fd = (lp - lm) / (2 * step);
            double err = Math.Abs(fd - analytic[q]) / Math.Max(1e-3, Math.Abs(fd) + Math.Abs(analytic[q]));
            worst = Math.Max(worst, err);
            Assert.True(err < tolerance, $"{what}[{q}]: finite difference {fd}, analytic {analytic[q]}");
        }
        return worst;
    }
}
