using System.Diagnostics;
using Tally.Aggregation.MultiLabel;
using Tally.Catalogs;
using Tally.Core;

namespace Tally.Application;

/// <summary>What <see cref="MultiLabelJob"/> should do.</summary>
public sealed record MultiLabelRequest
{
    /// <summary>The answers file (<c>task,worker,label</c> with <c>|</c>-separated labels); bundled datasets are single-label and refused.</summary>
    public required InputSource Answers { get; init; }
    /// <summary>How to read it (<see cref="AnswerFileOptions.Classes"/> = the allowed labels).</summary>
    public AnswerFileOptions Format { get; init; } = new();
    /// <summary>The binary method applied per label (see <see cref="AggregatorCatalog"/>); null = <see cref="AggregateJob.DefaultMethod"/>.</summary>
    public string? Method { get; init; }
    /// <summary>Overrides of the binary method's defaults.</summary>
    public CommonMethodOptions Overrides { get; init; } = new();
    /// <summary>Options of the reduction (threshold of the inferred sets).</summary>
    public BinaryRelevanceOptions Options { get; init; } = new();
    /// <summary>Folder for <c>labels</c> and <c>workers</c> (null = write nothing).</summary>
    public string? OutputDirectory { get; init; }
    /// <summary>Format of the files; null = CSV. Given without a folder, it is refused.</summary>
    public OutputFormat? OutputFormat { get; init; }
}

/// <summary>What <see cref="MultiLabelJob"/> did.</summary>
/// <param name="Result">Probabilities per task and label, and each label's binary result.</param>
/// <param name="Method">The binary method's catalog entry.</param>
/// <param name="Source">The input, for display.</param>
/// <param name="ReadSeconds">Time spent reading.</param>
/// <param name="FitSeconds">Time spent in the method (all labels).</param>
/// <param name="Written">Files written.</param>
public sealed record MultiLabelOutcome(MultiLabelResult Result, AggregatorInfo Method, string Source, double ReadSeconds, double FitSeconds,
    IReadOnlyList<string> Written);

/// <summary>
/// The multi-label job: read set-valued answers, infer each label by binary relevance over one registered method, write
/// the tables. Used by <c>tally aggregate --type multilabel</c> and open to the server.
/// </summary>
public static class MultiLabelJob
{
    /// <summary>Runs the job. Output locations are checked before any work.</summary>
    /// <exception cref="TallyUserException">Bad input or options.</exception>
    public static MultiLabelOutcome Run(MultiLabelRequest request, ComputeOptions? compute = null, IProgress<JobProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Answers.Dataset is not null)
            throw new TallyUserException("the bundled datasets hold single-label answers; --type multilabel reads a file whose labels are |-separated sets");
        var (path, _, source) = request.Answers.Resolve();
        request.Options.Validate();
        if (request.OutputDirectory is { } outDir) OutputChecks.WritableDirectory(outDir);
        if (request.OutputFormat is not null && request.OutputDirectory is null)
            throw new TallyUserException("--format applies to the files written with --out; give --out DIR (or drop --format)");
        string name = request.Method ?? AggregateJob.DefaultMethod;
        var info = AggregatorCatalog.Find(name)
            ?? throw new TallyUserException($"unknown method {Quote.Value(name)} (known: {string.Join(", ", AggregatorCatalog.All.Select(m => m.Name))})");
        CompareJob.CheckOverrides(request.Overrides, [info]);

        var clock = Stopwatch.StartNew();
        progress?.Report(new JobProgress("Reading answers", 0));
        var answers = MultiLabelAnswers.Read(path, request.Format);
        double readSeconds = clock.Elapsed.TotalSeconds;
        clock.Restart();
        var labels = new SyncProgress<IterationProgress>(p => progress?.Report(new JobProgress($"Running {info.Name} per label", (double)p.Iteration / p.MaxIterations)));
        var result = new BinaryRelevance(info.Create(request.Overrides), request.Options).Aggregate(answers, compute, labels, cancellationToken);
        double fitSeconds = clock.Elapsed.TotalSeconds;
        var written = request.OutputDirectory is { } dir ? Write(result, dir, request.OutputFormat ?? OutputFormat.Csv) : [];
        return new MultiLabelOutcome(result, info, source, readSeconds, fitSeconds, written);
    }

    /// <summary>Infers answers already in memory (a service project's) by binary relevance over the named method — the same fit as <see cref="Run"/>.</summary>
    /// <exception cref="TallyUserException">An unknown method or invalid options.</exception>
    public static MultiLabelResult Fit(MultiLabelAnswers answers, string? method = null, CommonMethodOptions? overrides = null,
        BinaryRelevanceOptions? options = null, ComputeOptions? compute = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(answers);
        string name = method ?? AggregateJob.DefaultMethod;
        var info = AggregatorCatalog.Find(name)
            ?? throw new TallyUserException($"unknown method {Quote.Value(name)} (known: {string.Join(", ", AggregatorCatalog.All.Select(m => m.Name))})");
        overrides ??= new CommonMethodOptions();
        CompareJob.CheckOverrides(overrides, [info]);
        return new BinaryRelevance(info.Create(overrides), options).Aggregate(answers, compute, null, cancellationToken);
    }

    /// <summary>
    /// Writes <c>labels</c> (task, labels = the inferred set joined by <c>|</c>, p_&lt;label&gt; per label) and <c>workers</c>
    /// (worker, answers, skill_&lt;label&gt; per label: the binary method's skill on that label).
    /// </summary>
    public static IReadOnlyList<string> Write(MultiLabelResult r, string directory, OutputFormat format)
    {
        ArgumentNullException.ThrowIfNull(r);
        var a = r.Answers;
        var sets = a.Sets;
        var names = a.Labels.Names;
        return
        [
            TableFile.Write(directory, "labels", format, ["task", "labels", .. names.Select(n => "p_" + n)], t =>
            {
                for (int i = 0; i < sets.TaskCount; i++)
                {
                    t.Text(sets.Tasks[i]).Text(string.Join(MultiLabelAnswers.Separator, r.Set(i).Select(l => names[l])));
                    foreach (double p in r.Probabilities.Row(i)) t.Number(p);
                    t.EndRow();
                }
            }),
            TableFile.Write(directory, "workers", format, ["worker", "answers", .. names.Select(n => "skill_" + n)], t =>
            {
                for (int w = 0; w < sets.WorkerCount; w++)
                {
                    t.Text(sets.Workers[w]).Integer(sets.WorkerDegree(w));
                    foreach (var label in r.PerLabel) t.Number(label.WorkerSkills[w]);
                    t.EndRow();
                }
            }),
        ];
    }
}
