using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;

namespace Tally.Cli;

/// <summary>
/// Help layout: each command's description is split at its first blank line into a summary — the one paragraph a
/// list of commands shows, so <c>tally --help</c> fits one screen — and details (what it writes, examples), which its
/// own help prints after the options.
/// </summary>
internal static class CliHelp
{
    /// <summary>Splits every description under <paramref name="root"/> and installs the help action that prints the details.</summary>
    public static void Summarise(RootCommand root)
    {
        var help = root.Options.OfType<HelpOption>().Single();
        if (help.Action is not HelpAction standard) return;
        var details = new Dictionary<Command, string>();
        foreach (var command in Descendants(root).Prepend(root))
        {
            var (summary, more) = Split(command.Description);
            command.Description = summary;
            if (more.Length > 0) details[command] = more;
        }
        help.Action = new DetailedHelpAction(standard, details);
    }

    /// <summary>The first paragraph of a description on one line (the help wraps it), and the rest as written.</summary>
    public static (string Summary, string Details) Split(string? description)
    {
        if (string.IsNullOrWhiteSpace(description)) return ("", "");
        var text = description.Replace("\r\n", "\n", StringComparison.Ordinal).Trim();
        int end = text.IndexOf("\n\n", StringComparison.Ordinal);
        string first = end >= 0 ? text[..end] : text;
        string rest = end >= 0 ? text[(end + 2)..].Trim('\n') : "";
        return (string.Join(' ', first.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)), rest);
    }

    private static IEnumerable<Command> Descendants(Command command)
    {
        foreach (var sub in command.Subcommands)
        {
            yield return sub;
            foreach (var d in Descendants(sub)) yield return d;
        }
    }

    /// <summary>The standard help, then the command's details.</summary>
    private sealed class DetailedHelpAction(HelpAction standard, IReadOnlyDictionary<Command, string> details) : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult)
        {
            int code = standard.Invoke(parseResult);
            if (details.TryGetValue(parseResult.CommandResult.Command, out var text))
            {
                var output = parseResult.InvocationConfiguration.Output;
                output.WriteLine(text);
                output.WriteLine();
            }
            return code;
        }
    }
}
