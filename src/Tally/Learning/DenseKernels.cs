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
/// 256-bit vectors) on every machine, and a network trains to the same parameters whichever path runs. All three are
/// one product C = U·V in register blocks of 4 rows × 8 columns (8 accumulators), which loads each vector of V once
/// per 4 rows and each element of U once per 8 columns — what the plain dot products and axpys could not do.
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
        if (!Accelerated) { ForwardReference(a, rows, nin, w, bias, nout, z); return; }
        // Wᵀ packed in panels of 8 outputs (then one of 4): the 8 weights of one input are one contiguous 64-byte run
        // and a panel is read front to back. A plain Wᵀ would step by the layer width, which for widths like 128
        // (1 KiB) maps the whole column onto a few cache sets and evicts itself. Packing costs nin·nout, 1/rows of
        // the product.
        ref double A = ref MemoryMarshal.GetReference(a);
        ref double Z = ref MemoryMarshal.GetReference(z);
        int o0 = 0;
        for (int width = 8; width >= 4; width -= 4)
            for (; o0 + width <= nout; o0 += width)
            {
                var panel = wt.Slice(o0 * nin, width * nin);
                for (int j = 0; j < width; j++)
                {
                    var wo = w.Slice((o0 + j) * nin, nin);
                    for (int i = 0; i < nin; i++) panel[i * width + j] = wo[i];
                }
                Product(ref A, nin, ref MemoryMarshal.GetReference(panel), width, rows, width, nin, ref Unsafe.Add(ref Z, o0), nout);
            }
        // The last outputs (fewer than 4): W's row is already the column the product needs.
        for (; o0 < nout; o0++)
            Product(ref A, nin, ref MemoryMarshal.GetReference(w.Slice(o0 * nin, nin)), 1, rows, 1, nin, ref Unsafe.Add(ref Z, o0), nout);
        // bias + sum, the same addition as the plain loop's.
        for (int b = 0; b < rows; b++)
        {
            var zb = z.Slice(b * nout, nout);
            for (int o = 0; o < nout; o++) zb[o] = bias[o] + zb[o];
        }
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
        if (!Accelerated) { WeightGradientReference(dz, a, rows, nin, nout, gw); return; }
        // dzᵀ, so that one output's deltas over the rows are contiguous: stepping through dz by its width (often a
        // power of two) would keep hitting the same few cache sets.
        for (int b = 0; b < rows; b++)
        {
            var db = dz.Slice(b * nout, nout);
            for (int o = 0; o < nout; o++) dzt[o * rows + b] = db[o];
        }
        Product(ref MemoryMarshal.GetReference(dzt), rows, ref MemoryMarshal.GetReference(a), nin, nout, nin, rows, ref MemoryMarshal.GetReference(gw), nin);
    }

    /// <summary>
    /// da[b, i] = Σ_o dz[b, o] · W[o, i], summed over the outputs in order; da (rows × <paramref name="nin"/>) is
    /// overwritten. W is row-major <paramref name="nout"/> × nin.
    /// </summary>
    public static void InputGradient(ReadOnlySpan<double> dz, ReadOnlySpan<double> w, int rows, int nin, int nout, Span<double> da)
    {
        if (!Accelerated) { InputGradientReference(dz, w, rows, nin, nout, da); return; }
        Product(ref MemoryMarshal.GetReference(dz), nout, ref MemoryMarshal.GetReference(w), nin, rows, nin, nout, ref MemoryMarshal.GetReference(da), nin);
    }

    /// <summary>
    /// C[r, j] = Σ_q U[r, q] · V[q, j] for r &lt; <paramref name="m"/>, j &lt; <paramref name="n"/>, q in order from 0 to
    /// <paramref name="t"/>; U, V and C row-major with row strides <paramref name="us"/>, <paramref name="vs"/> and
    /// <paramref name="cs"/> (elements contiguous within a row). Blocks of 8 columns outside, 4 rows inside, so a
    /// block of V (t × 64 bytes) stays in cache while all of U's rows pass over it.
    /// </summary>
    private static void Product(ref double U, nint us, ref double V, nint vs, int m, int n, int t, ref double C, nint cs)
    {
        int j0 = 0;
        for (; j0 + 8 <= n; j0 += 8)
        {
            int r0 = 0;
            for (; r0 + 4 <= m; r0 += 4) Block4x8(ref Unsafe.Add(ref U, r0 * us), us, ref Unsafe.Add(ref V, j0), vs, t, ref Unsafe.Add(ref C, r0 * cs + j0), cs);
            for (; r0 < m; r0++) Block1x8(ref Unsafe.Add(ref U, r0 * us), ref Unsafe.Add(ref V, j0), vs, t, ref Unsafe.Add(ref C, r0 * cs + j0));
        }
        for (; j0 + 4 <= n; j0 += 4)
            for (int r = 0; r < m; r++)
            {
                ref double ur = ref Unsafe.Add(ref U, r * us);
                ref double vj = ref Unsafe.Add(ref V, j0);
                Vector256<double> c = default;
                for (int q = 0; q < t; q++) c += Vector256.Create(Unsafe.Add(ref ur, q)) * Vector256.LoadUnsafe(ref Unsafe.Add(ref vj, q * vs));
                c.StoreUnsafe(ref Unsafe.Add(ref C, r * cs + j0));
            }
        for (; j0 < n; j0++)
            for (int r = 0; r < m; r++)
            {
                ref double ur = ref Unsafe.Add(ref U, r * us);
                ref double vj = ref Unsafe.Add(ref V, j0);
                double s = 0;
                for (int q = 0; q < t; q++) s += Unsafe.Add(ref ur, q) * Unsafe.Add(ref vj, q * vs);
                Unsafe.Add(ref C, r * cs + j0) = s;
            }
    }

    private static void Block4x8(ref double U, nint us, ref double V, nint vs, int t, ref double C, nint cs)
    {
        Vector256<double> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        ref double u0 = ref U;
        ref double u1 = ref Unsafe.Add(ref u0, us);
        ref double u2 = ref Unsafe.Add(ref u1, us);
        ref double u3 = ref Unsafe.Add(ref u2, us);
        for (int q = 0; q < t; q++)
        {
            ref double vq = ref Unsafe.Add(ref V, q * vs);
            var v0 = Vector256.LoadUnsafe(ref vq);
            var v1 = Vector256.LoadUnsafe(ref vq, 4);
            var x = Vector256.Create(Unsafe.Add(ref u0, q)); c00 += x * v0; c01 += x * v1;
            x = Vector256.Create(Unsafe.Add(ref u1, q)); c10 += x * v0; c11 += x * v1;
            x = Vector256.Create(Unsafe.Add(ref u2, q)); c20 += x * v0; c21 += x * v1;
            x = Vector256.Create(Unsafe.Add(ref u3, q)); c30 += x * v0; c31 += x * v1;
        }
        c00.StoreUnsafe(ref C); c01.StoreUnsafe(ref C, 4);
        ref double r1 = ref Unsafe.Add(ref C, cs);
        c10.StoreUnsafe(ref r1); c11.StoreUnsafe(ref r1, 4);
        ref double r2 = ref Unsafe.Add(ref r1, cs);
        c20.StoreUnsafe(ref r2); c21.StoreUnsafe(ref r2, 4);
        ref double r3 = ref Unsafe.Add(ref r2, cs);
        c30.StoreUnsafe(ref r3); c31.StoreUnsafe(ref r3, 4);
    }

    private static void Block1x8(ref double U, ref double V, nint vs, int t, ref double C)
    {
        Vector256<double> c0 = default, c1 = default;
        for (int q = 0; q < t; q++)
        {
            ref double vq = ref Unsafe.Add(ref V, q * vs);
            var x = Vector256.Create(Unsafe.Add(ref U, q));
            c0 += x * Vector256.LoadUnsafe(ref vq);
            c1 += x * Vector256.LoadUnsafe(ref vq, 4);
        }
        c0.StoreUnsafe(ref C); c1.StoreUnsafe(ref C, 4);
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
