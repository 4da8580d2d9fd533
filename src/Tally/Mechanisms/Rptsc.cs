using System.Collections.Immutable;
using Tally.Core;

namespace Tally.Mechanisms;

/// <summary>Options of <see cref="Rptsc"/>.</summary>
public sealed record RptscOptions : MechanismOptions
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

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        Check.AtLeast(Alpha, 0, nameof(Alpha));
        Check.AtLeast(SampleSize, 1, nameof(SampleSize));
        Check.AtLeast(MinTasks, 1, nameof(MinTasks));
    }

    /// <inheritdoc />
    public override IPeerPredictionMechanism CreateMechanism() => new Rptsc(this);
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
/// Under <see cref="Reform"/> (the paper's own pairing): a report "did not match" when it differs from its peer's
/// (peer-fac = 0, reward −α); f is drawn once per report, before any re-pairing, and a new peer is drawn among the
/// task's other agents; M* = α(1/f(y_i) − 1).
/// </summary>
public sealed class Rptsc(RptscOptions? options = null) : PeerPredictionMechanism<RptscOptions>(options ?? new RptscOptions())
{
    /// <inheritdoc />
    public override string Name => "rptsc";

    private protected override bool PaysPerReport => true;

    /// <inheritdoc />
    private protected override PaymentResult Pay(LabelMatrix reports, Pairing? pairing, ComputeOptions? compute,
        IProgress<WorkProgress>? progress, CancellationToken cancellationToken)
    {
        MechanismKernel.Check(reports, Options, compute, Name);
        double alpha = Options.Alpha;
        int S = Options.SampleSize;
        ulong seed = Seeding.Base(Options.Seed);
        int W = reports.WorkerCount, A = reports.AnswerCount, minTasks = Options.MinTasks;
        var answerTask = MechanismKernel.AnswerTasks(reports);
        var pay = new double[W];
        var agreeOut = new double[W];
        var scored = new int[W];
        if (pairing is not null) pairing.HasOptimal = true;
        int maxTries = 8 * S + 64;
        MechanismKernel.ForEachAgent(W, (long)A * (S + 4), compute, progress, cancellationToken, () => new TriedPeers(pairing, W), (i, tried) =>
        {
            var r = SplitMix64.For(seed, (ulong)i);
            var tasksI = reports.TasksOf(i);
            var labelsI = reports.LabelsBy(i);
            var taskWorkers = reports.TaskWorkers;
            var taskLabels = reports.TaskLabels;
            int n = 0, agreements = 0;
            double sum = 0, best = 0;
            for (int p = 0; p < tasksI.Length; p++)
            {
                int t = tasksI[p], y = labelsI[p];
                int a = MechanismKernel.PickOtherAnswer(reports, t, i, ref r);
                if (a < 0) continue;
                var (drawn, same) = MechanismKernel.SampleOtherReports(ref r, answerTask, taskWorkers, taskLabels, t, i, y, S, maxTries);
                if (drawn == 0) continue;
                n++;
                double w = 1;
                if (pairing is not null)
                {
                    w = pairing.Weight(reports, i, p);
                    a = pairing.OnTask(reports, i, t, y, a, tried, ref r);
                }
                double matched = alpha * ((drawn + 1.0) / (same + 1.0) - 1);
                best += w * matched;
                if (taskLabels[a] == y)
                {
                    agreements++;
                    sum += w * matched;
                }
                else sum -= w * alpha;
            }
            if (n >= minTasks)
            {
                pay[i] = sum / n;
                agreeOut[i] = (double)agreements / n;
                scored[i] = n;
                if (pairing is not null) pairing.Optimal[i] = best / n;
            }
            else pairing?.Discard(i);
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
