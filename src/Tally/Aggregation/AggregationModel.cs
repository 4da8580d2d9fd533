using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Serialization;
using Tally.Core;

namespace Tally.Aggregation;

/// <summary>How a fitted model turns a task's answers into a posterior.</summary>
public enum WorkerModelKind
{
    /// <summary>
    /// Each worker w has a confusion matrix π_w[j, l] = P(answer l | true class j) and classes a prior ρ:
    /// posterior[t, j] ∝ ρ_j · Π over t's answers π_w[j, l] (the Dawid-Skene E-step, computed in log space).
    /// </summary>
    Confusion,
    /// <summary>Each worker's answer is a vote of weight v_w: posterior[t, c] ∝ Σ over t's answers of class c of v_w.</summary>
    Vote,
    /// <summary>
    /// Each worker w is right with probability p_w and otherwise picks one of the other K − 1 classes uniformly — the
    /// confusion matrix π_w[j, l] = p_w if l = j, (1 − p_w)/(K − 1) otherwise, stored as its one number p_w:
    /// posterior[t, j] ∝ ρ_j · Π over t's answers of class j of p_w (K − 1)/(1 − p_w). W numbers instead of W·K², so
    /// the methods that fit only an accuracy per worker (GLAD, KOS, M-MSR) stay small for any number of classes.
    /// </summary>
    OneCoin,
}

/// <summary>What <see cref="AggregationModel.Predict"/> does with answers by workers the model has not seen.</summary>
public enum UnseenWorkerPolicy
{
    /// <summary>
    /// Treat each as the model's average worker: the answer-weighted mean of the fitted confusion matrices (or vote
    /// weights). A new worker is assumed typical of the crowd until a refit learns otherwise. The default.
    /// </summary>
    Average,
    /// <summary>Leave their answers out (a task answered only by unseen workers gets the class prior).</summary>
    Ignore,
    /// <summary>Refuse the answers, naming the first unseen worker.</summary>
    Error,
}

/// <summary>Options of <see cref="AggregationModel.Predict"/>.</summary>
public sealed record PredictOptions
{
    /// <summary>Answers by workers the model has not seen; default <see cref="UnseenWorkerPolicy.Average"/>.</summary>
    public UnseenWorkerPolicy UnseenWorkers { get; init; } = UnseenWorkerPolicy.Average;

    /// <summary>Checks the options.</summary>
    public void Validate() => Check.Defined(UnseenWorkers, nameof(UnseenWorkers));
}

/// <summary>
/// A fitted truth-inference model: the method, its options, the classes and, per worker, what the method learned —
/// a confusion matrix or a vote weight — with the class prior. Immutable and serialisable (<see cref="ToJson"/>,
/// <see cref="Save"/>; numbers round-trip exactly). <see cref="Predict"/> labels tasks with the worker parameters held
/// fixed, including tasks the model never saw; <see cref="IAggregator.Refine"/> starts a new fit from it.
/// </summary>
/// <remarks>
/// Methods whose fit keeps task-level parameters (GLAD's difficulties) or messages (BP, KOS) predict with their worker
/// parameters only: GLAD as if every task had the prior difficulty (β = 1), BP with the posterior-mean confusions, KOS
/// as a one-coin model whose log-odds are its worker reliabilities. On the fitted answers those predictions can differ a
/// little from the fit's own posteriors, which also used the task-level parameters.
/// </remarks>
public sealed record AggregationModel
{
    /// <summary>
    /// The version of the file format <see cref="ToJson"/> writes: 2 added <see cref="WorkerModelKind.OneCoin"/> (version 1
    /// files, which have only the other kinds, are read as they are).
    /// </summary>
    public const int CurrentFormatVersion = 2;

    /// <summary>Format version (files of a newer version are refused).</summary>
    public int FormatVersion { get; init; } = CurrentFormatVersion;
    /// <summary>Short name of the method that fitted the model (<c>ds</c>, <c>glad</c>, …).</summary>
    public required string Method { get; init; }
    /// <summary>The method's options, as JSON (a record of how the model was fitted).</summary>
    public string Options
    {
        // A fit keeps its options record and writes the JSON only when someone reads it (a saved model, a comparison):
        // the first reflection-based serialisation in a process costs more than majority vote on a million answers.
        get => _options ??= FittedOptions is null ? "{}" : OptionsJson(FittedOptions);
        init => _options = value;
    }

