using Tally.Core;
using System.Collections.Immutable;
using Tally.Aggregation;

namespace Tally.Learning;

/// <summary>Where <see cref="EmLearner"/> starts.</summary>
public enum EmInitialisation
{
    /// <summary>Majority-vote shares (Raykar et al.; AggNet).</summary>
    MajorityVote,
    /// <summary>Dawid-Skene posteriors (features unused), a better start when workers differ much in skill.</summary>
    DawidSkene,
}

/// <summary>Options of <see cref="EmLearner"/>.</summary>
public sealed record EmLearnerOptions : AlternatingLearnerOptions
{
    /// <summary>
    /// Defaults: at most 20 EM rounds (each: fit classifier and confusions, then E-step), tolerance 1e-3. Why 20: EM
    /// converges linearly — on the tests' blobs the largest posterior change halves every round and falls below 1e-3
    /// after about 11 rounds.
    /// </summary>
    public EmLearnerOptions() { Rounds = 20; }

    /// <summary>Initial posteriors; default <see cref="EmInitialisation.MajorityVote"/>, the start of Raykar et al. and AggNet.</summary>
    public EmInitialisation Initialisation { get; init; } = EmInitialisation.MajorityVote;

    /// <summary>Dawid-Skene options for <see cref="EmInitialisation.DawidSkene"/>; default <c>new DawidSkeneOptions()</c>.</summary>
    public DawidSkeneOptions DawidSkene { get; init; } = new();

    /// <summary>
    /// Pseudo-count added to every expected confusion count in the M-step (the posterior mean under a symmetric
    /// Dirichlet prior, in the spirit of Raykar et al.'s Beta priors on sensitivity and specificity). Default 1
    /// (add-one). Why not Dawid-Skene's 0.01: with majority-vote starting posteriors, a worker whose answers are
    /// the only ones on her tasks agrees with them perfectly, and near-zero smoothing makes her look infallible
    /// (likelihood ratio ~1000) so that no classifier can ever outvote her and EM stays at majority vote; add-one
    /// caps that first estimate at (n + 1)/(n + K) and lets the features speak. Its bias, ~1/n per entry for a
    /// worker with n answers per class, vanishes with data.
    /// </summary>
    public double Smoothing { get; init; } = 1;

    /// <summary>
    /// Floor on the classifier's probabilities before they enter the E-step as the task prior (then renormalised), so
    /// that a confident classifier cannot make a class impossible and unanimous good answers can still overrule it.
    /// Default 0.01. Must be in [0, 1/K).
    /// </summary>
    public double MinClassifierProbability { get; init; } = 0.01;

    /// <summary>
    /// Label-free restarts: EM from the usual start, from the vote after merging near-identical workers, and from
    /// perturbed starts; the run with the highest final log-likelihood among those whose classes line up with the
    /// crowd's is kept (<see cref="RestartOptions"/>). Default one run, the usual start alone.
    /// </summary>
    public RestartOptions Restarts { get; init; } = new();

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        Check.Defined(Initialisation, nameof(Initialisation));
        OptionPath.Nested(nameof(DawidSkene), Check.NotNull(DawidSkene, nameof(DawidSkene)).Validate);
        Check.AtLeast(Smoothing, 0, nameof(Smoothing));
        // The upper bound 1/K depends on the data and is checked by Learn.
        Check.AtLeast(MinClassifierProbability, 0, nameof(MinClassifierProbability));
        OptionPath.Nested(nameof(Restarts), Check.NotNull(Restarts, nameof(Restarts)).Validate);
    }
}

