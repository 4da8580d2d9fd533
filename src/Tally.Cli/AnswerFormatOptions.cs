using System.CommandLine;
using Tally.Application;
using Tally.Core;

namespace Tally.Cli;

/// <summary>
/// The options that say how to read an answers file (<c>--task-col</c>, <c>--worker-col</c>, <c>--label-col</c>,
/// <c>--classes</c>, <c>--class-order</c>, <c>--duplicates</c>, <c>--encoding</c>), for every command that reads one;
/// their defaults are those of <see cref="AnswerFileOptions"/>. <see cref="EncodingOption"/> is the one
/// <c>--encoding</c> of every command that reads a text file.
/// </summary>
internal sealed class AnswerFormatOptions
{
    private static readonly AnswerFileOptions Defaults = new();

    private readonly Option<string> _task = new("--task-col") { Description = "Name of the task column.", DefaultValueFactory = _ => Defaults.TaskColumn };
    private readonly Option<string> _worker = new("--worker-col") { Description = "Name of the worker column.", DefaultValueFactory = _ => Defaults.WorkerColumn };
    private readonly Option<string> _label = new("--label-col") { Description = "Name of the label column.", DefaultValueFactory = _ => Defaults.LabelColumn };
    private readonly Option<string?> _classes = new("--classes") { Description = "Comma-separated classes in this order (default: the classes found, sorted); other answers are errors." };
    private readonly Option<string> _order = new("--class-order")
    {
        Description = "Order of the classes found when --classes is not given: sorted (numerically if all are numbers) or first-seen.",
        DefaultValueFactory = _ => Specs.Name(Defaults.ClassOrder),
    };
    private readonly Option<string> _duplicates = new("--duplicates")
    {
        Description = "Repeated (task, worker) answers: keep-last, keep-first, keep-all or error.",
        DefaultValueFactory = _ => Specs.Name(Defaults.Duplicates),
    };

    private readonly Option<string> _encoding = EncodingOption();

    public AnswerFormatOptions() => _order.AcceptOnlyFromAmong([.. Specs.Names<ClassOrder>()]);

    /// <summary>The <c>--encoding</c> option: how to decode text files that have no byte order mark.</summary>
    public static Option<string> EncodingOption(string files = "input files") => new("--encoding")
    {
        Description = $"Encoding of the {files} when they have no byte order mark: {string.Join(", ", FileEncodings.Names)}. UTF-8 is read strictly: a byte that is not UTF-8 is an error naming its line.",
        DefaultValueFactory = _ => FileEncodings.Name(FileEncoding.Utf8),
    };

    /// <summary>The encoding the user asked for with <paramref name="option"/>.</summary>
    public static FileEncoding Encoding(ParseResult p, Option<string> option) => FileEncodings.Parse(p.GetValue(option)!);

    /// <summary>Adds the options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        foreach (var o in new Option[] { _task, _worker, _label, _classes, _order, _duplicates, _encoding }) command.Add(o);
    }

    /// <summary>The options the user gave (rather than left at their defaults), by name.</summary>
    public IEnumerable<string> Given(ParseResult p) =>
        new Option[] { _task, _worker, _label, _classes, _order, _duplicates, _encoding }.Where(o => CommonOptions.Given(p, o)).Select(o => o.Name);

    /// <summary>How to read a pairwise comparisons file: the worker and label columns and the encoding apply.</summary>
    public ComparisonFileOptions ReadComparisons(ParseResult p) =>
        new(WorkerColumn: p.GetValue(_worker)!, LabelColumn: p.GetValue(_label)!, Encoding: Encoding(p, _encoding));

    /// <summary>The file options the user asked for.</summary>
    public AnswerFileOptions Read(ParseResult p) => new(p.GetValue(_task)!, p.GetValue(_worker)!, p.GetValue(_label)!,
        AnswerFiles.ParseClassList(p.GetValue(_classes)), CliValues.ParseDuplicates(p.GetValue(_duplicates)!),
        ClassOrder: Specs.Choice<ClassOrder>(p.GetValue(_order)!, "ClassOrder"), Encoding: Encoding(p, _encoding));
}
