using Tally.Core;
using System.Collections.Immutable;
using System.Runtime.InteropServices;
using MathNet.Numerics.LinearAlgebra;

namespace Tally.Robust;

/// <summary>Options of <see cref="RobustBatchDistributionEstimator"/>.</summary>
public sealed record RobustBatchOptions
{
    /// <summary>
    /// β, an upper bound on the fraction of adversarial batches, in (0, 1/2). It only sets the stopping threshold
    /// (see <see cref="ThresholdConstant"/>); a bound that is too small makes the filter run longer (more honest
    /// batches lose weight), one that is too large lets a subtle adversary stay. Default 0.1.
    /// </summary>
    public double AdversaryFraction { get; init; } = 0.1;

    /// <summary>
    /// C in the stopping threshold τ = C · (β ln(1/β) + √(D/N)) / k̄, where k̄ is the (weighted harmonic) mean batch
    /// size, D the domain size and N the number of batches. The filter stops once the largest excess variance of the
    /// batch frequencies over the multinomial variance, along the worst direction, is at most τ. Why this form: an
    /// adversary holding a β share of the weight that moves the mean by δ along a direction adds ≈ δ²/β excess
    /// variance there, so excess ≤ τ caps δ at √(βτ) ≈ β √(ln(1/β)) / √k̄ — the O(β/√k) rate up to logs; the √(D/N)
    /// term is the sampling fluctuation of N honest variances maximised over directions, so that honest noise alone
    /// does not keep the filter going. Default 0.3, measured (RobustBatchTests, D = 8, N = 1000, k = 50, β = 0.1):
    /// clean batches keep 100% of their weight for every C ≥ 0.1; against an adversary shifting δ = 1.5/√k
    /// (at the detection limit) TV is 0.0068 / 0.0130 / 0.0229 (= plain mean) at C = 0.1 / 0.3 / 1, spending
    /// 8.4% / 4.4% / 0% of the honest weight; point-mass adversaries are removed for any C ≤ 3.
    /// </summary>
    public double ThresholdConstant { get; init; } = 0.3;

    /// <summary>
    /// Largest domain searched exhaustively over subsets (2^(D−1) subset indicators per iteration, TV-optimal);
    /// larger domains use the top eigenvector of the excess covariance (ℓ2-worst direction; the TV guarantee then
    /// degrades by up to √D). Default 16 (32 768 subsets per iteration).
    /// </summary>
    public int ExhaustiveMaxDomain { get; init; } = 16;

    /// <summary>
    /// Never filter below this share of the initial total weight: the model assumes fewer than half the batches are
    /// adversarial, so if the filter has had to remove more, the excess is honest structure it cannot explain and more
    /// filtering would only discard honest data. Default 0.5.
    /// </summary>
    public double MinRetainedWeight { get; init; } = 0.5;

    /// <summary>Iteration limit (each iteration zeroes at least one batch, so N iterations always suffice). Default 1000.</summary>
    public int MaxIterations { get; init; } = 1000;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> for impossible values.</summary>
    public void Validate()
    {
        if (!(AdversaryFraction > 0 && AdversaryFraction < 0.5))
            throw new InvalidOptionException(nameof(AdversaryFraction), $"must be in (0, 1/2) (got {NumberFormat.Number(AdversaryFraction)})");
        Check.Above(ThresholdConstant, 0, nameof(ThresholdConstant));
        Check.InRange(ExhaustiveMaxDomain, 0, 24, nameof(ExhaustiveMaxDomain));
        if (!(MinRetainedWeight > 0 && MinRetainedWeight <= 1))
            throw new InvalidOptionException(nameof(MinRetainedWeight), $"must be in (0, 1] (got {NumberFormat.Number(MinRetainedWeight)})");
        Check.AtLeast(MaxIterations, 0, nameof(MaxIterations));
    }
}

/// <summary>What <see cref="RobustBatchDistributionEstimator"/> concluded.</summary>
/// <param name="Distribution">The estimated distribution over the domain (non-negative, sums to 1).</param>
/// <param name="BatchWeights">Final weight of each batch in [0, 1] (1 = untouched, 0 = discarded; empty batches 0).</param>
/// <param name="Iterations">Filtering iterations run.</param>
/// <param name="ExcessVariance">Excess variance along the worst direction when the filter stopped.</param>
/// <param name="Threshold">The stopping threshold τ used.</param>
/// <param name="Converged">True if the filter stopped because the excess fell under τ (not an iteration or weight limit).</param>
public sealed record RobustBatchEstimate(ImmutableArray<double> Distribution, ImmutableArray<double> BatchWeights,
    int Iterations, double ExcessVariance, double Threshold, bool Converged);

