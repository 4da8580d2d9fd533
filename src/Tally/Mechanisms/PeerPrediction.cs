using System.Collections.Immutable;
using System.Runtime.InteropServices;
using System.Text.Json.Serialization;
using Tally.Core;

namespace Tally.Mechanisms;

/// <summary>
/// A peer-prediction payment rule: pays each agent (worker) from its reports and its peers' reports alone, with no
/// ground truth, so that effort and truthful reporting pay.
/// Implementations are stateless apart from their options, so one instance can be used for many profiles and threads.
/// </summary>
public interface IPeerPredictionMechanism
{
    /// <summary>Short name (e.g. <c>ca</c>), as it will appear on the command line.</summary>
    string Name { get; }

    /// <summary>The options in use, <see cref="MechanismOptions.Seed"/> included.</summary>
    MechanismOptions Options { get; }

    /// <summary>
    /// Pays every agent of <paramref name="reports"/> (workers = agents, tasks = tasks, classes = report values).
    /// Every random choice (peers, penalty tasks, samples, splits) comes from a stream of
    /// <see cref="MechanismOptions.Seed"/> owned by one agent (or one pair of agents), so the result depends on the
    /// seed and the reports only — not on <paramref name="compute"/>, the number of threads or their order.
    /// </summary>
    /// <param name="reports">The reports.</param>
    /// <param name="compute">Thread cap (null = all cores); never changes the result.</param>
    /// <param name="progress">Agents paid so far (may be called from worker threads, one call at a time).</param>
    /// <param name="cancellationToken">Stops the call between blocks of agents (<see cref="OperationCanceledException"/>).</param>
    /// <exception cref="InvalidOptionException">An option is out of range (<see cref="MechanismOptions.Validate"/>).</exception>
    PaymentResult Pay(LabelMatrix reports, ComputeOptions? compute = null, IProgress<WorkProgress>? progress = null,
        CancellationToken cancellationToken = default);
}

/// <summary>
/// Options shared by every peer-prediction mechanism: the seed, a self-check and the mechanism the options configure
/// (so a mechanism can be rebuilt from its saved options, e.g. by a REFORM campaign).
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "$mechanism")]
[JsonDerivedType(typeof(OutputAgreementOptions), "oa")]
[JsonDerivedType(typeof(DasguptaGhoshOptions), "dg")]
[JsonDerivedType(typeof(CorrelatedAgreementOptions), "ca")]
[JsonDerivedType(typeof(RptscOptions), "rptsc")]
[JsonDerivedType(typeof(DmiOptions), "dmi")]
[JsonDerivedType(typeof(TvdMutualInformationOptions), "tvdmi")]
[JsonDerivedType(typeof(RobustSymmetricOptions), "rmif-symmetric")]
[JsonDerivedType(typeof(RobustDawidSkeneMechanismOptions), "rmif-ds")]
public abstract record MechanismOptions
{
    /// <summary>
    /// Seed of every random choice of a <see cref="IPeerPredictionMechanism.Pay"/> call; default 0. Each agent (and
    /// each pair of agents) draws from its own stream <c>SplitMix64.For(Seeding.Base(Seed), …)</c>.
    /// </summary>
    public int Seed { get; init; }

    /// <summary>Checks the options; derived records add their own checks and call this.</summary>
    /// <exception cref="InvalidOptionException">An option is out of range (the exception names it).</exception>
    public virtual void Validate() { }

    /// <summary>The mechanism these options configure.</summary>
    public abstract IPeerPredictionMechanism CreateMechanism();
}

/// <summary>Shortcuts over <see cref="IPeerPredictionMechanism"/>.</summary>
public static class PeerPredictionExtensions
{
    /// <summary>The same mechanism with <see cref="MechanismOptions.Seed"/> = <paramref name="seed"/> (labs and campaigns pay many profiles, each from its own seed).</summary>
    public static IPeerPredictionMechanism WithSeed(this IPeerPredictionMechanism mechanism, int seed)
    {
        ArgumentNullException.ThrowIfNull(mechanism);
        return (mechanism.Options with { Seed = seed }).CreateMechanism();
    }
}

