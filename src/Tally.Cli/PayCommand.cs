using Tally.Application;
using Tally.Catalogs;
using System.CommandLine;
using System.Globalization;
using Spectre.Console;

namespace Tally.Cli;

/// <summary><c>tally pay</c>: peer-prediction payments from reports.</summary>
internal static class PayCommand
{
    public static Command Create(CliContext ctx)
    {
        var defaults = new PayRequest { Reports = new InputSource(null, null) };
        var reports = new Argument<string?>("REPORTS") { Description = "Reports file (task,worker,label; worker = agent).", Arity = ArgumentArity.ZeroOrOne };
        var dataset = new Option<string?>("--dataset", "-d") { Description = "Use a bundled dataset's answers as the reports." };
        var mechanism = new Option<string>("--mechanism", "-m")
        {
            Description = "Mechanism: " + string.Join(", ", MechanismCatalog.All.Select(m => m.Name)) + ", or reform:NAME (one round of a REFORM campaign over NAME; see --state)",
            DefaultValueFactory = _ => defaults.Mechanism,
        };
        var budget = new Option<double?>("--budget") { Description = "Budget per agent: payments are mapped affinely so the worst possible payment is 0 and the best is the budget (default: the mechanism's own scale)." };
        var seed = CommonOptions.Seed("Seed for peer and task sampling (under REFORM: the campaign's seed; each round draws its own streams of it).");
        var outDir = CommonOptions.Out($"{PayJob.PaymentsTable}.csv or .json (agent,payment,tasks; REFORM adds chances,reputation,total)");
        var outFormat = CommonOptions.Format();
        var taskCol = new Option<string>("--task-col") { Description = "Name of the task column.", DefaultValueFactory = _ => defaults.TaskColumn };
        var workerCol = new Option<string>("--worker-col") { Description = "Name of the agent column.", DefaultValueFactory = _ => defaults.WorkerColumn };
        var labelCol = new Option<string>("--label-col") { Description = "Name of the report column.", DefaultValueFactory = _ => defaults.LabelColumn };
        var alpha = new Option<double?>("--alpha") { Description = $"RPTSC reward scale α (rptsc, reform:rptsc; for REFORM only when starting a campaign; default {new Tally.Mechanisms.RptscOptions().Alpha.ToString(CultureInfo.InvariantCulture)})." };
        var sampleSize = new Option<int?>("--sample-size") { Description = $"RPTSC sample size for f(y) (as --alpha; default {new Tally.Mechanisms.RptscOptions().SampleSize})." };
        var encoding = AnswerFormatOptions.EncodingOption("reports file");
        var reform = new ReformArguments();
        var cmd = new Command("pay", """
            Pay each agent for her reports by comparing them with her peers' (peer prediction), with no ground truth.
            Truthful, effortful reporting is the best strategy under the mechanism's assumptions; agents with too few
            shared tasks to be scored get 0 and are counted.

            Mechanisms:
            """ + "\n" + string.Join("\n", MechanismCatalog.All.Select(m => $"  {m.Name,-14} {m.Description} ({m.Reference})")) + $"""


              reform:NAME    {MechanismCatalog.ReformDescription}
                             in the --state file ({MechanismCatalog.ReformReference}); reform alone = reform:rptsc

            Examples:
              tally pay reports.csv --mechanism ca --budget 10 --out payments/
              tally pay --dataset dog --mechanism dmi --seed 3
              tally pay round-1.csv --mechanism reform:rptsc --k 2 --state campaign.json
            """)
        { reports, dataset, mechanism, budget, seed, outDir, outFormat, taskCol, workerCol, labelCol, alpha, sampleSize, encoding };
        reform.AddTo(cmd);
        cmd.SetAction(p =>
        {
            var request = new PayRequest
            {
                Reports = new InputSource(p.GetValue(reports), p.GetValue(dataset), "reports"),
                Mechanism = p.GetValue(mechanism)!,
                Seed = p.GetValue(seed),
                Budget = p.GetValue(budget),
                OutputDirectory = p.GetValue(outDir),
                OutputFormat = CommonOptions.ReadFormat(p, outFormat, p.GetValue(outDir)),
                TaskColumn = p.GetValue(taskCol)!,
                WorkerColumn = p.GetValue(workerCol)!,
                LabelColumn = p.GetValue(labelCol)!,
                Alpha = p.GetValue(alpha),
                SampleSize = p.GetValue(sampleSize),
                Reform = reform.Settings(p),
                Encoding = AnswerFormatOptions.Encoding(p, encoding),
            };
            var outcome = ctx.WithJobProgress(report => PayJob.Run(request, ctx.Compute, report));
            if (outcome.DroppedDuplicates > 0) ctx.Notice($"{outcome.DroppedDuplicates} repeated (task, agent) reports dropped (the last one is kept)");
            ctx.Out.Write(outcome.Reform is null ? Plain(outcome) : ReformPay.Table(outcome));
            return 0;
        });
        return cmd;
    }

    private static Table Plain(PayOutcome o)
    {
        var r = o.Result;
        var s = o.Summary;
        var table = new Table().Border(TableBorder.Rounded).HideHeaders().Title($"tally pay — {Markup.Escape(o.Mechanism)}");
        table.AddColumn(""); table.AddColumn(new TableColumn("").RightAligned());
        table.AddRow("agents", $"{r.Payments.Length:N0} ({s.Unscored:N0} unscored)");
        table.AddRow("tasks / reports", $"{o.Tasks:N0} / {o.Reports:N0}");
        // The range is already in paid units (scaled with the payments when there is a budget).
        table.AddRow("payment range", Markup.Escape($"[{r.Range.Min:G4}, {r.Range.Max:G4}]"));
        table.AddRow("mean payment", $"{s.Mean:G4}");
        table.AddRow("min / median / max", r.Payments.Length == 0 ? "—" : $"{s.Min:G4} / {s.Median:G4} / {s.Max:G4}");
        table.AddRow("total", $"{s.Total:G6}");
        table.AddRow("seconds", o.Seconds.ToString("0.000", CultureInfo.InvariantCulture));
        foreach (var f in o.Written) table.AddRow("wrote", Markup.Escape(f));
        return table;
    }
}
