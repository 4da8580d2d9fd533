using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Tally.Learning;

/// <summary>
/// The three matrix products of a dense layer's forward and backward pass, register-blocked over 4-wide vectors.
/// </summary>
/// <remarks>
/// Every output element is still one sum taken in the plain loops' order — started at 0, one term at a time, each a
/// multiplication rounded and then added (never a fused multiply-add, whose availability differs by machine) — and
/// the vectors only compute several independent sums side by side. So the results are bit for bit those of the
/// scalar reference loops (<see cref="ForwardReference"/> and friends, kept for the tests and for machines without
/// 256-bit vectors) on every machine, and a network trains to the same parameters whichever path runs. The blocks
/// (4 rows × 8 columns, 8 accumulators) load each weight vector once per 4 rows and each input once per 8 outputs,
/// which is what the plain dot products and axpys could not do.
/// </remarks>
internal static class DenseKernels
{
    /// <summary>True where the blocked kernels run on hardware vectors (else the reference loops are used).</summary>
    public static bool Accelerated => Vector256.IsHardwareAccelerated;

    /// <summary>
    /// z[b, o] = bias[o] + Σ_i a[b, i] · W[o, i] for <paramref name="rows"/> rows; W is row-major
    /// <paramref name="nout"/> × <paramref name="nin"/>, <paramref name="wt"/> scratch of the same size (W packed).
    /// </summary>
    public static void Forward(ReadOnlySpan<double> a, int rows, int nin, ReadOnlySpan<double> w, ReadOnlySpan<double> bias, int nout, Span<double> wt, Span<double> z)
    {
        if (!Accelerated || nout < 4) { ForwardReference(a, rows, nin, w, bias, nout, z); return; }
        // Wᵀ packed in panels of 8 outputs (then one of 4): the 8 weights of one input are one contiguous 64-byte run
        // and a panel is read front to back. A plain Wᵀ would step by the layer width, which for widths like 128
        // (1 KiB) maps the whole column onto a few cache sets and evicts itself. Packing costs nin·nout, 1/rows of
        // the product.
        int full = nout / 8 * 8;
        for (int o0 = 0; o0 < full; o0 += 8)
        {
            var panel = wt.Slice(o0 * nin, 8 * nin);
            for (int j = 0; j < 8; j++)
            {
                var wo = w.Slice((o0 + j) * nin, nin);
                for (int i = 0; i < nin; i++) panel[i * 8 + j] = wo[i];
            }
        }
        bool four = nout - full >= 4;
        if (four)
        {
            var panel = wt.Slice(full * nin, 4 * nin);
            for (int j = 0; j < 4; j++)
            {
                var wo = w.Slice((full + j) * nin, nin);
                for (int i = 0; i < nin; i++) panel[i * 4 + j] = wo[i];
            }
        }
        ref double A = ref MemoryMarshal.GetReference(a);
        ref double B = ref MemoryMarshal.GetReference(bias);
        ref double Z = ref MemoryMarshal.GetReference(z);
        for (int o0 = 0; o0 < full; o0 += 8)
        {
            ref double P = ref MemoryMarshal.GetReference(wt.Slice(o0 * nin));
            int b0 = 0;
            for (; b0 + 4 <= rows; b0 += 4) Forward4x8(ref A, nin, ref P, nout, ref B, ref Z, b0, o0);
            for (; b0 < rows; b0++) Forward1x8(ref A, nin, ref P, nout, ref B, ref Z, b0, o0);
        }
        int rest = full;
        if (four)
        {
            ref double P = ref MemoryMarshal.GetReference(wt.Slice(full * nin));
            for (int b = 0; b < rows; b++) Forward1x4(ref A, nin, ref P, nout, ref B, ref Z, b, full);
            rest += 4;
        }
        for (int o = rest; o < nout; o++)
        {
            var wo = w.Slice(o * nin, nin);
            for (int b = 0; b < rows; b++)
            {
                double s = 0;
                var ab = a.Slice(b * nin, nin);
                for (int i = 0; i < nin; i++) s += ab[i] * wo[i];
                z[b * nout + o] = bias[o] + s;
            }
        }
    }

