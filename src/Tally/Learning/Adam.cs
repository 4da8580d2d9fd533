using System.Runtime.Intrinsics;

namespace Tally.Learning;

/// <summary>
/// Adam state for one parameter vector (Kingma and Ba, "Adam: A method for stochastic optimization", ICLR 2015,
/// Algorithm 1 with the bias corrections folded into the step size). Shared by the network and the crowd models that
/// train their own parameters next to it, so both follow the same update rule.
/// </summary>
internal sealed class AdamOptimizer(int size, double learningRate)
{
    private const double Beta1 = 0.9, Beta2 = 0.999, Epsilon = 1e-8;
    private readonly double[] _m1 = new double[size];
    private readonly double[] _m2 = new double[size];
    private double _pow1 = 1, _pow2 = 1;

    /// <summary>Step size α.</summary>
    public double LearningRate { get; } = learningRate;

    /// <summary>One descent step of <paramref name="parameters"/> along the gradient <paramref name="grad"/>.</summary>
    public void Step(Span<double> parameters, ReadOnlySpan<double> grad)
    {
        _pow1 *= Beta1; _pow2 *= Beta2;
        double stepSize = LearningRate * Math.Sqrt(1 - _pow2) / (1 - _pow1);
        var m1 = _m1.AsSpan(0, parameters.Length);
        var m2 = _m2.AsSpan(0, parameters.Length);
        int q = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            // The same expression, four parameters at a time: each operation is IEEE-rounded as in the scalar loop
            // (square root and division included), so the bits do not depend on which loop ran.
            var b1 = Vector256.Create(Beta1);
            var c1 = Vector256.Create(1 - Beta1);
            var b2 = Vector256.Create(Beta2);
            var c2 = Vector256.Create(1 - Beta2);
            var eps = Vector256.Create(Epsilon);
            var step = Vector256.Create(stepSize);
            for (; q + 4 <= parameters.Length; q += 4)
            {
                var g = Vector256.Create(grad.Slice(q, 4));
                var a = b1 * Vector256.Create((ReadOnlySpan<double>)m1.Slice(q, 4)) + c1 * g;
                var v = b2 * Vector256.Create((ReadOnlySpan<double>)m2.Slice(q, 4)) + c2 * g * g;
                a.CopyTo(m1.Slice(q, 4));
                v.CopyTo(m2.Slice(q, 4));
                var p = Vector256.Create((ReadOnlySpan<double>)parameters.Slice(q, 4));
                (p - step * a / (Vector256.Sqrt(v) + eps)).CopyTo(parameters.Slice(q, 4));
            }
        }
        for (; q < parameters.Length; q++)
        {
            double g = grad[q];
            m1[q] = Beta1 * m1[q] + (1 - Beta1) * g;
            m2[q] = Beta2 * m2[q] + (1 - Beta2) * g * g;
            parameters[q] -= stepSize * m1[q] / (Math.Sqrt(m2[q]) + Epsilon);
        }
    }
}
