using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Tally.Core;

/// <summary>
/// Elementwise exp, log and logistic functions over spans, four doubles at a time (<see cref="Vector256"/>, whose
/// exp and log are within a few ulps of <see cref="Math"/>'s). Every element, the tail included, goes through the
/// same vector code, so an element's value does not depend on where in the span it sits: results stay independent
/// of how the work is split.
/// </summary>
internal static class VectorMath
{
    /// <summary>x ← e^x.</summary>
    public static void Exp(Span<double> x) => Apply<ExpOp>(x);

    /// <summary>x ← log x.</summary>
    public static void Log(Span<double> x) => Apply<LogOp>(x);

    /// <summary>x ← σ(x) = 1 / (1 + e^−x) (0 or 1 where e^−x overflows or vanishes; never NaN for finite x).</summary>
    public static void Sigmoid(Span<double> x) => Apply<SigmoidOp>(x);

    /// <summary>x ← log σ(x) = min(x, 0) − log(1 + e^−|x|), without overflow.</summary>
    public static void LogSigmoid(Span<double> x) => Apply<LogSigmoidOp>(x);

    private interface IOp { static abstract Vector256<double> Invoke(Vector256<double> v); }

    private readonly struct ExpOp : IOp { public static Vector256<double> Invoke(Vector256<double> v) => Vector256.Exp(v); }

    private readonly struct LogOp : IOp { public static Vector256<double> Invoke(Vector256<double> v) => Vector256.Log(v); }

    private readonly struct SigmoidOp : IOp
    {
        public static Vector256<double> Invoke(Vector256<double> v) => Vector256<double>.One / (Vector256<double>.One + Vector256.Exp(-v));
    }

    private readonly struct LogSigmoidOp : IOp
    {
        public static Vector256<double> Invoke(Vector256<double> v) =>
            Vector256.Min(v, Vector256<double>.Zero) - Vector256.Log(Vector256<double>.One + Vector256.Exp(-Vector256.Abs(v)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Apply<TOp>(Span<double> x) where TOp : struct, IOp
    {
        ref double p = ref MemoryMarshal.GetReference(x);
        int n = x.Length, i = 0;
        for (; i <= n - Vector256<double>.Count; i += Vector256<double>.Count)
            TOp.Invoke(Vector256.LoadUnsafe(ref p, (nuint)i)).StoreUnsafe(ref p, (nuint)i);
        if (i < n)
        {
            // The tail through the same vector code (padded with a harmless 1) rather than scalar Math calls.
            Span<double> tail = stackalloc double[Vector256<double>.Count];
            tail.Fill(1);
            x[i..].CopyTo(tail);
            var r = TOp.Invoke(Vector256.Create<double>(tail));
            for (int j = 0; i + j < n; j++) x[i + j] = r[j];
        }
    }
}
