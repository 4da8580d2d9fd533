namespace Tally.Core;

/// <summary>A labelled dataset shipped with Tally under <c>data/NAME/</c>.</summary>
/// <param name="Name">Folder name.</param>
/// <param name="Directory">Full path of the folder.</param>
/// <param name="AnswersPath">answers.csv.</param>
/// <param name="TruthPath">truth.csv, or null.</param>
/// <param name="Description">First heading or line of the folder's README.</param>
public sealed record BundledDataset(string Name, string Directory, string AnswersPath, string? TruthPath, string Description)
{
    /// <summary>
    /// The kind of answers: the word in the folder's <c>answer-type</c> file (<c>numeric</c>, <c>pairwise</c>,
    /// <c>multilabel</c>), categorical when there is none.
    /// </summary>
    public AnswerType Type { get; init; } = AnswerType.Categorical;
}

/// <summary>Finds the datasets bundled with Tally.</summary>
/// <remarks>
/// Looked for, in order: the folder named by the <c>TALLY_DATA</c> environment variable; <c>data/</c> beside the
/// running program (the CLI copies it there on build and into the tool package); <c>data/</c> in the current
/// directory or any parent (a clone of the repository).
/// </remarks>
public static class BundledDatasets
{
    /// <summary>The data folder, or null if none is found.</summary>
    public static string? Root()
    {
        var env = Environment.GetEnvironmentVariable("TALLY_DATA");
        if (!string.IsNullOrEmpty(env) && System.IO.Directory.Exists(env)) return Path.GetFullPath(env);
        var beside = Path.Combine(AppContext.BaseDirectory, "data");
        if (IsDataRoot(beside)) return beside;
        for (var dir = new DirectoryInfo(System.IO.Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "data");
            if (IsDataRoot(candidate)) return candidate;
        }
        return null;
    }

    /// <summary>Every bundled dataset with an answers.csv, by name.</summary>
    public static IReadOnlyList<BundledDataset> All()
    {
        var root = Root();
        if (root is null) return [];
        var list = new List<BundledDataset>();
        foreach (var dir in System.IO.Directory.GetDirectories(root).Order(StringComparer.Ordinal))
        {
            var answers = Path.Combine(dir, "answers.csv");
            if (!File.Exists(answers)) continue;
            var truth = Path.Combine(dir, "truth.csv");
            list.Add(new BundledDataset(Path.GetFileName(dir), dir, answers, File.Exists(truth) ? truth : null, Describe(dir)) { Type = TypeOf(dir) });
        }
        return list;
    }

    private static AnswerType TypeOf(string dir)
    {
        var file = Path.Combine(dir, "answer-type");
        if (!File.Exists(file)) return AnswerType.Categorical;
        var word = File.ReadAllText(file).Trim();
        foreach (var t in Enum.GetValues<AnswerType>())
            if (string.Equals(t.ToString(), word, StringComparison.OrdinalIgnoreCase)) return t;
        throw new TallyDataException(file, 1, $"unknown answer type {Quote.Value(word)}");
    }

    /// <summary>The dataset called <paramref name="name"/>.</summary>
    /// <exception cref="TallyDataException">No such dataset.</exception>
    public static BundledDataset Get(string name)
    {
        var all = All();
        foreach (var d in all) if (string.Equals(d.Name, name, StringComparison.OrdinalIgnoreCase)) return d;
        throw new TallyDataException("--dataset", 0, all.Count == 0
            ? $"no bundled datasets found (looked for a data/ folder; set TALLY_DATA)"
            : $"unknown dataset '{name}' (bundled: {string.Join(", ", all.Select(d => d.Name))})");
    }

    private static bool IsDataRoot(string dir) =>
        System.IO.Directory.Exists(dir) && System.IO.Directory.GetDirectories(dir).Any(d => File.Exists(Path.Combine(d, "answers.csv")));

    private static string Describe(string dir)
    {
        var readme = Path.Combine(dir, "README.md");
        if (!File.Exists(readme)) return "";
        using var reader = TextFiles.Open(readme);
        for (string? line; (line = reader.ReadLine()) is not null;)
        {
            var s = line.Trim().TrimStart('#').Trim();
            if (s.Length > 0) return s;
        }
        return "";
    }
}
