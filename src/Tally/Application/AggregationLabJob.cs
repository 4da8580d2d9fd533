using System.Globalization;
using Tally.Aggregation;
using Tally.Catalogs;
using Tally.Core;
using Tally.Simulation;

namespace Tally.Application;

/// <summary>An aggregation experiment as front ends list it (see <see cref="AggregationLab.Experiments"/>).</summary>
/// <param name="Name">Name to ask for it by.</param>
/// <param name="Symbol">Short name of the swept parameter (table header).</param>
/// <param name="Parameter">What the x axis is.</param>
/// <param name="Summary">One short line.</param>
/// <param name="Description">The scenario in full.</param>
/// <param name="DefaultValues">Values swept unless others are asked for.</param>
/// <param name="HasModelPrior">Whether the Bayesian methods are given a prior matched to the scenario (replaced by <see cref="AggregationLabRequest.Prior"/>).</param>
public sealed record ExperimentInfo(string Name, string Symbol, string Parameter, string Summary, string Description,
    IReadOnlyList<double> DefaultValues, bool HasModelPrior);

/// <summary>What <see cref="AggregationLabJob"/> should do.</summary>
public sealed record AggregationLabRequest
{
    /// <summary>The experiment's name (<see cref="AggregationLabJob.Experiments"/>).</summary>
    public required string Experiment { get; init; }
    /// <summary>Method names or aliases; <c>all</c> = every method.</summary>
    public IReadOnlyList<string> Methods { get; init; } = ["mv", "ds"];
    /// <summary>Values of the swept parameter; null = the experiment's defaults.</summary>
    public IReadOnlyList<double>? Values { get; init; }
    /// <summary>Random crowds per value (at least 2, for an interval).</summary>
    public int Seeds { get; init; } = 20;
    /// <summary>Confidence level of the intervals over seeds.</summary>
    public double Confidence { get; init; } = AccuracySweep.DefaultConfidence;
    /// <summary>Worker prior for the Bayesian methods instead of the experiment's (null: the experiment's, else the method's default).</summary>
    public WorkerPrior? Prior { get; init; }
    /// <summary>Folder for the <see cref="AggregationLabJob.Table"/> table (<see cref="AggregationLabJob.Columns"/>), or null.</summary>
    public string? OutputDirectory { get; init; }
    /// <summary>Format of the table.</summary>
    public OutputFormat OutputFormat { get; init; } = OutputFormat.Csv;
}

/// <summary>What <see cref="AggregationLabJob"/> measured.</summary>
/// <param name="Experiment">The experiment run.</param>
/// <param name="Methods">The methods, in the order asked.</param>
/// <param name="Values">The parameter values swept, in the order asked.</param>
/// <param name="Seeds">Crowds per value.</param>
/// <param name="Confidence">Confidence level of the intervals.</param>
/// <param name="Points">Mean accuracy with interval per (value, method) that ran.</param>
/// <param name="Written">Files written.</param>
public sealed record AggregationLabOutcome(ExperimentInfo Experiment, IReadOnlyList<string> Methods, IReadOnlyList<double> Values,
    int Seeds, double Confidence, IReadOnlyList<SweepPoint> Points, IReadOnlyList<string> Written)
{
    /// <summary>The point of <paramref name="method"/> at the <paramref name="valueIndex"/>-th value, or null if it did not run there.</summary>
    public SweepPoint? At(int valueIndex, string method) =>
        Points.FirstOrDefault(q => q.X.Equals(Values[valueIndex]) && q.Method == method);

    /// <summary>The points of <paramref name="method"/> by increasing parameter value (a curve).</summary>
    public IReadOnlyList<SweepPoint> Curve(string method) => Points.Where(q => q.Method == method).OrderBy(q => q.X).ToList();
}

/// <summary>
/// The aggregation lab: accuracy of truth-inference methods on synthetic crowds as one scenario parameter varies,
/// with confidence intervals over seeds (<see cref="AggregationLab"/>). Used by <c>tally lab aggregation</c>.
/// </summary>
public static class AggregationLabJob
{
    /// <summary>The header of the CSV file.</summary>
    public static IReadOnlyList<string> Columns { get; } = ["x", "method", "mean", "low", "high", "worst", "seeds"];

