using Tally.Core;
using Tally.Catalogs;
using System.Collections.Immutable;
using System.Diagnostics;
using Tally.Mechanisms;

namespace Tally.Simulation;

/// <summary>Options of <see cref="EdxTruthfulnessTable"/>.</summary>
public sealed record EdxTableOptions
{
    /// <summary>Mechanisms by catalog name; default ca, dmi, tvd-mi, rptsc.</summary>
    public IReadOnlyList<string> Mechanisms { get; init; } = ["ca", "dmi", "tvd-mi", "rptsc"];
    /// <summary>
    /// Agents per simulated crowd; default 8: enough peers for every mechanism (RPTSC's sample and CA's Δ estimate
    /// come from the others) while keeping each DMI evaluation at 28 pairs.
    /// </summary>
    public int Agents { get; init; } = 8;
    /// <summary>
    /// Tasks per crowd; default 60: the deviation gains to detect are of order 0.01–0.1 per task and their paired
    /// standard error over 60 tasks × the seeds is of that order too, so smaller crowds mostly report ties.
    /// </summary>
    public int Tasks { get; init; } = 60;
    /// <summary>Seeds per prior; default 10 (the minimum that gives a usable t-interval at reasonable cost).</summary>
    public int Seeds { get; init; } = 10;
    /// <summary>Base seed.</summary>
    public int Seed { get; init; }
    /// <summary>EM iterations for fitting each joint (see <see cref="LatentClassPrior.FromJoint"/>); default 2000.</summary>
    public int FitIterations { get; init; } = 2000;
    /// <summary>Use only the first this many priors (0 = all).</summary>
    public int MaxPriors { get; init; }
    /// <summary>Use every Stride-th prior (a spread subset of sizes and courses); default 1 = all.</summary>
    public int Stride { get; init; } = 1;
}

/// <summary>One prior's row.</summary>
/// <param name="Prior">The edX joint.</param>
/// <param name="FitTvError">TV distance between the simulated pair joint and J (see <see cref="LatentClassPrior.FromJoint"/>).</param>
/// <param name="ReferenceTvError">TV distance of the plain reference-signal construction J diag(p)⁻¹ J, for comparison.</param>
/// <param name="Results">One entry per mechanism.</param>
public sealed record EdxTableRow(EdxPrior Prior, double FitTvError, double ReferenceTvError, ImmutableArray<PeerLabMechanismResult> Results);

/// <summary>The table.</summary>
/// <param name="Options">Options used.</param>
/// <param name="Rows">One row per prior used.</param>
/// <param name="FractionTruthfulBest">Per mechanism, the fraction of priors where truthful is a best response.</param>
/// <param name="FractionTruthfulBestSignalOnly">The same among the deviations that use only the agent's own signal (no always-majority), the class the mechanisms' guarantees cover.</param>
/// <param name="MeanEpsilon">Per mechanism, the mean empirical ε over priors.</param>
/// <param name="Elapsed">Wall-clock time of the run.</param>
public sealed record EdxTableResult(EdxTableOptions Options, ImmutableArray<EdxTableRow> Rows,
    ImmutableDictionary<string, double> FractionTruthfulBest, ImmutableDictionary<string, double> FractionTruthfulBestSignalOnly,
    ImmutableDictionary<string, double> MeanEpsilon, TimeSpan Elapsed)
{
    /// <summary>The mechanisms' names (the dictionaries' keys) in <see cref="EdxTableOptions.Mechanisms"/> order; a dictionary's own order is not fixed.</summary>
    public ImmutableArray<string> Mechanisms { get; init; } = [];
}

