using System.Collections.Immutable;
using System.Globalization;
using MathNet.Numerics.Distributions;
using Tally.Aggregation;
using Tally.Core;

namespace Tally.Simulation;

/// <summary>The information structures of Max-MIG's synthetic experiments (Appendix B.1).</summary>
public enum ExpertCase
{
    /// <summary>Case B.1: only senior experts, mutually conditionally independent given the truth.</summary>
    IndependentMistakes,
    /// <summary>Case B.2: the seniors plus junior experts who label every item as the first class (class 0).</summary>
    NaiveMajority,
    /// <summary>Case B.3: the seniors plus junior experts who each copy one senior's labels (seniors A and C).</summary>
    CorrelatedMistakes,
}

/// <summary>Max-MIG's two expertise situations.</summary>
public enum Expertise
{
    /// <summary>(H): 5 seniors of relatively high, heterogeneous expertise (A–E).</summary>
    High,
    /// <summary>(L): 10 identical seniors of relatively low expertise.</summary>
    Low,
}

/// <summary>Which dataset's senior experts of Max-MIG Appendix B.1 to use.</summary>
public enum ExpertProfile
{
    /// <summary>
    /// CIFAR-10 (K ≥ 2 with hard pairs; the paper: 10 classes). (H): seniors perfect on classes outside the hard pairs;
    /// on each hard pair (a, b) A always answers a, B answers a or b uniformly, C distinguishes the first
    /// <see cref="ExpertScenario.FirstGroupPairs"/> pairs ("mammals") and answers the others uniformly, D distinguishes the
    /// remaining pairs ("vehicles") and always answers a on the first group, E is right with probability 0.6 and
    /// otherwise answers the partner. (L): each senior is right with probability 0.2 and otherwise answers one of the
    /// K − 1 wrong classes uniformly.
    /// </summary>
    Cifar10,
    /// <summary>Dogs vs. Cats (K = 2; class 0 = cat, the class the naive juniors give; class 1 = dog). (H) accuracies
    /// dog/cat: A 0.6/0.8, B 0.6/0.6, C 0.9/0.6, D 0.7/0.7, E 0.6/0.7. (L) ten seniors with 0.55/0.55.</summary>
    DogsVsCats,
    /// <summary>LUNA16 (K = 2; class 0 = benign, the naive juniors' class; class 1 = malignant). (H) accuracies
    /// benign/malignant: A 0.6/0.9, B 0.7/0.7, C 0.9/0.6, D 0.6/0.7, E 0.7/0.6. (L) ten seniors with 0.6/0.6.</summary>
    Luna16,
}

/// <summary>
/// One synthetic expert crowd of Max-MIG (Cao, Xu, Kong, Wang, "Max-MIG: an information theoretic approach for joint
/// learning from crowds", ICLR 2019, Appendix B.1 "Experts' expertise"). Every expert labels every item.
/// </summary>
public sealed record ExpertScenario
{
    /// <summary>The information structure (default independent mistakes).</summary>
    public ExpertCase Case { get; init; } = ExpertCase.IndependentMistakes;
    /// <summary>High (H) or low (L) expertise (default high).</summary>
    public Expertise Expertise { get; init; } = Expertise.High;
    /// <summary>Whose senior experts (default CIFAR-10's, which fit any 10-class problem such as Fashion-MNIST or music genres).</summary>
    public ExpertProfile Profile { get; init; } = ExpertProfile.Cifar10;
    /// <summary>
    /// The CIFAR-10 profile's hard pairs as class indexes, each (a, b) with a the class A (and D) give for both; null
    /// = the paper's pairs in CIFAR-10's class order (airplane 0, automobile 1, bird 2, cat 3, deer 4, dog 5, frog 6,
    /// horse 7, ship 8, truck 9): cat/dog (3, 5), deer/horse (4, 7), airplane/bird (0, 2), automobile/truck (1, 9),
    /// frog/ship (6, 8). Pairs must be disjoint.
    /// </summary>
    public IReadOnlyList<(int A, int B)>? HardPairs { get; init; }
    /// <summary>How many leading hard pairs senior C can tell apart (and D cannot): the paper's two mammal pairs.</summary>
    public int FirstGroupPairs { get; init; } = 2;
    /// <summary>Seed (seniors' labels depend only on it, the truth and the expertise, so the three cases share them).</summary>
    public int Seed { get; init; }

