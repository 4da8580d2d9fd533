using System.CommandLine;
using Spectre.Console;
using Tally.Application;
using Tally.Catalogs;
using Tally.Core;

namespace Tally.Cli;

/// <summary><c>tally methods</c>: the truth-inference methods with their defaults, descriptions and references.</summary>
internal static class MethodsCommand
{
    public static Command Create(CliContext ctx)
    {
        var cmd = new Command("methods", """
            List the truth-inference methods, their aliases, default iteration limit and tolerance (what --max-iterations
            and --tolerance override; tolerance 0 = run every iteration) and references; then the pairwise-comparison methods.

            Example:
              tally methods
            """);
        cmd.SetAction(_ =>
        {
            var table = new Table().Border(TableBorder.Rounded).Title("Truth-inference methods (tally aggregate --method NAME)");
            table.AddColumn("name"); table.AddColumn("aliases");
            table.AddColumn(new TableColumn("iterations").RightAligned()); table.AddColumn(new TableColumn("tolerance").RightAligned());
            table.AddColumn("what it does"); table.AddColumn("reference");
            foreach (var m in AggregatorCatalog.All)
                table.AddRow(Markup.Escape(m.Name), Markup.Escape(string.Join(", ", m.Aliases)),
                    m.Defaults is { } d ? d.MaxIterations.ToString(System.Globalization.CultureInfo.InvariantCulture) : "—",
                    m.Defaults is { } t ? NumberFormat.Number(t.Tolerance) : "—",
                    Markup.Escape(m.Description), Markup.Escape(m.Reference));
            ctx.Out.Write(table);
            var pairwise = new Table().Border(TableBorder.Rounded).Title("Pairwise-comparison methods (tally aggregate --type pairwise --method NAME)");
            pairwise.AddColumn("name"); pairwise.AddColumn("aliases");
            pairwise.AddColumn(new TableColumn("iterations").RightAligned()); pairwise.AddColumn(new TableColumn("tolerance").RightAligned());
            pairwise.AddColumn(new TableColumn("regularization").RightAligned());
            pairwise.AddColumn("what it does"); pairwise.AddColumn("reference");
            foreach (var m in PairwiseCatalog.All)
                pairwise.AddRow(Markup.Escape(m.Name + (m.Name == PairwiseCatalog.DefaultMethod ? " (default)" : "")), Markup.Escape(string.Join(", ", m.Aliases)),
                    m.Defaults.MaxIterations.ToString(System.Globalization.CultureInfo.InvariantCulture), NumberFormat.Number(m.Defaults.Tolerance),
                    NumberFormat.Number(m.Defaults.Regularization), Markup.Escape(m.Description), Markup.Escape(m.Reference));
            ctx.Out.Write(pairwise);
            ctx.Out.MarkupLine("Multi-label answers (--type multilabel) use binary relevance over any method of the first table.");
            var numeric = new Table().Border(TableBorder.Rounded).Title("Numeric answers (tally aggregate --type numeric --method NAME)");
            numeric.AddColumn("name"); numeric.AddColumn("aliases");
            numeric.AddColumn(new TableColumn("iterations").RightAligned()); numeric.AddColumn(new TableColumn("tolerance").RightAligned());
            numeric.AddColumn("what it does"); numeric.AddColumn("reference");
            foreach (var m in NumericAggregatorCatalog.All)
                numeric.AddRow(Markup.Escape(m.Name), Markup.Escape(string.Join(", ", m.Aliases)),
                    m.Defaults is Tally.Aggregation.Numeric.NumericIterativeOptions d ? d.MaxIterations.ToString(System.Globalization.CultureInfo.InvariantCulture) : "—",
                    m.Defaults is Tally.Aggregation.Numeric.NumericIterativeOptions t ? NumberFormat.Number(t.Tolerance) : "—",
                    Markup.Escape(m.Description), Markup.Escape(m.Reference));
            ctx.Out.Write(numeric);
            return 0;
        });
        return cmd;
    }
}

/// <summary><c>tally datasets</c>: bundled datasets with their counts.</summary>
internal static class DatasetsCommand
{
    public static Command Create(CliContext ctx)
    {
        var cmd = new Command("datasets", "List the bundled datasets with their counts (use one with 'tally aggregate --dataset NAME').\n\nExample:\n  tally datasets");
        cmd.SetAction(_ =>
        {
            var all = DatasetsJob.Run();
            var table = new Table().Border(TableBorder.Rounded).Title("Bundled datasets");
            table.AddColumn("name"); table.AddColumn(new TableColumn("tasks").RightAligned()); table.AddColumn(new TableColumn("workers").RightAligned());
            table.AddColumn(new TableColumn("answers").RightAligned()); table.AddColumn(new TableColumn("classes").RightAligned());
            table.AddColumn(new TableColumn("with truth").RightAligned()); table.AddColumn("description");
            foreach (var d in all)
                table.AddRow(Markup.Escape(d.Name), d.Tasks.ToString("N0"), d.Workers.ToString("N0"), d.Answers.ToString("N0"),
                    d.Type == AnswerType.Categorical ? d.Classes.ToString(System.Globalization.CultureInfo.InvariantCulture) : Specs.Name(d.Type), d.TasksWithTruth.ToString("N0"), Markup.Escape(d.Description));
            ctx.Out.Write(table);
            return 0;
        });
        return cmd;
    }
}
