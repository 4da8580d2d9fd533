using System.Collections.Immutable;
using System.Runtime.InteropServices;
using Tally.Core;

namespace Tally.Simulation;

/// <summary>How a simulated agent turns its private signal into a report.</summary>
public enum PeerStrategy
{
    /// <summary>Report the signal.</summary>
    Truthful,
    /// <summary>Report <see cref="PeerReportScenario.ConstantClass"/> whatever the signal (uninformed).</summary>
    Constant,
    /// <summary>Report a class drawn from the signals' marginal distribution, ignoring the signal (uninformed).</summary>
    RandomByPrior,
    /// <summary>Report <see cref="PeerReportScenario.Permutation"/>[signal] (informed but relabelled).</summary>
    Permutation,
}

/// <summary>A population of agents for peer-prediction experiments: a symmetric Dawid-Skene signal model plus strategies.</summary>
public sealed record PeerReportScenario
{
    /// <summary>Number of agents (workers).</summary>
    public int Agents { get; init; } = 20;
    /// <summary>Number of tasks.</summary>
    public int Tasks { get; init; } = 200;
    /// <summary>K, the number of classes (signals and reports share them).</summary>
    public int Classes { get; init; } = 2;
    /// <summary>Class prior w (K non-negative weights, normalised); null = uniform.</summary>
    public double[]? Prior { get; init; }
    /// <summary>Diagonal of the shared confusion matrix Γ; the off-diagonal mass (1 − a) is spread evenly over the K − 1 other classes. Default 0.8.</summary>
    public double Accuracy { get; init; } = 0.8;
    /// <summary>Optional shared confusion matrix Γ (K×K row-major, row = true class, rows sum to 1); overrides <see cref="Accuracy"/>.</summary>
    public double[]? Confusion { get; init; }
    /// <summary>Probability that an agent reports on a given task (independently per agent and task); default 1 = every task.</summary>
    public double ReportFraction { get; init; } = 1.0;
    /// <summary>Strategy of every agent unless <see cref="AgentStrategies"/> is given.</summary>
    public PeerStrategy Strategy { get; init; } = PeerStrategy.Truthful;
    /// <summary>Optional strategy per agent (length <see cref="Agents"/>).</summary>
    public PeerStrategy[]? AgentStrategies { get; init; }
    /// <summary>The class <see cref="PeerStrategy.Constant"/> agents report; default 0.</summary>
    public int ConstantClass { get; init; }
    /// <summary>The relabelling <see cref="PeerStrategy.Permutation"/> agents apply (a permutation of 0..K−1); null = c ↦ (c + 1) mod K.</summary>
    public int[]? Permutation { get; init; }
    /// <summary>Seed.</summary>
    public int Seed { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> if the scenario is impossible.</summary>
    public void Validate()
    {
        int k = Classes;
        if (Agents < 1) throw new TallyUserException("Agents must be at least 1.");
        if (Tasks < 1) throw new TallyUserException("Tasks must be at least 1.");
        if (k < 1) throw new TallyUserException("Classes must be at least 1.");
        if ((long)Agents * Tasks > int.MaxValue) throw new TallyUserException("Agents × tasks exceeds 2^31 reports.");
        if (Prior is { } w)
        {
            if (w.Length != k) throw new TallyUserException($"Prior needs K = {k} weights.");
            double sum = 0;
            foreach (var x in w) { if (!(x >= 0) || !double.IsFinite(x)) throw new TallyUserException("Prior weights must be finite and ≥ 0."); sum += x; }
            if (!(sum > 0)) throw new TallyUserException("Prior weights must not all be 0.");
        }
        if (Confusion is { } g)
        {
            if (g.Length != k * k) throw new TallyUserException($"Confusion needs K×K = {k * k} entries.");
            for (int c = 0; c < k; c++)
            {
                double sum = 0;
                for (int l = 0; l < k; l++)
                {
                    double x = g[c * k + l];
                    if (!(x >= 0) || !double.IsFinite(x)) throw new TallyUserException("Confusion entries must be finite and ≥ 0.");
                    sum += x;
                }
                if (Math.Abs(sum - 1) > 1e-9) throw new TallyUserException($"Confusion row {c} sums to {sum}, not 1.");
            }
        }
        else if (!(Accuracy >= 0 && Accuracy <= 1)) throw new TallyUserException("Accuracy must be in [0, 1].");
        if (!(ReportFraction > 0 && ReportFraction <= 1)) throw new TallyUserException("ReportFraction must be in (0, 1].");
        if (AgentStrategies is { } st && st.Length != Agents) throw new TallyUserException($"AgentStrategies needs {Agents} entries.");
        if (ConstantClass < 0 || ConstantClass >= k) throw new TallyUserException($"ConstantClass must be a class below {k}.");
        if (Permutation is { } p)
        {
            if (p.Length != k) throw new TallyUserException($"Permutation needs K = {k} entries.");
            var seen = new bool[k];
            foreach (var c in p)
            {
                if (c < 0 || c >= k || seen[c]) throw new TallyUserException("Permutation must be a permutation of 0..K−1.");
                seen[c] = true;
            }
        }
    }
}

/// <summary>What <see cref="PeerReportSimulator"/> drew.</summary>
/// <param name="Reports">The reports (task t named "t", agent i "i", class c "c").</param>
/// <param name="Signals">The private signals, with the same sparsity as <paramref name="Reports"/>.</param>
/// <param name="Truth">True class of every task.</param>
/// <param name="Strategies">Each agent's strategy.</param>
public sealed record PeerReportProfile(LabelMatrix Reports, LabelMatrix Signals, GoldLabels Truth, ImmutableArray<PeerStrategy> Strategies);

/// <summary>
/// Draws peer-prediction report profiles: task classes i.i.d. from the prior w, each agent's signal on a task drawn from
/// row y of one confusion matrix Γ shared by all agents (a symmetric Dawid-Skene model, so every pair of agents has the
/// same joint signal distribution Γᵀ diag(w) Γ), then mapped to a report by the agent's strategy.
/// Every (task, agent) cell consumes the same three random numbers whatever the strategies and the report fraction,
/// so scenarios differing only in strategies share tasks, signals and assignments: a profile where everybody plays
/// <see cref="PeerStrategy.Permutation"/> is exactly the truthful profile relabelled.
/// </summary>
public sealed class PeerReportSimulator
{
    /// <summary>Builds the profile in memory.</summary>
    public PeerReportProfile Generate(PeerReportScenario scenario)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        scenario.Validate();
        int k = scenario.Classes, n = scenario.Agents, m = scenario.Tasks;
        var prior = new double[k];
        for (int c = 0; c < k; c++) prior[c] = scenario.Prior?[c] ?? 1.0;
        double ps = prior.Sum();
        for (int c = 0; c < k; c++) prior[c] /= ps;
        var conf = scenario.Confusion is { } g ? (double[])g.Clone() : Symmetric(k, scenario.Accuracy);
        // Marginal of a signal, P(x) = Σ_c w_c Γ(c, x): what RandomByPrior agents report.
        var marginal = new double[k];
        for (int c = 0; c < k; c++)
            for (int x = 0; x < k; x++) marginal[x] += prior[c] * conf[c * k + x];
        var perm = scenario.Permutation ?? Enumerable.Range(0, k).Select(c => (c + 1) % k).ToArray();
        var strategies = new PeerStrategy[n];
        for (int i = 0; i < n; i++) strategies[i] = scenario.AgentStrategies?[i] ?? scenario.Strategy;

