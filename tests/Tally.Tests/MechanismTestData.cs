using Tally.Core;
using Tally.Mechanisms;
using Tally.Simulation;

namespace Tally.Tests;

/// <summary>Fixtures for the peer-prediction mechanism tests.</summary>
public static class MechanismTestData
{
    /// <summary>Every mechanism with default options, by name.</summary>
    public static IPeerPredictionMechanism Create(string name) => name switch
    {
        "oa" => new OutputAgreement(),
        "dg" => new DasguptaGhosh(),
        "ca" => new CorrelatedAgreement(),
        "rptsc" => new Rptsc(),
        "dmi" => new Dmi(),
        "tvdmi" => new TvdMutualInformation(),
        _ => throw new ArgumentException(name),
    };

    /// <summary>All mechanism names, as xunit member data.</summary>
    public static IEnumerable<object[]> All() =>
        new[] { "oa", "dg", "ca", "rptsc", "dmi", "tvdmi" }.Select(n => new object[] { n });

    /// <summary>
    /// A profile from one row per agent: rows[i][t] is agent i's report on task t, or −1 for no report.
    /// Agents are workers 0..n−1 and tasks 0..m−1.
    /// </summary>
    public static LabelMatrix Profile(int classes, params int[][] rows)
    {
        int m = rows.Max(r => r.Length);
        var ts = new List<int>(); var ws = new List<int>(); var ls = new List<int>();
        for (int t = 0; t < m; t++)
            for (int i = 0; i < rows.Length; i++)
                if (t < rows[i].Length && rows[i][t] >= 0) { ts.Add(t); ws.Add(i); ls.Add(rows[i][t]); }
        return LabelMatrix.FromTriples(m, rows.Length, classes, ts.ToArray(), ws.ToArray(), ls.ToArray());
    }

    /// <summary>The same answers with every class c renamed perm[c], in the same order (so the CSR layout is identical).</summary>
    public static LabelMatrix Relabel(LabelMatrix m, int[] perm)
    {
        var ts = new int[m.AnswerCount]; var ws = new int[m.AnswerCount]; var ls = new int[m.AnswerCount];
        int a = 0;
        for (int t = 0; t < m.TaskCount; t++)
        {
            var w = m.WorkersOf(t); var l = m.LabelsOf(t);
            for (int q = 0; q < w.Length; q++, a++) { ts[a] = t; ws[a] = w[q]; ls[a] = perm[l[q]]; }
        }
        return LabelMatrix.FromTriples(m.TaskCount, m.WorkerCount, m.ClassCount, ts, ws, ls, DuplicatePolicy.KeepAll);
    }

    /// <summary>A dense profile from the symmetric Dawid-Skene simulator.</summary>
    public static PeerReportProfile Simulate(int agents, int tasks, int classes, PeerStrategy strategy,
        double accuracy = 0.8, double[]? prior = null, int seed = 1, double fraction = 1.0) =>
        new PeerReportSimulator().Generate(new PeerReportScenario
        {
            Agents = agents, Tasks = tasks, Classes = classes, Strategy = strategy, Accuracy = accuracy,
            Prior = prior, Seed = seed, ReportFraction = fraction,
        });

    /// <summary>
    /// The joint distribution U(x, y) = Σ_c w_c Γ(c, x) Γ(c, y) of two truthful agents' reports in the symmetric
    /// Dawid-Skene model (K×K row-major) and its marginal.
    /// </summary>
    public static (double[] Joint, double[] Marginal) Joint(int k, double accuracy, double[]? prior)
    {
        var w = prior ?? Enumerable.Repeat(1.0 / k, k).ToArray();
        var g = PeerReportSimulator.Symmetric(k, accuracy);
        var u = new double[k * k];
        var p = new double[k];
        for (int c = 0; c < k; c++)
            for (int x = 0; x < k; x++)
            {
                p[x] += w[c] * g[c * k + x];
                for (int y = 0; y < k; y++) u[x * k + y] += w[c] * g[c * k + x] * g[c * k + y];
            }
        return (u, p);
    }

    /// <summary>Checks the invariants every payment result must satisfy.</summary>
    public static void AssertValid(PaymentResult r, LabelMatrix reports)
    {
        Assert.Equal(reports.WorkerCount, r.Payments.Length);
        Assert.Equal(reports.WorkerCount, r.TasksScored.Length);
        Assert.True(double.IsFinite(r.Range.Min) && double.IsFinite(r.Range.Max) && r.Range.Min <= r.Range.Max, $"{r.Mechanism}: range {r.Range}");
        for (int i = 0; i < r.Payments.Length; i++)
        {
            double p = r.Payments[i];
            Assert.True(double.IsFinite(p), $"{r.Mechanism}: payment {p} of agent {i}");
            Assert.True(r.TasksScored[i] >= 0);
            if (r.TasksScored[i] == 0) Assert.Equal(0.0, p);
            else Assert.True(r.Range.Contains(p, 1e-9 * Math.Max(1, r.Range.Width)), $"{r.Mechanism}: payment {p} of agent {i} outside {r.Range}");
            Assert.True(r.TasksScored[i] <= reports.WorkerDegree(i), $"{r.Mechanism}: agent {i} scored on more tasks than it did");
        }
        foreach (var (name, values) in r.Breakdown)
        {
            Assert.Equal(reports.WorkerCount, values.Length);
            foreach (var v in values) Assert.True(double.IsFinite(v), $"{r.Mechanism}: {name} {v}");
        }
    }
}