    private static void Forward4x8(ref double A, int nin, ref double P, int nout, ref double B, ref double Z, int b0, int o0)
    {
        Vector256<double> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        ref double a0 = ref Unsafe.Add(ref A, (nint)b0 * nin);
        ref double a1 = ref Unsafe.Add(ref a0, nin);
        ref double a2 = ref Unsafe.Add(ref a1, nin);
        ref double a3 = ref Unsafe.Add(ref a2, nin);
        for (int i = 0; i < nin; i++)
        {
            ref double wr = ref Unsafe.Add(ref P, (nint)i * 8);
            var w0 = Vector256.LoadUnsafe(ref wr);
            var w1 = Vector256.LoadUnsafe(ref wr, 4);
            var x = Vector256.Create(Unsafe.Add(ref a0, i)); c00 += x * w0; c01 += x * w1;
            x = Vector256.Create(Unsafe.Add(ref a1, i)); c10 += x * w0; c11 += x * w1;
            x = Vector256.Create(Unsafe.Add(ref a2, i)); c20 += x * w0; c21 += x * w1;
            x = Vector256.Create(Unsafe.Add(ref a3, i)); c30 += x * w0; c31 += x * w1;
        }
        var bias0 = Vector256.LoadUnsafe(ref B, (nuint)o0);
        var bias1 = Vector256.LoadUnsafe(ref B, (nuint)(o0 + 4));
        ref double z0 = ref Unsafe.Add(ref Z, (nint)b0 * nout + o0);
        (bias0 + c00).StoreUnsafe(ref z0); (bias1 + c01).StoreUnsafe(ref z0, 4);
        ref double z1 = ref Unsafe.Add(ref z0, nout);
        (bias0 + c10).StoreUnsafe(ref z1); (bias1 + c11).StoreUnsafe(ref z1, 4);
        ref double z2 = ref Unsafe.Add(ref z1, nout);
        (bias0 + c20).StoreUnsafe(ref z2); (bias1 + c21).StoreUnsafe(ref z2, 4);
        ref double z3 = ref Unsafe.Add(ref z2, nout);
        (bias0 + c30).StoreUnsafe(ref z3); (bias1 + c31).StoreUnsafe(ref z3, 4);
    }

    private static void Forward1x8(ref double A, int nin, ref double P, int nout, ref double B, ref double Z, int b, int o0)
    {
        Vector256<double> c0 = default, c1 = default;
        ref double ab = ref Unsafe.Add(ref A, (nint)b * nin);
        for (int i = 0; i < nin; i++)
        {
            ref double wr = ref Unsafe.Add(ref P, (nint)i * 8);
            var x = Vector256.Create(Unsafe.Add(ref ab, i));
            c0 += x * Vector256.LoadUnsafe(ref wr);
            c1 += x * Vector256.LoadUnsafe(ref wr, 4);
        }
        ref double zb = ref Unsafe.Add(ref Z, (nint)b * nout + o0);
        (Vector256.LoadUnsafe(ref B, (nuint)o0) + c0).StoreUnsafe(ref zb);
        (Vector256.LoadUnsafe(ref B, (nuint)(o0 + 4)) + c1).StoreUnsafe(ref zb, 4);
    }

    private static void Forward1x4(ref double A, int nin, ref double P, int nout, ref double B, ref double Z, int b, int o0)
    {
        Vector256<double> c0 = default;
        ref double ab = ref Unsafe.Add(ref A, (nint)b * nin);
        for (int i = 0; i < nin; i++)
            c0 += Vector256.Create(Unsafe.Add(ref ab, i)) * Vector256.LoadUnsafe(ref Unsafe.Add(ref P, (nint)i * 4));
        (Vector256.LoadUnsafe(ref B, (nuint)o0) + c0).StoreUnsafe(ref Unsafe.Add(ref Z, (nint)b * nout + o0));
    }

