using System.Collections.Immutable;
using System.Runtime.InteropServices;
using MathNet.Numerics.Distributions;
using MathNet.Numerics.LinearAlgebra;


namespace Tally.Core;

/// <summary>Options of <see cref="TensorDecomposition"/>.</summary>
public sealed record TensorDecompositionOptions
{
    /// <summary>L, random starting vectors per component (the best, by T(θ,θ,θ), is kept). Default 20.</summary>
    public int Restarts { get; init; } = 20;
    /// <summary>N, power iterations per start, and again for the kept start. Default 50 (the method converges quadratically; 50 is ample for K ≤ 20).</summary>
    public int Iterations { get; init; } = 50;
    /// <summary>Seed of the random starts.</summary>
    public int Seed { get; init; }
    /// <summary>
    /// The K-th eigenvalue of M2 must be at least this times the first, or whitening is declared impossible (M2 not of
    /// rank K: a class the crowd cannot tell apart, or too little data). Default 1e-8.
    /// </summary>
    public double RankTolerance { get; init; } = 1e-8;
    /// <summary>Project the weights and every mean onto the probability simplex (Euclidean projection). Default true.</summary>
    public bool ProjectToSimplex { get; init; } = true;
}

/// <summary>What <see cref="TensorDecomposition"/> recovered.</summary>
/// <param name="Weights">Component weights w (on the simplex when projected).</param>
/// <param name="Means">K × D matrix: row y is the conditional mean μ_y of one view given component y (for one-hot
/// reports, row y of Γ: the answer distribution given class y).</param>
/// <param name="Eigenvalues">The whitened tensor's eigenvalues λ_y = 1/√w_y, in extraction order.</param>
/// <param name="Success">False if whitening or the power method failed; the other fields are then a neutral fallback
/// (uniform weights, uniform means).</param>
public sealed record SymmetricTensorModel(ImmutableArray<double> Weights, RowMatrix Means, ImmutableArray<double> Eigenvalues, bool Success);

/// <summary>
/// Method-of-moments recovery of a mixture of K product distributions with identical views (e.g. the symmetric
/// Dawid-Skene model): given M2 = Σ_y w_y μ_y μ_yᵀ (D × D) and M3 = Σ_y w_y μ_y⊗μ_y⊗μ_y (D × D × D), whiten with
/// Q = U_K Λ_K^(−1/2) from the top-K eigenpairs of M2 (so QᵀM2Q = I), decompose the whitened tensor
/// T = M3(Q, Q, Q) = Σ_y λ_y v_y^{⊗3} (orthogonal, λ_y = 1/√w_y) by the robust tensor power method with random
/// restarts and deflation, and map back: w_y = λ_y^(−2), μ_y = λ_y (Qᵀ)⁺ v_y = λ_y U_K Λ_K^(1/2) v_y.
/// A. Anandkumar, R. Ge, D. Hsu, S. M. Kakade and M. Telgarsky, "Tensor decompositions for learning latent variable
/// models", JMLR 15, 2014, Algorithm 1 and Theorem 4.3 (Section 4.3 whitening); as used in Schoenebeck and Yu et al.,
/// "Information Elicitation from Rowdy Crowds", WWW 2021, Mechanism 3 stage 1 (§6.2, eqs. (9)–(10)).
/// The order of the recovered components is arbitrary; <see cref="AlignToDiagonal"/> matches them to classes.
/// </summary>
public sealed class TensorDecomposition(TensorDecompositionOptions? options = null)
{
    /// <summary>The options in use.</summary>
    public TensorDecompositionOptions Options { get; } = options ?? new TensorDecompositionOptions();

