using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Tally.Application;
using Tally.Catalogs;

namespace Tally.Cli;

/// <summary><c>tally compare</c>: several methods on the same answers, scored against the same truth.</summary>
internal static class CompareCommand
{
    public static Command Create(CliContext ctx)
    {
        var answers = new Argument<string?>("ANSWERS") { Description = "Answers file (CSV/TSV with header; default columns task,worker,label).", Arity = ArgumentArity.ZeroOrOne };
        var dataset = new Option<string?>("--dataset", "-d") { Description = "Use a bundled dataset (and its truth) instead of ANSWERS (see 'tally datasets')." };
        var truth = new Option<string?>("--truth", "-t") { Description = "Truth file (task,truth); required with ANSWERS." };
        var methods = new Option<string>("--methods", "-m") { Description = "Comma-separated methods (see 'tally methods'), or 'all'.", DefaultValueFactory = _ => "all" };
        var outDir = CommonOptions.Out($"{CompareJob.Table}.csv or .json ({string.Join(",", CompareJob.Columns)})");
        var outFormat = CommonOptions.Format();
        var plot = new Option<string?>("--plot") { Description = "Also write a bar chart of accuracy (PNG)." };
        var maxIter = new Option<int?>("--max-iterations", "-n") { Description = "Iteration limit for every iterative method (default: each method's; see 'tally methods')." };
        var tol = new Option<double?>("--tolerance") { Description = "Convergence tolerance for every iterative method (default: each method's; see 'tally methods')." };
        var seed = CommonOptions.Seed("Seed of every method that draws random numbers; mv breaks ties at random only when a seed is given.");
        var prior = new Option<string?>("--prior") { Description = "Worker prior of mf and bp: onecoin:A,B (accuracy ~ Beta(A,B)) or twocoin:A,B (rows ~ Dir(A diagonal, B elsewhere)); default: the method's." };
        var format = new AnswerFormatOptions();
        var classPrior = CommonOptions.ClassPrior();
        var cmd = new Command("compare", """
            Run several truth-inference methods on the same answers and compare accuracy and time.

            Examples:
              tally compare --dataset duck
              tally compare answers.csv --truth truth.csv --methods mv,ds,glad --out cmp/ --plot cmp.png
              tally compare votes.tsv --truth gold.csv --task-col question --label-col answer --classes yes,no
            """)
        { answers, dataset, truth, methods, outDir, outFormat, plot, maxIter, tol, seed, prior, classPrior };
        format.AddTo(cmd);
        cmd.SetAction(p =>
        {
            var request = new CompareRequest
            {
                Answers = new InputSource(p.GetValue(answers), p.GetValue(dataset)),
                Format = format.Read(p),
                TruthPath = p.GetValue(truth),
                Methods = Specs.List(p.GetValue(methods)),
                Overrides = new CommonMethodOptions(p.GetValue(maxIter), p.GetValue(tol), CommonOptions.Given(p, seed) ? p.GetValue(seed) : null, Specs.Prior(p.GetValue(prior)), CommonOptions.ReadClassPrior(p, classPrior)),
                OutputDirectory = p.GetValue(outDir),
                OutputFormat = CommonOptions.ReadFormat(p, outFormat, p.GetValue(outDir)),
            };
            string? png = p.GetValue(plot);
            if (png is not null) OutputChecks.WritableDirectory(Path.GetDirectoryName(Path.GetFullPath(png))!, "--plot");
            var o = ctx.WithJobProgress(report => CompareJob.Run(request, ctx.Compute, report));
            if (o.DroppedDuplicates > 0)
                ctx.Notice($"{o.DroppedDuplicates} repeated (task, worker) answers dropped ({request.Format.Duplicates}; see --duplicates)");
            if (o.Truth.UnknownTasks > 0)
                ctx.Notice($"{o.Truth.UnknownTasks} of {o.Truth.Rows} truth rows name tasks without answers; they are not scored");

            var m = o.Answers;
            var table = new Table().Border(TableBorder.Rounded)
                .Title($"{Markup.Escape(o.Source)}: {m.TaskCount:N0} tasks, {m.WorkerCount:N0} workers, {m.AnswerCount:N0} answers, K = {m.ClassCount}");
            table.AddColumn("method");
            table.AddColumn(new TableColumn("accuracy %").RightAligned());
            table.AddColumn(new TableColumn("seconds").RightAligned());
            table.AddColumn(new TableColumn("iterations").RightAligned());
            table.AddColumn("note");
            foreach (var r in o.Rows)
            {
                string acc = r.Accuracy is { } a ? CliValues.Percent(a) : "—";
                if (o.IsBest(r)) acc = $"[bold green]{acc}[/]";
                table.AddRow(r.Method, acc, CliValues.Fixed(r.Seconds, "0.000"), r.Iterations.ToString(CultureInfo.InvariantCulture),
                    Markup.Escape(r.Note + (r.Note.Length == 0 && r.Iterations > 0 && !r.Converged ? "iteration limit" : "")));
            }
            ctx.Out.Write(table);
            if (png is not null)
            {
                var ran = o.Rows.Where(r => r.Accuracy is not null).ToList();
                Plots.Bars(png, $"Accuracy on {o.Source}", "accuracy (%)", ran.Select(r => r.Method).ToList(), ran.Select(r => 100 * r.Accuracy!.Value).ToList());
            }
            return 0;
        });
        return cmd;
    }
}
