using System.Collections.Immutable;
using System.Runtime.InteropServices;
using Tally.Aggregation;
using Tally.Core;

namespace Tally.Learning;

/// <summary>The f-divergence whose mutual information gain Max-MIG maximises (Cao et al. 2019, Table 1).</summary>
public enum MaxMigDivergence
{
    /// <summary>f(t) = t log t: ∂f(R) = 1 + log R, f*(∂f(R)) = R. The paper's reported results use it.</summary>
    KullbackLeibler,
    /// <summary>Pearson χ², f(t) = (t − 1)²: ∂f(R) = 2(R − 1), f*(∂f(R)) = R² − 1.</summary>
    Pearson,
    /// <summary>Jensen-Shannon, f(t) = −(t + 1) log((t + 1)/2) + t log t: ∂f(R) = log(2R/(1 + R)), f*(∂f(R)) = log((1 + R)/2).</summary>
    JensenShannon,
}

/// <summary>
/// Options of <see cref="MaxMig"/>: the shared <see cref="JointLearnerOptions"/> (classifier h, epochs, batches of at
/// least two tasks, seed; <c>LearningRate</c> is the Adam step of the aggregator's weights W_m and of p if learnt) and
/// the divergence. Why the aggregator's step defaults to 1e-3 where the paper uses 1e-4: the paper's data sets have
/// hundreds of batches per epoch; with Tally's typical hundreds of tasks (≈ 10 batches an epoch) 1e-4 leaves W at its
/// initialisation (max |ΔW| ≈ 0.03 after 40 epochs on the 300-task test problem, against 0.26 at 1e-3, where g's
/// accuracy rises from 84 % to 86 %).
/// </summary>
public sealed record MaxMigOptions : JointLearnerOptions
{
    /// <summary>The f of the f-mutual information gain. Default Kullback-Leibler, the divergence of the paper's results.</summary>
    public MaxMigDivergence Divergence { get; init; } = MaxMigDivergence.KullbackLeibler;

    /// <summary>
    /// Learn the class prior p (and with it the aggregator bias b = log p) by the same Adam as the aggregator, starting
    /// from uniform; otherwise p stays uniform, as the paper does on CIFAR-10 and LabelMe. Default false.
    /// </summary>
    public bool LearnPrior { get; init; }

    /// <summary>
    /// Label-free restarts: train from the eq. (2) start, from eq. (2) after merging near-identical workers, and from
    /// perturbed eq. (2) starts, and keep the run with the highest training MIG among those whose classes line up
    /// with the crowd's (<see cref="RestartOptions"/>). Default one run, the eq. (2) start alone.
    /// </summary>
    public RestartOptions Restarts { get; init; } = new();

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        if (BatchSize < 2) throw new InvalidOptionException(nameof(BatchSize), $"must be at least 2: the bound compares pairs of tasks (got {BatchSize})");
        Check.Defined(Divergence, nameof(Divergence));
        OptionPath.Nested(nameof(Restarts), Check.NotNull(Restarts, nameof(Restarts)).Validate);
    }
}

/// <summary>What <see cref="MaxMig.Train"/> produced: the common result plus the model and both halves' posteriors.</summary>
public sealed record MaxMigResult
{
    /// <summary>The common result: Classifier = h, Posteriors = the data-crowds forecaster ζ, Confusions from W_m.</summary>
    public required CrowdLearningResult Learning { get; init; }

    /// <summary>The trained h, g and p, to forecast new tasks.</summary>
    public required MaxMigModel Model { get; init; }

    /// <summary>h(x) on every training task (tasks × K): the data classifier alone.</summary>
    public required RowMatrix ClassifierPosteriors { get; init; }

    /// <summary>g(y) on every training task (tasks × K): the crowds aggregator alone (p for a task without answers).</summary>
    public required RowMatrix AggregatorPosteriors { get; init; }
}

/// <summary>
/// A trained Max-MIG model: the data classifier h, the crowds aggregator g(y) = softmax(Σ_m W_m e(y_m) + log p) and
/// the prior p, combined into the data-crowds forecaster ζ(x, y)_c ∝ h(x)_c g(y)_c / p_c (Cao et al. 2019, §3.1).
/// Answers are matched to the training workers and classes by name; answers of unknown workers are ignored, like
/// missing ones (a zero vector e(y_m)).
/// </summary>
public sealed class MaxMigModel
{
    private readonly double[] _weights; // workers × K × K, [m][c][c'] = W_m[c, c'] (row = truth, column = answer)
    private readonly double[] _logPrior;