    /// <summary>The paper's CIFAR-10 hard pairs.</summary>
    public static IReadOnlyList<(int A, int B)> Cifar10HardPairs { get; } = [(3, 5), (4, 7), (0, 2), (1, 9), (6, 8)];

    /// <summary>M_s, the number of senior experts: 5 under (H), 10 under (L), in every case.</summary>
    public int Seniors => Expertise == Expertise.High ? 5 : 10;

    /// <summary>M_j, the number of junior experts: 0 (B.1); (H) 5, (L) 15 (B.2); (H) 5, (L) 2 (B.3).</summary>
    public int Juniors => Case switch
    {
        ExpertCase.NaiveMajority => Expertise == Expertise.High ? 5 : 15,
        ExpertCase.CorrelatedMistakes => Expertise == Expertise.High ? 5 : 2,
        _ => 0,
    };

    /// <summary>
    /// In the correlated case, the senior each junior copies: (H) two copy A and three copy C; (L) one copies A and one
    /// copies C (A = senior 0, C = senior 2). Empty in the other cases.
    /// </summary>
    public ImmutableArray<int> CopiedSeniors => Case != ExpertCase.CorrelatedMistakes
        ? []
        : Expertise == Expertise.High ? [0, 0, 2, 2, 2] : [0, 2];

    /// <summary>
    /// Checks that the scenario fits <paramref name="classes"/> classes; throws <see cref="InvalidOptionException"/>
    /// naming the option that does not (or <see cref="TallyUserException"/> for too few classes).
    /// </summary>
    public void Validate(int classes)
    {
        Check.Defined(Case, nameof(Case));
        Check.Defined(Expertise, nameof(Expertise));
        Check.Defined(Profile, nameof(Profile));
        if (classes < 2) throw new TallyUserException($"Expert crowds need at least 2 classes (got {classes}).");
        if (Profile is ExpertProfile.DogsVsCats or ExpertProfile.Luna16 && classes != 2)
            throw new InvalidOptionException(nameof(Profile), $"{Profile} has experts for 2 classes, not {classes}");
        if (Profile != ExpertProfile.Cifar10 || Expertise == Expertise.Low) return;
        var pairs = HardPairs ?? Cifar10HardPairs;
        var used = new HashSet<int>();
        foreach (var (a, b) in pairs)
        {
            if (a < 0 || a >= classes || b < 0 || b >= classes || a == b)
                throw new InvalidOptionException(nameof(HardPairs), $"({a}, {b}) is not two distinct class indexes below {classes}" + (HardPairs is null ? " (the CIFAR-10 pairs need 10 classes)" : ""));
            if (!used.Add(a) || !used.Add(b)) throw new InvalidOptionException(nameof(HardPairs), $"overlap at ({a}, {b})");
        }
        Check.InRange(FirstGroupPairs, 0, pairs.Count, nameof(FirstGroupPairs));
    }
}

/// <summary>What <see cref="ExpertSimulator"/> drew.</summary>
/// <param name="Answers">Every expert's label for every item: workers <c>senior-A</c>… then <c>junior-1</c>…; tasks named
/// as given (default "0", "1", …).</param>
/// <param name="Truth">The true labels given.</param>
/// <param name="WorkerConfusions">Each expert's confusion matrix (a junior who copies has its senior's).</param>
/// <param name="Seniors">Number of senior experts (workers 0..Seniors−1).</param>
/// <param name="CopiedSenior">Per worker, the senior whose labels it copies, or −1.</param>
public sealed record ExpertCrowd(LabelMatrix Answers, GoldLabels Truth, ConfusionMatrices WorkerConfusions, int Seniors,
    ImmutableArray<int> CopiedSenior);

