using Tally.Core;

namespace Tally.Aggregation;

/// <summary>Options of <see cref="Kos"/>.</summary>
public sealed record KosOptions : IterativeOptions
{
    /// <summary>
    /// Defaults: 10 message-passing iterations, as Crowd-Kit's KOS is used in its documentation and benchmarks
    /// (<c>KOS(10)</c>; the class default there is 100, which gives the same labels on the bundled data), and
    /// tolerance 0 (always run them all); seed 0. With a positive tolerance, iteration stops once no normalised
    /// worker message changes by more than it.
    /// </summary>
    public KosOptions() { MaxIterations = 10; Tolerance = 0; }

    /// <summary>
    /// Multiplies the normalised task score before the logistic that turns it into a posterior (see <see cref="Kos"/>).
    /// KOS scores are only defined up to a positive factor, so this is a temperature, not a fitted quantity; default 1.
    /// Must be positive and finite.
    /// </summary>
    public double ScoreScale { get; init; } = 1.0;

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        Check.Above(ScoreScale, 0, nameof(ScoreScale));
    }
}

/// <summary>
/// Karger-Oh-Shah (KOS) belief-propagation-style inference for binary tasks: with answers A_tw = ±1, task→worker
/// messages x_{t→w} = Σ_{w'∈∂t∖w} A_tw' y_{w'→t} and worker→task messages y_{w→t} = Σ_{t'∈∂w∖t} A_t'w x_{t'→w}
/// are iterated from y ~ N(1, 1); task t's score is Σ_{w∈∂t} A_tw y_{w→t} and its label the sign of that score.
/// D. R. Karger, S. Oh and D. Shah, "Iterative learning for reliable crowdsourcing systems", NIPS 2011,
/// Section 2.2 (the iterative algorithm; its updates are the message equations above).
/// </summary>
/// <remarks>
/// <para>Class index 0 is mapped to +1 and class 1 to −1 (Crowd-Kit maps its first label to +1). A score of exactly 0
/// (e.g. a task whose only worker answered nothing else) is a tie and goes to class 0, the lowest index.</para>
/// <para>The updates are linear, so the messages are rescaled to unit root-mean-square after every half-step. This
/// changes no sign and no ratio, hence no label, but keeps long runs finite (Crowd-Kit instead stops once a sum
/// exceeds 1e300).</para>
/// <para>Posteriors: KOS yields a score, not a probability. The score is divided by the mean absolute score over
/// tasks (making it scale-free), multiplied by <see cref="KosOptions.ScoreScale"/>, and mapped through the logistic
/// function to P(class 0); P(class 1) is its complement. The labels are the signs of the scores, so they always agree
/// with the posteriors (a task scored 0 gets 0.5/0.5 and class 0). These probabilities are a monotone confidence
/// ranking, not calibrated estimates.</para>
/// <para>Worker skill = Σ_t A_tw x_{t→w} / Σ_t |x_{t→w}| with the final task messages: the worker's agreement, in
/// [−1, 1], with what the other workers' weighted answers say about the same tasks. 1 = always agrees, 0 = no signal
/// (or no other worker on its tasks), −1 = systematically inverted (KOS then gives the worker a negative weight).</para>
/// <para>KOS determines the answer only up to a global mirror image (both classes swapped and every worker inverted).
/// Like Crowd-Kit, the start y ~ N(1, 1) leans towards workers being better than chance; in addition, if the final
/// messages still say that workers on the whole disagree with each other's consensus (Σ A x &lt; 0), all messages
/// are negated. This only differs from Crowd-Kit where its random start lands on the mirror image, which happens on
/// small inputs.</para>
/// <para>Fitted model: a one-coin model whose log-odds for worker w are the normalised score scale times
/// y_w = Σ_t A_tw x_{t→w} (the worker's full message), so predicting new tasks sums the workers' answers weighted as
/// KOS weighs them.</para>
/// <para>Only for K = 2; any other number of classes is rejected with a <see cref="TallyUserException"/>.</para>
/// </remarks>
public sealed class Kos(KosOptions? options = null) : IAggregator
{
    /// <summary>The options in use.</summary>
    public KosOptions Options { get; } = options ?? new KosOptions();

