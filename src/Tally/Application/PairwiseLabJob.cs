using Tally.Catalogs;
using Tally.Core;
using Tally.Simulation;

namespace Tally.Application;

/// <summary>What <see cref="PairwiseLabJob"/> should do.</summary>
public sealed record PairwiseLabRequest
{
    /// <summary>The simulated crowd (its seed is the first seed).</summary>
    public PairwiseScenario Scenario { get; init; } = new();
    /// <summary>Crowds drawn, with seeds Scenario.Seed, Scenario.Seed + 1, ….</summary>
    public int Seeds { get; init; } = 5;
    /// <summary>Method names (see <see cref="PairwiseCatalog"/>); null or empty = all.</summary>
    public IReadOnlyList<string>? Methods { get; init; }
    /// <summary>Folder for the <see cref="PairwiseLabJob.Table"/> table, or null.</summary>
    public string? OutputDirectory { get; init; }
    /// <summary>Format of the table.</summary>
    public OutputFormat OutputFormat { get; init; } = OutputFormat.Csv;
}

/// <summary>
/// The pairwise lab job: every pairwise method on simulated Bradley-Terry crowds with random clickers, Kendall's τ against
/// the true scores per seed (<see cref="PairwiseLab"/>). Used by <c>tally lab pairwise</c>.
/// </summary>
public static class PairwiseLabJob
{
    /// <summary>The table's name: <c>pairwise.csv</c> or <c>.json</c>.</summary>
    public const string Table = "pairwise";

    /// <summary>The table's columns.</summary>
    public static IReadOnlyList<string> Columns { get; } = ["method", "seed", "kendall_tau", "spammer_skill", "careful_skill"];

    /// <summary>Runs the lab; the rows are by seed, then method in the order asked.</summary>
    /// <exception cref="TallyUserException">A bad scenario, seed count or method name.</exception>
    public static (IReadOnlyList<PairwiseLabRow> Rows, IReadOnlyList<string> Written) Run(PairwiseLabRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Scenario.Validate();
        Check.AtLeast(request.Seeds, 1, nameof(request.Seeds));
        if (request.OutputDirectory is { } dir0) OutputChecks.WritableDirectory(dir0);
        var methods = request.Methods is { Count: > 0 } names
            ? names.Select(n => PairwiseCatalog.Find(n) ?? throw new InvalidOptionException("Methods",
                $"has an unknown pairwise method {Quote.Value(n)} (known: {string.Join(", ", PairwiseCatalog.All.Select(m => m.Name))})")).Distinct().ToList()
            : PairwiseCatalog.All;
        var rows = new PairwiseLab().Run(request.Scenario, request.Seeds, methods, cancellationToken);
        var written = new List<string>();
        if (request.OutputDirectory is { } dir)
            written.Add(TableFile.Write(dir, Table, request.OutputFormat, Columns, t =>
            {
                foreach (var r in rows) { t.Text(r.Method).Integer(r.Seed).Number(r.KendallTau).Number(r.SpammerSkill).Number(r.CarefulSkill); t.EndRow(); }
            }));
        return (rows, written);
    }
}