        var vt = Vocabulary.Numbered(m); var vw = Vocabulary.Numbered(n); var vc = Vocabulary.Numbered(k);
        var reports = new LabelMatrixBuilder(vt, vw, vc);
        var signals = new LabelMatrixBuilder(vt, vw, vc);
        var truth = new int[m];
        var rng = Seeding.Random(scenario.Seed);
        for (int t = 0; t < m; t++)
        {
            int y = Draw(prior, rng.NextDouble());
            truth[t] = y;
            for (int i = 0; i < n; i++)
            {
                double uIn = rng.NextDouble(), uSignal = rng.NextDouble(), uReport = rng.NextDouble();
                if (uIn >= scenario.ReportFraction) continue;
                int x = Draw(conf.AsSpan(y * k, k), uSignal);
                int r = strategies[i] switch
                {
                    PeerStrategy.Truthful => x,
                    PeerStrategy.Constant => scenario.ConstantClass,
                    PeerStrategy.RandomByPrior => Draw(marginal, uReport),
                    PeerStrategy.Permutation => perm[x],
                    _ => throw new InvalidOperationException("Unknown strategy."),
                };
                signals.Add(t, i, x);
                reports.Add(t, i, r);
            }
        }
        return new PeerReportProfile(reports.Build().Matrix, signals.Build().Matrix, new GoldLabels(truth, k),
            ImmutableCollectionsMarshal.AsImmutableArray(strategies));
    }

    /// <summary>The symmetric confusion matrix: a on the diagonal, (1 − a)/(K − 1) elsewhere (the identity for K = 1).</summary>
    public static double[] Symmetric(int classes, double accuracy)
    {
        var g = new double[MemoryBudget.Length(classes, classes)];
        for (int c = 0; c < classes; c++)
            for (int l = 0; l < classes; l++)
                g[c * classes + l] = classes == 1 ? 1 : c == l ? accuracy : (1 - accuracy) / (classes - 1);
        return g;
    }

    /// <summary>Inverse-CDF draw from a discrete distribution (the last class absorbs rounding).</summary>
    private static int Draw(ReadOnlySpan<double> p, double u)
    {
        double c = 0;
        for (int x = 0; x < p.Length - 1; x++)
        {
            c += p[x];
            if (u < c) return x;
        }
        return p.Length - 1;
    }
}
