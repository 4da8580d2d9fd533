using Tally.Core;

namespace Tally.Mechanisms;

/// <summary>Sampling and counting kernels shared by the mechanisms.</summary>
internal static class MechanismKernel
{
    /// <summary>
    /// RPTSC's frequency sample: up to <paramref name="sampleSize"/> reports drawn uniformly from answers to tasks other
    /// than <paramref name="task"/> by agents other than <paramref name="agent"/> (rejection sampling; the try limit only
    /// bites when almost every answer is on the task or by the agent, and then the sample is simply smaller).
    /// Returns how many were drawn and how many equal <paramref name="report"/>.
    /// </summary>
    public static (int Drawn, int Same) SampleOtherReports(ref SplitMix64 r, int[] answerTask, ReadOnlySpan<int> taskWorkers,
        ReadOnlySpan<int> taskLabels, int task, int agent, int report, int sampleSize, int maxTries)
    {
        int drawn = 0, same = 0, answers = answerTask.Length;
        for (int tries = 0; drawn < sampleSize && tries < maxTries; tries++)
        {
            int s = r.Next(answers);
            if (answerTask[s] == task || taskWorkers[s] == agent) continue;
            drawn++;
            if (taskLabels[s] == report) same++;
        }
        return (drawn, same);
    }

    /// <summary>
    /// Runs <paramref name="body"/> for every agent, in parallel (up to <paramref name="compute"/>'s thread cap) when
    /// <paramref name="work"/> (≈ inner-loop steps) is large; each thread gets its own scratch from
    /// <paramref name="scratch"/>. Bodies write only to their own agent's slots, so no partition can change a result.
    /// Agents are handled in about a hundred fixed blocks; between blocks the loop reports the agents done and
    /// honours <paramref name="cancellationToken"/>.
    /// </summary>
    public static void ForEachAgent<TScratch>(int agents, long work, ComputeOptions? compute, IProgress<WorkProgress>? progress,
        CancellationToken cancellationToken, Func<TScratch> scratch, Action<int, TScratch> body)
    {
        int threads = (compute ?? ComputeOptions.Default).Threads;
        int blockSize = Math.Max(1, (agents + 99) / 100);
        int blocks = (agents + blockSize - 1) / blockSize;
        long done = 0;
        var gate = new object();
        void Block(int b, TScratch s)
        {
            int start = b * blockSize, end = Math.Min(agents, start + blockSize);
            for (int i = start; i < end; i++) body(i, s);
            if (progress is null) return;
            // One report at a time, with a count that only grows.
            lock (gate) { done += end - start; progress.Report(new WorkProgress(done, agents)); }
        }
        if (threads <= 1 || agents <= 1 || work < Parallelism.MinParallelWork)
        {
            var s = scratch();
            for (int b = 0; b < blocks; b++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                Block(b, s);
            }
            return;
        }
        Parallel.For(0, blocks, new ParallelOptions { MaxDegreeOfParallelism = threads, CancellationToken = cancellationToken },
            scratch, (b, _, s) => { Block(b, s); return s; }, _ => { });
        cancellationToken.ThrowIfCancellationRequested();
    }

    /// <summary>The task of each answer id (task-side index), so a uniformly drawn answer can be checked against a task in O(1).</summary>
    public static int[] AnswerTasks(LabelMatrix m)
    {
        var answerTask = new int[m.AnswerCount];
        var offsets = m.TaskOffsets;
        for (int t = 0; t < m.TaskCount; t++)
            for (int a = offsets[t]; a < offsets[t + 1]; a++) answerTask[a] = t;
        return answerTask;
    }

