using Tally.Catalogs;
using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Tally.Aggregation;
using Tally.Core;
using Tally.Mechanisms;
using Tally.Mechanisms.Reputation;

namespace Tally.Cli;

/// <summary><c>tally pay</c>: peer-prediction payments from reports.</summary>
internal static class PayCommand
{
    public static Command Create(CliContext ctx)
    {
        var reports = new Argument<string?>("REPORTS") { Description = "Reports file (task,worker,label; worker = agent).", Arity = ArgumentArity.ZeroOrOne };
        var dataset = new Option<string?>("--dataset", "-d") { Description = "Use a bundled dataset's answers as the reports." };
        var mechanism = new Option<string>("--mechanism", "-m") { Description = "Mechanism: " + string.Join(", ", MechanismCatalog.All.Select(m => m.Name)) + ", or reform:rptsc (one round of a REFORM campaign; see --state)", DefaultValueFactory = _ => "ca" };
        var budget = new Option<double?>("--budget") { Description = "Budget per agent: payments are mapped affinely so the worst possible payment is 0 and the best is the budget." };
        var seed = new Option<int>("--seed", "-s") { Description = "Seed for peer and task sampling.", DefaultValueFactory = _ => 0 };
        var outDir = new Option<string?>("--out", "-o") { Description = "Directory for payments.csv (agent,payment,tasks)." };
        var taskCol = new Option<string>("--task-col") { Description = "Name of the task column.", DefaultValueFactory = _ => "task" };
        var workerCol = new Option<string>("--worker-col") { Description = "Name of the agent column.", DefaultValueFactory = _ => "worker" };
        var labelCol = new Option<string>("--label-col") { Description = "Name of the report column.", DefaultValueFactory = _ => "label" };
        var reform = new ReformArguments();
        var cmd = new Command("pay", """
            Pay each agent for her reports by comparing them with her peers' (peer prediction), with no ground truth.
            Truthful, effortful reporting is the best strategy under the mechanism's assumptions; agents with too few
            shared tasks to be scored get 0 and are counted.

            Mechanisms:
            """ + "\n" + string.Join("\n", MechanismCatalog.All.Select(m => $"  {m.Name,-7} {m.Description} ({m.Reference})")) + """


              reform:rptsc  REFORM over RPTSC: an agent whose TERM reputation beats her peer's gets up to k pairing
                            chances; reputations persist across rounds in the --state file (Kanaparthy et al. 2021)

            Examples:
              tally pay reports.csv --mechanism ca --budget 10 --out payments/
              tally pay --dataset dog --mechanism dmi --seed 3
              tally pay round-1.csv --mechanism reform:rptsc --k 2 --state campaign.json
            """)
        { reports, dataset, mechanism, budget, seed, outDir, taskCol, workerCol, labelCol };
        reform.AddTo(cmd);
        cmd.SetAction(p =>
        {
            string name = p.GetValue(mechanism)!;
            if (name.StartsWith("reform", StringComparison.OrdinalIgnoreCase))
                return ReformPay.Run(ctx, p, reform, name, p.GetValue(reports), p.GetValue(dataset), p.GetValue(budget), p.GetValue(seed), p.GetValue(outDir),
                    new RoundFileOptions(p.GetValue(taskCol)!, p.GetValue(workerCol)!, p.GetValue(labelCol)!));
            reform.RejectIfUsed(p);
            var info = MechanismCatalog.Find(p.GetValue(mechanism)!)
                ?? throw new UsageException($"unknown mechanism '{p.GetValue(mechanism)}' (known: {string.Join(", ", MechanismCatalog.All.Select(m => m.Name))})");
            string? path = p.GetValue(reports);
            if (p.GetValue(dataset) is { } ds)
            {
                if (path is not null) throw new UsageException("give either REPORTS or --dataset, not both");
                path = BundledDatasets.Get(ds).AnswersPath;
            }
            else if (path is null) throw new UsageException("no reports: give a REPORTS file or --dataset NAME");
            if (p.GetValue(budget) is <= 0) throw new UsageException("--budget must be positive");
            var options = new AnswerFileOptions(p.GetValue(taskCol)!, p.GetValue(workerCol)!, p.GetValue(labelCol)!);
            var build = ctx.WithProgress("Reading reports", r => AnswerFiles.ReadAnswers(path, options, r));
            if (build.DroppedDuplicates > 0) ctx.Notice($"{build.DroppedDuplicates} repeated (task, agent) reports dropped (the last one is kept)");
            var matrix = build.Matrix;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var result = ctx.WithProgress($"Paying with {info.Name}", _ => info.Create().Pay(matrix, new Random(p.GetValue(seed))));
            if (p.GetValue(budget) is { } b) result = PaymentScaling.ForBudget(b, result.Range).Apply(result);
            double seconds = clock.Elapsed.TotalSeconds;

            if (p.GetValue(outDir) is { } dir)
            {
                Directory.CreateDirectory(dir);
                AtomicFile.WriteText(Path.Combine(dir, "payments.csv"), w =>
                {
                    w.WriteLine("agent,payment,tasks");
                    for (int a = 0; a < matrix.WorkerCount; a++)
                        w.WriteLine($"{CsvText.Escape(matrix.Workers[a])},{NumberFormat.Finite(result.Payments[a])},{result.TasksScored[a].ToString(CultureInfo.InvariantCulture)}");
                });
            }
            var pays = result.Payments.ToArray();
            Array.Sort(pays);
            var table = new Table().Border(TableBorder.Rounded).HideHeaders().Title($"tally pay — {Markup.Escape(info.Name)}");
            table.AddColumn(""); table.AddColumn(new TableColumn("").RightAligned());
            table.AddRow("agents", $"{matrix.WorkerCount:N0} ({result.UnscoredCount:N0} unscored)");
            table.AddRow("tasks / reports", $"{matrix.TaskCount:N0} / {matrix.AnswerCount:N0}");
            table.AddRow("payment range", Markup.Escape($"[{result.Scaling.Map(result.Range.Min):G4}, {result.Scaling.Map(result.Range.Max):G4}]"));
            table.AddRow("mean payment", $"{result.MeanPayment:G4}");
            table.AddRow("min / median / max", pays.Length == 0 ? "—" : $"{pays[0]:G4} / {pays[pays.Length / 2]:G4} / {pays[^1]:G4}");
            table.AddRow("total", $"{result.Payments.Sum():G6}");
            table.AddRow("seconds", seconds.ToString("0.000", CultureInfo.InvariantCulture));
            if (p.GetValue(outDir) is { } d2) table.AddRow("wrote", Markup.Escape(Path.Combine(d2, "payments.csv")));
            ctx.Out.Write(table);
            return 0;
        });
        return cmd;
    }
}
