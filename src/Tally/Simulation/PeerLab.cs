using System.Collections.Immutable;
using MathNet.Numerics.Distributions;
using Tally.Core;
using Tally.Mechanisms;

namespace Tally.Simulation;

/// <summary>One peer-prediction experiment: a signal prior, a population, adversaries and the deviations to try.</summary>
public sealed record PeerLabScenario
{
    /// <summary>Signal prior (required).</summary>
    public required ISignalPrior Prior { get; init; }
    /// <summary>n, agents (every agent reports on every task); default 10.</summary>
    public int Agents { get; init; } = 10;
    /// <summary>m, tasks; default 100.</summary>
    public int Tasks { get; init; } = 100;
    /// <summary>α, fraction of agents controlled by the adversary (round(α·n) of them, never agent 0); default 0.</summary>
    public double AdversaryFraction { get; init; }
    /// <summary>The adversary's coordinated strategy: Flip = signal + 1 mod K, Constant, Random = uniform, Pattern = one shared random class per task.</summary>
    public AdversaryStrategy Adversary { get; init; } = AdversaryStrategy.Constant;
    /// <summary>Class of a <see cref="AdversaryStrategy.Constant"/> adversary; default 0.</summary>
    public int AdversaryClass { get; init; }
    /// <summary>Deviations tried by agent 0; null = <see cref="ReportStrategy.DefaultDeviations"/>.</summary>
    public IReadOnlyList<ReportStrategy>? Deviations { get; init; }
    /// <summary>Independent repetitions; default 50 (at least 2 for an interval).</summary>
    public int Seeds { get; init; } = 50;
    /// <summary>Base seed.</summary>
    public int Seed { get; init; }
    /// <summary>Confidence level of the Student-t intervals; default 0.95.</summary>
    public double Confidence { get; init; } = 0.95;

    /// <summary>Number of adversarial agents, round(α·n) capped at n − 1.</summary>
    public int AdversaryCount => Math.Min(Agents - 1, (int)Math.Round(AdversaryFraction * Agents, MidpointRounding.AwayFromZero));

    /// <summary>The deviations in use.</summary>
    public IReadOnlyList<ReportStrategy> DeviationSet => Deviations ?? ReportStrategy.DefaultDeviations(Prior.Classes);

    /// <summary>Throws <see cref="InvalidOptionException"/> (naming the property) if the scenario is impossible.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Prior);
        if (Agents < 2) throw new InvalidOptionException(nameof(Agents), $"must be at least 2: peer prediction needs a peer (got {Agents})");
        if (Tasks < 1) throw new InvalidOptionException(nameof(Tasks), $"must be at least 1 (got {Tasks})");
        if ((long)Agents * Tasks > int.MaxValue) throw new InvalidOptionException(nameof(Tasks), $"× agents must be at most 2^31 reports (got {(long)Agents * Tasks:N0})");
        if (!(AdversaryFraction >= 0 && AdversaryFraction < 1))
            throw new InvalidOptionException(nameof(AdversaryFraction), $"must be at least 0 and below 1 (got {NumberFormat.Number(AdversaryFraction)})");
        Check.Defined(Adversary, nameof(Adversary));
        if (AdversaryClass < 0 || AdversaryClass >= Prior.Classes)
            throw new InvalidOptionException(nameof(AdversaryClass), $"must be a class index below K = {Prior.Classes} (got {AdversaryClass})");
        if (Seeds < 2) throw new InvalidOptionException(nameof(Seeds), $"must be at least 2, for an interval (got {Seeds})");
        if (!(Confidence > 0 && Confidence < 1))
            throw new InvalidOptionException(nameof(Confidence), $"must be strictly between 0 and 1 (got {NumberFormat.Number(Confidence)})");
        foreach (var d in DeviationSet) { ArgumentNullException.ThrowIfNull(d); d.Validate(Prior.Classes); }
    }
}

