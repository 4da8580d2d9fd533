using System.CommandLine;
using System.Collections.Frozen;
using Tally.Application;
using Spectre.Console;
using Tally.Core;
using Tally.Aggregation;
using Tally.Catalogs;

namespace Tally.Cli;

/// <summary>A usage error the user can fix (bad option value, conflicting options); exit code 2.</summary>
internal sealed class UsageException(string message) : TallyUserException(message);

/// <summary>Where a command writes: tables and results to <see cref="Out"/>, errors and notices to <see cref="Error"/>.</summary>
internal sealed class CliContext(IAnsiConsole output, TextWriter error, bool interactive)
{
    public IAnsiConsole Out { get; } = output;
    public TextWriter Error { get; } = error;
    public bool Interactive { get; } = interactive;
    /// <summary>How much of the machine the library may use (<c>--threads</c>); set before a command runs.</summary>
    public ComputeOptions Compute { get; set; } = ComputeOptions.Default;

    public void Notice(string message) => Error.WriteLine("tally: " + message);

    /// <summary>
    /// Runs a job; if it is still running after about a second and the terminal is interactive, shows a progress bar
    /// with the job's current phase and how far along it is.
    /// </summary>
    public T WithJobProgress<T>(Func<IProgress<JobProgress>, T> work)
    {
        string phase = "Working";
        double fraction = 0;
        var gate = new object();
        var task = Task.Run(() => work(new Tally.Application.SyncProgress<JobProgress>(p =>
        {
            lock (gate) { phase = p.Phase; fraction = Math.Clamp(p.Fraction, 0, 1); }
        })));
        if (task.Wait(TimeSpan.FromSeconds(1)) || !Interactive) return task.GetAwaiter().GetResult();
        Out.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var bar = ctx.AddTask(phase, maxValue: 1.0);
                while (!task.Wait(100))
                    lock (gate) { bar.Description = Markup.Escape(phase); bar.Value = fraction; }
                bar.Value = 1.0;
            });
        return task.GetAwaiter().GetResult();
    }

    /// <summary>
    /// Runs <paramref name="work"/>; if it is still running after about a second and the terminal is interactive,
    /// shows a progress bar fed by the fraction (0..1) the work reports.
    /// </summary>
    public T WithProgress<T>(string description, Func<Action<double>, T> work)
    {
        double fraction = 0;
        var task = Task.Run(() => work(f => Volatile.Write(ref fraction, Math.Clamp(f, 0, 1))));
        if (task.Wait(TimeSpan.FromSeconds(1)) || !Interactive) return task.GetAwaiter().GetResult();
        Out.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var bar = ctx.AddTask(description, maxValue: 1.0);
                while (!task.Wait(100)) bar.Value = Volatile.Read(ref fraction);
                bar.Value = 1.0;
            });
        return task.GetAwaiter().GetResult();
    }
}


/// <summary>Shared parsing of command-line values.</summary>
internal static class CliValues
{
    /// <summary>The command-line spelling of a library option: <c>MaxIterations</c> → <c>--max-iterations</c>.</summary>
    public static string OptionName(string property)
    {
        var b = new System.Text.StringBuilder("--");
        for (int i = 0; i < property.Length; i++)
        {
            char c = property[i];
            if (char.IsUpper(c) && i > 0) b.Append('-');
            b.Append(char.ToLowerInvariant(c));
        }
        return b.ToString();
    }

    public static DuplicatePolicy ParseDuplicates(string value) => value.ToLowerInvariant() switch
    {
        "keep-last" or "last" => DuplicatePolicy.KeepLast,
        "keep-first" or "first" => DuplicatePolicy.KeepFirst,
        "keep-all" or "all" => DuplicatePolicy.KeepAll,
        "error" => DuplicatePolicy.Error,
        _ => throw new UsageException($"--duplicates must be keep-last, keep-first, keep-all or error (got {Quote.Value(value)})"),
    };

    /// <summary>Parses --prior (the language is the application layer's: <see cref="Specs.Prior"/>).</summary>
    public static Tally.Aggregation.WorkerPrior? ParsePrior(string? value) => Specs.Prior(value);

    /// <summary>A number for a CSV file: shortest round-trip form; a non-finite value is a bug and throws (<see cref="NumberFormat.Finite"/>).</summary>
    public static string Number(double x) => NumberFormat.Finite(x);