    private string? _options;
    /// <summary>The options record of a fit made in this process (not serialised: <see cref="Options"/> is its JSON).</summary>
    private object? FittedOptions { get; init; }
    /// <summary>Class names, in class-index order.</summary>
    public required ImmutableArray<string> Classes { get; init; }
    /// <summary>Worker identifiers, in the order of the per-worker arrays.</summary>
    public required ImmutableArray<string> Workers { get; init; }
    /// <summary>How answers are combined.</summary>
    public required WorkerModelKind Kind { get; init; }
    /// <summary>Class prior ρ (K values summing to 1); empty = uniform.</summary>
    public ImmutableArray<double> ClassPriors { get; init; } = [];
    /// <summary><see cref="WorkerModelKind.Confusion"/>: W×K×K, worker after worker, row = true class, rows sum to 1.</summary>
    public ImmutableArray<double> Confusions { get; init; } = [];
    /// <summary><see cref="WorkerModelKind.Vote"/>: one non-negative weight per worker.</summary>
    public ImmutableArray<double> Weights { get; init; } = [];
    /// <summary><see cref="WorkerModelKind.OneCoin"/>: each worker's probability of a correct answer, strictly inside (0, 1) (1 when K = 1).</summary>
    public ImmutableArray<double> Accuracies { get; init; } = [];
    /// <summary>Each worker's skill as the method reports it.</summary>
    public required ImmutableArray<double> Skills { get; init; }
    /// <summary>How many answers each worker gave in the fit (weights of the average worker).</summary>
    public required ImmutableArray<int> AnswerCounts { get; init; }

    /// <summary>K.</summary>
    [JsonIgnore] public int ClassCount => Classes.Length;
    /// <summary>W.</summary>
    [JsonIgnore] public int WorkerCount => Workers.Length;

    /// <summary>A confusion model fitted on <paramref name="answers"/> (arrays are taken over).</summary>
    internal static AggregationModel ForConfusions(string method, object options, LabelMatrix answers, double[] confusions,
        double[]? classPriors, double[] skills) => new()
    {
        Method = method,
        FittedOptions = options,
        Classes = [.. answers.Classes.Names],
        Workers = [.. answers.Workers.Names],
        Kind = WorkerModelKind.Confusion,
        ClassPriors = classPriors is null ? [] : AggregationResult.Wrap(classPriors),
        Confusions = AggregationResult.Wrap(confusions),
        Skills = AggregationResult.Wrap((double[])skills.Clone()),
        AnswerCounts = Degrees(answers),
    };

    /// <summary>A vote model fitted on <paramref name="answers"/>; <paramref name="weights"/> null = every vote weighs 1.</summary>
    internal static AggregationModel ForVotes(string method, object options, LabelMatrix answers, double[]? weights, double[] skills)
    {
        if (weights is null) { weights = new double[answers.WorkerCount]; Array.Fill(weights, 1.0); }
        return new()
        {
            Method = method,
            FittedOptions = options,
            Classes = [.. answers.Classes.Names],
            Workers = [.. answers.Workers.Names],
            Kind = WorkerModelKind.Vote,
            Weights = AggregationResult.Wrap((double[])weights.Clone()),
            Skills = AggregationResult.Wrap((double[])skills.Clone()),
            AnswerCounts = Degrees(answers),
        };
    }

    /// <summary>A one-coin model from accuracies p_w (errors uniform over the other K − 1 classes), W numbers for any K.</summary>
    internal static AggregationModel ForOneCoin(string method, object options, LabelMatrix answers, ReadOnlySpan<double> accuracy,
        double[]? classPriors, double[] skills)
    {
        int k = answers.ClassCount, W = answers.WorkerCount;
        var p = new double[W];
        for (int w = 0; w < W; w++)
            p[w] = k == 1 ? 1 : Math.Clamp(accuracy[w], Numerics.MinProbability, 1 - Numerics.MinProbability);
        return new()
        {
            Method = method,
            FittedOptions = options,
            Classes = [.. answers.Classes.Names],
            Workers = [.. answers.Workers.Names],
            Kind = WorkerModelKind.OneCoin,
            ClassPriors = classPriors is null ? [] : AggregationResult.Wrap(classPriors),
            Accuracies = AggregationResult.Wrap(p),
            Skills = AggregationResult.Wrap((double[])skills.Clone()),
            AnswerCounts = Degrees(answers),
        };
    }