/// <summary>A mean over seeds with its Student-t confidence interval.</summary>
/// <param name="Mean">Mean.</param>
/// <param name="Low">Lower end of the interval.</param>
/// <param name="High">Upper end.</param>
/// <param name="StdError">Standard error of the mean (sd / √seeds).</param>
/// <param name="Seeds">Number of values.</param>
public sealed record PaymentEstimate(double Mean, double Low, double High, double StdError, int Seeds)
{
    /// <summary>Mean and interval of <paramref name="values"/> at confidence <paramref name="confidence"/> (≥ 2 values).</summary>
    public static PaymentEstimate Of(ReadOnlySpan<double> values, double confidence)
    {
        int n = values.Length;
        if (n < 2) throw new TallyUserException("An interval needs at least 2 values.");
        double sum = 0;
        foreach (var v in values) sum += v;
        double mean = sum / n, sq = 0;
        foreach (var v in values) sq += (v - mean) * (v - mean);
        double se = Math.Sqrt(sq / (n - 1) / n);
        double half = StudentT.InvCDF(0, 1, n - 1, 1 - (1 - confidence) / 2) * se;
        return new PaymentEstimate(mean, mean - half, mean + half, se, n);
    }
}

/// <summary>What agent 0 earns with one unilateral deviation.</summary>
/// <param name="Strategy">The deviation.</param>
/// <param name="Payment">Its payment.</param>
/// <param name="Gain">Paired difference deviation − truthful (same signals and mechanism randomness per seed).</param>
public sealed record DeviationResult(ReportStrategy Strategy, PaymentEstimate Payment, PaymentEstimate Gain);

/// <summary>Incentive measurements of one mechanism in one scenario.</summary>
/// <param name="Mechanism">Mechanism name.</param>
/// <param name="Truthful">Payment of truthful agent 0 (others truthful, adversaries playing their strategy).</param>
/// <param name="HonestMean">Mean payment of all non-adversarial scored agents in that profile (less noisy, same expectation).</param>
/// <param name="Deviations">Each unilateral deviation of agent 0.</param>
/// <param name="BestDeviation">The deviation with the highest mean payment.</param>
/// <param name="Epsilon">max(0, best deviation mean − truthful mean): the empirical ε of ε-Bayes-Nash truthfulness.</param>
/// <param name="TruthfulIsBestResponse">No deviation's paired gain is significantly positive: every gain's interval has Low ≤ 0.</param>
/// <param name="UninformedConstant">Mean payment when everyone reports the most likely class.</param>
/// <param name="UninformedRandom">Mean payment when everyone reports random-by-prior.</param>
/// <param name="Gap">Truthful mean − the larger uninformed mean: how much more the truthful equilibrium pays.</param>
public sealed record PeerLabMechanismResult(string Mechanism, PaymentEstimate Truthful, PaymentEstimate HonestMean,
    ImmutableArray<DeviationResult> Deviations, ReportStrategy BestDeviation, double Epsilon, bool TruthfulIsBestResponse,
    PaymentEstimate UninformedConstant, PaymentEstimate UninformedRandom, double Gap)
{
    /// <summary>Tie tolerance: a gain refutes truthfulness only if its interval lies above this (absorbs rounding).</summary>
    public const double TieTolerance = 1e-12;

    /// <summary>Whether no deviation passing <paramref name="filter"/> has a significantly positive paired gain.</summary>
    public bool TruthfulIsBestResponseAmong(Func<ReportStrategy, bool> filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        foreach (var d in Deviations) if (filter(d.Strategy) && d.Gain.Low > TieTolerance) return false;
        return true;
    }
}

/// <summary>The result of <see cref="PeerLab.Run"/>.</summary>
/// <param name="Scenario">The scenario.</param>
/// <param name="Mechanisms">One result per mechanism, in input order.</param>
public sealed record PeerLabResult(PeerLabScenario Scenario, ImmutableArray<PeerLabMechanismResult> Mechanisms);