    internal MaxMigModel(IClassifier classifier, Vocabulary workers, Vocabulary classes, double[] weights, double[] logPrior)
    {
        Classifier = classifier; Workers = workers; Classes = classes; _weights = weights; _logPrior = logPrior;
        var p = new double[logPrior.Length];
        for (int c = 0; c < p.Length; c++) p[c] = Math.Exp(logPrior[c]);
        Prior = ImmutableCollectionsMarshal.AsImmutableArray(p);
        Confusions = ConfusionsOf(weights, workers.Count, classes.Count);
    }

    /// <summary>The data classifier h.</summary>
    public IClassifier Classifier { get; }

    /// <summary>The training workers, in the order of the weights.</summary>
    public Vocabulary Workers { get; }

    /// <summary>The classes (K).</summary>
    public Vocabulary Classes { get; }

    /// <summary>The class prior p (also the aggregator's bias b = log p).</summary>
    public ImmutableArray<double> Prior { get; }

    /// <summary>log p.</summary>
    internal ReadOnlySpan<double> LogPrior => _logPrior;

    /// <summary>The aggregator weights, worker after worker, each K×K row-major with W_m[c, c'] (c = true class, c' = answer).</summary>
    public ReadOnlySpan<double> Weights => _weights;

    /// <summary>
    /// Confusion matrices read off the weights: row c of worker m is softmax over c' of W_m[c, c']. At initialisation
    /// (eq. 2) W_m holds the log of a smoothed confusion estimate, so this is that estimate; training keeps the
    /// interpretation only up to the shifts the bound cannot see, so read it as a worker's direction of expertise.
    /// </summary>
    public ConfusionMatrices Confusions { get; }

    /// <summary>g(y): the aggregator's class probabilities for each task of <paramref name="answers"/> (tasks × K).</summary>
    public double[][] Aggregate(LabelMatrix answers)
    {
        var scores = Scores(answers);
        int k = Classes.Count;
        var result = new double[answers.TaskCount][];
        var z = new double[k];
        for (int t = 0; t < result.Length; t++)
        {
            for (int c = 0; c < k; c++) z[c] = scores[t * k + c] + _logPrior[c];
            double lse = JointTraining.LogSumExp(z);
            var row = new double[k];
            for (int c = 0; c < k; c++) row[c] = Math.Exp(z[c] - lse);
            result[t] = row;
        }
        return result;
    }

    /// <summary>
    /// ζ(x, y): the data-crowds forecaster for each task of <paramref name="answers"/>, whose feature rows are
    /// <paramref name="features"/> (same order). Uses ζ_c ∝ h_c · exp(Σ_m W_m[c, y_m]), which equals h_c g_c / p_c
    /// because g_c / p_c = exp(s_c) / Σ_c' p_c' exp(s_c') and the denominator does not depend on c.
    /// </summary>
    public double[][] Forecast(double[][] features, LabelMatrix answers)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(answers);
        if (features.Length != answers.TaskCount)
            throw new ArgumentException($"There are {features.Length} feature rows for {answers.TaskCount} tasks.", nameof(features));
        return Combine(Classifier.PredictProbabilities(features), Scores(answers), Classes.Count);
    }

    /// <summary>Normalises h_c · exp(s_c) per row in log space (h may underflow to 0, s may be large).</summary>
    internal static double[][] Combine(double[][] h, double[] scores, int k)
    {
        var result = new double[h.Length][];
        var z = new double[k];
        for (int t = 0; t < h.Length; t++)
        {
            for (int c = 0; c < k; c++) z[c] = Math.Log(h[t][c]) + scores[t * k + c];
            double lse = JointTraining.LogSumExp(z);
            var row = new double[k];
            if (double.IsFinite(lse)) for (int c = 0; c < k; c++) row[c] = Math.Exp(z[c] - lse);
            else row.AsSpan().Fill(1.0 / k); // unreachable with finite weights: h sums to 1
            result[t] = row;
        }
        return result;
    }

    /// <summary>s_t = Σ_m W_m e(y_tm) for every task (tasks × K, flattened), matching workers and classes by name.</summary>
    internal double[] Scores(LabelMatrix answers)
    {
        ArgumentNullException.ThrowIfNull(answers);
        int k = Classes.Count;
        var workerMap = new int[answers.WorkerCount];
        for (int w = 0; w < workerMap.Length; w++) workerMap[w] = Workers.IndexOf(answers.Workers[w]);
        var classMap = new int[answers.ClassCount];
        for (int c = 0; c < classMap.Length; c++)
        {
            classMap[c] = Classes.IndexOf(answers.Classes[c]);
            if (classMap[c] < 0)
                throw new TallyUserException($"Class '{answers.Classes[c]}' is not one the model was trained on ({string.Join(", ", Classes.Names)}).");
        }
        var s = new double[MemoryBudget.Length(answers.TaskCount, k)];
        var ws = answers.TaskWorkers;
        var ls = answers.TaskLabels;
        var offsets = answers.TaskOffsets;
        for (int t = 0; t < answers.TaskCount; t++)
            for (int a = offsets[t]; a < offsets[t + 1]; a++)
            {
                int m = workerMap[ws[a]];
                if (m < 0) continue;
                MaxMigAggregator.AddColumn(_weights, m, classMap[ls[a]], k, s.AsSpan(t * k, k));
            }
        return s;
    }

    internal static ConfusionMatrices ConfusionsOf(double[] weights, int workers, int k)
    {
        var values = new double[weights.Length];
        for (int r = 0; r < workers * k; r++)
        {
            var row = weights.AsSpan(r * k, k);
            double lse = JointTraining.LogSumExp(row);
            for (int c = 0; c < k; c++) values[r * k + c] = Math.Exp(row[c] - lse);
        }
        return new ConfusionMatrices(workers, k, values);
    }
}

