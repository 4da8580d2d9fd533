using Tally.Core;

namespace Tally.Aggregation;

/// <summary>
/// What the truth-inference methods allocate, estimated from the answers' sizes before they allocate it, and the
/// check against the memory limit (<see cref="MemoryBudget"/>). The confusion-matrix methods hold a few K × K matrices
/// per worker (W·K² numbers: 30 workers × 10,000 classes is 3·10⁹, 24 GB a copy); every method holds the T × K
/// posteriors. The estimate counts the arrays of the largest kinds by how many copies the method keeps at once; it is
/// within a small factor, which is all a refusal needs.
/// </summary>
internal static class Footprints
{
    /// <summary>The methods whose memory grows with the answers and the posteriors, not with K² per worker.</summary>
    public const string Scalable = "mv, wawa, zbs, glad or mmsr";

    /// <summary>One copy of W × K × K doubles.</summary>
    public static Footprint Confusions(LabelMatrix answers) =>
        Footprint.Doubles((double)answers.WorkerCount * answers.ClassCount * answers.ClassCount);

    /// <summary>One copy of T × K doubles.</summary>
    public static Footprint Posteriors(LabelMatrix answers) => Footprint.Doubles((double)answers.TaskCount * answers.ClassCount);

    /// <summary>One double per answer.</summary>
    public static Footprint PerAnswer(LabelMatrix answers) => Footprint.Doubles(answers.AnswerCount);

    /// <summary>
    /// Refuses when <paramref name="confusions"/> copies of the W·K² confusions, <paramref name="posteriors"/> copies of
    /// the T·K posteriors and <paramref name="extra"/> (described by <paramref name="extraWhat"/>) exceed the limit; the
    /// message names whichever of the three is the largest and what to do instead.
    /// </summary>
    /// <exception cref="MemoryLimitException">Too much.</exception>
    public static void Require(string method, LabelMatrix answers, ComputeOptions? compute, double confusions = 0, double posteriors = 2,
        Footprint extra = default, string? extraWhat = null, string? extraInstead = null)
    {
        var conf = confusions * Confusions(answers);
        var post = posteriors * Posteriors(answers);
        var need = conf + post + extra;
        int W = answers.WorkerCount, K = answers.ClassCount, T = answers.TaskCount;
        string what, instead;
        if (extra.Bytes > conf.Bytes && extra.Bytes > post.Bytes && extraWhat is not null)
        {
            what = extraWhat;
            instead = extraInstead ?? $"with {K:N0} classes use a method that grows with the answers instead: {Scalable}";
        }
        else if (conf.Bytes >= post.Bytes && confusions > 0)
        {
            what = $"{W:N0} workers × {K:N0}² confusion entries";
            instead = $"with {K:N0} classes use a method whose memory grows with the answers, not with K² per worker: {Scalable}";
        }
        else
        {
            what = $"posteriors of {T:N0} tasks × {K:N0} classes";
            instead = "merge rare classes, or split the tasks into smaller files";
        }
        MemoryBudget.Require(method, need, what, instead, compute);
    }
}