    /// <inheritdoc />
    public string Name => "kos";

    /// <inheritdoc />
    public AggregationResult Aggregate(LabelMatrix answers, ComputeOptions? compute = null, IProgress<IterationProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        Options.Validate();
        int k = answers.ClassCount, T = answers.TaskCount, W = answers.WorkerCount, n = answers.AnswerCount;
        if (k != 2)
            throw new TallyUserException($"kos is binary-only: the answers have {k} classes");

        var sign = new double[n];
        var labelsByAnswer = answers.TaskLabels;
        for (int e = 0; e < n; e++) sign[e] = labelsByAnswer[e] == 0 ? 1.0 : -1.0;

        var x = new double[n];
        var y = new double[n];
        var previous = Options.Tolerance > 0 ? new double[n] : null;
        InitialWorkerMessages(y, Options.Seed);

        bool converged = false;
        int it = 0;
        while (it < Options.MaxIterations)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (previous is not null) y.AsSpan().CopyTo(previous);
            TaskToWorker(answers, sign, y, x);
            ScaleToUnitRms(x);
            WorkerToTask(answers, sign, x, y);
            ScaleToUnitRms(y);
            it++;
            // KOS has no objective; progress carries the largest change of a normalised worker message instead
            // (NaN when no tolerance asks for it to be computed).
            double change = previous is null ? double.NaN : MaxAbsDifference(previous, y);
            progress?.Report(new IterationProgress(it, Options.MaxIterations, change));
            if (previous is not null && change < Options.Tolerance) { converged = true; break; }
        }

        // The updates are odd in the messages: negating every x and y (i.e. swapping both classes and inverting every
        // worker) is an equally valid run. The N(1, 1) start normally selects the side on which workers beat chance,
        // but on small inputs its noise can select the mirror image, so that side is enforced explicitly.
        double agreement = 0;
        for (int e = 0; e < n; e++) agreement += sign[e] * x[e];
        if (agreement < 0)
        {
            for (int e = 0; e < n; e++) { x[e] = -x[e]; y[e] = -y[e]; }
        }

        var score = new double[T];
        var off = answers.TaskOffsets;
        for (int t = 0; t < T; t++)
        {
            double s = 0;
            for (int e = off[t]; e < off[t + 1]; e++) s += sign[e] * y[e];
            score[t] = s;
        }
        var (post, labels, factor) = ScoresToPosteriors(score, Options.ScoreScale);

