using Tally.Application;
using Tally.Catalogs;
using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Tally.Aggregation;
using Tally.Core;
using Tally.Simulation;

namespace Tally.Cli;

/// <summary><c>tally compare</c>: several methods on the same answers, scored against the same truth.</summary>
internal static class CompareCommand
{
    public static Command Create(CliContext ctx)
    {
        var answers = new Argument<string?>("ANSWERS") { Description = "Answers file (task,worker,label).", Arity = ArgumentArity.ZeroOrOne };
        var dataset = new Option<string?>("--dataset", "-d") { Description = "Use a bundled dataset (and its truth) instead of ANSWERS." };
        var truth = new Option<string?>("--truth", "-t") { Description = "Truth file (task,truth); required with ANSWERS." };
        var methods = new Option<string>("--methods", "-m") { Description = "Comma-separated methods, or 'all'.", DefaultValueFactory = _ => "all" };
        var csv = new Option<string?>("--csv") { Description = "Also write the table as CSV (method,accuracy,seconds,iterations,converged,note)." };
        var plot = new Option<string?>("--plot") { Description = "Also write a bar chart of accuracy (PNG)." };
        var maxIter = new Option<int?>("--max-iterations", "-n") { Description = "Iteration limit for every iterative method." };
        var tol = new Option<double?>("--tolerance") { Description = "Convergence tolerance for every iterative method." };
        var seed = new Option<int?>("--seed", "-s") { Description = "Seed for every method." };
        var prior = new Option<string?>("--prior") { Description = "Worker prior of mf and bp: onecoin:A,B (accuracy ~ Beta(A,B)) or twocoin:A,B (rows ~ Dir(A diagonal, B elsewhere)); default twocoin:2,1." };
        var cmd = new Command("compare", """
            Run several truth-inference methods on the same answers and compare accuracy and time.

            Examples:
              tally compare --dataset duck
              tally compare answers.csv --truth truth.csv --methods mv,ds,glad --csv cmp.csv --plot cmp.png
            """)
        { answers, dataset, truth, methods, csv, plot, maxIter, tol, seed, prior };
        cmd.SetAction(p =>
        {
            string? path = p.GetValue(answers), truthPath = p.GetValue(truth), source;
            if (p.GetValue(dataset) is { } ds)
            {
                if (path is not null) throw new UsageException("give either ANSWERS or --dataset, not both");
                var b = BundledDatasets.Get(ds);
                (path, truthPath, source) = (b.AnswersPath, truthPath ?? b.TruthPath, b.Name);
            }
            else if (path is null) throw new UsageException("no answers: give an ANSWERS file or --dataset NAME");
            else source = path;
            if (truthPath is null) throw new UsageException("compare needs --truth (task,truth)");

            var chosen = p.GetValue(methods)! is "all"
                ? AggregatorCatalog.All
                : p.GetValue(methods)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                    .Select(n => AggregatorCatalog.Find(n) ?? throw new UsageException($"unknown method '{n}' (see 'tally methods')")).ToList();
            var matrix = ctx.WithProgress("Reading answers", r => AnswerFiles.ReadAnswers(path, null, r)).Matrix;
            var gold = AnswerFiles.ReadTruth(truthPath, matrix);
            int done = 0;
            var rows = ctx.WithProgress("Comparing methods", r => MethodComparison.Run(matrix, gold.Labels, chosen,
                new CommonMethodOptions(p.GetValue(maxIter), p.GetValue(tol), p.GetValue(seed), CliValues.ParsePrior(p.GetValue(prior))), _ => r((double)done++ / chosen.Count), ctx.Compute));

            var table = new Table().Border(TableBorder.Rounded)
                .Title($"{Markup.Escape(source)}: {matrix.TaskCount:N0} tasks, {matrix.WorkerCount:N0} workers, {matrix.AnswerCount:N0} answers, K = {matrix.ClassCount}");
            table.AddColumn("method");
            table.AddColumn(new TableColumn("accuracy %").RightAligned());
            table.AddColumn(new TableColumn("seconds").RightAligned());
            table.AddColumn(new TableColumn("iterations").RightAligned());
            table.AddColumn("note");
            double best = rows.Where(r => r.Accuracy is not null).Select(r => r.Accuracy!.Value).DefaultIfEmpty(0).Max();
            foreach (var r in rows)
            {
                string acc = r.Accuracy is { } a ? CliValues.Percent(a) : "—";
                if (r.Accuracy is { } b && Math.Abs(b - best) < 1e-12) acc = $"[bold green]{acc}[/]";
                table.AddRow(r.Method, acc, CliValues.Fixed(r.Seconds, "0.000"), r.Iterations.ToString(CultureInfo.InvariantCulture),
                    Markup.Escape(r.Note + (r.Note.Length == 0 && r.Iterations > 0 && !r.Converged ? "iteration limit" : "")));
            }
            ctx.Out.Write(table);
            if (p.GetValue(csv) is { } csvPath)
                AtomicFile.WriteText(csvPath, w =>
                {
                    w.WriteLine("method,accuracy,seconds,iterations,converged,note");
                    foreach (var r in rows)
                        w.WriteLine(string.Join(",", r.Method, (r.Accuracy is double a ? NumberFormat.Finite(a) : ""),
                            NumberFormat.Finite(r.Seconds), r.Iterations.ToString(CultureInfo.InvariantCulture),
                            r.Converged ? "true" : "false", CsvText.Escape(r.Note)));
                });
            if (p.GetValue(plot) is { } png)
            {
                var ok = rows.Where(r => r.Accuracy is not null).ToList();
                Plots.Bars(png, $"Accuracy on {source}", "accuracy (%)", ok.Select(r => r.Method).ToList(), ok.Select(r => 100 * r.Accuracy!.Value).ToList());
            }
            return 0;
        });
        return cmd;
    }
}
