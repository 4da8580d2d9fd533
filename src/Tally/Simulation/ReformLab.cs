using Tally.Core;
using System.Collections.Immutable;
using System.Diagnostics;
using Tally.Mechanisms;
using Tally.Mechanisms.Reputation;

namespace Tally.Simulation;

/// <summary>
/// The simulation of Kanaparthy, Damle and Gujar, "REFORM: Reputation based fair and temporal reward framework for
/// crowdsourcing", 2021, §5; the defaults are the paper's values (where the paper gives none, the choice is documented).
/// </summary>
public sealed record ReformLabOptions
{
    /// <summary>Rounds; default 200 (paper).</summary>
    public int Rounds { get; init; } = 200;
    /// <summary>Tasks per round n; default 50 (paper).</summary>
    public int TasksPerRound { get; init; } = 50;
    /// <summary>Agents m, each answering one task per round (spread evenly: 15 per task with the defaults); default 750 (paper).</summary>
    public int Agents { get; init; } = 750;
    /// <summary>Size of the answer space; default 3 (paper: X = {0, 1, 2}). True answers are uniform over it.</summary>
    public int Answers { get; init; } = 3;
    /// <summary>Share of trustworthy agents (TAs); the rest answer uniformly at random (RAs); default 0.6 (paper).</summary>
    public double TrustworthyShare { get; init; } = 0.6;
    /// <summary>
    /// Lowest accuracy of a TA; default 0.9. The paper says "correct with a probability of at least 0.9"; here each TA's
    /// accuracy is drawn once, uniformly in [<see cref="MinAccuracy"/>, <see cref="MaxAccuracy"/>], and a wrong answer is
    /// uniform among the other answers.
    /// </summary>
    public double MinAccuracy { get; init; } = 0.9;
    /// <summary>Highest accuracy of a TA; default 1.</summary>
    public double MaxAccuracy { get; init; } = 1;
    /// <summary>α of the RPTSC baseline; default 10 (paper).</summary>
    public double RptscAlpha { get; init; } = 10;
    /// <summary>α of REFORM; default 11 (paper: the larger α satisfies its Assumption A1).</summary>
    public double ReformAlpha { get; init; } = 11;
    /// <summary>The values of k (chances) REFORM is run with; default 1–5 (paper's figure); empty = RPTSC only.</summary>
    public ImmutableArray<int> Chances { get; init; } = [1, 2, 3, 4, 5];
    /// <summary>Sample size S for f in both mechanisms (<see cref="RptscOptions.SampleSize"/>); default 50 (paper: the number of tasks).</summary>
    public int SampleSize { get; init; } = 50;
    /// <summary>TERM's λ; default 0.9 (<see cref="TermOptions.Lambda"/>; the paper gives no value).</summary>
    public double Lambda { get; init; } = 0.9;
    /// <summary>Seed of the population, the rounds and every payment; default 0.</summary>
    public int Seed { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid option.</summary>
    public void Validate()
    {
        if (Rounds < 1) throw new InvalidOptionException(nameof(Rounds), "must be at least 1");
        if (TasksPerRound < 1) throw new InvalidOptionException(nameof(TasksPerRound), "must be at least 1");
        if (Agents < 2 * TasksPerRound) throw new InvalidOptionException(nameof(Agents), "must be at least 2 × TasksPerRound, so every task has a peer");
        if (Agents > 1_000_000) throw new InvalidOptionException(nameof(Agents), "must be at most 1,000,000");
        if (Answers < 2) throw new InvalidOptionException(nameof(Answers), "must be at least 2");
        if (!(TrustworthyShare >= 0 && TrustworthyShare <= 1)) throw new InvalidOptionException(nameof(TrustworthyShare), "must lie in [0, 1]");
        if (!(MinAccuracy >= 0 && MinAccuracy <= MaxAccuracy && MaxAccuracy <= 1)) throw new InvalidOptionException(nameof(MinAccuracy), "and MaxAccuracy must satisfy 0 ≤ MinAccuracy ≤ MaxAccuracy ≤ 1");
        if (!(RptscAlpha >= 0) || !double.IsFinite(RptscAlpha)) throw new InvalidOptionException(nameof(RptscAlpha), "must be finite and non-negative");
        if (!(ReformAlpha >= 0) || !double.IsFinite(ReformAlpha)) throw new InvalidOptionException(nameof(ReformAlpha), "must be finite and non-negative");
        if (Chances.IsDefault || Chances.Any(k => k < 1)) throw new InvalidOptionException(nameof(Chances), "must be values k ≥ 1");
        if (Chances.Distinct().Count() != Chances.Length) throw new InvalidOptionException(nameof(Chances), "must not repeat a value");
        if (SampleSize < 1) throw new InvalidOptionException(nameof(SampleSize), "must be at least 1");
        if (!(Lambda > 0 && Lambda <= 1)) throw new InvalidOptionException(nameof(Lambda), "must lie in (0, 1]");
    }
}

/// <summary>Progress of a <see cref="ReformLab"/> run.</summary>
/// <param name="Round">Rounds completed.</param>
/// <param name="Rounds">Rounds in all.</param>
public readonly record struct ReformLabProgress(int Round, int Rounds)
{
    /// <summary>Fraction done in [0, 1].</summary>
    public double Fraction => (double)Round / Rounds;
}

/// <summary>One mechanism's outcome in a <see cref="ReformLab"/> run.</summary>
public sealed record ReformLabRun
{
    /// <summary><c>rptsc</c> or <c>reform</c>.</summary>
    public required string Mechanism { get; init; }
    /// <summary>k (1 for RPTSC).</summary>
    public required int Chances { get; init; }
    /// <summary>α used.</summary>
    public required double Alpha { get; init; }
    /// <summary>Per round, the mean payment of the scored TAs (0 in a round without any).</summary>
    public required ImmutableArray<double> TrustworthyReward { get; init; }
    /// <summary>Per round, the mean payment of the scored RAs (0 in a round without any).</summary>
    public required ImmutableArray<double> RandomReward { get; init; }
    /// <summary>Per round, the mean optimal payment M* of the scored TAs.</summary>
    public required ImmutableArray<double> TrustworthyOptimal { get; init; }
    /// <summary>Mean TA payment over all rounds (per scored report).</summary>
    public required double MeanTrustworthyReward { get; init; }
    /// <summary>Mean RA payment over all rounds (per scored report).</summary>
    public required double MeanRandomReward { get; init; }
    /// <summary>γ-fairness over every scored TA report of every round; its <see cref="GammaFairness.Normalised"/> is N-RPTSC / N-REFORM.</summary>
    public required GammaFairness Fairness { get; init; }
    /// <summary>
    /// The same measure over every scored report, random agents' included: not Definition 2 (which is about
    /// trustworthy agents) but a reading of the paper's reported γ that the §5 text does not rule out; reported for comparison.
    /// </summary>
    public required GammaFairness FairnessAllAgents { get; init; }
    /// <summary>Total payments / agents / rounds.</summary>
    public required double BudgetPerAgent { get; init; }
    /// <summary>Mean pairings per scored report of TAs and of RAs (1 = never an extra chance).</summary>
    public required (double Trustworthy, double Random) ChancesPerReport { get; init; }
    /// <summary>
    /// Qualitative fairness (Definition 3) over every report equal to its task's true answer from round 2 on (all agents:
    /// the same report, no decay so the same effective time), grouped by the agent's rank of TERM's ψ among the round's
    /// agents before the round. Ranks, not ψ itself: Definition 3 compares agents of the same round, and pooling raw ψ
    /// across rounds would mix early rounds (ψ near 0 for everyone, little help from extra chances) into the top group.
    /// </summary>
    public required QualitativeFairness Qualitative { get; init; }
}

/// <summary>The outcome of a <see cref="ReformLab"/> run.</summary>
public sealed record ReformLabResult
{
    /// <summary>The options run.</summary>
    public required ReformLabOptions Options { get; init; }
    /// <summary>RPTSC with α = <see cref="ReformLabOptions.RptscAlpha"/>.</summary>
    public required ReformLabRun Rptsc { get; init; }
    /// <summary>REFORM with α = <see cref="ReformLabOptions.ReformAlpha"/>, one run per k in <see cref="ReformLabOptions.Chances"/> order.</summary>
    public required ImmutableArray<ReformLabRun> Reform { get; init; }
    /// <summary>Wall-clock time of the run.</summary>
    public required TimeSpan Elapsed { get; init; }