    /// <summary>
    /// REFORM's new peer on a task: the answer id of a uniformly chosen answer to <paramref name="task"/> by a worker
    /// other than <paramref name="agent"/> not yet tried for this report (<paramref name="tried"/>), or −1 if every
    /// other worker was tried. Exact scan: re-pairings are rare and tasks short.
    /// </summary>
    public static int PickNewPeer(LabelMatrix m, int task, int agent, TriedPeers tried, ref SplitMix64 rng)
    {
        var offsets = m.TaskOffsets;
        var workers = m.TaskWorkers;
        int start = offsets[task], end = offsets[task + 1], count = 0;
        for (int a = start; a < end; a++) if (workers[a] != agent && !tried.Contains(workers[a])) count++;
        if (count == 0) return -1;
        int pick = rng.Next(count);
        for (int a = start; a < end; a++)
            if (workers[a] != agent && !tried.Contains(workers[a]) && pick-- == 0) return a;
        return -1;
    }

    /// <summary>
    /// Answer id of a uniformly chosen answer to <paramref name="task"/> by a worker other than <paramref name="agent"/>,
    /// or −1 if there is none. Rejection first (O(1) expected when the agent holds one answer), exact scan as fallback.
    /// </summary>
    public static int PickOtherAnswer(LabelMatrix m, int task, int agent, ref SplitMix64 rng)
    {
        var offsets = m.TaskOffsets;
        var workers = m.TaskWorkers;
        int start = offsets[task], deg = offsets[task + 1] - start;
        if (deg == 0) return -1;
        for (int tries = 0; tries < 16; tries++)
        {
            int a = start + rng.Next(deg);
            if (workers[a] != agent) return a;
        }
        int others = 0;
        for (int a = start; a < start + deg; a++) if (workers[a] != agent) others++;
        if (others == 0) return -1;
        int r = rng.Next(others);
        for (int a = start; a < start + deg; a++)
            if (workers[a] != agent && r-- == 0) return a;
        return -1;
    }

    /// <summary>
    /// A uniformly chosen position of <paramref name="tasks"/> whose task is neither <paramref name="exclude1"/> nor
    /// <paramref name="exclude2"/>, or −1 if there is none.
    /// </summary>
    public static int PickPosition(ReadOnlySpan<int> tasks, int exclude1, int exclude2, ref SplitMix64 rng)
    {
        int n = tasks.Length;
        if (n == 0) return -1;
        for (int tries = 0; tries < 16; tries++)
        {
            int p = rng.Next(n);
            if (tasks[p] != exclude1 && tasks[p] != exclude2) return p;
        }
        int ok = 0;
        for (int p = 0; p < n; p++) if (tasks[p] != exclude1 && tasks[p] != exclude2) ok++;
        if (ok == 0) return -1;
        int r = rng.Next(ok);
        for (int p = 0; p < n; p++)
            if (tasks[p] != exclude1 && tasks[p] != exclude2 && r-- == 0) return p;
        return -1;
    }

    /// <summary>
    /// Counts, for every other worker, the distinct tasks it shares with <paramref name="agent"/>: afterwards
    /// <paramref name="shared"/>[w] holds the count for the <c>return value</c> workers listed in <paramref name="touched"/>.
    /// <paramref name="seen"/> is scratch (all zero on entry). Call <see cref="ResetShared"/> when done.
    /// </summary>
    public static int CountShared(LabelMatrix m, int agent, int[] shared, int[] seen, int[] touched)
    {
        var tasks = m.TasksOf(agent);
        int nTouched = 0, prev = -1;
        foreach (int t in tasks)
        {
            if (t == prev) continue; // duplicate answers: a task is shared once
            prev = t;
            foreach (int w in m.WorkersOf(t))
            {
                if (w == agent || seen[w] == t + 1) continue;
                seen[w] = t + 1;
                if (shared[w]++ == 0) touched[nTouched++] = w;
            }
        }
        return nTouched;
    }

    /// <summary>Clears what <see cref="CountShared"/> wrote.</summary>
    public static void ResetShared(int[] shared, int[] seen, ReadOnlySpan<int> touched)
    {
        foreach (int w in touched) { shared[w] = 0; seen[w] = 0; }
    }

