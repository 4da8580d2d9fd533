using System.Collections.ObjectModel;

namespace Tally.Core;

/// <summary>
/// An immutable, ordered mapping between the string identifiers found in the input (task ids, worker ids,
/// class names) and the dense indexes 0..Count-1 that algorithms work with. Identifiers are kept exactly as
/// they appeared, so output can use them verbatim.
/// </summary>
public sealed class Vocabulary
{
    private readonly string[] _names;
    private readonly Dictionary<string, int> _index;

    /// <summary>Creates a vocabulary from distinct names; the i-th name gets index i.</summary>
    /// <exception cref="ArgumentException">A name appears twice.</exception>
    public Vocabulary(IEnumerable<string> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        _names = names.ToArray();
        // The default string comparer hashes without randomisation until it sees collisions: markedly faster on
        // millions of short ids than StringComparer.Ordinal, and still ordinal.
        _index = new Dictionary<string, int>(_names.Length);
        for (int i = 0; i < _names.Length; i++)
        {
            if (!_index.TryAdd(_names[i], i))
                throw new ArgumentException($"Duplicate identifier '{_names[i]}'.", nameof(names));
        }
    }

    internal Vocabulary(string[] names, Dictionary<string, int> index)
    {
        _names = names;
        _index = index;
    }

    /// <summary>A vocabulary of the names "0", "1", …, count-1.</summary>
    public static Vocabulary Numbered(int count) =>
        new(Enumerable.Range(0, count).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)));

    /// <summary>Number of identifiers.</summary>
    public int Count => _names.Length;

    /// <summary>The identifier with the given index.</summary>
    public string this[int index] => _names[index];

    /// <summary>All identifiers in index order.</summary>
    public IReadOnlyList<string> Names => new ReadOnlyCollection<string>(_names);

    /// <summary>Looks an identifier up.</summary>
    public bool TryGetIndex(string name, out int index) => _index.TryGetValue(name, out index);

    /// <summary>Looks an identifier up without allocating a string.</summary>
    public bool TryGetIndex(ReadOnlySpan<char> name, out int index) =>
        _index.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(name, out index);

    /// <summary>The index of an identifier, or -1 if it is unknown.</summary>
    public int IndexOf(string name) => _index.TryGetValue(name, out int i) ? i : -1;
}

/// <summary>Grows a <see cref="Vocabulary"/> while input is read; allocation-free for names already seen.</summary>
public sealed class VocabularyBuilder
{
    private readonly List<string> _names = new();
    private readonly Dictionary<string, int> _index = new();

    /// <summary>Number of identifiers so far.</summary>
    public int Count => _names.Count;

    /// <summary>The index of <paramref name="name"/>, adding it at the end if it is new.</summary>
    public int GetOrAdd(ReadOnlySpan<char> name)
    {
        // Class sets are small: comparing a handful of strings beats hashing.
        if (_names.Count <= 8)
        {
            for (int j = 0; j < _names.Count; j++) if (name.SequenceEqual(_names[j])) return j;
        }
        var lookup = _index.GetAlternateLookup<ReadOnlySpan<char>>();
        if (lookup.TryGetValue(name, out int i)) return i;
        string s = name.ToString();
        i = _names.Count;
        _names.Add(s);
        _index.Add(s, i);
        return i;
    }

    /// <summary>The index of <paramref name="name"/>, adding it if it is new.</summary>
    public int GetOrAdd(string name) => GetOrAdd(name.AsSpan());

    /// <summary>The identifier with index <paramref name="index"/>.</summary>
    public string NameOf(int index) => _names[index];

    /// <summary>Looks up a name without adding it.</summary>
    public bool TryGetIndex(ReadOnlySpan<char> name, out int index) =>
        _index.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(name, out index);

    /// <summary>Freezes the names seen so far.</summary>
    public Vocabulary Build() => new(_names.ToArray(), new Dictionary<string, int>(_index));
}
