using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Tally.Aggregation;
using Tally.Core;
using Tally.Mechanisms;
using Tally.Mechanisms.Reputation;

namespace Tally.Cli;

/// <summary>The options of <c>tally pay</c> that only REFORM uses.</summary>
internal sealed class ReformArguments
{
    public readonly Option<int?> Chances = new("--k") { Description = "REFORM: maximum pairing chances per report (default 2; a saved campaign keeps its own)." };
    public readonly Option<string?> State = new("--state") { Description = "REFORM: campaign state file (JSON); created if absent, updated crash-safely after the round." };
    public readonly Option<int?> RoundIndex = new("--round") { Description = "REFORM: round number (default: the state's last round + 1, or 0)." };
    public readonly Option<double?> Lambda = new("--lambda") { Description = "REFORM: TERM discount λ of older rounds for a new campaign (default 0.9)." };
    public readonly Option<double?> Alpha = new("--alpha") { Description = "REFORM: RPTSC reward scale α for a new campaign (default 1)." };
    public readonly Option<int?> SampleSize = new("--sample-size") { Description = "REFORM: RPTSC sample size for f(y) for a new campaign (default 50)." };
    public readonly Option<string?> Decay = new("--decay") { Description = "REFORM: decay β(t) for a new campaign: none (default), exponential[:SECONDS], linear[:SECONDS]." };
    public readonly Option<double?> Deadline = new("--deadline") { Description = "REFORM: deadline in seconds for tasks without a deadline column; later reports are ignored and counted." };
    public readonly Option<string> SecondsCol = new("--seconds-col") { Description = "REFORM: answer-time column (seconds), used when present.", DefaultValueFactory = _ => "seconds" };

    private IEnumerable<Option> All => [Chances, State, RoundIndex, Lambda, Alpha, SampleSize, Decay, Deadline];

    public void AddTo(Command cmd)
    {
        foreach (var o in All) cmd.Options.Add(o);
        cmd.Options.Add(SecondsCol);
    }

    /// <summary>A REFORM-only option given with another mechanism is a mistake worth saying, not ignoring.</summary>
    public void RejectIfUsed(ParseResult p)
    {
        foreach (var o in All)
            if (p.GetResult(o) is { Implicit: false })
                throw new UsageException($"{o.Name} applies only to --mechanism reform:rptsc");
    }
}