/// <summary>
/// Max-MIG: trains a data classifier h and a "weighted average" crowds aggregator
/// g(y) = softmax(Σ_m W_m e(y_m) + log p) jointly by maximising the f-mutual information gain between their outputs on
/// mini-batches, eq. (1): the mean ∂f of the agreement R_ii = Σ_c h(x_i)_c g(y_i)_c / p_c of the same task minus the
/// mean f*(∂f(R_ij)) over pairs of different tasks. Posteriors are the data-crowds forecaster ζ ∝ h(x)_c g(y)_c / p_c.
/// Cao, Xu, Kong and Wang, "Max-MIG: an information theoretic approach for joint learning from crowds", ICLR 2019.
/// </summary>
/// <remarks>
/// W_m starts from eq. (2), the log of worker m's confusion against the per-task answer frequencies Q, computed over
/// the tasks m answered and smoothed by one pseudo-answer per row spread evenly over the K answers (so no weight is
/// −∞). Missing answers contribute nothing (zero one-hot vectors). Only tasks with at least one answer are trained
/// on: without answers g(y) = p carries no signal. h is trained with its own optimiser through
/// <see cref="IDifferentiableClassifier.TrainStep"/>; W_m (and p) with Adam at <see cref="JointLearnerOptions.LearningRate"/>.
/// Single-threaded with a fixed summation order, so a seed fixes every bit of the result.
/// Limitation: eq. (2) builds Q from every expert's votes, so experts who copy another dominate it: the start makes the
/// copied expert look reliable where he guesses and the others look unreliable there, and training settles at a
/// stationary point of lower MIG (g is not saturated there: on paper 001's correlated-mistakes crowd the median
/// top-two score gap at the start is about 4 nats). <see cref="MaxMigOptions.Restarts"/> adds a start with near-identical
/// workers merged into one voter and keeps the run of highest training MIG.
/// </remarks>
public sealed class MaxMig : ICrowdLearner
{
    /// <summary>Creates the method with <paramref name="options"/> (defaults if null; checked by <see cref="Train"/>).</summary>
    public MaxMig(MaxMigOptions? options = null) => Options = options ?? new MaxMigOptions();

    /// <summary>The options in use.</summary>
    public MaxMigOptions Options { get; }

    /// <inheritdoc />
    public string Name => "maxmig";

    /// <inheritdoc />
    public CrowdLearningResult Learn(CrowdTrainingSet data, ComputeOptions? compute = null, IProgress<EpochReport>? progress = null, CancellationToken cancellationToken = default) =>
        Train(data, compute, progress, cancellationToken).Learning;