/// <summary>
/// Synthetic crowds for given true labels (e.g. of Fashion-MNIST images or music songs), for learning from crowds:
/// the expert settings of Max-MIG (ICLR 2019, Appendix B.1) and the sparse one-coin crowd of "Robust deep learning from
/// crowds with belief propagation" (Kim, Cho, Kim, Ok, AISTATS 2022, §4.1).
/// </summary>
public sealed class ExpertSimulator
{
    /// <summary>Draws Max-MIG's expert labels for items whose true classes are <paramref name="truth"/>.</summary>
    /// <param name="truth">True class index of each item.</param>
    /// <param name="classes">Class names (K of them).</param>
    /// <param name="scenario">Case, expertise, profile and seed.</param>
    /// <param name="taskIds">Item ids (e.g. song ids, so features align); null = "0", "1", ….</param>
    public ExpertCrowd Generate(IReadOnlyList<int> truth, IReadOnlyList<string> classes, ExpertScenario scenario,
        IReadOnlyList<string>? taskIds = null)
    {
        ArgumentNullException.ThrowIfNull(truth);
        ArgumentNullException.ThrowIfNull(classes);
        ArgumentNullException.ThrowIfNull(scenario);
        int k = classes.Count, n = truth.Count;
        scenario.Validate(k);
        var tasks = TaskVocabulary(truth, k, taskIds);

        int seniors = scenario.Seniors, juniors = scenario.Juniors, workers = seniors + juniors;
        var conf = new double[MemoryBudget.Length(workers, k, k)];
        for (int s = 0; s < seniors; s++) SeniorConfusion(scenario, s, k, conf.AsSpan(s * k * k, k * k));
        var copied = new int[workers];
        Array.Fill(copied, -1);
        for (int j = 0; j < juniors; j++)
        {
            int w = seniors + j;
            var row = conf.AsSpan(w * k * k, k * k);
            if (scenario.Case == ExpertCase.NaiveMajority)
            {
                // "label all data as the first class effortlessly"
                for (int y = 0; y < k; y++) row[y * k] = 1;
            }
            else
            {
                copied[w] = scenario.CopiedSeniors[j];
                conf.AsSpan(copied[w] * k * k, k * k).CopyTo(row);
            }
        }

        var names = new string[workers];
        for (int s = 0; s < seniors; s++) names[s] = "senior-" + (char)('A' + s);
        for (int j = 0; j < juniors; j++) names[seniors + j] = "junior-" + (j + 1).ToString(CultureInfo.InvariantCulture);
        var builder = new LabelMatrixBuilder(tasks, new Vocabulary(names), new Vocabulary(classes));
        // One stream, consumed item by item and only by seniors: the same seed gives the same senior labels in all
        // three cases, as the appendix requires ("all three cases have the same senior experts").
        var rng = Seeding.Random(scenario.Seed);
        var senior = new int[seniors];
        for (int t = 0; t < n; t++)
        {
            for (int s = 0; s < seniors; s++)
            {
                senior[s] = Draw(rng, conf.AsSpan((s * k + truth[t]) * k, k));
                builder.Add(t, s, senior[s]);
            }
            for (int w = seniors; w < workers; w++)
                builder.Add(t, w, copied[w] >= 0 ? senior[copied[w]] : 0);
        }
        var matrix = builder.Build(DuplicatePolicy.KeepAll).Matrix;
        return new ExpertCrowd(matrix, new GoldLabels(truth.ToArray(), k), new ConfusionMatrices(workers, k, conf), seniors,
            copied.ToImmutableArray());
    }

    /// <summary>Max-MIG's expert labels with classes named "0".."K−1".</summary>
    public ExpertCrowd Generate(IReadOnlyList<int> truth, int classes, ExpertScenario scenario, IReadOnlyList<string>? taskIds = null) =>
        Generate(truth, Vocabulary.Numbered(classes).Names, scenario, taskIds);

