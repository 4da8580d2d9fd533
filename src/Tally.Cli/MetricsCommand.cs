using System.CommandLine;
using Spectre.Console;
using Tally.Application;
using Tally.Catalogs;
using Tally.Core;
using Tally.Metrics;

namespace Tally.Cli;

/// <summary><c>tally metrics</c>: agreement among workers, and the quality of tasks and workers against an aggregate and a truth.</summary>
internal static class MetricsCommand
{
    public static Command Create(CliContext ctx)
    {
        var answers = new Argument<string?>("ANSWERS") { Description = "Answers file (CSV/TSV with header; default columns task,worker,label).", Arity = ArgumentArity.ZeroOrOne };
        var dataset = new Option<string?>("--dataset", "-d") { Description = "Use a bundled dataset instead of ANSWERS (see 'tally datasets'); its truth is used automatically." };
        var labels = new Option<string?>("--labels") { Description = "An aggregate to measure against: labels.csv as 'tally aggregate --out' writes it (task,label,...,p_<class>...)." };
        var method = new Option<string?>("--method", "-m") { Description = $"Without --labels: the method that makes the aggregate (default {AggregateJob.DefaultMethod}; see 'tally methods')." };
        var truth = new Option<string?>("--truth", "-t") { Description = "Truth file (task,truth): each worker's accuracy on the tasks it covers, with a Wilson interval." };
        var outDir = CommonOptions.Out("metrics, tasks and workers tables");
        var format = CommonOptions.Format();
        var plot = new Option<string?>("--plot") { Description = "Write a chart of each worker's accuracy on gold (or, without a truth, agreement with the aggregate) against its number of answers (PNG)." };
        var confidence = new Option<double>("--confidence") { Description = "Confidence level of the accuracy intervals.", DefaultValueFactory = _ => new QualityMetricsOptions().ConfidenceLevel };
        var maxIter = new Option<int?>("--max-iterations", "-n") { Description = "Iteration limit of the aggregating method (default: the method's; see 'tally methods')." };
        var tol = new Option<double?>("--tolerance") { Description = "Convergence tolerance of the aggregating method (default: the method's)." };
        var seed = CommonOptions.Seed("Seed of the aggregating method, if it draws random numbers.");
        var input = new AnswerFormatOptions();
        var cmd = new Command("metrics", """
            Measure a crowd's answers: agreement beyond chance (Krippendorff's alpha nominal, ordinal and, for numeric
            classes, interval; Fleiss' kappa), per task the entropy of the aggregate's posterior, the share of answers
            agreeing with it and its consistency, per worker the agreement with the aggregate and, with --truth, the
            accuracy on gold with a Wilson interval.

            Writes (with --out DIR): metrics.csv (metric,value), tasks.csv (task,label,answers,entropy,agreement,
            consistency), workers.csv (worker,answers,agreement,gold_answers,gold_correct,accuracy,accuracy_low,accuracy_high).

            Examples:
              tally metrics --dataset dog
              tally metrics answers.csv --labels results/labels.csv --truth truth.csv --out quality/ --plot workers.png
              tally metrics answers.csv --method mv --format json --out quality/
            """)
        { answers, dataset, labels, method, truth, outDir, format, plot, confidence, maxIter, tol, seed };
        input.AddTo(cmd);
        cmd.SetAction(p =>
        {
            var request = new MetricsRequest
            {
                Answers = new InputSource(p.GetValue(answers), p.GetValue(dataset)),
                Format = input.Read(p),
                LabelsPath = p.GetValue(labels),
                Method = p.GetValue(method),
                Overrides = new CommonMethodOptions(p.GetValue(maxIter), p.GetValue(tol), CommonOptions.Given(p, seed) ? p.GetValue(seed) : null),
                TruthPath = p.GetValue(truth),
                Options = new QualityMetricsOptions { ConfidenceLevel = p.GetValue(confidence) },
                OutputDirectory = p.GetValue(outDir),
                OutputFormat = CommonOptions.Given(p, format) ? Specs.Choice<OutputFormat>(p.GetValue(format)!, "Format") : null,
            };
            string? png = p.GetValue(plot);
            if (png is not null) OutputChecks.WritableDirectory(Path.GetDirectoryName(Path.GetFullPath(png))!, "--plot");
            var o = ctx.WithJobProgress(report => MetricsJob.Run(request, ctx.Compute, report));
            if (o.DroppedDuplicates > 0)
                ctx.Notice($"{o.DroppedDuplicates} repeated (task, worker) answers dropped ({request.Format.Duplicates}; see --duplicates)");
            if (o.UnknownLabelRows > 0)
                ctx.Notice($"{o.UnknownLabelRows} rows of the labels file name tasks without answers; they are not used");
            if (o.Truth is { UnknownTasks: > 0 } tr)
                ctx.Notice($"{tr.UnknownTasks} of {tr.Rows} truth rows name tasks without answers; they are not scored");
            var r = o.Report;
            var a = r.Answers;
            var table = new Table().Border(TableBorder.Rounded).HideHeaders().Title($"tally metrics — {Markup.Escape(o.Source)}");
            table.AddColumn("");
            table.AddColumn(new TableColumn("").RightAligned());
            table.AddRow("tasks, workers, answers", $"{a.TaskCount:N0}, {a.WorkerCount:N0}, {a.AnswerCount:N0}");
            table.AddRow("aggregate", Markup.Escape(o.Aggregate));
            foreach (var (metric, value) in o.Summary)
                table.AddRow(Markup.Escape(metric.Replace('_', ' ')), value is { } v ? CliValues.Fixed(v, "0.0000") : "— (undefined)");
            if (r.HasTruth)
            {
                int covered = r.GoldAnswers.Count(g => g > 0);
                table.AddRow("workers with gold answers", $"{covered:N0} of {a.WorkerCount:N0}");
            }
            foreach (var f in o.Written) table.AddRow("wrote", Markup.Escape(f));
            ctx.Out.Write(table);
            ctx.Out.WriteLine();
            if (png is not null)
            {
                var x = new List<double>(); var y = new List<double>(); var lo = new List<double>(); var hi = new List<double>();
                for (int w = 0; w < a.WorkerCount; w++)
                {
                    if (r.HasTruth)
                    {
                        if (r.Accuracy(w) is not { } acc) continue;
                        x.Add(r.GoldAnswers[w]); y.Add(acc); lo.Add(r.AccuracyLow[w]); hi.Add(r.AccuracyHigh[w]);
                    }
                    else { x.Add(a.WorkerDegree(w)); y.Add(r.WorkerAgreement[w]); }
                }
                string level = CliValues.Fixed(100 * r.ConfidenceLevel, "0.#");
                if (r.HasTruth)
                    Plots.Points(png, $"Worker accuracy on gold ({level}% Wilson intervals) — {o.Source}", "answers on gold tasks (log scale)", "accuracy", x, y, lo, hi, logX: true);
                else
                    Plots.Points(png, $"Worker agreement with the aggregate ({o.Aggregate}) — {o.Source}", "answers (log scale)", "agreement", x, y, logX: true);
                ctx.Notice("wrote " + png);
            }
            return 0;
        });
        return cmd;
    }
}
