using Tally.Core;

namespace Tally.Tests;

public class LabelMatrixTests
{
    [Fact]
    public void Csr_indexes_agree_in_both_directions()
    {
        var m = TestData.RandomMatrix(7, 30, 10, 3);
        // Every answer reached by task is reached by worker exactly once, with the same label.
        var seen = new int[m.AnswerCount];
        for (int w = 0; w < m.WorkerCount; w++)
        {
            var tasks = m.TasksOf(w);
            var labels = m.LabelsBy(w);
            for (int i = 0; i < tasks.Length; i++)
            {
                int id = m.WorkerAnswerIds[m.WorkerOffsets[w] + i];
                seen[id]++;
                Assert.Equal(w, m.TaskWorkers[id]);
                Assert.Equal(labels[i], m.TaskLabels[id]);
                Assert.True(id >= m.TaskOffsets[tasks[i]] && id < m.TaskOffsets[tasks[i] + 1]);
                if (i > 0) Assert.True(tasks[i - 1] <= tasks[i], "a worker's answers are ordered by task");
            }
        }
        Assert.All(seen, c => Assert.Equal(1, c));
        Assert.Equal(m.AnswerCount, m.TaskOffsets[m.TaskCount]);
        Assert.Equal(m.AnswerCount, m.WorkerOffsets[m.WorkerCount]);
    }

    [Fact]
    public void Identifiers_are_sorted_and_keep_their_exact_text()
    {
        var m = TestData.Matrix([("b 1", "w", "yes"), ("a", "w", "no"), ("b 1", "v", "no")]);
        Assert.Equal(["a", "b 1"], m.Tasks.Names);
        Assert.Equal(["v", "w"], m.Workers.Names);
        Assert.Equal(["no", "yes"], m.Classes.Names);
        Assert.Equal(3, m.AnswerCount);
        Assert.Equal(2, m.TaskDegree(1));
        // A task's answers are ordered by worker: v's "no", then w's "yes".
        Assert.Equal([0, 1], m.WorkersOf(1).ToArray());
        Assert.Equal([0, 1], m.LabelsOf(1).ToArray());
    }

    [Fact]
    public void Numeric_identifiers_sort_by_value_and_first_seen_class_order_is_kept_on_request()
    {
        var b = new LabelMatrixBuilder(classOrder: ClassOrder.FirstSeen);
        b.Add("10", "7", "yes"); b.Add("9", "10", "no"); b.Add("2", "7", "maybe"); b.Add("2", "x", "no");
        var m = b.Build().Matrix;
        Assert.Equal(["2", "9", "10"], m.Tasks.Names);            // numbers: by value
        Assert.Equal(["10", "7", "x"], m.Workers.Names);          // not all numbers: ordinal
        Assert.Equal(["yes", "no", "maybe"], m.Classes.Names);    // first appearance, as asked
        var sorted = new LabelMatrixBuilder();
        sorted.Add("t", "w", "10"); sorted.Add("t", "v", "9"); sorted.Add("u", "w", "-1.5");
        Assert.Equal(["-1.5", "9", "10"], sorted.Build().Matrix.Classes.Names);
    }

    [Fact]
    public void The_same_answers_in_any_row_order_give_the_same_matrix()
    {
        (string, string, string)[] rows = [("t2", "w1", "b"), ("t1", "w2", "a"), ("t1", "w1", "b"), ("t3", "w3", "c"), ("t2", "w3", "a")];
        var first = TestData.Matrix(rows);
        var reversed = TestData.Matrix([.. rows.Reverse()]);
        Assert.Equal(first.Tasks.Names, reversed.Tasks.Names);
        Assert.Equal(first.Workers.Names, reversed.Workers.Names);
        Assert.Equal(first.Classes.Names, reversed.Classes.Names);
        Assert.Equal(first.TaskOffsets.ToArray(), reversed.TaskOffsets.ToArray());
        Assert.Equal(first.TaskWorkers.ToArray(), reversed.TaskWorkers.ToArray());
        Assert.Equal(first.TaskLabels.ToArray(), reversed.TaskLabels.ToArray());
        Assert.Equal(first.WorkerTasks.ToArray(), reversed.WorkerTasks.ToArray());
        Assert.Equal(first.WorkerAnswerIds.ToArray(), reversed.WorkerAnswerIds.ToArray());
    }

    [Theory]
    [InlineData(DuplicatePolicy.KeepLast, "c", 2)]
    [InlineData(DuplicatePolicy.KeepFirst, "a", 2)]
    [InlineData(DuplicatePolicy.KeepAll, null, 0)]
    public void Duplicate_answers_follow_the_policy(DuplicatePolicy policy, string? kept, int dropped)
    {
        var b = new LabelMatrixBuilder();
        b.Add("t", "w", "a");
        b.Add("u", "w", "b");
        b.Add("t", "w", "b");
        b.Add("t", "x", "a");
        b.Add("t", "w", "c");
        var build = b.Build(policy);
        Assert.Equal(dropped, build.DroppedDuplicates);
        var m = build.Matrix;
        int t = m.Tasks.IndexOf("t"), w = m.Workers.IndexOf("w");
        var labelsOfW = new List<string>();
        var workers = m.WorkersOf(t);
        var labels = m.LabelsOf(t);
        for (int i = 0; i < workers.Length; i++) if (workers[i] == w) labelsOfW.Add(m.Classes[labels[i]]);
        if (kept is null) Assert.Equal(["a", "b", "c"], labelsOfW);
        else Assert.Equal([kept], labelsOfW);
    }

    [Fact]
    public void Duplicate_policy_error_names_the_pair()
    {
        var b = new LabelMatrixBuilder();
        b.Add("t", "w", "a");
        b.Add("t", "w", "b");
        var e = Assert.Throws<DuplicateAnswerException>(() => b.Build(DuplicatePolicy.Error));
        Assert.Contains("'w'", e.Message);
        Assert.Contains("'t'", e.Message);
    }

    [Fact]
    public void Fixed_classes_reject_unknown_answers()
    {
        var b = new LabelMatrixBuilder(["x", "y"]);
        Assert.Throws<ArgumentException>(() => b.Add("t", "w", "z"));
        b.Add("t", "w", "y");
        var m = b.Build().Matrix;
        Assert.Equal(2, m.ClassCount);
        Assert.Equal(1, m.TaskLabels[0]);
    }

    [Fact]
    public void Gold_labels_must_fit_the_matrix()
    {
        var m = TestData.Matrix([("t", "w", "a"), ("u", "w", "b")]);
        Assert.Throws<ArgumentException>(() => m.WithGold(new GoldLabels([0, 1, 1], 2)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new GoldLabels([0, 2], 2));
        var g = m.WithGold(new GoldLabels([-1, 1], 2));
        Assert.Equal(1, g.Gold!.KnownCount);
        Assert.Equal(m.AnswerCount, g.AnswerCount);
    }
}
