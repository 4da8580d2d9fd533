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
        var method = new Option<string?>("--method", "-m") { Description = $"Method (see 'tally methods'; default {AggregateJob.DefaultMethod}, or the model's with --model): " + string.Join(", ", AggregatorCatalog.All.Select(m => m.Name))
            + $". With --type numeric (default {NumericAggregateJob.DefaultMethod}): " + string.Join(", ", NumericAggregatorCatalog.All.Select(m => m.Name)) };
        var truth = new Option<string?>("--truth", "-t") { Description = "Truth file (task,truth) to report accuracy against." };
        var gold = new Option<string?>("--gold") { Description = "Gold file (task,truth) whose labels are clamped during inference (" + string.Join(", ", AggregatorCatalog.All.Where(m => m.SupportsGold).Select(m => m.Name)) + ")." };
        var outDir = new Option<string?>("--out", "-o") { Description = "Directory for labels, workers and confusions files (nothing is written without it)." };
        var format = CommonOptions.Format();
        var input = new AnswerFormatOptions();
        var maxIter = new Option<int?>("--max-iterations", "-n") { Description = "Iteration limit of iterative methods (default: the method's; see 'tally methods')." };
        var tol = new Option<double?>("--tolerance") { Description = "Convergence tolerance; 0 = run exactly --max-iterations (default: the method's)." };
        var seed = CommonOptions.Seed("Seed of the methods that draw random numbers; mv breaks ties at random only when a seed is given.");
        var prior = new Option<string?>("--prior") { Description = "Worker prior of mf and bp: onecoin:A,B (accuracy ~ Beta(A,B)) or twocoin:A,B (rows ~ Dir(A diagonal, B elsewhere)); default: the method's." };
        var classPrior = CommonOptions.ClassPrior();
        var saveModel = new Option<string?>("--save-model") { Description = "Save the fitted model (worker confusions or weights, class priors, method, options) as JSON." };
        var model = new Option<string?>("--model") { Description = "Label ANSWERS with a saved model instead of fitting (its method and classes are used)." };
        var refine = new Option<bool>("--refine") { Description = "With --model: refit on ANSWERS starting from the model (EM warm start) instead of only predicting." };
        var unseen = new Option<string>("--unseen-workers") { Description = "With --model: answers of workers the model has not seen: average (treat as the model's average worker), ignore, or error.", DefaultValueFactory = _ => Specs.Name(new PredictOptions().UnseenWorkers) };
        unseen.AcceptOnlyFromAmong([.. Specs.Names<UnseenWorkerPolicy>()]);
        var level = new Option<double>("--interval-level") { Description = "With --type numeric: coverage of each estimate's interval, in (0, 1).", DefaultValueFactory = _ => NumericAggregatorCatalog.All[0].Defaults.IntervalLevel };
        var type = new Option<string>("--type") { Description = "Kind of answers: categorical (one class each), numeric (a number each), pairwise (worker,left,right,label = the winner; methods " + string.Join(", ", PairwiseCatalog.All.Select(m => m.Name)) + ", default " + PairwiseCatalog.DefaultMethod + ") or multilabel (|-separated labels; binary relevance over --method).", DefaultValueFactory = _ => Specs.Name(AnswerType.Categorical) };
        type.AcceptOnlyFromAmong([.. Specs.Names<AnswerType>()]);

        var cmd = new Command("aggregate", """
            Infer each task's true label and each worker's reliability from crowd answers.

            Writes (with --out DIR): labels.csv (task,label,confidence,p_<class>...), workers.csv
            (worker,answers,skill,agreement) and, for confusion-matrix methods, confusions.json.
            With --type numeric (answers are numbers): labels.csv (task,estimate,lower,upper,answers) and
            workers.csv (worker,answers,bias,variance,weight); methods: mean, median, trimmed-mean, lfc, lfc-n, lfc-t, catd, pm.
            Tasks, workers and classes are sorted, so the same answers in any row order give the same files.

            Examples:
              tally aggregate --dataset dog --method ds
              tally aggregate answers.csv --method glad --truth truth.csv --out results/
              tally aggregate votes.tsv --task-col question --label-col answer --classes yes,no --format json --out out/
              tally aggregate round-1.csv --method ds --save-model model.json
              tally aggregate round-2.csv --model model.json --out round-2/          # label new tasks with it
              tally aggregate comparisons.csv --type pairwise --method noisybt --out ranking/   # scores.csv: score, rank
              tally aggregate tags.csv --type multilabel --method ds --out tags/    # labels.csv: p_<label> per label
              tally aggregate --dataset emotion --type numeric -m lfc-t --out est/    # numeric answers: estimate, interval, worker bias and variance
            """)
        {
            answers, type, level, dataset, method, truth, gold, outDir, format, maxIter, tol, seed, prior, classPrior, saveModel, model, refine, unseen,
        };
        input.AddTo(cmd);
        var typed = new AggregateTypes(ctx);
        typed.AddTo(cmd);
        var shared = new AggregateTypes.Shared(answers, dataset, method, truth, outDir, format, maxIter, tol, seed, prior, input,
            [gold, saveModel, model, refine, unseen]);
        // One switch over the answer types: each type has its own job and summary.
        cmd.SetAction(p => Specs.Choice<AnswerType>(p.GetValue(type)!, "Type") switch
        {
            var t when !typed.CheckApplicable(p, t, shared) => throw new UnreachableException(),
            var t when t is AnswerType.Pairwise or AnswerType.Multilabel && CommonOptions.Given(p, level) =>
                throw new UsageException($"--interval-level applies to --type numeric, not {Specs.Name(t)}"),
            AnswerType.Categorical => RunCategorical(p),
            AnswerType.Pairwise => typed.RunPairwise(p, shared),
            AnswerType.Multilabel => typed.RunMultilabel(p, shared),
            AnswerType.Numeric => RunNumeric(p),
            var other => throw new UsageException($"--type {Specs.Name(other)} is not implemented yet (implemented: categorical, numeric, pairwise, multilabel)"),
        });
        return cmd;

        int RunNumeric(ParseResult p)
        {
            // Options of the categorical methods do nothing here: refuse them rather than ignore them.
            foreach (var (option, given) in new (string, bool)[]
            {
                ("--gold", p.GetValue(gold) is not null), ("--prior", p.GetValue(prior) is not null), ("--class-prior", CommonOptions.Given(p, classPrior)),
                ("--save-model", p.GetValue(saveModel) is not null), ("--model", p.GetValue(model) is not null), ("--refine", p.GetValue(refine)),
                ("--unseen-workers", CommonOptions.Given(p, unseen)), ("--seed", CommonOptions.Given(p, seed)),
            })
                if (given) throw new UsageException($"{option} applies to --type categorical; the numeric methods do not use it");
            var request = new NumericAggregateRequest
            {
                Answers = new InputSource(p.GetValue(answers), p.GetValue(dataset)),
                Format = input.Read(p),
                Method = p.GetValue(method),
                Overrides = new NumericMethodOverrides(p.GetValue(maxIter), p.GetValue(tol), CommonOptions.Given(p, level) ? p.GetValue(level) : null),
                TruthPath = p.GetValue(truth),
                OutputDirectory = p.GetValue(outDir),
                OutputFormat = p.GetResult(format) is { Implicit: false } ? Specs.Choice<OutputFormat>(p.GetValue(format)!, "Format") : null,
            };
            var outcome = ctx.WithJobProgress(report => NumericAggregateJob.Run(request, ctx.Compute, report));
            if (outcome.DroppedDuplicates > 0)
                ctx.Notice($"{outcome.DroppedDuplicates} repeated (task, worker) answers dropped ({request.Format.Duplicates}; see --duplicates)");
            if (outcome.Truth is { UnknownTasks: > 0 } tr)
                ctx.Notice($"{tr.UnknownTasks} of {tr.Rows} truth rows name tasks without answers; they are not scored");
            PrintNumericSummary(ctx, outcome);
            return 0;
        }

        int RunCategorical(ParseResult p)
        {
            if (CommonOptions.Given(p, level)) throw new UsageException("--interval-level applies to --type numeric (categorical results give a posterior per class instead)");
            var request = new AggregateRequest
            {
                Answers = new InputSource(p.GetValue(answers), p.GetValue(dataset)),
                Format = input.Read(p),
                Method = p.GetValue(method),
                Overrides = new CommonMethodOptions(p.GetValue(maxIter), p.GetValue(tol), CommonOptions.Given(p, seed) ? p.GetValue(seed) : null, CliValues.ParsePrior(p.GetValue(prior)), CommonOptions.ReadClassPrior(p, classPrior)),
                TruthPath = p.GetValue(truth),
                GoldPath = p.GetValue(gold),
                ModelPath = p.GetValue(model),
                Refine = p.GetValue(refine),
                // Only what the user gave: an option given where it does nothing is refused by the job.
                UnseenWorkers = p.GetResult(unseen) is { Implicit: false } ? Specs.Choice<UnseenWorkerPolicy>(p.GetValue(unseen)!, "UnseenWorkers") : null,
                OutputDirectory = p.GetValue(outDir),
                OutputFormat = p.GetResult(format) is { Implicit: false } ? Specs.Choice<OutputFormat>(p.GetValue(format)!, "Format") : null,
                SaveModelPath = p.GetValue(saveModel),
            };
            var outcome = ctx.WithJobProgress(report => AggregateJob.Run(request, ctx.Compute, report));
            if (outcome.DroppedDuplicates > 0)
                ctx.Notice($"{outcome.DroppedDuplicates} repeated (task, worker) answers dropped ({request.Format.Duplicates}; see --duplicates)");
            if (outcome.Truth is { UnknownTasks: > 0 } tr)
                ctx.Notice($"{tr.UnknownTasks} of {tr.Rows} truth rows name tasks without answers; they are not scored");
            if (outcome.Result.UnseenWorkers > 0)
                ctx.Notice($"{outcome.Result.UnseenWorkers} worker(s) not in the model: {(request.UnseenWorkers == UnseenWorkerPolicy.Ignore ? "their answers were ignored" : "treated as the model's average worker")} (see --unseen-workers)");
            PrintSummary(ctx, outcome);
            return 0;
        }
    }

    private static void PrintNumericSummary(CliContext ctx, NumericAggregateOutcome o)
    {
        var r = o.Result;
        var a = r.Answers;
        var table = new Table().Border(TableBorder.Rounded).HideHeaders().Title($"tally aggregate --type numeric — {Markup.Escape(o.Source)}");
        table.AddColumn("");
        table.AddColumn(new TableColumn("").RightAligned());
        table.AddRow("method", $"{o.Method.Name} ({Markup.Escape(o.Method.Description.Split(';', '.')[0])})");
        table.AddRow("tasks", a.TaskCount.ToString("N0"));
        table.AddRow("workers", a.WorkerCount.ToString("N0"));
        table.AddRow("answers", a.AnswerCount.ToString("N0"));
        if (o.Method.Iterative) table.AddRow("iterations", $"{r.Iterations}{(r.Converged ? " (converged)" : " (iteration limit)")}");
        table.AddRow("seconds", $"{CliValues.Fixed(o.FitSeconds, "0.000")} (+ {CliValues.Fixed(o.ReadSeconds, "0.000")} reading)");
        if (o.Error is { } e)
        {
            table.AddRow("[bold]MAE[/]", $"[bold]{CliValues.Fixed(e.MeanAbsoluteError, "0.00")}[/] ({e.Evaluated:N0} tasks with truth)");
            table.AddRow("RMSE", CliValues.Fixed(e.RootMeanSquaredError, "0.00"));
            table.AddRow($"interval coverage", $"{CliValues.Percent(e.Coverage)}% (nominal {CliValues.Percent(r.IntervalLevel)}%)");
        }
        foreach (var f in o.Written) table.AddRow("wrote", Markup.Escape(f));
        ctx.Out.Write(table);
        ctx.Out.WriteLine();
    }

    private static void PrintSummary(CliContext ctx, AggregateOutcome o)
    {
        var r = o.Result;
        var a = r.Answers;
        var table = new Table().Border(TableBorder.Rounded).HideHeaders().Title($"tally aggregate — {Markup.Escape(o.Source)}");
        table.AddColumn("");
        table.AddColumn(new TableColumn("").RightAligned());
        table.AddRow("method", $"{o.Method.Name} ({Markup.Escape(o.Method.Description.Split(':', '.')[0])})" + (o.Mode == "fit" ? "" : $", {o.Mode} from a saved model"));
        table.AddRow("tasks", a.TaskCount.ToString("N0"));
        table.AddRow("workers", a.WorkerCount.ToString("N0"));
        table.AddRow("answers", a.AnswerCount.ToString("N0"));
        table.AddRow("classes", $"{a.ClassCount:N0} ({Markup.Escape(string.Join(", ", a.Classes.Names.Take(10)))}{(a.ClassCount > 10 ? ", …" : "")})");
        if (o.Method.Iterative && o.Mode != "predict") table.AddRow("iterations", $"{r.Iterations}{(r.Converged ? " (converged)" : " (iteration limit)")}");
        table.AddRow("seconds", $"{CliValues.Fixed(o.FitSeconds, "0.000")} (+ {CliValues.Fixed(o.ReadSeconds, "0.000")} reading)");
        if (o.Accuracy is { } acc)
        {
            table.AddRow("[bold]accuracy[/]", $"[bold]{CliValues.Percent(acc.Value)}%[/] ({acc.Correct:N0} / {acc.Evaluated:N0} tasks with truth)");
            for (int c = 0; c < a.ClassCount; c++)
                if (acc.ClassSupport[c] > 0)
                    table.AddRow($"  recall {Markup.Escape(a.Classes[c])}", $"{CliValues.Percent(acc.ClassRecall[c])}% of {acc.ClassSupport[c]:N0}");
        }
        foreach (var f in o.Written) table.AddRow("wrote", Markup.Escape(f));
        ctx.Out.Write(table);
        ctx.Out.WriteLine();
    }
}
