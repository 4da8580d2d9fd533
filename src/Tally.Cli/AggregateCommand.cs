using Tally.Application;
using Tally.Catalogs;
using System.CommandLine;
using System.Diagnostics;
using Spectre.Console;
using Tally.Aggregation;
using Tally.Core;

namespace Tally.Cli;

/// <summary><c>tally aggregate</c>: infer true labels and worker reliability from an answers file.</summary>
internal static class AggregateCommand
{
    public static Command Create(CliContext ctx)
    {
        var answers = new Argument<string?>("ANSWERS") { Description = "Answers file (CSV/TSV with header; default columns task,worker,label).", Arity = ArgumentArity.ZeroOrOne };
        var dataset = new Option<string?>("--dataset", "-d") { Description = "Use a bundled dataset instead of ANSWERS (see 'tally datasets'); its truth is used automatically." };
        var method = new Option<string>("--method", "-m") { Description = "Method (see 'tally methods'): " + string.Join(", ", AggregatorCatalog.All.Select(m => m.Name)), DefaultValueFactory = _ => "ds" };
        var truth = new Option<string?>("--truth", "-t") { Description = "Truth file (task,truth) to report accuracy against." };
        var gold = new Option<string?>("--gold") { Description = "Gold file (task,truth) whose labels are clamped during inference (probabilistic methods: ds, onecoin, spectral, glad, mace, mf, bp, robust-ds; ignored by the voting methods)." };
        var outDir = new Option<string?>("--out", "-o") { Description = "Directory for labels, workers and confusions files (nothing is written without it)." };
        var format = new Option<string>("--format", "-f") { Description = "Output format: csv or json.", DefaultValueFactory = _ => "csv" };
        format.AcceptOnlyFromAmong("csv", "json");
        var taskCol = new Option<string>("--task-col") { Description = "Name of the task column.", DefaultValueFactory = _ => "task" };
        var workerCol = new Option<string>("--worker-col") { Description = "Name of the worker column.", DefaultValueFactory = _ => "worker" };
        var labelCol = new Option<string>("--label-col") { Description = "Name of the label column.", DefaultValueFactory = _ => "label" };
        var classes = new Option<string?>("--classes") { Description = "Comma-separated classes in order (default: order of first appearance); other answers are errors." };
        var duplicates = new Option<string>("--duplicates") { Description = "Repeated (task, worker) answers: keep-last, keep-first, keep-all or error.", DefaultValueFactory = _ => "keep-last" };
        var maxIter = new Option<int?>("--max-iterations", "-n") { Description = "Iteration limit of iterative methods (default: the method's)." };
        var tol = new Option<double?>("--tolerance") { Description = "Convergence tolerance; 0 = run exactly --max-iterations." };
        var seed = new Option<int?>("--seed", "-s") { Description = "Seed for any randomness (for mv: break ties at random)." };
        var prior = new Option<string?>("--prior") { Description = "Worker prior of mf and bp: onecoin:A,B (accuracy ~ Beta(A,B)) or twocoin:A,B (rows ~ Dir(A diagonal, B elsewhere)); default twocoin:2,1." };

        var cmd = new Command("aggregate", """
            Infer each task's true label and each worker's reliability from crowd answers.

            Writes (with --out DIR): labels.csv (task,label,confidence,p_<class>...), workers.csv
            (worker,answers,skill,agreement) and, for confusion-matrix methods, confusions.json.

            Examples:
              tally aggregate --dataset dog --method ds
              tally aggregate answers.csv --method glad --truth truth.csv --out results/
              tally aggregate votes.tsv --task-col question --label-col answer --classes yes,no --format json --out out/
            """)
        {
            answers, dataset, method, truth, gold, outDir, format, taskCol, workerCol, labelCol, classes, duplicates, maxIter, tol, seed, prior,
        };
        cmd.SetAction(p =>
        {
            var info = AggregatorCatalog.Find(p.GetValue(method)!)
                ?? throw new UsageException($"unknown method '{p.GetValue(method)}' (known: {string.Join(", ", AggregatorCatalog.All.Select(m => m.Name))})");
            string? path = p.GetValue(answers);
            string? truthPath = p.GetValue(truth);
            string source;
            if (p.GetValue(dataset) is { } ds)
            {
                if (path is not null) throw new UsageException("give either ANSWERS or --dataset, not both");
                var b = BundledDatasets.Get(ds);
                path = b.AnswersPath;
                truthPath ??= b.TruthPath;
                source = "dataset " + b.Name;
            }
            else if (path is null) throw new UsageException("no answers: give an ANSWERS file or --dataset NAME");
            else source = path;

            var options = new AnswerFileOptions(p.GetValue(taskCol)!, p.GetValue(workerCol)!, p.GetValue(labelCol)!,
                AnswerFiles.ParseClassList(p.GetValue(classes)), CliValues.ParseDuplicates(p.GetValue(duplicates)!));
            var common = new CommonMethodOptions(p.GetValue(maxIter), p.GetValue(tol), p.GetValue(seed), CliValues.ParsePrior(p.GetValue(prior)));
            if (common.MaxIterations is < 0) throw new UsageException("--max-iterations must be ≥ 0");
            if (common.Tolerance is < 0) throw new UsageException("--tolerance must be ≥ 0");
            var aggregator = info.Create(common);

            var clock = Stopwatch.StartNew();
            var build = ctx.WithProgress("Reading answers", report => AnswerFiles.ReadAnswers(path, options, report));
            double readSeconds = clock.Elapsed.TotalSeconds;
            var matrix = build.Matrix;
            if (build.DroppedDuplicates > 0)
                ctx.Notice($"{build.DroppedDuplicates} repeated (task, worker) answers dropped ({options.Duplicates}; see --duplicates)");
            TruthRead? truthRead = truthPath is null ? null : AnswerFiles.ReadTruth(truthPath, matrix);
            if (truthRead is { UnknownTasks: > 0 })
                ctx.Notice($"{truthRead.UnknownTasks} of {truthRead.Rows} truth rows name tasks without answers; they are not scored");
            if (p.GetValue(gold) is { } goldPath)
            {
                var g = AnswerFiles.ReadTruth(goldPath, matrix);
                matrix = matrix.WithGold(g.Labels);
            }

            clock.Restart();
            var result = ctx.WithProgress($"Running {info.Name}", report =>
                aggregator.Aggregate(matrix, ctx.Compute, new SyncProgress<IterationProgress>(it => report((double)it.Iteration / Math.Max(1, it.MaxIterations)))));
            double fitSeconds = clock.Elapsed.TotalSeconds;

            IReadOnlyList<string> written = [];
            if (p.GetValue(outDir) is { } dir)
                written = AggregationWriter.Write(result, dir, p.GetValue(format) == "json" ? OutputFormat.Json : OutputFormat.Csv);

            PrintSummary(ctx, source, info, result, readSeconds, fitSeconds, truthRead, written);
            return 0;
        });
        return cmd;
    }

