using System.Globalization;
using System.Text;
using Tally.Aggregation;
using Tally.Catalogs;
using Tally.Core;

namespace Tally.Application;

/// <summary>
/// The small languages a front end passes to the jobs as text — lists of methods, lists of numbers, worker priors,
/// choices among named values — parsed in one place so the command line and the server accept exactly the same
/// spellings and give the same messages. Every error is an <see cref="InvalidOptionException"/> naming the option.
/// </summary>
public static class Specs
{
    /// <summary>The items of a comma-separated list, trimmed, empty items dropped; null or blank gives an empty list.</summary>
    public static IReadOnlyList<string> List(string? list) =>
        string.IsNullOrWhiteSpace(list) ? [] : list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

    /// <summary>A comma-separated list of finite numbers (invariant culture); null when <paramref name="list"/> is null.</summary>
    /// <param name="list">The text, e.g. <c>0,0.1,0.2</c>.</param>
    /// <param name="option">The option's property name, for the message (e.g. <c>Values</c>).</param>
    /// <exception cref="InvalidOptionException">An item is not a finite number, or the list is empty.</exception>
    public static IReadOnlyList<double>? Numbers(string? list, string option)
    {
        if (list is null) return null;
        var items = List(list);
        if (items.Count == 0) throw new InvalidOptionException(option, "needs at least one number");
        var values = new double[items.Count];
        for (int i = 0; i < items.Count; i++)
            if (!double.TryParse(items[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]) || !double.IsFinite(values[i]))
                throw new InvalidOptionException(option, $"{Quote.Value(items[i])} is not a finite number");
        return values;
    }

    /// <summary>
    /// A worker prior: <c>onecoin:A,B</c> (each worker's accuracy ~ Beta(A, B)) or <c>twocoin:A,B</c> (each confusion
    /// row ~ Dirichlet with A on the diagonal and B elsewhere), A, B &gt; 0; null or blank gives null (the method's default).
    /// </summary>
    /// <exception cref="InvalidOptionException">Any other text (option <c>Prior</c>).</exception>
    public static WorkerPrior? Prior(string? spec)
    {
        if (string.IsNullOrWhiteSpace(spec)) return null;
        var parts = spec.Split(':', 2);
        var ab = parts.Length == 2 ? parts[1].Split(',') : [];
        if (parts.Length != 2 || ab.Length != 2
            || !double.TryParse(ab[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double a)
            || !double.TryParse(ab[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double b)
            || !(a > 0) || !(b > 0) || double.IsInfinity(a) || double.IsInfinity(b))
            throw new InvalidOptionException("Prior", $"must be onecoin:A,B or twocoin:A,B with positive numbers (got {Quote.Value(spec)})");
        return parts[0].Trim().ToLowerInvariant() switch
        {
            "onecoin" or "one-coin" => WorkerPrior.OneCoin(a, b),
            "twocoin" or "two-coin" => WorkerPrior.TwoCoin(a, b),
            _ => throw new InvalidOptionException("Prior", $"kind must be onecoin or twocoin (got {Quote.Value(parts[0])})"),
        };
    }

    /// <summary>
    /// The truth-inference methods named (names or aliases, see <see cref="AggregatorCatalog"/>), in the order given,
    /// each once; null, an empty list or the single name <c>all</c> gives every method.
    /// </summary>
    /// <exception cref="InvalidOptionException">An unknown name (option <paramref name="option"/>).</exception>
    public static IReadOnlyList<AggregatorInfo> Methods(IReadOnlyList<string>? names, string option = "Methods")
    {
        if (names is null || names.Count == 0 || names is [var only] && string.Equals(only, "all", StringComparison.OrdinalIgnoreCase))
            return AggregatorCatalog.All;
        var chosen = new List<AggregatorInfo>();
        foreach (var n in names)
        {
            var info = AggregatorCatalog.Find(n)
                ?? throw new InvalidOptionException(option, $"has an unknown method {Quote.Value(n)} (known: {string.Join(", ", AggregatorCatalog.All.Select(m => m.Name))})");
            if (!chosen.Contains(info)) chosen.Add(info);
        }
        return chosen;
    }

    /// <summary>The spelling of an enum value or property name in options and files: <c>KeepLast</c> → <c>keep-last</c>.</summary>
    public static string Kebab(string pascal)
    {
        var b = new StringBuilder(pascal.Length + 4);
        for (int i = 0; i < pascal.Length; i++)
        {
            char c = pascal[i];
            if (char.IsUpper(c) && i > 0) b.Append('-');
            b.Append(char.ToLowerInvariant(c));
        }
        return b.ToString();
    }

    /// <summary>The kebab-case names of an enum's values (<see cref="Kebab"/>), in declaration order.</summary>
    public static IReadOnlyList<string> Names<T>() where T : struct, Enum => Enum.GetNames<T>().Select(Kebab).ToArray();

    /// <summary>The kebab-case name of <paramref name="value"/>.</summary>
    public static string Name<T>(T value) where T : struct, Enum => Kebab(value.ToString());

    /// <summary>The enum value whose kebab-case name is <paramref name="value"/> (case-insensitive).</summary>
    /// <exception cref="InvalidOptionException">No value has that name (option <paramref name="option"/>).</exception>
    public static T Choice<T>(string value, string option) where T : struct, Enum
    {
        foreach (var v in Enum.GetValues<T>())
            if (string.Equals(Name(v), value, StringComparison.OrdinalIgnoreCase)) return v;
        throw new InvalidOptionException(option, $"must be {OneOf(Names<T>())} (got {Quote.Value(value)})");
    }

    /// <summary>"a, b or c".</summary>
    public static string OneOf(IReadOnlyList<string> names) =>
        names.Count <= 1 ? string.Join("", names) : string.Join(", ", names.Take(names.Count - 1)) + " or " + names[^1];
}