    /// <summary>
    /// Trains on <paramref name="data"/> like <see cref="Learn"/>, returning the model and h-only and g-only posteriors
    /// too. Single-threaded (<paramref name="compute"/> is accepted for the common contract; nothing here is large
    /// enough to split).
    /// </summary>
    /// <exception cref="InvalidOptionException">An option is invalid.</exception>
    /// <exception cref="TallyUserException">The data do not fit (fewer than two answered tasks, bad feature rows).</exception>
    public MaxMigResult Train(CrowdTrainingSet data, ComputeOptions? compute = null, IProgress<EpochReport>? progress = null,
        CancellationToken cancellationToken = default)
    {
        Options.Validate();
        ArgumentNullException.ThrowIfNull(data);
        data.Validate();
        var answers = data.Answers;
        int k = answers.ClassCount;
        var restarts = Options.Restarts;
        // The aggregator's W·K² weights, their gradient, Adam's two moments, the initial weights and the result's
        // confusions; with restarts, every run's weights and posteriors are kept until one is chosen.
        Footprints.Require(Name, answers, compute, confusions: 6 + (restarts.Count > 1 ? restarts.Count + 1 : 0),
            posteriors: 4 + (restarts.Count > 1 ? 3 * restarts.Count + 1 : 0));
        var train = JointTraining.AnsweredTasks(answers);
        if (train.Length < 2) throw new TallyUserException($"Max-MIG needs at least two tasks with answers (there are {train.Length}).");
        var eq2 = MaxMigAggregator.InitialWeights(answers);
        if (restarts.Count == 1) return Run(data, train, eq2, progress, cancellationToken);

        // Restarts: the merged vote is both the merged start's Q and the reference that tells a relabelled run.
        var (voteWeights, merged) = Restarts.VoteWeights(Restarts.MergeGroups(answers, restarts));
        var reference = Restarts.MergedVote(answers, voteWeights);
        var results = new MaxMigResult[restarts.Count];
        var runs = new RestartRun[restarts.Count];
        for (int r = 0; r < restarts.Count; r++)
        {
            var start = Restarts.StartOf(r, merged > 0);
            var weights = start switch
            {
                RestartStart.Initial => (double[])eq2.Clone(), // training moves the weights in place
                RestartStart.Merged => MaxMigAggregator.MergedWeights(answers, reference),
                _ => Perturbed(eq2, r),
            };
            var result = results[r] = Run(data, train, weights, RestartProgress.Offset(progress, r, Options.Epochs, restarts.Count), cancellationToken);
            double mig = MaxMigObjective.Bound(Options.Divergence, result.ClassifierPosteriors, result.Model.Scores(answers), result.Model.LogPrior, train);
            runs[r] = new RestartRun(start, mig, Restarts.Consistent(result.Learning.Posteriors, reference, k), result.Learning.Classifier, result.Learning.Posteriors);
        }
        int selected = Restarts.Select(runs);
        var chosen = results[selected];
        return chosen with { Learning = chosen.Learning with { Restarts = new RestartSummary([.. runs], selected, merged) } };
    }

    /// <summary>Eq. (2) weights plus N(0, PerturbationScale²) noise from run <paramref name="run"/>'s stream.</summary>
    private double[] Perturbed(double[] eq2, int run)
    {
        var w = (double[])eq2.Clone();
        var rng = Restarts.NoiseStream(Options.Seed, run);
        for (int i = 0; i < w.Length; i++) w[i] += Options.Restarts.PerturbationScale * Restarts.Normal(ref rng);
        return w;
    }

