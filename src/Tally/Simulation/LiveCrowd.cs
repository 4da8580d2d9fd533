using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using MathNet.Numerics.Distributions;
using Tally.Core;
using Tally.Service;

namespace Tally.Simulation;

/// <summary>The kinds of simulated workers a <see cref="LiveCrowd"/> sends to the service.</summary>
public enum CrowdWorkerKind
{
    /// <summary>High accuracy (<see cref="LiveCrowdOptions.CarefulAccuracy"/>); errors spread evenly over the other classes.</summary>
    Careful,
    /// <summary>Lower accuracy (<see cref="LiveCrowdOptions.NoisyAccuracy"/>); errors spread evenly over the other classes.</summary>
    Noisy,
    /// <summary>Uniformly random answers, whatever the truth.</summary>
    Spammer,
    /// <summary>All follow one <see cref="LiveCrowdOptions.ColluderStrategy"/>: the class after the truth, or one constant class.</summary>
    Colluder,
    /// <summary>Careful workers who wait past the project's deadline before each answer (stored, marked late).</summary>
    Late,
    /// <summary>A worker of a replayed answers file, posting exactly the file's answers.</summary>
    Replayed,
}

/// <summary>
/// How a <see cref="LiveCrowd"/> drives a running <c>tally serve</c>: where, which project, with whose key, and either
/// a simulated population (counts per <see cref="CrowdWorkerKind"/>) or an answers file to replay. Defaults in
/// parentheses.
/// </summary>
public sealed record LiveCrowdOptions
{
    /// <summary>The service's address (http or https), e.g. <c>http://127.0.0.1:8080/</c>.</summary>
    public required Uri Server { get; init; }
    /// <summary>The project to answer (its id, <c>p_…</c>).</summary>
    public required string Project { get; init; }
    /// <summary>The project owner's (requester's) key: the crowd's workers are created with it.</summary>
    public required string OwnerKey { get; init; }

    /// <summary>Careful workers, named <c>careful-1</c>, <c>careful-2</c>, … (0).</summary>
    public int Careful { get; init; }
    /// <summary>Mean accuracy of the careful (and late) workers (0.9).</summary>
    public double CarefulAccuracy { get; init; } = 0.9;
    /// <summary>Noisy workers, <c>noisy-1</c>, … (0).</summary>
    public int Noisy { get; init; }
    /// <summary>Mean accuracy of the noisy workers (0.65).</summary>
    public double NoisyAccuracy { get; init; } = 0.65;
    /// <summary>
    /// Standard deviation of a worker's accuracy around its kind's mean: each careful, noisy or late worker's accuracy
    /// is drawn once from a Beta distribution with that mean and deviation, as <see cref="DawidSkeneSimulator"/> does (0.05; 0 = all equal).
    /// </summary>
    public double AccuracySpread { get; init; } = 0.05;
    /// <summary>Spammers, <c>spammer-1</c>, …: uniformly random answers (0).</summary>
    public int Spammers { get; init; }
    /// <summary>Colluders, <c>colluder-1</c>, …, all following <see cref="ColluderStrategy"/> (0).</summary>
    public int Colluders { get; init; }
    /// <summary>What colluders answer: <see cref="AdversaryStrategy.Flip"/> (the class after the truth) or <see cref="AdversaryStrategy.Constant"/> (flip).</summary>
    public AdversaryStrategy ColluderStrategy { get; init; } = AdversaryStrategy.Flip;
    /// <summary>The class index constant colluders give (0).</summary>
    public int ConstantLabel { get; init; }
    /// <summary>
    /// Late answerers, <c>late-1</c>, …: careful workers who wait the project's deadline plus
    /// <see cref="LiveCrowd.LateMargin"/> before each answer; the project must have a deadline (0).
    /// </summary>
    public int Late { get; init; }

