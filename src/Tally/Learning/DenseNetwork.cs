using Tally.Core;
using System.Collections.Immutable;

namespace Tally.Learning;

/// <summary>Options of <see cref="DenseNetwork"/>.</summary>
public sealed record DenseNetworkOptions
{
    /// <summary>
    /// Hidden layer widths, input side first; empty (the default) = softmax regression. Note that record equality
    /// compares this array by reference, as <see cref="ImmutableArray{T}"/> does.
    /// </summary>
    public ImmutableArray<int> Hidden { get; init; } = [];

    /// <summary>Maximum passes over the training rows. Default 50.</summary>
    public int Epochs { get; init; } = 50;

    /// <summary>Rows per mini-batch (the last batch of an epoch may be smaller). Default 64.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>
    /// Skip each epoch's last batch when it is shorter than <see cref="BatchSize"/> (PyTorch's <c>drop_last</c>); a
    /// training option only, not stored with the model. Default false.
    /// </summary>
    public bool DropPartialBatch { get; init; }

    /// <summary>Adam step size. Default 1e-3 (Kingma and Ba's default).</summary>
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>
    /// L2 penalty λ: the loss gains (λ/2)·Σw² over weights (not biases), i.e. classic L2 added to the gradient before
    /// Adam, not decoupled AdamW decay. Default 1e-4.
    /// </summary>
    public double WeightDecay { get; init; } = 1e-4;

    /// <summary>Probability of zeroing each hidden unit during training (inverted dropout; unused at prediction). Default 0.</summary>
    public double Dropout { get; init; }

    /// <summary>
    /// Fraction of rows held out (seeded shuffle) for early stopping; 0 = no hold-out, train all epochs and keep the
    /// last parameters. No hold-out either when it would leave no row for validation or for training. Default 0.1.
    /// </summary>
    public double ValidationFraction { get; init; } = 0.1;

    /// <summary>Stop after this many epochs without a lower validation loss; the best parameters are restored. Default 10.</summary>
    public int Patience { get; init; } = 10;

    /// <summary>Seed of initialisation, validation split, shuffling and dropout. Default 0.</summary>
    public int Seed { get; init; }

    /// <summary>Checks every option; throws <see cref="InvalidOptionException"/> naming the first bad one.</summary>
    public void Validate()
    {
        if (Hidden.IsDefault) throw new InvalidOptionException(nameof(Hidden), "must be set (use [] for no hidden layer)");
        foreach (int h in Hidden)
            if (h < 1) throw new InvalidOptionException(nameof(Hidden), $"widths must be at least 1 (got {h})");
        Check.AtLeast(Epochs, 0, nameof(Epochs));
        Check.AtLeast(BatchSize, 1, nameof(BatchSize));
        Check.Above(LearningRate, 0, nameof(LearningRate));
        Check.AtLeast(WeightDecay, 0, nameof(WeightDecay));
        if (!(Dropout >= 0 && Dropout < 1))
            throw new InvalidOptionException(nameof(Dropout), $"must be at least 0 and below 1 (got {NumberFormat.Number(Dropout)})");
        if (!(ValidationFraction >= 0 && ValidationFraction < 1))
            throw new InvalidOptionException(nameof(ValidationFraction), $"must be at least 0 and below 1 (got {NumberFormat.Number(ValidationFraction)})");
        Check.AtLeast(Patience, 1, nameof(Patience));
    }
}

/// <summary>What happened during the last <see cref="DenseNetwork.Fit"/>.</summary>
public sealed record DenseNetworkFitSummary
{
    /// <summary>Epochs actually run.</summary>
    public required int Epochs { get; init; }
    /// <summary>1-based epoch whose parameters were kept (the last epoch without validation).</summary>
    public required int BestEpoch { get; init; }
    /// <summary>Mean weighted training cross-entropy per epoch (with dropout, without the L2 term).</summary>
    public required ImmutableArray<double> TrainingLosses { get; init; }
    /// <summary>Weighted validation cross-entropy per epoch; empty without a hold-out.</summary>
    public required ImmutableArray<double> ValidationLosses { get; init; }
    /// <summary>Rows used for training.</summary>
    public required int TrainingRows { get; init; }
    /// <summary>Rows held out for early stopping.</summary>
    public required int ValidationRows { get; init; }
}

