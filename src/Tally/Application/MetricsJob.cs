using Tally.Aggregation;
using Tally.Catalogs;
using Tally.Core;
using Tally.Metrics;

namespace Tally.Application;

/// <summary>What <see cref="MetricsJob"/> should do.</summary>
public sealed record MetricsRequest
{
    /// <summary>The answers (a file or a bundled dataset, whose truth then comes along).</summary>
    public required InputSource Answers { get; init; }
    /// <summary>How to read them.</summary>
    public AnswerFileOptions Format { get; init; } = new();
    /// <summary>
    /// An aggregate to measure against: a <c>labels.csv</c> as <c>tally aggregate --out</c> writes it (<c>task,label,…,p_&lt;class&gt;…</c>;
    /// without p_ columns the label counts as certain). Null = aggregate here with <see cref="Method"/>.
    /// </summary>
    public string? LabelsPath { get; init; }
    /// <summary>Method that makes the aggregate when no <see cref="LabelsPath"/> is given; null = <see cref="AggregateJob.DefaultMethod"/>.</summary>
    public string? Method { get; init; }
    /// <summary>Overrides of that method's defaults.</summary>
    public CommonMethodOptions Overrides { get; init; } = new();
    /// <summary>Truth file (<c>task,truth</c>) for the workers' accuracy on gold; a bundled dataset brings its own.</summary>
    public string? TruthPath { get; init; }
    /// <summary>Options of the metrics (interval coverage).</summary>
    public QualityMetricsOptions Options { get; init; } = new();
    /// <summary>Folder for <c>metrics</c>, <c>tasks</c> and <c>workers</c> (null = write nothing).</summary>
    public string? OutputDirectory { get; init; }
    /// <summary>Format of the files; null = CSV. Given without a folder, it is refused.</summary>
    public OutputFormat? OutputFormat { get; init; }
}

/// <summary>What <see cref="MetricsJob"/> measured.</summary>
/// <param name="Report">The metrics.</param>
/// <param name="Source">The input, for display.</param>
/// <param name="Aggregate">Where the aggregate came from: "labels FILE" or the method's name.</param>
/// <param name="DroppedDuplicates">Answers dropped under the duplicate policy.</param>
/// <param name="Truth">The truth read, or null.</param>
/// <param name="Written">Files written.</param>
public sealed record MetricsOutcome(QualityReport Report, string Source, string Aggregate, int DroppedDuplicates, TruthRead? Truth,
    IReadOnlyList<string> Written)
{
    /// <summary>Rows of the labels file naming tasks without answers (not used; front ends report them).</summary>
    public int UnknownLabelRows { get; init; }

    /// <summary>The headline metrics as (name, value) rows, value null where undefined — the rows of the <c>metrics</c> table.</summary>
    public IReadOnlyList<(string Metric, double? Value)> Summary
    {
        get
        {
            var r = Report;
            var rows = new List<(string, double?)>
            {
                ("alpha_nominal", r.AlphaNominal), ("alpha_ordinal", r.AlphaOrdinal), ("alpha_interval", r.AlphaInterval),
                ("fleiss_kappa", r.FleissKappa), ("mean_entropy", r.MeanEntropy), ("mean_consistency", r.MeanConsistency),
                ("mean_task_agreement", r.MeanTaskAgreement),
            };
            if (r.HasTruth)
            {
                long answered = 0, correct = 0;
                for (int w = 0; w < r.GoldAnswers.Length; w++) { answered += r.GoldAnswers[w]; correct += r.GoldCorrect[w]; }
                rows.Add(("answer_accuracy_on_gold", answered > 0 ? (double)correct / answered : null));
            }
            return rows;
        }
    }
}

/// <summary>
/// The metrics job: read answers, take an aggregate (a labels file, or one method run here through the same code as
/// <see cref="AggregateJob"/>), measure agreement and quality (<see cref="QualityMetrics"/>), write the tables. Used by
/// <c>tally metrics</c>; the service can call it on a project's answers.
/// </summary>
public static class MetricsJob
{
    /// <summary>Columns of the per-task table.</summary>
    public static IReadOnlyList<string> TaskColumns { get; } = ["task", "label", "answers", "entropy", "agreement", "consistency"];

    /// <summary>Columns of the per-worker table.</summary>
    public static IReadOnlyList<string> WorkerColumns { get; } =
        ["worker", "answers", "agreement", "gold_answers", "gold_correct", "accuracy", "accuracy_low", "accuracy_high"];

