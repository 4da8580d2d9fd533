using System.Collections.Immutable;
using Tally.Core;

namespace Tally.Mechanisms;

/// <summary>Options of <see cref="Rptsc"/>.</summary>
public sealed record RptscOptions
{
    /// <summary>α, the payment scale; default 1.</summary>
    public double Alpha { get; init; } = 1;

    /// <summary>
    /// Size of the sample of reports from other tasks from which f is estimated, drawn uniformly with replacement from
    /// all answers to other tasks by other agents; default 50 (the sample size REFORM's experiments use, equal to
    /// their number of tasks per round). Larger samples lower the upward bias of 1/f at a linear cost.
    /// </summary>
    public int SampleSize { get; init; } = 50;

    /// <summary>An agent is scored only if at least this many of its tasks could be scored; default 1.</summary>
    public int MinTasks { get; init; } = 1;
}

/// <summary>
/// Peer Truth Serum for Crowdsourcing: on each of agent i's tasks t, with a peer p drawn from the other agents who
/// answered t, i earns α(1[y_i = y_p] / f(y_i) − 1), where f(y_i) is the frequency of y_i in a sample of reports on
/// tasks other than t; agreement on an answer that is rare elsewhere pays more, so blindly agreeing on the common
/// answer gains nothing (with the exact f, reports that ignore the task earn Σ_x P(x)²/P(x) − 1 = 0 in expectation;
/// with the sampled f below, −Σ_x P(x)(1 − P(x))^(S+1), slightly less). Payment = average over i's tasks.
/// G. Radanovic, B. Faltings and R. Jurca, "Incentives for effort in crowdsourcing using the peer truth serum",
/// ACM Transactions on Intelligent Systems and Technology 7(4), 2016 (the PTSC reward); restated with this notation in
/// Kanaparthy, Damle and Gujar, "REFORM: Reputation based fair and temporal reward framework for crowdsourcing", 2021.
/// f = 0 guard: the peer's report y_p is counted in the sample, so on agreement f(y_i) = (b + 1)/(S + 1) with b the
/// count of y_i among the S sampled reports (REFORM's (b + 1)/n); f never vanishes where it is used, and the payment
/// lies in [−α, α·S]. The sample excludes the paid agent's own reports, so it cannot steer its own f.
/// TasksScored = tasks with a peer and a non-empty sample; Breakdown: <c>agreement</c> (share of tasks agreeing with the peer).
/// </summary>
public sealed class Rptsc(RptscOptions? options = null) : IPeerPredictionMechanism
{
    /// <summary>The options in use.</summary>
    public RptscOptions Options { get; } = options ?? new RptscOptions();

    /// <inheritdoc />
    public string Name => "rptsc";

    /// <inheritdoc />
    public PaymentResult Pay(LabelMatrix reports, Random rng)
    {
        MechanismKernel.Check(reports, rng);
        double alpha = Options.Alpha;
        int S = Options.SampleSize;
        if (!double.IsFinite(alpha) || alpha < 0) throw new ArgumentOutOfRangeException(nameof(RptscOptions.Alpha), "Alpha must be finite and non-negative.");
        if (S < 1) throw new ArgumentOutOfRangeException(nameof(RptscOptions.SampleSize), "SampleSize must be at least 1.");
        ulong seed = AgentRng.BaseSeed(rng);
        int W = reports.WorkerCount, T = reports.TaskCount, A = reports.AnswerCount, minTasks = Math.Max(1, Options.MinTasks);
        // Task of each answer id, so a uniformly drawn answer can be checked against the current task in O(1).
        var answerTask = new int[A];
        var offsets = reports.TaskOffsets;
        for (int t = 0; t < T; t++)
            for (int a = offsets[t]; a < offsets[t + 1]; a++) answerTask[a] = t;
        var pay = new double[W];
        var agreeOut = new double[W];
        var scored = new int[W];
        int maxTries = 8 * S + 64;
        MechanismKernel.ForEachAgent(W, (long)A * (S + 4), () => 0, (i, _) =>
        {
            var r = AgentRng.For(seed, (ulong)i);
            var tasksI = reports.TasksOf(i);
            var labelsI = reports.LabelsBy(i);
            var taskWorkers = reports.TaskWorkers;
            var taskLabels = reports.TaskLabels;
            int n = 0, agreements = 0;
            double sum = 0;
            for (int p = 0; p < tasksI.Length; p++)
            {
                int t = tasksI[p], y = labelsI[p];
                int a = MechanismKernel.PickOtherAnswer(reports, t, i, ref r);
                if (a < 0) continue;
                var (drawn, same) = MechanismKernel.SampleOtherReports(ref r, answerTask, taskWorkers, taskLabels, t, i, y, S, maxTries);
                if (drawn == 0) continue;
                n++;
                if (taskLabels[a] == y)
                {
                    agreements++;
                    sum += alpha * ((drawn + 1.0) / (same + 1.0) - 1);
                }
                else sum -= alpha;
            }
            if (n >= minTasks)
            {
                pay[i] = sum / n;
                agreeOut[i] = (double)agreements / n;
                scored[i] = n;
            }
        });
        return new PaymentResult
        {
            Mechanism = Name,
            Reports = reports,
            Payments = PaymentResult.Wrap(pay),
            TasksScored = PaymentResult.Wrap(scored),
            Range = new PaymentRange(-alpha, alpha * S),
            Breakdown = ImmutableDictionary<string, ImmutableArray<double>>.Empty.Add("agreement", PaymentResult.Wrap(agreeOut)),
        };
    }
}
