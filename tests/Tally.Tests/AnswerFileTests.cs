using Tally.Core;

namespace Tally.Tests;

/// <summary>Reading answers and truth: formats a user has, and a clear located error for each kind of bad input.</summary>
public sealed class AnswerFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-reader-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static TallyDataException Fails(Action read) => Assert.Throws<TallyDataException>(read);

    [Fact]
    public void Reads_crowd_kit_csv()
    {
        var m = AnswerFiles.ReadAnswers(Write("a.csv", "task,worker,label\nt1,w1,cat\nt1,w2,dog\nt2,w1,dog\n")).Matrix;
        Assert.Equal((2, 2, 3, 2), (m.TaskCount, m.WorkerCount, m.AnswerCount, m.ClassCount));
        Assert.Equal(["cat", "dog"], m.Classes.Names);
    }

    [Fact]
    public void Maps_other_column_names_tsv_quotes_and_crlf()
    {
        var path = Write("a.tsv", "answer\tquestion\tworker\r\n\"yes\"\t\"q, 1\"\tw1\r\nno\tq2\tw\"2\r\n\r\n");
        var m = AnswerFiles.ReadAnswers(path, new AnswerFileOptions(TaskColumn: "question", LabelColumn: "answer")).Matrix;
        Assert.Equal(["q, 1", "q2"], m.Tasks.Names);        // ordinal: ',' sorts before '2'
        Assert.Equal(["w\"2", "w1"], m.Workers.Names);     // ordinal: '"' sorts before '1'
        Assert.Equal(["no", "yes"], m.Classes.Names);
    }

    [Fact]
    public void Quoted_fields_with_escaped_quotes_and_delimiters()
    {
        var m = AnswerFiles.ReadAnswers(Write("q.csv", "task,worker,label\n\"a \"\"x\"\", y\",w,1\n")).Matrix;
        Assert.Equal("a \"x\", y", m.Tasks[0]);
    }

    [Fact]
    public void Given_classes_fix_the_order()
    {
        var path = Write("a.csv", "task,worker,label\nt,w,b\nt,v,a\n");
        var m = AnswerFiles.ReadAnswers(path, new AnswerFileOptions(Classes: ["a", "b", "c"])).Matrix;
        Assert.Equal(["a", "b", "c"], m.Classes.Names);
        // Workers are sorted (v, w), so the task's answers are v's "a" then w's "b".
        Assert.Equal(["v", "w"], m.Workers.Names);
        Assert.Equal([0, 1], m.LabelsOf(0).ToArray());
    }

    [Fact]
    public void Missing_file()
    {
        var e = Fails(() => AnswerFiles.ReadAnswers(Path.Combine(_dir, "nope.csv")));
        Assert.Contains("nope.csv", e.Message);
        Assert.Contains("not found", e.Message);
    }

    [Fact]
    public void Empty_file()
    {
        var e = Fails(() => AnswerFiles.ReadAnswers(Write("e.csv", "")));
        Assert.Contains("e.csv", e.Message);
        Assert.Contains("empty", e.Message);
    }

    [Fact]
    public void Header_without_answers()
    {
        var e = Fails(() => AnswerFiles.ReadAnswers(Write("h.csv", "task,worker,label\n")));
        Assert.Contains("no answers", e.Message);
    }

    [Fact]
    public void Missing_column_is_reported_on_the_header_line_with_the_columns_found()
    {
        var e = Fails(() => AnswerFiles.ReadAnswers(Write("c.csv", "task,annotator,label\nt,w,a\n")));
        Assert.Equal(1, e.Line);
        Assert.Contains("'worker'", e.Message);
        Assert.Contains("task, annotator, label", e.Message);
        Assert.StartsWith(Path.Combine(_dir, "c.csv") + ":1:", e.Message);
    }

    [Fact]
    public void Row_with_wrong_number_of_fields_names_its_line()
    {
        var e = Fails(() => AnswerFiles.ReadAnswers(Write("f.csv", "task,worker,label\nt,w,a\n\nt,v\n")));
        Assert.Equal(4, e.Line);
        Assert.Contains("expected 3 fields", e.Message);
        Assert.Contains("found 2", e.Message);
    }

    [Fact]
    public void Unknown_class_when_classes_are_given()
    {
        var path = Write("k.csv", "task,worker,label\nt,w,a\nt,v,maybe\n");
        var e = Fails(() => AnswerFiles.ReadAnswers(path, new AnswerFileOptions(Classes: ["a", "b"])));
        Assert.Equal(3, e.Line);
        Assert.Contains("'maybe'", e.Message);
    }

    [Fact]
    public void Empty_label()
    {
        var e = Fails(() => AnswerFiles.ReadAnswers(Write("l.csv", "task,worker,label\nt,w,\n")));
        Assert.Equal(2, e.Line);
        Assert.Contains("empty label", e.Message);
    }

    [Fact]
    public void Unterminated_quote()
    {
        var e = Fails(() => AnswerFiles.ReadAnswers(Write("u.csv", "task,worker,label\n\"t,w,a\n")));
        Assert.Equal(2, e.Line);
    }

    [Fact]
    public void Duplicates_are_dropped_and_counted_or_rejected_with_both_lines()
    {
        var path = Write("d.csv", "task,worker,label\nt,w,a\nt,v,b\nt,w,b\n");
        var build = AnswerFiles.ReadAnswers(path);
        Assert.Equal(1, build.DroppedDuplicates);
        Assert.Equal(2, build.Matrix.AnswerCount);
        var e = Fails(() => AnswerFiles.ReadAnswers(path, new AnswerFileOptions(Duplicates: DuplicatePolicy.Error)));
        Assert.Equal(4, e.Line);
        Assert.Contains("line 2", e.Message);
    }

    [Fact]
    public void Truth_file_reports_unknown_tasks_and_rejects_unknown_classes()
    {
        var m = AnswerFiles.ReadAnswers(Write("a.csv", "task,worker,label\nt1,w,x\nt2,w,y\n")).Matrix;
        var truth = AnswerFiles.ReadTruth(Write("t.csv", "task,truth\nt1,y\nt9,x\n"), m);
        Assert.Equal(2, truth.Rows);
        Assert.Equal(1, truth.UnknownTasks);
        Assert.Equal(1, truth.Labels[0]);
        Assert.Equal(-1, truth.Labels[1]);
        var e = Fails(() => AnswerFiles.ReadTruth(Write("bad.csv", "task,truth\nt1,z\n"), m));
        Assert.Equal(2, e.Line);
        Assert.Contains("'z'", e.Message);
    }

    [Fact]
    public void Truth_for_a_task_list_is_read_in_its_order_and_bad_rows_are_located()
    {
        string[] tasks = ["s1", "s2", "s3"], classes = ["pop", "rock"];
        var ok = Write("t.csv", "task,label\ns3,rock\ns1,pop\n");
        Assert.Equal([0, -1, 1], AnswerFiles.ReadTruth(ok, tasks, classes));
        var missing = Assert.Throws<TallyDataException>(() => AnswerFiles.ReadTruth(ok, tasks, classes, requireAll: true));
        Assert.Contains("no truth for 1 tasks (first: s2)", missing.Message);
        var unknown = Assert.Throws<TallyDataException>(() => AnswerFiles.ReadTruth(Write("u.csv", "task,truth\ns1,pop\ns9,rock\n"), tasks, classes));
        Assert.Equal(3, unknown.Line);
        Assert.Contains("s9", unknown.Message);
        var twice = Assert.Throws<TallyDataException>(() => AnswerFiles.ReadTruth(Write("d.csv", "task,truth\ns1,pop\ns1,pop\n"), tasks, classes));
        Assert.Equal(3, twice.Line);
        var badClass = Assert.Throws<TallyDataException>(() => AnswerFiles.ReadTruth(Write("c.csv", "task,truth\ns1,jazz\n"), tasks, classes));
        Assert.Contains("jazz", badClass.Message);
    }
}