        // The model: worker log-odds = factor · y_w, with y_w the worker's full message Σ_t A_tw x_{t→w}.
        var accuracy = new double[W];
        var woff = answers.WorkerOffsets;
        var ids = answers.WorkerAnswerIds;
        for (int w = 0; w < W; w++)
        {
            double yw = 0;
            for (int i = woff[w]; i < woff[w + 1]; i++) yw += sign[ids[i]] * x[ids[i]];
            double z = factor * yw;
            accuracy[w] = z >= 0 ? 1 / (1 + Math.Exp(-z)) : Math.Exp(z) / (1 + Math.Exp(z));
        }
        var skills = WorkerAgreement(answers, sign, x, W);
        return AggregationResult.Create(Name, answers, post, skills,
            AggregationModel.ForOneCoin(Name, Options, answers, accuracy, null, skills), labels) with
        {
            Iterations = it,
            Converged = converged || Options.Tolerance == 0,
        };
    }

    /// <summary>y ~ N(1, 1) per answer, in answer-id order, from the seed's stream (MathNet's normal sampler).</summary>
    private static void InitialWorkerMessages(Span<double> y, int seed)
    {
        var rng = Seeding.Random(seed);
        for (int e = 0; e < y.Length; e++) y[e] = MathNet.Numerics.Distributions.Normal.Sample(rng, 1.0, 1.0);
    }

    private static void TaskToWorker(LabelMatrix answers, ReadOnlySpan<double> sign, ReadOnlySpan<double> y, Span<double> x)
    {
        var off = answers.TaskOffsets;
        for (int t = 0; t < answers.TaskCount; t++)
        {
            int a = off[t], b = off[t + 1];
            double sum = 0;
            for (int e = a; e < b; e++) sum += sign[e] * y[e];
            // Leave-one-out by subtraction keeps each half-step linear in the number of answers.
            for (int e = a; e < b; e++) x[e] = sum - sign[e] * y[e];
        }
    }

    private static void WorkerToTask(LabelMatrix answers, ReadOnlySpan<double> sign, ReadOnlySpan<double> x, Span<double> y)
    {
        var off = answers.WorkerOffsets;
        var ids = answers.WorkerAnswerIds;
        for (int w = 0; w < answers.WorkerCount; w++)
        {
            int a = off[w], b = off[w + 1];
            double sum = 0;
            for (int i = a; i < b; i++) { int e = ids[i]; sum += sign[e] * x[e]; }
            for (int i = a; i < b; i++) { int e = ids[i]; y[e] = sum - sign[e] * x[e]; }
        }
    }

    private static void ScaleToUnitRms(Span<double> m)
    {
        double ss = 0;
        for (int i = 0; i < m.Length; i++) ss += m[i] * m[i];
        // All-zero messages (e.g. every worker answered a single task) stay zero; there is nothing to rescale.
        if (!(ss > 0) || double.IsInfinity(ss)) return;
        double inv = 1.0 / Math.Sqrt(ss / m.Length);
        for (int i = 0; i < m.Length; i++) m[i] *= inv;
    }

    private static double MaxAbsDifference(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double max = 0;
        for (int i = 0; i < a.Length; i++) max = Math.Max(max, Math.Abs(a[i] - b[i]));
        return max;
    }

    /// <summary>Labels from the score signs; posteriors from a logistic on the mean-|score|-normalised score.</summary>
    internal static (double[] Posteriors, int[] Labels, double Factor) ScoresToPosteriors(ReadOnlySpan<double> score, double scale)
    {
        int T = score.Length;
        double meanAbs = 0;
        for (int t = 0; t < T; t++) meanAbs += Math.Abs(score[t]);
        meanAbs = T == 0 ? 0 : meanAbs / T;
        double factor = meanAbs > 0 && !double.IsInfinity(meanAbs) ? scale / meanAbs : 0;
        var post = new double[MemoryBudget.Length(T, 2)];
        var labels = new int[T];
        for (int t = 0; t < T; t++)
        {
            double z = score[t] * factor;
            if (double.IsNaN(z)) z = 0;
            // exp of −|z| never overflows, and computing the smaller probability directly keeps it accurate.
            double small = Math.Exp(-Math.Abs(z)) / (1.0 + Math.Exp(-Math.Abs(z)));
            double p0 = z >= 0 ? 1.0 - small : small;
            post[2 * t] = p0;
            post[2 * t + 1] = 1.0 - p0;
            labels[t] = score[t] >= 0 ? 0 : 1;
        }
        return (post, labels, factor);
    }

    private static double[] WorkerAgreement(LabelMatrix answers, ReadOnlySpan<double> sign, ReadOnlySpan<double> x, int workers)
    {
        var skill = new double[workers];
        var off = answers.WorkerOffsets;
        var ids = answers.WorkerAnswerIds;
        for (int w = 0; w < workers; w++)
        {
            double agree = 0, mass = 0;
            for (int i = off[w]; i < off[w + 1]; i++)
            {
                int e = ids[i];
                agree += sign[e] * x[e];
                mass += Math.Abs(x[e]);
            }
            skill[w] = mass > 0 ? agree / mass : 0;
        }
        return skill;
    }
}