    /// <summary>Runs the job. Output locations are checked before any work.</summary>
    /// <exception cref="TallyUserException">Bad input or options.</exception>
    public static MetricsOutcome Run(MetricsRequest request, ComputeOptions? compute = null, IProgress<JobProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Options.Validate();
        var (path, datasetTruth, source) = request.Answers.Resolve();
        if (request.OutputDirectory is { } outDir) OutputChecks.WritableDirectory(outDir);
        if (request.OutputFormat is not null && request.OutputDirectory is null)
            throw new TallyUserException("--format applies to the files written with --out; give --out DIR (or drop --format)");
        if (request.LabelsPath is not null && request.Method is not null)
            throw new TallyUserException("--method makes the aggregate; with --labels the aggregate is read from the file: give one of the two");
        AggregatorInfo? info = null;
        if (request.LabelsPath is null)
        {
            string name = request.Method ?? AggregateJob.DefaultMethod;
            info = AggregatorCatalog.Find(name)
                ?? throw new TallyUserException($"unknown method {Quote.Value(name)} (known: {string.Join(", ", AggregatorCatalog.All.Select(m => m.Name))})");
            CompareJob.CheckOverrides(request.Overrides, [info]);
        }
        else if (request.Overrides != new CommonMethodOptions())
            throw new TallyUserException("method options (--max-iterations, --tolerance, --seed, --prior) apply when the aggregate is made here; with --labels it is read from the file");

        var format = request.Format;
        IReadOnlyList<string>? labelClasses = request.LabelsPath is { } lp ? PosteriorClasses(lp, format.Encoding) : null;
        if (labelClasses is not null)
        {
            if (format.Classes is { Count: > 0 } given && !given.SequenceEqual(labelClasses, StringComparer.Ordinal))
                throw new TallyUserException($"--classes {Quote.Value(string.Join(",", given))} differs from the classes of the labels file ({Quote.Bare(string.Join(",", labelClasses))})");
            format = format with { Classes = labelClasses };
        }
        progress?.Report(new JobProgress("Reading " + request.Answers.What, 0));
        var build = AnswerFiles.ReadAnswers(path, format, f => progress?.Report(new JobProgress("Reading " + request.Answers.What, f)));
        var matrix = build.Matrix;
        string? truthPath = request.TruthPath ?? datasetTruth;
        TruthRead? truth = truthPath is null ? null : AnswerFiles.ReadTruth(truthPath, matrix, encoding: format.Encoding);

        double[] posteriors;
        string aggregate;
        int unknownRows = 0;
        if (request.LabelsPath is { } labelsPath)
        {
            posteriors = ReadPosteriors(labelsPath, matrix, labelClasses is { Count: > 0 }, format.Encoding, out unknownRows);
            aggregate = "labels " + labelsPath;
        }
        else
        {
            var method = info!;
            progress?.Report(new JobProgress($"Running {method.Name}", 0));
            var result = method.Create(request.Overrides).Aggregate(matrix, compute, null, cancellationToken);
            posteriors = result.Posteriors.Values.ToArray();
            aggregate = method.Name;
        }
        var report = QualityMetrics.Compute(matrix, posteriors, truth?.Labels, request.Options);
        var outcome = new MetricsOutcome(report, source, aggregate, build.DroppedDuplicates, truth, []) { UnknownLabelRows = unknownRows };
        if (request.OutputDirectory is { } dir) outcome = outcome with { Written = Write(outcome, dir, request.OutputFormat ?? OutputFormat.Csv) };
        return outcome;
    }

    /// <summary>
    /// Measures answers already in memory (a service project's) against the named method's aggregate — the same metrics
    /// as <see cref="Run"/>.
    /// </summary>
    /// <exception cref="TallyUserException">An unknown method or invalid options.</exception>
    public static QualityReport Measure(LabelMatrix answers, string? method = null, GoldLabels? truth = null, QualityMetricsOptions? options = null,
        ComputeOptions? compute = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(answers);
        string name = method ?? AggregateJob.DefaultMethod;
        var info = AggregatorCatalog.Find(name)
            ?? throw new TallyUserException($"unknown method {Quote.Value(name)} (known: {string.Join(", ", AggregatorCatalog.All.Select(m => m.Name))})");
        var result = info.Create(new CommonMethodOptions()).Aggregate(answers, compute, null, cancellationToken);
        return QualityMetrics.Compute(answers, result.Posteriors.Values, truth, options);
    }

