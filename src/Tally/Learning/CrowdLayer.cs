using System.Collections.Immutable;
using Tally.Aggregation;
using Tally.Core;

namespace Tally.Learning;

/// <summary>
/// Options of <see cref="CrowdLayer"/>: the shared <see cref="JointLearnerOptions"/>, where <c>LearningRate</c> is the
/// Adam step of the per-worker matrices (default 1e-3, Adam's default, as the paper's Keras code).
/// </summary>
public sealed record CrowdLayerOptions : JointLearnerOptions;

/// <summary>
/// Crowd Layer, MW variant: a classifier's output σ = softmax(z) is followed by one K×K matrix W_r per worker, and worker
/// r's answer is modelled as softmax(W_r σ); the classifier and the matrices are trained together by Adam on the
/// cross-entropy of the observed answers only (missing answers are masked out), with every W_r starting at the
/// identity. Rodrigues and Pereira, "Deep learning from crowds", AAAI 2018, section "Crowd layer", variant MW
/// (f_r(σ) = W_r σ, followed by a softmax per annotator).
/// </summary>
/// <remarks>
/// The loss of a batch is the mean of −log softmax(W_r σ_t)[y_rt] over its answers. Tasks without answers are not
/// trained on. Confusions: row c of worker r is softmax(W_r e_c), the answer distribution the layer predicts for r
/// when the classifier is certain of class c (column c of W_r through a softmax). Posteriors are the classifier's
/// outputs on the training tasks. Single-threaded with a fixed summation order: a seed fixes every bit.
/// </remarks>
public sealed class CrowdLayer : ICrowdLearner
{
    /// <summary>Creates the method with <paramref name="options"/> (defaults if null; checked by <see cref="Learn"/>).</summary>
    public CrowdLayer(CrowdLayerOptions? options = null) => Options = options ?? new CrowdLayerOptions();

    /// <summary>The options in use.</summary>
    public CrowdLayerOptions Options { get; }

    /// <inheritdoc />
    public string Name => "crowdlayer";

    /// <inheritdoc />
    public CrowdLearningResult Learn(CrowdTrainingSet data, ComputeOptions? compute = null, IProgress<EpochReport>? progress = null, CancellationToken cancellationToken = default)
    {
        Options.Validate();
        ArgumentNullException.ThrowIfNull(data);
        data.Validate();
        var answers = data.Answers;
        int k = answers.ClassCount;
        // The layer's W·K² weights, their gradient, Adam's two moments, and the confusions of the result.
        Footprints.Require(Name, answers, compute, confusions: 6);
        var train = JointTraining.AnsweredTasks(answers);
        if (train.Length == 0) throw new TallyUserException("Crowd Layer needs at least one task with answers.");

        var net = JointTraining.CreateClassifier(Options.Classifier, Options.Network);
        net.Initialise(data.Features, k, Options.Seed);
        var layer = new CrowdLayerMatrices(answers.WorkerCount, k);
        var losses = JointTraining.TrainWithLayer(answers, train, net, layer.Weights,
            (rows, probs, dP, grad) => layer.Evaluate(answers, rows, probs, dP, grad),
            Options.LearningRate, Options.Seed, Options.Epochs, Options.BatchSize, Options.DropPartialBatch, progress, cancellationToken);

        return new CrowdLearningResult
        {
            Method = Name,
            Classifier = net,
            Posteriors = RowMatrix.From(net.PredictProbabilities(data.Features)),
            Confusions = layer.Confusions(),
            Losses = losses,
        };
    }
}

/// <summary>The per-worker matrices of the MW crowd layer (workers × K × K, W_r[l, c] row-major: answer l, class c).</summary>
internal sealed class CrowdLayerMatrices
{
    private readonly int _k;
    private double[] _a = [], _q = [];

    public CrowdLayerMatrices(int workers, int k)
    {
        _k = k;
        Weights = new double[MemoryBudget.Length(workers, k, k)];
        for (int r = 0; r < workers; r++)
            for (int c = 0; c < k; c++) Weights[r * k * k + c * k + c] = 1.0; // identity: start by trusting the classifier
    }

    internal CrowdLayerMatrices(int k, double[] weights) { _k = k; Weights = weights; }

    public double[] Weights { get; }

    /// <summary>
    /// Mean over the batch's answers of −log softmax(W_r σ_t)[y]; writes ∂/∂σ into <paramref name="dP"/> (overwritten)
    /// and adds ∂/∂W into <paramref name="gradW"/>.
    /// </summary>
    public double Evaluate(LabelMatrix answers, ReadOnlySpan<int> rows, ReadOnlySpan<double> probs, Span<double> dP, double[] gradW)
    {
        int k = _k;
        if (_a.Length < k) { _a = new double[k]; _q = new double[k]; }
        var a = _a.AsSpan(0, k);
        var q = _q.AsSpan(0, k);
        int total = 0;
        foreach (int t in rows) total += answers.TaskDegree(t);
        dP.Clear();
        if (total == 0) return 0;
        double scale = 1.0 / total, loss = 0;
        for (int b = 0; b < rows.Length; b++)
        {
            var p = probs.Slice(b * k, k);
            var dp = dP.Slice(b * k, k);
            var ws = answers.WorkersOf(rows[b]);
            var ls = answers.LabelsOf(rows[b]);
            for (int i = 0; i < ws.Length; i++)
            {
                var w = Weights.AsSpan(ws[i] * k * k, k * k);
                var gw = gradW.AsSpan(ws[i] * k * k, k * k);
                // a = W_r σ; −log softmax(a)[y] = log Σ exp a − a_y, with the maximum factored out.
                double max = double.NegativeInfinity;
                for (int l = 0; l < k; l++)
                {
                    double v = 0;
                    var row = w.Slice(l * k, k);
                    for (int c = 0; c < k; c++) v += row[c] * p[c];
                    a[l] = v;
                    if (v > max) max = v;
                }
                double s = 0;
                for (int l = 0; l < k; l++) { q[l] = Math.Exp(a[l] - max); s += q[l]; }
                int y = ls[i];
                loss += Math.Log(s) - (a[y] - max);
                for (int l = 0; l < k; l++)
                {
                    // ∂(−log q_y)/∂a_l = q_l − δ_ly; then ∂/∂W[l, c] = that · σ_c and ∂/∂σ_c = Σ_l W[l, c] · that.
                    double da = (q[l] / s - (l == y ? 1.0 : 0.0)) * scale;
                    if (da == 0) continue;
                    var row = w.Slice(l * k, k);
                    var grow = gw.Slice(l * k, k);
                    for (int c = 0; c < k; c++)
                    {
                        grow[c] += da * p[c];
                        dp[c] += da * row[c];
                    }
                }
            }
        }
        return loss * scale;
    }

    /// <summary>Row c of worker r = softmax over l of W_r[l, c]: r's modelled answers when the classifier is sure of c.</summary>
    public ConfusionMatrices Confusions()
    {
        int k = _k, workers = Weights.Length / Math.Max(1, k * k);
        var values = new double[Weights.Length];
        var col = new double[k];
        for (int r = 0; r < workers; r++)
            for (int c = 0; c < k; c++)
            {
                for (int l = 0; l < k; l++) col[l] = Weights[r * k * k + l * k + c];
                double lse = JointTraining.LogSumExp(col);
                for (int l = 0; l < k; l++) values[(r * k + c) * k + l] = Math.Exp(col[l] - lse);
            }
        return new ConfusionMatrices(workers, k, values);
    }
}