    /// <summary>One training run of h and g from the aggregator weights <paramref name="initialWeights"/> (taken over, not copied).</summary>
    private MaxMigResult Run(CrowdTrainingSet data, int[] train, double[] initialWeights, IProgress<EpochReport>? progress,
        CancellationToken cancellationToken)
    {
        var answers = data.Answers;
        int k = answers.ClassCount;
        var h = JointTraining.CreateClassifier(Options.Classifier, Options.Network);
        h.Initialise(data.Features, k, Options.Seed);
        var g = new MaxMigAggregator(k, initialWeights, new double[k], Options.LearnPrior); // uniform p
        var objective = new MaxMigObjective(Options.Divergence, k);
        var wAdam = new AdamOptimizer(g.Weights.Length, Options.LearningRate);
        var pAdam = new AdamOptimizer(k, Options.LearningRate);
        // The shuffles get their own generator, offset from the classifier's seed so the two streams differ.
        var rng = Seeding.Random(Options.Seed, 1);
        var gradW = new double[g.Weights.Length];
        var gradPhi = new double[k];
        var logPrior = new double[k];
        var scores = new double[MemoryBudget.Length(Options.BatchSize, 2, k)];
        var dScores = new double[scores.Length];
        var dLogPrior = new double[k];
        bool finite = true;

        // One closure for the whole run: it computes g's scores for the batch, the bound, and ∂/∂h, ∂/∂W, ∂/∂φ.
        BatchLoss loss = (rows, probs, dH) =>
        {
            int b = rows.Length;
            var s = scores.AsSpan(0, b * k);
            var ds = dScores.AsSpan(0, b * k);
            s.Clear();
            for (int i = 0; i < b; i++) g.AddScores(answers, rows[i], s.Slice(i * k, k));
            g.LogPrior(logPrior);
            double value = objective.Evaluate(probs, s, logPrior, b, dH, ds, dLogPrior);
            finite = double.IsFinite(value) && JointTraining.AllFinite(ds) && JointTraining.AllFinite(dLogPrior);
            // NaN makes the classifier skip its step too (see IDifferentiableClassifier.TrainStep).
            if (!finite) { dH.Clear(); return double.NaN; }
            Array.Clear(gradW);
            for (int i = 0; i < b; i++) g.AccumulateGradient(answers, rows[i], ds.Slice(i * k, k), gradW);
            g.PriorGradient(dLogPrior, gradPhi);
            return value;
        };

        // Batches whose bound overflowed are skipped, and the epoch's loss is the mean over the others.
        var losses = JointTraining.RunEpochs(train, rng, Options.Epochs, Options.BatchSize, 2, Options.DropPartialBatch, h, loss, () => finite, rows =>
        {
            wAdam.Step(g.Weights, gradW);
            if (Options.LearnPrior) pAdam.Step(g.Phi, gradPhi);
            return rows.Length;
        }, progress, cancellationToken);

        g.LogPrior(logPrior);
        var model = new MaxMigModel(h, answers.Workers, answers.Classes, g.Weights, (double[])logPrior.Clone());
        var hProbs = h.PredictProbabilities(data.Features);
        var zeta = MaxMigModel.Combine(hProbs, model.Scores(answers), k);
        return new MaxMigResult
        {
            Learning = new CrowdLearningResult
            {
                Method = Name,
                Classifier = h,
                Posteriors = RowMatrix.From(zeta),
                Confusions = model.Confusions,
                Losses = losses,
            },
            Model = model,
            ClassifierPosteriors = RowMatrix.From(hProbs),
            AggregatorPosteriors = RowMatrix.From(model.Aggregate(answers)),
        };
    }
}

/// <summary>
/// The crowds aggregator's parameters: W_m (workers × K × K) and the prior's logits φ (p = softmax φ), with the score
/// s = Σ_m W_m e(y_m) of a task and the adjoints that map ∂/∂s and ∂/∂log p back onto them.
/// </summary>
internal sealed class MaxMigAggregator
{
    /// <summary>Pseudo-answers per confusion row in the eq. (2) initialisation, spread evenly over the answers.</summary>
    internal const double Smoothing = 1.0;

    private readonly int _k;
    private readonly bool _learnPrior;

    public MaxMigAggregator(LabelMatrix answers, bool learnPrior)
    {
        _k = answers.ClassCount;
        _learnPrior = learnPrior;
        Weights = InitialWeights(answers);
        Phi = new double[_k]; // uniform p
    }

    internal MaxMigAggregator(int k, double[] weights, double[] phi, bool learnPrior)
    {
        _k = k; Weights = weights; Phi = phi; _learnPrior = learnPrior;
    }

    public double[] Weights { get; }
    public double[] Phi { get; }

    /// <summary>
    /// Eq. (2): W_m[c, c'] = log(Σ_i Q_ic 1(y_im = c') / Σ_i Q_ic) with Q_i the answer frequencies of task i, the sums
    /// over the tasks worker m answered, smoothed as documented on <see cref="Smoothing"/>.
    /// </summary>
    internal static double[] InitialWeights(LabelMatrix answers)
    {
        int k = answers.ClassCount;
        var q = new double[MemoryBudget.Length(answers.TaskCount, k)];
        for (int t = 0; t < answers.TaskCount; t++)
        {
            var labels = answers.LabelsOf(t);
            foreach (int y in labels) q[t * k + y] += 1.0 / labels.Length;
        }
        return InitialWeights(answers, q);
    }