    /// <summary>A byte count written as <c>8G</c>, <c>8GB</c>, <c>512M</c>, <c>64k</c> or plain bytes (powers of 1024); null if it is not one.</summary>
    public static long? ParseSize(string value)
    {
        var s = value.Trim();
        // 8G, 8GB, 8GiB alike.
        if (s.Length > 1 && (s[^1] is 'B' or 'b') && char.IsLetter(s[^2])) s = s[..^1];
        if (s.Length > 1 && (s[^1] is 'i' or 'I') && char.IsLetter(s[^2])) s = s[..^1];
        long unit = 1;
        if (s.Length > 0 && char.IsLetter(s[^1]))
        {
            unit = char.ToUpperInvariant(s[^1]) switch { 'K' => 1L << 10, 'M' => 1L << 20, 'G' => 1L << 30, 'T' => 1L << 40, _ => 0 };
            s = s[..^1];
        }
        if (unit == 0 || !double.TryParse(s, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double n)
            || !double.IsFinite(n) || n <= 0 || n * unit > long.MaxValue) return null;
        return (long)(n * unit);
    }

    public static string Percent(double x) => (100 * x).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture);
    public static string Fixed(double x, string format = "0.###") => x.ToString(format, System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>
/// Error lines in the user's terms: System.CommandLine's parse errors without .NET type names or tab-indented lists,
/// library option names (<c>TrainItems</c>) as the command spells them (<c>--train</c>), and always one line.
/// </summary>
internal static class CliErrors
{
    private static readonly System.Text.RegularExpressions.Regex CannotParse = new(
        @"^Cannot parse argument '(?<value>.*)' for (?:option|command) '(?<symbol>[^']*)' as expected type '(?<type>[^']*)'\.?$",
        System.Text.RegularExpressions.RegexOptions.Singleline | System.Text.RegularExpressions.RegexOptions.CultureInvariant);
    private static readonly System.Text.RegularExpressions.Regex CannotParseArgument = new(
        @"^Cannot parse argument '(?<value>.*)' as expected type '(?<type>[^']*)'\.?$",
        System.Text.RegularExpressions.RegexOptions.Singleline | System.Text.RegularExpressions.RegexOptions.CultureInvariant);
    private static readonly System.Text.RegularExpressions.Regex NotAmong = new(
        @"^Argument '(?<value>.*)' not recognized\. Must be one of:(?<list>.*)$",
        System.Text.RegularExpressions.RegexOptions.Singleline | System.Text.RegularExpressions.RegexOptions.CultureInvariant);
    private static readonly System.Text.RegularExpressions.Regex Unrecognized = new(
        @"^Unrecognized command or argument '(?<value>.*)'\.?$",
        System.Text.RegularExpressions.RegexOptions.Singleline | System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    /// <summary>
    /// A value given to a positional argument that looks like an option (starts with '-', is not '-', not a number) and
    /// names no existing file or folder: an unknown option the parser took as the argument. Null when there is none.
    /// </summary>
    public static string? OptionLikeArgument(System.CommandLine.Parsing.CommandResult command)
    {
        foreach (var child in command.Children)
        {
            if (child is not System.CommandLine.Parsing.ArgumentResult argument) continue;
            foreach (var token in argument.Tokens)
            {
                string v = token.Value;
                if (v.Length > 1 && v[0] == '-' && !double.TryParse(v, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out _)
                    && !File.Exists(v) && !Directory.Exists(v))
                    return v;
            }
        }
        return null;
    }

    /// <summary>
    /// One parse error as one line: <c>--seed: 'abc' is not an integer</c>, <c>--format: 'xml' is not one of csv, json</c>,
    /// <c>unknown option or argument '--frobnicate'</c>; other messages pass through on one line.
    /// </summary>
    public static string Describe(System.CommandLine.Parsing.ParseError error)
    {
        string message = error.Message;
        string? symbol = SymbolName(error.SymbolResult);
        var m = CannotParse.Match(message);
        if (m.Success)
            return $"{m.Groups["symbol"].Value}: {Quote.Value(m.Groups["value"].Value)} is not {Kind(m.Groups["type"].Value)}";
        m = CannotParseArgument.Match(message);
        if (m.Success)
            return $"{(symbol is null ? "" : symbol + ": ")}{Quote.Value(m.Groups["value"].Value)} is not {Kind(m.Groups["type"].Value)}";
        m = NotAmong.Match(message);
        if (m.Success)
        {
            var choices = m.Groups["list"].Value.Split(['\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(c => c.Trim('\''));
            return $"{(symbol is null ? "" : symbol + ": ")}{Quote.Value(m.Groups["value"].Value)} is not one of {string.Join(", ", choices)}";
        }
        m = Unrecognized.Match(message);
        if (m.Success)
        {
            string value = m.Groups["value"].Value;
            return value.StartsWith('-') ? $"unknown option {Quote.Value(value)}" : $"unexpected argument {Quote.Value(value)}";
        }
        return OneLine(message);
    }

    /// <summary>What a value of .NET type <paramref name="type"/> is, for "… is not …": "an integer", "a number".</summary>
    private static string Kind(string type)
    {
        // System.Nullable`1[System.Int32] → Int32
        int open = type.LastIndexOf('[');
        string inner = open >= 0 ? type[(open + 1)..].TrimEnd(']') : type;
        inner = inner[(inner.LastIndexOf('.') + 1)..];
        return inner switch
        {
            "Int32" or "Int64" or "Int16" or "Byte" or "UInt32" or "UInt64" => "an integer",
            "Double" or "Single" or "Decimal" => "a number",
            "Boolean" => "true or false",
            _ => "a valid value",
        };
    }

    /// <summary>The option (or argument) a parse result belongs to, as the user typed its kind: <c>--seed</c>, <c>EXPERIMENT</c>.</summary>
    private static string? SymbolName(System.CommandLine.Parsing.SymbolResult? result) => result switch
    {
        System.CommandLine.Parsing.OptionResult o => o.Option.Name,
        System.CommandLine.Parsing.ArgumentResult { Parent: System.CommandLine.Parsing.OptionResult o } => o.Option.Name,
        System.CommandLine.Parsing.ArgumentResult a => a.Argument.Name,
        _ => null,
    };

    /// <summary>
    /// "unknown command 'agregate' (did you mean 'aggregate'?)": the nearest command names within two edits (or those the
    /// token begins), or the list of commands when none is near.
    /// </summary>
    public static string UnknownCommand(string token, IReadOnlyList<string> commands)
    {
        var near = commands.Where(c => c.StartsWith(token, StringComparison.Ordinal) || Edits(token, c) <= 2).ToList();
        return near.Count > 0
            ? $"unknown command {Quote.Value(token)} (did you mean {string.Join(" or ", near.Select(Quote.Value))}?)"
            : $"unknown command {Quote.Value(token)}; the commands are {string.Join(", ", commands)}";
    }

    /// <summary>Levenshtein distance (insertions, deletions, substitutions), for suggestions between short names.</summary>
    private static int Edits(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) previous[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(previous[j] + 1, current[j - 1] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }

    /// <summary>
    /// The command-line spelling of a library option for the command the user ran: the option of the command whose
    /// name or alias is the plain spelling (<c>MaxIterations</c> → <c>--max-iterations</c>), else the command's
    /// option for the same setting under another name (<c>TrainItems</c> → <c>--train</c>), else the plain spelling.
    /// </summary>
    public static string OptionSpelling(string property, IReadOnlyList<System.CommandLine.Option> options)
    {
        string plain = CliValues.OptionName(property);
        bool Has(string name) => options.Any(o => o.Name == name || o.Aliases.Contains(name));
        if (Has(plain)) return plain;
        if (Renames.TryGetValue(property, out var others))
            foreach (var other in others)
                if (Has(other)) return other;
        return plain;
    }

    /// <summary>Library option names whose command-line options have other names, by the names they may have.</summary>
    private static readonly System.Collections.Frozen.FrozenDictionary<string, string[]> Renames =
        new Dictionary<string, string[]>
        {
            ["TrainItems"] = ["--train"],
            ["TestItems"] = ["--test"],
            ["AdversaryFraction"] = ["--adversaries", "--adversary-fraction"],
            ["Adversary"] = ["--adversary-strategy"],
            ["Strategy"] = ["--adversary-strategy"],
            ["Chances"] = ["--k"],
            ["Replications"] = ["--replications"],
            ["Rule"] = ["--rule"],
            ["Experiment"] = ["EXPERIMENT"],
            ["StatePath"] = ["--state"],
            ["Round"] = ["--round"],
            ["Hidden"] = ["--classifier"],
            ["Model"] = ["--classifier"],
            ["Mechanisms"] = ["--mechanism"],
            ["Prior"] = ["--signal-prior"],
            ["Classes"] = ["--class-count"],
            ["OutputDirectory"] = ["--out"],
            ["Sigma"] = ["--sigma"],
            ["TruthPath"] = ["--truth"],
            ["ReplayPath"] = ["--replay"],
            ["OwnerKey"] = ["--key"],
        }.ToFrozenDictionary();

    /// <summary>A message on one line: line breaks and tabs (a library message quoting several lines) become spaces.</summary>
    public static string OneLine(string message)
    {
        if (message.AsSpan().IndexOfAny('\n', '\r', '\t') < 0) return message;
        var b = new System.Text.StringBuilder(message.Length);
        foreach (char c in message) b.Append(c is '\n' or '\r' or '\t' ? ' ' : c);
        return System.Text.RegularExpressions.Regex.Replace(b.ToString(), " {2,}", " ").Trim();
    }
}

/// <summary>Options that mean the same on every command, built in one place.</summary>
internal static class CommonOptions
{
    /// <summary><c>--seed</c>/<c>-s</c>, default <see cref="Seeding.DefaultSeed"/>.</summary>
    public static Option<int> Seed(string description) =>
        new("--seed", "-s") { Description = description, DefaultValueFactory = _ => Seeding.DefaultSeed };

    /// <summary><c>--format</c>/<c>-f</c>: csv or json, default csv, for the tables a command writes.</summary>
    public static Option<string> Format(string what = "the result files written with --out")
    {
        var option = new Option<string>("--format", "-f")
        {
            Description = $"Format of {what}: csv or json.",
            DefaultValueFactory = _ => Specs.Name(default(OutputFormat)),
        };
        option.AcceptOnlyFromAmong([.. Specs.Names<OutputFormat>()]);
        return option;
    }

    /// <summary>
    /// The chosen format; a <c>--format</c> given without <c>--out</c> is refused, since it would change nothing.
    /// </summary>
    /// <exception cref="UsageException">--format without an output folder.</exception>
    public static OutputFormat ReadFormat(ParseResult p, Option<string> format, string? outputDirectory)
    {
        if (Given(p, format) && outputDirectory is null)
            throw new UsageException("--format applies to the files written with --out; give --out DIR");
        return Specs.Choice<OutputFormat>(p.GetValue(format)!, "Format");
    }

    /// <summary><c>--out</c>/<c>-o</c>: the folder a command writes its result files into.</summary>
    public static Option<string?> Out(string contents) =>
        new("--out", "-o") { Description = $"Folder for {contents} (created if needed; nothing is written without it)." };

    /// <summary><c>--class-prior</c>: learned, uniform or auto class proportions (the catalog's methods that accept it); each method's default when not given.</summary>
    public static Option<string> ClassPrior()
    {
        var methods = AggregatorCatalog.All.Where(m => m.DefaultClassPrior is not null);
        var option = new Option<string>("--class-prior")
        {
            Description = "Class proportions of " + string.Join(", ", methods.Select(m => m.Name))
                + ": learned from the answers, uniform (all classes equally common), or auto (whichever the evidence favours; "
                + "learned for the maximum-likelihood methods). Default: "
                + string.Join(", ", methods.GroupBy(m => m.DefaultClassPrior!.Value).Select(g => $"{Specs.Name(g.Key)} for {string.Join(", ", g.Select(m => m.Name))}")) + ".",
        };
        option.AcceptOnlyFromAmong([.. Specs.Names<ClassPriorMode>()]);
        return option;
    }

    /// <summary>The <c>--class-prior</c> the user gave, or null (each method's default) when not given.</summary>
    public static ClassPriorMode? ReadClassPrior(ParseResult p, Option<string> option) =>
        Given(p, option) ? Specs.Choice<ClassPriorMode>(p.GetValue(option)!, "ClassPrior") : null;

    /// <summary>Whether the user gave <paramref name="option"/> rather than it taking its default.</summary>
    public static bool Given(ParseResult p, Option option) => p.GetResult(option) is { Implicit: false };
}
