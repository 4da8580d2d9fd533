using Tally.Core;

namespace Tally.Mechanisms;

/// <summary>Options of <see cref="OutputAgreement"/>.</summary>
public sealed record OutputAgreementOptions
{
    /// <summary>An agent is scored only if at least this many of its tasks had a peer; default 1.</summary>
    public int MinTasks { get; init; } = 1;
}

/// <summary>
/// Output agreement: on each of agent i's tasks, a peer j is drawn uniformly from the other agents who answered it and
/// i earns 1[r_i(t) = r_j(t)]; the payment is the average over i's tasks that had a peer (range [0, 1]).
/// The simplest peer-consistency rule (von Ahn and Dabbish's ESP game, CHI 2004): truthful reporting is an equilibrium,
/// but so is everyone reporting the same constant, which pays 1 — the uninformed equilibrium the multi-task mechanisms
/// (<see cref="DasguptaGhosh"/>, <see cref="CorrelatedAgreement"/>, <see cref="Dmi"/>) are designed to remove.
/// TasksScored = tasks that had a peer; Breakdown: none.
/// </summary>
public sealed class OutputAgreement(OutputAgreementOptions? options = null) : IPeerPredictionMechanism
{
    /// <summary>The options in use.</summary>
    public OutputAgreementOptions Options { get; } = options ?? new OutputAgreementOptions();

    /// <inheritdoc />
    public string Name => "oa";

    /// <inheritdoc />
    public PaymentResult Pay(LabelMatrix reports, Random rng)
    {
        MechanismKernel.Check(reports, rng);
        ulong seed = AgentRng.BaseSeed(rng);
        int W = reports.WorkerCount, minTasks = Math.Max(1, Options.MinTasks);
        var pay = new double[W];
        var scored = new int[W];
        MechanismKernel.ForEachAgent(W, 4L * reports.AnswerCount, () => 0, (i, _) =>
        {
            var r = AgentRng.For(seed, (ulong)i);
            var tasks = reports.TasksOf(i);
            var labels = reports.LabelsBy(i);
            var taskLabels = reports.TaskLabels;
            int n = 0, agree = 0;
            for (int p = 0; p < tasks.Length; p++)
            {
                int a = MechanismKernel.PickOtherAnswer(reports, tasks[p], i, ref r);
                if (a < 0) continue;
                n++;
                if (taskLabels[a] == labels[p]) agree++;
            }
            if (n >= minTasks) { pay[i] = (double)agree / n; scored[i] = n; }
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
