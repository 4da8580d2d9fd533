using Tally.Aggregation;
using Tally.Core;

namespace Tally.Learning;

/// <summary>
/// Options of <see cref="CoNal"/>: the shared <see cref="JointLearnerOptions"/> (whose <c>LearningRate</c> is the Adam
/// step of every crowd-side parameter: the confusion layers, the worker embeddings and the instance-embedding map) plus
/// the embedding size and the weight of the paper's regulariser.
/// </summary>
public sealed record CoNalOptions : JointLearnerOptions
{
    /// <summary>
    /// Dimension E of the worker embeddings u_r and of the instance embedding v(x). Default 20, the size of the
    /// authors' code (<c>com_emb_size</c>).
    /// </summary>
    public int EmbeddingSize { get; init; } = 20;

    /// <summary>
    /// λ of the regulariser −λ Σ_r ‖W_r − W_c‖_F that pushes each worker's layer away from the common one, so the two
    /// kinds of confusion stay distinguishable; summed over the workers of the mini-batch. Default 1e-5, the authors'
    /// code's value; 0 turns it off.
    /// </summary>
    public double Regularisation { get; init; } = 1e-5;

    /// <summary>
    /// Diagonal of the common and of every worker layer at the start (the rest 0), so each worker starts by echoing the
    /// classifier with probability e^d / (e^d + K − 1). Default 2, the authors' code's start; Crowd Layer's is 1. It
    /// matters with poor workers: on Max-MIG's low-skill experts (right 20% of the time, K = 10) the start 2 loses about
    /// 11 points of test accuracy against the start 1, and on music genre it, not the common layer, is what puts CoNAL
    /// 2 points above Crowd Layer (docs/learning.md, CoNAL).
    /// </summary>
    public double InitialDiagonal { get; init; } = 2.0;

    /// <summary>
    /// Whether v(x) is L2-normalised before the dot product with û_r, as in the authors' general module (ω then stays
    /// in [σ(−1), σ(1)] ≈ [0.27, 0.73]); false = their music-genre variant, where only û_r is normalised and ω can
    /// approach 0 or 1. Default true.
    /// </summary>
    public bool NormaliseInstanceEmbedding { get; init; } = true;

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        Check.AtLeast(EmbeddingSize, 1, nameof(EmbeddingSize));
        Check.AtLeast(Regularisation, 0, nameof(Regularisation));
        Check.Finite(InitialDiagonal, nameof(InitialDiagonal));
    }
}