    /// <summary>REFORM's run with k chances, or null if not run.</summary>
    public ReformLabRun? ReformWith(int k) => Reform.FirstOrDefault(r => r.Chances == k);

    /// <summary>REFORM(k)'s budget per agent relative to RPTSC's, minus 1 (0.05 = 5% more); null if k was not run or RPTSC's budget is not positive.</summary>
    public double? BudgetIncrease(int k) =>
        ReformWith(k) is { } r && Rptsc.BudgetPerAgent > 0 ? r.BudgetPerAgent / Rptsc.BudgetPerAgent - 1 : null;
}

/// <summary>
/// REFORM's §5 experiment: a fixed population of trustworthy and random agents answers one task each per round; every
/// round is paid by RPTSC and by REFORM for each k, with TERM learning from the rounds in between.
/// Design choices: the rounds are identical for every mechanism and every mechanism pays round j from the same seed
/// (common random numbers: with one report per agent, k = 1 and k &gt; 1 differ only in the extra pairings), RPTSC is
/// REFORM with k = 1 (equal payments for the same seed), and TERM's evidence (<see cref="RoundEvidence.Draw(Round, int)"/>)
/// does not depend on the payments, so one TERM history serves every k; it uses its own seed per round, as
/// <see cref="Campaign.Play"/> does. Decay is off and reports carry no time, as in the paper.
/// </summary>
public static class ReformLab
{
    /// <summary>
    /// Runs the experiment; the mechanisms of a round are paid in parallel (up to <paramref name="compute"/>'s thread
    /// cap), each payment on one thread, so the result is the same for any thread count.
    /// </summary>
    public static ReformLabResult Run(ReformLabOptions? options = null, ComputeOptions? compute = null,
        IProgress<ReformLabProgress>? progress = null, CancellationToken ct = default)
    {
        var o = options ?? new ReformLabOptions();
        o.Validate();
        var clock = Stopwatch.StartNew();
        int N = o.Agents, T = o.TasksPerRound, R = o.Rounds;
        // Population, drawn once: TAs first (names sort in index order), each with its own accuracy.
        var popRng = new Random(Seeding.Derive(o.Seed, 0, 0));
        int trusted = (int)Math.Round(o.TrustworthyShare * N);
        var names = new string[N];
        var accuracy = new double[N];
        for (int i = 0; i < N; i++)
        {
            names[i] = $"a{i:D6}";
            accuracy[i] = i < trusted ? o.MinAccuracy + (o.MaxAccuracy - o.MinAccuracy) * popRng.NextDouble() : 0;   // RAs ignore it
        }
        var specs = new List<(string Name, int K, double Alpha)> { ("rptsc", 1, o.RptscAlpha) };
        specs.AddRange(o.Chances.Select(k => ("reform", k, o.ReformAlpha)));
        var acc = specs.Select(_ => new Accumulator(R)).ToArray();
        var reformers = specs.Select(s => new Reform(new Rptsc(new RptscOptions { Alpha = s.Alpha, SampleSize = o.SampleSize }),
            new ReformOptions { Chances = s.K })).ToArray();
        var term = new TermReputation(new TermOptions { Lambda = o.Lambda });
        var psi = new double[N];
        for (int j = 1; j <= R; j++)
        {
            ct.ThrowIfCancellationRequested();
            var (round, correct) = MakeRound(o, j, accuracy, names, trusted);
            for (int i = 0; i < N; i++) psi[i] = term.Key(names[i]);
            var rank = PercentileRanks(psi);
            RoundEvidence? evidence = null;
            int paySeed = Seeding.Derive(o.Seed, 1, (ulong)(uint)j);
            // Work items: one per mechanism, plus TERM's evidence (read-only on the model; applied after the payments).
            Parallelism.ForEach(specs.Count + 1, compute, w =>
            {
                if (w == specs.Count) { evidence = RoundEvidence.Draw(round, Seeding.Derive(o.Seed, 2, (ulong)(uint)j)); return; }
                var r = reformers[w].WithSeed(paySeed).Pay(round, term, ComputeOptions.Sequential, null, ct);
                acc[w].Add(j - 1, r, trusted, correct, rank);
            }, ct);
            term.Update(evidence!);
            progress?.Report(new ReformLabProgress(j, R));
        }
        var runs = specs.Select((s, w) => acc[w].Finish(s.Name, s.K, s.Alpha, N, R)).ToArray();
        return new ReformLabResult { Options = o, Rptsc = runs[0], Reform = [.. runs.Skip(1)], Elapsed = clock.Elapsed };
    }