/// <summary>
/// Robust estimation of a discrete distribution from batches: N batches of samples over a domain of size D, at most
/// a β fraction of the batches written by an adversary, the rest each k i.i.d. draws from P. Soft filtering: with
/// weights ω (initially 1), the weighted mean p̂ and covariance of the batch frequency vectors are compared with the
/// covariance honest batches would have, Σᵢ ωᵢ (diag(p̂) − p̂p̂ᵀ)/kᵢ / Σ ω; along the direction where the excess is
/// largest (the subset S of the domain maximising 1_Sᵀ E 1_S when D ≤ <see cref="RobustBatchOptions.ExhaustiveMaxDomain"/>,
/// otherwise the top eigenvector of E), each batch gets a score = its squared projection minus its expected
/// variance, and weights shrink by ωᵢ ← ωᵢ (1 − scoreᵢ / max score); repeat until the excess is under
/// τ (see <see cref="RobustBatchOptions.ThresholdConstant"/>). Output: the final weighted mean, TV error
/// O(β √(log(1/β)) / √k) against the subset-indicator directions.
/// Follows A. Jain and A. Orlitsky, "Optimal robust learning of discrete distributions from batches", ICML 2020,
/// and S. Chen, J. Li and E. Price, "Learning structured distributions from untrusted batches: faster and
/// simpler", NeurIPS 2020 (their filter on the A_K / subset norm); soft down-weighting as in the filter of
/// Diakonikolas, Kamath, Kane, Li, Moitra and Stewart, "Robust estimators in high dimensions without the
/// computational intractability", FOCS 2016. Used as the batch learner L^batch of Schoenebeck and Yu et al.,
/// "Information Elicitation from Rowdy Crowds", WWW 2021, Theorem 3.2. Batches may differ in size.
/// </summary>
public sealed class RobustBatchDistributionEstimator(RobustBatchOptions? options = null)
{
    /// <summary>The options in use.</summary>
    public RobustBatchOptions Options { get; } = options ?? new RobustBatchOptions();

    /// <summary>Estimates P from batches of samples (each value in [0, <paramref name="domainSize"/>)).</summary>
    public RobustBatchEstimate Estimate(int[][] batches, int domainSize)
    {
        ArgumentNullException.ThrowIfNull(batches);
        var counts = CountsOf(batches, domainSize);
        return Estimate(counts, batches.Length, domainSize);
    }

    /// <summary>Estimates P from an N × D row-major matrix of (non-negative, possibly fractional) counts, one row per batch.</summary>
    public RobustBatchEstimate Estimate(ReadOnlySpan<double> counts, int batchCount, int domainSize)
    {
        Options.Validate();
        if (domainSize < 1) throw new ArgumentOutOfRangeException(nameof(domainSize));
        if (counts.Length != (long)batchCount * domainSize) throw new ArgumentException("counts must hold batchCount × domainSize values.", nameof(counts));
        int n = batchCount, d = domainSize;
        var freq = new double[MemoryBudget.Length(n, d)];
        var invSize = new double[n];
        var weight = new double[n];
        for (int i = 0; i < n; i++)
        {
            double size = 0;
            for (int c = 0; c < d; c++)
            {
                double x = counts[i * d + c];
                if (!(x >= 0) || double.IsInfinity(x)) throw new ArgumentException($"Count {x} of batch {i} is not a finite non-negative number.", nameof(counts));
                size += x;
            }
            if (size <= 0) continue; // an empty batch says nothing; weight stays 0
            weight[i] = 1;
            invSize[i] = 1 / size;
            for (int c = 0; c < d; c++) freq[i * d + c] = counts[i * d + c] / size;
        }
        return Filter(freq, invSize, weight, n, d);
    }

    /// <summary>The non-robust baseline: the plain mean of the batch frequency vectors (empty batches skipped; uniform if all are).</summary>
    public static double[] PlainAverage(ReadOnlySpan<double> counts, int batchCount, int domainSize)
    {
        var p = new double[domainSize];
        int used = 0;
        for (int i = 0; i < batchCount; i++)
        {
            var row = counts.Slice(i * domainSize, domainSize);
            double size = 0;
            foreach (var x in row) size += x;
            if (size <= 0) continue;
            for (int c = 0; c < domainSize; c++) p[c] += row[c] / size;
            used++;
        }
        Core.Numerics.Normalize(p);
        return p;
    }

