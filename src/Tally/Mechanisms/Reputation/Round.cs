using System.Collections.Immutable;
using Tally.Core;

namespace Tally.Mechanisms.Reputation;

/// <summary>One report of a round.</summary>
/// <param name="Agent">Agent name.</param>
/// <param name="Task">Task index in [0, <see cref="Round.TaskCount"/>).</param>
/// <param name="Report">Report value (class index) in [0, <see cref="Round.ClassCount"/>).</param>
/// <param name="Seconds">Time taken to answer, in seconds from the task's publication; null when unknown.</param>
public sealed record RoundReport(string Agent, int Task, int Report, double? Seconds = null);

/// <summary>
/// The reports of one round of a temporal crowdsourcing campaign (REFORM §3.1: tasks are published every round with
/// deadlines δ_τ; reports submitted after the deadline are not considered).
/// A report is late when both its time and its task's deadline are known and time &gt; deadline; late reports are
/// dropped before any payment or reputation update and counted in <see cref="LateCount"/>.
/// </summary>
public sealed record Round
{
    /// <summary>Creates a round and validates it.</summary>
    public Round(int index, int taskCount, int classCount, IEnumerable<RoundReport> reports, IEnumerable<double?>? deadlines = null)
    {
        ArgumentNullException.ThrowIfNull(reports);
        if (taskCount < 0) throw new ArgumentOutOfRangeException(nameof(taskCount));
        if (classCount < 1) throw new ArgumentOutOfRangeException(nameof(classCount));
        Index = index; TaskCount = taskCount; ClassCount = classCount;
        Reports = [.. reports];
        Deadlines = deadlines is null ? [.. Enumerable.Repeat<double?>(null, taskCount)] : [.. deadlines];
        if (Deadlines.Length != taskCount) throw new ArgumentException("One deadline (or null) per task is needed.", nameof(deadlines));
        var seen = new HashSet<(string, int)>();
        foreach (var r in Reports)
        {
            ArgumentNullException.ThrowIfNull(r.Agent, nameof(reports));
            if ((uint)r.Task >= (uint)taskCount) throw new ArgumentOutOfRangeException(nameof(reports), $"Task {r.Task} is out of range.");
            if ((uint)r.Report >= (uint)classCount) throw new ArgumentOutOfRangeException(nameof(reports), $"Report {r.Report} is out of range.");
            if (r.Seconds is double s && !(s >= 0)) throw new ArgumentOutOfRangeException(nameof(reports), "Times must be non-negative numbers.");
            if (!seen.Add((r.Agent, r.Task))) throw new ArgumentException($"Agent '{r.Agent}' reported twice on task {r.Task}.", nameof(reports));
        }
        foreach (var d in Deadlines)
            if (d is double x && !(x >= 0)) throw new ArgumentOutOfRangeException(nameof(deadlines), "Deadlines must be non-negative numbers.");
    }

    /// <summary>Round index (increasing across a campaign).</summary>
    public int Index { get; }
    /// <summary>Number of tasks.</summary>
    public int TaskCount { get; }
    /// <summary>Number of report values.</summary>
    public int ClassCount { get; }
    /// <summary>All submitted reports, late ones included.</summary>
    public ImmutableArray<RoundReport> Reports { get; }
    /// <summary>Deadline of each task in seconds, or null for none.</summary>
    public ImmutableArray<double?> Deadlines { get; }

    /// <summary>Whether <paramref name="report"/> arrived after its task's deadline.</summary>
    public bool IsLate(RoundReport report) =>
        report.Seconds is double s && Deadlines[report.Task] is double d && s > d;

    /// <summary>Number of late (ignored) reports.</summary>
    public int LateCount => Reports.Count(IsLate);

    /// <summary>The reports that count, in submission order.</summary>
    public ImmutableArray<RoundReport> OnTimeReports() => [.. Reports.Where(r => !IsLate(r))];

