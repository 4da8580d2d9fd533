using System.Diagnostics;
using Tally.Core;
using Tally.Simulation;

namespace Tally.Application;

/// <summary>What <see cref="SimulateJob"/> should do: exactly one scenario, and where to write.</summary>
public sealed record SimulateRequest
{
    /// <summary>A Dawid-Skene crowd (streamed to the file: millions of answers need little memory).</summary>
    public DawidSkeneScenario? DawidSkene { get; init; }
    /// <summary>A sparse (l, r)-regular crowd with optional spammers and adversaries.</summary>
    public SparseCrowdScenario? Sparse { get; init; }
    /// <summary>A rowdy crowd: symmetric Dawid-Skene honest workers plus colluders.</summary>
    public AdversaryScenario? Rowdy { get; init; }
    /// <summary>
    /// The folder to write into (created if needed): <see cref="SimulateJob.AnswersFile"/> (<c>task,worker,label</c>)
    /// and <see cref="SimulateJob.TruthFile"/> (<c>task,truth</c>), the layout of the bundled datasets.
    /// </summary>
    public required string OutputDirectory { get; init; }
}

/// <summary>What <see cref="SimulateJob"/> wrote.</summary>
/// <param name="AnswersPath">The answers file.</param>
/// <param name="TruthPath">The truth file.</param>
/// <param name="Answers">Answers written.</param>
/// <param name="Tasks">Tasks.</param>
/// <param name="Workers">Workers who answered (null for the streamed Dawid-Skene crowd, which is never held in memory).</param>
/// <param name="Seconds">Time taken.</param>
public sealed record SimulateOutcome(string AnswersPath, string TruthPath, long Answers, int Tasks, int? Workers, double Seconds);

/// <summary>The simulate job: draw a synthetic crowd from a scenario and write its answers and truth.</summary>
public static class SimulateJob
{
    /// <summary>The answers file's name in the output folder.</summary>
    public const string AnswersFile = "answers.csv";

    /// <summary>The truth file's name in the output folder.</summary>
    public const string TruthFile = "truth.csv";

    /// <summary>The adversary strategy called <paramref name="name"/> (flip, constant, random, pattern).</summary>
    /// <exception cref="InvalidOptionException">No strategy has that name (option <paramref name="option"/>).</exception>
    public static AdversaryStrategy ParseStrategy(string name, string option = "AdversaryStrategy") => Specs.Choice<AdversaryStrategy>(name, option);

    /// <summary>Runs the job. The scenario and the output locations are checked before any work.</summary>
    /// <exception cref="TallyUserException">Not exactly one scenario, an impossible scenario, or an unwritable location.</exception>
    public static SimulateOutcome Run(SimulateRequest request, IProgress<JobProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        int given = (request.DawidSkene is null ? 0 : 1) + (request.Sparse is null ? 0 : 1) + (request.Rowdy is null ? 0 : 1);
        if (given != 1) throw new TallyUserException($"give exactly one scenario to simulate (got {given})");
        request.DawidSkene?.Validate();
        request.Sparse?.Validate();
        request.Rowdy?.Validate();
        OutputChecks.WritableDirectory(request.OutputDirectory);
        string answersPath = Path.Combine(request.OutputDirectory, AnswersFile), truthPath = Path.Combine(request.OutputDirectory, TruthFile);
        cancellationToken.ThrowIfCancellationRequested();

        var clock = Stopwatch.StartNew();
        progress?.Report(new JobProgress("Simulating", 0));
        if (request.DawidSkene is { } ds)
        {
            Directory.CreateDirectory(request.OutputDirectory);
            new DawidSkeneSimulator().WriteCsv(ds, answersPath, truthPath, f => progress?.Report(new JobProgress("Simulating", f)));
            return new SimulateOutcome(answersPath, truthPath, (long)ds.Tasks * ds.PerTask, ds.Tasks, null, clock.Elapsed.TotalSeconds);
        }
        var crowd = request.Sparse is { } sparse
            ? new SparseCrowdSimulator().Generate(sparse)
            : new AdversarySimulator().Generate(request.Rowdy!).ToSimulatedCrowd();
        Directory.CreateDirectory(request.OutputDirectory);
        AnswerFiles.WriteAnswers(crowd.Answers, answersPath);
        AnswerFiles.WriteTruth(crowd.Answers, crowd.Truth, truthPath);
        return new SimulateOutcome(answersPath, truthPath, crowd.Answers.AnswerCount, crowd.Answers.TaskCount,
            crowd.Answers.WorkerCount, clock.Elapsed.TotalSeconds);
    }
}