    /// <summary>
    /// The reports of agents <paramref name="i"/> and <paramref name="j"/> on the tasks both answered, in task order
    /// (with duplicate answers, each agent's first answer to the task): labels into <paramref name="li"/>,
    /// <paramref name="lj"/> and tasks into <paramref name="tasksOut"/>; returns their number.
    /// </summary>
    public static int SharedReports(LabelMatrix m, int i, int j, Span<int> li, Span<int> lj, Span<int> tasksOut)
    {
        var ti = m.TasksOf(i); var ri = m.LabelsBy(i);
        var tj = m.TasksOf(j); var rj = m.LabelsBy(j);
        int a = 0, b = 0, n = 0;
        while (a < ti.Length && b < tj.Length)
        {
            int x = ti[a], y = tj[b];
            if (x < y) a++;
            else if (y < x) b++;
            else
            {
                li[n] = ri[a]; lj[n] = rj[b]; tasksOut[n] = x; n++;
                while (a < ti.Length && ti[a] == x) a++;
                while (b < tj.Length && tj[b] == x) b++;
            }
        }
        return n;
    }

    /// <summary>Largest number of answers by one worker (the most any shared-task buffer needs).</summary>
    public static int MaxWorkerDegree(LabelMatrix m)
    {
        int max = 0;
        for (int w = 0; w < m.WorkerCount; w++) max = Math.Max(max, m.WorkerDegree(w));
        return max;
    }

    /// <summary>Σ_t deg(t)², the cost of scanning every agent's co-workers (<see cref="CountShared"/> for all agents).</summary>
    public static long CoOccurrences(LabelMatrix m)
    {
        long sum = 0;
        for (int t = 0; t < m.TaskCount; t++) { long d = m.TaskDegree(t); sum += d * d; }
        return sum;
    }

    /// <summary>
    /// Fails fast on a null argument, validates the options (<see cref="MechanismOptions.Validate"/>) and checks the
    /// memory of the K × K tables every mechanism keeps per thread (joint counts, scores): 10,000 classes make each
    /// one 800 MB, and K² overflows a 32-bit size beyond 46,340 classes.
    /// </summary>
    /// <exception cref="MemoryLimitException">The K × K tables would not fit.</exception>
    public static void Check(LabelMatrix reports, MechanismOptions options, ComputeOptions? compute, string mechanism)
    {
        ArgumentNullException.ThrowIfNull(reports);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        compute?.Validate();
        double k = reports.ClassCount;
        int threads = (compute ?? ComputeOptions.Default).Threads;
        MemoryBudget.Require(mechanism, (4.0 * threads + 2) * Footprint.Doubles(k * k),
            $"K × K tables of {k:N0} classes for each of {threads} threads",
            "peer prediction compares reports class by class; merge rare classes, or use fewer threads", compute);
    }
}

/// <summary>
/// Per-thread scratch of the mechanisms that pay an agent from its reports paired, task by task, with another
/// source's over the tasks both cover — a peer's (TVD-MI, DMI) or recovered labels (RMIF-DS) — and the one loop that
/// finds each agent's eligible peers (<see cref="ForEachAgentsPeers"/>).
/// </summary>
internal sealed class PairScratch
{
    private readonly int[] _shared, _seen, _touched;

    public PairScratch(int workers, int tasks, int maxDegree, int k)
    {
        TaskMark = new int[tasks];
        _shared = new int[workers];
        _seen = new int[workers];
        _touched = new int[workers];
        Eligible = new int[workers];
        Li = new int[maxDegree];
        Lj = new int[maxDegree];
        Tasks = new int[maxDegree];
        Joint = new long[MemoryBudget.Length(k, k)];
        Joint2 = new long[MemoryBudget.Length(k, k)];
        Ri = new long[k];
        Rj = new long[k];
        Lu = new double[MemoryBudget.Length(k, k)];
    }

    /// <summary>The eligible peers found by <see cref="EligiblePeers"/>, in worker order.</summary>
    public readonly int[] Eligible;
    /// <summary>The paired reports: the agent's in <see cref="Li"/>, the other source's in <see cref="Lj"/>, their tasks in <see cref="Tasks"/>.</summary>
    public readonly int[] Li, Lj, Tasks;
    /// <summary>K×K and K-sized count buffers for the pair estimators.</summary>
    public readonly long[] Joint, Joint2, Ri, Rj;
    /// <summary>K×K elimination buffer.</summary>
    public readonly double[] Lu;
    /// <summary>Per-task marks for counting distinct tasks (a mark equals <see cref="Stamp"/> once counted).</summary>
    public readonly int[] TaskMark;
    /// <summary>The current mark; increment to clear <see cref="TaskMark"/>.</summary>
    public int Stamp;
    /// <summary>The number of pairs the last <see cref="PairsWith"/> gathered.</summary>
    public int LastShared { get; private set; }

