using Tally.Core;

namespace Tally.Aggregation;

/// <summary>
/// Progress of one phase of a method that runs several (a start-up fit, then the main loop), mapped onto the whole
/// run's bar: iteration i of the phase becomes <c>offset + i</c> of <c>total</c>, so the bar keeps moving through every
/// phase instead of restarting or standing still. Reports on the calling thread.
/// </summary>
internal sealed class PhaseProgress(IProgress<IterationProgress> target, int offset, int total) : IProgress<IterationProgress>
{
    /// <summary>The phase's view of <paramref name="target"/>; null when there is no one to report to.</summary>
    public static IProgress<IterationProgress>? Of(IProgress<IterationProgress>? target, int offset, int total) =>
        target is null ? null : new PhaseProgress(target, offset, total);

    /// <inheritdoc />
    public void Report(IterationProgress value) => target.Report(new IterationProgress(offset + value.Iteration, total, value.Objective));
}

/// <summary>
/// Progress of a phase measured in its own units (say, blocks of tasks done out of 16), scaled onto
/// <c>span</c> units of the whole run's bar from <c>offset</c>. A phase made of parts that each count from zero (the
/// sign colouring of several components) never moves the bar back: the furthest point reached is kept. Reports on the
/// calling thread.
/// </summary>
internal sealed class ScaledProgress(IProgress<IterationProgress> target, int offset, int span, int total) : IProgress<IterationProgress>
{
    private int _reached;

    /// <summary>The phase's view of <paramref name="target"/>; null when there is no one to report to.</summary>
    public static IProgress<IterationProgress>? Of(IProgress<IterationProgress>? target, int offset, int span, int total) =>
        target is null ? null : new ScaledProgress(target, offset, span, total);

    /// <inheritdoc />
    public void Report(IterationProgress value)
    {
        int at = offset + (int)((long)span * Math.Clamp(value.Iteration, 0, value.MaxIterations) / Math.Max(1, value.MaxIterations));
        _reached = Math.Max(_reached, at);   // starts at 0, below any offset
        target.Report(new IterationProgress(_reached, total, value.Objective));
    }
}
