using Tally.Core;
using MathNet.Numerics.Distributions;
using MathNet.Numerics.Integration;
using MathNet.Numerics.RootFinding;

namespace Tally.Sharing;

/// <summary>Options of <see cref="CollaborativeMeanMechanism"/>.</summary>
public sealed record SharingOptions
{
    /// <summary>
    /// Target relative error of the adaptive Gauss–Kronrod quadrature for the expectations over Z ~ N(0, 1).
    /// Default 1e-12: a fixed Gauss–Hermite rule is off by ~3e-4 relative at m = 5 (the integrand has a narrow
    /// peak at Z = 0 when α is large), which moves α in the fourth digit.
    /// </summary>
    public double QuadratureTolerance { get; init; } = 1e-12;

    /// <summary>Required |G(α)| (first-order-condition residual) at the returned α. Default 1e-8.</summary>
    public double FirstOrderTolerance { get; init; } = 1e-8;
}

/// <summary>The data one agent receives from the mechanism (immutable).</summary>
/// <param name="Z">n* raw points sampled uniformly without replacement from the other agents' submissions.</param>
/// <param name="ZPrime">
/// The other agents' remaining points, each plus independent N(0, η²) noise. Empty when η² = ∞ (the noisy
/// copies would carry no information, and ±∞ values would poison any arithmetic).
/// </param>
/// <param name="EtaSquared">
/// η² = α²(mean(Y_i) − mean(Z_i))²; +∞ when the agent submitted nothing (or nobody else did, so there is no Z_i).
/// </param>
public sealed record Allocation(IReadOnlyList<double> Z, IReadOnlyList<double> ZPrime, double EtaSquared)
{
    /// <summary>Weight 1/(1 + η²/σ²) of each Z' point in the recommended estimator; 0 when η² = ∞.</summary>
    public double NoisyWeight(double sigma) =>
        double.IsPositiveInfinity(EtaSquared) ? 0 : 1 / (1 + EtaSquared / (sigma * sigma));
}

/// <summary>
/// The truthful, efficient data-sharing mechanism of Y. Chen, J. Zhu and K. Kandasamy, "Mechanism design for
/// collaborative normal mean estimation", NeurIPS 2023 (Algorithm 1). Every agent is asked to collect
/// n* = σ/√(c·m) samples and submit them. Agent i receives Z_i (n* raw points of the others), the others' remaining
/// points Z'_i corrupted by N(0, η_i²) noise with η_i² = α²(mean(Y_i) − mean(Z_i))², and η_i². Since the noise grows
/// with the gap between her submission and an honest sample of the others, lying or collecting too little only
/// degrades what she gets back; α is tuned so that collecting exactly n* is a best response.
/// </summary>
public sealed class CollaborativeMeanMechanism
{
    /// <summary>Creates the mechanism for a problem, solving for α once.</summary>
    public CollaborativeMeanMechanism(SharingProblem problem, SharingOptions? options = null)
    {
        Problem = problem ?? throw new ArgumentNullException(nameof(problem));
        Options = options ?? new SharingOptions();
        NoiseScale = Alpha(problem, Options);
    }

    /// <summary>The problem.</summary>
    public SharingProblem Problem { get; }

    /// <summary>The options in use.</summary>
    public SharingOptions Options { get; }

    /// <summary>α used in η² = α²(mean(Y_i) − mean(Z_i))² (see <see cref="Alpha"/>).</summary>
    public double NoiseScale { get; }

    /// <summary>Recommended integer sample size (n* rounded, at least 1); also the size of every Z_i.</summary>
    public int RecommendedSampleSize => Problem.RecommendedSampleSize;

    /// <summary>
    /// Expected squared error R(n) of the recommended estimator for an agent who collects and truthfully submits n
    /// samples while the others collect <paramref name="othersSampleSize"/> each (Z_i has that many points too):
    /// R(n) = E_{Z~N(0,1)}[ 1 / ( (m−2)n*/(σ² + α²(σ²/n + σ²/n*)Z²) + (n + n*)/σ² ) ].
    /// Why: given the data, mean(Y_i) − mean(Z_i) ~ N(0, σ²/n + σ²/n*) independently of the pooled estimate's
    /// error, so η² = α²(σ²/n + σ²/n*)Z²; given η², the estimator is the precision-weighted mean of n + n* exact
    /// points (precision 1/σ²) and (m−2)n* noisy ones (precision 1/(σ² + η²)), whose variance is 1/(total precision).
    /// Does not depend on μ, so it is also the worst case over μ.
    /// </summary>
    public static double ExpectedError(SharingProblem problem, double alpha, double n, double othersSampleSize,
        SharingOptions? options = null)
    {
        if (!(n > 0)) throw new ArgumentException($"n must be positive (got {n}).", nameof(n));
        double s2 = problem.Sigma * problem.Sigma, ns = othersSampleSize, a = (problem.Agents - 2) * ns;
        double v = alpha * alpha * s2 * (1 / n + 1 / ns);
        return GaussianExpectation(z => 1 / (a / (s2 + v * z * z) + (n + ns) / s2), options ?? new SharingOptions());
    }

