using System.CommandLine;
using Spectre.Console;
using Tally.Aggregation.MultiLabel;
using Tally.Aggregation.Pairwise;
using Tally.Application;
using Tally.Catalogs;
using Tally.Core;

namespace Tally.Cli;

/// <summary>
/// <c>tally aggregate --type pairwise</c> and <c>--type multilabel</c>: their own options, the check that an option given
/// applies to the chosen type, and each type's request and summary. The jobs do the work.
/// </summary>
internal sealed class AggregateTypes(CliContext ctx)
{
    private readonly Option<double> _regularization = new("--regularization")
    {
        Description = "With --type pairwise: virtual wins and losses per item against a reference item, so an unbeaten item keeps a finite score (0 = plain maximum likelihood).",
        DefaultValueFactory = _ => new BradleyTerryOptions().Regularization,
    };
    private readonly Option<double> _threshold = new("--threshold")
    {
        Description = "With --type multilabel: a label is in a task's set when its probability is at least this.",
        DefaultValueFactory = _ => new BinaryRelevanceOptions().Threshold,
    };

    /// <summary>The options of <c>tally aggregate</c> the types share with the categorical one.</summary>
    public sealed record Shared(Argument<string?> Answers, Option<string?> Dataset, Option<string?> Method, Option<string?> Truth, Option<string?> Out,
        Option<string> Format, Option<int?> MaxIterations, Option<double?> Tolerance, Option<int> Seed, Option<string?> Prior,
        AnswerFormatOptions Input, IReadOnlyList<Option> CategoricalOnly);

    /// <summary>Adds the type-specific options.</summary>
    public void AddTo(Command command)
    {
        command.Add(_regularization);
        command.Add(_threshold);
    }

    /// <summary>Refuses an option given for a type it does nothing for; true when every option given applies.</summary>
    /// <exception cref="UsageException">Such an option.</exception>
    public bool CheckApplicable(ParseResult p, AnswerType type, Shared s)
    {
        void Refuse(string option, string appliesTo) =>
            throw new UsageException($"{option} applies to --type {appliesTo}, not {Specs.Name(type)}");
        if (type != AnswerType.Pairwise && CommonOptions.Given(p, _regularization)) Refuse("--regularization", "pairwise");
        if (type != AnswerType.Multilabel && CommonOptions.Given(p, _threshold)) Refuse("--threshold", "multilabel");
        if (type is not (AnswerType.Pairwise or AnswerType.Multilabel)) return true;
        foreach (var o in s.CategoricalOnly) if (CommonOptions.Given(p, o)) Refuse(o.Name, "categorical");
        var input = s.Input.Given(p).ToList();
        if (type == AnswerType.Pairwise)
        {
            foreach (var o in new Option[] { s.Seed, s.Prior }) if (CommonOptions.Given(p, o)) Refuse(o.Name, "categorical and multilabel");
            foreach (var name in input.Where(n => n is "--task-col" or "--classes" or "--class-order" or "--duplicates"))
                throw new UsageException($"{name} does not apply to --type pairwise (its columns are worker,left,right,label; every comparison counts)");
        }
        else if (input.Contains("--class-order")) throw new UsageException("--class-order does not apply to --type multilabel (labels are sorted)");
        return true;
    }