/// <summary>
/// A small dense network: softmax regression without hidden layers, otherwise a multilayer perceptron with ReLU hidden
/// units and optional dropout. Trained by Adam on mini-batches to minimise the (optionally row-weighted) cross-entropy
/// against soft targets, −Σ_i w_i Σ_k t_ik log p_ik / Σ_i w_i, plus L2 weight decay; features are standardised with
/// means and deviations of the training rows, which are stored with the model. Training is single-threaded with a
/// fixed summation order, so a seed fixes every result bit for bit. Joint methods train it with their own loss instead
/// through <see cref="Initialise"/> and <see cref="TrainStep"/> (<see cref="IDifferentiableClassifier"/>): the
/// gradient they give w.r.t. the probabilities is backpropagated through the softmax, and the same Adam, L2 and dropout
/// apply. <see cref="Fit"/> and <see cref="TrainStep"/> must not run concurrently with anything else on the same
/// instance; predictions on a fitted network may run concurrently.
/// </summary>
public sealed class DenseNetwork : IDifferentiableClassifier
{
    private const uint Magic = 0x4E444C54; // "TLDN"
    private const int FormatVersion = 1;

    // Deviations below this are treated as constant features: scaling by 1/σ would blow noise up or divide by zero.
    private const double MinDeviation = 1e-12;

    private int[] _sizes = [];          // layer widths: D, hidden…, K
    private int[] _weightOffsets = [];  // into _params, layer l (1-based in comments, 0-based here) weights out×in row-major
    private int[] _biasOffsets = [];
    private double[] _params = [];
    private double[] _mean = [];
    private double[] _scale = [];       // 1/σ, or 1 for a constant feature

    /// <summary>
    /// Per-call buffers, sized once per fit or prediction so the inner loops never allocate; kept out of the instance
    /// so concurrent predictions on a fitted network do not share scratch space.
    /// </summary>
    private sealed class Workspace(int rows, int[] sizes)
    {
        public readonly int Rows = rows;
        // Per layer: rows × width activations (after ReLU and dropout; softmax probabilities at the top).
        public readonly double[][] Act = [.. sizes.Select(w => new double[MemoryBudget.Length(rows, w)])];
        // Per layer: rows × width ∂loss/∂pre-activation (layer 0 unused).
        public readonly double[][] Delta = [.. sizes.Select((w, l) => l == 0 ? [] : new double[MemoryBudget.Length(rows, w)])];
        // Per hidden layer: rows × width dropout multipliers (1 without dropout).
        public readonly double[][] Mask = [.. sizes.Select((w, l) => l == 0 || l == sizes.Length - 1 ? [] : new double[MemoryBudget.Length(rows, w)])];
        // Per layer: scratch for the transposed weights of the forward kernel (width(l) × width(l+1)).
        public readonly double[][] Transposed = [.. sizes.Skip(1).Select((w, l) => new double[MemoryBudget.Length(sizes[l], w)])];
        // Scratch for the weight-gradient kernel's transposed deltas (rows × the widest non-input layer).
        public readonly double[] DeltaTransposed = new double[MemoryBudget.Length(rows, sizes.Skip(1).Max())];
    }

    /// <summary>Creates an unfitted network.</summary>
    public DenseNetwork(DenseNetworkOptions? options = null)
    {
        Options = options ?? new DenseNetworkOptions();
        Options.Validate();
    }

    /// <summary>The options in use (replaced by the saved ones on <see cref="Load(Stream)"/>).</summary>
    public DenseNetworkOptions Options { get; private set; }

    /// <inheritdoc />
    public int FeatureCount => _sizes.Length == 0 ? 0 : _sizes[0];

    /// <inheritdoc />
    public int ClassCount => _sizes.Length == 0 ? 0 : _sizes[^1];

    /// <summary>Training history of the last fit (null before a fit and after a load).</summary>
    public DenseNetworkFitSummary? LastFit { get; private set; }

    /// <summary>Number of trainable parameters.</summary>
    public int ParameterCount => _params.Length;

    private int LayerCount => _sizes.Length - 1; // weight layers