/// <summary>Bounds a mechanism guarantees for every scored agent's payment (a per-task average, see <see cref="PaymentResult"/>).</summary>
/// <param name="Min">Smallest payment any report profile can produce.</param>
/// <param name="Max">Largest payment any report profile can produce.</param>
public readonly record struct PaymentRange(double Min, double Max)
{
    /// <summary>Max − Min.</summary>
    public double Width => Max - Min;
    /// <summary>Whether <paramref name="value"/> lies in the range, up to <paramref name="tolerance"/>.</summary>
    public bool Contains(double value, double tolerance = 1e-12) => value >= Min - tolerance && value <= Max + tolerance;
}

/// <summary>What a peer-prediction mechanism paid.</summary>
/// <remarks>
/// Every payment is an <em>average per scored unit</em> (per bonus task, per shared task or per peer, as the mechanism
/// documents), so payments of agents who did different numbers of tasks are on one scale and lie in <see cref="Range"/>.
/// An agent the mechanism cannot score (no peer on any of its tasks, too few tasks, too few shared tasks, …) is
/// <em>unscored</em>: its payment is exactly 0 and <see cref="TasksScored"/> is 0. Payments are never NaN or infinite.
/// </remarks>
public sealed record PaymentResult
{
    /// <summary>Short name of the mechanism.</summary>
    public required string Mechanism { get; init; }
    /// <summary>The reports the payments refer to (for agent names).</summary>
    public required LabelMatrix Reports { get; init; }
    /// <summary>Payment of each agent (indexed like <see cref="LabelMatrix.Workers"/>); 0 for unscored agents.</summary>
    public required ImmutableArray<double> Payments { get; init; }
    /// <summary>How many of each agent's tasks entered its payment (see each mechanism); 0 = unscored.</summary>
    public required ImmutableArray<int> TasksScored { get; init; }
    /// <summary>Bounds on a scored agent's payment, in the units of <see cref="Payments"/> (after <see cref="Scaling"/>).</summary>
    public required PaymentRange Range { get; init; }
    /// <summary>
    /// Optional per-agent components by name (e.g. <c>bonus</c> and <c>penalty</c> with payment = bonus − penalty),
    /// always in the mechanism's raw units, i.e. before <see cref="Scaling"/>; 0 for unscored agents.
    /// </summary>
    public ImmutableDictionary<string, ImmutableArray<double>> Breakdown { get; init; } =
        ImmutableDictionary<string, ImmutableArray<double>>.Empty;
    /// <summary>The affine map applied to the raw payments (<see cref="PaymentScaling.Identity"/> if none).</summary>
    public PaymentScaling Scaling { get; init; } = PaymentScaling.Identity;

    /// <summary>A result of a bonus-minus-penalty mechanism on [−1, 1], with both parts in the breakdown.</summary>
    internal static PaymentResult BonusPenalty(string mechanism, LabelMatrix reports, double[] payments, int[] scored,
        double[] bonus, double[] penalty) => new()
    {
        Mechanism = mechanism,
        Reports = reports,
        Payments = Wrap(payments),
        TasksScored = Wrap(scored),
        Range = new PaymentRange(-1, 1),
        Breakdown = ImmutableDictionary<string, ImmutableArray<double>>.Empty
            .Add("bonus", Wrap(bonus))
            .Add("penalty", Wrap(penalty)),
    };

    /// <summary>Whether agent <paramref name="agent"/> was scored.</summary>
    public bool IsScored(int agent) => TasksScored[agent] > 0;

    /// <summary>Number of agents that could not be scored (payment 0).</summary>
    public int UnscoredCount
    {
        get
        {
            int n = 0;
            foreach (var t in TasksScored) if (t == 0) n++;
            return n;
        }
    }