    public int RunPairwise(ParseResult p, Shared s)
    {
        var request = new PairwiseRequest
        {
            Answers = new InputSource(p.GetValue(s.Answers), p.GetValue(s.Dataset), "comparisons"),
            Format = s.Input.ReadComparisons(p),
            Method = p.GetValue(s.Method),
            Overrides = new PairwiseMethodOptions(p.GetValue(s.MaxIterations), p.GetValue(s.Tolerance),
                CommonOptions.Given(p, _regularization) ? p.GetValue(_regularization) : null),
            TruthPath = p.GetValue(s.Truth),
            OutputDirectory = p.GetValue(s.Out),
            OutputFormat = CommonOptions.Given(p, s.Format) ? Specs.Choice<OutputFormat>(p.GetValue(s.Format)!, "Format") : null,
        };
        var o = ctx.WithJobProgress(report => PairwiseJob.Run(request, ctx.Compute, report));
        if (o.ComponentsNotice is { } notice) ctx.Notice(notice);
        if (o.UnknownTruthItems > 0) ctx.Notice($"{o.UnknownTruthItems} truth rows name items without comparisons; they are not scored");
        var r = o.Result;
        var c = r.Comparisons;
        var table = new Table().Border(TableBorder.Rounded).HideHeaders().Title($"tally aggregate --type pairwise — {Markup.Escape(o.Source)}");
        table.AddColumn("");
        table.AddColumn(new TableColumn("").RightAligned());
        table.AddRow("method", $"{o.Method.Name} ({Markup.Escape(o.Method.Description.Split(':', '.')[0])})");
        table.AddRow("items", c.ItemCount.ToString("N0"));
        table.AddRow("workers", c.WorkerCount.ToString("N0"));
        table.AddRow("comparisons", c.Count.ToString("N0"));
        table.AddRow("components", r.ComponentCount == 1 ? "1 (every item is ranked against every other)" : $"[bold yellow]{r.ComponentCount}[/] (ranked within each only)");
        table.AddRow("iterations", $"{r.Iterations}{(r.Converged ? " (converged)" : " (iteration limit)")}");
        table.AddRow("seconds", $"{CliValues.Fixed(o.FitSeconds, "0.000")} (+ {CliValues.Fixed(o.ReadSeconds, "0.000")} reading)");
        if (o.KendallTau is { } tau) table.AddRow("[bold]Kendall's τ[/]", $"[bold]{CliValues.Fixed(tau, "0.0000")}[/] ({o.ScoredItems:N0} items with a true score)");
        foreach (var f in o.Written) table.AddRow("wrote", Markup.Escape(f));
        ctx.Out.Write(table);
        ctx.Out.WriteLine();

        // The top of the first component's ranking, with the numbers behind it.
        var top = Enumerable.Range(0, c.ItemCount).Where(i => r.Components[i] == 0).OrderBy(i => r.Ranks[i]).Take(10).ToList();
        var ranking = new Table().Border(TableBorder.Rounded).Title(r.ComponentCount == 1 ? "top items" : "top items of component 0");
        foreach (var h in new[] { "rank", "item", "score", $"{CliValues.Fixed(100 * r.ConfidenceLevel, "0.#")}% interval", "rank confidence" }) ranking.AddColumn(h);
        foreach (int i in top)
            ranking.AddRow(r.Ranks[i].ToString(NumberFormat.Invariant), Markup.Escape(c.Items[i]), CliValues.Fixed(r.Scores[i], "0.000"),
                $"{CliValues.Fixed(r.Low[i], "0.000")} … {CliValues.Fixed(r.High[i], "0.000")}", CliValues.Fixed(r.RankConfidence[i], "0.000"));
        ctx.Out.Write(ranking);
        ctx.Out.WriteLine();
        return 0;
    }

    public int RunMultilabel(ParseResult p, Shared s)
    {
        var request = new MultiLabelRequest
        {
            Answers = new InputSource(p.GetValue(s.Answers), p.GetValue(s.Dataset)),
            Format = s.Input.Read(p),
            Method = p.GetValue(s.Method),
            Overrides = new CommonMethodOptions(p.GetValue(s.MaxIterations), p.GetValue(s.Tolerance),
                CommonOptions.Given(p, s.Seed) ? p.GetValue(s.Seed) : null, CliValues.ParsePrior(p.GetValue(s.Prior))),
            Options = new BinaryRelevanceOptions { Threshold = p.GetValue(_threshold) },
            OutputDirectory = p.GetValue(s.Out),
            OutputFormat = CommonOptions.Given(p, s.Format) ? Specs.Choice<OutputFormat>(p.GetValue(s.Format)!, "Format") : null,
        };
        if (p.GetValue(s.Truth) is not null) throw new UsageException("--truth is not read for --type multilabel yet; score the written labels.csv against your truth");
        var o = ctx.WithJobProgress(report => MultiLabelJob.Run(request, ctx.Compute, report));
        if (o.Result.Answers.DroppedDuplicates > 0)
            ctx.Notice($"{o.Result.Answers.DroppedDuplicates} repeated (task, worker) answers dropped ({request.Format.Duplicates}; see --duplicates)");
        var r = o.Result;
        var a = r.Answers;
        var table = new Table().Border(TableBorder.Rounded).HideHeaders().Title($"tally aggregate --type multilabel — {Markup.Escape(o.Source)}");
        table.AddColumn("");
        table.AddColumn(new TableColumn("").RightAligned());
        table.AddRow("method", $"binary relevance over {o.Method.Name} ({Markup.Escape(o.Method.Description.Split(':', '.')[0])})");
        table.AddRow("tasks", a.Sets.TaskCount.ToString("N0"));
        table.AddRow("workers", a.Sets.WorkerCount.ToString("N0"));
        table.AddRow("answers", a.Sets.AnswerCount.ToString("N0"));
        table.AddRow("labels", $"{a.Labels.Count:N0} ({Markup.Escape(string.Join(", ", a.Labels.Names.Take(10)))}{(a.Labels.Count > 10 ? ", …" : "")})");
        for (int l = 0; l < Math.Min(a.Labels.Count, 10); l++)
        {
            int n = 0;
            for (int t = 0; t < a.Sets.TaskCount; t++) if (r.Probabilities[t, l] >= r.Threshold) n++;
            table.AddRow($"  tasks with {Markup.Escape(a.Labels[l])}", $"{n:N0} ({CliValues.Percent((double)n / Math.Max(1, a.Sets.TaskCount))}%)");
        }
        table.AddRow("seconds", $"{CliValues.Fixed(o.FitSeconds, "0.000")} (+ {CliValues.Fixed(o.ReadSeconds, "0.000")} reading)");
        foreach (var f in o.Written) table.AddRow("wrote", Markup.Escape(f));
        ctx.Out.Write(table);
        ctx.Out.WriteLine();
        return 0;
    }
}
