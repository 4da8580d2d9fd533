using Tally.Core;

namespace Tally.Mechanisms;

/// <summary>
/// A small, allocation-free random stream (SplitMix64) owned by one agent or one pair of agents. Every agent draws
/// from its own stream derived from one base seed, so payments do not depend on the order in which threads run.
/// </summary>
internal struct AgentRng
{
    private ulong _state;

    private AgentRng(ulong state) => _state = state;

    /// <summary>The stream number <paramref name="stream"/> under <paramref name="baseSeed"/>.</summary>
    public static AgentRng For(ulong baseSeed, ulong stream) =>
        new(Mix(baseSeed ^ Mix(stream + 0x632BE59BD9B4E019UL)));

    /// <summary>The stream of the unordered pair {a, b} (same stream whichever agent asks), distinct from agent streams.</summary>
    public static AgentRng ForPair(ulong baseSeed, int a, int b)
    {
        ulong lo = (ulong)Math.Min(a, b), hi = (ulong)Math.Max(a, b);
        return new(Mix(Mix(baseSeed + 0xD1B54A32D192ED03UL) ^ Mix((hi << 32 | lo) ^ 0x8CB92BA72F3D8DD7UL)));
    }

    /// <summary>Draws the base seed of one <c>Pay</c> call (exactly one draw, so the caller's stream advances predictably).</summary>
    public static ulong BaseSeed(Random rng) => (ulong)rng.NextInt64(long.MinValue, long.MaxValue);

    public ulong NextUInt64()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        return Mix(z);
    }

    /// <summary>Uniform in [0, n) by the multiply-shift method (bias below n / 2³², irrelevant here).</summary>
    public int Next(int n) => (int)(((NextUInt64() >> 32) * (uint)n) >> 32);

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}

/// <summary>Sampling and counting kernels shared by the mechanisms.</summary>
internal static class MechanismKernel
{
    /// <summary>
    /// RPTSC's frequency sample: up to <paramref name="sampleSize"/> reports drawn uniformly from answers to tasks other
    /// than <paramref name="task"/> by agents other than <paramref name="agent"/> (rejection sampling; the try limit only
    /// bites when almost every answer is on the task or by the agent, and then the sample is simply smaller).
    /// Returns how many were drawn and how many equal <paramref name="report"/>.
    /// </summary>
    public static (int Drawn, int Same) SampleOtherReports(ref AgentRng r, int[] answerTask, ReadOnlySpan<int> taskWorkers,
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

    /// <summary>Below this much work (≈ inner-loop steps) agents are paid on the calling thread: threads cost more than they save.</summary>
    private const long ParallelThreshold = 200_000;

    /// <summary>
    /// Runs <paramref name="body"/> for every agent, in parallel when <paramref name="work"/> is large; each thread gets
    /// its own scratch from <paramref name="scratch"/>. Bodies write only to their own agent's slots.
    /// </summary>
    public static void ForEachAgent<TScratch>(int agents, long work, Func<TScratch> scratch, Action<int, TScratch> body)
    {
        if (agents <= 1 || work < ParallelThreshold || Environment.ProcessorCount == 1)
        {
            var s = scratch();
            for (int i = 0; i < agents; i++) body(i, s);
            return;
        }
        Parallel.For(0, agents, scratch, (i, _, s) => { body(i, s); return s; }, _ => { });
    }

    /// <summary>
    /// Answer id of a uniformly chosen answer to <paramref name="task"/> by a worker other than <paramref name="agent"/>,
    /// or −1 if there is none. Rejection first (O(1) expected when the agent holds one answer), exact scan as fallback.
    /// </summary>
    public static int PickOtherAnswer(LabelMatrix m, int task, int agent, ref AgentRng rng)
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
    public static int PickPosition(ReadOnlySpan<int> tasks, int exclude1, int exclude2, ref AgentRng rng)
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

    /// <summary>Fails fast on a null argument.</summary>
    public static void Check(LabelMatrix reports, Random rng)
    {
        ArgumentNullException.ThrowIfNull(reports);
        ArgumentNullException.ThrowIfNull(rng);
    }
}