    /// <summary>Requests in flight at once: worker turns (assign, then answer) run on this many lanes (16).</summary>
    public int Concurrency { get; init; } = 16;
    /// <summary>Seed of the workers' accuracies, their answers and the drawn truth (0).</summary>
    public int Seed { get; init; } = Seeding.DefaultSeed;
    /// <summary>Most answers the crowd posts in all (null = until the service has no task left for any worker).</summary>
    public int? AnswerBudget { get; init; }
    /// <summary>
    /// Truth file (<c>task,truth</c>; also <c>label</c>, <c>gold</c>) the simulated workers answer from; null = a
    /// uniform random class per task, drawn from <see cref="Seed"/> and the task id (null).
    /// </summary>
    public string? TruthPath { get; init; }
    /// <summary>
    /// An answers file (<c>task,worker,label</c>) to replay instead of a population: one service worker per file
    /// worker (named as in the file), posting exactly the file's answers (a repeated task and worker keeps the last,
    /// as <c>tally aggregate</c> does) (null).
    /// </summary>
    public string? ReplayPath { get; init; }

    /// <summary>Simulated workers of all kinds.</summary>
    public int PopulationSize => Careful + Noisy + Spammers + Colluders + Late;

    /// <summary>Throws <see cref="InvalidOptionException"/> naming the first problem.</summary>
    public void Validate()
    {
        if (Server is null || !Server.IsAbsoluteUri || (Server.Scheme != Uri.UriSchemeHttp && Server.Scheme != Uri.UriSchemeHttps))
            throw new InvalidOptionException("Server", "must be an http:// or https:// address");
        if (string.IsNullOrWhiteSpace(Project)) throw new InvalidOptionException("Project", "must name a project");
        if (string.IsNullOrWhiteSpace(OwnerKey)) throw new InvalidOptionException("OwnerKey", "must be the project owner's key");
        foreach (var (name, n) in new[] { ("Careful", Careful), ("Noisy", Noisy), ("Spammers", Spammers), ("Colluders", Colluders), ("Late", Late) })
            if (n < 0 || n > 100_000) throw new InvalidOptionException(name, $"must be in 0..100000 (got {n})");
        CheckAccuracy("CarefulAccuracy", CarefulAccuracy);
        CheckAccuracy("NoisyAccuracy", NoisyAccuracy);
        if (!(AccuracySpread >= 0) || !double.IsFinite(AccuracySpread)) throw new InvalidOptionException("AccuracySpread", "must be ≥ 0");
        if (AccuracySpread > 0)
            foreach (var (name, m, used) in new[] { ("CarefulAccuracy", CarefulAccuracy, Careful + Late > 0), ("NoisyAccuracy", NoisyAccuracy, Noisy > 0) })
                if (used && !(AccuracySpread * AccuracySpread < m * (1 - m)))
                    throw new InvalidOptionException("AccuracySpread", $"must be below √(accuracy·(1−accuracy)) = {Math.Sqrt(m * (1 - m)):0.###} for {name} {m} (or 0)");
        if (ColluderStrategy is not (AdversaryStrategy.Flip or AdversaryStrategy.Constant))
            throw new InvalidOptionException("ColluderStrategy", "must be flip or constant");
        if (ConstantLabel < 0) throw new InvalidOptionException("ConstantLabel", "must be a class index (0 or more)");
        if (Concurrency < 1 || Concurrency > 1024) throw new InvalidOptionException("Concurrency", $"must be in 1..1024 (got {Concurrency})");
        if (AnswerBudget is int b && b < 1) throw new InvalidOptionException("AnswerBudget", $"must be at least 1 (got {b})");
        if (ReplayPath is not null)
        {
            if (PopulationSize > 0) throw new InvalidOptionException("ReplayPath", "replays the file's workers; give no simulated workers with it");
            if (TruthPath is not null) throw new InvalidOptionException("TruthPath", "applies to simulated workers, not to a replay");
        }
        else if (PopulationSize == 0)
            throw new InvalidOptionException("Careful", "and the other counts are all 0: give some simulated workers (careful, noisy, spammers, colluders, late) or a file to replay");
    }

    private static void CheckAccuracy(string name, double a)
    {
        if (!(a >= 0 && a <= 1)) throw new InvalidOptionException(name, $"must be in [0, 1] (got {a})");
    }
}

/// <summary>One kind of worker in a <see cref="LiveCrowdResult"/>.</summary>
/// <param name="Kind">The kind.</param>
/// <param name="Workers">Workers of that kind.</param>
/// <param name="Answers">Answers they posted (acknowledged by the service).</param>
public sealed record LiveCrowdKindCount(CrowdWorkerKind Kind, int Workers, long Answers);