    /// <summary>
    /// All agents of the round (late-only ones included), in <see cref="Vocabulary.NaturalOrder"/> (as an answers file's
    /// workers are numbered, so a round read from a file pays its agents in the order <c>tally pay</c> without REFORM
    /// does); the worker order of <see cref="ToLabelMatrix"/>.
    /// </summary>
    public ImmutableArray<string> Agents()
    {
        var names = Reports.Select(r => r.Agent).Distinct().ToList();
        names.Sort(Vocabulary.NaturalOrder(names));
        return [.. names];
    }

    /// <summary>The on-time reports as a label matrix (workers = <see cref="Agents"/>, numbered tasks and classes).</summary>
    public LabelMatrix ToLabelMatrix()
    {
        var agents = Agents();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < agents.Length; i++) index[agents[i]] = i;
        var on = OnTimeReports();
        var t = new int[on.Length]; var w = new int[on.Length]; var l = new int[on.Length];
        for (int i = 0; i < on.Length; i++) { t[i] = on[i].Task; w[i] = index[on[i].Agent]; l[i] = on[i].Report; }
        return LabelMatrix.FromTriples(TaskCount, agents.Length, ClassCount, t, w, l, DuplicatePolicy.Error);
    }
}

/// <summary>REFORM's decay factor β(t) (Eq. 1): multiplies a report's reward so that earlier reports earn more.</summary>
public interface IDecayFunction
{
    /// <summary>β(t) in [0, 1] for a report after <paramref name="seconds"/> (null = unknown time → 1, no decay).</summary>
    double Factor(double? seconds);
}

/// <summary>β(t) = exp(−t/τ); default τ = 600 s (the paper leaves β open apart from decreasing in t).</summary>
/// <param name="TimeConstant">τ in seconds, positive.</param>
public sealed record ExponentialDecay(double TimeConstant = 600) : IDecayFunction
{
    /// <inheritdoc />
    public double Factor(double? seconds)
    {
        if (!(TimeConstant > 0)) throw new InvalidOperationException("TimeConstant must be positive.");
        return seconds is double s ? Math.Exp(-Math.Max(0, s) / TimeConstant) : 1;
    }
}

/// <summary>β(t) = max(0, 1 − t/H); default horizon H = 600 s.</summary>
/// <param name="Horizon">H in seconds, positive; reports at or after H earn nothing.</param>
public sealed record LinearDecay(double Horizon = 600) : IDecayFunction
{
    /// <inheritdoc />
    public double Factor(double? seconds)
    {
        if (!(Horizon > 0)) throw new InvalidOperationException("Horizon must be positive.");
        return seconds is double s ? Math.Clamp(1 - s / Horizon, 0, 1) : 1;
    }
}

/// <summary>β(t) = 1: no decay (the paper's simulations).</summary>
public sealed record NoDecay : IDecayFunction
{
    /// <inheritdoc />
    public double Factor(double? seconds) => 1;
}

/// <summary>Decay functions by their written form (the <c>--decay</c> option, a project's <c>decay</c> field).</summary>
public static class DecayFunctions
{
    /// <summary>
    /// A decay function from its written form: <c>none</c> (or null/empty), <c>exponential[:SECONDS]</c> or
    /// <c>linear[:SECONDS]</c>; without SECONDS the function's own default time.
    /// </summary>
    /// <exception cref="TallyUserException">Any other form, or a time that is not a positive number.</exception>
    public static IDecayFunction Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text) || text.Equals("none", StringComparison.OrdinalIgnoreCase)) return new NoDecay();
        var parts = text.Split(':', 2);
        double? seconds = null;
        if (parts.Length == 2)
        {
            if (!double.TryParse(parts[1], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double s)
                || !(s > 0) || double.IsInfinity(s))
                throw new TallyUserException($"--decay {text}: the time after ':' must be a positive number of seconds");
            seconds = s;
        }
        return parts[0].ToLowerInvariant() switch
        {
            "exponential" => seconds is double tau ? new ExponentialDecay(tau) : new ExponentialDecay(),
            "linear" => seconds is double h ? new LinearDecay(h) : new LinearDecay(),
            _ => throw new TallyUserException($"--decay {text}: use none, exponential[:SECONDS] or linear[:SECONDS]"),
        };
    }
}