/// <summary>
/// For each edX joint and mechanism: is truthful reporting a best response of one agent among the default deviation
/// set when everyone else is truthful (α = 0)? Each prior runs <see cref="PeerLab"/> with
/// <see cref="EdxTableOptions.Seeds"/> seeds; a deviation refutes truthfulness only if its paired gain over truthful is
/// significantly positive at 95% (Student-t over seeds), so the tie tolerance is the gain's standard error times the
/// t quantile. Priors run in parallel; each prior's seeds and payments run sequentially on one thread (less scheduling
/// overhead, no nested parallelism), so the table is the same for any thread count.
/// </summary>
public static class EdxTruthfulnessTable
{
    /// <summary>Builds the table over <paramref name="priors"/> (after <see cref="EdxTableOptions.Stride"/> and <see cref="EdxTableOptions.MaxPriors"/>).</summary>
    /// <param name="priors">The edX joints.</param>
    /// <param name="options">Mechanisms, crowd size, seeds, subset.</param>
    /// <param name="compute">Thread cap (priors run in parallel).</param>
    /// <param name="progress">Priors done.</param>
    /// <param name="cancellationToken">Stops between priors.</param>
    public static EdxTableResult Run(IReadOnlyList<EdxPrior> priors, EdxTableOptions? options = null, ComputeOptions? compute = null,
        IProgress<WorkProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(priors);
        options ??= new EdxTableOptions();
        if (options.Stride < 1) throw new InvalidOptionException(nameof(options.Stride), $"must be at least 1 (got {options.Stride})");
        // The scenario every prior runs, checked once here rather than failing on each prior in parallel.
        if (priors.Count > 0)
            new PeerLabScenario { Prior = LatentClassPrior.SymmetricDawidSkene(2, 0.8), Agents = options.Agents, Tasks = options.Tasks, Seeds = options.Seeds }.Validate();
        var mechanisms = options.Mechanisms.Select(name =>
            (MechanismCatalog.Find(name) ?? throw new TallyUserException($"Unknown mechanism '{name}'.")).Create()).ToArray();
        var chosen = new List<EdxPrior>();
        for (int i = 0; i < priors.Count; i += options.Stride)
        {
            if (options.MaxPriors > 0 && chosen.Count >= options.MaxPriors) break;
            chosen.Add(priors[i]);
        }
        var watch = Stopwatch.StartNew();
        var rows = new EdxTableRow[chosen.Count];
        long done = 0;
        var gate = new object();
        Parallelism.ForEach(chosen.Count, compute, i =>
        {
            var p = chosen[i];
            var prior = LatentClassPrior.FromJoint(p.Joint.ToArray(), p.Classes, "edx:" + p.Name, options.FitIterations, out double refTv);
            var scenario = new PeerLabScenario
            {
                Prior = prior, Agents = options.Agents, Tasks = options.Tasks, Seeds = options.Seeds,
                Seed = Seeding.Derive(options.Seed, (ulong)(uint)(p.Index), (ulong)(uint)(7)),
            };
            var result = PeerLab.Run(mechanisms, scenario, ComputeOptions.Sequential, null, cancellationToken);
            rows[i] = new EdxTableRow(p, prior.PairwiseTvError, refTv, result.Mechanisms);
            if (progress is not null) lock (gate) progress.Report(new WorkProgress(++done, chosen.Count));
        }, cancellationToken);
        watch.Stop();
        var frac = ImmutableDictionary.CreateBuilder<string, double>();
        var fracOwn = ImmutableDictionary.CreateBuilder<string, double>();
        var eps = ImmutableDictionary.CreateBuilder<string, double>();
        for (int m = 0; m < mechanisms.Length; m++)
        {
            int ok = 0, okOwn = 0; double e = 0;
            foreach (var row in rows)
            {
                var r = row.Results[m];
                if (r.TruthfulIsBestResponse) ok++;
                if (r.TruthfulIsBestResponseAmong(d => !d.UsesPeerSignals)) okOwn++;
                e += r.Epsilon;
            }
            frac[mechanisms[m].Name] = rows.Length == 0 ? 0 : (double)ok / rows.Length;
            fracOwn[mechanisms[m].Name] = rows.Length == 0 ? 0 : (double)okOwn / rows.Length;
            eps[mechanisms[m].Name] = rows.Length == 0 ? 0 : e / rows.Length;
        }
        return new EdxTableResult(options, [.. rows], frac.ToImmutable(), fracOwn.ToImmutable(), eps.ToImmutable(), watch.Elapsed)
        {
            Mechanisms = [.. mechanisms.Select(m => m.Name)],
        };
    }
}
