using Tally.Core;
using Tally.Simulation;

namespace Tally.Application;

/// <summary>
/// The live-crowd job behind <c>tally simulate crowd</c>: a simulated population (or a replayed answers file)
/// answering a running <c>tally serve</c> through its HTTP API (<see cref="LiveCrowd"/>).
/// </summary>
public static class LiveCrowdJob
{
    /// <summary>The environment variable read for the owner's key when none is given.</summary>
    public const string KeyVariable = "TALLY_KEY";

    /// <summary>The colluder strategies a live crowd accepts, by name.</summary>
    public static IReadOnlyList<string> ColluderStrategies { get; } = [Specs.Name(AdversaryStrategy.Flip), Specs.Name(AdversaryStrategy.Constant)];

    /// <summary>The colluder strategy called <paramref name="name"/> (flip or constant).</summary>
    /// <exception cref="InvalidOptionException">Another name.</exception>
    public static AdversaryStrategy ParseColluderStrategy(string name)
    {
        var s = Specs.Choice<AdversaryStrategy>(name, "ColluderStrategy");
        return s is AdversaryStrategy.Flip or AdversaryStrategy.Constant ? s
            : throw new InvalidOptionException("ColluderStrategy", $"must be flip or constant (got {Quote.Value(name)})");
    }

    /// <summary>Runs the crowd to the end (no task left for any worker, or the budget spent), reporting the share of answers posted.</summary>
    /// <exception cref="TallyUserException">Bad options, a bad file, a service that refuses a request or cannot be reached.</exception>
    public static LiveCrowdResult Run(LiveCrowdOptions options, IProgress<JobProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var fraction = progress is null ? null : new SyncProgress<double>(f => progress.Report(new JobProgress("Answering", f)));
        return LiveCrowd.RunAsync(options, fraction, cancellationToken).GetAwaiter().GetResult();
    }
}
