using Tally.Core;

namespace Tally.Mechanisms;

/// <summary>Options of <see cref="OutputAgreement"/>.</summary>
public sealed record OutputAgreementOptions : MechanismOptions
{
    /// <summary>An agent is scored only if at least this many of its tasks had a peer; default 1.</summary>
    public int MinTasks { get; init; } = 1;

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        Check.AtLeast(MinTasks, 1, nameof(MinTasks));
    }

    /// <inheritdoc />
    public override IPeerPredictionMechanism CreateMechanism() => new OutputAgreement(this);
}

/// <summary>
/// Output agreement: on each of agent i's tasks, a peer j is drawn uniformly from the other agents who answered it and
/// i earns 1[r_i(t) = r_j(t)]; the payment is the average over i's tasks that had a peer (range [0, 1]).
/// The simplest peer-consistency rule (von Ahn and Dabbish's ESP game, CHI 2004): truthful reporting is an equilibrium,
/// but so is everyone reporting the same constant, which pays 1 — the uninformed equilibrium the multi-task mechanisms
/// (<see cref="DasguptaGhosh"/>, <see cref="CorrelatedAgreement"/>, <see cref="Dmi"/>) are designed to remove.
/// TasksScored = tasks that had a peer; Breakdown: none.
/// Under <see cref="Reform"/>: a report "did not match" when it differs from its peer's (the peer factor is 0); a new
/// peer is drawn among the task's other agents; M* = 1.
/// </summary>
public sealed class OutputAgreement(OutputAgreementOptions? options = null) : PeerPredictionMechanism<OutputAgreementOptions>(options ?? new OutputAgreementOptions())
{
    /// <inheritdoc />
    public override string Name => "oa";

    private protected override bool PaysPerReport => true;

    /// <inheritdoc />
    private protected override PaymentResult Pay(LabelMatrix reports, Pairing? pairing, ComputeOptions? compute,
        IProgress<WorkProgress>? progress, CancellationToken cancellationToken)
    {
        MechanismKernel.Check(reports, Options, compute, Name);
        ulong seed = Seeding.Base(Options.Seed);
        int W = reports.WorkerCount, minTasks = Options.MinTasks;
        var pay = new double[W];
        var scored = new int[W];
        if (pairing is not null) pairing.HasOptimal = true;
        MechanismKernel.ForEachAgent(W, 4L * reports.AnswerCount, compute, progress, cancellationToken,
            () => new TriedPeers(pairing, W), (i, tried) =>
        {
            var r = SplitMix64.For(seed, (ulong)i);
            var tasks = reports.TasksOf(i);
            var labels = reports.LabelsBy(i);
            var taskLabels = reports.TaskLabels;
            int n = 0;
            double agree = 0, weights = 0;
            for (int p = 0; p < tasks.Length; p++)
            {
                int a = MechanismKernel.PickOtherAnswer(reports, tasks[p], i, ref r);
                if (a < 0) continue;
                n++;
                double w = 1;
                if (pairing is not null)
                {
                    w = pairing.Weight(reports, i, p);
                    a = pairing.OnTask(reports, i, tasks[p], labels[p], a, tried, ref r);
                }
                weights += w;
                if (taskLabels[a] == labels[p]) agree += w;
            }
            if (n >= minTasks)
            {
                pay[i] = agree / n;
                scored[i] = n;
                if (pairing is not null) pairing.Optimal[i] = weights / n;
            }
            else pairing?.Discard(i);
        });
        return new PaymentResult
        {
            Mechanism = Name,
            Reports = reports,
            Payments = PaymentResult.Wrap(pay),
            TasksScored = PaymentResult.Wrap(scored),
            Range = new PaymentRange(0, 1),
        };
    }

}
