using System.CommandLine;
using Spectre.Console;
using Tally.Core;

namespace Tally.Cli;

/// <summary>The <c>tally</c> command.</summary>
public static class Program
{
    /// <summary>Entry point.</summary>
    public static int Main(string[] args)
    {
        bool interactive = !Console.IsOutputRedirected && !Console.IsErrorRedirected;
        // Redirected output (files, pipes) has no terminal width; 80 columns would wrap wide tables into unreadable cells.
        if (Console.IsOutputRedirected) AnsiConsole.Console.Profile.Width = 160;
        return Run(args, AnsiConsole.Console, Console.Error, interactive);
    }

    /// <summary>Exit code of a successful run.</summary>
    public const int Ok = 0;
    /// <summary>Exit code for bad input or a bad option: the user can fix it (message on stderr).</summary>
    public const int BadInput = 2;
    /// <summary>Exit code for a bug in Tally (EX_SOFTWARE of sysexits.h): never caused by input alone.</summary>
    public const int InternalError = 70;
    /// <summary>Exit code after Ctrl+C.</summary>
    public const int Cancelled = 130;

    /// <summary>Runs the command line with the given output streams; returns the exit code (<see cref="Ok"/>, <see cref="BadInput"/>, <see cref="InternalError"/>, <see cref="Cancelled"/>).</summary>
    public static int Run(string[] args, IAnsiConsole output, TextWriter error, bool interactive = false)
    {
        var ctx = new CliContext(output, error, interactive);
        // Only the command the user named is built (each costs type loading and catalog set-up; all of them are about
        // half of a short command's start-up); anything else — no command, an option first, a misspelling — gets the
        // whole tree, for the full help and the suggestions. A command parses the same alone as among its siblings.
        var (root, threads) = BuildRoot(ctx, args.Length > 0 ? args[0] : null);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0 && args.Length > 0 && !args[0].StartsWith('-') && !Commands.Any(c => c.Name == args[0]))
        {
            error.WriteLine("tally: error: " + CliErrors.UnknownCommand(args[0], [.. Commands.Select(c => c.Name)]));
            error.WriteLine("Run 'tally --help' for usage.");
            return BadInput;
        }
        // An unknown option where a file argument is still free (`aggregate --dataset dog --bogus`) parses as that file;
        // say what it is rather than "a file and --dataset, not both" or "file not found".
        if (parse.Errors.Count == 0 && CliErrors.OptionLikeArgument(parse.CommandResult) is { } stray)
        {
            error.WriteLine($"tally: error: unknown option {Quote.Value(stray)}");
            string command = string.Join(' ', CommandPath(parse.CommandResult));
            error.WriteLine($"Run 'tally {command} --help' for usage.");
            return BadInput;
        }
        if (parse.Errors.Count > 0)
        {
            // One line: the first problem, in the user's terms. Later ones are often echoes of it (a misspelt option
            // leaves its value "unrecognized" too), and the help names every option anyway.
            error.WriteLine("tally: error: " + CliErrors.Describe(parse.Errors[0]));
            string command = string.Join(' ', parse.CommandResult.Command is RootCommand ? [] : CommandPath(parse.CommandResult));
            error.WriteLine(command.Length == 0 ? "Run 'tally --help' for usage." : $"Run 'tally {command} --help' for usage.");
            return BadInput;
        }
        var commandOptions = AllOptions(parse.CommandResult);
        try
        {
            int t = parse.GetValue(threads);
            if (t < 0) throw new UsageException($"--threads must be at least 0 (0 = one per core; got {t})");
            ctx.Compute = new ComputeOptions { MaxDegreeOfParallelism = t, MaxMemoryBytes = MemoryLimit() };
            var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false, Output = new AnsiTextWriter(output), Error = error };
            return parse.Invoke(config);
        }
        catch (Exception e) when (Unwrap(e) is InvalidOptionException o)
        {
            error.WriteLine($"tally: error: {CliErrors.OptionSpelling(o.Option, commandOptions)} {CliErrors.OneLine(o.Problem)}");
            return BadInput;
        }
        catch (Exception e) when (Unwrap(e) is MemoryLimitException m)
        {
            error.WriteLine($"tally: error: {CliErrors.OneLine(m.Message)} (or raise the limit: {MemoryVariable}=SIZE, e.g. 32G)");
            return BadInput;
        }
        catch (Exception e) when (Unwrap(e) is TallyUserException)
        {
            error.WriteLine("tally: error: " + CliErrors.OneLine(Unwrap(e).Message));
            return BadInput;
        }
        catch (Exception e) when (Unwrap(e) is OperationCanceledException)
        {
            error.WriteLine("tally: cancelled");
            return Cancelled;
        }
        catch (Exception e) when (Unwrap(e) is IOException or UnauthorizedAccessException)
        {
            // The file system said no (missing folder, no permission, disk full): the user's environment, not a bug.
            error.WriteLine("tally: error: " + CliErrors.OneLine(Unwrap(e).Message));
            return BadInput;
        }
        catch (Exception e)
        {
            error.WriteLine($"tally: internal error: {Unwrap(e).GetType().Name}: {CliErrors.OneLine(Unwrap(e).Message)} (a bug in Tally; TALLY_DEBUG=1 prints the stack trace)");
            if (Environment.GetEnvironmentVariable("TALLY_DEBUG") == "1") error.WriteLine(e);
            return InternalError;
        }
    }

    /// <summary>The commands under <c>tally</c>, in help order, each with the name it parses as (checked by the tests).</summary>
    internal static IReadOnlyList<(string Name, Func<CliContext, Command> Create)> Commands { get; } =
    [
        ("aggregate", AggregateCommand.Create),
        ("methods", MethodsCommand.Create),
        ("datasets", DatasetsCommand.Create),
        ("simulate", SimulateCommand.Create),
        ("compare", CompareCommand.Create),
        ("metrics", MetricsCommand.Create),
        ("lab", LabCommand.Create),
        ("pay", PayCommand.Create),
        ("share", ShareCommand.Create),
        ("learn", LearnCommand.Create),
        ("predict", LearnCommand.CreatePredict),
        ("rounds", RoundsCommand.Create),
        ("serve", ServeCommand.Create),
    ];

    /// <summary>
    /// The command tree: every command and option, as <see cref="Run"/> parses them (the option-consistency test
    /// walks the same tree) — or, when <paramref name="only"/> names a command, the root with that command alone.
    /// </summary>
    /// <returns>The root command and its recursive <c>--threads</c> option.</returns>
    internal static (RootCommand Root, Option<int> Threads) BuildRoot(CliContext ctx, string? only = null)
    {
        var root = new RootCommand("""
            Tally: the truth from crowds — aggregate crowd labels, learn from them, pay for them, simulate crowds.

            'tally COMMAND --help' shows a command's options, defaults and examples.

            Examples:
              tally aggregate --dataset dog --method ds
              tally aggregate answers.csv --method ds --truth truth.csv --out results/
              tally pay answers.csv --mechanism ca --budget 10 --out payments/
            """);
        var threads = new Option<int>("--threads")
        {
            Description = "Most threads any computation uses (default 0 = one per core); results are the same for any value.",
            Recursive = true,
        };
        root.Options.Add(threads);
        bool named = only is not null && Commands.Any(c => c.Name == only);
        foreach (var (name, create) in Commands)
            if (!named || name == only) root.Add(create(ctx));
        CliHelp.Summarise(root);
        return (root, threads);
    }

    /// <summary>The environment variable that sets the memory limit of every computation (bytes; K, M, G, T suffixes).</summary>
    public const string MemoryVariable = "TALLY_MAX_MEMORY";

    /// <summary><see cref="MemoryVariable"/> in bytes, or 0 (the default limit) when unset.</summary>
    /// <exception cref="UsageException">A value that is not a size.</exception>
    private static long MemoryLimit()
    {
        string? value = Environment.GetEnvironmentVariable(MemoryVariable);
        if (string.IsNullOrWhiteSpace(value)) return 0;
        return CliValues.ParseSize(value)
            ?? throw new UsageException($"{MemoryVariable}={Quote.Value(value)} is not a size in bytes (e.g. 8G, 512M, 1000000000)");
    }

    /// <summary>
    /// The one exception a failure stands for: an <see cref="AggregateException"/> (from a task or a parallel loop) is
    /// replaced by its first inner exception, so its message is shown rather than "One or more errors occurred".
    /// </summary>
    private static Exception Unwrap(Exception e) =>
        e is AggregateException a && a.InnerExceptions.Count > 0 ? Unwrap(a.InnerExceptions[0]) : e;

    /// <summary>"share allocate" for the command the user named.</summary>
    private static IEnumerable<string> CommandPath(System.CommandLine.Parsing.CommandResult result)
    {
        var names = new Stack<string>();
        for (var r = result; r is not null && r.Command is not RootCommand; r = r.Parent as System.CommandLine.Parsing.CommandResult)
            names.Push(r.Command.Name);
        return names;
    }

    /// <summary>The options the user's command accepts, its own and the recursive ones of its parents.</summary>
    private static IReadOnlyList<Option> AllOptions(System.CommandLine.Parsing.CommandResult result)
    {
        var options = new List<Option>(result.Command.Options);
        for (var r = result.Parent as System.CommandLine.Parsing.CommandResult; r is not null; r = r.Parent as System.CommandLine.Parsing.CommandResult)
            options.AddRange(r.Command.Options.Where(o => o.Recursive));
        return options;
    }

    /// <summary>Routes System.CommandLine's own output (help) through the Spectre console.</summary>
    private sealed class AnsiTextWriter(IAnsiConsole console) : StringWriter
    {
        public override void Write(char value) => console.Profile.Out.Writer.Write(value);
        public override void Write(string? value) => console.Profile.Out.Writer.Write(value);
        public override void WriteLine(string? value) => console.Profile.Out.Writer.WriteLine(value);
        public override void WriteLine() => console.Profile.Out.Writer.WriteLine();
    }
}