    /// <summary>
    /// gW[o, i] = Σ_b dz[b, o] · a[b, i] and gb[o] = Σ_b dz[b, o], summed over the rows in order; both are
    /// overwritten. dz is rows × <paramref name="nout"/>, a rows × <paramref name="nin"/>, gW row-major nout × nin;
    /// <paramref name="dzt"/> is scratch of dz's size.
    /// </summary>
    public static void WeightGradient(ReadOnlySpan<double> dz, ReadOnlySpan<double> a, int rows, int nin, int nout, Span<double> gw, Span<double> gb, Span<double> dzt)
    {
        for (int o = 0; o < nout; o++)
        {
            double s = 0;
            for (int b = 0; b < rows; b++) s += dz[b * nout + o];
            gb[o] = s;
        }
        if (!Accelerated || nin < 4) { WeightGradientReference(dz, a, rows, nin, nout, gw); return; }
        // dzᵀ, so that one output's deltas over the rows are contiguous: stepping through dz by its width (often a
        // power of two) would keep hitting the same few cache sets.
        for (int b = 0; b < rows; b++)
        {
            var db = dz.Slice(b * nout, nout);
            for (int o = 0; o < nout; o++) dzt[o * rows + b] = db[o];
        }
        ref double D = ref MemoryMarshal.GetReference(dzt);
        ref double A = ref MemoryMarshal.GetReference(a);
        ref double G = ref MemoryMarshal.GetReference(gw);
        // Input chunks outside, output blocks inside: the 8 inputs' column of a (rows × 64 bytes) stays in L1 while
        // every block of outputs passes over it.
        int blocks = nout / 4 * 4, i0 = 0;
        for (; i0 + 8 <= nin; i0 += 8)
            for (int o = 0; o < blocks; o += 4) WeightGradient4x8(ref D, ref A, rows, nin, ref G, o, i0);
        for (; i0 < nin; i0++)
            for (int o = 0; o < blocks; o++) gw[o * nin + i0] = ColumnProduct(dz, a, rows, nin, nout, o, i0);
        int o0 = blocks;
        for (; o0 < nout; o0++)
        {
            i0 = 0;
            for (; i0 + 4 <= nin; i0 += 4)
            {
                Vector256<double> c = default;
                for (int b = 0; b < rows; b++)
                    c += Vector256.Create(dz[b * nout + o0]) * Vector256.LoadUnsafe(ref A, (nuint)((nint)b * nin + i0));
                c.StoreUnsafe(ref G, (nuint)((nint)o0 * nin + i0));
            }
            for (; i0 < nin; i0++) gw[o0 * nin + i0] = ColumnProduct(dz, a, rows, nin, nout, o0, i0);
        }
    }

    private static double ColumnProduct(ReadOnlySpan<double> dz, ReadOnlySpan<double> a, int rows, int nin, int nout, int o, int i)
    {
        double s = 0;
        for (int b = 0; b < rows; b++) s += dz[b * nout + o] * a[b * nin + i];
        return s;
    }

    private static void WeightGradient4x8(ref double DT, ref double A, int rows, int nin, ref double G, int o0, int i0)
    {
        Vector256<double> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        ref double d0 = ref Unsafe.Add(ref DT, (nint)o0 * rows);
        ref double d1 = ref Unsafe.Add(ref d0, rows);
        ref double d2 = ref Unsafe.Add(ref d1, rows);
        ref double d3 = ref Unsafe.Add(ref d2, rows);
        ref double arow = ref Unsafe.Add(ref A, i0);
        for (int b = 0; b < rows; b++)
        {
            ref double ab = ref Unsafe.Add(ref arow, (nint)b * nin);
            var x0 = Vector256.LoadUnsafe(ref ab);
            var x1 = Vector256.LoadUnsafe(ref ab, 4);
            var g = Vector256.Create(Unsafe.Add(ref d0, b)); c00 += g * x0; c01 += g * x1;
            g = Vector256.Create(Unsafe.Add(ref d1, b)); c10 += g * x0; c11 += g * x1;
            g = Vector256.Create(Unsafe.Add(ref d2, b)); c20 += g * x0; c21 += g * x1;
            g = Vector256.Create(Unsafe.Add(ref d3, b)); c30 += g * x0; c31 += g * x1;
        }
        ref double g0 = ref Unsafe.Add(ref G, (nint)o0 * nin + i0);
        c00.StoreUnsafe(ref g0); c01.StoreUnsafe(ref g0, 4);
        ref double g1 = ref Unsafe.Add(ref g0, nin);
        c10.StoreUnsafe(ref g1); c11.StoreUnsafe(ref g1, 4);
        ref double g2 = ref Unsafe.Add(ref g1, nin);
        c20.StoreUnsafe(ref g2); c21.StoreUnsafe(ref g2, 4);
        ref double g3 = ref Unsafe.Add(ref g2, nin);
        c30.StoreUnsafe(ref g3); c31.StoreUnsafe(ref g3, 4);
    }

