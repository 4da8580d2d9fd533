using System.CommandLine;
using System.CommandLine.Help;

namespace Tally.Tests;

/// <summary>
/// One vocabulary across the command line: the test walks every command's options, as <c>tally</c> parses them, and
/// fails on a conflict — a long name with different short names or value types in two commands, a short name that
/// stands for two concepts, a numeric or enumerated option whose help does not show its default, a command without
/// an example. <c>tally --help</c> fits one screen.
/// </summary>
public sealed class CliVocabularyTests
{
    private sealed record Use(string Command, Option Option);

    /// <summary>Names that are one concept: "which algorithm(s)", singular when one is taken, plural for a list.</summary>
    private static readonly string[][] Concepts = [["--method", "--methods", "--mechanism", "--mechanisms"]];

    private static string Concept(string longName) =>
        Concepts.FirstOrDefault(c => c.Contains(longName)) is { } group ? string.Join("|", group) : longName;

    private static (RootCommand Root, List<Use> Uses, List<(string Path, Command Command)> Commands) Tree()
    {
        var ctx = new Tally.Cli.CliContext(Spectre.Console.AnsiConsole.Console, TextWriter.Null, false);
        var (root, _) = Tally.Cli.Program.BuildRoot(ctx);
        var uses = new List<Use>();
        var commands = new List<(string, Command)>();
        void Walk(Command c, string path)
        {
            commands.Add((path, c));
            foreach (var o in c.Options.Where(o => o is not HelpOption and not VersionOption)) uses.Add(new Use(path, o));
            foreach (var s in c.Subcommands) Walk(s, path + " " + s.Name);
        }
        Walk(root, "tally");
        return (root, uses, commands);
    }

    private static Type ValueType(Option o) => Nullable.GetUnderlyingType(o.ValueType) ?? o.ValueType;

    [Fact]
    public void The_tree_has_the_commands_a_user_reads_about()
    {
        var (_, uses, commands) = Tree();
        Assert.True(commands.Count >= 20, $"{commands.Count} commands");
        Assert.True(uses.Count >= 150, $"{uses.Count} options");
    }