    /// <summary>
    /// Round j: true answers uniform, agents shuffled and dealt to tasks in turn (so ⌊m/n⌋ or ⌈m/n⌉ per task), TAs
    /// correct with their accuracy (else a uniformly chosen wrong answer), RAs uniform. Also returns, per agent index,
    /// whether its report equals the true answer.
    /// </summary>
    private static (Round Round, bool[] Correct) MakeRound(ReformLabOptions o, int j, double[] accuracy, string[] names, int trusted)
    {
        var rng = new Random(Seeding.Derive(o.Seed, 3, (ulong)(uint)j));
        int N = o.Agents, T = o.TasksPerRound, K = o.Answers;
        var truth = new int[T];
        for (int t = 0; t < T; t++) truth[t] = rng.Next(K);
        var order = new int[N];
        for (int i = 0; i < N; i++) order[i] = i;
        rng.Shuffle(order);
        var reports = new RoundReport[N];
        var correct = new bool[N];
        for (int p = 0; p < N; p++)
        {
            int i = order[p], t = p % T, y;
            if (i < trusted)
            {
                if (rng.NextDouble() < accuracy[i]) y = truth[t];
                else { y = rng.Next(K - 1); if (y >= truth[t]) y++; }
            }
            else y = rng.Next(K);
            reports[p] = new RoundReport(names[i], t, y);
            correct[i] = y == truth[t];
        }
        return (new Round(j, T, K, reports), correct);
    }