    /// <summary>
    /// da[b, i] = Σ_o dz[b, o] · W[o, i], summed over the outputs in order; da (rows × <paramref name="nin"/>) is
    /// overwritten. W is row-major <paramref name="nout"/> × nin.
    /// </summary>
    public static void InputGradient(ReadOnlySpan<double> dz, ReadOnlySpan<double> w, int rows, int nin, int nout, Span<double> da)
    {
        if (!Accelerated || nin < 4) { InputGradientReference(dz, w, rows, nin, nout, da); return; }
        ref double D = ref MemoryMarshal.GetReference(dz);
        ref double W = ref MemoryMarshal.GetReference(w);
        ref double X = ref MemoryMarshal.GetReference(da);
        int i0 = 0;
        for (; i0 + 8 <= nin; i0 += 8)
        {
            int b0 = 0;
            for (; b0 + 4 <= rows; b0 += 4) InputGradient4x8(ref D, ref W, nin, nout, ref X, b0, i0);
            for (; b0 < rows; b0++)
            {
                Vector256<double> c0 = default, c1 = default;
                for (int o = 0; o < nout; o++)
                {
                    var g = Vector256.Create(dz[b0 * nout + o]);
                    ref double wr = ref Unsafe.Add(ref W, (nint)o * nin + i0);
                    c0 += g * Vector256.LoadUnsafe(ref wr);
                    c1 += g * Vector256.LoadUnsafe(ref wr, 4);
                }
                ref double xb = ref Unsafe.Add(ref X, (nint)b0 * nin + i0);
                c0.StoreUnsafe(ref xb); c1.StoreUnsafe(ref xb, 4);
            }
        }
        for (; i0 + 4 <= nin; i0 += 4)
            for (int b = 0; b < rows; b++)
            {
                Vector256<double> c = default;
                for (int o = 0; o < nout; o++)
                    c += Vector256.Create(dz[b * nout + o]) * Vector256.LoadUnsafe(ref W, (nuint)((nint)o * nin + i0));
                c.StoreUnsafe(ref X, (nuint)((nint)b * nin + i0));
            }
        for (; i0 < nin; i0++)
            for (int b = 0; b < rows; b++)
            {
                double s = 0;
                for (int o = 0; o < nout; o++) s += dz[b * nout + o] * w[o * nin + i0];
                da[b * nin + i0] = s;
            }
    }