    /// <inheritdoc />
    public void Fit(double[][] features, double[][] targets, double[]? weights = null, CancellationToken cancellationToken = default)
    {
        Options.Validate();
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(targets);
        int n = features.Length;
        if (n == 0) throw new ArgumentException("No training rows.", nameof(features));
        if (targets.Length != n) throw new ArgumentException("targets must have one row per feature row.", nameof(targets));
        if (weights is not null && weights.Length != n) throw new ArgumentException("weights must have one entry per row.", nameof(weights));
        int d = features[0]?.Length ?? throw new ArgumentException("Null feature row.", nameof(features));
        int k = targets[0]?.Length ?? throw new ArgumentException("Null target row.", nameof(targets));
        if (k < 1) throw new ArgumentException("Targets need at least one class.", nameof(targets));

        // Flatten, validate, and normalise targets once, outside the training loop.
        var x = Flatten(features, d);
        var t = new double[MemoryBudget.Length(n, k)];
        var w = new double[n];
        for (int i = 0; i < n; i++)
        {
            var r = targets[i];
            if (r is null || r.Length != k) throw new ArgumentException($"Target row {i} does not have {k} values.", nameof(targets));
            double s = 0;
            foreach (double v in r)
            {
                if (!(v >= 0) || double.IsInfinity(v)) throw new ArgumentException($"Target row {i} has a negative or non-finite value.", nameof(targets));
                s += v;
            }
            if (!(s > 0) || double.IsInfinity(s)) throw new ArgumentException($"Target row {i} does not have a positive finite sum.", nameof(targets));
            for (int c = 0; c < k; c++) t[i * k + c] = r[c] / s;
            double wi = weights?[i] ?? 1.0;
            if (!(wi >= 0) || double.IsInfinity(wi)) throw new ArgumentException($"Weight {i} is negative or non-finite.", nameof(weights));
            w[i] = wi;
        }

        var rng = Seeding.Random(Options.Seed);

        // Seeded hold-out split, drawn before anything else so it does not depend on the architecture.
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        JointTraining.Shuffle(order, rng);
        int nVal = (int)Math.Floor(Options.ValidationFraction * n);
        if (nVal >= n) nVal = 0;
        int nTrain = n - nVal;
        var train = order[..nTrain];
        var val = order[nTrain..];
        double trainWeight = 0, valWeight = 0;
        foreach (int i in train) trainWeight += w[i];
        foreach (int i in val) valWeight += w[i];
        if (!(trainWeight > 0)) throw new ArgumentException("The training rows have zero total weight.", nameof(weights));
        if (!(valWeight > 0)) { val = []; nVal = 0; }

        // Standardisation from the training rows only (the hold-out must not leak into the model).
        _custom = null; // a fit replaces any custom-loss training state
        FitStandardisation(x, d, train);
        Standardise(x, n);

        InitialiseParameters(d, k, rng);
        int batch = Math.Min(Options.BatchSize, nTrain);
        var ws = new Workspace(Math.Max(batch, Math.Min(nVal, 1024)), _sizes);

        int p = _params.Length;
        var grad = new double[p];
        var adam = new AdamOptimizer(p, Options.LearningRate);
        var best = (double[])_params.Clone();
        var trainLosses = ImmutableArray.CreateBuilder<double>(Options.Epochs);
        var valLosses = ImmutableArray.CreateBuilder<double>(nVal > 0 ? Options.Epochs : 0);
        double bestLoss = double.PositiveInfinity;
        int bestEpoch = 0, epoch = 0;

        for (epoch = 1; epoch <= Options.Epochs; epoch++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            JointTraining.Shuffle(train, rng);
            double epochLoss = 0;
            for (int start = 0; start < nTrain; start += batch)
            {
                int count = Math.Min(batch, nTrain - start);
                if (Options.DropPartialBatch && count < batch) break;
                double batchWeight = 0;
                for (int b = 0; b < count; b++) batchWeight += w[train[start + b]];
                if (!(batchWeight > 0)) continue; // nothing to learn from an all-zero-weight batch
                double ce = Forward(ws, x, t, w, train.AsSpan(start, count), Options.Dropout, rng);
                epochLoss += ce;
                Backward(ws, t, w, train.AsSpan(start, count), 1.0 / batchWeight, grad);
                AddDecay(grad);
                adam.Step(_params, grad);
            }
            trainLosses.Add(epochLoss / trainWeight);

            if (nVal > 0)
            {
                double vl = 0;
                for (int start = 0; start < nVal; start += ws.Rows)
                {
                    int count = Math.Min(ws.Rows, nVal - start);
                    vl += Forward(ws, x, t, w, val.AsSpan(start, count), 0, null);
                }
                vl /= valWeight;
                valLosses.Add(vl);
                // A NaN loss never counts as an improvement, so the last finite best survives.
                if (vl < bestLoss)
                {
                    bestLoss = vl; bestEpoch = epoch;
                    _params.AsSpan().CopyTo(best);
                }
                else if (epoch - bestEpoch >= Options.Patience) { epoch++; break; }
            }
            else
            {
                // Without a hold-out, the last finite parameters are the ones to keep; a divergent step (overflow)
                // restores them and stops, so the model never predicts NaN.
                if (!AllFinite(_params)) { epoch++; break; }
                bestEpoch = epoch;
                _params.AsSpan().CopyTo(best);
            }
            if (!AllFinite(_params)) { epoch++; break; }
        }
        int ran = epoch - 1;
        // best holds the initial parameters if no epoch improved (or the first diverged), which are finite.
        if (bestEpoch > 0 || !AllFinite(_params)) best.AsSpan().CopyTo(_params);
        LastFit = new DenseNetworkFitSummary
        {
            Epochs = ran,
            BestEpoch = bestEpoch,
            TrainingLosses = trainLosses.ToImmutable(),
            ValidationLosses = valLosses.ToImmutable(),
            TrainingRows = nTrain,
            ValidationRows = nVal,
        };
    }