    /// <summary>Decomposes the moments (M2 row-major D×D, M3 row-major D×D×D) into <paramref name="components"/> components.</summary>
    public SymmetricTensorModel Decompose(ReadOnlySpan<double> m2, ReadOnlySpan<double> m3, int dimension, int components)
    {
        int d = dimension, k = components;
        if (d < 1) throw new ArgumentOutOfRangeException(nameof(dimension));
        if (k < 1 || k > d) throw new ArgumentOutOfRangeException(nameof(components), "need 1 ≤ components ≤ dimension.");
        if (m2.Length != d * d) throw new ArgumentException("M2 must be D×D.", nameof(m2));
        if (m3.Length != d * d * d) throw new ArgumentException("M3 must be D×D×D.", nameof(m3));
        if (Options.Restarts < 1 || Options.Iterations < 1) throw new ArgumentOutOfRangeException(nameof(options), "Restarts and Iterations must be ≥ 1.");
        for (int i = 0; i < m2.Length; i++) if (!double.IsFinite(m2[i])) return Fallback(d, k);
        for (int i = 0; i < m3.Length; i++) if (!double.IsFinite(m3[i])) return Fallback(d, k);

        // Whitening from the eigen-decomposition of the symmetrised M2.
        var sym = Matrix<double>.Build.Dense(d, d);
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++) sym[i, j] = (m2[i * d + j] + m2[j * d + i]) / 2;
        var evd = sym.Evd(Symmetricity.Symmetric);
        var order = new int[d];
        var values = new double[d];
        for (int i = 0; i < d; i++) { order[i] = i; values[i] = evd.EigenValues[i].Real; }
        Array.Sort(order, (a, b) => values[b].CompareTo(values[a]));
        double top = values[order[0]];
        if (!(top > 0) || !(values[order[k - 1]] > Options.RankTolerance * top)) return Fallback(d, k);
        var u = new double[MemoryBudget.Length(d, k)];      // U_K, D × K
        var sqrtL = new double[k];      // Λ_K^(1/2)
        var q = new double[MemoryBudget.Length(d, k)];      // Q = U_K Λ_K^(−1/2)
        for (int j = 0; j < k; j++)
        {
            double l = values[order[j]];
            sqrtL[j] = Math.Sqrt(l);
            for (int i = 0; i < d; i++)
            {
                u[i * k + j] = evd.EigenVectors[i, order[j]];
                q[i * k + j] = u[i * k + j] / sqrtL[j];
            }
        }
        var t = Whiten(m3, q, d, k);

        var rng = Seeding.Random(Options.Seed);
        var lambdas = new double[k];
        var vectors = new double[MemoryBudget.Length(k, k)];
        var theta = new double[k];
        var next = new double[k];
        var best = new double[k];
        for (int y = 0; y < k; y++)
        {
            double bestValue = double.NegativeInfinity;
            for (int r = 0; r < Options.Restarts; r++)
            {
                RandomUnit(rng, theta);
                if (!Iterate(t, k, theta, next, Options.Iterations)) continue;
                double value = Contract3(t, k, theta);
                if (value > bestValue) { bestValue = value; theta.AsSpan().CopyTo(best); }
            }
            if (double.IsNegativeInfinity(bestValue)) return Fallback(d, k);
            best.AsSpan().CopyTo(theta);
            Iterate(t, k, theta, next, Options.Iterations);
            double lambda = Contract3(t, k, theta);
            // An orthogonally decomposable tensor with positive weights has λ_y = 1/√w_y ≥ 1; a non-positive λ means
            // the moments are not those of a K-component mixture (noise dominates), and w = λ⁻² would be meaningless.
            if (!(lambda > 0) || !double.IsFinite(lambda)) return Fallback(d, k);
            lambdas[y] = lambda;
            theta.AsSpan().CopyTo(vectors.AsSpan(y * k, k));
            // Deflate: T ← T − λ θ⊗θ⊗θ.
            for (int a = 0; a < k; a++)
                for (int b = 0; b < k; b++)
                {
                    double ab = lambda * theta[a] * theta[b];
                    var row = t.AsSpan((a * k + b) * k, k);
                    for (int c = 0; c < k; c++) row[c] -= ab * theta[c];
                }
        }

