using System.Collections.Immutable;
using System.Globalization;
using Tally.Catalogs;
using Tally.Core;
using Tally.Mechanisms;
using Tally.Simulation;

namespace Tally.Application;

/// <summary>
/// The little languages of the peer-prediction labs: mechanism lists, signal priors (<c>ds:K,ACCURACY</c> |
/// <c>edx:INDEX</c>) and adversary strategies. Errors name the command-line option.
/// </summary>
public static class PeerLabSpecs
{
    /// <summary>Mechanisms from a comma-separated list of catalog names (REFORM is not a single-round mechanism and is refused).</summary>
    /// <exception cref="TallyUserException">An unknown name, a <c>reform:</c> name or an empty list.</exception>
    public static IReadOnlyList<MechanismInfo> Mechanisms(string list)
    {
        ArgumentNullException.ThrowIfNull(list);
        var names = list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (names.Length == 0) throw new TallyUserException("--mechanism: give at least one mechanism");
        return [.. names.Select(n =>
        {
            if (MechanismCatalog.Find(n) is { } info) return info;
            if (MechanismCatalog.Resolve(n) is { Reform: true })
                throw new TallyUserException($"--mechanism {n}: the labs measure one round's incentives; REFORM needs reputations across rounds (see 'tally rounds run')");
            throw new TallyUserException($"unknown mechanism {Quote.Value(n)} (known: {string.Join(", ", MechanismCatalog.All.Select(m => m.Name))})");
        })];
    }