    /// <summary>Mean payment over scored agents; 0 if none was scored.</summary>
    public double MeanPayment
    {
        get
        {
            double sum = 0; int n = 0;
            for (int i = 0; i < Payments.Length; i++)
                if (TasksScored[i] > 0) { sum += Payments[i]; n++; }
            return n == 0 ? 0 : sum / n;
        }
    }

    internal static ImmutableArray<T> Wrap<T>(T[] array) => ImmutableCollectionsMarshal.AsImmutableArray(array);
}

/// <summary>
/// An affine map <c>payment ↦ Scale · payment + Offset</c> applied to every <em>scored</em> agent's payment
/// (unscored agents stay at exactly 0: nobody is paid for work that was not scored).
/// </summary>
/// <remarks>
/// With Scale &gt; 0 the map keeps every incentive property of the mechanism: it preserves the order of payments and
/// multiplies every expected payment difference (truthful vs. any deviation) by Scale.
/// </remarks>
/// <param name="Scale">Multiplier; must be finite and ≥ 0.</param>
/// <param name="Offset">Added after scaling; must be finite.</param>
public sealed record PaymentScaling(double Scale, double Offset)
{
    /// <summary>The identity map (1, 0).</summary>
    public static PaymentScaling Identity { get; } = new(1, 0);

    /// <summary>
    /// The map that turns a mechanism's payment range into [0, <paramref name="budgetPerAgent"/>]: the worst possible
    /// payment becomes 0 (limited liability: nobody owes money) and the best possible one the whole budget.
    /// Because payments are per-task averages, this is the same as making the maximum possible payment per scored task
    /// budget / tasks for an agent scored on that many tasks. If the range is empty (Max ≤ Min, e.g. K = 1 where no
    /// information can be elicited) every scored agent gets 0.
    /// </summary>
    /// <remarks>
    /// Under this map an agent with an uninformed strategy, whose raw expected payment is 0 for CA, DMI and TVD-MI, is
    /// paid −Min/(Max − Min) of the budget (half of it for CA's [−1, 1]); the truthful premium is Scale times the raw
    /// one. Raise the offset (or lower the budget) if uninformed agents should get less.
    /// </remarks>
    public static PaymentScaling ForBudget(double budgetPerAgent, PaymentRange range)
    {
        if (!double.IsFinite(budgetPerAgent) || budgetPerAgent < 0)
            throw new ArgumentOutOfRangeException(nameof(budgetPerAgent), "The budget must be finite and non-negative.");
        if (!double.IsFinite(range.Min) || !double.IsFinite(range.Max))
            throw new ArgumentException("The payment range must be finite.", nameof(range));
        if (!(range.Max > range.Min)) return new PaymentScaling(0, 0);
        double scale = budgetPerAgent / range.Width;
        return new PaymentScaling(scale, -range.Min * scale);
    }

    /// <summary>The map applied to one value.</summary>
    public double Map(double payment) => Scale * payment + Offset;

    /// <summary>
    /// Scales <paramref name="result"/>'s payments and range; the breakdown stays in raw units and
    /// <see cref="PaymentResult.Scaling"/> becomes this map composed after any earlier one.
    /// </summary>
    public PaymentResult Apply(PaymentResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        if (!double.IsFinite(Scale) || Scale < 0) throw new InvalidOperationException("Scale must be finite and non-negative.");
        if (!double.IsFinite(Offset)) throw new InvalidOperationException("Offset must be finite.");
        var p = new double[result.Payments.Length];
        for (int i = 0; i < p.Length; i++) p[i] = result.TasksScored[i] > 0 ? Map(result.Payments[i]) : 0;
        var prev = result.Scaling;
        return result with
        {
            Payments = PaymentResult.Wrap(p),
            Range = new PaymentRange(Map(result.Range.Min), Map(result.Range.Max)),
            Scaling = new PaymentScaling(Scale * prev.Scale, Scale * prev.Offset + Offset),
        };
    }
}
