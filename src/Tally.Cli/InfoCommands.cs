using Tally.Catalogs;
using System.CommandLine;
using Spectre.Console;
using Tally.Aggregation;
using Tally.Core;

namespace Tally.Cli;

/// <summary><c>tally methods</c>: the truth-inference methods with descriptions and references.</summary>
internal static class MethodsCommand
{
    public static Command Create(CliContext ctx)
    {
        var cmd = new Command("methods", "List the truth-inference methods, their aliases and references.\n\nExample:\n  tally methods");
        cmd.SetAction(_ =>
        {
            var table = new Table().Border(TableBorder.Rounded).Title("Truth-inference methods (tally aggregate --method NAME)");
            table.AddColumn("name"); table.AddColumn("aliases"); table.AddColumn("what it does"); table.AddColumn("reference");
            foreach (var m in AggregatorCatalog.All)
                table.AddRow(Markup.Escape(m.Name), Markup.Escape(string.Join(", ", m.Aliases)), Markup.Escape(m.Description), Markup.Escape(m.Reference));
            ctx.Out.Write(table);
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
            var all = BundledDatasets.All();
            if (all.Count == 0) throw new UsageException("no bundled datasets found (looked for a data/ folder; set TALLY_DATA)");
            var table = new Table().Border(TableBorder.Rounded).Title("Bundled datasets");
            table.AddColumn("name"); table.AddColumn(new TableColumn("tasks").RightAligned()); table.AddColumn(new TableColumn("workers").RightAligned());
            table.AddColumn(new TableColumn("answers").RightAligned()); table.AddColumn(new TableColumn("classes").RightAligned());
            table.AddColumn(new TableColumn("with truth").RightAligned()); table.AddColumn("description");
            foreach (var d in all)
            {
                var m = AnswerFiles.ReadAnswers(d.AnswersPath).Matrix;
                int truthCount = d.TruthPath is null ? 0 : AnswerFiles.ReadTruth(d.TruthPath, m).Labels.KnownCount;
                table.AddRow(d.Name, m.TaskCount.ToString("N0"), m.WorkerCount.ToString("N0"), m.AnswerCount.ToString("N0"),
                    m.ClassCount.ToString(), truthCount.ToString("N0"), Markup.Escape(d.Description));
            }
            ctx.Out.Write(table);
            return 0;
        });
        return cmd;
    }
}