    /// <summary>
    /// The first-order condition G(α) = −R'(n*) − c, with R as in <see cref="ExpectedError"/> evaluated at
    /// n = n* = σ/√(c·m) (continuous). d/dn of the total precision D is A·α²σ²Z²/(n²(σ² + η²)²) + 1/σ²
    /// (collecting more both adds exact points and shrinks the noise on Z'), so −R'(n) = E[D'/D²].
    /// </summary>
    public static double FirstOrderResidual(SharingProblem problem, double alpha, SharingOptions? options = null)
    {
        double s2 = problem.Sigma * problem.Sigma, ns = problem.ContinuousSampleSize, n = ns;
        double a = (problem.Agents - 2) * ns, k = alpha * alpha * s2 * (1 / n + 1 / ns);
        double d = GaussianExpectation(z =>
        {
            double den = s2 + k * z * z;
            double total = a / den + (n + ns) / s2;
            double dTotal = a * alpha * alpha * s2 * z * z / (n * n * den * den) + 1 / s2;
            return dTotal / (total * total);
        }, options ?? new SharingOptions());
        return d - problem.Cost;
    }

    /// <summary>
    /// α: the smallest value above √n* (n* continuous) at which G(α) = 0, i.e. at which the agent's penalty
    /// R(n) + c·n has zero slope at n = n*. α² ≥ n* is the paper's condition that makes misreporting unprofitable;
    /// G = 0 makes collecting n* optimal. Found by expanding a bracket geometrically from √n* until G changes sign,
    /// then Brent's method; the quadrature is adaptive so the residual is below <see cref="SharingOptions.FirstOrderTolerance"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">No root was found (should not happen for m ≥ 5).</exception>
    public static double Alpha(SharingProblem problem, SharingOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(problem);
        options ??= new SharingOptions();
        double lo = Math.Sqrt(problem.ContinuousSampleSize);
        double gLo = FirstOrderResidual(problem, lo, options);
        if (gLo == 0) return lo;
        double hi = lo;
        bool found = false;
        for (int step = 0; step < 200 && !found; step++)
        {
            double next = hi * 1.25, gNext = FirstOrderResidual(problem, next, options);
            if (Math.Sign(gNext) != Math.Sign(gLo)) found = true;
            else { lo = next; gLo = gNext; }
            hi = next;
        }
        if (!found)
            throw new InvalidOperationException(
                $"No α above √n* solves the first-order condition for m = {problem.Agents}, σ = {problem.Sigma}, c = {problem.Cost}.");
        double root = Brent.FindRoot(x => FirstOrderResidual(problem, x, options), lo, hi, 1e-13, 200);
        double residual = FirstOrderResidual(problem, root, options);
        if (!(Math.Abs(residual) <= options.FirstOrderTolerance))
            throw new InvalidOperationException($"α = {root} leaves a first-order residual {residual:E2} above tolerance.");
        return root;
    }

    /// <summary>
    /// The integer sample size minimising R(n) + c·n when the others collect the (integer) recommended size and α
    /// is this mechanism's: with non-integer n* the rounded size need not be exactly a best response, so report it.
    /// n = 0 (free-riding: η² = ∞, she keeps only Z) is included, with error σ²/n*; when c is so large that n* &lt; 1
    /// is rounded up to 1, free-riding can be the best response.
    /// </summary>
    public int IntegerBestResponse()
    {
        int ns = RecommendedSampleSize, best = 0;
        double bestPenalty = Problem.Sigma * Problem.Sigma / ns;
        for (int n = 1; n <= 4 * ns + 4; n++)
        {
            double p = ExpectedError(Problem, NoiseScale, n, ns, Options) + Problem.Cost * n;
            if (p < bestPenalty) { bestPenalty = p; best = n; }
        }
        return best;
    }

    /// <summary>
    /// Runs the mechanism on every agent's submission (agent i's list Y_i; may be empty).
    /// </summary>
    /// <param name="submissions">One list of reported sample values per agent; must have exactly m lists of finite values.</param>
    /// <param name="seed">
    /// Seed of the choice of Z_i and of the noise on Z'_i. Agent i draws from her own stream of it
    /// (<see cref="Seeding"/>), so her allocation depends on the seed, her index and the submissions only — not on
    /// the order in which allocations are computed.
    /// </param>
    public IReadOnlyList<Allocation> Allocate(IReadOnlyList<IReadOnlyList<double>> submissions, int seed = 0)
    {
        ValidateSubmissions(submissions);
        ulong baseSeed = Seeding.Base(seed);
        var result = new Allocation[submissions.Count];
        var rng = new SplitMixRandom(0);
        for (int i = 0; i < submissions.Count; i++)
        {
            rng.Reset(Seeding.Stream(baseSeed, (ulong)i));
            result[i] = AllocateFor(i, submissions, rng);
        }
        return Array.AsReadOnly(result);
    }

