using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Tally.Server;

/// <summary>
/// Closes rounds at their deadline (<see cref="Service.ProjectSpec.RoundSeconds"/>): every second it asks the
/// database which rounds are due and closes them. The state is only in the database — every replica runs a closer,
/// the first to lock a project closes its round and the others find it closed — so a replica that dies loses nothing.
/// </summary>
internal sealed class RoundCloser(TallyService service, ILogger<RoundCloser> log, TimeSpan interval) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                try
                {
                    foreach (var due in await service.CloseDueRoundsAsync().ConfigureAwait(false))
                    {
                        if (due.Closed) log.LogInformation("closed round {Round} of {Project} at its deadline", due.Round, due.Project);
                        else if (due.Note is not null) log.LogWarning("round {Round} of {Project} was due and stays open: {Note}", due.Round, due.Project, due.Note);
                    }
                }
                catch (ObjectDisposedException) { return; }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // A database hiccup: the rounds are still due and the next tick tries again.
                    log.LogError(e, "closing due rounds failed");
                }
            }
        }
        catch (OperationCanceledException) { }
    }
}