/// <summary>What a <see cref="LiveCrowd"/> run did.</summary>
/// <param name="Answers">Answers acknowledged by the service (each stored once, retries included).</param>
/// <param name="Duplicates">Of those, acknowledgements of a retry whose first attempt had been stored (status <c>duplicate</c>).</param>
/// <param name="LateAnswers">Of those, answers the service marked late (after the project's deadline).</param>
/// <param name="Kinds">Workers and answers per kind, in <see cref="CrowdWorkerKind"/> order (kinds with workers only).</param>
/// <param name="Retries">Requests repeated after a transient failure (no connection, a timeout, 408, 429, 5xx).</param>
/// <param name="BudgetReached">Whether the run stopped at <see cref="LiveCrowdOptions.AnswerBudget"/>.</param>
/// <param name="Seconds">Wall-clock time, from the first request to the last acknowledgement.</param>
public sealed record LiveCrowdResult(long Answers, long Duplicates, long LateAnswers, IReadOnlyList<LiveCrowdKindCount> Kinds, long Retries,
    bool BudgetReached, double Seconds)
{
    /// <summary>Answers per second.</summary>
    public double AnswersPerSecond => Seconds > 0 ? Answers / Seconds : 0;
    /// <summary>Workers created.</summary>
    public int Workers => Kinds.Sum(k => k.Workers);
    /// <summary>The truth the simulated workers answered from, for every task they were assigned (empty for a replay).</summary>
    public IReadOnlyDictionary<string, string> Truth { get; init; } = new Dictionary<string, string>();
}

/// <summary>
/// A crowd of simulated workers answering a running <c>tally serve</c> concurrently through <see cref="TallyClient"/>,
/// as real workers would: each worker is created with the owner's key, then takes turns — an assignment (the service
/// picks the task: under-answered tasks first, then dynamic overlap), an answer drawn from its model given the task's
/// truth — until the service has no task left for it, or the answer budget is spent.
/// </summary>
/// <remarks>
/// <para>Answers are deterministic per (seed, worker, task): a worker's accuracy is drawn from its name and the seed,
/// its answer to a task from the seed, its name and the task id — so a rerun on a fresh project gives every
/// (worker, task) pair the same label, whatever the interleaving. Which worker gets which task is the service's
/// choice and depends on timing. A worker the service has nothing for waits and asks again while other answers are
/// in flight (they may make a task uncertain again); it stops once the service has nothing for it with nothing in
/// flight.</para>
/// <para>Requests that fail transiently (no connection, a timeout, 408, 429, 500, 502, 503, 504) are repeated, up to
/// <see cref="MaxAttempts"/> times with growing pauses; an answer is repeated with the same id, so the service stores
/// it once. Any other refusal stops the run with a <see cref="TallyUserException"/> naming the request.</para>
/// </remarks>
public static class LiveCrowd
{
    /// <summary>Attempts of a request before a transient failure stops the run.</summary>
    public const int MaxAttempts = 10;

    /// <summary>How long past the project's deadline a late answerer waits before answering.</summary>
    public static readonly TimeSpan LateMargin = TimeSpan.FromMilliseconds(250);

    /// <summary>How long a worker the service has nothing for waits before asking again while answers are in flight.</summary>
    private static readonly TimeSpan IdlePause = TimeSpan.FromMilliseconds(20);