/// <summary>
/// CoNAL (common noise adaptation layers): worker r's answer on task x comes, with probability ω_r(x), from a
/// confusion shared by all workers and otherwise from r's own; the classifier σ(x), a common layer W_c, one layer W_r
/// per worker, and the gate ω_r(x) = sigmoid(û_r · v̂(x)) — the cosine of a learnt worker embedding u_r and an
/// instance embedding v(x) = A x̃ + a of the standardised features — are trained together by Adam on the
/// cross-entropy of the observed answers. Chu, Ma and Wang, "Learning from Crowds by Modeling Common Confusions",
/// AAAI 2021, section "Proposed Method": the annotation model (common and individual noise adaptation layers mixed by
/// the per-instance, per-annotator weight ω), ω = σ(u_rᵀ v_i) from an auxiliary network, and the training objective,
/// cross-entropy minus λ Σ_r ‖W_c − W_r‖. The paper's text with its equation numbers was not at hand, so the
/// equations are cited by that section and their details (softmax placement, normalisation, start, λ) follow the
/// authors' code (github.com/zdchu/CoNAL, conal.py and workflow.py).
/// </summary>
/// <remarks>
/// <para>
/// As in the authors' code (the MW connection of Crowd Layer, with which CoNAL coincides when ω ≡ 0), the layers act
/// on the classifier's probabilities and a softmax follows the mixture: worker r's answer is modelled as
/// softmax_l(ω Σ_c σ_c W_c[c, l] + (1 − ω) Σ_c σ_c W_r[c, l]), every layer starting at 2·I (the authors' start;
/// <see cref="CoNalOptions.InitialDiagonal"/>). The batch loss is the mean
/// of −log of that over the batch's answers, minus λ Σ_r ‖W_r − W_c‖_F over the batch's workers (a worker absent from a
/// batch gets no push, so Adam never moves a layer on the regulariser alone). Embeddings are L2-normalised before the
/// dot product (as in the authors' general module; their music-genre variant leaves v unnormalised, see
/// <see cref="CoNalOptions.NormaliseInstanceEmbedding"/>), so ω stays in [σ(−1), σ(1)] ≈ [0.27, 0.73]. The authors' instance network
/// is two linear layers (128 then E units) without a nonlinearity between them, the same family of maps as the one
/// linear layer used here.
/// </para>
/// <para>
/// Confusions: row c of worker r is softmax_l(ω̄_r W_c[c, l] + (1 − ω̄_r) W_r[c, l]), r's modelled answers when the
/// classifier is certain of c, with ω̄_r the mean gate over r's answers (0.5 for a worker without answers).
/// Posteriors are the classifier's outputs on the training tasks. Tasks without answers are not trained on.
/// Single-threaded with a fixed summation order: a seed fixes every bit.
/// </para>
/// <para>
/// The paper reports ≈ 84% test accuracy on music genre with its own pipeline (an MLP with batch normalisation, 200
/// full-batch epochs, the epoch chosen on the test split); Tally's figures, with the lab's classifiers and no model
/// selection, are in docs/learning.md (section CoNAL).
/// </para>
/// </remarks>
public sealed class CoNal : ICrowdLearner
{
    /// <summary>Creates the method with <paramref name="options"/> (defaults if null; checked by <see cref="Learn"/>).</summary>
    public CoNal(CoNalOptions? options = null) => Options = options ?? new CoNalOptions();

    /// <summary>The options in use.</summary>
    public CoNalOptions Options { get; }

    /// <inheritdoc />
    public string Name => "conal";

    /// <inheritdoc />
    public CrowdLearningResult Learn(CrowdTrainingSet data, ComputeOptions? compute = null, IProgress<EpochReport>? progress = null, CancellationToken cancellationToken = default)
    {
        Options.Validate();
        ArgumentNullException.ThrowIfNull(data);
        data.Validate();
        var answers = data.Answers;
        int k = answers.ClassCount, d = data.Features[0].Length, e = Options.EmbeddingSize;
        // The (W + 1)·K² layers, their gradient, Adam's two moments and the result's confusions; the features' copy.
        Footprints.Require(Name, answers, compute, confusions: 6,
            extra: Footprint.Doubles((double)answers.TaskCount * d + 4.0 * (d + 1 + answers.WorkerCount) * e),
            extraWhat: $"{answers.TaskCount:N0} tasks × {d:N0} standardised features");
        var train = JointTraining.AnsweredTasks(answers);
        if (train.Length == 0) throw new TallyUserException("CoNAL needs at least one task with answers.");

        var net = JointTraining.CreateClassifier(Options.Classifier, Options.Network);
        net.Initialise(data.Features, k, Options.Seed);
        var layers = new CoNalLayers(answers.WorkerCount, k, d, CoNalLayers.Standardise(data.Features), e, Options.Regularisation,
            Options.NormaliseInstanceEmbedding, Options.InitialDiagonal, Seeding.Random(Options.Seed, 2));
        var losses = JointTraining.TrainWithLayer(answers, train, net, layers.Parameters,
            (rows, probs, dP, grad) => layers.Evaluate(answers, rows, probs, dP, grad),
            Options.LearningRate, Options.Seed, Options.Epochs, Options.BatchSize, Options.DropPartialBatch, progress, cancellationToken);

        return new CrowdLearningResult
        {
            Method = Name,
            Classifier = net,
            Posteriors = RowMatrix.From(net.PredictProbabilities(data.Features)),
            Confusions = layers.Confusions(answers),
            Losses = losses,
        };
    }
}