    private static void PrintSummary(CliContext ctx, string source, AggregatorInfo info, AggregationResult r,
        double readSeconds, double fitSeconds, TruthRead? truth, IReadOnlyList<string> written)
    {
        var a = r.Answers;
        var table = new Table().Border(TableBorder.Rounded).HideHeaders().Title($"tally aggregate — {Markup.Escape(source)}");
        table.AddColumn("");
        table.AddColumn(new TableColumn("").RightAligned());
        table.AddRow("method", $"{info.Name} ({Markup.Escape(info.Description.Split(':', '.')[0])})");
        table.AddRow("tasks", a.TaskCount.ToString("N0"));
        table.AddRow("workers", a.WorkerCount.ToString("N0"));
        table.AddRow("answers", a.AnswerCount.ToString("N0"));
        table.AddRow("classes", $"{a.ClassCount} ({Markup.Escape(string.Join(", ", a.Classes.Names.Take(10)))}{(a.ClassCount > 10 ? ", …" : "")})");
        if (info.Iterative) table.AddRow("iterations", $"{r.Iterations}{(r.Converged ? " (converged)" : " (iteration limit)")}");
        table.AddRow("seconds", $"{CliValues.Fixed(fitSeconds, "0.000")} (+ {CliValues.Fixed(readSeconds, "0.000")} reading)");
        if (truth is not null)
        {
            var acc = Accuracy.Of(r.Labels.AsSpan(), truth.Labels);
            table.AddRow("[bold]accuracy[/]", $"[bold]{CliValues.Percent(acc.Value)}%[/] ({acc.Correct:N0} / {acc.Evaluated:N0} tasks with truth)");
            for (int c = 0; c < a.ClassCount; c++)
                if (acc.ClassSupport[c] > 0)
                    table.AddRow($"  recall {Markup.Escape(a.Classes[c])}", $"{CliValues.Percent(acc.ClassRecall[c])}% of {acc.ClassSupport[c]:N0}");
        }
        foreach (var f in written) table.AddRow("wrote", Markup.Escape(f));
        ctx.Out.Write(table);
        ctx.Out.WriteLine();
    }
}