/// <summary>
/// EM learning from crowds: the true label z_i has prior p(z_i | x_i) given by the classifier and each worker answers
/// through her own confusion matrix π_u (Dawid-Skene); EM alternates the E-step
/// q_i(k) ∝ f(k; x_i) Π_u π_u[k, y_ui] (log space) with an M-step that retrains the classifier on q and re-estimates
/// the confusion matrices from the expected counts.
/// V. C. Raykar, S. Yu, L. H. Zhao, G. H. Valadez, C. Florin, L. Bogoni and L. Moy, "Learning from crowds", Journal of
/// Machine Learning Research 11, 2010 (its EM, for K classes; the objective as restated in Cao et al., "Max-MIG",
/// ICLR 2019, Appendix E); with a neural classifier as AggNet: S. Albarqouni et al., "AggNet: Deep learning from
/// crowds for mitosis detection in breast cancer histology images", IEEE Transactions on Medical Imaging 35(5), 2016.
/// </summary>
/// <remarks>
/// <para>Each round: fit a fresh classifier on q; confusion rows = smoothed expected counts, normalised; E-step with
/// the classifier's probabilities floored at <see cref="EmLearnerOptions.MinClassifierProbability"/>. Gold labels
/// are clamped. Stops when q moves by less than the tolerance.</para>
/// <para>Losses: per round, the negative observed-data log-likelihood per task,
/// −(1/T) Σ_i log Σ_k f(k; x_i) Π_u π_u[k, y_ui] (the likelihood EM ascends, with f floored as in the E-step).
/// Posteriors = the last E-step; Classifier and Confusions = the last M-step, which produced it.</para>
/// </remarks>
public sealed class EmLearner(EmLearnerOptions? options = null) : ICrowdLearner
{
    /// <summary>The method's short name.</summary>
    public const string MethodName = "em";

    /// <summary>The options in use.</summary>
    public EmLearnerOptions Options { get; } = options ?? new EmLearnerOptions();

    /// <inheritdoc />
    public string Name => MethodName;

    /// <inheritdoc />
    public CrowdLearningResult Learn(CrowdTrainingSet data, ComputeOptions? compute = null, IProgress<EpochReport>? progress = null,
        CancellationToken cancellationToken = default)
    {
        var o = Options;
        o.Validate();
        ArgumentNullException.ThrowIfNull(data);
        data.Validate();
        var answers = data.Answers;
        int k = answers.ClassCount, T = answers.TaskCount, W = answers.WorkerCount;
        // Dawid-Skene's counts and log-confusions (and its start, when that is Dawid-Skene), the result's confusions;
        // with restarts, every run's posteriors and confusions, the start and the merged vote are kept until one is chosen.
        int kept = o.Restarts.Count > 1 ? o.Restarts.Count : 0;
        Footprints.Require(Name, answers, compute, confusions: 4 + kept, posteriors: 3 + (kept > 0 ? kept + 2 : 0));
        if (!(o.MinClassifierProbability < 1.0 / k))
            throw new InvalidOptionException(nameof(o.MinClassifierProbability),
                $"must be below 1/K = {NumberFormat.Number(1.0 / k)} for these {k} classes (got {NumberFormat.Number(o.MinClassifierProbability)})");

        var q0 = o.Initialisation == EmInitialisation.DawidSkene
            ? new DawidSkene(o.DawidSkene).Aggregate(answers, compute, null, cancellationToken).Posteriors.Values.ToArray()
            : MajorityVote.WeightedVote(answers, null);
        Numerics.ClampGold(answers, q0);
        var restarts = o.Restarts;
        if (restarts.Count == 1) return Run(data, q0, compute, progress, cancellationToken);

        // Restarts: the merged vote is both the merged start and the reference that tells a relabelled run.
        var (voteWeights, merged) = Restarts.VoteWeights(Restarts.MergeGroups(answers, restarts));
        var reference = Restarts.MergedVote(answers, voteWeights);
        var results = new CrowdLearningResult[restarts.Count];
        var runs = new RestartRun[restarts.Count];
        for (int r = 0; r < restarts.Count; r++)
        {
            var start = Restarts.StartOf(r, merged > 0);
            var q = start switch
            {
                RestartStart.Initial => (double[])q0.Clone(),
                RestartStart.Merged => (double[])reference.Clone(),
                _ => Perturbed(q0, k, r),
            };
            Numerics.ClampGold(answers, q);
            var result = results[r] = Run(data, q, compute, RestartProgress.Offset(progress, r, o.Rounds, restarts.Count), cancellationToken);
            // The loss is the negative log-likelihood per task, so its negation is the likelihood EM ascended.
            runs[r] = new RestartRun(start, -result.Losses[^1], Restarts.Consistent(result.Posteriors, reference, k), result.Classifier, result.Posteriors);
        }
        int selected = Restarts.Select(runs);
        return results[selected] with { Restarts = new RestartSummary([.. runs], selected, merged) };
    }

