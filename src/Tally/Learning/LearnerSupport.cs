using Tally.Core;
using System.Collections.Immutable;
using Tally.Aggregation;

namespace Tally.Learning;

/// <summary>Defaults shared by the learning-from-crowds methods of this namespace.</summary>
public static class CrowdLearnerDefaults
{
    /// <summary>
    /// The network the learners train when no <c>Classifier</c> factory is given: softmax regression (no hidden layer),
    /// 100 epochs, batches of 64, Adam step 1e-2, L2 1e-4, no hold-out. Why not <see cref="DenseNetworkOptions"/>'
    /// defaults: with a few hundred tasks, step 1e-3 for 50 epochs stops far from the optimum (about 250 Adam steps);
    /// 1e-2 for 100 epochs converges on such problems. Why no hold-out: the targets are themselves noisy posteriors, so
    /// a validation loss against them is a noisy stopping signal, and the 10 % it withholds are tasks the classifier
    /// then never sees (the learners refit every round; the clipping of the classifier's output, not early stopping,
    /// bounds its influence). Why linear: a model that can memorise each training task's posterior just hands it back
    /// as the task prior, and the alternation stalls where it started; a linear model must generalise across tasks,
    /// which is what lets it correct a task's crowd answers. Measured on the tests' blobs with one answer per task:
    /// deepMF's posteriors are 98.0 % right with this network, 89.3 % with one hidden layer of 64 units and 76.7 % —
    /// no better than mean field without features — with two such layers trained for 300 epochs. Pass hidden layers
    /// (with regularisation: weight decay, dropout, fewer epochs) for features that are not linearly separable.
    /// </summary>
    public static DenseNetworkOptions Network { get; } = new()
    {
        Epochs = 100,
        LearningRate = 1e-2,
        ValidationFraction = 0,
    };
}

/// <summary>Pieces shared by the crowd learners: classifier creation, target conversion, clipping, losses.</summary>
internal static class LearnerSupport
{
    /// <summary>The user's classifier, or a <see cref="DenseNetwork"/> with the learner's seed.</summary>
    public static IClassifier NewClassifier(ClassifierLearnerOptions options)
    {
        if (options.Classifier is { } factory)
            return factory() ?? throw new InvalidOperationException("The classifier factory returned null.");
        return new DenseNetwork(options.Network with { Seed = options.Seed });
    }

    /// <summary>Fits <paramref name="model"/> on T×K row-major targets and returns its probabilities on the same features.</summary>
    public static double[][] FitAndPredict(IClassifier model, double[][] features, double[] targets, int k, CancellationToken ct)
    {
        model.Fit(features, ToRows(targets, features.Length, k), null, ct);
        var probs = model.PredictProbabilities(features);
        if (probs.Length != features.Length)
            throw new InvalidOperationException($"The classifier returned {probs.Length} rows for {features.Length} feature rows.");
        for (int t = 0; t < probs.Length; t++)
            if (probs[t] is null || probs[t].Length != k)
                throw new InvalidOperationException($"The classifier did not return {k} probabilities for row {t}.");
        return probs;
    }

    /// <summary>T×K row-major array → jagged rows (copies).</summary>
    public static double[][] ToRows(double[] flat, int rows, int k)
    {
        var r = new double[rows][];
        for (int t = 0; t < rows; t++) r[t] = flat.AsSpan(t * k, k).ToArray();
        return r;
    }

    /// <summary>
    /// The clipped classifier output of paper 003 §3.3 as a T×K log prior: in each row no class keeps more than
    /// <paramref name="clip"/>, the excess is spread evenly over the other classes (repeated while that pushes
    /// another class over the cap, possible only for c &lt; 1/2), and the result is floored at
    /// <see cref="Numerics.MinProbability"/> so its log is finite. <paramref name="clip"/> below 1/K acts as 1/K
    /// (uniform: the features are ignored). A row that is not a finite distribution counts as uniform.
    /// </summary>
    public static double[] ClippedLogPrior(double[][] probs, int k, double clip)
    {
        double c = Math.Max(clip, 1.0 / k);
        var result = new double[MemoryBudget.Length(probs.Length, k)];
        Span<double> row = stackalloc double[k];
        Span<bool> capped = stackalloc bool[k];
        for (int t = 0; t < probs.Length; t++)
        {
            var src = probs[t];
            double sum = 0;
            for (int j = 0; j < k; j++)
            {
                double v = src[j];
                row[j] = double.IsFinite(v) && v > 0 ? v : 0;
                sum += row[j];
            }
            if (!(sum > 0) || double.IsInfinity(sum)) row.Fill(1.0 / k);
            else for (int j = 0; j < k; j++) row[j] /= sum;
            capped.Clear();
            // Each pass caps at least one more class, so at most K passes.
            for (int pass = 0; pass < k; pass++)
            {
                double excess = 0;
                int free = 0;
                for (int j = 0; j < k; j++)
                {
                    if (row[j] > c) { excess += row[j] - c; row[j] = c; capped[j] = true; }
                    if (!capped[j]) free++;
                }
                if (excess <= 0 || free == 0) break;
                double share = excess / free;
                for (int j = 0; j < k; j++) if (!capped[j]) row[j] += share;
            }
            for (int j = 0; j < k; j++) result[t * k + j] = Math.Log(Math.Max(row[j], Numerics.MinProbability));
        }
        return result;
    }

