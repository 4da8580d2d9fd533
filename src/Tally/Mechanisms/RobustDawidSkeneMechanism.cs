using System.Collections.Immutable;
using Tally.Aggregation;
using Tally.Core;
using Tally.Robust;

namespace Tally.Mechanisms;

/// <summary>Options of <see cref="RobustDawidSkeneMechanism"/>.</summary>
public sealed record RobustDawidSkeneMechanismOptions : MechanismOptions
{
    /// <summary>
    /// Stage-1 model options (β, batching, tensor restarts, probability floor). Its seed is replaced by one derived
    /// from <see cref="MechanismOptions.Seed"/> for each group. Default: <see cref="RobustDawidSkeneOptions"/> defaults
    /// (β = 0.1, <see cref="MomentBatching.Worker"/> batches).
    /// </summary>
    public RobustDawidSkeneOptions Model { get; init; } = new();

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        Check.NotNull(Model, nameof(Model)).Validate();
    }

    /// <inheritdoc />
    public override IPeerPredictionMechanism CreateMechanism() => new RobustDawidSkeneMechanism(this);
}

/// <summary>
/// Robust mechanism for the symmetric Dawid-Skene model (paper's Mechanism 3). Agents are split uniformly at random
/// into three groups G₀, G₁, G₂ (sizes ⌊n/3⌋ or ⌈n/3⌉) and tasks into two halves T_L, T_R (⌊m/2⌋ and ⌈m/2⌉).
/// Stage 1, for each g: (w̃⁽ᵍ⁾, Γ̃⁽ᵍ⁾) from the reports of G_g on T_L by <see cref="RobustDawidSkene.Fit(LabelMatrix, CancellationToken)"/> (robust M̃₂,
/// M̃₃ from the batch learner, whitening, tensor power method, components matched to classes by
/// <see cref="TensorDecomposition.AlignToDiagonal"/>; one-coin fallback if the decomposition fails).
/// Stage 2, eq. (11): for s ∈ T_R, Ỹ⁽ᵍ⁺¹⁾_s = argmax_y log w̃⁽ᵍ⁾_y + Σ_{j ∈ G_{g+1}} log Γ̃⁽ᵍ⁾_{y, x̂_j,s} (plain MLE, every
/// report counts fully; ties go to the lower class). Stage 3: agent i ∈ G_{g+2} is paid the empirical TVD mutual
/// information (eq. (1), <see cref="TvdMutualInformation"/>) between its reports on T_R and Ỹ⁽ᵍ⁺¹⁾ on the same tasks.
/// g rotates over {0, 1, 2}, so every agent is paid and no agent's reports enter the labels it is scored against or
/// the parameters behind them.
/// G. Schoenebeck, F.-Y. Yu et al., "Information elicitation from rowdy crowds", WWW 2021, §6.2, Mechanism 3,
/// eqs. (9)–(11), Theorem 6.2 (asymptotically informed truthful for α below α* = min(α_batch/3, γ_DS)).
/// Interpretations: stage 1 uses the library's robust moments; the default <see cref="MomentBatching.Worker"/>
/// batches (one batch per agent, filtered by the batch learner, moments trust-weighted) replace Algorithm 4's
/// agent-tuple batches, which need m ≥ C(n/3, 2) tasks and O(n³) triples — set
/// <c>Model.Batching = AgentTuple</c> for the paper's batches on small dense profiles. Sparse data are handled as they
/// come: tasks of T_R with no report from G_{g+1} get argmax w̃, and agents are scored on the T_R tasks they answered
/// (duplicate answers each count). With n &lt; 3 or m &lt; 2 (a group or a half would be empty) everyone is unscored.
/// Range [0, 1 − 1/K]. TasksScored = the agent's reports on T_R; Breakdown: <c>group</c> (0–2), <c>model-ok</c>
/// (1 if the tensor decomposition behind the agent's labels succeeded, 0 if the one-coin fallback was used).
/// Cost: O(reports + K³·m + filter) — a few passes over the reports; measured 0.35–0.5 s (Release, 2 cores) to pay
/// 1,000 dense agents × 10,000 tasks (10M reports, K = 2).
/// Under <see cref="Reform"/>: agents are scored against labels recovered from two other groups, not against a drawn
/// peer, so there is no pairing to repeat: REFORM pays exactly as this mechanism does, with β(t) scaling the payment.
/// </summary>
public sealed class RobustDawidSkeneMechanism(RobustDawidSkeneMechanismOptions? options = null) : PeerPredictionMechanism<RobustDawidSkeneMechanismOptions>(options ?? new RobustDawidSkeneMechanismOptions())
{
    /// <inheritdoc />
    public override string Name => "rmif-ds";