    /// <summary>Rank of each value among all, scaled to [0, 1] (ties share their mean rank).</summary>
    private static double[] PercentileRanks(double[] values)
    {
        int n = values.Length;
        var order = Enumerable.Range(0, n).OrderBy(i => values[i]).ToArray();
        var rank = new double[n];
        for (int p = 0; p < n;)
        {
            int q = p;
            while (q + 1 < n && values[order[q + 1]] == values[order[p]]) q++;
            double mid = n > 1 ? (p + q) / 2.0 / (n - 1) : 0;
            for (int u = p; u <= q; u++) rank[order[u]] = mid;
            p = q + 1;
        }
        return rank;
    }

    /// <summary>One mechanism's running sums (each touched by one worker per round).</summary>
    private sealed class Accumulator(int rounds)
    {
        private readonly double[] _ta = new double[rounds], _ra = new double[rounds], _opt = new double[rounds];
        private double _taSum, _raSum, _optSum, _raOptSum, _total, _taChances, _raChances;
        private long _taCount, _raCount;
        private readonly List<double> _qualRank = [], _qualReward = [];

        public void Add(int r, ReformResult result, int trusted, bool[] correct, double[] rank)
        {
            var optimal = result.Optimal ?? throw new InvalidOperationException("RPTSC reports M*.");
            double ta = 0, ra = 0, opt = 0;
            int nt = 0, nr = 0;
            for (int a = 0; a < result.Agents.Length; a++)
            {
                // Agent names are a000000.. in index order, and every agent reports once per round, so a = index.
                double pay = result.Payments[a];
                _total += pay;
                if (result.TasksScored[a] == 0) continue;
                if (a < trusted) { ta += pay; opt += optimal[a]; nt++; _taChances += result.ChancesUsed[a]; }
                else { ra += pay; nr++; _raOptSum += optimal[a]; _raChances += result.ChancesUsed[a]; }
                if (r > 0 && correct[a]) { _qualRank.Add(rank[a]); _qualReward.Add(pay); }
            }
            _ta[r] = nt > 0 ? ta / nt : 0;
            _ra[r] = nr > 0 ? ra / nr : 0;
            _opt[r] = nt > 0 ? opt / nt : 0;
            _taSum += ta; _raSum += ra; _optSum += opt; _taCount += nt; _raCount += nr;
        }

        public ReformLabRun Finish(string name, int k, double alpha, int agents, int rounds) => new()
        {
            Mechanism = name,
            Chances = k,
            Alpha = alpha,
            TrustworthyReward = [.. _ta],
            RandomReward = [.. _ra],
            TrustworthyOptimal = [.. _opt],
            MeanTrustworthyReward = _taCount > 0 ? _taSum / _taCount : 0,
            MeanRandomReward = _raCount > 0 ? _raSum / _raCount : 0,
            Fairness = _taCount > 0 ? new GammaFairness(_optSum / _taCount, _taSum / _taCount, _taCount) : new GammaFairness(0, 0, 0),
            FairnessAllAgents = _taCount + _raCount > 0
                ? new GammaFairness((_optSum + _raOptSum) / (_taCount + _raCount), (_taSum + _raSum) / (_taCount + _raCount), _taCount + _raCount)
                : new GammaFairness(0, 0, 0),
            BudgetPerAgent = Tally.Mechanisms.Reputation.Fairness.BudgetPerAgent(_total, agents, rounds),
            ChancesPerReport = (_taCount > 0 ? _taChances / _taCount : 0, _raCount > 0 ? _raChances / _raCount : 0),
            Qualitative = Tally.Mechanisms.Reputation.Fairness.Qualitative(_qualRank, _qualReward),
        };
    }
}
