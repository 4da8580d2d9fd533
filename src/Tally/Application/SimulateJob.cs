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
    /// <summary>The answers CSV to write (<c>task,worker,label</c>).</summary>
    public required string AnswersPath { get; init; }
    /// <summary>The truth CSV to write (<c>task,truth</c>); null = <see cref="SimulateJob.DefaultTruthPath"/>.</summary>
    public string? TruthPath { get; init; }
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
    /// <summary>The truth file beside <paramref name="answersPath"/>: <c>NAME.truth.csv</c> in the same folder.</summary>
    public static string DefaultTruthPath(string answersPath) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(answersPath))!, Path.GetFileNameWithoutExtension(answersPath) + ".truth.csv");

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
        string truthPath = request.TruthPath ?? DefaultTruthPath(request.AnswersPath);
        request.DawidSkene?.Validate();
        request.Sparse?.Validate();
        request.Rowdy?.Validate();
        OutputChecks.WritableFile(request.AnswersPath, "--out");
        OutputChecks.WritableFile(truthPath, "--truth-out");
        cancellationToken.ThrowIfCancellationRequested();

        var clock = Stopwatch.StartNew();
        progress?.Report(new JobProgress("Simulating", 0));
        if (request.DawidSkene is { } ds)
        {
            new DawidSkeneSimulator().WriteCsv(ds, request.AnswersPath, truthPath, f => progress?.Report(new JobProgress("Simulating", f)));
            return new SimulateOutcome(request.AnswersPath, truthPath, (long)ds.Tasks * ds.PerTask, ds.Tasks, null, clock.Elapsed.TotalSeconds);
        }
        var crowd = request.Sparse is { } sparse
            ? new SparseCrowdSimulator().Generate(sparse)
            : new AdversarySimulator().Generate(request.Rowdy!).ToSimulatedCrowd();
        AnswerFiles.WriteAnswers(crowd.Answers, request.AnswersPath);
        AnswerFiles.WriteTruth(crowd.Answers, crowd.Truth, truthPath);
        return new SimulateOutcome(request.AnswersPath, truthPath, crowd.Answers.AnswerCount, crowd.Answers.TaskCount,
            crowd.Answers.WorkerCount, clock.Elapsed.TotalSeconds);
    }
}