    /// <summary>
    /// The merged start of the restarts: eq. (2) against <paramref name="mergedVote"/>, the answer shares with each
    /// group of near-identical workers counted as one voter, so that copies do not dominate Q. The weights of the
    /// copies themselves are eq. (2)'s against that Q, unscaled: dividing each by its group's size (so the group adds
    /// up to one voter in g) was tried and is worse — on the correlated-mistakes (H) crowd it ended one seed of three
    /// in a class-swapped solution (test accuracy 71.5 % against 78.3 % unscaled, 3 seeds).
    /// </summary>
    internal static double[] MergedWeights(LabelMatrix answers, double[] mergedVote) => InitialWeights(answers, mergedVote);

    /// <summary>Eq. (2) against the per-task class shares <paramref name="q"/> (tasks × K).</summary>
    private static double[] InitialWeights(LabelMatrix answers, double[] q)
    {
        int k = answers.ClassCount, m = answers.WorkerCount;
        var w = new double[MemoryBudget.Length(m, k, k)];
        var den = new double[k];
        for (int worker = 0; worker < m; worker++)
        {
            var num = w.AsSpan(worker * k * k, k * k);
            Array.Clear(den);
            var tasks = answers.TasksOf(worker);
            var labels = answers.LabelsBy(worker);
            for (int a = 0; a < tasks.Length; a++)
                for (int c = 0; c < k; c++)
                {
                    double qc = q[tasks[a] * k + c];
                    num[c * k + labels[a]] += qc;
                    den[c] += qc;
                }
            for (int c = 0; c < k; c++)
                for (int a = 0; a < k; a++)
                    num[c * k + a] = Math.Log((num[c * k + a] + Smoothing / k) / (den[c] + Smoothing));
        }
        return w;
    }

    /// <summary>Adds column y of W_m to <paramref name="s"/>: W_m e(y).</summary>
    internal static void AddColumn(double[] weights, int worker, int label, int k, Span<double> s)
    {
        int offset = worker * k * k + label;
        for (int c = 0; c < k; c++) s[c] += weights[offset + c * k];
    }

    /// <summary>s += Σ_m W_m e(y_m) over the answers to <paramref name="task"/>.</summary>
    public void AddScores(LabelMatrix answers, int task, Span<double> s)
    {
        var ws = answers.WorkersOf(task);
        var ls = answers.LabelsOf(task);
        for (int a = 0; a < ws.Length; a++) AddColumn(Weights, ws[a], ls[a], _k, s);
    }

    /// <summary>gradW[m][c, y_m] += ∂L/∂s_c for every answer y_m to <paramref name="task"/>.</summary>
    public void AccumulateGradient(LabelMatrix answers, int task, ReadOnlySpan<double> dScores, double[] gradW)
    {
        var ws = answers.WorkersOf(task);
        var ls = answers.LabelsOf(task);
        for (int a = 0; a < ws.Length; a++)
        {
            int offset = ws[a] * _k * _k + ls[a];
            for (int c = 0; c < _k; c++) gradW[offset + c * _k] += dScores[c];
        }
    }

    /// <summary>log p = φ − log Σ exp φ.</summary>
    public void LogPrior(Span<double> logPrior)
    {
        double lse = JointTraining.LogSumExp(Phi);
        for (int c = 0; c < _k; c++) logPrior[c] = Phi[c] - lse;
    }

    /// <summary>∂L/∂φ_e = D_e − p_e Σ_d D_d from D = ∂L/∂log p (zero when the prior is fixed).</summary>
    public void PriorGradient(ReadOnlySpan<double> dLogPrior, Span<double> gradPhi)
    {
        if (!_learnPrior) { gradPhi.Clear(); return; }
        double total = 0;
        foreach (double v in dLogPrior) total += v;
        double lse = JointTraining.LogSumExp(Phi);
        for (int e = 0; e < _k; e++) gradPhi[e] = dLogPrior[e] - Math.Exp(Phi[e] - lse) * total;
    }
}

/// <summary>
/// The negated f-MIG bound of eq. (1) on one batch and its gradient. With u_jc = g(y_j)_c / p_c = exp(s_jc − L_j),
/// L_j = log Σ_c p_c exp(s_jc) (computed in log space, so no division by p), and R_ij = Σ_c h_ic u_jc:
/// loss = −(1/B) Σ_i ∂f(R_ii) + (1/(B(B−1))) Σ_{i≠j} f*(∂f(R_ij)).
/// </summary>
internal sealed class MaxMigObjective(MaxMigDivergence divergence, int k)
{
    /// <summary>
    /// Added to R_ii inside the logarithms of the KL and JS positive terms: R_ii can underflow to 0 when h and g are
    /// confidently opposed, and log 0 would stop training with −∞; 1e-12 changes no realistic value.
    /// </summary>
    internal const double RatioFloor = 1e-12;

