using MathNet.Numerics.Distributions;
using Tally.Core;
using Tally.Mechanisms;

namespace Tally.Simulation;

/// <summary>Which scenario parameter a <see cref="PaymentGapSweep"/> varies.</summary>
public enum GapAxis
{
    /// <summary>The adversary fraction α.</summary>
    AdversaryFraction,
    /// <summary>The number of tasks m.</summary>
    Tasks,
}

/// <summary>The truthful-payment gap of one mechanism at one parameter value.</summary>
/// <param name="X">Parameter value.</param>
/// <param name="Mechanism">Mechanism name.</param>
/// <param name="WithAdversary">Honest agents' mean payment with the adversary.</param>
/// <param name="WithoutAdversary">The same agents' mean payment when everyone is honest (same seeds).</param>
/// <param name="Gap">|with − without|.</param>
/// <param name="HalfWidth">Half-width of the confidence interval of the difference (unpaired t).</param>
public sealed record GapPoint(double X, string Mechanism, double WithAdversary, double WithoutAdversary, double Gap, double HalfWidth);

/// <summary>
/// How much an adversary moves honest agents' payments: |E[payment | truthful, adversary] − E[payment | truthful, no
/// adversary]| as α or m varies — the quantity of Schoenebeck, Yu et al., "Information Elicitation from Rowdy Crowds"
/// (WWW 2021), Theorem 5.2 (Θ(α) for the naive Mechanism 1) and Theorems 5.3/6.x (→ 0 for the robust mechanisms as m grows).
/// </summary>
public static class PaymentGapSweep
{
    /// <summary>
    /// Runs the sweep; the adversary-free baseline uses the same seeds and signals. Each value's two
    /// <see cref="PeerLab.Run"/> calls are parallel over seeds (up to <paramref name="compute"/>), so the points are the
    /// same for any thread count.
    /// </summary>
    /// <param name="mechanisms">The mechanisms.</param>
    /// <param name="baseScenario">The scenario the varied parameter is set in.</param>
    /// <param name="axis">Which parameter varies.</param>
    /// <param name="values">Its values.</param>
    /// <param name="confidence">Confidence level of the half-widths; default 0.95.</param>
    /// <param name="compute">Thread cap.</param>
    /// <param name="progress">Values done.</param>
    /// <param name="cancellationToken">Stops between seeds.</param>
    public static IReadOnlyList<GapPoint> Run(IReadOnlyList<IPeerPredictionMechanism> mechanisms, PeerLabScenario baseScenario,
        GapAxis axis, IReadOnlyList<double> values, double confidence = 0.95, ComputeOptions? compute = null,
        IProgress<WorkProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(mechanisms);
        ArgumentNullException.ThrowIfNull(baseScenario);
        ArgumentNullException.ThrowIfNull(values);
        var points = new List<GapPoint>();
        // No deviations: only the truthful payments matter here, and each deviation costs a full mechanism run.
        var scenario = baseScenario with { Deviations = [] };
        for (int v = 0; v < values.Count; v++)
        {
            double x = values[v];
            var at = axis == GapAxis.AdversaryFraction ? scenario with { AdversaryFraction = x } : scenario with { Tasks = (int)x };
            var with = PeerLab.Run(mechanisms, at, compute, null, cancellationToken);
            var without = PeerLab.Run(mechanisms, at with { AdversaryFraction = 0 }, compute, null, cancellationToken);
            for (int i = 0; i < mechanisms.Count; i++)
            {
                var a = with.Mechanisms[i].HonestMean;
                var b = without.Mechanisms[i].HonestMean;
                double t = StudentT.InvCDF(0, 1, Math.Max(1, a.Seeds - 1), 1 - (1 - confidence) / 2);
                double half = t * Math.Sqrt(a.StdError * a.StdError + b.StdError * b.StdError);
                points.Add(new GapPoint(x, with.Mechanisms[i].Mechanism, a.Mean, b.Mean, Math.Abs(a.Mean - b.Mean), half));
            }
            progress?.Report(new WorkProgress(v + 1, values.Count));
        }
        return points;
    }
}
