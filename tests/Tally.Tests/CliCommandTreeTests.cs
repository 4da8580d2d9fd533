using System.CommandLine;

namespace Tally.Tests;

/// <summary>
/// <c>tally NAME …</c> builds only the command it names (start-up); these tests hold it to behaving exactly as the
/// whole tree does — same help, same errors — and the whole tree (an option first) to listing every command.
/// </summary>
public sealed class CliCommandTreeTests
{
    private static List<string[]> CommandPaths()
    {
        var ctx = new Tally.Cli.CliContext(Spectre.Console.AnsiConsole.Console, TextWriter.Null, false);
        var (root, _) = Tally.Cli.Program.BuildRoot(ctx);
        var paths = new List<string[]>();
        void Walk(Command c, List<string> path)
        {
            foreach (var s in c.Subcommands)
            {
                var next = new List<string>(path) { s.Name };
                paths.Add([.. next]);
                Walk(s, next);
            }
        }
        Walk(root, []);
        return paths;
    }

    [Fact]
    public void Each_listed_name_is_the_name_its_command_parses_as()
    {
        var ctx = new Tally.Cli.CliContext(Spectre.Console.AnsiConsole.Console, TextWriter.Null, false);
        foreach (var (name, create) in Tally.Cli.Program.Commands)
        {
            var command = create(ctx);
            Assert.Equal(name, command.Name);
            Assert.Empty(command.Aliases);
        }
        var (root, _) = Tally.Cli.Program.BuildRoot(ctx, "methods");
        Assert.Equal(["methods"], root.Subcommands.Select(c => c.Name));
        (root, _) = Tally.Cli.Program.BuildRoot(ctx, "no-such-command");
        Assert.Equal(Tally.Cli.Program.Commands.Select(c => c.Name), root.Subcommands.Select(c => c.Name));
    }

    [Fact]
    public void A_command_built_alone_gives_the_same_help_and_errors_as_in_the_whole_tree()
    {
        var paths = CommandPaths();
        Assert.True(paths.Count > 20, $"only {paths.Count} commands");
        foreach (var path in paths)
        {
            // "--threads 1" first makes Run build the whole tree; last, it is an option of the named command alone.
            var alone = CliTests.Run([.. path, "--help", "--threads", "1"]);
            var whole = CliTests.Run(["--threads", "1", .. path, "--help"]);
            Assert.Equal(0, alone.Code);
            Assert.Equal(whole, alone);
            var badAlone = CliTests.Run([.. path, "--no-such-option", "--threads", "1"]);
            var badWhole = CliTests.Run(["--threads", "1", .. path, "--no-such-option"]);
            Assert.Equal(2, badAlone.Code);
            Assert.Equal(badWhole, badAlone);
        }
    }

    [Fact]
    public void The_root_help_and_a_misspelt_command_still_see_every_command()
    {
        var (code, stdout, _) = CliTests.Run("--help");
        Assert.Equal(0, code);
        foreach (var (name, _) in Tally.Cli.Program.Commands) Assert.Contains(name, stdout);
        var (bad, _, err) = CliTests.Run("agregate", "--dataset", "dog");
        Assert.Equal(2, bad);
        Assert.Contains("unknown command", err);
        Assert.Contains("did you mean", err);
        Assert.Contains("aggregate", err.Replace("agregate", "", StringComparison.Ordinal));
        (bad, _, err) = CliTests.Run("frobnicate");
        Assert.Equal(2, bad);
        Assert.Contains("the commands are aggregate, methods", err);
    }
}