    private double[] _u = [], _g = [], _r = [], _a = [], _gu = [];

    /// <summary>
    /// The f-MIG bound of eq. (1) over all of <paramref name="rows"/> at once — the mean ∂f(R_ii) minus the mean
    /// f*(∂f(R_ij)) over every ordered pair i ≠ j — for h = <paramref name="h"/> and scores <paramref name="s"/> (both
    /// rows of all tasks, K wide): the training MIG by which restarts are compared. KL and Pearson use the sums'
    /// factorisations (Σ_{i≠j} R_ij = Σ_c (Σ_i h_ic)(Σ_j u_jc) − Σ_i R_ii; likewise for R_ij² with K × K moment
    /// matrices), linear in the tasks; Jensen-Shannon has none and visits every pair (quadratic).
    /// </summary>
    internal static double Bound(MaxMigDivergence divergence, RowMatrix h, double[] s, ReadOnlySpan<double> logPrior, int[] rows)
    {
        int k = h.Columns, n = rows.Length;
        var u = new double[MemoryBudget.Length(n, k)];
        for (int i = 0; i < n; i++)
        {
            var si = s.AsSpan(rows[i] * k, k);
            double max = double.NegativeInfinity;
            for (int c = 0; c < k; c++) max = Math.Max(max, si[c] + logPrior[c]);
            double sum = 0;
            for (int c = 0; c < k; c++) sum += Math.Exp(si[c] + logPrior[c] - max);
            double l = max + Math.Log(sum);
            for (int c = 0; c < k; c++) u[i * k + c] = Math.Exp(si[c] - l);
        }
        double R(int i, int j)
        {
            var hi = h.Row(rows[i]);
            double v = 0;
            for (int c = 0; c < k; c++) v += hi[c] * u[j * k + c];
            return v;
        }
        double pos = 0, diagonal = 0, diagonalSquares = 0;
        for (int i = 0; i < n; i++)
        {
            double rii = R(i, i), rf = rii + RatioFloor;
            diagonal += rii;
            diagonalSquares += rii * rii;
            pos += divergence switch
            {
                MaxMigDivergence.KullbackLeibler => 1 + Math.Log(rf),
                MaxMigDivergence.Pearson => 2 * (rii - 1),
                _ => Math.Log(2 * rf / (1 + rii)),
            };
        }
        double pairs = (double)n * (n - 1), neg;
        if (divergence == MaxMigDivergence.JensenShannon)
        {
            neg = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                    if (i != j) neg += Math.Log((1 + R(i, j)) / 2);
        }
        else if (divergence == MaxMigDivergence.KullbackLeibler)
        {
            var hs = new double[k];
            var us = new double[k];
            for (int i = 0; i < n; i++)
            {
                var hi = h.Row(rows[i]);
                for (int c = 0; c < k; c++) { hs[c] += hi[c]; us[c] += u[i * k + c]; }
            }
            neg = -diagonal;
            for (int c = 0; c < k; c++) neg += hs[c] * us[c];
        }
        else
        {
            // Σ_{i,j} R_ij² = Σ_{c,d} (Σ_i h_ic h_id)(Σ_j u_jc u_jd).
            var hh = new double[k * k];
            var uu = new double[k * k];
            for (int i = 0; i < n; i++)
            {
                var hi = h.Row(rows[i]);
                for (int c = 0; c < k; c++)
                    for (int d = 0; d < k; d++) { hh[c * k + d] += hi[c] * hi[d]; uu[c * k + d] += u[i * k + c] * u[i * k + d]; }
            }
            double all = 0;
            for (int e = 0; e < k * k; e++) all += hh[e] * uu[e];
            neg = all - diagonalSquares - pairs;
        }
        return pos / n - neg / pairs;
    }