    internal void ValidateSubmissions(IReadOnlyList<IReadOnlyList<double>> submissions)
    {
        ArgumentNullException.ThrowIfNull(submissions);
        if (submissions.Count != Problem.Agents)
            throw new TallyUserException($"expected {Problem.Agents} submissions (one per agent), got {submissions.Count}");
        for (int i = 0; i < submissions.Count; i++)
        {
            if (submissions[i] is null) throw new ArgumentException($"Submission of agent {i} is null (use an empty list).", nameof(submissions));
            foreach (double y in submissions[i])
                if (!double.IsFinite(y)) throw new TallyUserException($"the submission of agent {i} contains a non-finite value {NumberFormat.Number(y)}");
        }
    }

    /// <summary>Agent i's allocation (no validation; the lab calls this for one agent only).</summary>
    internal Allocation AllocateFor(int i, IReadOnlyList<IReadOnlyList<double>> submissions, Random rng)
    {
        var others = new List<double>();
        for (int j = 0; j < submissions.Count; j++) if (j != i) others.AddRange(submissions[j]);
        // Partial Fisher–Yates: the first k entries become a uniform sample without replacement.
        int k = Math.Min(RecommendedSampleSize, others.Count);
        for (int t = 0; t < k; t++)
        {
            int r = t + rng.Next(others.Count - t);
            (others[t], others[r]) = (others[r], others[t]);
        }
        var z = others.GetRange(0, k).ToArray();
        var own = submissions[i];
        double eta2 = own.Count == 0 || k == 0
            ? double.PositiveInfinity
            : Square(NoiseScale * (Mean(own) - Mean(z)));
        double[] zPrime;
        if (double.IsPositiveInfinity(eta2)) zPrime = [];
        else
        {
            double sd = Math.Sqrt(eta2);
            zPrime = new double[others.Count - k];
            for (int t = 0; t < zPrime.Length; t++)
                zPrime[t] = others[k + t] + (sd > 0 ? Normal.Sample(rng, 0, sd) : 0);
        }
        return new Allocation(Array.AsReadOnly(z), Array.AsReadOnly(zPrime), eta2);
    }

    /// <summary>
    /// The recommended estimator: (Σ_{X ∪ Z} u + w Σ_{Z'} u) / (|X| + |Z| + w|Z'|) with w = 1/(1 + η²/σ²) — the
    /// precision-weighted mean, since a Z' point has variance σ² + η² against σ² for a raw point.
    /// </summary>
    /// <exception cref="ArgumentException">σ not positive, or no data at all (no own points, Z and usable Z').</exception>
    public static double RecommendedEstimate(IReadOnlyList<double> own, Allocation allocation, double sigma)
    {
        ArgumentNullException.ThrowIfNull(own);
        ArgumentNullException.ThrowIfNull(allocation);
        if (!(sigma > 0) || double.IsInfinity(sigma)) throw new ArgumentException($"σ must be positive and finite (got {sigma}).", nameof(sigma));
        double w = allocation.NoisyWeight(sigma);
        double sum = 0, weight = own.Count + allocation.Z.Count;
        foreach (double x in own) sum += x;
        foreach (double x in allocation.Z) sum += x;
        if (w > 0)
        {
            foreach (double x in allocation.ZPrime) sum += w * x;
            weight += w * allocation.ZPrime.Count;
        }
        if (!(weight > 0)) throw new ArgumentException("No data to estimate from: no own points and an empty allocation.", nameof(allocation));
        return sum / weight;
    }

    private static double GaussianExpectation(Func<double, double> f, SharingOptions options)
    {
        // The integrand f(z)φ(z) is even; beyond |z| = 13 φ < 1e-36, far below any tolerance. Splitting at 1 and 4
        // keeps the adaptive rule from missing the narrow peak at 0 when α is large.
        double g(double z) => f(z) * Math.Exp(-0.5 * z * z) / Math.Sqrt(2 * Math.PI);
        double total = 0;
        double[] cuts = [0, 1, 4, 13];
        for (int s = 0; s + 1 < cuts.Length; s++)
            total += GaussKronrodRule.Integrate(g, cuts[s], cuts[s + 1], out _, out _, options.QuadratureTolerance, 20, 21);
        return 2 * total;
    }

    internal static double Mean(IReadOnlyList<double> xs)
    {
        double s = 0;
        foreach (double x in xs) s += x;
        return s / xs.Count;
    }

    private static double Square(double x) => x * x;
}