/// <summary><c>tally pay --mechanism reform:rptsc</c>: pays one round and advances the saved campaign.</summary>
internal static class ReformPay
{
    public static int Run(CliContext ctx, ParseResult p, ReformArguments a, string mechanism, string? reportsPath, string? dataset,
        double? budget, int seed, string? outDir, RoundFileOptions columns)
    {
        string wrapped = mechanism.Contains(':') ? mechanism[(mechanism.IndexOf(':') + 1)..] : "rptsc";
        if (!mechanism.StartsWith("reform:", StringComparison.OrdinalIgnoreCase) && mechanism.Length != "reform".Length)
            throw new UsageException($"unknown mechanism '{mechanism}' (use reform:rptsc)");
        if (!wrapped.Equals("rptsc", StringComparison.OrdinalIgnoreCase))
            throw new UsageException($"REFORM wraps rptsc only so far, not '{wrapped}'");
        if (budget is not null) throw new UsageException("--budget is not supported with REFORM (its payments are in RPTSC units times α)");
        if (dataset is not null)
        {
            if (reportsPath is not null) throw new UsageException("give either REPORTS or --dataset, not both");
            reportsPath = BundledDatasets.Get(dataset).AnswersPath;
        }
        else if (reportsPath is null) throw new UsageException("no reports: give a REPORTS file or --dataset NAME");

        string? statePath = p.GetValue(a.State);
        // Checked before paying: a round paid but not saved would be paid again on the retry.
        if (statePath is not null && Path.GetDirectoryName(Path.GetFullPath(statePath)) is { } stateDir && !Directory.Exists(stateDir))
            throw new UsageException($"--state {statePath}: the folder {stateDir} does not exist");
        bool resumed = statePath is not null && File.Exists(statePath);
        Campaign campaign;
        if (resumed)
        {
            try { campaign = Campaign.Load(statePath!); }
            catch (Exception e) when (e is System.Text.Json.JsonException or InvalidDataException or NotSupportedException)
            {
                throw new TallyDataException(statePath!, 0, "is not a valid campaign state: " + e.Message);
            }
            foreach (var fixedOption in new Option[] { a.Lambda, a.Alpha, a.SampleSize, a.Decay })
                if (p.GetResult(fixedOption) is { Implicit: false })
                    throw new UsageException($"{fixedOption.Name} cannot change a saved campaign ({statePath}); start a new state file");
            if (p.GetValue(a.Chances) is int k && k != campaign.Reform.Options.Chances)
                throw new UsageException($"--k {k} differs from the saved campaign's k = {campaign.Reform.Options.Chances}");
        }
        else
        {
            int k = p.GetValue(a.Chances) ?? 2;
            if (k < 1) throw new UsageException("--k must be at least 1");
            double lambda = p.GetValue(a.Lambda) ?? 0.9;
            if (!(lambda > 0 && lambda <= 1)) throw new UsageException("--lambda must be in (0, 1]");
            var rptsc = new RptscOptions();
            double alpha = p.GetValue(a.Alpha) ?? rptsc.Alpha;
            if (!(alpha >= 0) || double.IsInfinity(alpha)) throw new UsageException("--alpha must be a non-negative number");
            int sample = p.GetValue(a.SampleSize) ?? rptsc.SampleSize;
            if (sample < 1) throw new UsageException("--sample-size must be at least 1");
            campaign = new Campaign(new TermReputation(new TermOptions { Lambda = lambda }), new ReformOptions
            {
                Chances = k,
                Rptsc = rptsc with { Alpha = alpha, SampleSize = sample },
                Decay = ParseDecay(p.GetValue(a.Decay)),
            });
        }
        int index = p.GetValue(a.RoundIndex) ?? (campaign.Reputation.LastRound is int last ? last + 1 : 0);
        if (campaign.Reputation.LastRound is int prev && index <= prev)
            throw new UsageException($"round {index} does not follow the saved campaign's last round {prev}");
        double? deadline = p.GetValue(a.Deadline);
        if (deadline is double dl && !(dl >= 0 && double.IsFinite(dl))) throw new UsageException("--deadline must be a non-negative number of seconds");

        var read = ctx.WithProgress("Reading reports", _ => RoundFile.Read(reportsPath!, index,
            columns with { SecondsColumn = p.GetValue(a.SecondsCol)!, Deadline = deadline }));
        // One stream per round (HashCode is salted per process, so mix by hand), so replaying a round from the same
        // state and seed reproduces it exactly.
        var rng = new Random(unchecked(seed * 1_000_003 + index));
        var result = ctx.WithProgress("Paying with REFORM", _ => campaign.Play(read.Round, rng));
        if (statePath is not null) campaign.Save(statePath);

        if (outDir is not null)
        {
            Directory.CreateDirectory(outDir);
            AtomicFile.WriteText(Path.Combine(outDir, "payments.csv"), w =>
            {
                w.WriteLine("agent,payment,tasks,chances,reputation,total");
                for (int i = 0; i < result.Agents.Length; i++)
                {
                    string agent = result.Agents[i];
                    w.WriteLine(string.Join(',', CsvText.Escape(agent), CliValues.Number(result.Payments[i]), result.TasksScored[i].ToString(CultureInfo.InvariantCulture),
                        result.ChancesUsed[i].ToString(CultureInfo.InvariantCulture), CliValues.Number(campaign.Reputation.Score(agent)),
                        CliValues.Number(campaign.TotalPayments.GetValueOrDefault(agent))));
                }
            });
        }
        var o = campaign.Reform.Options;
        var pays = result.Payments.ToArray();
        Array.Sort(pays);
        int unscored = result.TasksScored.Count(n => n == 0);
        int extra = 0;
        for (int i = 0; i < result.Agents.Length; i++) extra += result.ChancesUsed[i] - result.TasksScored[i];
        var table = new Table().Border(TableBorder.Rounded).HideHeaders().Title($"tally pay — reform:rptsc, round {index}");
        table.AddColumn(""); table.AddColumn(new TableColumn("").RightAligned());
        table.AddRow("campaign", Markup.Escape(statePath is null ? "new (not saved: no --state)" : resumed ? $"resumed from {statePath}" : $"new, saved to {statePath}"));
        table.AddRow("k / α / λ", Markup.Escape($"{o.Chances} / {o.Rptsc.Alpha:G4} / {(campaign.Reputation as TermReputation)?.Options.Lambda:G4}"));
        table.AddRow("agents", $"{result.Agents.Length:N0} ({unscored:N0} unscored)");
        table.AddRow("tasks / reports", $"{read.Round.TaskCount:N0} / {read.Round.Reports.Length:N0}");
        table.AddRow("late reports (ignored)", $"{result.LateReports:N0}");
        table.AddRow("extra pairing chances", $"{extra:N0}");
        table.AddRow("mean payment", pays.Length == 0 ? "—" : $"{pays.Average():G4}");
        table.AddRow("min / median / max", pays.Length == 0 ? "—" : $"{pays[0]:G4} / {pays[pays.Length / 2]:G4} / {pays[^1]:G4}");
        table.AddRow("total this round", $"{pays.Sum():G6}");
        if (outDir is not null) table.AddRow("wrote", Markup.Escape(Path.Combine(outDir, "payments.csv")));
        ctx.Out.Write(table);
        return 0;
    }

    private static IDecayFunction ParseDecay(string? text)
    {
        if (string.IsNullOrWhiteSpace(text) || text.Equals("none", StringComparison.OrdinalIgnoreCase)) return new NoDecay();
        var parts = text.Split(':', 2);
        double? seconds = null;
        if (parts.Length == 2)
        {
            if (!double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double s) || !(s > 0) || double.IsInfinity(s))
                throw new UsageException($"--decay {text}: the time after ':' must be a positive number of seconds");
            seconds = s;
        }
        return parts[0].ToLowerInvariant() switch
        {
            "exponential" => seconds is double tau ? new ExponentialDecay(tau) : new ExponentialDecay(),
            "linear" => seconds is double h ? new LinearDecay(h) : new LinearDecay(),
            _ => throw new UsageException($"--decay {text}: use none, exponential[:SECONDS] or linear[:SECONDS]"),
        };
    }
}