    /// <summary>Counts matrix (N × D, row-major) of batches of samples.</summary>
    public static double[] CountsOf(int[][] batches, int domainSize)
    {
        var counts = new double[MemoryBudget.Length(batches.Length, domainSize)];
        for (int i = 0; i < batches.Length; i++)
            foreach (int x in batches[i])
            {
                if ((uint)x >= (uint)domainSize) throw new ArgumentOutOfRangeException(nameof(batches), $"Sample {x} of batch {i} is outside [0, {domainSize}).");
                counts[i * domainSize + x]++;
            }
        return counts;
    }

    /// <summary>Total-variation distance between two distributions on the same domain.</summary>
    public static double TotalVariation(ReadOnlySpan<double> p, ReadOnlySpan<double> q)
    {
        if (p.Length != q.Length) throw new ArgumentException("Domains differ.");
        double s = 0;
        for (int i = 0; i < p.Length; i++) s += Math.Abs(p[i] - q[i]);
        return s / 2;
    }

    private RobustBatchEstimate Filter(double[] freq, double[] invSize, double[] weight, int n, int d)
    {
        var o = Options;
        double beta = o.AdversaryFraction;
        double initialWeight = 0;
        for (int i = 0; i < n; i++) initialWeight += weight[i];
        var p = new double[d];
        if (initialWeight == 0)
        {
            Array.Fill(p, 1.0 / d);
            return new RobustBatchEstimate(Wrap(p), Wrap(weight), 0, 0, 0, true);
        }
        var excess = new double[MemoryBudget.Length(d, d)];
        var direction = new double[d];
        var score = new double[n];
        var rowSum = new double[d];
        bool exhaustive = d <= o.ExhaustiveMaxDomain;
        int it = 0;
        bool converged = false;
        double worst = 0, tau = 0;
        while (true)
        {
            double total = WeightedMean(freq, invSize, weight, n, d, p, out double meanInvSize);
            // τ uses the current weights' mean 1/k so a filter that removed the small (noisy) batches tightens it.
            tau = o.ThresholdConstant * (beta * Math.Log(1 / beta) + Math.Sqrt((double)d / Math.Max(1, CountPositive(weight)))) * meanInvSize;
            ExcessCovariance(freq, weight, total, meanInvSize, n, d, p, excess);
            worst = exhaustive ? WorstSubset(excess, d, direction, rowSum) : TopEigenvector(excess, d, direction);
            if (worst <= tau) { converged = true; break; }
            if (it >= o.MaxIterations || total <= o.MinRetainedWeight * initialWeight) break;
            // Direction variance of one honest draw: vᵀ(diag p − p pᵀ)v; a batch of size k has 1/k of it.
            double vp = 0, vvp = 0;
            for (int c = 0; c < d; c++) { vp += direction[c] * p[c]; vvp += direction[c] * direction[c] * p[c]; }
            double unitVar = Math.Max(0, vvp - vp * vp);
            double maxScore = 0;
            for (int i = 0; i < n; i++)
            {
                if (weight[i] <= 0) { score[i] = 0; continue; }
                double z = -vp;
                var f = freq.AsSpan(i * d, d);
                for (int c = 0; c < d; c++) z += direction[c] * f[c];
                score[i] = Math.Max(0, z * z - unitVar * invSize[i]);
                if (score[i] > maxScore) maxScore = score[i];
            }
            if (!(maxScore > 0)) break; // excess without any batch above its expected spread: nothing left to filter
            for (int i = 0; i < n; i++)
                if (weight[i] > 0) weight[i] *= 1 - score[i] / maxScore;
            it++;
        }
        // The weighted mean is a convex combination of frequency vectors, hence already a distribution; renormalise for rounding.
        WeightedMean(freq, invSize, weight, n, d, p, out _);
        Core.Numerics.Normalize(p);
        return new RobustBatchEstimate(Wrap(p), Wrap(weight), it, worst, tau, converged);
    }

    private static int CountPositive(double[] w)
    {
        int c = 0;
        foreach (var x in w) if (x > 0) c++;
        return c;
    }