    /// <inheritdoc />
    public double[][] PredictProbabilities(double[][] features)
    {
        ArgumentNullException.ThrowIfNull(features);
        if (_sizes.Length == 0) throw new InvalidOperationException("The network has not been fitted.");
        int n = features.Length, d = FeatureCount, k = ClassCount;
        var x = new double[MemoryBudget.Length(n, d)];
        for (int i = 0; i < n; i++)
        {
            var f = features[i];
            if (f is null || f.Length != d) throw new ArgumentException($"Feature row {i} does not have {d} values.", nameof(features));
            if (!f.All(double.IsFinite)) throw new ArgumentException($"Feature row {i} has a non-finite value.", nameof(features));
            f.AsSpan().CopyTo(x.AsSpan(i * d, d));
        }
        Standardise(x, n);
        var result = new double[n][];
        const int chunk = 256;
        var ws = new Workspace(Math.Min(chunk, Math.Max(n, 1)), _sizes);
        var idx = new int[ws.Rows];
        var top = ws.Act[LayerCount];
        for (int start = 0; start < n; start += ws.Rows)
        {
            int count = Math.Min(ws.Rows, n - start);
            for (int b = 0; b < count; b++) idx[b] = start + b;
            Forward(ws, x, null, null, idx.AsSpan(0, count), 0, null);
            for (int b = 0; b < count; b++) result[start + b] = top.AsSpan(b * k, k).ToArray();
        }
        return result;
    }

    /// <inheritdoc />
    /// <remarks>
    /// Standardisation is fitted on all of <paramref name="features"/>; parameters are initialised as in
    /// <see cref="Fit"/> from <paramref name="seed"/> (<see cref="DenseNetworkOptions.Seed"/> is not used), which also
    /// seeds dropout. Of the options, <see cref="DenseNetworkOptions.Hidden"/>, <see cref="DenseNetworkOptions.LearningRate"/>,
    /// <see cref="DenseNetworkOptions.WeightDecay"/> and <see cref="DenseNetworkOptions.Dropout"/> apply; epochs,
    /// batches and early stopping are the caller's. A copy of the standardised features is kept until the next
    /// <see cref="Initialise"/>, <see cref="Fit"/> or <see cref="Load"/>.
    /// </remarks>
    public void Initialise(double[][] features, int classes, int seed)
    {
        ArgumentNullException.ThrowIfNull(features);
        int n = features.Length;
        if (n == 0) throw new ArgumentException("No training rows.", nameof(features));
        if (classes < 1) throw new ArgumentException("There must be at least one class.", nameof(classes));
        int d = features[0]?.Length ?? throw new ArgumentException("Null feature row.", nameof(features));
        var x = Flatten(features, d);
        var all = new int[n];
        for (int i = 0; i < n; i++) all[i] = i;
        FitStandardisation(x, d, all);
        Standardise(x, n);
        var rng = Seeding.Random(seed);
        InitialiseParameters(d, classes, rng);
        _custom = new CustomTraining(x, n, rng, new double[_params.Length], new AdamOptimizer(_params.Length, Options.LearningRate));
        LastFit = null;
    }

    /// <inheritdoc />
    public double TrainStep(ReadOnlySpan<int> rows, BatchLoss loss)
    {
        var c = _custom ?? throw new InvalidOperationException("Call Initialise before TrainStep.");
        ArgumentNullException.ThrowIfNull(loss);
        CheckRows(c, rows);
        double value = CustomGradient(c, rows, loss, Options.Dropout, c.Rng);
        // A non-finite loss or gradient would poison every parameter through Adam's moments; skip such a step
        // (the caller sees the returned value) so the network keeps predicting finite probabilities.
        if (!double.IsFinite(value) || !AllFinite(c.Grad)) return value;
        AddDecay(c.Grad);
        c.Adam.Step(_params, c.Grad);
        return value;
    }

    /// <summary>Class with the highest predicted probability for each row (ties → lowest index).</summary>
    public int[] Predict(double[][] features)
    {
        var probs = PredictProbabilities(features);
        var labels = new int[probs.Length];
        for (int i = 0; i < probs.Length; i++)
        {
            int arg = 0;
            for (int c = 1; c < probs[i].Length; c++) if (probs[i][c] > probs[i][arg]) arg = c;
            labels[i] = arg;
        }
        return labels;
    }

    /// <inheritdoc />
    /// <remarks>Little-endian binary: magic "TLDN", format version, options, layer widths, standardisation, parameters;
    /// doubles are written bit for bit, so predictions after <see cref="Load(Stream)"/> are identical.</remarks>
    public void Save(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (_sizes.Length == 0) throw new InvalidOperationException("The network has not been fitted.");
        using var bw = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        bw.Write(Magic);
        bw.Write(FormatVersion);
        var o = Options;
        bw.Write(o.Hidden.Length);
        foreach (int h in o.Hidden) bw.Write(h);
        bw.Write(o.Epochs); bw.Write(o.BatchSize); bw.Write(o.LearningRate); bw.Write(o.WeightDecay);
        bw.Write(o.Dropout); bw.Write(o.ValidationFraction); bw.Write(o.Patience); bw.Write(o.Seed);
        bw.Write(_sizes.Length);
        foreach (int s in _sizes) bw.Write(s);
        foreach (double v in _mean) bw.Write(v);
        foreach (double v in _scale) bw.Write(v);
        bw.Write(_params.Length);
        foreach (double v in _params) bw.Write(v);
    }

