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
        var root = new RootCommand("Tally: the truth from crowds — aggregate crowd labels, learn from them, pay for them, simulate crowds.");
        var threads = new Option<int>("--threads")
        {
            Description = "Most threads any computation uses (default 0 = one per core); results are the same for any value.",
            Recursive = true,
        };
        root.Options.Add(threads);
        root.Add(AggregateCommand.Create(ctx));
        root.Add(MethodsCommand.Create(ctx));
        root.Add(DatasetsCommand.Create(ctx));
        root.Add(SimulateCommand.Create(ctx));
        root.Add(CompareCommand.Create(ctx));
        root.Add(LabCommand.Create(ctx));
        root.Add(PayCommand.Create(ctx));
        root.Add(ShareCommand.Create(ctx));
        root.Add(LearnCommand.Create(ctx));
        root.Add(LearnCommand.CreatePredict(ctx));
        root.Add(RoundsCommand.Create(ctx));

        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors) error.WriteLine("tally: error: " + e.Message);
            error.WriteLine("Run 'tally --help' (or 'tally COMMAND --help') for usage.");
            return BadInput;
        }
        try
        {
            int t = parse.GetValue(threads);
            if (t < 0) throw new UsageException("--threads must be at least 0 (0 = one per core)");
            ctx.Compute = new ComputeOptions { MaxDegreeOfParallelism = t };
            var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false, Output = new AnsiTextWriter(output), Error = error };
            return parse.Invoke(config);
        }
        catch (Exception e) when (Unwrap(e) is InvalidOptionException o)
        {
            error.WriteLine($"tally: error: {CliValues.OptionName(o.Option)} {o.Problem}");
            return BadInput;
        }
        catch (Exception e) when (Unwrap(e) is TallyUserException)
        {
            error.WriteLine("tally: error: " + Unwrap(e).Message);
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
            error.WriteLine("tally: error: " + Unwrap(e).Message);
            return BadInput;
        }
        catch (Exception e)
        {
            error.WriteLine($"tally: internal error: {Unwrap(e).GetType().Name}: {Unwrap(e).Message} (a bug in Tally; TALLY_DEBUG=1 prints the stack trace)");
            if (Environment.GetEnvironmentVariable("TALLY_DEBUG") == "1") error.WriteLine(e);
            return InternalError;
        }
    }

    private static Exception Unwrap(Exception e) =>
        e is AggregateException { InnerExceptions.Count: 1 } a ? Unwrap(a.InnerExceptions[0]) : e;

    /// <summary>Routes System.CommandLine's own output (help) through the Spectre console.</summary>
    private sealed class AnsiTextWriter(IAnsiConsole console) : StringWriter
    {
        public override void Write(char value) => console.Profile.Out.Writer.Write(value);
        public override void Write(string? value) => console.Profile.Out.Writer.Write(value);
        public override void WriteLine(string? value) => console.Profile.Out.Writer.WriteLine(value);
        public override void WriteLine() => console.Profile.Out.Writer.WriteLine();
    }
}