    private static ImmutableArray<int> Degrees(LabelMatrix answers)
    {
        var d = new int[answers.WorkerCount];
        for (int w = 0; w < d.Length; w++) d[w] = answers.WorkerDegree(w);
        return AggregationResult.Wrap(d);
    }

    private static readonly JsonSerializerOptions OptionsWriter = new()
    {
        WriteIndented = false,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    private static string OptionsJson(object options) => JsonSerializer.Serialize(options, options.GetType(), OptionsWriter);

    /// <summary>Checks that <paramref name="start"/> can start a refit of <paramref name="method"/> on <paramref name="answers"/>.</summary>
    /// <exception cref="TallyUserException">Another method's model, or other classes.</exception>
    public static void CheckStart(AggregationModel start, string method, LabelMatrix answers)
    {
        ArgumentNullException.ThrowIfNull(start);
        if (!string.Equals(start.Method, method, StringComparison.Ordinal))
            throw new TallyUserException($"the model was fitted by '{start.Method}', not '{method}'");
        start.CheckClasses(answers);
    }

    /// <summary>
    /// The warm start of an EM refit: checks that <paramref name="start"/> belongs to <paramref name="method"/> and
    /// the answers' classes, and returns the posteriors it predicts for <paramref name="answers"/> (T×K, a fresh array).
    /// </summary>
    /// <exception cref="TallyUserException">Another method's model, or other classes.</exception>
    public static double[] StartingPosteriors(AggregationModel start, string method, LabelMatrix answers, ComputeOptions? compute,
        CancellationToken cancellationToken)
    {
        CheckStart(start, method, answers);
        return start.Predict(answers, null, compute, cancellationToken).Posteriors.Values.ToArray();
    }

    private void CheckClasses(LabelMatrix answers)
    {
        var names = answers.Classes.Names;
        bool same = names.Count == Classes.Length;
        for (int c = 0; same && c < names.Count; c++) same = string.Equals(names[c], Classes[c], StringComparison.Ordinal);
        if (!same)
            throw new TallyUserException($"the answers' classes ({string.Join(", ", names)}) are not the model's ({string.Join(", ", Classes)}); read them with the model's classes");
    }

    /// <summary>
    /// The model's worker index of each of <paramref name="answers"/>' workers, or −1 for a worker it has not seen.
    /// </summary>
    public int[] MapWorkers(LabelMatrix answers, out int unseen)
    {
        var index = new Dictionary<string, int>(Workers.Length, StringComparer.Ordinal);
        for (int w = 0; w < Workers.Length; w++) index[Workers[w]] = w;
        var map = new int[answers.WorkerCount];
        unseen = 0;
        for (int w = 0; w < map.Length; w++)
        {
            map[w] = index.TryGetValue(answers.Workers[w], out int m) ? m : -1;
            if (map[w] < 0) unseen++;
        }
        return map;
    }

    /// <summary>
    /// Labels every task of <paramref name="answers"/> with the worker parameters held fixed: the posterior of each task
    /// given its answers (gold tasks clamped), one pass, no refitting. Tasks need not have been seen in the fit.
    /// </summary>
    /// <exception cref="TallyUserException">Other classes than the model's; or an unseen worker under <see cref="UnseenWorkerPolicy.Error"/>.</exception>
    public AggregationResult Predict(LabelMatrix answers, PredictOptions? options = null, ComputeOptions? compute = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(answers);
        options ??= new PredictOptions();
        options.Validate();
        CheckClasses(answers);
        var map = MapWorkers(answers, out int unseen);
        if (unseen > 0 && options.UnseenWorkers == UnseenWorkerPolicy.Error)
        {
            int first = Array.IndexOf(map, -1);
            throw new TallyUserException($"{unseen} worker(s) of the answers are not in the model (first: '{answers.Workers[first]}'); refit, or predict with unseen workers treated as average or ignored");
        }
        bool ignore = options.UnseenWorkers == UnseenWorkerPolicy.Ignore;
        int k = ClassCount, T = answers.TaskCount, W = answers.WorkerCount;
        // Predicting holds the log-confusions of the answers' workers and, as a fit does, the posteriors and a copy of the
        // confusions for the result.
        Footprints.Require(Method, answers, compute, confusions: Kind == WorkerModelKind.Confusion ? 2 : 0);
        var post = Kind switch
        {
            WorkerModelKind.Confusion => ConfusionPosteriors(answers, map, ignore, compute, cancellationToken),
            WorkerModelKind.OneCoin => OneCoinPosteriors(answers, map, ignore),
            _ => VotePosteriors(answers, map, ignore),
        };
        Numerics.ClampGold(answers, post);
        var skills = new double[W];
        double averageSkill = Average(Skills.AsSpan(), AnswerCounts.AsSpan());
        for (int w = 0; w < W; w++) skills[w] = map[w] >= 0 ? Skills[map[w]] : ignore ? 0 : averageSkill;
        ConfusionMatrices? confusions = null;
        if (Kind == WorkerModelKind.Confusion)
        {
            var conf = new double[MemoryBudget.Length(W, k, k)];
            var avg = AverageConfusion();
            for (int w = 0; w < W; w++)
                (map[w] >= 0 ? Confusions.AsSpan(map[w] * k * k, k * k) : avg).CopyTo(conf.AsSpan(w * k * k, k * k));
            confusions = new ConfusionMatrices(W, k, conf);
        }
        return AggregationResult.Create(Method, answers, post, skills, this) with
        {
            Confusions = confusions,
            ClassPriors = ClassPriors,
            UnseenWorkers = unseen,
        };
    }

    /// <summary>The log class prior (uniform when the model has none), floored so every log is finite.</summary>
    internal double[] LogPrior()
    {
        int k = ClassCount;
        var lp = new double[k];
        for (int c = 0; c < k; c++)
            lp[c] = ClassPriors.IsDefaultOrEmpty ? -Math.Log(k) : Math.Log(Math.Max(ClassPriors[c], Numerics.MinProbability));
        return lp;
    }

    /// <summary>The answer-weighted mean confusion matrix (K×K; uniform rows if the model has no answers).</summary>
    internal double[] AverageConfusion()
    {
        int k = ClassCount, kk = k * k;
        var avg = new double[kk];
        if (Kind != WorkerModelKind.Confusion) return avg;
        double total = 0;
        for (int w = 0; w < WorkerCount; w++)
        {
            double weight = Math.Max(1, AnswerCounts[w]);
            total += weight;
            var m = Confusions.AsSpan(w * kk, kk);
            for (int i = 0; i < kk; i++) avg[i] += weight * m[i];
        }
        for (int r = 0; r < k; r++)
        {
            var row = avg.AsSpan(r * k, k);
            if (total > 0) for (int i = 0; i < k; i++) row[i] /= total;
            Numerics.Normalize(row);
        }
        return avg;
    }

    private static double Average(ReadOnlySpan<double> values, ReadOnlySpan<int> counts)
    {
        double sum = 0, n = 0;
        for (int i = 0; i < values.Length; i++) { double w = Math.Max(1, counts[i]); sum += w * values[i]; n += w; }
        return n > 0 ? sum / n : 0;
    }

    private double[] ConfusionPosteriors(LabelMatrix answers, int[] map, bool ignore, ComputeOptions? compute, CancellationToken ct)
    {
        int k = ClassCount, kk = k * k, T = answers.TaskCount;
        // [w][l][j] log-confusions of the answers' workers (unseen: the average worker, or zeros when ignored).
        var logConf = new double[MemoryBudget.Length(answers.WorkerCount, k, k)];
        var avg = AverageConfusion();
        for (int w = 0; w < answers.WorkerCount; w++)
        {
            if (map[w] < 0 && ignore) continue;
            var m = map[w] >= 0 ? Confusions.AsSpan(map[w] * kk, kk) : avg;
            for (int j = 0; j < k; j++)
                for (int l = 0; l < k; l++)
                    logConf[w * kk + l * k + j] = Math.Log(Math.Max(m[j * k + l], Numerics.MinProbability));
        }
        var logPrior = LogPrior();
        var post = new double[MemoryBudget.Length(T, k)];
        Parallelism.For(T, answers.AnswerCount * (long)k, compute, (start, end) =>
        {
            var off = answers.TaskOffsets;
            var workers = answers.TaskWorkers;
            var labels = answers.TaskLabels;
            for (int t = start; t < end; t++)
            {
                var row = post.AsSpan(t * k, k);
                logPrior.AsSpan().CopyTo(row);
                for (int i = off[t]; i < off[t + 1]; i++)
                {
                    var p = logConf.AsSpan((workers[i] * k + labels[i]) * k, k);
                    for (int c = 0; c < row.Length; c++) row[c] += p[c];
                }
                Numerics.NormalizeLog(row);
            }
        }, ct);
        return post;
    }

    /// <summary>
    /// The one-coin E-step: log ρ_j plus, for each answer of class j, log(p_w (K − 1)/(1 − p_w)) — the factor
    /// (1 − p_w)/(K − 1) that every class shares cancels in the normalisation, so one answer costs O(1), not O(K).
    /// </summary>
    private double[] OneCoinPosteriors(LabelMatrix answers, int[] map, bool ignore)
    {
        int k = ClassCount, T = answers.TaskCount;
        var post = new double[MemoryBudget.Length(T, k)];
        if (k == 1) { post.AsSpan().Fill(1.0); return post; }
        var weight = new double[answers.WorkerCount];
        double averageAccuracy = Average(Accuracies.AsSpan(), AnswerCounts.AsSpan());
        for (int w = 0; w < weight.Length; w++)
        {
            if (map[w] < 0 && ignore) continue;
            double p = Math.Clamp(map[w] >= 0 ? Accuracies[map[w]] : averageAccuracy, Numerics.MinProbability, 1 - Numerics.MinProbability);
            weight[w] = Math.Log(p * (k - 1) / (1 - p));
        }
        var logPrior = LogPrior();
        var off = answers.TaskOffsets;
        var workers = answers.TaskWorkers;
        var labels = answers.TaskLabels;
        for (int t = 0; t < T; t++)
        {
            var row = post.AsSpan(t * k, k);
            logPrior.AsSpan().CopyTo(row);
            for (int i = off[t]; i < off[t + 1]; i++) row[labels[i]] += weight[workers[i]];
            Numerics.NormalizeLog(row);
        }
        return post;
    }

    private double[] VotePosteriors(LabelMatrix answers, int[] map, bool ignore)
    {
        var weights = new double[answers.WorkerCount];
        double avg = Average(Weights.AsSpan(), AnswerCounts.AsSpan());
        for (int w = 0; w < weights.Length; w++) weights[w] = map[w] >= 0 ? Weights[map[w]] : ignore ? 0 : avg;
        return MajorityVote.WeightedVote(answers, weights);
    }

    private static readonly JsonSerializerOptions FileOptions = new()
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>The model as JSON (numbers in shortest round-trip form, so <see cref="FromJson"/> restores it exactly).</summary>
    public string ToJson()
    {
        Validate();
        return JsonSerializer.Serialize(this, FileOptions);
    }

    /// <summary>Reads a model written by <see cref="ToJson"/>.</summary>
    /// <exception cref="TallyUserException">Not a model, a newer format, or inconsistent sizes.</exception>
    public static AggregationModel FromJson(string json)
    {
        AggregationModel? m;
        try { m = JsonSerializer.Deserialize<AggregationModel>(json, FileOptions); }
        catch (JsonException e)
        {
            long line = JsonErrors.Line(e);
            throw new TallyUserException($"is not a Tally aggregation model: {(line > 0 ? $"line {line}, " : "")}{JsonErrors.Problem(e)}");
        }
        if (m is null) throw new TallyUserException("is not a Tally aggregation model (empty)");
        m.Validate();
        return m;
    }

    /// <summary>Writes <see cref="ToJson"/> crash-safely to <paramref name="path"/>.</summary>
    public void Save(string path)
    {
        string json = ToJson();
        AtomicFile.WriteText(path, w => w.Write(json));
    }

    /// <summary>Reads a model file.</summary>
    /// <exception cref="TallyDataException">The file is missing or not a valid model (names the file).</exception>
    public static AggregationModel Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new TallyDataException(path, 0, Directory.Exists(path) ? "is a directory, not a model file" : "no such model file");
        using var stream = TextFiles.OpenFile(path);
        return Load(stream, path);
    }