    /// <summary>Writes <c>metrics</c> (metric,value), <c>tasks</c> (<see cref="TaskColumns"/>) and <c>workers</c> (<see cref="WorkerColumns"/>).</summary>
    public static IReadOnlyList<string> Write(MetricsOutcome outcome, string directory, OutputFormat format)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        var r = outcome.Report;
        var a = r.Answers;
        return
        [
            TableFile.Write(directory, "metrics", format, ["metric", "value"], t =>
            {
                foreach (var (metric, value) in outcome.Summary) { t.Text(metric).Number(value); t.EndRow(); }
            }),
            TableFile.Write(directory, "tasks", format, TaskColumns, t =>
            {
                for (int i = 0; i < a.TaskCount; i++)
                {
                    t.Text(a.Tasks[i]).Text(a.Classes[r.Labels[i]]).Integer(a.TaskDegree(i)).Number(r.Entropy[i]).Number(r.TaskAgreement[i]).Number(r.Consistency[i]);
                    t.EndRow();
                }
            }),
            TableFile.Write(directory, "workers", format, WorkerColumns, t =>
            {
                for (int w = 0; w < a.WorkerCount; w++)
                {
                    bool gold = r.GoldAnswers[w] > 0;
                    t.Text(a.Workers[w]).Integer(a.WorkerDegree(w)).Number(r.WorkerAgreement[w]).Integer(r.GoldAnswers[w]).Integer(r.GoldCorrect[w])
                     .Number(r.Accuracy(w)).Number(gold ? r.AccuracyLow[w] : null).Number(gold ? r.AccuracyHigh[w] : null);
                    t.EndRow();
                }
            }),
        ];
    }

    /// <summary>The classes of a labels file's p_ columns, in their order; null when it has none (labels only).</summary>
    private static IReadOnlyList<string>? PosteriorClasses(string path, FileEncoding encoding)
    {
        using var csv = CsvRecordReader.Open(path, encoding: encoding);
        csv.Column("task");
        csv.Column("label");
        var classes = csv.Header.Where(h => h.StartsWith("p_", StringComparison.Ordinal)).Select(h => h[2..]).ToList();
        return classes.Count > 0 ? classes : null;
    }

    /// <summary>The posterior of every task of <paramref name="matrix"/> from a labels file (one-hot when it has no p_ columns).</summary>
    private static double[] ReadPosteriors(string path, LabelMatrix matrix, bool hasProbabilities, FileEncoding encoding, out int unknownRows)
    {
        unknownRows = 0;
        int T = matrix.TaskCount, K = matrix.ClassCount;
        var p = new double[(long)T * K];
        var seen = new bool[T];
        using var csv = CsvRecordReader.Open(path, encoding: encoding);
        int tc = csv.Column("task"), lc = csv.Column("label");
        var pc = new int[K];
        if (hasProbabilities) for (int c = 0; c < K; c++) pc[c] = csv.Column("p_" + matrix.Classes[c]);
        while (csv.ReadChecked())
        {
            if (!matrix.Tasks.TryGetIndex(csv.Field(tc), out int t)) { unknownRows++; continue; }
            if (seen[t]) throw new TallyDataException(csv.SourceName, csv.LineNumber, $"task {Quote.Value(csv.Field(tc))} is given twice");
            seen[t] = true;
            var row = p.AsSpan(t * K, K);
            if (hasProbabilities)
            {
                double sum = 0;
                for (int c = 0; c < K; c++)
                {
                    if (!NumberFormat.TryParse(csv.Field(pc[c]), out row[c]) || !(row[c] >= 0 && row[c] <= 1))
                        throw new TallyDataException(csv.SourceName, csv.LineNumber, $"p_{matrix.Classes[c]} {Quote.Value(csv.Field(pc[c]))} is not a probability");
                    sum += row[c];
                }
                if (Math.Abs(sum - 1) > 1e-6) throw new TallyDataException(csv.SourceName, csv.LineNumber, $"the probabilities sum to {NumberFormat.Number(sum)}, not 1");
                for (int c = 0; c < K; c++) row[c] /= sum;
            }
            else
            {
                if (!matrix.Classes.TryGetIndex(csv.Field(lc), out int c))
                    throw new TallyDataException(csv.SourceName, csv.LineNumber, $"label {Quote.Value(csv.Field(lc))} is not a class of the answers ({Quote.Bare(string.Join(", ", matrix.Classes.Names))})");
                row[c] = 1;
            }
        }
        for (int t = 0; t < T; t++)
            if (!seen[t]) throw new TallyDataException(path, 0, $"no row for task {Quote.Value(matrix.Tasks[t])} of the answers");
        return p;
    }
}