    /// <summary>Runs the crowd until no worker gets a task or the budget is spent; reports the fraction done to <paramref name="progress"/>.</summary>
    /// <exception cref="InvalidOptionException">Bad options.</exception>
    /// <exception cref="TallyUserException">The service refused a request (wrong key, unknown project, a worker name taken, …), cannot be reached, or a file is bad.</exception>
    public static async Task<LiveCrowdResult> RunAsync(LiveCrowdOptions options, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        using var handler = new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5), MaxConnectionsPerServer = Math.Max(2, options.Concurrency * 2) };
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var run = new Run(options, handler, progress, cts);
        try
        {
            return options.ReplayPath is { } replay ? await run.ReplayAsync(replay).ConfigureAwait(false) : await run.PopulationAsync().ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (run.Failure is not null && !cancellationToken.IsCancellationRequested)
        {
            throw run.Failure;
        }
        finally
        {
            run.Dispose();
        }
    }

    /// <summary>The truth drawn for <paramref name="task"/> when there is no truth file: a uniform class index in [0, <paramref name="classCount"/>).</summary>
    public static int DrawnTruth(int seed, string task, int classCount)
    {
        ArgumentNullException.ThrowIfNull(task);
        if (classCount < 1) throw new ArgumentOutOfRangeException(nameof(classCount));
        return (int)(Unit(Seeding.Stream(Seeding.Base(seed), TruthStream, Hash(task))) * classCount);
    }

    /// <summary>
    /// The class index worker <paramref name="worker"/> of <paramref name="kind"/> answers on <paramref name="task"/>
    /// whose truth is <paramref name="truth"/> (accuracy <paramref name="accuracy"/> for careful, noisy and late workers).
    /// </summary>
    public static int DrawAnswer(int seed, CrowdWorkerKind kind, string worker, double accuracy, string task, int truth, int classCount,
        AdversaryStrategy colluderStrategy = AdversaryStrategy.Flip, int constantLabel = 0)
    {
        ArgumentNullException.ThrowIfNull(worker);
        ArgumentNullException.ThrowIfNull(task);
        ulong state = Seeding.Stream(Seeding.Base(seed), AnswerStream, Hash(worker), Hash(task));
        double u = Unit(state), v = Unit(Seeding.Mix(state + 1));
        int k = classCount;
        switch (kind)
        {
            case CrowdWorkerKind.Spammer:
                return Math.Min(k - 1, (int)(u * k));
            case CrowdWorkerKind.Colluder:
                return colluderStrategy == AdversaryStrategy.Constant ? constantLabel : (truth + 1) % k;
            default:
                if (u < accuracy || k == 1) return truth;
                return (truth + 1 + Math.Min(k - 2, (int)(v * (k - 1)))) % k;
        }
    }

    /// <summary>The accuracy worker <paramref name="worker"/> answers with: Beta(mean, spread) drawn from the seed and its name (the mean itself when spread is 0).</summary>
    public static double DrawAccuracy(int seed, string worker, double mean, double spread)
    {
        ArgumentNullException.ThrowIfNull(worker);
        if (!(spread > 0) || mean <= 0 || mean >= 1) return mean;
        double nu = mean * (1 - mean) / (spread * spread) - 1;
        var rng = new Random(Seeding.ToInt(Seeding.Stream(Seeding.Base(seed), AccuracyStream, Hash(worker))));
        return Beta.Sample(rng, mean * nu, (1 - mean) * nu);
    }

    private const ulong TruthStream = 0x7472757468, AnswerStream = 0x616E73776572, AccuracyStream = 0x616363;

    /// <summary>FNV-1a over the UTF-8 bytes, then mixed: a stable 64-bit hash of a name (string.GetHashCode is randomised per process).</summary>
    private static ulong Hash(string s)
    {
        ulong h = 0xCBF29CE484222325UL;
        foreach (byte b in Encoding.UTF8.GetBytes(s)) { h ^= b; h *= 0x100000001B3UL; }
        return Seeding.Mix(h);
    }

    private static double Unit(ulong state) => (Seeding.Mix(state) >> 11) * (1.0 / (1UL << 53));

    /// <summary>A simulated worker.</summary>
    private sealed class Worker(CrowdWorkerKind kind, string name, double accuracy)
    {
        public CrowdWorkerKind Kind { get; } = kind;
        public string Name { get; } = name;
        public double Accuracy { get; } = accuracy;
        public TallyClient? Client { get; set; }
    }

    /// <summary>The state of one run: clients, counters, the first failure.</summary>
    private sealed class Run(LiveCrowdOptions o, HttpMessageHandler handler, IProgress<double>? progress, CancellationTokenSource cts) : IDisposable
    {
        private readonly List<TallyClient> _clients = [];
        private readonly Stopwatch _clock = new();
        private long _answers, _duplicates, _late, _retries, _reserved, _commits, _inFlight, _total = 1;
        private readonly ConcurrentDictionary<CrowdWorkerKind, long> _byKind = new();
        private volatile bool _budgetReached;
        private long _lastReport = -1;

        public TallyUserException? Failure { get; private set; }

        private CancellationToken Token => cts.Token;

        /// <summary>The server's address as a base for relative paths (ending in a slash).</summary>
        private readonly Uri _base = o.Server.AbsolutePath.EndsWith('/') ? o.Server : new Uri(o.Server.AbsoluteUri + "/");

        private TallyClient Client(string key)
        {
            var c = new TallyClient(_base, key, handler);
            lock (_clients) _clients.Add(c);
            return c;
        }

        public void Dispose()
        {
            lock (_clients) foreach (var c in _clients) c.Dispose();
        }

        /// <summary>The project, read with the owner's key (checks the key and the project before any worker is created).</summary>
        private async Task<ProjectView> ProjectAsync(TallyClient owner) =>
            await Call($"reading project {Quote.Value(o.Project)}", ct => owner.GetProjectAsync(o.Project, ct)).ConfigureAwait(false);

        private async Task<TallyClient> CreateWorkerAsync(TallyClient owner, string name)
        {
            var key = await Call($"creating worker {Quote.Value(name)}", ct => owner.CreateWorkerAsync(o.Project, name, ct),
                conflict: $"project {Quote.Value(o.Project)} has a worker named {Quote.Value(name)} already: run the crowd on a fresh project").ConfigureAwait(false);
            return Client(key.Key);
        }

        // ------------------------------------------------------------ population

        public async Task<LiveCrowdResult> PopulationAsync()
        {
            var owner = Client(o.OwnerKey);
            var project = await ProjectAsync(owner).ConfigureAwait(false);
            var classes = project.Spec.Classes;
            int k = classes.Count;
            if (o.Colluders > 0 && o.ColluderStrategy == AdversaryStrategy.Constant && o.ConstantLabel >= k)
                throw new InvalidOptionException("ConstantLabel", $"must be a class index below {k} (the project's classes: {string.Join(", ", classes)})");
            TimeSpan lateWait = TimeSpan.Zero;
            if (o.Late > 0)
            {
                if (project.Spec.DeadlineSeconds is not double d)
                    throw new InvalidOptionException("Late", $"answerers wait past the project's deadline, and project {Quote.Value(o.Project)} has none (deadlineSeconds)");
                lateWait = TimeSpan.FromSeconds(d) + LateMargin;
            }
            var truth = o.TruthPath is { } path ? ReadTruth(path, classes) : null;
            var drawn = new ConcurrentDictionary<string, string>(StringComparer.Ordinal);
            string TruthOf(string task)
            {
                if (truth is null) return classes[DrawnTruth(o.Seed, task, k)];
                return truth.TryGetValue(task, out var t) ? t
                    : throw new TallyDataException(o.TruthPath!, 0, $"no truth for task {Quote.Value(task)} of project {Quote.Value(o.Project)}");
            }

            var workers = new List<Worker>();
            void Add(CrowdWorkerKind kind, int count, string prefix, double mean)
            {
                for (int i = 1; i <= count; i++)
                {
                    string name = $"{prefix}-{i}";
                    workers.Add(new Worker(kind, name, kind is CrowdWorkerKind.Careful or CrowdWorkerKind.Noisy or CrowdWorkerKind.Late
                        ? DrawAccuracy(o.Seed, name, mean, o.AccuracySpread) : double.NaN));
                }
            }
            Add(CrowdWorkerKind.Careful, o.Careful, "careful", o.CarefulAccuracy);
            Add(CrowdWorkerKind.Noisy, o.Noisy, "noisy", o.NoisyAccuracy);
            Add(CrowdWorkerKind.Spammer, o.Spammers, "spammer", double.NaN);
            Add(CrowdWorkerKind.Colluder, o.Colluders, "colluder", double.NaN);
            Add(CrowdWorkerKind.Late, o.Late, "late", o.CarefulAccuracy);
            // Turns start in a seeded order, so no kind answers the first tasks before the others.
            var order = workers.ToArray();
            Seeding.Random(o.Seed, AnswerStream).Shuffle(order);

            _clock.Start();
            await Guard(Parallel.ForEachAsync(order, new ParallelOptions { MaxDegreeOfParallelism = o.Concurrency, CancellationToken = Token },
                async (w, _) => w.Client = await CreateWorkerAsync(owner, w.Name).ConfigureAwait(false))).ConfigureAwait(false);

            _total = o.AnswerBudget ?? Math.Max(1, project.Tasks * project.Spec.MinAnswers);
            var queue = new ConcurrentQueue<Worker>(order);
            async Task Lane()
            {
                try
                {
                    while (!_budgetReached && queue.TryDequeue(out var w))
                    {
                        var turn = await TurnAsync(w, k, classes, TruthOf, drawn, lateWait).ConfigureAwait(false);
                        if (turn == Turn.Idle) await Task.Delay(IdlePause, Token).ConfigureAwait(false);
                        if (turn != Turn.Done) queue.Enqueue(w);
                    }
                }
                catch (TallyUserException e)
                {
                    throw Fail(e);
                }
            }
            await Guard(Task.WhenAll(Enumerable.Range(0, o.Concurrency).Select(_ => Task.Run(Lane, Token)))).ConfigureAwait(false);
            return Result(workers.GroupBy(w => w.Kind).Select(g => (g.Key, g.Count())), drawn);
        }

        private enum Turn { Answered, Idle, Done }

        private async Task<Turn> TurnAsync(Worker w, int k, IReadOnlyList<string> classes, Func<string, string> truthOf,
            ConcurrentDictionary<string, string> seen, TimeSpan lateWait)
        {
            switch (Reserve())
            {
                case Budget.Spent: return Turn.Done;
                case Budget.Pending: return Turn.Idle;
            }
            long before = Interlocked.Read(ref _commits);
            Interlocked.Increment(ref _inFlight);
            bool answered = false, none = false;
            try
            {
                var a = await Call($"an assignment for {w.Name}", ct => w.Client!.AssignAsync(o.Project, null, ct)).ConfigureAwait(false);
                if (a is null)
                {
                    none = true;
                }
                else
                {
                    string truth = truthOf(a.Task);
                    seen.TryAdd(a.Task, truth);
                    int y = IndexOf(classes, truth);
                    string label = classes[DrawAnswer(o.Seed, w.Kind, w.Name, w.Accuracy, a.Task, y, k, o.ColluderStrategy, o.ConstantLabel)];
                    if (w.Kind == CrowdWorkerKind.Late) await Task.Delay(lateWait, Token).ConfigureAwait(false);
                    await PostAsync(w.Client!, w.Kind, w.Name, a.Task, label, a.Id).ConfigureAwait(false);
                    answered = true;
                }
            }
            finally
            {
                if (!answered) Release();
                Interlocked.Decrement(ref _inFlight);
            }
            if (!none) return Turn.Answered;
            // Nothing for this worker now; if other answers were in flight or came in meanwhile, a task may need it again.
            return Busy(before) ? Turn.Idle : Turn.Done;
        }

        /// <summary>Whether the worker who got no task should ask again: answers were in flight or committed meanwhile.</summary>
        private bool Busy(long commitsBefore) => Interlocked.Read(ref _inFlight) > 0 || Interlocked.Read(ref _commits) != commitsBefore;

        /// <summary>
        /// Takes one answer of the budget: <see cref="Budget.Taken"/>; <see cref="Budget.Spent"/> (and the run stops) once
        /// that many answers are acknowledged; <see cref="Budget.Pending"/> while the rest is held by turns in flight,
        /// which may yet give theirs back.
        /// </summary>
        private Budget Reserve()
        {
            if (o.AnswerBudget is not int budget) return Budget.Taken;
            if (Interlocked.Increment(ref _reserved) <= budget) return Budget.Taken;
            Interlocked.Decrement(ref _reserved);
            if (Interlocked.Read(ref _answers) < budget) return Budget.Pending;
            _budgetReached = true;
            return Budget.Spent;
        }

        private enum Budget { Taken, Pending, Spent }

        /// <summary>Gives back an answer of the budget that was not spent.</summary>
        private void Release()
        {
            if (o.AnswerBudget is not null) Interlocked.Decrement(ref _reserved);
        }

        private async Task PostAsync(TallyClient client, CrowdWorkerKind kind, string worker, string task, string label, string? assignment)
        {
            string id = AnswerId(worker, task);
            var ack = await Call($"{worker}'s answer to task {Quote.Value(task)}", ct => client.AnswerAsync(o.Project, new AnswerPost(id, task, label, assignment), ct)).ConfigureAwait(false);
            Interlocked.Increment(ref _answers);
            if (ack.Status == "duplicate") Interlocked.Increment(ref _duplicates);
            if (ack.Late) Interlocked.Increment(ref _late);
            _byKind.AddOrUpdate(kind, 1, (_, n) => n + 1);
            // Committed before in flight ends (TurnAsync's finally): a worker who got no task sees one or the other.
            Interlocked.Increment(ref _commits);
            Report();
        }

        private void Report()
        {
            if (progress is null) return;
            long n = Interlocked.Read(ref _answers);
            long step = Math.Max(1, _total / 200);
            long bucket = n / step;
            if (Interlocked.Exchange(ref _lastReport, bucket) != bucket) progress.Report(Math.Min(0.99, (double)n / _total));
        }

        /// <summary>The answer's idempotency key: the worker and the task (hashed when that would be too long).</summary>
        private string AnswerId(string worker, string task)
        {
            string id = $"{worker}/{task}";
            return id.Length <= 200 && !id.Any(char.IsControl) ? id : $"sim-{Hash(worker):x16}-{Hash(task):x16}";
        }

        private static int IndexOf(IReadOnlyList<string> classes, string c)
        {
            for (int i = 0; i < classes.Count; i++) if (classes[i] == c) return i;
            throw new InvalidOperationException($"class {c} is not a project class");
        }

        // ------------------------------------------------------------ replay

        public async Task<LiveCrowdResult> ReplayAsync(string path)
        {
            var owner = Client(o.OwnerKey);
            var project = await ProjectAsync(owner).ConfigureAwait(false);
            var answers = ReadAnswers(path, project.Spec.Classes);
            _total = Math.Max(1, Math.Min(o.AnswerBudget ?? long.MaxValue, answers.Sum(g => (long)g.Answers.Count)));
            _clock.Start();
            await Guard(Parallel.ForEachAsync(answers, new ParallelOptions { MaxDegreeOfParallelism = o.Concurrency, CancellationToken = Token }, async (g, _) =>
            {
                var client = await CreateWorkerAsync(owner, g.Worker).ConfigureAwait(false);
                foreach (var (task, label) in g.Answers)
                {
                    // A replayed answer is never given back, so a budget taken by others is spent.
                    if (Reserve() != Budget.Taken) { _budgetReached = true; return; }
                    var a = await Call($"task {Quote.Value(task)} for worker {Quote.Value(g.Worker)}", ct => client.AssignAsync(o.Project, task, ct)).ConfigureAwait(false);
                    await PostAsync(client, CrowdWorkerKind.Replayed, g.Worker, task, label, a?.Id).ConfigureAwait(false);
                }
            })).ConfigureAwait(false);
            return Result([(CrowdWorkerKind.Replayed, answers.Count)], new Dictionary<string, string>());
        }

        /// <summary>The file's answers by worker (in order of first appearance), each worker's in file order; a repeated task and worker keeps the last.</summary>
        private static List<(string Worker, List<(string Task, string Label)> Answers)> ReadAnswers(string path, IReadOnlyList<string> classes)
        {
            var known = new HashSet<string>(classes, StringComparer.Ordinal);
            var byWorker = new Dictionary<string, Dictionary<string, (long Order, string Label)>>(StringComparer.Ordinal);
            var workers = new List<string>();
            using var csv = CsvRecordReader.Open(path);
            int tc = csv.Column("task"), wc = csv.Column("worker"), lc = csv.Column("label");
            long row = 0;
            while (csv.ReadChecked())
            {
                string task = csv.Field(tc).ToString(), worker = csv.Field(wc).ToString(), label = csv.Field(lc).ToString();
                if (task.Length == 0 || worker.Length == 0 || label.Length == 0) throw new TallyDataException(csv.SourceName, csv.LineNumber, "empty task, worker or label");
                if (!known.Contains(label))
                    throw new TallyDataException(csv.SourceName, csv.LineNumber, $"label {Quote.Value(label)} is not one of the project's classes ({string.Join(", ", classes)})");
                if (!byWorker.TryGetValue(worker, out var mine)) { byWorker[worker] = mine = new Dictionary<string, (long, string)>(StringComparer.Ordinal); workers.Add(worker); }
                mine[task] = (row++, label);
            }
            if (row == 0) throw new TallyDataException(csv.SourceName, 0, "has a header but no answers");
            return workers.Select(w => (w, byWorker[w].OrderBy(x => x.Value.Order).Select(x => (x.Key, x.Value.Label)).ToList())).ToList();
        }

        /// <summary>A truth file: task → class name (every truth one of the project's classes).</summary>
        private static Dictionary<string, string> ReadTruth(string path, IReadOnlyList<string> classes)
        {
            var known = new HashSet<string>(classes, StringComparer.Ordinal);
            var truth = new Dictionary<string, string>(StringComparer.Ordinal);
            using var csv = CsvRecordReader.Open(path);
            int tc = csv.Column("task");
            int yc = -1;
            foreach (var name in new[] { "truth", "label", "gold", "true_label" })
                if (yc < 0) yc = csv.Header.ToList().FindIndex(h => string.Equals(h, name, StringComparison.OrdinalIgnoreCase));
            if (yc < 0) yc = csv.Column("truth");
            while (csv.ReadChecked())
            {
                string task = csv.Field(tc).ToString(), y = csv.Field(yc).ToString();
                if (!known.Contains(y))
                    throw new TallyDataException(csv.SourceName, csv.LineNumber, $"truth {Quote.Value(y)} is not one of the project's classes ({string.Join(", ", classes)})");
                if (truth.TryGetValue(task, out var other) && other != y)
                    throw new TallyDataException(csv.SourceName, csv.LineNumber, $"task {Quote.Value(task)} is given two different truths");
                truth[task] = y;
            }
            if (truth.Count == 0) throw new TallyDataException(csv.SourceName, 0, "has a header but no rows");
            return truth;
        }

        // ------------------------------------------------------------ requests

        private LiveCrowdResult Result(IEnumerable<(CrowdWorkerKind Kind, int Workers)> kinds, IReadOnlyDictionary<string, string> truth)
        {
            _clock.Stop();
            progress?.Report(1);
            var list = kinds.OrderBy(k => k.Kind).Select(k => new LiveCrowdKindCount(k.Kind, k.Workers, _byKind.GetValueOrDefault(k.Kind))).ToList();
            var sorted = new SortedDictionary<string, string>(StringComparer.Ordinal);
            foreach (var (task, y) in truth) sorted[task] = y;
            return new LiveCrowdResult(_answers, _duplicates, _late, list, _retries, _budgetReached, _clock.Elapsed.TotalSeconds) { Truth = sorted };
        }

        /// <summary>Awaits the lanes; the first failure cancels the others and is the one thrown.</summary>
        private async Task Guard(Task lanes)
        {
            try { await lanes.ConfigureAwait(false); }
            catch when (Failure is not null) { throw Failure; }
        }

        /// <summary>A request, repeated on transient failures; a refusal becomes a <see cref="TallyUserException"/> naming <paramref name="what"/>, and stops the run.</summary>
        private async Task<T> Call<T>(string what, Func<CancellationToken, Task<T>> request, string? conflict = null)
        {
            for (int attempt = 1; ; attempt++)
            {
                Token.ThrowIfCancellationRequested();
                try
                {
                    return await request(Token).ConfigureAwait(false);
                }
                catch (Exception e) when (attempt < MaxAttempts && Transient(e))
                {
                    Interlocked.Increment(ref _retries);
                    await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(2000, 50 << Math.Min(attempt, 6))), Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is TallyServiceException or HttpRequestException or IOException || (e is TaskCanceledException && !Token.IsCancellationRequested))
                {
                    throw Fail(e switch
                    {
                        TallyServiceException { Status: HttpStatusCode.Conflict } when conflict is not null => new TallyUserException(conflict),
                        TallyServiceException s => new TallyUserException($"the service at {o.Server} refused {what}: {(int)s.Status} {s.Title}: {s.Detail}"),
                        _ => new TallyUserException($"cannot reach the service at {o.Server} ({what}, {attempt} attempts): {e.Message}"),
                    });
                }
                catch (TallyUserException e) { throw Fail(e); }
            }
        }

        private TallyUserException Fail(TallyUserException e)
        {
            lock (_clients)
            {
                Failure ??= e;
            }
            cts.Cancel();
            return Failure;
        }

        private bool Transient(Exception e) => e switch
        {
            TallyServiceException s => (int)s.Status is 408 or 429 or 500 or 502 or 503 or 504,
            HttpRequestException or IOException => true,
            TaskCanceledException => !Token.IsCancellationRequested,
            _ => false,
        };
    }
}
