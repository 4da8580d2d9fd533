using Tally.Core;

namespace Tally.Aggregation;

/// <summary>How majority-vote ties are broken.</summary>
public enum TieBreak
{
    /// <summary>The tied class with the lowest class index (class order: sorted by default, or as <c>--classes</c> gives it).</summary>
    LowestIndex,
    /// <summary>A tied class chosen uniformly at random with the options' seed (independently per task).</summary>
    Random,
}

/// <summary>Options of <see cref="MajorityVote"/>.</summary>
public sealed record MajorityVoteOptions
{
    /// <summary>Tie-breaking rule; default <see cref="TieBreak.LowestIndex"/>, which is deterministic without a seed.</summary>
    public TieBreak Ties { get; init; } = TieBreak.LowestIndex;
    /// <summary>Seed for <see cref="TieBreak.Random"/>.</summary>
    public int Seed { get; init; }

    /// <summary>Checks the options.</summary>
    public void Validate() => Check.Defined(Ties, nameof(Ties));
}

/// <summary>
/// Majority vote: each task gets the class most workers gave; the posterior is the share of votes per class.
/// Worker skill = fraction of the worker's answers that agree with the majority.
/// </summary>
public sealed class MajorityVote(MajorityVoteOptions? options = null) : IAggregator
{
    /// <summary>The options in use.</summary>
    public MajorityVoteOptions Options { get; } = options ?? new MajorityVoteOptions();

    /// <inheritdoc />
    public string Name => "mv";

    /// <inheritdoc />
    public AggregationResult Aggregate(LabelMatrix answers, ComputeOptions? compute = null, IProgress<IterationProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        Options.Validate();
        Footprints.Require(Name, answers, compute);
        var post = WeightedVote(answers, null);
        var labels = Options.Ties == TieBreak.Random
            ? RandomTieLabels(post, answers.TaskCount, answers.ClassCount, Options.Seed)
            : Numerics.ArgMaxRows(post, answers.TaskCount, answers.ClassCount);
        var skills = Numerics.AgreementWith(answers, labels);
        return AggregationResult.Create(Name, answers, post, skills, AggregationModel.ForVotes(Name, Options, answers, null, skills), labels);
    }

    /// <summary>
    /// Per-task vote shares, each answer weighted by its worker's weight (1 when <paramref name="workerWeights"/> is null).
    /// A task whose total weight is zero gets the uniform distribution.
    /// </summary>
    internal static double[] WeightedVote(LabelMatrix answers, double[]? workerWeights)
    {
        int k = answers.ClassCount, T = answers.TaskCount;
        var post = new double[MemoryBudget.Length(T, k)];
        var off = answers.TaskOffsets;
        var workers = answers.TaskWorkers;
        var labels = answers.TaskLabels;
        for (int t = 0; t < T; t++)
        {
            var row = post.AsSpan(t * k, k);
            for (int i = off[t]; i < off[t + 1]; i++)
                row[labels[i]] += workerWeights is null ? 1.0 : workerWeights[workers[i]];
            Numerics.Normalize(row);
        }
        return post;
    }

    private static int[] RandomTieLabels(double[] post, int tasks, int k, int seed)
    {
        var rng = Seeding.Random(seed);
        var labels = new int[tasks];
        var buffer = new int[k];
        for (int t = 0; t < tasks; t++)
        {
            var row = post.AsSpan(t * k, k);
            double max = row[Numerics.ArgMax(row)];
            int n = 0;
            for (int c = 0; c < k; c++) if (row[c] >= max - 1e-12) buffer[n++] = c;
            labels[t] = n == 1 ? buffer[0] : buffer[rng.Next(n)];
        }
        return labels;
    }
}

/// <summary>Options of <see cref="Wawa"/>.</summary>
public sealed record WawaOptions
{
    /// <summary>Checks the options (Wawa has none to check).</summary>
    public void Validate() { }
}

/// <summary>
/// Worker Agreement With Aggregate (Wawa): majority vote, then each worker's accuracy against it, then a vote
/// weighted by those accuracies (as in Crowd-Kit's <c>Wawa</c>). Worker skill = agreement with the first majority vote.
/// </summary>
public sealed class Wawa(WawaOptions? options = null) : IAggregator
{
    /// <summary>The options in use.</summary>
    public WawaOptions Options { get; } = options ?? new WawaOptions();

    /// <inheritdoc />
    public string Name => "wawa";

    /// <inheritdoc />
    public AggregationResult Aggregate(LabelMatrix answers, ComputeOptions? compute = null, IProgress<IterationProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        Options.Validate();
        Footprints.Require(Name, answers, compute, posteriors: 3);
        int k = answers.ClassCount;
        var mv = MajorityVote.WeightedVote(answers, null);
        var skills = Numerics.AgreementWith(answers, Numerics.ArgMaxRows(mv, answers.TaskCount, k));
        var post = MajorityVote.WeightedVote(answers, skills);
        return AggregationResult.Create(Name, answers, post, skills, AggregationModel.ForVotes(Name, Options, answers, skills, skills)) with
        {
            Iterations = 1,
        };
    }
}