    private protected override bool PaysPerReport => false;

    /// <inheritdoc />
    /// <remarks>No peer is ever drawn, so a pairing policy has nothing to decide.</remarks>
    private protected override PaymentResult Pay(LabelMatrix reports, Pairing? pairing, ComputeOptions? compute,
        IProgress<WorkProgress>? progress, CancellationToken cancellationToken)
    {
        MechanismKernel.Check(reports, Options, compute, Name);
        ulong seed = Seeding.Base(Options.Seed);
        int W = reports.WorkerCount, T = reports.TaskCount, K = reports.ClassCount;
        var pay = new double[W];
        var scored = new int[W];
        var groupOut = new double[W];
        var okOut = new double[W];
        var range = new PaymentRange(0, K >= 1 ? 1 - 1.0 / K : 0);
        if (W < 3 || T < 2 || K < 1) return Result(reports, pay, scored, groupOut, okOut, range);

        // Random partitions: agents into three groups, tasks into halves (T_L = first ⌊m/2⌋ of a random order).
        var group = new int[W];
        {
            var perm = Permutation(W, SplitMix64.For(seed, ulong.MaxValue));
            for (int p = 0; p < W; p++) group[perm[p]] = p % 3;
        }
        var left = new bool[T];
        {
            var perm = Permutation(T, SplitMix64.For(seed, ulong.MaxValue - 1));
            for (int p = 0; p < T / 2; p++) left[perm[p]] = true;
        }

        // Stage 1: (w̃, Γ̃) of each group from its reports on T_L, as log tables for eq. (11).
        var logW = new double[MemoryBudget.Length(3, K)];
        var logG = new double[MemoryBudget.Length(3, K, K)]; // logG[(g·K + l)·K + y] = log Γ̃⁽ᵍ⁾[y, l], so one report reads a contiguous row
        var ok = new bool[3];
        var modelSeeds = new int[3];
        for (int g = 0; g < 3; g++) modelSeeds[g] = (int)SplitMix64.For(seed, ulong.MaxValue - 2 - (ulong)g).NextUInt64();
        // The three fits run at once, each on K⁴ (or K⁶) robust moments: refuse before any of them allocates.
        new RobustDawidSkene(Options.Model).RequireMemory(reports, compute, Name, labels: false,
            fits: Math.Min(3, (compute ?? ComputeOptions.Default).Threads));
        Parallelism.ForEach(3, compute, g =>
        {
            var sub = Block(reports, group, g, left);
            var model = new RobustDawidSkene(Options.Model with { Seed = modelSeeds[g] }).Fit(sub, cancellationToken);
            ok[g] = model.Success;
            for (int y = 0; y < K; y++)
            {
                logW[g * K + y] = Math.Log(Math.Max(model.ClassWeights[y], Numerics.MinProbability));
                for (int l = 0; l < K; l++)
                    logG[(g * K + l) * K + y] = Math.Log(Math.Max(model.Confusion[y, l], Numerics.MinProbability));
            }
        }, cancellationToken);

        // Stage 2: labels[h·T + s] = Ỹ⁽ʰ⁾_s, from the reports of G_h with the parameters of G_{h−1}, for s ∈ T_R.
        var labels = new int[MemoryBudget.Length(3, T)];
        MechanismKernel.ForEachAgent(T, reports.AnswerCount * (long)K, compute, null, cancellationToken, () => new double[MemoryBudget.Length(3, K)], (t, score) =>
        {
            if (left[t]) return;
            var off = reports.TaskOffsets;
            var workers = reports.TaskWorkers;
            var answers = reports.TaskLabels;
            for (int h = 0; h < 3; h++)
            {
                int g = (h + 2) % 3;
                logW.AsSpan(g * K, K).CopyTo(score.AsSpan(h * K, K));
            }
            for (int a = off[t]; a < off[t + 1]; a++)
            {
                int h = group[workers[a]], g = (h + 2) % 3;
                var row = logG.AsSpan((g * K + answers[a]) * K, K);
                var sc = score.AsSpan(h * K, K);
                for (int y = 0; y < K; y++) sc[y] += row[y];
            }
            for (int h = 0; h < 3; h++)
            {
                int best = 0;
                for (int y = 1; y < K; y++) if (score[h * K + y] > score[h * K + best]) best = y;
                labels[h * T + t] = best;
            }
        });

        // Stage 3: agent i ∈ G_{g+2} = G_{h+1} against Ỹ⁽ʰ⁾, h = group(i) − 1.
        int maxDeg = MechanismKernel.MaxWorkerDegree(reports);
        MechanismKernel.ForEachAgent(W, reports.AnswerCount, compute, progress, cancellationToken, () => new PairScratch(W, T, maxDeg, K), (i, s) =>
        {
            int gi = group[i], h = (gi + 2) % 3;
            groupOut[i] = gi;
            okOut[i] = ok[(h + 2) % 3] ? 1 : 0;
            int n = s.PairsWithLabels(reports, i, labels.AsSpan(h * T, T), left);
            if (n == 0) return;
            pay[i] = TvdMutualInformation.Estimate(s.Li.AsSpan(0, n), s.Lj.AsSpan(0, n), K, s.Joint, s.Ri, s.Rj);
            scored[i] = n;
        });
        return Result(reports, pay, scored, groupOut, okOut, range);
    }