/// <summary>
/// Measures the incentives of peer-prediction mechanisms by simulation. Per seed: one draw of every task's signals,
/// of the strategies' uniforms and of each mechanism's randomness, shared by every profile of that seed (common random
/// numbers), so the deviation − truthful differences are paired and their intervals narrow. Agent 0 is the agent
/// whose incentives are measured; the adversaries are the last round(α·n) agents. Seeds are independent, so the
/// Student-t intervals over seeds are for the expected payments under the scenario.
/// </summary>
public static class PeerLab
{
    /// <summary>
    /// Runs every mechanism on the scenario. Seeds run in parallel up to <paramref name="compute"/>'s thread cap, each
    /// paying on one thread (<see cref="ComputeOptions.Sequential"/>), so the result is the same for any thread count.
    /// </summary>
    /// <param name="mechanisms">The mechanisms (their own seeds are replaced by one per lab seed).</param>
    /// <param name="scenario">The experiment.</param>
    /// <param name="compute">Thread cap.</param>
    /// <param name="progress">Seeds done.</param>
    /// <param name="cancellationToken">Stops between seeds.</param>
    public static PeerLabResult Run(IReadOnlyList<IPeerPredictionMechanism> mechanisms, PeerLabScenario scenario,
        ComputeOptions? compute = null, IProgress<WorkProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(mechanisms);
        ArgumentNullException.ThrowIfNull(scenario);
        if (mechanisms.Count == 0) throw new ArgumentException("Give at least one mechanism.", nameof(mechanisms));
        scenario.Validate();
        var deviations = scenario.DeviationSet;
        int seeds = scenario.Seeds, mc = mechanisms.Count, dc = deviations.Count;
        // raw[s][mech][slot]: slot 0 truthful, 1 honest mean, 2..2+dc−1 deviations, then const-uninformed, random-uninformed.
        int slots = dc + 4;
        var raw = new double[seeds][];
        long done = 0;
        var gate = new object();
        Parallelism.ForEach(seeds, compute, s =>
        {
            raw[s] = RunSeed(mechanisms, scenario, deviations, s, cancellationToken);
            if (progress is not null) lock (gate) progress.Report(new WorkProgress(++done, seeds));
        }, cancellationToken);

        var results = ImmutableArray.CreateBuilder<PeerLabMechanismResult>(mc);
        var buf = new double[seeds];
        var diff = new double[seeds];
        double conf = scenario.Confidence;
        PaymentEstimate At(int m, int slot)
        {
            for (int s = 0; s < seeds; s++) buf[s] = raw[s][m * slots + slot];
            return PaymentEstimate.Of(buf, conf);
        }
        for (int m = 0; m < mc; m++)
        {
            var truthful = At(m, 0);
            var devs = ImmutableArray.CreateBuilder<DeviationResult>(dc);
            int best = 0;
            bool bestResponse = true;
            for (int d = 0; d < dc; d++)
            {
                var pay = At(m, 2 + d);
                for (int s = 0; s < seeds; s++) diff[s] = raw[s][m * slots + 2 + d] - raw[s][m * slots];
                var gain = PaymentEstimate.Of(diff, conf);
                // Tie tolerance from the standard error: a deviation only refutes truthfulness if its paired gain is
                // significantly positive (1e-12 absorbs rounding when a deviation pays exactly what truth pays).
                if (gain.Low > PeerLabMechanismResult.TieTolerance) bestResponse = false;
                devs.Add(new DeviationResult(deviations[d], pay, gain));
                if (pay.Mean > devs[best].Payment.Mean) best = d;
            }
            var uc = At(m, 2 + dc);
            var ur = At(m, 3 + dc);
            double bestMean = dc > 0 ? devs[best].Payment.Mean : truthful.Mean;
            results.Add(new PeerLabMechanismResult(mechanisms[m].Name, truthful, At(m, 1), devs.MoveToImmutable(),
                dc > 0 ? deviations[best] : ReportStrategy.Truthful, Math.Max(0, bestMean - truthful.Mean), bestResponse,
                uc, ur, truthful.Mean - Math.Max(uc.Mean, ur.Mean)));
        }
        return new PeerLabResult(scenario, results.MoveToImmutable());
    }