        var w = new double[k];
        var means = new double[MemoryBudget.Length(k, d)];
        for (int y = 0; y < k; y++)
        {
            double lambda = lambdas[y];
            w[y] = 1 / (lambda * lambda);
            for (int i = 0; i < d; i++)
            {
                double s = 0;
                for (int j = 0; j < k; j++) s += u[i * k + j] * sqrtL[j] * vectors[y * k + j];
                means[y * d + i] = lambda * s;
            }
        }
        if (Options.ProjectToSimplex)
        {
            Simplex.Project(w);
            for (int y = 0; y < k; y++) Simplex.Project(means.AsSpan(y * d, d));
        }
        return new SymmetricTensorModel(Wrap(w), new RowMatrix(k, d, means), Wrap(lambdas), true);
    }

    /// <summary>
    /// Whether every row y of the K×K matrix (row = class, after <see cref="AlignToDiagonal"/>) has its largest entry
    /// on the diagonal, strictly: each class is answered correctly more often than as any other class. The
    /// identifiability assumption of the alignment; a decomposition that violates it has not found the classes.
    /// </summary>
    public static bool DiagonallyDominant(ReadOnlySpan<double> matrix, int k)
    {
        if (matrix.Length != k * k) throw new ArgumentException("matrix must be K×K.", nameof(matrix));
        for (int y = 0; y < k; y++)
            for (int l = 0; l < k; l++)
                if (l != y && !(matrix[y * k + y] > matrix[y * k + l])) return false;
        return true;
    }

    /// <summary>
    /// Reorders the components so that component y is matched to class y, maximising Σ_y means[π(y), y] (each class's
    /// component is the one that most often answers that class: the usual "crowd better than chance on every class"
    /// identifiability assumption). Exhaustive over permutations for K ≤ 8, greedy on the largest entries beyond.
    /// Needs a square model (D = K). Returns the permutation used: perm[y] = original component index of class y.
    /// </summary>
    public static int[] AlignToDiagonal(ReadOnlySpan<double> means, int k)
    {
        if (means.Length != k * k) throw new ArgumentException("means must be K×K.", nameof(means));
        var perm = new int[k];
        for (int i = 0; i < k; i++) perm[i] = i;
        if (k <= 8)
        {
            var current = (int[])perm.Clone();
            double bestScore = double.NegativeInfinity;
            Permute(means, k, current, 0, perm, ref bestScore);
            return perm;
        }
        // Greedy: repeatedly take the largest remaining (component, class) entry.
        var usedComp = new bool[k];
        var usedClass = new bool[k];
        for (int step = 0; step < k; step++)
        {
            int bc = -1, bl = -1;
            double bv = double.NegativeInfinity;
            for (int c = 0; c < k; c++)
            {
                if (usedComp[c]) continue;
                for (int l = 0; l < k; l++)
                    if (!usedClass[l] && means[c * k + l] > bv) { bv = means[c * k + l]; bc = c; bl = l; }
            }
            usedComp[bc] = true; usedClass[bl] = true; perm[bl] = bc;
        }
        return perm;
    }

    private static void Permute(ReadOnlySpan<double> means, int k, int[] current, int pos, int[] best, ref double bestScore)
    {
        if (pos == k)
        {
            double s = 0;
            for (int y = 0; y < k; y++) s += means[current[y] * k + y];
            if (s > bestScore) { bestScore = s; current.AsSpan().CopyTo(best); }
            return;
        }
        for (int i = pos; i < k; i++)
        {
            (current[pos], current[i]) = (current[i], current[pos]);
            Permute(means, k, current, pos + 1, best, ref bestScore);
            (current[pos], current[i]) = (current[i], current[pos]);
        }
    }

    /// <summary>T = M3(Q, Q, Q): three mode products, O(D³K + D²K² + DK³).</summary>
    private static double[] Whiten(ReadOnlySpan<double> m3, double[] q, int d, int k)
    {
        var a = new double[MemoryBudget.Length(d, d, k)]; // a[x1,x2,j] = Σ_x3 M3[x1,x2,x3] Q[x3,j]
        for (int x = 0; x < d * d; x++)
        {
            var src = m3.Slice(x * d, d);
            for (int j = 0; j < k; j++)
            {
                double s = 0;
                for (int z = 0; z < d; z++) s += src[z] * q[z * k + j];
                a[x * k + j] = s;
            }
        }
        var b = new double[MemoryBudget.Length(d, k, k)]; // b[x1,i,j] = Σ_x2 Q[x2,i] a[x1,x2,j]
        for (int x1 = 0; x1 < d; x1++)
            for (int x2 = 0; x2 < d; x2++)
                for (int i = 0; i < k; i++)
                {
                    double qi = q[x2 * k + i];
                    if (qi == 0) continue;
                    for (int j = 0; j < k; j++) b[(x1 * k + i) * k + j] += qi * a[(x1 * d + x2) * k + j];
                }
        var t = new double[MemoryBudget.Length(k, k, k)]; // t[h,i,j] = Σ_x1 Q[x1,h] b[x1,i,j]
        for (int x1 = 0; x1 < d; x1++)
            for (int h = 0; h < k; h++)
            {
                double qh = q[x1 * k + h];
                if (qh == 0) continue;
                for (int ij = 0; ij < k * k; ij++) t[h * k * k + ij] += qh * b[x1 * k * k + ij];
            }
        // Symmetrise: the population tensor is symmetric, and the power method's fixed points assume it.
        var s3 = new double[MemoryBudget.Length(k, k, k)];
        for (int h = 0; h < k; h++)
            for (int i = 0; i < k; i++)
                for (int j = 0; j < k; j++)
                    s3[(h * k + i) * k + j] = (t[(h * k + i) * k + j] + t[(h * k + j) * k + i] + t[(i * k + h) * k + j]
                        + t[(i * k + j) * k + h] + t[(j * k + h) * k + i] + t[(j * k + i) * k + h]) / 6;
        return s3;
    }

    /// <summary>θ ← T(I, θ, θ)/‖T(I, θ, θ)‖, n times; false if the iterate vanished or stopped being finite.</summary>
    private static bool Iterate(double[] t, int k, double[] theta, double[] next, int n)
    {
        for (int it = 0; it < n; it++)
        {
            double norm = 0;
            for (int i = 0; i < k; i++)
            {
                double s = 0;
                var slab = t.AsSpan(i * k * k, k * k);
                for (int a = 0; a < k; a++)
                {
                    double ta = theta[a];
                    if (ta == 0) continue;
                    double inner = 0;
                    for (int b = 0; b < k; b++) inner += slab[a * k + b] * theta[b];
                    s += ta * inner;
                }
                next[i] = s;
                norm += s * s;
            }
            norm = Math.Sqrt(norm);
            if (!(norm > 1e-300) || !double.IsFinite(norm)) return false;
            for (int i = 0; i < k; i++) theta[i] = next[i] / norm;
        }
        return true;
    }

    private static double Contract3(double[] t, int k, double[] theta)
    {
        double s = 0;
        for (int i = 0; i < k; i++)
            for (int a = 0; a < k; a++)
            {
                double ia = theta[i] * theta[a];
                if (ia == 0) continue;
                for (int b = 0; b < k; b++) s += ia * theta[b] * t[(i * k + a) * k + b];
            }
        return s;
    }

    private static void RandomUnit(Random rng, double[] theta)
    {
        double norm = 0;
        while (!(norm > 1e-12))
        {
            norm = 0;
            for (int i = 0; i < theta.Length; i++) { theta[i] = Normal.Sample(rng, 0, 1); norm += theta[i] * theta[i]; }
        }
        norm = Math.Sqrt(norm);
        for (int i = 0; i < theta.Length; i++) theta[i] /= norm;
    }

    private static SymmetricTensorModel Fallback(int d, int k)
    {
        var w = new double[k];
        Array.Fill(w, 1.0 / k);
        var means = new double[MemoryBudget.Length(k, d)];
        Array.Fill(means, 1.0 / d);
        return new SymmetricTensorModel(Wrap(w), new RowMatrix(k, d, means), Wrap(new double[k]), false);
    }

    private static ImmutableArray<double> Wrap(double[] a) => ImmutableCollectionsMarshal.AsImmutableArray(a);
}