/// <summary>Options of <see cref="ZeroBasedSkill"/>.</summary>
public sealed record ZeroBasedSkillOptions : IterativeOptions
{
    /// <summary>Creates the defaults of Crowd-Kit's ZeroBasedSkill: 100 iterations, tolerance 1e-5 on the largest skill change.</summary>
    public ZeroBasedSkillOptions() { MaxIterations = 100; Tolerance = 1e-5; }
    /// <summary>Initial learning rate (before the first reduction).</summary>
    public double LearningRate { get; init; } = 1.0;
    /// <summary>The learning rate is multiplied by <see cref="ReduceFactor"/> every this many iterations, starting at iteration 0.</summary>
    public int ReduceEvery { get; init; } = 20;
    /// <summary>Learning-rate reduction factor.</summary>
    public double ReduceFactor { get; init; } = 0.5;

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        Check.Above(LearningRate, 0, nameof(LearningRate));
        Check.AtLeast(ReduceEvery, 0, nameof(ReduceEvery));
        Check.InRange(ReduceFactor, double.Epsilon, 1, nameof(ReduceFactor));
    }
}

/// <summary>
/// Zero-Based Skill: skills start at 1 and move, with a decaying step, towards each worker's accuracy against the
/// skill-weighted majority vote; the final labels are that weighted vote. Worker skill = the fitted skill.
/// Follows Crowd-Kit's <c>ZeroBasedSkill</c>.
/// </summary>
public sealed class ZeroBasedSkill(ZeroBasedSkillOptions? options = null) : IAggregator
{
    /// <summary>The options in use.</summary>
    public ZeroBasedSkillOptions Options { get; } = options ?? new ZeroBasedSkillOptions();

    /// <inheritdoc />
    public string Name => "zbs";

    /// <inheritdoc />
    public AggregationResult Aggregate(LabelMatrix answers, ComputeOptions? compute = null, IProgress<IterationProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        Options.Validate();
        Footprints.Require(Name, answers, compute, posteriors: 3);
        return Fit(answers, null, compute, progress, cancellationToken);
    }

    /// <inheritdoc />
    public bool SupportsWarmStart => true;

    /// <summary>Starts the skills from <paramref name="start"/>'s (unseen workers at 1, the usual start).</summary>
    public AggregationResult Refine(AggregationModel start, LabelMatrix answers, ComputeOptions? compute = null,
        IProgress<IterationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        Options.Validate();
        AggregationModel.CheckStart(start, Name, answers);
        Footprints.Require(Name, answers, compute, posteriors: 3);
        var map = start.MapWorkers(answers, out _);
        var skills = new double[answers.WorkerCount];
        for (int w = 0; w < skills.Length; w++) skills[w] = map[w] >= 0 ? start.Weights[map[w]] : 1.0;
        return Fit(answers, skills, compute, progress, cancellationToken);
    }

    /// <summary>
    /// One fused pass over the tasks: the skill-weighted vote shares of each task (as <see cref="MajorityVote.WeightedVote"/>),
    /// its winning class (ties to the lowest index), and per part the number of each worker's answers that agree with it.
    /// </summary>
    private static void VoteAndAgreement(LabelMatrix answers, double[] skills, double[] post, int[][] agree, ComputeOptions? compute,
        CancellationToken ct)
    {
        int k = answers.ClassCount;
        Parallelism.ForParts(answers.TaskCount, agree.Length, compute, (part, start, end) =>
        {
            var off = answers.TaskOffsets;
            var workers = answers.TaskWorkers;
            var labels = answers.TaskLabels;
            var counts = agree[part];
            Array.Clear(counts);
            for (int t = start; t < end; t++)
            {
                var row = post.AsSpan(t * k, k);
                row.Clear();
                int e = off[t + 1];
                for (int i = off[t]; i < e; i++) row[labels[i]] += skills[workers[i]];
                Numerics.Normalize(row);
                int y = Numerics.ArgMax(row);
                for (int i = off[t]; i < e; i++) if (labels[i] == y) counts[workers[i]]++;
            }
        }, ct);
    }

    private AggregationResult Fit(LabelMatrix answers, double[]? startSkills, ComputeOptions? compute, IProgress<IterationProgress>? progress,
        CancellationToken cancellationToken)
    {
        int k = answers.ClassCount, T = answers.TaskCount, W = answers.WorkerCount;
        var skills = startSkills ?? new double[W];
        if (startSkills is null) Array.Fill(skills, 1.0);
        double lr = Options.LearningRate;
        int it = 0;
        bool converged = false;
        var post = new double[MemoryBudget.Length(T, k)];
        // Agreement counts are integers, so the parts' sums are exact in any order; the parts are fixed by the input.
        int parts = Parallelism.ReductionParts(T, answers.AnswerCount, W);
        var agree = new int[parts][];
        for (int p = 0; p < parts; p++) agree[p] = new int[W];
        var acc = new double[W];
        VoteAndAgreement(answers, skills, post, agree, compute, cancellationToken);
        while (it < Options.MaxIterations)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (Options.ReduceEvery > 0 && it % Options.ReduceEvery == 0) lr *= Options.ReduceFactor;
            Numerics.AgreementShares(answers, agree, acc);
            double change = 0;
            for (int w = 0; w < W; w++)
            {
                double next = skills[w] + lr * (acc[w] - skills[w]);
                change = Math.Max(change, Math.Abs(next - skills[w]));
                skills[w] = next;
            }
            it++;
            VoteAndAgreement(answers, skills, post, agree, compute, cancellationToken);
            progress?.Report(new IterationProgress(it, Options.MaxIterations, change));
            if (Options.Tolerance > 0 && change < Options.Tolerance) { converged = true; break; }
        }
        return AggregationResult.Create(Name, answers, post, skills, AggregationModel.ForVotes(Name, Options, answers, skills, skills)) with
        {
            Iterations = it,
            Converged = converged,
        };
    }
}