    private static double[] RunSeed(IReadOnlyList<IPeerPredictionMechanism> mechanisms, PeerLabScenario sc,
        IReadOnlyList<ReportStrategy> deviations, int s, CancellationToken ct)
    {
        int n = sc.Agents, m = sc.Tasks, k = sc.Prior.Classes, dc = deviations.Count, slots = dc + 4;
        var signalRng = new Random(Seeding.Derive(sc.Seed, (ulong)(uint)s, 1));
        var strategyRng = new Random(Seeding.Derive(sc.Seed, (ulong)(uint)s, 2));
        var signals = new int[MemoryBudget.Length(m, n)];
        var u1 = new double[MemoryBudget.Length(m, n)];
        var u2 = new double[MemoryBudget.Length(m, n)];
        var pattern = new double[m];
        for (int t = 0; t < m; t++)
        {
            sc.Prior.DrawTask(signalRng, signals.AsSpan(t * n, n));
            pattern[t] = strategyRng.NextDouble();
            for (int i = 0; i < n; i++) { u1[t * n + i] = strategyRng.NextDouble(); u2[t * n + i] = strategyRng.NextDouble(); }
        }
        var marginal = sc.Prior.Marginal.ToArray();
        int adversaries = sc.AdversaryCount, firstAdversary = n - adversaries;
        var tasks = new int[MemoryBudget.Length(m, n)];
        var workers = new int[MemoryBudget.Length(m, n)];
        for (int t = 0; t < m; t++) for (int i = 0; i < n; i++) { tasks[t * n + i] = t; workers[t * n + i] = i; }

        // Baseline: everyone truthful except the adversaries.
        var baseline = new int[MemoryBudget.Length(m, n)];
        for (int t = 0; t < m; t++)
        {
            var sig = signals.AsSpan(t * n, n);
            for (int i = 0; i < n; i++)
            {
                int x = sig[i];
                baseline[t * n + i] = i < firstAdversary ? x : sc.Adversary switch
                {
                    AdversaryStrategy.Flip => (x + 1) % k,
                    AdversaryStrategy.Constant => sc.AdversaryClass,
                    AdversaryStrategy.Random => Math.Min(k - 1, (int)(u2[t * n + i] * k)),
                    AdversaryStrategy.Pattern => Math.Min(k - 1, (int)(pattern[t] * k)),
                    _ => throw new InvalidOperationException("Unknown adversary strategy."),
                };
            }
        }
        var outRow = new double[MemoryBudget.Length(mechanisms.Count, slots)];
        // Same mechanism seed for every profile of this seed: paired comparisons see the same peers and splits.
        var seeded = new IPeerPredictionMechanism[mechanisms.Count];
        for (int j = 0; j < seeded.Length; j++) seeded[j] = mechanisms[j].WithSeed(Seeding.Derive(sc.Seed, (ulong)(uint)s, (ulong)(uint)(100 + j)));

        PaymentResult[] PayAll(int[] labels)
        {
            var matrix = LabelMatrix.FromTriples(m, n, k, tasks, workers, labels);
            var r = new PaymentResult[seeded.Length];
            // The seeds already run in parallel: each payment runs on this thread.
            for (int j = 0; j < r.Length; j++) r[j] = seeded[j].Pay(matrix, ComputeOptions.Sequential, null, ct);
            return r;
        }
        static double Finite(double v) => double.IsFinite(v) ? v : 0;

        var basePay = PayAll(baseline);
        for (int j = 0; j < basePay.Length; j++)
        {
            outRow[j * slots] = Finite(basePay[j].Payments[0]);
            double sum = 0; int cnt = 0;
            for (int i = 0; i < firstAdversary; i++) if (basePay[j].IsScored(i)) { sum += basePay[j].Payments[i]; cnt++; }
            outRow[j * slots + 1] = cnt == 0 ? 0 : Finite(sum / cnt);
        }
        var labels = new int[MemoryBudget.Length(m, n)];
        for (int d = 0; d < dc; d++)
        {
            Array.Copy(baseline, labels, labels.Length);
            for (int t = 0; t < m; t++)
            {
                var ctx = new StrategyContext(signals.AsSpan(t * n, n), 0, marginal);
                labels[t * n] = deviations[d].Report(ctx, u1[t * n], u2[t * n]);
            }
            var pay = PayAll(labels);
            for (int j = 0; j < pay.Length; j++) outRow[j * slots + 2 + d] = Finite(pay[j].Payments[0]);
        }
        // Uninformed profiles: everyone (adversaries included) ignores the signal.
        int mode = 0;
        for (int c = 1; c < k; c++) if (marginal[c] > marginal[mode]) mode = c;
        Array.Fill(labels, mode);
        var constPay = PayAll(labels);
        for (int idx = 0; idx < labels.Length; idx++) labels[idx] = ReportStrategy.Draw(marginal, u2[idx]);
        var randPay = PayAll(labels);
        for (int j = 0; j < mechanisms.Count; j++)
        {
            outRow[j * slots + 2 + dc] = Finite(constPay[j].MeanPayment);
            outRow[j * slots + 3 + dc] = Finite(randPay[j].MeanPayment);
        }
        return outRow;
    }
}