/// <summary>Euclidean projection onto the probability simplex.</summary>
public static class Simplex
{
    /// <summary>
    /// Replaces x by argmin_{p ∈ Δ} ‖p − x‖₂ (J. Duchi, S. Shalev-Shwartz, Y. Singer and T. Chandra, "Efficient
    /// projections onto the ℓ1-ball for learning in high dimensions", ICML 2008, Fig. 1). Non-finite entries count as 0;
    /// an all-non-finite input becomes uniform.
    /// </summary>
    public static void Project(Span<double> x)
    {
        int n = x.Length;
        if (n == 0) return;
        for (int i = 0; i < n; i++) if (!double.IsFinite(x[i])) x[i] = 0;
        Span<double> sorted = n <= 128 ? stackalloc double[n] : new double[n];
        x.CopyTo(sorted);
        sorted.Sort();
        // Walk from the largest down: the threshold θ = (Σ_{top ρ} − 1)/ρ for the largest ρ with u_ρ > θ.
        double cum = 0, theta = 0;
        for (int r = 0; r < n; r++)
        {
            double v = sorted[n - 1 - r];
            cum += v;
            double candidate = (cum - 1) / (r + 1);
            if (v - candidate > 0) theta = candidate;
        }
        double sum = 0;
        for (int i = 0; i < n; i++) { x[i] = Math.Max(x[i] - theta, 0); sum += x[i]; }
        if (!(sum > 0)) { x.Fill(1.0 / n); return; }
        for (int i = 0; i < n; i++) x[i] /= sum; // only rounding is corrected here
    }
}