/// <summary>
/// CoNAL's crowd-side parameters, one flat vector for one Adam: the common layer W_c (K × K, [c, l] row-major: true
/// class c, answer l), the worker layers W_r (workers × K × K, same layout), the worker embeddings u_r (workers × E),
/// and the instance-embedding map A (D × E, row j of feature j) with its bias a (E).
/// </summary>
internal sealed class CoNalLayers
{
    /// <summary>Below this norm an embedding is divided by it instead of by its norm (as <c>F.normalize</c>), so a zero vector stays finite.</summary>
    private const double NormFloor = 1e-12;

    private readonly int _k, _workers, _d, _e;
    private readonly double _lambda;
    private readonly bool _normalise;
    private readonly double[] _x; // T × D standardised features
    private double[] _v = [], _vh = [], _dvh = [], _uh = [], _a = [], _g = [], _h = [], _q = [];
    private int[] _stamp = [];
    private int _batch;

    public CoNalLayers(int workers, int k, int features, double[] standardised, int embedding, double lambda, bool normalise, double diagonal, Random rng)
        : this(workers, k, features, standardised, embedding, lambda, normalise, new double[Size(workers, k, features, embedding)])
    {
        for (int c = 0; c < k; c++) Parameters[c * k + c] = diagonal;
        for (int r = 0; r < workers; r++)
            for (int c = 0; c < k; c++) Parameters[WorkerOffset(r) + c * k + c] = diagonal;
        // Worker embeddings: only their direction matters (they are normalised); instance map: Glorot-uniform.
        var u = Parameters.AsSpan(EmbeddingOffset(0), workers * _e);
        for (int q = 0; q < u.Length; q++) u[q] = 2 * rng.NextDouble() - 1;
        double bound = Math.Sqrt(6.0 / (_d + _e));
        var a = Parameters.AsSpan(MapOffset, _d * _e);
        for (int q = 0; q < a.Length; q++) a[q] = bound * (2 * rng.NextDouble() - 1);
    }

    /// <summary>Layers over <paramref name="parameters"/> (laid out as the class describes), for tests.</summary>
    internal CoNalLayers(int workers, int k, int features, double[] standardised, int embedding, double lambda, bool normalise, double[] parameters)
    {
        _normalise = normalise;
        _k = k;
        _workers = workers;
        _d = features;
        _e = embedding;
        _x = standardised;
        _lambda = lambda;
        if (parameters.Length != Size(workers, k, features, embedding)) throw new ArgumentException("Wrong number of parameters.", nameof(parameters));
        Parameters = parameters;
    }

    /// <summary>All parameters, in the order W_c, W_r…, u_r…, A, a.</summary>
    public double[] Parameters { get; }

    /// <summary>Length of the parameter vector for <paramref name="d"/> features.</summary>
    internal static int Size(int workers, int k, int d, int embedding) =>
        checked((int)MemoryBudget.Length((long)workers + 1, k, k) + workers * embedding + (d + 1) * embedding);

    /// <summary>Offset of worker r's layer.</summary>
    internal int WorkerOffset(int r) => (1 + r) * _k * _k;

    /// <summary>Offset of worker r's embedding.</summary>
    internal int EmbeddingOffset(int r) => (1 + _workers) * _k * _k + r * _e;

    /// <summary>Offset of the instance map A (then its bias a).</summary>
    internal int MapOffset => (1 + _workers) * _k * _k + _workers * _e;

