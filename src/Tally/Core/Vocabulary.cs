using System.Collections.ObjectModel;
using System.Globalization;

namespace Tally.Core;

/// <summary>
/// An immutable, ordered mapping between the string identifiers found in the input (task ids, worker ids,
/// class names) and the dense indexes 0..Count-1 that algorithms work with. Identifiers are kept exactly as
/// they appeared, so output can use them verbatim.
/// </summary>
public sealed class Vocabulary
{
    // Null for a vocabulary of integer names until all names are asked for: a matrix read from a file of millions of
    // integer task ids keeps the numbers, not a string each (making and keeping them cost more than the parse).
    private string[]? _names;
    private readonly int _count;
    // An integer vocabulary's names: the ascending values, or null for exactly 0..count-1.
    private readonly int[]? _values;
    private readonly bool _integers;
    // Built on first lookup when the vocabulary was made from names known to be distinct (a matrix read from a file
    // whose millions of task ids are only ever written out back needs none).
    private Dictionary<string, int>? _index;

    /// <summary>Creates a vocabulary from distinct names; the i-th name gets index i.</summary>
    /// <exception cref="ArgumentException">A name appears twice.</exception>
    public Vocabulary(IEnumerable<string> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        _names = names.ToArray();
        _count = _names.Length;
        // The default string comparer hashes without randomisation until it sees collisions: markedly faster on
        // millions of short ids than StringComparer.Ordinal, and still ordinal.
        _index = new Dictionary<string, int>(_names.Length);
        for (int i = 0; i < _names.Length; i++)
        {
            if (!_index.TryAdd(_names[i], i))
                throw new ArgumentException($"Duplicate identifier '{_names[i]}'.", nameof(names));
        }
    }

    internal Vocabulary(string[] names, Dictionary<string, int>? index)
    {
        _names = names;
        _count = names.Length;
        _index = index;
    }

    private Vocabulary(int count, int[]? values)
    {
        _count = count;
        _values = values;
        _integers = true;
    }

    /// <summary>A vocabulary of names the caller knows to be distinct; the lookup index is built when first needed.</summary>
    internal static Vocabulary OfDistinct(string[] names) => new(names, null);

    /// <summary>
    /// The names of the given non-negative integers in invariant decimal form ("0", "17"), which must be strictly
    /// ascending (natural order); no string is made until one is asked for, and lookups parse instead of hashing.
    /// </summary>
    internal static Vocabulary OfIntegers(int[] ascending) => new(ascending.Length, ascending);

    private string[] AllNames => _names ?? LazyInitializer.EnsureInitialized(ref _names, () =>
    {
        var names = new string[_count];
        for (int i = 0; i < names.Length; i++) names[i] = Format(i);
        return names;
    });

    private string Format(int index) => (_values is null ? index : _values[index]).ToString(CultureInfo.InvariantCulture);

    private Dictionary<string, int> Index => _index ?? LazyInitializer.EnsureInitialized(ref _index, () =>
    {
        var names = AllNames;
        var index = new Dictionary<string, int>(names.Length);
        for (int i = 0; i < names.Length; i++) index.Add(names[i], i);
        return index;
    });

    /// <summary>A vocabulary of the names "0", "1", …, count-1.</summary>
    public static Vocabulary Numbered(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return new(count, null);
    }

    /// <summary>Number of identifiers.</summary>
    public int Count => _count;

    /// <summary>The identifier with the given index.</summary>
    public string this[int index]
    {
        get
        {
            if (_names is { } names) return names[index];
            if ((uint)index >= (uint)_count) throw new IndexOutOfRangeException();
            return Format(index);
        }
    }

    /// <summary>The identifier as its integer when the vocabulary is one of integer names (no string is made).</summary>
    internal bool TryGetIntegerName(int index, out int value)
    {
        if (!_integers) { value = 0; return false; }
        if ((uint)index >= (uint)_count) throw new IndexOutOfRangeException();
        value = _values is null ? index : _values[index];
        return true;
    }

    /// <summary>All identifiers in index order.</summary>
    public IReadOnlyList<string> Names => new ReadOnlyCollection<string>(AllNames);

    /// <summary>Looks an identifier up.</summary>
    public bool TryGetIndex(string name, out int index) =>
        _integers ? TryGetInteger(name.AsSpan(), out index) : Index.TryGetValue(name, out index);

    /// <summary>Looks an identifier up without allocating a string.</summary>
    public bool TryGetIndex(ReadOnlySpan<char> name, out int index) =>
        _integers ? TryGetInteger(name, out index) : Index.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(name, out index);