    private PaymentResult Result(LabelMatrix reports, double[] pay, int[] scored, double[] group, double[] ok, PaymentRange range) => new()
    {
        Mechanism = Name,
        Reports = reports,
        Payments = PaymentResult.Wrap(pay),
        TasksScored = PaymentResult.Wrap(scored),
        Range = range,
        Breakdown = ImmutableDictionary<string, ImmutableArray<double>>.Empty
            .Add("group", PaymentResult.Wrap(group))
            .Add("model-ok", PaymentResult.Wrap(ok)),
    };

    private static int[] Permutation(int n, SplitMix64 r)
    {
        var p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        for (int i = n - 1; i > 0; i--)
        {
            int j = r.Next(i + 1);
            (p[i], p[j]) = (p[j], p[i]);
        }
        return p;
    }

    /// <summary>
    /// The block X̂⁽ᵍ·ᴸ⁾: the reports of group <paramref name="g"/> on the tasks of T_L, as a matrix over the same task,
    /// worker and class indexes (other cells empty), built directly in CSR form in O(T + W + reports).
    /// </summary>
    internal static LabelMatrix Block(LabelMatrix m, int[] group, int g, bool[] left)
    {
        int T = m.TaskCount, W = m.WorkerCount;
        var off = m.TaskOffsets;
        var workers = m.TaskWorkers;
        var labels = m.TaskLabels;
        var taskOffsets = new int[T + 1];
        var workerCounts = new int[W + 1];
        int n = 0;
        for (int t = 0; t < T; t++)
        {
            taskOffsets[t] = n;
            if (!left[t]) continue;
            for (int a = off[t]; a < off[t + 1]; a++)
                if (group[workers[a]] == g) { n++; workerCounts[workers[a] + 1]++; }
        }
        taskOffsets[T] = n;
        var taskWorkers = new int[n];
        var taskLabels = new int[n];
        var workerOffsets = new int[W + 1];
        for (int w = 0; w < W; w++) workerOffsets[w + 1] = workerOffsets[w] + workerCounts[w + 1];
        var cursor = new int[W];
        Array.Copy(workerOffsets, cursor, W);
        var workerTasks = new int[n];
        var workerLabels = new int[n];
        var workerAnswerIds = new int[n];
        int id = 0;
        for (int t = 0; t < T; t++)
        {
            if (!left[t]) continue;
            for (int a = off[t]; a < off[t + 1]; a++)
            {
                int w = workers[a];
                if (group[w] != g) continue;
                taskWorkers[id] = w;
                taskLabels[id] = labels[a];
                int c = cursor[w]++;
                workerTasks[c] = t;
                workerLabels[c] = labels[a];
                workerAnswerIds[c] = id;
                id++;
            }
        }
        return new LabelMatrix(m.Tasks, m.Workers, m.Classes, taskOffsets, taskWorkers, taskLabels,
            workerOffsets, workerTasks, workerLabels, workerAnswerIds, null);
    }
}