    [Fact]
    public void A_long_name_has_the_same_short_names_and_value_type_in_every_command()
    {
        var (_, uses, _) = Tree();
        var problems = new List<string>();
        foreach (var group in uses.GroupBy(u => u.Option.Name))
        {
            var shorts = group.GroupBy(u => string.Join("|", u.Option.Aliases.Order(StringComparer.Ordinal))).ToList();
            if (shorts.Count > 1)
                problems.Add($"{group.Key}: short names differ: " + string.Join("; ", shorts.Select(s => $"[{s.Key}] in {string.Join(", ", s.Select(u => u.Command))}")));
            var types = group.GroupBy(u => ValueType(u.Option).Name).ToList();
            if (types.Count > 1)
                problems.Add($"{group.Key}: value types differ: " + string.Join("; ", types.Select(t => $"{t.Key} in {string.Join(", ", t.Select(u => u.Command))}")));
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void A_short_name_stands_for_one_concept()
    {
        var (_, uses, _) = Tree();
        var problems = new List<string>();
        foreach (var group in uses.SelectMany(u => u.Option.Aliases.Where(a => !a.StartsWith("--", StringComparison.Ordinal)).Select(a => (Alias: a, Use: u))).GroupBy(x => x.Alias))
        {
            var concepts = group.Select(x => Concept(x.Use.Option.Name)).Distinct().ToList();
            if (concepts.Count > 1)
                problems.Add($"{group.Key} is " + string.Join(" and ", group.GroupBy(x => x.Use.Option.Name).Select(g => $"{g.Key} (in {string.Join(", ", g.Select(x => x.Use.Command))})")));
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void Every_seed_defaults_to_0_and_says_so()
    {
        var (_, uses, _) = Tree();
        var seeds = uses.Where(u => u.Option.Name == "--seed").ToList();
        Assert.True(seeds.Count >= 8, $"{seeds.Count} commands with --seed");
        foreach (var u in seeds)
        {
            Assert.True(u.Option.HasDefaultValue, $"{u.Command} --seed shows no default");
            Assert.Equal(0, Convert.ToInt32(u.Option.GetDefaultValue(), System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    [Fact]
    public void Numeric_and_enumerated_options_show_their_default()
    {
        var (_, uses, _) = Tree();
        var numeric = new[] { typeof(int), typeof(long), typeof(double) };
        var problems = uses
            .Where(u => numeric.Contains(ValueType(u.Option)) || u.Option.HelpName?.Contains('|') == true)
            .Where(u => !u.Option.HasDefaultValue && !u.Option.Required && u.Option.Description?.Contains("default", StringComparison.OrdinalIgnoreCase) != true)
            .Select(u => $"{u.Command} {u.Option.Name}: {u.Option.Description}")
            .ToList();
        Assert.True(problems.Count == 0, "no default in the help of:\n" + string.Join("\n", problems));
    }

    [Fact]
    public void Every_command_shows_an_example_in_its_help()
    {
        var (_, _, commands) = Tree();
        var missing = new List<string>();
        foreach (var (path, _) in commands)
        {
            var (code, stdout, err) = CliTests.Run([.. path.Split(' ').Skip(1), "--help"]);
            Assert.True(code == 0, $"{path} --help: exit {code}: {err}");
            if (!stdout.Contains("Example", StringComparison.Ordinal)) missing.Add(path);
            // An example starts with the program's name; a line wider than the help's 120 columns is not wrapped by it.
            Assert.Contains("  tally ", stdout);
        }
        Assert.True(missing.Count == 0, "no example in: " + string.Join(", ", missing));
    }

    [Fact]
    public void Tally_help_fits_one_screen()
    {
        var (code, stdout, _) = CliTests.Run("--help");
        Assert.Equal(0, code);
        var lines = stdout.TrimEnd().Split('\n');
        Assert.True(lines.Length <= 40, $"{lines.Length} lines:\n{stdout}");
        // Every command is listed, each on one summary line.
        foreach (var name in new[] { "aggregate", "methods", "datasets", "simulate", "compare", "lab", "pay", "share", "learn", "predict", "rounds" })
            Assert.Contains(lines, l => l.TrimStart().StartsWith(name + " ", StringComparison.Ordinal));
        Assert.DoesNotContain("Examples:\n    tally aggregate answers.csv --method glad", stdout);
    }

    [Fact]
    public void Help_of_a_command_still_has_its_details_and_examples()
    {
        var (code, stdout, _) = CliTests.Run("aggregate", "--help");
        Assert.Equal(0, code);
        Assert.Contains("labels.csv", stdout);
        Assert.Contains("tally aggregate --dataset dog --method ds", stdout);
        Assert.Contains("--max-iterations", stdout);
    }

    public static TheoryData<string, string> Writers => new()
    {
        // command (with {out} for the folder), the table it writes there
        { "aggregate --dataset dog --method mv --out {out}", "labels" },
        { "compare --dataset dog --methods mv,wawa --out {out}", "comparison" },
        { "pay --dataset dog --mechanism oa --out {out}", "payments" },
        { "lab aggregation spammers --methods mv --values 0 --seeds 2 --out {out}", "sweep" },
        { "lab gap --vary tasks --values 50 --agents 6 --seeds 2 --mechanisms oa --out {out}", "gap" },
        { "metrics --dataset dog --method mv --out {out}", "metrics" },
        { "lab pairwise --seeds 1 --items 20 --workers 4 --spammers 1 --per-worker 30 --out {out}", "pairwise" },
    };

    /// <summary><c>--out</c> is always a folder, <c>--format json</c> writes JSON there, and <c>--format</c> without <c>--out</c> is refused.</summary>
    [Theory]
    [MemberData(nameof(Writers))]
    public void Out_is_a_folder_and_format_json_writes_json_in_it(string invocation, string table)
    {
        string dir = Path.Combine(Path.GetTempPath(), "tally-out-" + Guid.NewGuid().ToString("N"), "nested", "folder");
        try
        {
            var args = invocation.Split(' ').Select(a => a.Replace("{out}", dir)).ToArray();
            var (code, _, err) = CliTests.Run([.. args, "--format", "json"]);
            Assert.True(code == 0, err);
            Assert.True(Directory.Exists(dir));
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, table + ".json")));
            Assert.True(doc.RootElement.GetArrayLength() > 0);
            Assert.False(File.Exists(Path.Combine(dir, table + ".csv")));
            (code, _, err) = CliTests.Run([.. args, "--format", "csv"]);
            Assert.True(code == 0, err);
            Assert.True(File.Exists(Path.Combine(dir, table + ".csv")));

            var withoutOut = args.TakeWhile(a => a != "--out").ToArray();
            (code, _, err) = CliTests.Run([.. withoutOut, "--format", "json"]);
            Assert.Equal(2, code);
            Assert.Contains("--format applies to the files written with --out", err);
        }
        finally
        {
            try { Directory.Delete(Path.GetDirectoryName(Path.GetDirectoryName(dir))!, true); } catch (IOException) { }
        }
    }
}
