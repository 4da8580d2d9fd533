using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Tally.Core;

namespace Tally.Tests;

/// <summary>
/// <see cref="LabelMatrixBuilder.Assemble"/> groups the answers in two passes (buckets by the key's high bits, then a
/// counting sort inside each bucket): its indexes must be exactly those of a plain stable sort, for key counts below,
/// at and far above the bucket count, for tasks with many answers (the comparison-sort path), and for any thread count.
/// </summary>
public class MatrixAssemblyTests
{
    public static TheoryData<int, int, int, int, DuplicatePolicy> Shapes => new()
    {
        { 1, 1, 5, 2, DuplicatePolicy.KeepAll },
        { 3, 700, 2_000, 3, DuplicatePolicy.KeepAll },        // few tasks: dozens of answers each (comparison sort)
        { 256, 257, 5_000, 2, DuplicatePolicy.KeepAll },      // at the bucket count
        { 4_099, 1_031, 60_000, 5, DuplicatePolicy.KeepAll }, // buckets of 16 and 4 keys, a partial last bucket
        { 120_001, 3_001, 400_000, 2, DuplicatePolicy.KeepAll }, // large enough for the parallel parts
        { 5_000, 40, 60_000, 3, DuplicatePolicy.KeepFirst },  // repeated (task, worker) pairs
        { 5_000, 40, 60_000, 3, DuplicatePolicy.KeepLast },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Indexes_equal_a_stable_sort_for_any_thread_count(int tasks, int workers, int n, int classes, DuplicatePolicy policy)
    {
        var rng = new Random(tasks * 31 + n);
        var t = new int[n];
        var w = new int[n];
        var l = new int[n];
        for (int i = 0; i < n; i++)
        {
            // Skewed keys: a quarter of the answers go to the first few tasks and workers.
            t[i] = rng.Next(4) == 0 ? rng.Next(Math.Min(tasks, 3)) : rng.Next(tasks);
            w[i] = rng.Next(4) == 0 ? rng.Next(Math.Min(workers, 5)) : rng.Next(workers);
            l[i] = rng.Next(classes);
        }
        t[n - 1] = tasks - 1; w[n - 1] = workers - 1; // every key range reaches its end

        // The reference: answers ordered by (task, worker[, class], row); duplicates dropped by the policy; then each
        // worker's answers in by-task order.
        bool byLabel = policy == DuplicatePolicy.KeepAll && classes > 1;
        var order = Enumerable.Range(0, n).OrderBy(i => t[i]).ThenBy(i => w[i]).ThenBy(i => byLabel ? l[i] : 0).ThenBy(i => i).ToList();
        if (policy != DuplicatePolicy.KeepAll)
        {
            var groups = order.GroupBy(i => (t[i], w[i]));
            order = groups.Select(g => policy == DuplicatePolicy.KeepFirst ? g.First() : g.Last()).ToList();
        }
        int[] expectedTaskOffsets = new int[tasks + 1];
        foreach (int i in order) expectedTaskOffsets[t[i] + 1]++;
        for (int k = 0; k < tasks; k++) expectedTaskOffsets[k + 1] += expectedTaskOffsets[k];
        var byWorker = Enumerable.Range(0, order.Count).OrderBy(p => w[order[p]]).ThenBy(p => p).ToList();

        LabelMatrix? first = null;
        // One segment on one thread; then the input cut into segments (as the parallel reader's chunks hand it over,
        // empty ones and one-row ones included) on two and three threads.
        foreach (int threads in new[] { 1, 2, 3 })
        {
            var answers = threads == 1 ? AnswerColumns.Single((int[])t.Clone(), (int[])w.Clone(), (int[])l.Clone(), n) : Segmented(t, w, l, rng);
            var build = LabelMatrixBuilder.Assemble(Vocabulary.Numbered(tasks), Vocabulary.Numbered(workers), Vocabulary.Numbered(classes),
                answers, null, policy, null, new ComputeOptions { MaxDegreeOfParallelism = threads });
            var m = build.Matrix;
            Assert.Equal(n - order.Count, build.DroppedDuplicates);
            Assert.Equal(expectedTaskOffsets, m.TaskOffsets.ToArray());
            Assert.Equal(order.Select(i => w[i]), m.TaskWorkers.ToArray());
            Assert.Equal(order.Select(i => l[i]), m.TaskLabels.ToArray());
            Assert.Equal(byWorker.Select(p => t[order[p]]), m.WorkerTasks.ToArray());
            Assert.Equal(byWorker.Select(p => l[order[p]]), m.WorkerLabels.ToArray());
            Assert.Equal(byWorker, m.WorkerAnswerIds.ToArray());
            if (first is null) { first = m; continue; }
            Assert.Equal(first.WorkerOffsets.ToArray(), m.WorkerOffsets.ToArray());
        }
    }

    /// <summary>The answers cut at random places into segments (some empty, some of one row), each in an array longer than it.</summary>
    private static AnswerColumns Segmented(int[] t, int[] w, int[] l, Random rng)
    {
        var cuts = new List<int> { 0 };
        while (cuts[^1] < t.Length)
        {
            int size = rng.Next(4) switch { 0 => 0, 1 => 1, _ => rng.Next(1, Math.Max(2, t.Length / 5)) };
            cuts.Add(Math.Min(t.Length, cuts[^1] + size));
        }
        cuts.Add(t.Length); // an empty segment at the end
        int segments = cuts.Count - 1;
        var ts = new int[segments][];
        var ws = new int[segments][];
        var ls = new int[segments][];
        for (int s = 0; s < segments; s++)
        {
            int from = cuts[s], length = cuts[s + 1] - from;
            ts[s] = new int[length + 3]; ws[s] = new int[length + 3]; ls[s] = new int[length + 3];
            Array.Copy(t, from, ts[s], 0, length); Array.Copy(w, from, ws[s], 0, length); Array.Copy(l, from, ls[s], 0, length);
        }
        return new AnswerColumns(ts, ws, ls, cuts.ToArray());
    }

    /// <summary>
    /// The by-worker index is made on first use: whether the degrees or the whole index are asked for first, on one
    /// thread or on many at once, and through a copy with gold labels, the arrays are the same.
    /// </summary>
    [Fact]
    public void The_by_worker_index_made_on_demand_is_the_same_whoever_asks_first()
    {
        const int tasks = 30_000, workers = 700, n = 150_000;
        var rng = new Random(7);
        var t = new int[n];
        var w = new int[n];
        var l = new int[n];
        for (int i = 0; i < n; i++) { t[i] = rng.Next(tasks); w[i] = rng.Next(workers); l[i] = rng.Next(3); }
        LabelMatrix Build() => LabelMatrixBuilder.Assemble(Vocabulary.Numbered(tasks), Vocabulary.Numbered(workers), Vocabulary.Numbered(3),
            AnswerColumns.Single((int[])t.Clone(), (int[])w.Clone(), (int[])l.Clone(), n), null, DuplicatePolicy.KeepLast, null, null).Matrix;

        var full = Build();
        var reference = (Offsets: full.WorkerOffsets.ToArray(), Tasks: full.WorkerTasks.ToArray(), Ids: full.WorkerAnswerIds.ToArray());
        // The degrees first (a count), then the whole index: the same offsets either way.
        var degrees = Build();
        var counted = degrees.WorkerOffsets.ToArray();
        Assert.Equal(reference.Offsets, counted);
        Assert.Equal(reference.Tasks, degrees.WorkerTasks.ToArray());
        Assert.Equal(reference.Offsets, degrees.WorkerOffsets.ToArray());
        for (int k = 0; k < workers; k++) Assert.Equal(reference.Offsets[k + 1] - reference.Offsets[k], degrees.WorkerDegree(k));

        // Many threads at once, half of them through a copy with gold labels (which shares the index).
        var shared = Build();
        var withGold = shared.WithGold(new GoldLabels(Enumerable.Repeat(-1, tasks).ToArray(), 3));
        var seen = new (int[] Tasks, int[] Ids)[16];
        Parallel.For(0, seen.Length, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            var m = i % 2 == 0 ? shared : withGold;
            seen[i] = (m.WorkerTasks.ToArray(), m.WorkerAnswerIds.ToArray());
        });
        foreach (var (ts, ids) in seen)
        {
            Assert.Equal(reference.Tasks, ts);
            Assert.Equal(reference.Ids, ids);
        }
        Assert.True(Unsafe.AreSame(ref MemoryMarshal.GetReference(shared.WorkerTasks), ref MemoryMarshal.GetReference(withGold.WorkerTasks)),
            "the copy with gold labels built an index of its own");
    }
}