    /// <summary>
    /// The sparse crowd of Kim et al. (AISTATS 2022, §4.1) for items whose true classes are given: items and regular
    /// workers joined by a random (l, r)-regular bipartite graph (paper: l = 3 workers per item, r = 4 items per worker,
    /// so workers = items·3/4), each regular worker one-coin with accuracy ~ Beta(α1, (K−1)α2) (paper: Dir(2, 1), i.e.
    /// Beta(2, 1) for K = 2; mean 2/3) or, with <c>OneCoin = false</c>, Dirichlet confusion rows; plus
    /// <see cref="SparseCrowdScenario.Spammers"/> extreme spammers, each answering a share of all items uniformly at
    /// random ("labels uniformly across all tasks", §4.1). The graph comes from <see cref="SparseCrowdSimulator"/>.
    /// </summary>
    /// <param name="truth">True class of each item; its length replaces <see cref="SparseCrowdScenario.Tasks"/>
    /// (items × l must be divisible by r).</param>
    /// <param name="classes">K; replaces <see cref="SparseCrowdScenario.Classes"/>.</param>
    /// <param name="scenario">l, r, the prior, spammers and seed; adversaries are not supported here (use
    /// <see cref="SparseCrowdSimulator"/>).</param>
    /// <param name="taskIds">Item ids; null = "0", "1", ….</param>
    /// <returns>Workers 0..R−1 are the regular workers, then the spammers (named by number).</returns>
    public SimulatedCrowd SparseOneCoin(IReadOnlyList<int> truth, int classes, SparseCrowdScenario? scenario = null,
        IReadOnlyList<string>? taskIds = null)
    {
        ArgumentNullException.ThrowIfNull(truth);
        var s = (scenario ?? new SparseCrowdScenario()) with { Tasks = truth.Count, Classes = classes };
        s.Validate();
        if (s.AdversaryFraction > 0)
            throw new TallyUserException("Adversaries are not supported with given true labels; use SparseCrowdSimulator.");
        var tasks = TaskVocabulary(truth, classes, taskIds);
        int k = classes, T = s.Tasks, R = s.RegularWorkers, W = R + s.Spammers;
        var rng = Seeding.Random(s.Seed);
        var conf = new double[MemoryBudget.Length(W, k, k)];
        var alpha = new double[k];
        for (int w = 0; w < R; w++)
        {
            var m = conf.AsSpan(w * k * k, k * k);
            if (s.OneCoin)
            {
                double p = Beta.Sample(rng, s.Alpha1, (k - 1) * s.Alpha2);
                for (int j = 0; j < k; j++)
                    for (int l = 0; l < k; l++) m[j * k + l] = j == l ? p : (1 - p) / (k - 1);
            }
            else
            {
                for (int j = 0; j < k; j++)
                {
                    for (int l = 0; l < k; l++) alpha[l] = j == l ? s.Alpha1 : s.Alpha2;
                    Dirichlet.Sample(rng, alpha).AsSpan().CopyTo(m.Slice(j * k, k));
                }
            }
        }
        for (int i = R * k * k; i < conf.Length; i++) conf[i] = 1.0 / k;

        var builder = new LabelMatrixBuilder(tasks, Vocabulary.Numbered(W), Vocabulary.Numbered(k));
        foreach (var (t, w) in SparseCrowdSimulator.RegularBipartiteEdges(rng, T, R, s.PerTask, s.PerWorker))
            builder.Add(t, w, Draw(rng, conf.AsSpan((w * k + truth[t]) * k, k)));
        int spamTasks = Math.Max(1, (int)Math.Round(s.SpammerShare * T));
        var order = new int[T];
        for (int w = R; w < W; w++)
        {
            // Partial Fisher-Yates over a fresh identity: a uniform sample of spamTasks items without replacement.
            for (int i = 0; i < T; i++) order[i] = i;
            for (int i = 0; i < spamTasks; i++)
            {
                int j = i + rng.Next(T - i);
                (order[i], order[j]) = (order[j], order[i]);
                builder.Add(order[i], w, rng.Next(k));
            }
        }
        var matrix = builder.Build(DuplicatePolicy.KeepAll).Matrix;
        return new SimulatedCrowd(matrix, new GoldLabels(truth.ToArray(), k), new ConfusionMatrices(W, k, conf));
    }

    /// <summary>
    /// The scenario of Kim et al. §4.1 for K classes: l = 3, r = 4, one-coin workers whose accuracy is Beta(2, 1)
    /// (mean 2/3) whatever K is. The paper's prior Dir(2, 1) is binary; for K classes <see cref="SparseCrowdScenario"/>
    /// draws the accuracy from Beta(α1, (K−1)α2), so α2 = 1/(K−1) keeps Beta(2, 1) (with α2 = 1 a 10-class worker
    /// would be right only 2/11 of the time on average).
    /// </summary>
    /// <param name="classes">K.</param>
    /// <param name="spammers">Extreme spammers, each answering every item uniformly at random.</param>
    /// <param name="seed">Seed.</param>
    public static SparseCrowdScenario KimOneCoin(int classes, int spammers = 0, int seed = 0) => new()
    {
        PerTask = 3,
        PerWorker = 4,
        Classes = classes,
        Alpha1 = 2,
        Alpha2 = 1.0 / Math.Max(1, classes - 1),
        OneCoin = true,
        Spammers = spammers,
        SpammerShare = 1.0,
        Seed = seed,
    };

