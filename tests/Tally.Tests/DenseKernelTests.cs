using Tally.Learning;
using Xunit;

namespace Tally.Tests;

/// <summary>
/// The blocked dense-layer kernels give exactly the bits of the plain reference loops — on shapes with every kind of
/// remainder (rows not a multiple of 4, widths not a multiple of 8 or 4, widths below 4) — so training does not depend
/// on which path a machine runs.
/// </summary>
public sealed class DenseKernelTests
{
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 64, 784, 128 }, { 1, 1, 1 }, { 3, 5, 2 }, { 5, 9, 10 }, { 7, 13, 12 }, { 4, 8, 8 }, { 9, 31, 17 }, { 2, 3, 6 }, { 6, 4, 4 }, { 11, 20, 3 },
    };

    private static double[] Fill(Random rng, int n, bool sparse = false)
    {
        var v = new double[n];
        // Wide magnitudes and exact zeros (dead ReLU units), so a reordered sum would show up in the last bits.
        for (int i = 0; i < n; i++) v[i] = sparse && rng.NextDouble() < 0.4 ? 0.0 : (rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-6, 7));
        return v;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Forward_weight_and_input_gradients_equal_the_reference_bit_for_bit(int rows, int nin, int nout)
    {
        var rng = new Random(rows * 1000 + nin * 10 + nout);
        double[] a = Fill(rng, rows * nin, sparse: true), w = Fill(rng, nout * nin), bias = Fill(rng, nout), dz = Fill(rng, rows * nout, sparse: true);

        var z = new double[rows * nout];
        var zRef = new double[rows * nout];
        DenseKernels.Forward(a, rows, nin, w, bias, nout, new double[nin * nout], z);
        DenseKernels.ForwardReference(a, rows, nin, w, bias, nout, zRef);
        Assert.Equal(zRef, z);

        var gw = new double[nout * nin];
        var gb = new double[nout];
        var gwRef = new double[nout * nin];
        Array.Fill(gw, double.NaN); // overwritten, not accumulated into
        DenseKernels.WeightGradient(dz, a, rows, nin, nout, gw, gb, new double[rows * nout]);
        DenseKernels.WeightGradientReference(dz, a, rows, nin, nout, gwRef);
        Assert.Equal(gwRef, gw);
        for (int o = 0; o < nout; o++)
        {
            double s = 0;
            for (int b = 0; b < rows; b++) s += dz[b * nout + o];
            Assert.Equal(s, gb[o]);
        }

        var da = new double[rows * nin];
        var daRef = new double[rows * nin];
        Array.Fill(da, double.NaN);
        DenseKernels.InputGradient(dz, w, rows, nin, nout, da);
        DenseKernels.InputGradientReference(dz, w, rows, nin, nout, daRef);
        Assert.Equal(daRef, da);
    }

    [Fact]
    public void The_reference_loops_are_the_plain_matrix_products()
    {
        // 2 rows, 3 inputs, 2 outputs, by hand: z = a·Wᵀ + b, gW = dzᵀ·a, da = dz·W.
        double[] a = [1, 2, 3, 4, 5, 6], w = [1, 0, -1, 2, 1, 0], bias = [0.5, -0.5], dz = [1, 2, -1, 3];
        var z = new double[4];
        DenseKernels.ForwardReference(a, 2, 3, w, bias, 2, z);
        Assert.Equal([1 - 3 + 0.5, 2 + 2 - 0.5, 4 - 6 + 0.5, 8 + 5 - 0.5], z);
        var gw = new double[6];
        DenseKernels.WeightGradientReference(dz, a, 2, 3, 2, gw);
        Assert.Equal([1 - 4, 2 - 5, 3 - 6, 2 + 12, 4 + 15, 6 + 18], gw);
        var da = new double[6];
        DenseKernels.InputGradientReference(dz, w, 2, 3, 2, da);
        Assert.Equal([1 + 4, 0 + 2, -1 + 0, -1 + 6, 0 + 3, 1 + 0], da);
    }
}
