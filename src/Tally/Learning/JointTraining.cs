using System.Collections.Immutable;
namespace Tally.Learning;

/// <summary>Plumbing shared by the joint learning-from-crowds methods that train an <see cref="IDifferentiableClassifier"/>.</summary>
internal static class JointTraining
{
    /// <summary>A step of the crowd-side parameters after a classifier step with a finite loss; returns the batch's weight in the epoch's mean loss.</summary>
    public delegate double CrowdStep(ReadOnlySpan<int> rows);

    /// <summary>
    /// A crowd layer's loss over a batch of tasks: its value (a mean over the batch's answers), ∂loss/∂(classifier
    /// probabilities) into <c>dP</c>, and the gradient of the layer's own parameters into <c>gradient</c> (cleared first).
    /// </summary>
    public delegate double LayerLoss(ReadOnlySpan<int> rows, ReadOnlySpan<double> probabilities, Span<double> dP, double[] gradient);

    /// <summary>
    /// Trains a classifier and a crowd layer on top of it end to end (Crowd Layer, CoNAL): each batch's loss goes back
    /// through the classifier, then Adam steps the layer's <paramref name="parameters"/>; a batch whose loss or
    /// gradient is not finite is skipped on both sides. Epoch losses are means over answers. Seeded from
    /// <paramref name="seed"/> (stream 1 shuffles the batches).
    /// </summary>
    public static ImmutableArray<double> TrainWithLayer(Tally.Core.LabelMatrix answers, int[] train, IDifferentiableClassifier classifier,
        double[] parameters, LayerLoss layerLoss, double learningRate, int seed, int epochs, int batchSize, bool dropPartialBatch,
        IProgress<EpochReport>? progress, CancellationToken cancellationToken)
    {
        var adam = new AdamOptimizer(parameters.Length, learningRate);
        var grad = new double[parameters.Length];
        var rng = Tally.Core.Seeding.Random(seed, 1);
        bool finite = true;
        BatchLoss loss = (rows, probs, dP) =>
        {
            Array.Clear(grad);
            double value = layerLoss(rows, probs, dP, grad);
            finite = double.IsFinite(value) && AllFinite(grad);
            if (finite) return value;
            dP.Clear();
            return double.NaN; // the classifier skips a step with a non-finite loss
        };
        return RunEpochs(train, rng, epochs, batchSize, 1, dropPartialBatch, classifier, loss, () => finite, rows =>
        {
            adam.Step(parameters, grad);
            int batchAnswers = 0;
            foreach (int t in rows) batchAnswers += answers.TaskDegree(t);
            return batchAnswers; // the loss is a mean over answers
        }, progress, cancellationToken);
    }

    /// <summary>
    /// The epoch loop every end-to-end learner shares: shuffle the training tasks, step the classifier on each
    /// mini-batch with <paramref name="loss"/>, then (when <paramref name="lastLossFinite"/> says the loss was finite)
    /// step the crowd-side parameters; report each epoch's weighted mean loss (0 if every batch overflowed). With
    /// <paramref name="dropPartialBatch"/>, a last batch shorter than <paramref name="batchSize"/> is skipped.
    /// </summary>
    public static ImmutableArray<double> RunEpochs(int[] train, Random rng, int epochs, int batchSize, int minimumBatch, bool dropPartialBatch,
        IDifferentiableClassifier classifier, BatchLoss loss, Func<bool> lastLossFinite, CrowdStep crowdStep,
        IProgress<EpochReport>? progress, CancellationToken cancellationToken)
    {
        var losses = ImmutableArray.CreateBuilder<double>(epochs);
        for (int epoch = 1; epoch <= epochs; epoch++)
        {
            Shuffle(train, rng);
            double sum = 0, seen = 0;
            for (int start = 0; start < train.Length;)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int count = dropPartialBatch ? Math.Min(batchSize, train.Length - start) : BatchLength(start, train.Length, batchSize, minimumBatch);
                if (dropPartialBatch && count < batchSize && start > 0) break;
                var rows = train.AsSpan(start, count);
                double value = classifier.TrainStep(rows, loss);
                if (lastLossFinite())
                {
                    double weight = crowdStep(rows);
                    sum += value * weight;
                    seen += weight;
                }
                start += count;
            }
            double epochLoss = seen > 0 ? sum / seen : 0;
            losses.Add(epochLoss);
            progress?.Report(new EpochReport(epoch, epochs, epochLoss, classifier));
        }
        return losses.ToImmutable();
    }

    /// <summary>Indexes of the tasks with at least one answer, in task order: the only ones carrying a crowd signal.</summary>
    public static int[] AnsweredTasks(Tally.Core.LabelMatrix answers)
    {
        int n = 0;
        for (int t = 0; t < answers.TaskCount; t++) if (answers.TaskDegree(t) > 0) n++;
        var tasks = new int[n];
        n = 0;
        for (int t = 0; t < answers.TaskCount; t++) if (answers.TaskDegree(t) > 0) tasks[n++] = t;
        return tasks;
    }

    /// <summary>Fisher-Yates shuffle driven by <paramref name="rng"/>.</summary>
    public static void Shuffle(Span<int> items, Random rng)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    /// <summary>
    /// Length of the batch starting at <paramref name="start"/> of <paramref name="total"/> rows: <paramref name="size"/>,
    /// except that a remainder smaller than <paramref name="minimum"/> joins the batch before it rather than forming
    /// one of its own.
    /// </summary>
    public static int BatchLength(int start, int total, int size, int minimum)
    {
        int count = Math.Min(size, total - start);
        if (total - start - count < minimum) count = total - start;
        return count;
    }

    /// <summary>Log of Σ exp(values), with the maximum factored out so nothing overflows; −∞ for all −∞.</summary>
    public static double LogSumExp(ReadOnlySpan<double> values)
    {
        double max = double.NegativeInfinity;
        foreach (double v in values) if (v > max) max = v;
        if (double.IsNegativeInfinity(max)) return max;
        double s = 0;
        foreach (double v in values) s += Math.Exp(v - max);
        return max + Math.Log(s);
    }

    public static bool AllFinite(ReadOnlySpan<double> values)
    {
        foreach (double v in values) if (!double.IsFinite(v)) return false;
        return true;
    }

    /// <summary>The classifier a method trains: the factory's, else a <see cref="DenseNetwork"/> with the given options.</summary>
    public static IDifferentiableClassifier CreateClassifier(Func<IDifferentiableClassifier>? factory, DenseNetworkOptions network) =>
        factory is null
            ? new DenseNetwork(network)
            : factory() ?? throw new InvalidOperationException("The classifier factory returned null.");
}