    /// <summary>
    /// The peers of <paramref name="agent"/> sharing at least <paramref name="minShared"/> distinct tasks with it, into
    /// <see cref="Eligible"/> in worker order (so a draw among them depends only on who they are, not on the scan);
    /// returns their number. <paramref name="tasksShared"/> is the number of the agent's distinct tasks shared with at
    /// least one of them, counted only when <paramref name="countTasks"/>.
    /// </summary>
    public int EligiblePeers(LabelMatrix m, int agent, int minShared, bool countTasks, out int tasksShared)
    {
        int nTouched = MechanismKernel.CountShared(m, agent, _shared, _seen, _touched);
        int nEligible = 0;
        for (int q = 0; q < nTouched; q++)
            if (_shared[_touched[q]] >= minShared) Eligible[nEligible++] = _touched[q];
        tasksShared = 0;
        if (countTasks && nEligible > 0)
        {
            int prev = -1;
            foreach (int t in m.TasksOf(agent))
            {
                if (t == prev) continue;
                prev = t;
                foreach (int w in m.WorkersOf(t))
                    if (w != agent && _shared[w] >= minShared) { tasksShared++; break; }
            }
        }
        MechanismKernel.ResetShared(_shared, _seen, _touched.AsSpan(0, nTouched));
        Array.Sort(Eligible, 0, nEligible);
        return nEligible;
    }

    /// <summary>The reports of <paramref name="agent"/> and <paramref name="peer"/> on the tasks both answered (see <see cref="MechanismKernel.SharedReports"/>); returns their number.</summary>
    public int PairsWith(LabelMatrix m, int agent, int peer) => LastShared = MechanismKernel.SharedReports(m, agent, peer, Li, Lj, Tasks);

    /// <summary>
    /// The reports of <paramref name="agent"/> paired with <paramref name="labels"/>[task] on its tasks not in
    /// <paramref name="skip"/> (every answer counts, duplicates included); returns their number.
    /// </summary>
    public int PairsWithLabels(LabelMatrix m, int agent, ReadOnlySpan<int> labels, ReadOnlySpan<bool> skip)
    {
        var tasks = m.TasksOf(agent);
        var mine = m.LabelsBy(agent);
        int n = 0;
        for (int p = 0; p < tasks.Length; p++)
        {
            int t = tasks[p];
            if (skip[t]) continue;
            Li[n] = mine[p];
            Lj[n] = labels[t];
            Tasks[n] = t;
            n++;
        }
        return n;
    }

    /// <summary>
    /// For every agent (see <see cref="MechanismKernel.ForEachAgent"/>): its peers sharing at least
    /// <paramref name="minShared"/> tasks (<see cref="EligiblePeers"/>), then <paramref name="body"/>(agent, scratch,
    /// number of eligible peers, tasks shared with them) — which gathers the pairs it needs with <see cref="PairsWith"/>.
    /// </summary>
    public static void ForEachAgentsPeers(LabelMatrix m, int minShared, bool countTasks, long work, ComputeOptions? compute,
        IProgress<WorkProgress>? progress, CancellationToken ct, Action<int, PairScratch, int, int> body)
    {
        int maxDeg = MechanismKernel.MaxWorkerDegree(m), W = m.WorkerCount, K = m.ClassCount;
        MechanismKernel.ForEachAgent(W, work, compute, progress, ct, () => new PairScratch(W, m.TaskCount, maxDeg, K), (i, s) =>
        {
            int nEligible = s.EligiblePeers(m, i, minShared, countTasks, out int tasksShared);
            body(i, s, nEligible, tasksShared);
        });
    }
}