    /// <summary>The features flattened row-major and standardised per column over all rows (a constant column is only centred).</summary>
    public static double[] Standardise(double[][] features)
    {
        int n = features.Length, d = features[0].Length;
        var x = new double[MemoryBudget.Length(n, d)];
        for (int i = 0; i < n; i++) features[i].AsSpan().CopyTo(x.AsSpan(i * d, d));
        // Row by row (the matrix is row-major), each column still summed over the rows in order.
        var mean = new double[d];
        for (int i = 0; i < n; i++)
        {
            var row = x.AsSpan(i * d, d);
            for (int j = 0; j < d; j++) mean[j] += row[j];
        }
        for (int j = 0; j < d; j++) mean[j] /= n;
        var ss = new double[d];
        for (int i = 0; i < n; i++)
        {
            var row = x.AsSpan(i * d, d);
            for (int j = 0; j < d; j++) { double dev = row[j] - mean[j]; ss[j] += dev * dev; }
        }
        var scale = new double[d];
        for (int j = 0; j < d; j++)
        {
            double sd = Math.Sqrt(ss[j] / n);
            scale[j] = sd > 1e-12 * Math.Max(1.0, Math.Abs(mean[j])) ? 1.0 / sd : 1.0;
        }
        for (int i = 0; i < n; i++)
        {
            var row = x.AsSpan(i * d, d);
            for (int j = 0; j < d; j++) row[j] = (row[j] - mean[j]) * scale[j];
        }
        return x;
    }