    /// <summary>The table's name in the output folder: <c>sweep.csv</c> or <c>sweep.json</c>.</summary>
    public const string Table = "sweep";

    /// <summary>The experiments, in the order they are listed.</summary>
    public static IReadOnlyList<ExperimentInfo> Experiments { get; } = AggregationLab.Experiments.Select(Info).ToArray();

    private static ExperimentInfo Info(AggregationExperiment e) =>
        new(e.Name, e.Symbol, e.Parameter, e.Summary, e.Description, e.DefaultValues, e.ModelPrior is not null);

    /// <summary>Runs the job; crowds run in parallel up to <paramref name="compute"/>'s threads, and the points do not depend on their number.</summary>
    /// <exception cref="TallyUserException">Unknown experiment or method, too few seeds, a confidence outside (0, 1), a
    /// prior no chosen method takes, a parameter value the scenario cannot have, or an unwritable CSV location.</exception>
    public static AggregationLabOutcome Run(AggregationLabRequest request, ComputeOptions? compute = null,
        IProgress<JobProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var experiment = AggregationLab.Find(request.Experiment)
            ?? throw new InvalidOptionException("Experiment", $"{Quote.Value(request.Experiment)} is unknown (known: {string.Join(", ", Experiments.Select(e => e.Name))})");
        var methods = Specs.Methods(request.Methods);
        Check.AtLeast(request.Seeds, 2, nameof(request.Seeds));
        if (!(request.Confidence > 0 && request.Confidence < 1))
            throw new InvalidOptionException(nameof(request.Confidence), $"must be strictly between 0 and 1 (got {NumberFormat.Number(request.Confidence)})");
        if (request.Prior is not null && !methods.Any(m => m.AcceptsPrior))
            throw new InvalidOptionException(nameof(request.Prior), $"applies to {string.Join(" and ", AggregatorCatalog.All.Where(m => m.AcceptsPrior).Select(m => m.Name))}, none of which is run");
        var values = request.Values ?? experiment.DefaultValues;
        if (values.Count == 0) throw new InvalidOptionException(nameof(request.Values), "needs at least one value");
        // Each value is tried on one crowd before the sweep, so a value the scenario cannot have is reported as the
        // value it is (not as the simulator's parameter the user never typed), before any work.
        foreach (double x in values)
        {
            if (!double.IsFinite(x)) throw new InvalidOptionException(nameof(request.Values), $"must be finite numbers (got {NumberFormat.Number(x)})");
            try { experiment.Scenario(x, 0); }
            catch (TallyUserException e)
            {
                throw new InvalidOptionException(nameof(request.Values),
                    $"{NumberFormat.Number(x)} does not suit the {experiment.Name} experiment, whose values are {experiment.Parameter}: {(e is InvalidOptionException o ? o.Problem : e.Message)}");
            }
        }
        if (request.OutputDirectory is { } dir) OutputChecks.WritableDirectory(dir);

        string phase = $"Running {experiment.Name}";
        progress?.Report(new JobProgress(phase, 0));
        var points = AggregationLab.Run(experiment, values, request.Seeds, methods, new CommonMethodOptions(Prior: request.Prior),
            request.Confidence, compute, new SyncProgress<WorkProgress>(p => progress?.Report(new JobProgress(phase, p.Fraction))), cancellationToken);
        var written = new List<string>();
        if (request.OutputDirectory is { } outDir) written.Add(Write(points, outDir, request.OutputFormat));
        return new AggregationLabOutcome(Info(experiment), methods.Select(m => m.Name).ToArray(), values, request.Seeds,
            request.Confidence, points, written);
    }

    /// <summary>Writes the points (<see cref="Columns"/>; accuracies as fractions) into <paramref name="directory"/>, atomically.</summary>
    public static string Write(IReadOnlyList<SweepPoint> points, string directory, OutputFormat format) => TableFile.Write(directory, Table, format, Columns, t =>
    {
        foreach (var q in points)
        {
            t.Number(q.X).Text(q.Method).Number(q.Mean).Number(q.Low).Number(q.High).Number(q.Worst).Integer(q.Seeds);
            t.EndRow();
        }
    });
}