    /// <summary>
    /// Loss of the batch of <paramref name="b"/> tasks with h = <paramref name="h"/> (B×K), scores
    /// <paramref name="s"/> (B×K) and log-prior <paramref name="logPrior"/>; writes ∂loss/∂h, ∂loss/∂s (both
    /// overwritten) and ∂loss/∂log p (overwritten).
    /// </summary>
    public double Evaluate(ReadOnlySpan<double> h, ReadOnlySpan<double> s, ReadOnlySpan<double> logPrior, int b,
        Span<double> dH, Span<double> dS, Span<double> dLogPrior)
    {
        if (_u.Length < b * k) { _u = new double[MemoryBudget.Length(b, k)]; _g = new double[MemoryBudget.Length(b, k)]; _gu = new double[MemoryBudget.Length(b, k)]; }
        if (_r.Length < b * b) { _r = new double[MemoryBudget.Length(b, b)]; _a = new double[MemoryBudget.Length(b, b)]; }
        var u = _u.AsSpan(0, b * k);
        var gp = _g.AsSpan(0, b * k);
        var r = _r.AsSpan(0, b * b);
        var a = _a.AsSpan(0, b * b);
        var gu = _gu.AsSpan(0, b * k);

        for (int j = 0; j < b; j++)
        {
            var sj = s.Slice(j * k, k);
            double max = double.NegativeInfinity;
            for (int c = 0; c < k; c++) max = Math.Max(max, sj[c] + logPrior[c]);
            double sum = 0;
            for (int c = 0; c < k; c++) sum += Math.Exp(sj[c] + logPrior[c] - max);
            double lj = max + Math.Log(sum);
            for (int c = 0; c < k; c++)
            {
                u[j * k + c] = Math.Exp(sj[c] - lj);
                gp[j * k + c] = Math.Exp(sj[c] + logPrior[c] - lj);
            }
        }
        for (int i = 0; i < b; i++)
        {
            var hi = h.Slice(i * k, k);
            for (int j = 0; j < b; j++)
            {
                var uj = u.Slice(j * k, k);
                double v = 0;
                for (int c = 0; c < k; c++) v += hi[c] * uj[c];
                r[i * b + j] = v;
            }
        }

        // Value and A = ∂loss/∂R.
        double pos = 0, neg = 0, wPos = 1.0 / b, wNeg = 1.0 / ((double)b * (b - 1));
        for (int i = 0; i < b; i++)
            for (int j = 0; j < b; j++)
            {
                double rij = r[i * b + j];
                if (i == j)
                {
                    double rf = rij + RatioFloor;
                    switch (divergence)
                    {
                        case MaxMigDivergence.KullbackLeibler: pos += 1 + Math.Log(rf); a[i * b + j] = -wPos / rf; break;
                        case MaxMigDivergence.Pearson: pos += 2 * (rij - 1); a[i * b + j] = -wPos * 2; break;
                        default: pos += Math.Log(2 * rf / (1 + rij)); a[i * b + j] = -wPos * (1 / rf - 1 / (1 + rij)); break;
                    }
                }
                else
                {
                    switch (divergence)
                    {
                        case MaxMigDivergence.KullbackLeibler: neg += rij; a[i * b + j] = wNeg; break;
                        case MaxMigDivergence.Pearson: neg += rij * rij - 1; a[i * b + j] = wNeg * 2 * rij; break;
                        default: neg += Math.Log((1 + rij) / 2); a[i * b + j] = wNeg / (1 + rij); break;
                    }
                }
            }
        double value = -pos * wPos + neg * wNeg;

        // ∂loss/∂h_ic = Σ_j A_ij u_jc; G_jc = ∂loss/∂u_jc = Σ_i A_ij h_ic.
        for (int i = 0; i < b; i++)
        {
            var dhi = dH.Slice(i * k, k);
            dhi.Clear();
            for (int j = 0; j < b; j++)
            {
                double aij = a[i * b + j];
                for (int c = 0; c < k; c++) dhi[c] += aij * u[j * k + c];
            }
        }
        gu.Clear();
        for (int i = 0; i < b; i++)
        {
            var hi = h.Slice(i * k, k);
            for (int j = 0; j < b; j++)
            {
                double aij = a[i * b + j];
                for (int c = 0; c < k; c++) gu[j * k + c] += aij * hi[c];
            }
        }
        // u_jc = exp(s_jc − L_j): ∂u_jc/∂s_jd = u_jc (δ_cd − g_jd), ∂u_jc/∂log p_d = −u_jc g_jd.
        dLogPrior.Clear();
        for (int j = 0; j < b; j++)
        {
            double t = 0;
            for (int c = 0; c < k; c++) t += gu[j * k + c] * u[j * k + c];
            for (int d = 0; d < k; d++)
            {
                double gjd = gp[j * k + d];
                dS[j * k + d] = gu[j * k + d] * u[j * k + d] - gjd * t;
                dLogPrior[d] -= gjd * t;
            }
        }
        return value;
    }
}
