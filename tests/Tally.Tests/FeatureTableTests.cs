using Tally.Core;

namespace Tally.Tests;

public sealed class FeatureTableTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-features-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        var p = Path.Combine(_dir, name);
        File.WriteAllText(p, text);
        return p;
    }

    private static TallyDataException Fails(Action a) => Assert.Throws<TallyDataException>(a);

    [Fact]
    public void Csv_ReadsHeaderNamesAndValues()
    {
        var p = Write("f.csv", "task,x,y\na,1,2.5\nb,-3e2,0\n");
        var t = FeatureFiles.ReadCsv(p);
        Assert.Equal(["a", "b"], t.Tasks);
        Assert.Equal(["x", "y"], t.Columns);
        Assert.Equal(2, t.Dimension);
        Assert.Equal([1, 2.5], t.Row(0).ToArray());
        Assert.Equal([-300, 0], t.Row(1).ToArray());
        Assert.Equal(1, t.IndexOf("b"));
        Assert.Equal(-1, t.IndexOf("c"));
    }

    [Fact]
    public void InNaturalOrder_sorts_the_tasks_as_a_label_matrix_does_and_keeps_each_row_with_its_task()
    {
        var t = FeatureFiles.ReadCsv(Write("f.csv", "task,x\n10,1\n2,2\n-1,3\n"));
        var sorted = t.InNaturalOrder();
        Assert.Equal(["-1", "2", "10"], sorted.Tasks);               // numeric ids by value
        Assert.Equal([3.0, 2.0, 1.0], Enumerable.Range(0, 3).Select(i => sorted.Row(i)[0]));
        Assert.Same(sorted, sorted.InNaturalOrder());
        var named = FeatureFiles.ReadCsv(Write("g.csv", "task,x\nb,1\nB,2\na,3\n")).InNaturalOrder();
        Assert.Equal(["B", "a", "b"], named.Tasks);                  // otherwise ordinal
        Assert.Equal(2.0, named.Row(0)[0]);
        // The same rows in any order give the same table.
        var shuffled = FeatureFiles.ReadCsv(Write("h.csv", "task,x\na,3\nb,1\nB,2\n")).InNaturalOrder();
        Assert.Equal(named.Tasks, shuffled.Tasks);
        Assert.Equal(named.ToArray(), shuffled.ToArray());
    }

    [Fact]
    public void Read_picks_the_layout_by_extension_unless_told()
    {
        Assert.Equal(FeatureFileFormat.Ldac, FeatureFiles.Resolve(FeatureFileFormat.Auto, "x/f.LDA"));
        Assert.Equal(FeatureFileFormat.SvmLight, FeatureFiles.Resolve(FeatureFileFormat.Auto, "f.libsvm"));
        Assert.Equal(FeatureFileFormat.Csv, FeatureFiles.Resolve(FeatureFileFormat.Auto, "f.txt"));
        Assert.Equal(FeatureFileFormat.Ldac, FeatureFiles.Resolve(FeatureFileFormat.Ldac, "f.csv"));
        var ldac = FeatureFiles.Read(Write("f.ldac", "2 0:1 1:0.5\n1 2:3\n"));
        Assert.Equal(["0", "1"], ldac.Tasks);
        Assert.Equal([0.0, 0.0, 3.0], ldac.Row(1).ToArray());
        var svm = FeatureFiles.Read(Write("f.txt", "7 1:1 3:2\n"), FeatureFileFormat.SvmLight, dimension: 4);
        Assert.Equal([1.0, 0.0, 2.0, 0.0], svm.Row(0).ToArray());
        // A CSV names its own tasks, so a task ids file is a mistake.
        var e = Assert.Throws<TallyUserException>(() => FeatureFiles.Read(Write("c.csv", "task,x\na,1\n"), idsPath: Write("ids.txt", "a\n")));
        Assert.Contains("sparse features only", e.Message);
        Assert.Equal("Dimension", Assert.Throws<InvalidOptionException>(() => FeatureFiles.ReadSparse(Write("d.ldac", "1 0:1\n"), new SparseFeatureOptions(Dimension: 0))).Option);
    }

    [Fact]
    public void Csv_ReadsTabDelimitedAndTaskColumnAnywhere()
    {
        var p = Write("f.txt", "x\ttask\ty\n1\ta\t2\n");
        var t = FeatureFiles.ReadCsv(p);
        Assert.Equal(["x", "y"], t.Columns);
        Assert.Equal([1, 2], t.Row(0).ToArray());
    }

    [Fact]
    public void Csv_RoundTripsExactly()
    {
        var rng = new Random(7);
        var tasks = Enumerable.Range(0, 50).Select(i => i % 7 == 0 ? $"task, \"{i}\"" : $"t{i}").ToArray();
        var rows = tasks.Select(_ => Enumerable.Range(0, 6).Select(j => j switch
        {
            0 => rng.NextDouble(),
            1 => -rng.NextDouble() * 1e300,
            2 => rng.NextDouble() * 1e-300,
            3 => Math.Round(rng.NextDouble() * 100),
            4 => double.Epsilon,
            _ => -0.1,
        }).ToArray()).ToArray();
        var table = new FeatureTable(tasks, rows, ["a", "b,c", "d", "e", "f", "g"]);
        var p = Path.Combine(_dir, "rt.csv");
        FeatureFiles.WriteCsv(table, p);
        var back = FeatureFiles.ReadCsv(p);
        Assert.Equal(table.Tasks, back.Tasks);
        Assert.Equal(table.Columns, back.Columns);
        for (int i = 0; i < table.Count; i++)
            for (int j = 0; j < table.Dimension; j++)
                Assert.Equal(BitConverter.DoubleToInt64Bits(table.Row(i)[j]), BitConverter.DoubleToInt64Bits(back.Row(i)[j]));
    }

    [Theory]
    [InlineData("task,f0,f1\na,1,2\nb,3\n", 3, "expected 3 fields like the header, found 2")]
    [InlineData("task,f0,f1\na,1,2\nb,3,x1\n", 3, "column 'f1': 'x1' is not a number")]
    [InlineData("task,f0\na,NaN\n", 2, "column 'f0': 'NaN' is not a finite number")]
    [InlineData("task,f0\na,1e999\n", 2, "column 'f0': '1e999' is not a finite number")]
    [InlineData("task,f0\na,1\n\nb,2\na,3\n", 5, "task 'a' already has a row (line 2)")]
    [InlineData("task,f0,f1\na,1,\n", 2, "empty value in column 'f1'")]
    [InlineData("task,f0\n,1\n", 2, "empty task")]
    [InlineData("task,f0,f0\na,1,2\n", 1, "column 'f0' appears twice in the header")]
    [InlineData("task\na\n", 1, "no feature columns besides 'task'")]
    [InlineData("id,f0\na,1\n", 1, "no column 'task' in the header (columns: id, f0)")]
    [InlineData("task,f0\n", 0, "has a header but no rows")]
    [InlineData("", 0, "file is empty (expected a header line)")]
    public void Csv_ErrorsAreLocated(string text, long line, string problem)
    {
        var p = Write("bad.csv", text);
        var e = Fails(() => FeatureFiles.ReadCsv(p));
        Assert.Equal(p, e.Source);
        Assert.Equal(line, e.Line);
        Assert.Equal(problem, e.Problem);
        Assert.StartsWith(line > 0 ? $"{p}:{line}: " : $"{p}: ", e.Message);
    }

    [Fact]
    public void Csv_MissingFile()
    {
        var e = Fails(() => FeatureFiles.ReadCsv(Path.Combine(_dir, "nope.csv")));
        Assert.Equal("file not found", e.Problem);
    }

    [Fact]
    public void Sparse_LdaC_DefaultIdsAndDimension()
    {
        var p = Write("f.ldac", "2 0:1 3:2.5\n0\n1 1:4\n\n");
        var t = FeatureFiles.ReadSparse(p);
        Assert.Equal(["0", "1", "2"], t.Tasks);
        Assert.Equal(4, t.Dimension);
        Assert.Equal(["f0", "f1", "f2", "f3"], t.Columns);
        Assert.Equal([1, 0, 0, 2.5], t.Row(0).ToArray());
        Assert.Equal([0, 0, 0, 0], t.Row(1).ToArray());
        Assert.Equal([0, 4, 0, 0], t.Row(2).ToArray());
    }

    [Fact]
    public void Sparse_SvmLight_OneBasedLabelCommentsGivenDimensionAndIds()
    {
        var p = Write("f.svm", "# a comment line\n+1 1:0.5 3:-2 # trailing\n-1\t2:7\n");
        var ids = Write("ids.txt", "x\ny\n");
        var t = FeatureFiles.ReadSparse(p, new SparseFeatureOptions(SparseLeadingToken.Label, OneBased: true, Dimension: 5, IdsPath: ids));
        Assert.Equal(["x", "y"], t.Tasks);
        Assert.Equal(5, t.Dimension);
        Assert.Equal([0.5, 0, -2, 0, 0], t.Row(0).ToArray());
        Assert.Equal([0, 7, 0, 0, 0], t.Row(1).ToArray());
    }

    [Fact]
    public void Sparse_NoLeadingToken()
    {
        var p = Write("f.txt", "0:1 1:2\n1:3\n");
        var t = FeatureFiles.ReadSparse(p, new SparseFeatureOptions(SparseLeadingToken.None));
        Assert.Equal([0, 3], t.Row(1).ToArray());
    }

    [Theory]
    [InlineData("2 0:1 3:2\n2 0:1\n", null, 2, "the line declares 2 pairs but has 1")]
    [InlineData("1 0:1\n1 7:1\n", 5, 2, "index 7 is beyond the given dimension 5")]
    [InlineData("2 1:1 1:2\n", null, 1, "index 1 appears twice")]
    [InlineData("1 0:1\n\n1 0:2\n", null, 2, "blank line between rows (every line is one row; write an LDA-C row with no entries as '0')")]
    [InlineData("1 0:1\n1 0=1\n", null, 2, "'0=1' is not idx:value")]
    [InlineData("1 -1:1\n", null, 1, "index -1 is below 0 (indexes are 0-based)")]
    [InlineData("1 a:1\n", null, 1, "'a' is not an integer index")]
    [InlineData("1 0:abc\n", null, 1, "'abc' (index 0) is not a number")]
    [InlineData("1 0:1e999\n", null, 1, "'1e999' (index 0) is not a finite number")]
    [InlineData("x 0:1\n", null, 1, "'x' is not a count of pairs (LDA-C lines start with one)")]
    [InlineData("\n\n", null, 0, "has no rows")]
    [InlineData("0\n0\n", null, 0, "has no entries, so the dimension is unknown (give it)")]
    public void Sparse_ErrorsAreLocated(string text, int? dimension, long line, string problem)
    {
        var p = Write("bad.ldac", text);
        var e = Fails(() => FeatureFiles.ReadSparse(p, new SparseFeatureOptions(Dimension: dimension)));
        Assert.Equal((p, line, problem), (e.Source, e.Line, e.Problem));
    }

    [Fact]
    public void Sparse_OneBasedRejectsZero()
    {
        var p = Write("bad.svm", "1 0:1\n");
        var e = Fails(() => FeatureFiles.ReadSparse(p, new SparseFeatureOptions(SparseLeadingToken.Label, OneBased: true)));
        Assert.Equal((1L, "index 0 is below 1 (indexes are 1-based)"), (e.Line, e.Problem));
    }

    [Fact]
    public void Sparse_IdsFileErrors()
    {
        var p = Write("f.ldac", "1 0:1\n1 0:2\n");
        var few = Write("few.txt", "a\n");
        var e = Fails(() => FeatureFiles.ReadSparse(p, new SparseFeatureOptions(IdsPath: few)));
        Assert.Equal((few, 0L, $"has 1 task ids but {p} has 2 rows"), (e.Source, e.Line, e.Problem));
        var dup = Write("dup.txt", "a\na\n");
        e = Fails(() => FeatureFiles.ReadSparse(p, new SparseFeatureOptions(IdsPath: dup)));
        Assert.Equal((dup, 2L, "task 'a' is listed twice (first at line 1)"), (e.Source, e.Line, e.Problem));
    }

    [Fact]
    public void Sparse_AndCsv_Agree()
    {
        var sparse = FeatureFiles.ReadSparse(Write("f.ldac", "2 0:1 2:3\n1 1:-1\n"));
        var p = Path.Combine(_dir, "dense.csv");
        FeatureFiles.WriteCsv(sparse, p);
        Assert.Equal("task,f0,f1,f2\n0,1,0,3\n1,0,-1,0\n", File.ReadAllText(p));
        var dense = FeatureFiles.ReadCsv(p);
        Assert.Equal(sparse.ToArray(), dense.ToArray());
    }

    [Fact]
    public void Align_FollowsTheAnswersTaskOrder()
    {
        var answers = new LabelMatrixBuilder();
        answers.Add("c", "w1", "x"); answers.Add("a", "w1", "y"); answers.Add("b", "w2", "x");
        var m = answers.Build().Matrix;
        var table = new FeatureTable(["a", "b", "c", "unused"], [[1.0], [2.0], [3.0], [4.0]]);
        var rows = table.Align(m);
        Assert.Equal(m.TaskCount, rows.Length);
        for (int t = 0; t < m.TaskCount; t++) Assert.Equal(table.Row(table.IndexOf(m.Tasks[t])).ToArray(), rows[t]);
        Assert.Equal(["a", "b", "c"], m.Tasks.Names);   // the matrix sorts its tasks, whatever the answers' order
        Assert.Equal([[1.0], [2.0], [3.0]], rows);
        rows[0][0] = 99; // a copy: the table is unchanged
        Assert.Equal(1.0, table.Row(0)[0]);
    }

    [Fact]
    public void Align_NamesTheFirstFiveMissingTasks()
    {
        var b = new LabelMatrixBuilder();
        foreach (var t in new[] { "a", "m1", "m2", "m3", "m4", "m5", "m6", "m7" }) b.Add(t, "w", "x");
        var table = new FeatureTable(["a"], [[1.0]], source: "feat.csv");
        var e = Fails(() => table.Align(b.Build().Matrix));
        Assert.Equal("feat.csv", e.Source);
        Assert.Equal("no feature row for 7 of the 8 tasks of the answers (first: 'm1', 'm2', 'm3', 'm4', 'm5')", e.Problem);
    }

    [Fact]
    public void Constructor_ValidatesAndCopies()
    {
        Assert.Equal("row 1 (task 'b') has 1 values, row 0 has 2",
            Fails(() => new FeatureTable(["a", "b"], [[1.0, 2.0], [1.0]])).Problem);
        Assert.Equal("row 0 (task 'a') column 1 is NaN, not a finite number",
            Fails(() => new FeatureTable(["a"], [[1.0, double.NaN]])).Problem);
        Assert.Equal("task 'a' has two feature rows (0 and 1)",
            Fails(() => new FeatureTable(["a", "a"], [[1.0], [2.0]])).Problem);
        Assert.Equal("row 1 (task 'b') has 0 values, row 0 has 1",
            Fails(() => new FeatureTable(["a", "b"], [[1.0], null!])).Problem);
        Assert.Equal("has no feature rows", Fails(() => new FeatureTable([], [])).Problem);
        Assert.Equal("has no feature columns", Fails(() => new FeatureTable(["a"], [[]])).Problem);
        Assert.Equal("1 column names for 2 columns", Fails(() => new FeatureTable(["a"], [[1.0, 2.0]], ["x"])).Problem);

        var row = new[] { 1.0 };
        var t = new FeatureTable(["a"], [row]);
        row[0] = 5;
        t.ToArray()[0][0] = 6;
        Assert.Equal(1.0, t.Row(0)[0]);
    }
}