    /// <summary>Fills senior <paramref name="s"/>'s K×K confusion matrix (row = true class).</summary>
    private static void SeniorConfusion(ExpertScenario sc, int s, int k, Span<double> m)
    {
        m.Clear();
        if (sc.Profile is ExpertProfile.DogsVsCats or ExpertProfile.Luna16)
        {
            // Accuracy given class 0 and given class 1. The paper lists Dogs vs. Cats as dog/cat = class 1/class 0 and
            // LUNA16 as benign/malignant = class 0/class 1.
            (double c0, double c1) acc = (sc.Profile, sc.Expertise) switch
            {
                (ExpertProfile.DogsVsCats, Expertise.Low) => (0.55, 0.55),
                (ExpertProfile.DogsVsCats, _) => s switch { 0 => (0.8, 0.6), 1 => (0.6, 0.6), 2 => (0.6, 0.9), 3 => (0.7, 0.7), _ => (0.7, 0.6) },
                (_, Expertise.Low) => (0.6, 0.6),
                _ => s switch { 0 => (0.6, 0.9), 1 => (0.7, 0.7), 2 => (0.9, 0.6), 3 => (0.6, 0.7), _ => (0.7, 0.6) },
            };
            m[0] = acc.c0; m[1] = 1 - acc.c0;
            m[2] = 1 - acc.c1; m[3] = acc.c1;
            return;
        }
        if (sc.Expertise == Expertise.Low)
        {
            for (int j = 0; j < k; j++)
                for (int l = 0; l < k; l++) m[j * k + l] = j == l ? 0.2 : 0.8 / (k - 1);
            return;
        }
        // (H): perfect outside the hard pairs; inside a pair (a, b) the behaviour depends on the expert.
        for (int j = 0; j < k; j++) m[j * k + j] = 1;
        var pairs = sc.HardPairs ?? ExpertScenario.Cifar10HardPairs;
        for (int p = 0; p < pairs.Count; p++)
        {
            var (a, b) = pairs[p];
            bool firstGroup = p < sc.FirstGroupPairs;
            var behaviour = s switch
            {
                0 => PairBehaviour.Same,
                1 => PairBehaviour.Uniform,
                2 => firstGroup ? PairBehaviour.Correct : PairBehaviour.Uniform,
                3 => firstGroup ? PairBehaviour.Same : PairBehaviour.Correct,
                _ => PairBehaviour.Sixty,
            };
            foreach (int y in (ReadOnlySpan<int>)[a, b])
            {
                int other = y == a ? b : a;
                m[y * k + y] = 0;
                switch (behaviour)
                {
                    case PairBehaviour.Correct: m[y * k + y] = 1; break;
                    case PairBehaviour.Same: m[y * k + a] = 1; break;
                    case PairBehaviour.Uniform: m[y * k + a] = 0.5; m[y * k + b] = 0.5; break;
                    default: m[y * k + y] = 0.6; m[y * k + other] = 0.4; break;
                }
            }
        }
    }

    private enum PairBehaviour { Correct, Same, Uniform, Sixty }

    private static Vocabulary TaskVocabulary(IReadOnlyList<int> truth, int k, IReadOnlyList<string>? taskIds)
    {
        for (int t = 0; t < truth.Count; t++)
            if (truth[t] < 0 || truth[t] >= k)
                throw new ArgumentException($"True label {truth[t]} of item {t} is not a class index below {k}.", nameof(truth));
        if (truth.Count == 0) throw new ArgumentException("There are no items.", nameof(truth));
        if (taskIds is null) return Vocabulary.Numbered(truth.Count);
        if (taskIds.Count != truth.Count)
            throw new ArgumentException($"{taskIds.Count} item ids for {truth.Count} true labels.", nameof(taskIds));
        return new Vocabulary(taskIds);
    }

    /// <summary>A class drawn from a probability row; never one of probability 0, even when rounding leaves the
    /// running sum a hair below 1.</summary>
    private static int Draw(Random rng, ReadOnlySpan<double> row)
    {
        double u = rng.NextDouble(), c = 0;
        int last = 0;
        for (int l = 0; l < row.Length; l++)
        {
            if (row[l] <= 0) continue;
            last = l;
            c += row[l];
            if (u < c) return l;
        }
        return last;
    }
}