    /// <summary>The index of an identifier, or -1 if it is unknown.</summary>
    public int IndexOf(string name) => TryGetIndex(name, out int i) ? i : -1;

    /// <summary>An integer vocabulary's lookup: only a name in the exact form the vocabulary writes can match.</summary>
    private bool TryGetInteger(ReadOnlySpan<char> name, out int index)
    {
        index = -1;
        if (name.Length is 0 or > 10 || (name.Length > 1 && name[0] == '0')) return false;
        long value = 0;
        foreach (char c in name)
        {
            uint digit = (uint)(c - '0');
            if (digit > 9) return false;
            value = value * 10 + digit;
        }
        if (value > int.MaxValue) return false;
        if (_values is null)
        {
            if (value >= _count) return false;
            index = (int)value;
            return true;
        }
        int at = Array.BinarySearch(_values, (int)value);
        if (at < 0) return false;
        index = at;
        return true;
    }

    /// <summary>
    /// Tally's order for identifiers: when every name is a finite number (invariant culture, e.g. "7", "10", "-1.5",
    /// "1e3") by numeric value, else by ordinal string order; names equal as numbers ("1" and "1.0") by ordinal order.
    /// It depends on the names alone, never on the order they were read in, and on numeric ids it is what people
    /// expect ("2" before "10", where ordinal order would put "10" first).
    /// </summary>
    public static IComparer<string> NaturalOrder(IReadOnlyList<string> names)
    {
        foreach (var s in names)
            if (!TryParseNumber(s, out _)) return StringComparer.Ordinal;
        return NumericOrder.Instance;
    }

    /// <summary>
    /// The name as a finite number (invariant culture, <see cref="NumberStyles.Float"/>), as <see cref="NaturalOrder"/>
    /// reads it; ids of up to 15 decimal digits (exact in a double) are read without the general parser.
    /// </summary>
    internal static bool TryParseNumber(string s, out double value)
    {
        int i = s.Length > 0 && s[0] == '-' ? 1 : 0;
        int digits = s.Length - i;
        if (digits is > 0 and <= 15)
        {
            long v = 0;
            for (; i < s.Length; i++)
            {
                uint d = (uint)(s[i] - '0');
                if (d > 9) goto General;
                v = v * 10 + d;
            }
            value = s[0] == '-' ? -(double)v : v;
            return true;
        }
    General:
        return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value);
    }

    /// <summary>This vocabulary sorted in <see cref="NaturalOrder"/>; <paramref name="map"/>[old index] = new index (empty when already in order).</summary>
    public Vocabulary InNaturalOrder(out int[] map)
    {
        // Ascending integers are in natural order already.
        if (_integers) { map = []; return this; }
        var all = AllNames;
        var comparer = NaturalOrder(all);
        var order = new int[all.Length];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        var keys = (string[])all.Clone();
        if (comparer is NumericOrder)
        {
            // Parse once, sort the numbers as primitive keys (no comparison delegate over millions of ids), then put
            // names of equal value ("1", "1.0") in ordinal order: the order NumericOrder defines.
            var values = new double[keys.Length];
            for (int i = 0; i < keys.Length; i++) TryParseNumber(keys[i], out values[i]);
            Array.Sort(values, order);
            for (int a = 0, b; a < order.Length; a = b)
            {
                for (b = a + 1; b < order.Length && values[b] == values[a]; b++) { }
                if (b - a > 1) Array.Sort(order, a, b - a, Comparer<int>.Create((x, y) => string.CompareOrdinal(keys[x], keys[y])));
            }
        }
        else Array.Sort(keys, order, StringComparer.Ordinal);
        bool identity = true;
        for (int i = 0; i < order.Length && identity; i++) identity = order[i] == i;
        if (identity) { map = []; return this; }
        map = new int[order.Length];
        var names = new string[order.Length];
        for (int i = 0; i < order.Length; i++)
        {
            map[order[i]] = i;
            names[i] = all[order[i]];
        }
        return OfDistinct(names);
    }

    private sealed class NumericOrder : IComparer<string>
    {
        public static readonly NumericOrder Instance = new();

        public int Compare(string? x, string? y)
        {
            double a = double.Parse(x!, NumberStyles.Float, CultureInfo.InvariantCulture);
            double b = double.Parse(y!, NumberStyles.Float, CultureInfo.InvariantCulture);
            int c = a.CompareTo(b);
            return c != 0 ? c : string.CompareOrdinal(x, y);
        }
    }
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

    /// <summary>Freezes the names seen so far without copying the index (the builder must not be used afterwards).</summary>
    internal Vocabulary BuildOnce() => new(_names.ToArray(), _index);
}