    /// <summary>
    /// Mean cross-entropy −(1/T) Σ_t Σ_k q_tk log f_tk of the classifier's probabilities against the posteriors it
    /// was trained on (the classifier's part of the methods' objectives), probabilities floored so it stays finite.
    /// </summary>
    public static double CrossEntropy(ReadOnlySpan<double> q, double[][] probs, int k)
    {
        double total = 0;
        for (int t = 0; t < probs.Length; t++)
        {
            var p = probs[t];
            for (int j = 0; j < k; j++)
            {
                double w = q[t * k + j];
                if (w > 0) total -= w * Math.Log(Math.Max(double.IsFinite(p[j]) ? p[j] : 0, Numerics.MinProbability));
            }
        }
        return probs.Length == 0 ? 0 : total / probs.Length;
    }

    /// <summary>Largest absolute difference between two equally long arrays (∞ when <paramref name="a"/> is null).</summary>
    public static double MaxChange(double[]? a, ReadOnlySpan<double> b)
    {
        if (a is null) return double.PositiveInfinity;
        double m = 0;
        for (int i = 0; i < b.Length; i++) m = Math.Max(m, Math.Abs(a[i] - b[i]));
        return m;
    }

    /// <summary>
    /// The loop shared by deepMF and deepBP (paper 003, Algorithms 1–2): per round, clip the classifier's output at
    /// c (line 2), infer q(z) with it as the task factor (line 3), train a fresh classifier on q(z) (line 4), until
    /// q(z) moves by less than the tolerance. Round 1 has no trained classifier yet and uses a uniform task factor.
    /// </summary>
    /// <param name="method">The learner's name, for the result.</param>
    /// <param name="data">Training data (validated here).</param>
    /// <param name="options">Classifier, seed, clip, rounds and tolerance (validated by the caller).</param>
    /// <param name="infer">The inference step: posteriors from a T×K task log prior (null = uniform).</param>
    /// <param name="progress">Receives every round.</param>
    /// <param name="ct">Checked before every round and by the classifier's epochs.</param>
    public static CrowdLearningResult AlternateInferenceAndLearning(string method, CrowdTrainingSet data, DeepLearnerOptions options,
        Func<double[]?, CancellationToken, AggregationResult> infer,
        IProgress<EpochReport>? progress, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(data);
        data.Validate();
        int rounds = options.Rounds;
        int k = data.Answers.ClassCount, T = data.Answers.TaskCount;
        double[]? logPrior = null, q = null;
        AggregationResult? inferred = null;
        IClassifier? model = null;
        var losses = ImmutableArray.CreateBuilder<double>(rounds);
        for (int round = 1; round <= rounds; round++)
        {
            ct.ThrowIfCancellationRequested();
            inferred = infer(logPrior, ct);
            var next = inferred.Posteriors.Values;
            double change = MaxChange(q, next);
            q = next.ToArray();
            model = NewClassifier(options);
            var probs = FitAndPredict(model, data.Features, q, k, ct);
            double loss = CrossEntropy(q, probs, k);
            losses.Add(loss);
            progress?.Report(new EpochReport(round, rounds, loss, model));
            if (change < options.Tolerance) break;
            logPrior = ClippedLogPrior(probs, k, options.Clip);
        }
        return new CrowdLearningResult
        {
            Method = method,
            Classifier = model!,
            Posteriors = new RowMatrix(T, k, q!),
            Confusions = inferred!.Confusions,
            Losses = losses.ToImmutable(),
        };
    }
}
