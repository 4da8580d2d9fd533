using Tally.Catalogs;
using MathNet.Numerics.Distributions;
using Tally.Aggregation;
using Tally.Core;

namespace Tally.Simulation;

/// <summary>Mean accuracy of one method at one value of the swept parameter, over seeds.</summary>
/// <param name="X">Value of the swept parameter.</param>
/// <param name="Method">Method name.</param>
/// <param name="Mean">Mean accuracy (fraction).</param>
/// <param name="Low">Lower end of the confidence interval of the mean.</param>
/// <param name="High">Upper end of the confidence interval of the mean.</param>
/// <param name="Seeds">Number of seeds averaged.</param>
/// <param name="Worst">Lowest accuracy over the seeds.</param>
public sealed record SweepPoint(double X, string Method, double Mean, double Low, double High, int Seeds, double Worst);

/// <summary>
/// Accuracy of several methods as one parameter of a synthetic scenario varies: for each value and each seed a crowd
/// is drawn, every method runs on it, and the mean accuracy gets a Student-t confidence interval over seeds
/// (the seeds are independent draws, so the interval is for the expected accuracy under the scenario).
/// </summary>
public static class AccuracySweep
{
    /// <summary>Confidence level of the intervals unless a caller asks for another.</summary>
    public const double DefaultConfidence = 0.99;

    /// <summary>
    /// Runs the sweep. The (value, seed) crowds run in parallel up to <paramref name="compute"/>'s thread limit (each
    /// crowd is small), the methods in sequence on each crowd with <see cref="ComputeOptions.Sequential"/> inside (no
    /// nested parallel loops); every crowd fills its own slots, so the points are the same for any thread count.
    /// </summary>
    /// <param name="values">Values of the swept parameter.</param>
    /// <param name="seeds">Seeds per value (0..seeds−1, offset by the value's index so values do not share draws).</param>
    /// <param name="scenario">Draws a crowd for (parameter value, seed); called from several threads at once.</param>
    /// <param name="methods">Methods to compare.</param>
    /// <param name="options">Options for every method (seed is replaced by the crowd's seed).</param>
    /// <param name="confidence">Confidence level of the interval.</param>
    /// <param name="compute">Thread limit of the loop over crowds.</param>
    /// <param name="progress">Crowds done.</param>
    /// <param name="cancellationToken">Stops between crowds.</param>
    public static IReadOnlyList<SweepPoint> Run(IReadOnlyList<double> values, int seeds, Func<double, int, SimulatedCrowd> scenario,
        IReadOnlyList<AggregatorInfo> methods, CommonMethodOptions options, double confidence = DefaultConfidence,
        ComputeOptions? compute = null, IProgress<WorkProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Run(values, seeds, scenario, methods, _ => options, confidence, compute, progress, cancellationToken);

    /// <summary>As <see cref="Run(IReadOnlyList{double}, int, Func{double, int, SimulatedCrowd}, IReadOnlyList{AggregatorInfo}, CommonMethodOptions, double, ComputeOptions, IProgress{WorkProgress}, CancellationToken)"/>,
    /// with method options that depend on the parameter value (e.g. the true worker prior).</summary>
    public static IReadOnlyList<SweepPoint> Run(IReadOnlyList<double> values, int seeds, Func<double, int, SimulatedCrowd> scenario,
        IReadOnlyList<AggregatorInfo> methods, Func<double, CommonMethodOptions> optionsAt, double confidence = DefaultConfidence,
        ComputeOptions? compute = null, IProgress<WorkProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(methods);
        ArgumentNullException.ThrowIfNull(optionsAt);
        Check.AtLeast(seeds, 2, "Seeds");
        if (!(confidence > 0 && confidence < 1)) throw new InvalidOptionException("Confidence", $"must be strictly between 0 and 1 (got {NumberFormat.Number(confidence)})");
        foreach (double x in values) Check.Finite(x, "Values");
        compute?.Validate();
        var acc = new double[values.Count, methods.Count, seeds];
        int total = values.Count * seeds;
        long done = 0;
        var outer = compute ?? ComputeOptions.Default;
        var inner = outer.Inner(Math.Min(outer.Threads, total));
        try
        {
            Parallelism.ForEach(total, compute, job => RunCrowd(job), cancellationToken);
        }
        catch (AggregateException e)
        {
            // A bad scenario value fails on every thread at once; report it as the one error it is.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.Flatten().InnerExceptions[0]).Throw();
        }

        void RunCrowd(int job)
        {
            int v = job / seeds, s = job % seeds;
            int seed = v * 100_003 + s;
            var crowd = scenario(values[v], seed);
            for (int m = 0; m < methods.Count; m++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var info = methods[m];
                if (info.BinaryOnly && crowd.Answers.ClassCount != 2) { acc[v, m, s] = double.NaN; continue; }
                var result = info.Create(optionsAt(values[v]) with { Seed = seed }).Aggregate(crowd.Answers, inner, null, cancellationToken);
                acc[v, m, s] = Accuracy.Of(result.Labels.AsSpan(), crowd.Truth).Value;
            }
            progress?.Report(new WorkProgress(Interlocked.Increment(ref done), total));
        }
        var points = new List<SweepPoint>();
        double t = StudentT.InvCDF(0, 1, seeds - 1, 1 - (1 - confidence) / 2);
        for (int v = 0; v < values.Count; v++)
            for (int m = 0; m < methods.Count; m++)
            {
                double sum = 0, sq = 0, worst = 1;
                int n = 0;
                for (int s = 0; s < seeds; s++)
                {
                    double a = acc[v, m, s];
                    if (double.IsNaN(a)) continue;
                    sum += a; sq += a * a; n++;
                    worst = Math.Min(worst, a);
                }
                if (n == 0) continue;
                double mean = sum / n;
                double sd = n > 1 ? Math.Sqrt(Math.Max(0, (sq - n * mean * mean) / (n - 1))) : 0;
                double half = t * sd / Math.Sqrt(n);
                points.Add(new SweepPoint(values[v], methods[m].Name, mean, Math.Max(0, mean - half), Math.Min(1, mean + half), n, worst));
            }
        return points;
    }
}