    private static void InputGradient4x8(ref double D, ref double W, int nin, int nout, ref double X, int b0, int i0)
    {
        Vector256<double> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        ref double d0 = ref Unsafe.Add(ref D, (nint)b0 * nout);
        ref double d1 = ref Unsafe.Add(ref d0, nout);
        ref double d2 = ref Unsafe.Add(ref d1, nout);
        ref double d3 = ref Unsafe.Add(ref d2, nout);
        ref double wcol = ref Unsafe.Add(ref W, i0);
        for (int o = 0; o < nout; o++)
        {
            ref double wr = ref Unsafe.Add(ref wcol, (nint)o * nin);
            var w0 = Vector256.LoadUnsafe(ref wr);
            var w1 = Vector256.LoadUnsafe(ref wr, 4);
            var g = Vector256.Create(Unsafe.Add(ref d0, o)); c00 += g * w0; c01 += g * w1;
            g = Vector256.Create(Unsafe.Add(ref d1, o)); c10 += g * w0; c11 += g * w1;
            g = Vector256.Create(Unsafe.Add(ref d2, o)); c20 += g * w0; c21 += g * w1;
            g = Vector256.Create(Unsafe.Add(ref d3, o)); c30 += g * w0; c31 += g * w1;
        }
        ref double x0 = ref Unsafe.Add(ref X, (nint)b0 * nin + i0);
        c00.StoreUnsafe(ref x0); c01.StoreUnsafe(ref x0, 4);
        ref double x1 = ref Unsafe.Add(ref x0, nin);
        c10.StoreUnsafe(ref x1); c11.StoreUnsafe(ref x1, 4);
        ref double x2 = ref Unsafe.Add(ref x1, nin);
        c20.StoreUnsafe(ref x2); c21.StoreUnsafe(ref x2, 4);
        ref double x3 = ref Unsafe.Add(ref x2, nin);
        c30.StoreUnsafe(ref x3); c31.StoreUnsafe(ref x3, 4);
    }

    /// <summary>y[i] += α·x[i] (each element rounded exactly as the plain loop would, four at a time).</summary>
    public static void Axpy(double alpha, ReadOnlySpan<double> x, Span<double> y)
    {
        int i = 0;
        if (Accelerated)
        {
            var a = Vector256.Create(alpha);
            ref double X = ref MemoryMarshal.GetReference(x);
            ref double Y = ref MemoryMarshal.GetReference(y);
            for (; i + 4 <= x.Length; i += 4)
                (Vector256.LoadUnsafe(ref Y, (nuint)i) + a * Vector256.LoadUnsafe(ref X, (nuint)i)).StoreUnsafe(ref Y, (nuint)i);
        }
        for (; i < x.Length; i++) y[i] += alpha * x[i];
    }

    // ---- the scalar reference: the plain loops, one dot product or axpy at a time ----

    /// <summary>The plain-loop <see cref="Forward"/>.</summary>
    internal static void ForwardReference(ReadOnlySpan<double> a, int rows, int nin, ReadOnlySpan<double> w, ReadOnlySpan<double> bias, int nout, Span<double> z)
    {
        for (int b = 0; b < rows; b++)
        {
            var ab = a.Slice(b * nin, nin);
            for (int o = 0; o < nout; o++)
            {
                var wo = w.Slice(o * nin, nin);
                double s = 0;
                for (int i = 0; i < nin; i++) s += ab[i] * wo[i];
                z[b * nout + o] = bias[o] + s;
            }
        }
    }

    /// <summary>The plain-loop weight part of <see cref="WeightGradient"/>.</summary>
    internal static void WeightGradientReference(ReadOnlySpan<double> dz, ReadOnlySpan<double> a, int rows, int nin, int nout, Span<double> gw)
    {
        gw[..(nin * nout)].Clear();
        for (int b = 0; b < rows; b++)
        {
            var ab = a.Slice(b * nin, nin);
            for (int o = 0; o < nout; o++)
            {
                double g = dz[b * nout + o];
                var go = gw.Slice(o * nin, nin);
                for (int i = 0; i < nin; i++) go[i] += g * ab[i];
            }
        }
    }

    /// <summary>The plain-loop <see cref="InputGradient"/>.</summary>
    internal static void InputGradientReference(ReadOnlySpan<double> dz, ReadOnlySpan<double> w, int rows, int nin, int nout, Span<double> da)
    {
        da[..(rows * nin)].Clear();
        for (int b = 0; b < rows; b++)
        {
            var db = da.Slice(b * nin, nin);
            for (int o = 0; o < nout; o++)
            {
                double g = dz[b * nout + o];
                var wo = w.Slice(o * nin, nin);
                for (int i = 0; i < nin; i++) db[i] += g * wo[i];
            }
        }
    }
}