    /// <summary>Reads a model from the bytes of <paramref name="stream"/> (UTF-8 JSON); errors name <paramref name="sourceName"/>.</summary>
    /// <exception cref="TallyDataException">Bad bytes or not a valid model.</exception>
    public static AggregationModel Load(Stream stream, string sourceName)
    {
        string json = TextFiles.ReadAllText(stream, sourceName);
        try { return FromJson(json); }
        catch (TallyDataException) { throw; }
        catch (TallyUserException e) { throw new TallyDataException(sourceName, 0, e.Message); }
    }

    /// <summary>Checks sizes and values (a hand-edited or truncated file gets a clear message instead of a wrong answer).</summary>
    private void Validate()
    {
        if (FormatVersion < 1 || FormatVersion > CurrentFormatVersion)
            throw new TallyUserException($"has model format version {FormatVersion}; this Tally reads versions 1 to {CurrentFormatVersion}");
        if (string.IsNullOrEmpty(Method)) throw new TallyUserException("names no method");
        if (Classes.IsDefault || Classes.Length == 0) throw new TallyUserException("has no classes");
        if (Workers.IsDefault) throw new TallyUserException("has no worker list");
        int k = Classes.Length, W = Workers.Length;
        void Size<T>(ImmutableArray<T> a, long n, string what)
        {
            if ((a.IsDefault ? 0 : a.Length) != n) throw new TallyUserException($"has {(a.IsDefault ? 0 : a.Length)} {what}; {n} expected");
        }
        Size(Skills, W, "skills");
        Size(AnswerCounts, W, "answer counts");
        if (!ClassPriors.IsDefaultOrEmpty) Size(ClassPriors, k, "class priors");
        if (Kind == WorkerModelKind.Confusion) Size(Confusions, (long)W * k * k, "confusion entries");
        else if (Kind == WorkerModelKind.Vote) Size(Weights, W, "weights");
        else if (Kind == WorkerModelKind.OneCoin) Size(Accuracies, W, "accuracies");
        else throw new TallyUserException($"has an unknown kind {Kind}");
        if (Kind == WorkerModelKind.OneCoin && FormatVersion < 2) throw new TallyUserException("is a one-coin model with format version 1; one-coin models start at version 2");
        foreach (var x in Skills) if (!double.IsFinite(x)) throw new TallyUserException("has a non-finite skill");
        foreach (var x in ClassPriors.IsDefault ? [] : ClassPriors) if (!(x >= 0 && x <= 1)) throw new TallyUserException("has a class prior outside [0, 1]");
        foreach (var x in Confusions.IsDefault ? [] : Confusions) if (!(x >= 0 && x <= 1)) throw new TallyUserException("has a confusion entry outside [0, 1]");
        foreach (var x in Weights.IsDefault ? [] : Weights) if (!double.IsFinite(x) || x < 0) throw new TallyUserException("has a negative or non-finite weight");
        foreach (var x in Accuracies.IsDefault ? [] : Accuracies) if (!(x >= 0 && x <= 1)) throw new TallyUserException("has an accuracy outside [0, 1]");
    }

    /// <summary>Records compare their arrays by reference; models compare by content (what a round trip must keep).</summary>
    public bool Equals(AggregationModel? other) =>
        other is not null && FormatVersion == other.FormatVersion && Method == other.Method && Options == other.Options
        && Kind == other.Kind && Classes.SequenceEqual(other.Classes) && Workers.SequenceEqual(other.Workers)
        && Same(ClassPriors, other.ClassPriors) && Same(Confusions, other.Confusions) && Same(Weights, other.Weights)
        && Same(Accuracies, other.Accuracies)
        && Same(Skills, other.Skills) && AnswerCounts.SequenceEqual(other.AnswerCounts);

    private static bool Same(ImmutableArray<double> a, ImmutableArray<double> b)
    {
        var x = a.IsDefault ? [] : a.AsSpan();
        var y = b.IsDefault ? [] : b.AsSpan();
        if (x.Length != y.Length) return false;
        for (int i = 0; i < x.Length; i++) if (BitConverter.DoubleToInt64Bits(x[i]) != BitConverter.DoubleToInt64Bits(y[i])) return false;
        return true;
    }

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Method, Kind, Workers.Length, Classes.Length);
}