    /// <summary>The start <paramref name="q0"/> with N(0, PerturbationScale²) noise on the log of each share, renormalised (zero shares stay zero).</summary>
    private double[] Perturbed(double[] q0, int k, int run)
    {
        var q = (double[])q0.Clone();
        var rng = Restarts.NoiseStream(Options.Seed, run);
        for (int t = 0; t < q.Length / k; t++)
        {
            var row = q.AsSpan(t * k, k);
            for (int c = 0; c < k; c++) row[c] *= Math.Exp(Options.Restarts.PerturbationScale * Restarts.Normal(ref rng));
            Numerics.Normalize(row);
        }
        return q;
    }

    /// <summary>EM from the starting posteriors <paramref name="q"/> (taken over).</summary>
    private CrowdLearningResult Run(CrowdTrainingSet data, double[] q, ComputeOptions? compute, IProgress<EpochReport>? progress,
        CancellationToken cancellationToken)
    {
        var o = Options;
        var answers = data.Answers;
        int k = answers.ClassCount, T = answers.TaskCount, W = answers.WorkerCount;
        var counts = new double[MemoryBudget.Length(W, k, k)];     // [w][l][k], as ConfusionEm
        var totals = new double[k];
        var logConf = new double[counts.Length];
        var unusedLogPrior = new double[k];     // the classifier replaces Dawid-Skene's shared class prior
        var next = new double[MemoryBudget.Length(T, k)];
        double floor = Math.Max(o.MinClassifierProbability, Numerics.MinProbability);
        var losses = ImmutableArray.CreateBuilder<double>(o.Rounds);
        IClassifier? model = null;
        for (int round = 1; round <= o.Rounds; round++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            // M-step: classifier and confusion matrices from the current posteriors.
            model = LearnerSupport.NewClassifier(o);
            var probs = LearnerSupport.FitAndPredict(model, data.Features, q, k, cancellationToken);
            ConfusionEm.Counts(answers, q, null, o.Smoothing, counts, compute, cancellationToken);
            ConfusionEm.DawidSkeneMStep(W, k, counts, totals, logConf, unusedLogPrior);

            // E-step in log space.
            double logLikelihood = EStep(answers, probs, floor, logConf, next);
            Numerics.ClampGold(answers, next);
            double change = LearnerSupport.MaxChange(q, next);
            (q, next) = (next, q);
            double loss = -logLikelihood / T;
            losses.Add(loss);
            progress?.Report(new EpochReport(round, o.Rounds, loss, model));
            if (change < o.Tolerance) break;
        }
        return new CrowdLearningResult
        {
            Method = MethodName,
            Classifier = model!,
            Posteriors = new RowMatrix(T, k, q),
            Confusions = ConfusionEm.ToPublic(logConf, W, k),
            Losses = losses.ToImmutable(),
        };
    }

    /// <summary>posterior[t, ·] ∝ max(f_t, floor)/Σ · Π π_u[·, y]; returns Σ_t log of the normaliser.</summary>
    private static double EStep(Core.LabelMatrix answers, double[][] probs, double floor, double[] logConf, double[] posteriors)
    {
        int k = answers.ClassCount;
        var off = answers.TaskOffsets;
        var workers = answers.TaskWorkers;
        var labels = answers.TaskLabels;
        double total = 0;
        for (int t = 0; t < answers.TaskCount; t++)
        {
            var row = posteriors.AsSpan(t * k, k);
            var p = probs[t];
            double sum = 0;
            for (int c = 0; c < k; c++)
            {
                double v = double.IsFinite(p[c]) ? Math.Max(p[c], floor) : floor;
                row[c] = v;
                sum += v;
            }
            double logSum = Math.Log(sum);
            for (int c = 0; c < k; c++) row[c] = Math.Log(row[c]) - logSum;
            for (int i = off[t]; i < off[t + 1]; i++)
            {
                var lc = logConf.AsSpan((workers[i] * k + labels[i]) * k, k);
                for (int c = 0; c < k; c++) row[c] += lc[c];
            }
            total += Numerics.NormalizeLog(row);
        }
        return total;
    }
}
