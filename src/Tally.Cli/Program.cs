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

    /// <summary>Runs the command line with the given output streams; returns the exit code (0 ok, 2 bad input, 1 internal error).</summary>
    public static int Run(string[] args, IAnsiConsole output, TextWriter error, bool interactive = false)
    {
        var ctx = new CliContext(output, error, interactive);
        var root = new RootCommand("Tally: the truth from crowds — aggregate crowd labels, learn from them, pay for them, simulate crowds.");
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
            return 2;
        }
        try
        {
            var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false, Output = new AnsiTextWriter(output), Error = error };
            return parse.Invoke(config);
        }
        catch (Exception e) when (Unwrap(e) is TallyDataException or UsageException or ArgumentException)
        {
            error.WriteLine("tally: error: " + Unwrap(e).Message);
            return 2;
        }
        catch (Exception e) when (Unwrap(e) is OperationCanceledException)
        {
            error.WriteLine("tally: cancelled");
            return 130;
        }
        catch (Exception e) when (Unwrap(e) is IOException or UnauthorizedAccessException)
        {
            error.WriteLine("tally: error: " + Unwrap(e).Message);
            return 2;
        }
        catch (Exception e)
        {
            error.WriteLine($"tally: internal error: {Unwrap(e).GetType().Name}: {Unwrap(e).Message}");
            if (Environment.GetEnvironmentVariable("TALLY_DEBUG") == "1") error.WriteLine(e);
            return 1;
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
