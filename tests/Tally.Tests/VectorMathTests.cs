using Tally.Core;
using Xunit;

namespace Tally.Tests;

/// <summary>The vectorised kernels the aggregators' hot loops use instead of Math.Exp / Math.Log.</summary>
public class VectorMathTests
{
    private static double[] Values(int n, double lo, double hi, int seed)
    {
        var rng = new Random(seed);
        var x = new double[n];
        for (int i = 0; i < n; i++) x[i] = lo + (hi - lo) * rng.NextDouble();
        return x;
    }

    [Fact]
    public void Exp_log_and_logistic_agree_with_Math_to_a_few_ulps()
    {
        var x = Values(1003, -700, 700, 1);
        var e = (double[])x.Clone();
        VectorMath.Exp(e);
        var s = (double[])x.Clone();
        VectorMath.Sigmoid(s);
        var ls = (double[])x.Clone();
        VectorMath.LogSigmoid(ls);
        var p = Values(1003, 1e-300, 1e3, 2);
        var l = (double[])p.Clone();
        VectorMath.Log(l);
        for (int i = 0; i < x.Length; i++)
        {
            Assert.Equal(Math.Exp(x[i]), e[i], Math.Exp(x[i]) * 1e-14);
            double sigma = x[i] >= 0 ? 1 / (1 + Math.Exp(-x[i])) : Math.Exp(x[i]) / (1 + Math.Exp(x[i]));
            Assert.Equal(sigma, s[i], 1e-14);
            Assert.False(double.IsNaN(ls[i]));
            double logSigma = x[i] >= 0 ? -Math.Log(1 + Math.Exp(-x[i])) : x[i] - Math.Log(1 + Math.Exp(x[i]));
            Assert.Equal(logSigma, ls[i], Math.Max(1e-14, Math.Abs(logSigma) * 1e-14));
            Assert.Equal(Math.Log(p[i]), l[i], 1e-13);
        }
    }

    [Fact]
    public void An_elements_value_does_not_depend_on_its_position_in_the_span()
    {
        // Parts of a parallel loop start anywhere: an element in the scalar-looking tail must get the vector path's bits.
        var x = Values(37, -30, 30, 3);
        var whole = (double[])x.Clone();
        VectorMath.Exp(whole);
        for (int start = 0; start < 8; start++)
        {
            var part = x[start..];
            VectorMath.Exp(part);
            for (int i = 0; i < part.Length; i++) Assert.Equal(BitConverter.DoubleToInt64Bits(whole[start + i]), BitConverter.DoubleToInt64Bits(part[i]));
        }
    }

    [Fact]
    public void Normalising_a_block_of_rows_matches_row_by_row_normalisation()
    {
        const int k = 5, rows = 301;
        var x = Values(rows * k, -50, 5, 4);
        x[3] = double.NegativeInfinity;   // a row with an impossible class
        var block = (double[])x.Clone();
        var scratch = new double[2 * rows];
        double total = Numerics.NormalizeLogRows(block, k, scratch), expected = 0;
        for (int r = 0; r < rows; r++)
        {
            var row = x.AsSpan(r * k, k);
            expected += Numerics.NormalizeLog(row);
            for (int i = 0; i < k; i++) Assert.Equal(row[i], block[r * k + i], 1e-14);
        }
        Assert.Equal(expected, total, Math.Abs(expected) * 1e-13);
    }

    [Fact]
    public void A_row_without_a_finite_entry_becomes_uniform_and_adds_minus_infinity()
    {
        const int k = 3;
        double[] rows = [0, 1, 2, double.NegativeInfinity, double.NegativeInfinity, double.NegativeInfinity];
        double total = Numerics.NormalizeLogRows(rows, k, new double[4]);
        Assert.Equal(double.NegativeInfinity, total);
        for (int i = k; i < 2 * k; i++) Assert.Equal(1.0 / k, rows[i], 1e-15);
        Assert.Equal(1.0, rows[0] + rows[1] + rows[2], 1e-15);
    }
}
