using Tally.Core;

namespace Tally.Tests;

/// <summary>
/// A vocabulary of integer names (what the fast reader makes for integer task and worker ids) keeps the numbers and
/// parses on lookup: it must behave exactly like the same names held as strings.
/// </summary>
public class VocabularyTests
{
    public static TheoryData<int[]> IntegerSets => new()
    {
        Array.Empty<int>(),
        new[] { 0, 1, 2, 3, 4 },             // exactly 0..count-1
        new[] { 3, 7, 10, 99, 1_000_000, int.MaxValue }, // gaps
    };

    [Theory]
    [MemberData(nameof(IntegerSets))]
    public void Integer_names_behave_like_the_same_strings(int[] values)
    {
        var integers = values.Length > 0 && values[^1] == values.Length - 1 ? Vocabulary.Numbered(values.Length) : Vocabulary.OfIntegers(values);
        var strings = new Vocabulary(values.Select(v => v.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Equal(strings.Count, integers.Count);
        Assert.Equal(strings.Names, integers.Names);
        for (int i = 0; i < values.Length; i++) Assert.Equal(strings[i], integers[i]);
        string[] probes = ["0", "1", "4", "5", "7", "007", "07", "+7", "-1", " 7", "7 ", "7.0", "1e3", "", "x",
            "99", "1000000", "2147483647", "2147483648", "99999999999", "١"];
        foreach (var p in probes)
        {
            Assert.Equal(strings.TryGetIndex(p, out int a), integers.TryGetIndex(p, out int b));
            Assert.Equal(strings.IndexOf(p), integers.IndexOf(p));
            if (strings.TryGetIndex(p, out a)) { integers.TryGetIndex(p.AsSpan(), out b); Assert.Equal(a, b); }
        }
        var sorted = integers.InNaturalOrder(out int[] map);
        Assert.Empty(map);
        Assert.Equal(strings.InNaturalOrder(out _).Names, sorted.Names);
        Assert.Throws<IndexOutOfRangeException>(() => integers[values.Length]);
    }

    [Fact]
    public void Csv_lines_write_integer_names_as_their_strings()
    {
        var integers = Vocabulary.OfIntegers([5, 17, 123456789]);
        var line = new Utf8Line();
        for (int i = 0; i < integers.Count; i++) line.Name(integers, i).Byte((byte)';');
        line.Name(new Vocabulary(["a,b"]), 0);
        Assert.Equal("5;17;123456789;\"a,b\"", System.Text.Encoding.UTF8.GetString(line.Written));
    }
}
