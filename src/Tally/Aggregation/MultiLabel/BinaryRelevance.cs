using System.Collections.Immutable;
using System.Runtime.InteropServices;
using Tally.Core;

namespace Tally.Aggregation.MultiLabel;

/// <summary>Options of <see cref="BinaryRelevance"/>.</summary>
public sealed record BinaryRelevanceOptions
{
    /// <summary>A label is in a task's inferred set when its probability is at least this (default 0.5).</summary>
    public double Threshold { get; init; } = 0.5;

    /// <summary>Checks the options.</summary>
    /// <exception cref="InvalidOptionException">The threshold is outside [0, 1].</exception>
    public void Validate() => Check.InRange(Threshold, 0, 1, nameof(Threshold));
}

/// <summary>What <see cref="BinaryRelevance"/> concluded: per task and label the probability that the label applies.</summary>
public sealed record MultiLabelResult
{
    /// <summary>The binary method's name.</summary>
    public required string Method { get; init; }
    /// <summary>The answers.</summary>
    public required MultiLabelAnswers Answers { get; init; }
    /// <summary>Task × label probability that the label is in the task's true set.</summary>
    public required RowMatrix Probabilities { get; init; }
    /// <summary>The threshold the inferred sets use.</summary>
    public required double Threshold { get; init; }
    /// <summary>The binary result of each label (worker skills, confusions, iterations).</summary>
    public required ImmutableArray<AggregationResult> PerLabel { get; init; }

    /// <summary>The labels of task <paramref name="task"/> whose probability reaches the threshold, in label order.</summary>
    public IReadOnlyList<int> Set(int task)
    {
        var set = new List<int>();
        var row = Probabilities.Row(task);
        for (int l = 0; l < row.Length; l++) if (row[l] >= Threshold) set.Add(l);
        return set;
    }
}

/// <summary>
/// Binary relevance: a multi-label answer is one yes/no answer per label ("is label l in the set?"), and each label is
/// inferred on its own by any binary truth-inference method — the classic reduction of multi-label learning (G. Tsoumakas
/// and I. Katakis, "Multi-label classification: an overview", IJDWM 3(3), 2007), as Crowd-Kit's BinaryRelevance. It
/// ignores correlations between labels, and in return works with every registered method and gives each worker a
/// reliability per label.
/// </summary>
public sealed class BinaryRelevance(IAggregator binary, BinaryRelevanceOptions? options = null)
{
    private readonly IAggregator _binary = binary ?? throw new ArgumentNullException(nameof(binary));

    /// <summary>The options.</summary>
    public BinaryRelevanceOptions Options { get; } = options ?? new BinaryRelevanceOptions();

    /// <summary>
    /// Runs the binary method once per label. Labels are fitted one after the other, each with the full
    /// <paramref name="compute"/> budget, so the result is the binary method's own, label by label, on any machine.
    /// </summary>
    /// <exception cref="TallyUserException">The binary method rejects the input.</exception>
    public MultiLabelResult Aggregate(MultiLabelAnswers answers, ComputeOptions? compute = null, IProgress<IterationProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(answers);
        Options.Validate();
        int T = answers.Sets.TaskCount, L = answers.Labels.Count;
        var p = new double[(long)T * L];
        var perLabel = new AggregationResult[L];
        for (int l = 0; l < L; l++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var r = _binary.Aggregate(answers.Binary(l), compute, null, cancellationToken);
            perLabel[l] = r;
            for (int t = 0; t < T; t++) p[t * L + l] = r.Posteriors[t, 1];
            progress?.Report(new IterationProgress(l + 1, L, 0));
        }
        return new MultiLabelResult
        {
            Method = _binary.Name,
            Answers = answers,
            Probabilities = new RowMatrix(T, L, p),
            Threshold = Options.Threshold,
            PerLabel = ImmutableCollectionsMarshal.AsImmutableArray(perLabel),
        };
    }
}
