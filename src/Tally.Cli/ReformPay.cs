using System.CommandLine;
using Spectre.Console;
using Tally.Application;

namespace Tally.Cli;

/// <summary>The options of <c>tally pay</c> that only REFORM uses, and the table of a REFORM round.</summary>
internal sealed class ReformArguments
{
    private static readonly ReformSettings Defaults = new();

    public readonly Option<int?> Chances = new("--k", "--chances") { Description = $"REFORM: maximum pairing chances per report (a saved campaign keeps its own; default {new Tally.Mechanisms.ReformOptions().Chances})." };
    public readonly Option<string?> State = new("--state") { Description = "REFORM: campaign state file (JSON); created if absent, updated crash-safely after the round." };
    public readonly Option<int?> RoundIndex = new("--round") { Description = "REFORM: round number (default: the state's last round + 1, or 0)." };
    public readonly Option<double?> Lambda = new("--lambda") { Description = $"REFORM: TERM discount λ of older rounds for a new campaign (default {new Tally.Mechanisms.Reputation.TermOptions().Lambda.ToString(System.Globalization.CultureInfo.InvariantCulture)})." };
    public readonly Option<string?> Decay = new("--decay") { Description = "REFORM: decay β(t) for a new campaign: none (default), exponential[:SECONDS], linear[:SECONDS]." };
    public readonly Option<double?> Deadline = new("--deadline") { Description = "REFORM: deadline in seconds for tasks without a deadline column; later reports are ignored and counted (default: no deadline)." };
    public readonly Option<string> SecondsCol = new("--seconds-col") { Description = "REFORM: answer-time column (seconds), used when present.", DefaultValueFactory = _ => Defaults.SecondsColumn };

    public void AddTo(Command cmd)
    {
        foreach (var o in new Option[] { Chances, State, RoundIndex, Lambda, Decay, Deadline, SecondsCol }) cmd.Options.Add(o);
    }

    public ReformSettings Settings(ParseResult p) => new()
    {
        Chances = p.GetValue(Chances),
        StatePath = p.GetValue(State),
        Round = p.GetValue(RoundIndex),
        Lambda = p.GetValue(Lambda),
        Decay = p.GetValue(Decay),
        Deadline = p.GetValue(Deadline),
        SecondsColumn = p.GetValue(SecondsCol)!,
    };
}

/// <summary>Rendering of <c>tally pay --mechanism reform:NAME</c>.</summary>
internal static class ReformPay
{
    public static Table Table(PayOutcome o)
    {
        var round = o.Reform!;
        var s = o.Summary;
        var table = new Table().Border(TableBorder.Rounded).HideHeaders().Title(Markup.Escape($"tally pay — {o.Mechanism}, round {round.Round}"));
        table.AddColumn(""); table.AddColumn(new TableColumn("").RightAligned());
        table.AddRow("campaign", Markup.Escape(round.StatePath is null ? "new (not saved: no --state)"
            : round.Resumed ? $"resumed from {round.StatePath}" : $"new, saved to {round.StatePath}"));
        table.AddRow("k / λ", Markup.Escape($"{round.Campaign.Reform.Options.Chances} / {round.Lambda:G4}"));
        table.AddRow("agents", $"{round.Result.Agents.Length:N0} ({s.Unscored:N0} unscored)");
        table.AddRow("tasks / reports", $"{o.Tasks:N0} / {o.Reports:N0}");
        table.AddRow("late reports (ignored)", $"{round.Result.LateReports:N0}");
        table.AddRow("extra pairing chances", $"{round.ExtraChances:N0}");
        table.AddRow("payment range", Markup.Escape($"[{o.Result.Range.Min:G4}, {o.Result.Range.Max:G4}]"));
        table.AddRow("mean payment", round.Result.Agents.Length == 0 ? "—" : $"{s.Mean:G4}");
        table.AddRow("min / median / max", round.Result.Agents.Length == 0 ? "—" : $"{s.Min:G4} / {s.Median:G4} / {s.Max:G4}");
        table.AddRow("total this round", $"{s.Total:G6}");
        foreach (var f in o.Written) table.AddRow("wrote", Markup.Escape(f));
        return table;
    }
}