    /// <summary>
    /// Mean over the batch's answers of −log softmax(ω W_cᵀσ + (1 − ω) W_rᵀσ)[y], minus λ Σ ‖W_r − W_c‖_F over the
    /// batch's workers; writes ∂/∂σ into <paramref name="dP"/> (overwritten) and adds ∂/∂parameters into
    /// <paramref name="grad"/>.
    /// </summary>
    public double Evaluate(LabelMatrix answers, ReadOnlySpan<int> rows, ReadOnlySpan<double> probs, Span<double> dP, double[] grad)
    {
        int k = _k, d = _d, e = _e, kk = k * k;
        Prepare();
        var v = _v.AsSpan(0, e);
        var vh = _vh.AsSpan(0, e);
        var dvh = _dvh.AsSpan(0, e);
        var uh = _uh.AsSpan(0, e);
        var a = _a.AsSpan(0, k);
        var g = _g.AsSpan(0, k);
        var h = _h.AsSpan(0, k);
        var q = _q.AsSpan(0, k);
        int total = 0;
        foreach (int t in rows) total += answers.TaskDegree(t);
        dP.Clear();
        if (total == 0) return 0;
        double scale = 1.0 / total, loss = 0;
        var wc = Parameters.AsSpan(0, kk);
        var gwc = grad.AsSpan(0, kk);
        var map = Parameters.AsSpan(MapOffset, d * e);
        var bias = Parameters.AsSpan(MapOffset + d * e, e);
        var gmap = grad.AsSpan(MapOffset, d * e);
        var gbias = grad.AsSpan(MapOffset + d * e, e);
        _batch++;
        for (int b = 0; b < rows.Length; b++)
        {
            var ws = answers.WorkersOf(rows[b]);
            if (ws.Length == 0) continue;
            var ls = answers.LabelsOf(rows[b]);
            var p = probs.Slice(b * k, k);
            var dp = dP.Slice(b * k, k);
            var x = _x.AsSpan(rows[b] * d, d);
            // v = Aᵀx + a, then v̂ = v / max(‖v‖, floor) (v̂ = v without normalisation).
            bias.CopyTo(v);
            for (int j = 0; j < d; j++)
            {
                double xj = x[j];
                if (xj == 0) continue;
                DenseKernels.Axpy(xj, map.Slice(j * e, e), v);
            }
            double vInv = _normalise ? 1.0 / Math.Max(Norm(v), NormFloor) : 1.0;
            for (int f = 0; f < e; f++) vh[f] = v[f] * vInv;
            dvh.Clear();
            for (int i = 0; i < ws.Length; i++)
            {
                int r = ws[i], y = ls[i];
                _stamp[r] = _batch;
                var u = Parameters.AsSpan(EmbeddingOffset(r), e);
                double uInv = 1.0 / Math.Max(Norm(u), NormFloor);
                double s = 0;
                for (int f = 0; f < e; f++) { uh[f] = u[f] * uInv; s += uh[f] * vh[f]; }
                double omega = Sigmoid(s);
                var wr = Parameters.AsSpan(WorkerOffset(r), kk);
                // g = W_cᵀσ, h = W_rᵀσ, a = ω g + (1 − ω) h.
                g.Clear(); h.Clear();
                for (int c = 0; c < k; c++)
                {
                    double pc = p[c];
                    var rc = wc.Slice(c * k, k);
                    var rr = wr.Slice(c * k, k);
                    for (int l = 0; l < k; l++) { g[l] += pc * rc[l]; h[l] += pc * rr[l]; }
                }
                double max = double.NegativeInfinity;
                for (int l = 0; l < k; l++)
                {
                    a[l] = omega * g[l] + (1 - omega) * h[l];
                    if (a[l] > max) max = a[l];
                }
                double sum = 0;
                for (int l = 0; l < k; l++) { q[l] = Math.Exp(a[l] - max); sum += q[l]; }
                loss += Math.Log(sum) - (a[y] - max);
                // ∂(−log q_y)/∂a_l = q_l − δ_ly (kept in q); ∂/∂ω = Σ_l that · (g_l − h_l).
                double dOmega = 0;
                for (int l = 0; l < k; l++)
                {
                    q[l] = (q[l] / sum - (l == y ? 1.0 : 0.0)) * scale;
                    dOmega += q[l] * (g[l] - h[l]);
                }
                var gwr = grad.AsSpan(WorkerOffset(r), kk);
                for (int c = 0; c < k; c++)
                {
                    double pc = p[c], dpc = 0;
                    var rc = wc.Slice(c * k, k);
                    var rr = wr.Slice(c * k, k);
                    var grc = gwc.Slice(c * k, k);
                    var grr = gwr.Slice(c * k, k);
                    for (int l = 0; l < k; l++)
                    {
                        double da = q[l];
                        grc[l] += da * omega * pc;
                        grr[l] += da * (1 - omega) * pc;
                        dpc += da * (omega * rc[l] + (1 - omega) * rr[l]);
                    }
                    dp[c] += dpc;
                }
                // Through ω = sigmoid(s), s = û·v̂, and û = u / ‖u‖ (∂û/∂u = (I − û ûᵀ)/‖u‖ above the floor).
                double ds = dOmega * omega * (1 - omega);
                bool uProject = uInv < 1.0 / NormFloor;
                var gu = grad.AsSpan(EmbeddingOffset(r), e);
                for (int f = 0; f < e; f++)
                {
                    dvh[f] += ds * uh[f];
                    gu[f] += ds * (vh[f] - (uProject ? uh[f] * s : 0)) * uInv;
                }
            }
            // Back through v̂ = v / ‖v‖ and v = Aᵀx + a.
            double dot = 0;
            for (int f = 0; f < e; f++) dot += vh[f] * dvh[f];
            bool vProject = _normalise && vInv < 1.0 / NormFloor;
            for (int f = 0; f < e; f++)
            {
                v[f] = (dvh[f] - (vProject ? vh[f] * dot : 0)) * vInv; // v now holds ∂/∂v
                gbias[f] += v[f];
            }
            for (int j = 0; j < d; j++)
            {
                double xj = x[j];
                if (xj == 0) continue;
                DenseKernels.Axpy(xj, v, gmap.Slice(j * e, e));
            }
        }
        loss *= scale;
        if (_lambda > 0)
        {
            // −λ Σ_r ‖W_r − W_c‖_F over the batch's workers; a zero difference (the start) has no direction to push.
            for (int r = 0; r < _workers; r++)
            {
                if (_stamp[r] != _batch) continue;
                var wr = Parameters.AsSpan(WorkerOffset(r), kk);
                double ss = 0;
                for (int q2 = 0; q2 < kk; q2++) { double dif = wr[q2] - wc[q2]; ss += dif * dif; }
                if (ss == 0) continue;
                double norm = Math.Sqrt(ss), step = _lambda / norm;
                loss -= _lambda * norm;
                var gwr = grad.AsSpan(WorkerOffset(r), kk);
                for (int q2 = 0; q2 < kk; q2++)
                {
                    double dif = (wr[q2] - wc[q2]) * step;
                    gwr[q2] -= dif;
                    gwc[q2] += dif;
                }
            }
        }
        return loss;
    }