    /// <summary>
    /// A signal prior: <c>ds:K,ACCURACY</c> (symmetric Dawid-Skene, K ≥ 2, accuracy in (0, 1); <c>ds</c> alone = 2, 0.8)
    /// or <c>edx:INDEX</c> (one of the bundled edX joints, loaded by <paramref name="edx"/> only then).
    /// </summary>
    /// <exception cref="TallyUserException">Any other form or an out-of-range value.</exception>
    public static ISignalPrior Prior(string spec, Func<IReadOnlyList<EdxPrior>>? edx = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var parts = spec.Split(':', 2);
        if (parts[0] == "ds")
        {
            var a = parts.Length == 2 ? parts[1].Split(',') : ["2", "0.8"];
            if (a.Length != 2 || !int.TryParse(a[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out int k)
                || !double.TryParse(a[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double acc) || k < 2 || !(acc > 0 && acc < 1))
                throw new TallyUserException($"--prior ds:K,ACCURACY needs K ≥ 2 and accuracy in (0, 1) (got {Quote.Value(spec)})");
            return LatentClassPrior.SymmetricDawidSkene(k, acc);
        }
        if (parts[0] == "edx" && parts.Length == 2 && int.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int index))
        {
            var all = (edx ?? EdxPriors.LoadBundled)();
            if (index < 0 || index >= all.Count) throw new TallyUserException($"--prior edx:INDEX must be between 0 and {all.Count - 1}");
            return all[index].ToSignalPrior();
        }
        throw new TallyUserException($"--prior must be ds:K,ACCURACY or edx:INDEX (got {Quote.Value(spec)})");
    }

    /// <summary>An adversary strategy by name: constant, random, flip or pattern (case-insensitive).</summary>
    /// <exception cref="TallyUserException">Any other name.</exception>
    public static AdversaryStrategy Adversary(string name) => name.ToLowerInvariant() switch
    {
        "constant" => AdversaryStrategy.Constant, "random" => AdversaryStrategy.Random,
        "flip" => AdversaryStrategy.Flip, "pattern" => AdversaryStrategy.Pattern,
        _ => throw new TallyUserException($"--adversary-strategy must be constant, random, flip or pattern (got {Quote.Value(name)})"),
    };

    /// <summary>Numbers from a comma-separated list.</summary>
    /// <exception cref="TallyUserException">An entry that is not a number, or no entry.</exception>
    public static ImmutableArray<double> Numbers(string list, string option)
    {
        ArgumentNullException.ThrowIfNull(list);
        var xs = list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(x =>
            double.TryParse(x, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && double.IsFinite(d)
                ? d : throw new TallyUserException($"{option}: {Quote.Value(x)} is not a number")).ToImmutableArray();
        if (xs.IsEmpty) throw new TallyUserException($"{option}: give at least one number");
        return xs;
    }

    /// <summary>The lab's own defaults (a scenario needs a prior; the one here is only a placeholder).</summary>
    internal static readonly PeerLabScenario Defaults = new() { Prior = LatentClassPrior.SymmetricDawidSkene(2, 0.8) };
}

/// <summary>What <see cref="PeerLabJob"/> should do (defaults: <see cref="PeerLabScenario"/>'s).</summary>
public sealed record PeerLabRequest
{
    /// <summary>Comma-separated mechanisms.</summary>
    public string Mechanisms { get; init; } = "ca,dmi,tvd-mi,rmif-ds";
    /// <summary>Signal prior (<see cref="PeerLabSpecs.Prior"/>).</summary>
    public string Prior { get; init; } = "ds:2,0.8";
    /// <summary>Agents n.</summary>
    public int Agents { get; init; } = PeerLabSpecs.Defaults.Agents;
    /// <summary>Tasks m.</summary>
    public int Tasks { get; init; } = PeerLabSpecs.Defaults.Tasks;
    /// <summary>Fraction α of agents controlled by one adversary.</summary>
    public double AdversaryFraction { get; init; } = PeerLabSpecs.Defaults.AdversaryFraction;
    /// <summary>The adversary's strategy (<see cref="PeerLabSpecs.Adversary"/>).</summary>
    public string AdversaryStrategy { get; init; } = PeerLabSpecs.Defaults.Adversary.ToString().ToLowerInvariant();
    /// <summary>Independent runs averaged.</summary>
    public int Seeds { get; init; } = PeerLabSpecs.Defaults.Seeds;
    /// <summary>Base seed.</summary>
    public int Seed { get; init; } = PeerLabSpecs.Defaults.Seed;
}

/// <summary>One mechanism's row of a peer-lab run.</summary>
/// <param name="Result">The measurements.</param>
/// <param name="BestOwnSignalDeviation">
/// The deviation with the largest mean gain among those that use only the agent's own signal (the class the
/// mechanisms' guarantees cover; always-majority peeks at the others' signals), or null if none was tried.
/// </param>
/// <param name="TruthfulBestAmongOwnSignal">No own-signal deviation's paired gain is significantly positive.</param>
public sealed record PeerLabRow(PeerLabMechanismResult Result, DeviationResult? BestOwnSignalDeviation, bool TruthfulBestAmongOwnSignal);

/// <summary>What <see cref="PeerLabJob"/> found.</summary>
/// <param name="Result">The lab's result (scenario and every mechanism's measurements).</param>
/// <param name="Rows">One row per mechanism, in request order.</param>
public sealed record PeerLabOutcome(PeerLabResult Result, ImmutableArray<PeerLabRow> Rows);

/// <summary>The peer-prediction incentive lab behind <c>tally lab peer</c> (<see cref="PeerLab"/>).</summary>
public static class PeerLabJob
{
    /// <summary>Runs the lab.</summary>
    /// <exception cref="TallyUserException">A bad mechanism list, prior, strategy or scenario.</exception>
    public static PeerLabOutcome Run(PeerLabRequest request, ComputeOptions? compute = null, IProgress<JobProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var mechanisms = PeerLabSpecs.Mechanisms(request.Mechanisms).Select(m => m.Create()).ToList();
        var scenario = new PeerLabScenario
        {
            Prior = PeerLabSpecs.Prior(request.Prior), Agents = request.Agents, Tasks = request.Tasks,
            AdversaryFraction = request.AdversaryFraction, Adversary = PeerLabSpecs.Adversary(request.AdversaryStrategy),
            Seeds = request.Seeds, Seed = request.Seed,
        };
        scenario.Validate();
        var result = PeerLab.Run(mechanisms, scenario, compute,
            new SyncProgress<WorkProgress>(w => progress?.Report(new JobProgress("Simulating", w.Fraction))), cancellationToken);
        var rows = result.Mechanisms.Select(r =>
        {
            DeviationResult? own = null;
            foreach (var d in r.Deviations)
                if (!d.Strategy.UsesPeerSignals && (own is null || d.Gain.Mean > own.Gain.Mean)) own = d;
            return new PeerLabRow(r, own, r.TruthfulIsBestResponseAmong(s => !s.UsesPeerSignals));
        }).ToImmutableArray();
        return new PeerLabOutcome(result, rows);
    }
}

/// <summary>What <see cref="PaymentGapJob"/> should do (defaults: the sweep of paper 000's §5 figures at a laptop's scale).</summary>
public sealed record PaymentGapRequest
{
    /// <summary>Comma-separated mechanisms.</summary>
    public string Mechanisms { get; init; } = "tvd-mi,rmif-symmetric,rmif-ds";
    /// <summary>Signal prior (<see cref="PeerLabSpecs.Prior"/>).</summary>
    public string Prior { get; init; } = "ds:2,0.8";
    /// <summary>The varied parameter: <c>alpha</c> or <c>tasks</c>.</summary>
    public string Vary { get; init; } = "alpha";
    /// <summary>Comma-separated values of the varied parameter (required).</summary>
    public string Values { get; init; } = "";
    /// <summary>Agents n.</summary>
    public int Agents { get; init; } = 30;
    /// <summary>Tasks m (when varying α).</summary>
    public int Tasks { get; init; } = 1000;
    /// <summary>α (when varying m).</summary>
    public double AdversaryFraction { get; init; } = 0.1;
    /// <summary>The adversary's strategy.</summary>
    public string AdversaryStrategy { get; init; } = "pattern";
    /// <summary>Seeds per point.</summary>
    public int Seeds { get; init; } = 20;
    /// <summary>Confidence level of the half-widths.</summary>
    public double Confidence { get; init; } = 0.95;
    /// <summary>Folder for the <see cref="PaymentGapJob.Table"/> table (<see cref="PaymentGapJob.Columns"/>), or null.</summary>
    public string? OutputDirectory { get; init; }
    /// <summary>Format of the table.</summary>
    public OutputFormat OutputFormat { get; init; } = OutputFormat.Csv;
}

/// <summary>What <see cref="PaymentGapJob"/> found.</summary>
/// <param name="Scenario">The base scenario.</param>
/// <param name="Axis">The varied parameter.</param>
/// <param name="Values">Its values, in request order.</param>
/// <param name="Mechanisms">Mechanism names, in request order.</param>
/// <param name="Points">Points[v][m]: value <c>Values[v]</c>, mechanism <c>Mechanisms[m]</c>.</param>
/// <param name="Written">Files written.</param>
public sealed record PaymentGapOutcome(PeerLabScenario Scenario, GapAxis Axis, ImmutableArray<double> Values, ImmutableArray<string> Mechanisms,
    ImmutableArray<ImmutableArray<GapPoint>> Points, IReadOnlyList<string> Written);

/// <summary>The honest-payment-gap sweep behind <c>tally lab gap</c> (<see cref="PaymentGapSweep"/>).</summary>
public static class PaymentGapJob
{
    /// <summary>The table's columns: the varied value, the mechanism, mean payments with and without the adversary, their gap and its half-width.</summary>
    public static IReadOnlyList<string> Columns { get; } = ["x", "mechanism", "with", "without", "gap", "half_width"];

    /// <summary>The table's name in the output folder: <c>gap.csv</c> or <c>gap.json</c>.</summary>
    public const string Table = "gap";

    /// <summary>Runs the sweep; the output folder is checked first.</summary>
    public static PaymentGapOutcome Run(PaymentGapRequest request, ComputeOptions? compute = null, IProgress<JobProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var infos = PeerLabSpecs.Mechanisms(request.Mechanisms);
        var axis = request.Vary switch
        {
            "alpha" => GapAxis.AdversaryFraction,
            "tasks" => GapAxis.Tasks,
            var x => throw new TallyUserException($"--vary must be alpha or tasks (got {Quote.Value(x)})"),
        };
        var values = PeerLabSpecs.Numbers(request.Values, "--values");
        if (request.OutputDirectory is { } dir) OutputChecks.WritableDirectory(dir);
        var scenario = new PeerLabScenario
        {
            Prior = PeerLabSpecs.Prior(request.Prior), Agents = request.Agents, Tasks = request.Tasks,
            AdversaryFraction = request.AdversaryFraction, Adversary = PeerLabSpecs.Adversary(request.AdversaryStrategy), Seeds = request.Seeds,
        };
        scenario.Validate();
        var mechanisms = infos.Select(m => m.Create()).ToList();
        var points = PaymentGapSweep.Run(mechanisms, scenario, axis, values, request.Confidence, compute,
            new SyncProgress<WorkProgress>(w => progress?.Report(new JobProgress("Sweeping", w.Fraction))), cancellationToken);
        int mc = mechanisms.Count;
        var grid = Enumerable.Range(0, values.Length).Select(v => points.Skip(v * mc).Take(mc).ToImmutableArray()).ToImmutableArray();
        var written = new List<string>();
        if (request.OutputDirectory is { } outDir)
            written.Add(TableFile.Write(outDir, Table, request.OutputFormat, Columns, t =>
            {
                foreach (var q in points)
                {
                    t.Number(q.X).Text(q.Mechanism).Number(q.WithAdversary).Number(q.WithoutAdversary).Number(q.Gap).Number(q.HalfWidth);
                    t.EndRow();
                }
            }));
        return new PaymentGapOutcome(scenario, axis, values, [.. mechanisms.Select(m => m.Name)], grid, written);
    }
}

/// <summary>What <see cref="EdxTableJob"/> should do (defaults: <see cref="EdxTableOptions"/>'s).</summary>
public sealed record EdxTableRequest
{
    private static readonly EdxTableOptions Defaults = new();
    /// <summary>Comma-separated mechanisms.</summary>
    public string Mechanisms { get; init; } = string.Join(",", Defaults.Mechanisms);
    /// <summary>Seeds per prior.</summary>
    public int Seeds { get; init; } = Defaults.Seeds;
    /// <summary>Use every Stride-th prior.</summary>
    public int Stride { get; init; } = Defaults.Stride;
    /// <summary>Agents n.</summary>
    public int Agents { get; init; } = Defaults.Agents;
    /// <summary>Tasks m.</summary>
    public int Tasks { get; init; } = Defaults.Tasks;
}

/// <summary>The edX truthfulness table behind <c>tally lab edx</c> (<see cref="EdxTruthfulnessTable"/>).</summary>
public static class EdxTableJob
{
    /// <summary>Runs the table over the bundled edX joints.</summary>
    public static EdxTableResult Run(EdxTableRequest request, ComputeOptions? compute = null, IProgress<JobProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var names = PeerLabSpecs.Mechanisms(request.Mechanisms).Select(m => m.Name).ToList();
        var options = new EdxTableOptions { Mechanisms = names, Seeds = request.Seeds, Stride = request.Stride, Agents = request.Agents, Tasks = request.Tasks };
        return EdxTruthfulnessTable.Run(EdxPriors.LoadBundled(), options, compute,
            new SyncProgress<WorkProgress>(w => progress?.Report(new JobProgress("Evaluating edX priors", w.Fraction))), cancellationToken);
    }
}