    /// <summary>Weighted mean frequency into p; returns the total weight and the weighted mean of 1/kᵢ.</summary>
    private static double WeightedMean(double[] freq, double[] invSize, double[] weight, int n, int d, double[] p, out double meanInvSize)
    {
        Array.Clear(p);
        double total = 0;
        meanInvSize = 0;
        for (int i = 0; i < n; i++)
        {
            double w = weight[i];
            if (w <= 0) continue;
            total += w;
            meanInvSize += w * invSize[i];
            var f = freq.AsSpan(i * d, d);
            for (int c = 0; c < d; c++) p[c] += w * f[c];
        }
        if (total <= 0) { Array.Fill(p, 1.0 / d); return 0; }
        for (int c = 0; c < d; c++) p[c] /= total;
        meanInvSize /= total;
        return total;
    }

    /// <summary>E = weighted covariance of the frequencies − weighted mean of (diag p − p pᵀ)/kᵢ.</summary>
    private static void ExcessCovariance(double[] freq, double[] weight, double total, double meanInvSize, int n, int d,
        double[] p, double[] excess)
    {
        Array.Clear(excess);
        Span<double> centred = d <= 256 ? stackalloc double[d] : new double[d];
        for (int i = 0; i < n; i++)
        {
            double w = weight[i];
            if (w <= 0) continue;
            for (int c = 0; c < d; c++) centred[c] = freq[i * d + c] - p[c];
            for (int a = 0; a < d; a++)
            {
                double wa = w * centred[a];
                if (wa == 0) continue;
                var row = excess.AsSpan(a * d, d);
                for (int b = a; b < d; b++) row[b] += wa * centred[b];
            }
        }
        double inv = total > 0 ? 1 / total : 0;
        for (int a = 0; a < d; a++)
            for (int b = a; b < d; b++)
            {
                double model = ((a == b ? p[a] : 0) - p[a] * p[b]) * meanInvSize;
                double e = excess[a * d + b] * inv - model;
                excess[a * d + b] = e;
                excess[b * d + a] = e;
            }
    }

    /// <summary>
    /// Max over subsets S of 1_Sᵀ E 1_S (S and its complement score the same because frequencies sum to 1, so the last
    /// element is left out); walks the subsets in Gray-code order so each step costs O(D). Writes 1_S to direction.
    /// </summary>
    private static double WorstSubset(double[] e, int d, double[] direction, double[] rowSum)
    {
        Array.Clear(direction);
        if (d < 2) return 0;
        Array.Clear(rowSum); // rowSum[i] = Σ_{l∈S} E[i, l]
        int free = d - 1;
        long count = 1L << free;
        long bestCode = 0, current = 0;
        double scoreS = 0, best = double.NegativeInfinity;
        for (long g = 1; g < count; g++)
        {
            int j = System.Numerics.BitOperations.TrailingZeroCount(g);
            bool adding = (current & (1L << j)) == 0;
            if (adding)
            {
                scoreS += 2 * rowSum[j] + e[j * d + j];
                for (int i = 0; i < d; i++) rowSum[i] += e[i * d + j];
            }
            else
            {
                for (int i = 0; i < d; i++) rowSum[i] -= e[i * d + j];
                scoreS -= 2 * rowSum[j] + e[j * d + j];
            }
            current ^= 1L << j;
            if (scoreS > best) { best = scoreS; bestCode = current; }
        }
        for (int i = 0; i < free; i++) if ((bestCode & (1L << i)) != 0) direction[i] = 1;
        return best;
    }

    /// <summary>Largest eigenvalue of the symmetric matrix E and its unit eigenvector.</summary>
    private static double TopEigenvector(double[] e, int d, double[] direction)
    {
        var m = Matrix<double>.Build.Dense(d, d, (i, j) => e[i * d + j]);
        var evd = m.Evd(Symmetricity.Symmetric);
        int best = 0;
        for (int i = 1; i < d; i++) if (evd.EigenValues[i].Real > evd.EigenValues[best].Real) best = i;
        double norm = 0;
        for (int c = 0; c < d; c++) { direction[c] = evd.EigenVectors[c, best]; norm += direction[c] * direction[c]; }
        norm = Math.Sqrt(norm);
        if (!(norm > 0) || !double.IsFinite(norm)) { Array.Clear(direction); return 0; }
        for (int c = 0; c < d; c++) direction[c] /= norm;
        double lambda = evd.EigenValues[best].Real;
        return double.IsFinite(lambda) ? lambda : 0;
    }

    private static ImmutableArray<double> Wrap(double[] a) => ImmutableCollectionsMarshal.AsImmutableArray(a);
}