    /// <summary>The gate ω_r(x_t) = sigmoid(û_r · v̂(x_t)): the probability that <paramref name="worker"/>'s answer on <paramref name="task"/> follows the common confusion.</summary>
    public double Gate(int task, int worker)
    {
        Prepare();
        var vh = _vh.AsSpan(0, _e);
        InstanceEmbedding(task, vh);
        return Gate(vh, worker);
    }

    /// <summary>v̂(x_t) (v(x_t) itself without normalisation) into <paramref name="vh"/>.</summary>
    private void InstanceEmbedding(int task, Span<double> vh)
    {
        int d = _d, e = _e;
        var x = _x.AsSpan(task * d, d);
        var map = Parameters.AsSpan(MapOffset, d * e);
        Parameters.AsSpan(MapOffset + d * e, e).CopyTo(vh);
        for (int j = 0; j < d; j++) DenseKernels.Axpy(x[j], map.Slice(j * e, e), vh);
        if (!_normalise) return;
        double inv = 1.0 / Math.Max(Norm(vh), NormFloor);
        for (int f = 0; f < e; f++) vh[f] *= inv;
    }

    private double Gate(ReadOnlySpan<double> vh, int worker)
    {
        var u = Parameters.AsSpan(EmbeddingOffset(worker), _e);
        double dot = 0;
        for (int f = 0; f < _e; f++) dot += u[f] * vh[f];
        return Sigmoid(dot / Math.Max(Norm(u), NormFloor));
    }

    /// <summary>
    /// Row c of worker r = softmax over l of ω̄_r W_c[c, l] + (1 − ω̄_r) W_r[c, l], with ω̄_r the mean gate over r's
    /// answers in <paramref name="answers"/> (0.5 without answers): r's modelled answers when the classifier is sure of c.
    /// </summary>
    public ConfusionMatrices Confusions(LabelMatrix answers)
    {
        int k = _k, kk = k * k;
        var sum = new double[_workers];
        var count = new int[_workers];
        Prepare();
        var vh = _vh.AsSpan(0, _e);
        for (int t = 0; t < answers.TaskCount; t++)
        {
            var ws = answers.WorkersOf(t);
            if (ws.Length == 0) continue;
            InstanceEmbedding(t, vh);
            foreach (int r in ws) { sum[r] += Gate(vh, r); count[r]++; }
        }
        var values = new double[MemoryBudget.Length(_workers, k, k)];
        var row = new double[k];
        var wc = Parameters.AsSpan(0, kk);
        for (int r = 0; r < _workers; r++)
        {
            double omega = count[r] > 0 ? sum[r] / count[r] : 0.5;
            var wr = Parameters.AsSpan(WorkerOffset(r), kk);
            for (int c = 0; c < k; c++)
            {
                for (int l = 0; l < k; l++) row[l] = omega * wc[c * k + l] + (1 - omega) * wr[c * k + l];
                double lse = JointTraining.LogSumExp(row);
                for (int l = 0; l < k; l++) values[(r * k + c) * k + l] = Math.Exp(row[l] - lse);
            }
        }
        return new ConfusionMatrices(_workers, k, values);
    }

    private void Prepare()
    {
        if (_v.Length < _e) { _v = new double[_e]; _vh = new double[_e]; _dvh = new double[_e]; _uh = new double[_e]; }
        if (_a.Length < _k) { _a = new double[_k]; _g = new double[_k]; _h = new double[_k]; _q = new double[_k]; }
        if (_stamp.Length < _workers) _stamp = new int[_workers];
    }

    private static double Norm(ReadOnlySpan<double> v)
    {
        double s = 0;
        foreach (double x in v) s += x * x;
        return Math.Sqrt(s);
    }

    private static double Sigmoid(double s) => 1.0 / (1.0 + Math.Exp(-s));
}