    /// <inheritdoc />
    public void Load(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var br = new BinaryReader(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        if (br.ReadUInt32() != Magic) throw new InvalidDataException("Not a Tally dense network.");
        int version = br.ReadInt32();
        if (version != FormatVersion) throw new InvalidDataException($"Unsupported dense network format version {version}.");
        int nh = br.ReadInt32();
        if (nh < 0 || nh > 1 << 16) throw new InvalidDataException("Corrupt hidden layer count.");
        var hidden = new int[nh];
        for (int i = 0; i < nh; i++) hidden[i] = br.ReadInt32();
        var options = new DenseNetworkOptions
        {
            Hidden = [.. hidden],
            Epochs = br.ReadInt32(), BatchSize = br.ReadInt32(), LearningRate = br.ReadDouble(), WeightDecay = br.ReadDouble(),
            Dropout = br.ReadDouble(), ValidationFraction = br.ReadDouble(), Patience = br.ReadInt32(), Seed = br.ReadInt32(),
        };
        try { options.Validate(); } catch (InvalidOptionException e) { throw new InvalidDataException("Corrupt options: " + e.Message, e); }
        int ns = br.ReadInt32();
        if (ns != nh + 2) throw new InvalidDataException("Layer widths do not match the hidden layers.");
        var sizes = new int[ns];
        for (int i = 0; i < ns; i++)
        {
            sizes[i] = br.ReadInt32();
            if (sizes[i] < (i == 0 ? 0 : 1)) throw new InvalidDataException("Corrupt layer width.");
        }
        // The widths come from the file: check what they imply before allocating (a corrupt width must not ask for
        // gigabytes, nor overflow the parameter count).
        long parameters = 0;
        for (int l = 0; l + 1 < ns; l++) parameters += (long)sizes[l] * sizes[l + 1] + sizes[l + 1];
        if (parameters > Array.MaxLength) throw new InvalidDataException($"Corrupt layer widths: {parameters:N0} parameters.");
        long needed = 16L * sizes[0] + 4 + 8 * parameters;
        if (stream.CanSeek && needed > stream.Length - stream.Position)
            throw new InvalidDataException($"Truncated or corrupt: the layer widths need {needed:N0} more bytes, the file has {stream.Length - stream.Position:N0}.");
        var mean = new double[sizes[0]];
        var scale = new double[sizes[0]];
        for (int j = 0; j < mean.Length; j++) mean[j] = br.ReadDouble();
        for (int j = 0; j < scale.Length; j++) scale[j] = br.ReadDouble();
        int np = br.ReadInt32();
        Options = options;
        Layout(sizes);
        if (np != _params.Length) throw new InvalidDataException("Parameter count does not match the layer widths.");
        for (int q = 0; q < np; q++) _params[q] = br.ReadDouble();
        _mean = mean; _scale = scale;
        LastFit = null;
        _custom = null;
    }

    /// <summary>Reads a network written by <see cref="Save"/>.</summary>
    public static DenseNetwork LoadFrom(Stream stream)
    {
        var net = new DenseNetwork();
        net.Load(stream);
        return net;
    }

    // ---- internals (also used by the gradient checks) ----

    /// <summary>Sets the layer widths and allocates zero parameters.</summary>
    private void Layout(int[] sizes)
    {
        _sizes = sizes;
        int layers = sizes.Length - 1, offset = 0;
        _weightOffsets = new int[layers];
        _biasOffsets = new int[layers];
        for (int l = 0; l < layers; l++)
        {
            _weightOffsets[l] = offset; offset += sizes[l] * sizes[l + 1];
            _biasOffsets[l] = offset; offset += sizes[l + 1];
        }
        _params = new double[offset];
    }

    /// <summary>He-normal weights for ReLU layers (variance 2/fan-in keeps activations' scale through depth),
    /// Glorot-normal for the linear softmax layer, zero biases.</summary>
    internal void InitialiseParameters(int d, int k, Random rng)
    {
        var sizes = new int[Options.Hidden.Length + 2];
        sizes[0] = d;
        for (int i = 0; i < Options.Hidden.Length; i++) sizes[i + 1] = Options.Hidden[i];
        sizes[^1] = k;
        Layout(sizes);
        for (int l = 0; l < LayerCount; l++)
        {
            int fanIn = sizes[l], fanOut = sizes[l + 1];
            bool output = l == LayerCount - 1;
            double sd = output ? Math.Sqrt(2.0 / Math.Max(1, fanIn + fanOut)) : Math.Sqrt(2.0 / Math.Max(1, fanIn));
            for (int q = 0; q < fanIn * fanOut; q++) _params[_weightOffsets[l] + q] = sd * Gaussian(rng);
        }
    }

    internal double[] Parameters => _params;

    internal void SetStandardisation(double[] mean, double[] scale) { _mean = mean; _scale = scale; }

    /// <summary>
    /// Full-batch objective (weighted mean cross-entropy + L2 term) and its gradient at the current parameters, on
    /// already-standardised rows, without dropout. For gradient checks.
    /// </summary>
    internal double LossAndGradient(double[] x, double[] t, double[] w, double[] grad)
    {
        int n = w.Length;
        var ws = new Workspace(n, _sizes);
        var idx = new int[n];
        for (int i = 0; i < n; i++) idx[i] = i;
        double total = w.Sum();
        double ce = Forward(ws, x, t, w, idx, 0, null);
        Array.Clear(grad);
        Backward(ws, t, w, idx, 1.0 / total, grad);
        AddDecay(grad);
        return ce / total + 0.5 * Options.WeightDecay * WeightSquares();
    }

    /// <summary>Means and 1/σ of each feature over the rows <paramref name="rows"/> of the flattened matrix <paramref name="x"/>.</summary>
    private void FitStandardisation(double[] x, int d, ReadOnlySpan<int> rows)
    {
        int n = rows.Length;
        _mean = new double[d];
        _scale = new double[d];
        // Row by row (the matrix is row-major), each feature still summed over the rows in order.
        var sum = new double[d];
        foreach (int i in rows)
        {
            var row = x.AsSpan(i * d, d);
            for (int j = 0; j < d; j++) sum[j] += row[j];
        }
        for (int j = 0; j < d; j++) _mean[j] = sum[j] / n;
        var ss = new double[d];
        foreach (int i in rows)
        {
            var row = x.AsSpan(i * d, d);
            for (int j = 0; j < d; j++) { double e = row[j] - _mean[j]; ss[j] += e * e; }
        }
        for (int j = 0; j < d; j++)
        {
            double m = _mean[j], sd = Math.Sqrt(ss[j] / n);
            _scale[j] = sd > MinDeviation * Math.Max(1.0, Math.Abs(m)) ? 1.0 / sd : 1.0;
        }
    }

    /// <summary>State of training by <see cref="TrainStep"/>: standardised features, dropout generator, Adam.</summary>
    private sealed class CustomTraining(double[] x, int rows, Random rng, double[] grad, AdamOptimizer adam)
    {
        public readonly double[] X = x;
        public readonly int Rows = rows;
        public readonly Random Rng = rng;
        public readonly double[] Grad = grad;
        public readonly AdamOptimizer Adam = adam;
        public Workspace? Ws;
    }

    private CustomTraining? _custom;

    private static void CheckRows(CustomTraining c, ReadOnlySpan<int> rows)
    {
        if (rows.IsEmpty) throw new ArgumentException("The batch has no rows.", nameof(rows));
        foreach (int r in rows)
            if ((uint)r >= (uint)c.Rows) throw new ArgumentOutOfRangeException(nameof(rows), $"Row {r} is not below {c.Rows}.");
    }

    /// <summary>
    /// Forward pass of <paramref name="rows"/>, the caller's loss and its gradient w.r.t. the probabilities, then
    /// backpropagation through the softmax and the layers into <c>c.Grad</c> (without the L2 term). Returns the loss.
    /// </summary>
    private double CustomGradient(CustomTraining c, ReadOnlySpan<int> rows, BatchLoss loss, double dropout, Random? rng)
    {
        int count = rows.Length, k = _sizes[^1];
        if (c.Ws is null || c.Ws.Rows < count) c.Ws = new Workspace(count, _sizes);
        var ws = c.Ws;
        Forward(ws, c.X, null, null, rows, dropout, rng);
        var probs = ws.Act[LayerCount].AsSpan(0, count * k);
        var dTop = ws.Delta[LayerCount].AsSpan(0, count * k);
        dTop.Clear();
        double value = loss(rows, probs, dTop);
        // Softmax Jacobian: ∂L/∂z_c = p_c (∂L/∂p_c − Σ_c' p_c' ∂L/∂p_c').
        for (int b = 0; b < count; b++)
        {
            var p = probs.Slice(b * k, k);
            var g = dTop.Slice(b * k, k);
            double mean = 0;
            for (int q = 0; q < k; q++) mean += p[q] * g[q];
            for (int q = 0; q < k; q++) g[q] = p[q] * (g[q] - mean);
        }
        BackwardFromTop(ws, count, c.Grad);
        return value;
    }

    /// <summary>
    /// The custom objective (the caller's loss plus the L2 term) and its gradient at the current parameters, without
    /// dropout and without a step. For gradient checks; requires <see cref="Initialise"/>.
    /// </summary>
    internal double CustomLossAndGradient(ReadOnlySpan<int> rows, BatchLoss loss, double[] grad)
    {
        var c = _custom ?? throw new InvalidOperationException("Call Initialise first.");
        CheckRows(c, rows);
        double value = CustomGradient(c, rows, loss, 0, null);
        c.Grad.AsSpan().CopyTo(grad);
        AddDecay(grad);
        return value + 0.5 * Options.WeightDecay * WeightSquares();
    }

    private double WeightSquares()
    {
        double l2 = 0;
        for (int l = 0; l < LayerCount; l++)
            foreach (double v in _params.AsSpan(_weightOffsets[l], _sizes[l] * _sizes[l + 1])) l2 += v * v;
        return l2;
    }

    private void Standardise(double[] x, int n)
    {
        int d = _mean.Length;
        for (int i = 0; i < n; i++)
        {
            var row = x.AsSpan(i * d, d);
            for (int j = 0; j < d; j++) row[j] = (row[j] - _mean[j]) * _scale[j];
        }
    }

    /// <summary>
    /// Forward pass of the rows <paramref name="rows"/> into the activation buffers; returns Σ_i w_i · CE_i when
    /// targets are given (0 otherwise). Dropout multipliers are drawn from <paramref name="rng"/> when dropout &gt; 0.
    /// </summary>
    private double Forward(Workspace ws, double[] x, double[]? t, double[]? w, ReadOnlySpan<int> rows, double dropout, Random? rng)
    {
        int count = rows.Length, d = _sizes[0], layers = LayerCount;
        var input = ws.Act[0];
        for (int b = 0; b < count; b++) x.AsSpan(rows[b] * d, d).CopyTo(input.AsSpan(b * d, d));
        double keepScale = dropout > 0 ? 1.0 / (1.0 - dropout) : 1.0;
        for (int l = 0; l < layers; l++)
        {
            int nin = _sizes[l], nout = _sizes[l + 1];
            var W = _params.AsSpan(_weightOffsets[l], nin * nout);
            var bias = _params.AsSpan(_biasOffsets[l], nout);
            var a = ws.Act[l];
            var z = ws.Act[l + 1];
            DenseKernels.Forward(a.AsSpan(0, count * nin), count, nin, W, bias, nout, ws.Transposed[l], z.AsSpan(0, count * nout));
            if (l == layers - 1) break;
            for (int b = 0; b < count; b++)
            {
                var zout = z.AsSpan(b * nout, nout);
                var mask = ws.Mask[l + 1].AsSpan(b * nout, nout);
                for (int o = 0; o < nout; o++)
                {
                    double m = 1.0;
                    if (dropout > 0 && rng is not null) m = rng.NextDouble() < dropout ? 0.0 : keepScale;
                    mask[o] = m;
                    zout[o] = zout[o] > 0 ? zout[o] * m : 0.0;
                }
            }
        }
        // Softmax with the max subtracted, so exp never overflows; the top logit gives exp(0) = 1, so the sum is ≥ 1
        // and no row can become 0/0 even for a single class.
        int k = _sizes[^1];
        var top = ws.Act[layers];
        double loss = 0;
        for (int b = 0; b < count; b++)
        {
            var p = top.AsSpan(b * k, k);
            double max = double.NegativeInfinity;
            foreach (double v in p) if (v > max) max = v;
            if (!double.IsFinite(max))
            {
                // Only reachable with extreme inputs (e.g. features far outside the training range overflowing a
                // logit): +∞ logits share the mass, and a row of NaN/−∞ logits is uniform, so no NaN escapes.
                int hits = 0;
                foreach (double v in p) if (v == max) hits++;
                for (int c = 0; c < k; c++) p[c] = hits == 0 ? 1.0 / k : p[c] == max ? 1.0 / hits : 0.0;
                if (t is not null && w is not null) loss = double.NaN; // an overflowed loss is not comparable
                continue;
            }
            // −Σ t log p = Σ t (log s − (z − max)) with targets summing to 1; exact even where exp underflows to 0.
            var ti = t is null ? default : t.AsSpan(rows[b] * k, k);
            double s = 0, ce = 0;
            for (int c = 0; c < k; c++)
            {
                double zc = p[c] - max;
                if (t is not null && ti[c] > 0) ce -= ti[c] * zc;
                p[c] = Math.Exp(zc);
                s += p[c];
            }
            for (int c = 0; c < k; c++) p[c] /= s;
            if (t is null || w is null) continue;
            loss += w[rows[b]] * (ce + Math.Log(s));
        }
        return loss;
    }

    /// <summary>Accumulates ∂(Σ_i w_i CE_i · <paramref name="scale"/>)/∂θ into <paramref name="grad"/> (cleared here).</summary>
    private void Backward(Workspace ws, double[] t, double[] w, ReadOnlySpan<int> rows, double scale, double[] grad)
    {
        int count = rows.Length, layers = LayerCount, k = _sizes[^1];
        var top = ws.Act[layers];
        var dTop = ws.Delta[layers];
        for (int b = 0; b < count; b++)
        {
            double f = w[rows[b]] * scale;
            var ti = t.AsSpan(rows[b] * k, k);
            for (int c = 0; c < k; c++) dTop[b * k + c] = f * (top[b * k + c] - ti[c]); // targets sum to 1
        }
        BackwardFromTop(ws, count, grad);
    }

    /// <summary>
    /// Accumulates ∂loss/∂θ into <paramref name="grad"/> (cleared here) from ∂loss/∂logits of the first
    /// <paramref name="count"/> rows, already in the top delta buffer.
    /// </summary>
    private void BackwardFromTop(Workspace ws, int count, double[] grad)
    {
        Array.Clear(grad);
        int layers = LayerCount;
        for (int l = layers - 1; l >= 0; l--)
        {
            int nin = _sizes[l], nout = _sizes[l + 1];
            var gW = grad.AsSpan(_weightOffsets[l], nin * nout);
            var gb = grad.AsSpan(_biasOffsets[l], nout);
            var a = ws.Act[l];
            var dz = ws.Delta[l + 1];
            // Rows are summed in order, so the result does not depend on anything but the data and the seed.
            DenseKernels.WeightGradient(dz.AsSpan(0, count * nout), a.AsSpan(0, count * nin), count, nin, nout, gW, gb, ws.DeltaTransposed);
            if (l == 0) break;
            var W = _params.AsSpan(_weightOffsets[l], nin * nout);
            var da = ws.Delta[l];
            var mask = ws.Mask[l];
            DenseKernels.InputGradient(dz.AsSpan(0, count * nout), W, count, nin, nout, da.AsSpan(0, count * nin));
            for (int b = 0; b < count; b++)
            {
                var dab = da.AsSpan(b * nin, nin);
                // ReLU and dropout: the unit passed gradient only if it was active, scaled by its mask.
                var ab = a.AsSpan(b * nin, nin);
                var mb = mask.AsSpan(b * nin, nin);
                for (int i = 0; i < nin; i++) dab[i] = ab[i] > 0 ? dab[i] * mb[i] : 0.0;
            }
        }
    }

    /// <summary>Rows of <paramref name="d"/> finite values copied into one row-major array; names the first bad row.</summary>
    private static double[] Flatten(double[][] features, int d)
    {
        var x = new double[MemoryBudget.Length(features.Length, d)];
        for (int i = 0; i < features.Length; i++)
        {
            var f = features[i];
            if (f is null || f.Length != d) throw new ArgumentException($"Feature row {i} does not have {d} values.", nameof(features));
            for (int j = 0; j < d; j++)
            {
                if (!double.IsFinite(f[j])) throw new ArgumentException($"Feature row {i} has a non-finite value.", nameof(features));
                x[i * d + j] = f[j];
            }
        }
        return x;
    }

    private void AddDecay(double[] grad)
    {
        double lambda = Options.WeightDecay;
        if (lambda == 0) return;
        for (int l = 0; l < LayerCount; l++)
        {
            int off = _weightOffsets[l], len = _sizes[l] * _sizes[l + 1];
            for (int q = off; q < off + len; q++) grad[q] += lambda * _params[q];
        }
    }

    private static bool AllFinite(double[] values)
    {
        // x − x is 0 for every finite x and NaN for ±∞ and NaN, so one comparison per vector tests four values.
        int q = 0;
        if (System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated)
        {
            var bad = System.Runtime.Intrinsics.Vector256<double>.Zero;
            for (; q + 4 <= values.Length; q += 4)
            {
                var v = System.Runtime.Intrinsics.Vector256.Create((ReadOnlySpan<double>)values.AsSpan(q, 4));
                bad |= ~System.Runtime.Intrinsics.Vector256.Equals(v - v, System.Runtime.Intrinsics.Vector256<double>.Zero);
            }
            if (bad != System.Runtime.Intrinsics.Vector256<double>.Zero) return false;
        }
        for (; q < values.Length; q++) if (!double.IsFinite(values[q])) return false;
        return true;
    }

    /// <summary>A standard normal draw by MathNet's sampler (one normal sampler for all of Tally).</summary>
    private static double Gaussian(Random rng) => MathNet.Numerics.Distributions.Normal.Sample(rng, 0.0, 1.0);
}
