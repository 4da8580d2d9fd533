using System.Collections.Immutable;
using Tally.Core;

namespace Tally.Aggregation.Pairwise;

/// <summary>
/// What the Bradley-Terry family shares: the comparison graph's components, Hunter's MM step on (weighted) win counts,
/// the regularising virtual comparisons, and the normal approximation that turns a fit into standard errors and rank
/// confidences. Every loop runs over the comparisons in their canonical order, on one thread, so results do not depend
/// on the machine (one pass is O(comparisons): threads would cost more than they save at any realistic size).
/// </summary>
internal static class BradleyTerryKernel
{
    /// <summary>Scores are kept in [−Bound, Bound]: far beyond any estimable strength, and exp() stays finite.</summary>
    private const double Bound = 30;

    /// <summary>Largest component whose covariance is computed exactly (dense Cholesky, O(n³)); above it the diagonal approximation is used.</summary>
    public const int MaxDenseItems = 1500;

    /// <summary>Connected components (union-find), numbered in the order of their smallest item.</summary>
    public static int[] Components(PairwiseComparisons c, out int[] sizes)
    {
        int n = c.ItemCount;
        var parent = new int[n];
        for (int i = 0; i < n; i++) parent[i] = i;
        int Find(int x)
        {
            while (parent[x] != x) { parent[x] = parent[parent[x]]; x = parent[x]; }
            return x;
        }
        var l = c.Left; var r = c.Right;
        for (int k = 0; k < c.Count; k++)
        {
            int a = Find(l[k]), b = Find(r[k]);
            if (a != b) { if (a < b) parent[b] = a; else parent[a] = b; }
        }
        var id = new int[n];
        var label = new int[n];
        Array.Fill(label, -1);
        var size = new List<int>();
        for (int i = 0; i < n; i++)
        {
            int root = Find(i);
            if (label[root] < 0) { label[root] = size.Count; size.Add(0); }
            id[i] = label[root];
            size[id[i]]++;
        }
        sizes = [.. size];
        return id;
    }

    /// <summary>
    /// Without regularisation the maximum-likelihood scores exist only if, in each component, every item can be reached
    /// from every other along "beat" edges (Hunter 2004, Assumption 1); otherwise a group of items beats the rest in every
    /// comparison and its scores run off to infinity.
    /// </summary>
    /// <exception cref="TallyUserException">Some component is not strongly connected.</exception>
    public static void CheckEstimable(PairwiseComparisons c, int[] component, int[] sizes, double regularization)
    {
        if (regularization > 0) return;
        int n = c.ItemCount;
        var wins = new int[n]; var losses = new int[n];
        for (int k = 0; k < c.Count; k++) { wins[c.Winner(k)]++; losses[c.Loser(k)]++; }
        for (int i = 0; i < n; i++)
        {
            if (losses[i] == 0) throw NotEstimable($"item {Quote.Value(c.Items[i])} never loses");
            if (wins[i] == 0) throw NotEstimable($"item {Quote.Value(c.Items[i])} never wins");
        }
        // Forward and backward reachability from each component's first item.
        var beats = Adjacency(c, n, forward: true);
        var beatenBy = Adjacency(c, n, forward: false);
        var first = new int[sizes.Length];
        Array.Fill(first, -1);
        for (int i = 0; i < n; i++) if (first[component[i]] < 0) first[component[i]] = i;
        foreach (var (adj, what) in new[] { (beats, "beaten, directly or through others, by"), (beatenBy, "shown better than") })
        {
            var seen = new bool[n];
            var stack = new Stack<int>();
            foreach (int s in first) { seen[s] = true; stack.Push(s); }
            while (stack.Count > 0)
            {
                int v = stack.Pop();
                foreach (int u in adj[v]) if (!seen[u]) { seen[u] = true; stack.Push(u); }
            }
            for (int i = 0; i < n; i++)
                if (!seen[i])
                    throw NotEstimable($"item {Quote.Value(c.Items[i])} is never {what} item {Quote.Value(c.Items[first[component[i]]])}: one group of items wins every comparison with the rest");
        }
    }

    private static TallyUserException NotEstimable(string why) => new(
        $"the unregularised Bradley-Terry scores do not exist: {why}; give a regularization above 0 (--regularization, default {NumberFormat.Number(new BradleyTerryOptions().Regularization)})");

    private static List<int>[] Adjacency(PairwiseComparisons c, int n, bool forward)
    {
        var adj = new List<int>[n];
        for (int i = 0; i < n; i++) adj[i] = [];
        for (int k = 0; k < c.Count; k++)
        {
            int w = c.Winner(k), l = c.Loser(k);
            if (forward) adj[w].Add(l); else adj[l].Add(w);
        }
        return adj;
    }

    /// <summary>
    /// One MM update (Hunter 2004, eq. 3, with weights): γ_i ← (W_i + λ) / (Σ_c n_c / (γ_l + γ_r) + 2λ / (γ_i + 1)), where
    /// comparison c credits <paramref name="winWeight"/>[c] wins to its winner and <paramref name="lossWeight"/>[c] wins
    /// to its loser, n_c being their sum (null = 1 and 0: plain counts). The virtual comparisons against the reference
    /// item (strength 1) are the λ terms. Without them the likelihood does not fix the scale, so each component is
    /// recentred on mean 0. <paramref name="numerator"/>, <paramref name="games"/> and <paramref name="strength"/> are
    /// scratch of one value per item, so the iterations allocate nothing.
    /// </summary>
    public static void MmStep(PairwiseComparisons c, double[] theta, double[]? winWeight, double[]? lossWeight,
        double regularization, int[] component, int[] sizes, double[] numerator, double[] games, double[] strength)
    {
        int n = c.ItemCount;
        for (int i = 0; i < n; i++) strength[i] = Math.Exp(theta[i]);
        Array.Fill(numerator, regularization);
        Array.Clear(games);
        var left = c.Left; var right = c.Right; var leftWon = c.LeftWon;
        for (int k = 0; k < c.Count; k++)
        {
            int a = left[k], b = right[k];
            double win = winWeight?[k] ?? 1, loss = lossWeight?[k] ?? 0;
            int winner = leftWon[k] ? a : b, loser = leftWon[k] ? b : a;
            numerator[winner] += win;
            numerator[loser] += loss;
            double share = (win + loss) / (strength[a] + strength[b]);
            games[a] += share;
            games[b] += share;
        }
        for (int i = 0; i < n; i++)
        {
            double d = games[i] + 2 * regularization / (strength[i] + 1);
            double t = numerator[i] > 0 && d > 0 ? Math.Log(numerator[i] / d) : -Bound;
            theta[i] = Math.Clamp(double.IsFinite(t) ? t : -Bound, -Bound, Bound);
        }
        if (regularization == 0) Center(theta, component, sizes);
    }

    /// <summary>Subtracts each component's mean score.</summary>
    public static void Center(double[] theta, int[] component, int[] sizes)
    {
        var sum = new double[sizes.Length];
        for (int i = 0; i < theta.Length; i++) sum[component[i]] += theta[i];
        for (int i = 0; i < theta.Length; i++) theta[i] -= sum[component[i]] / sizes[component[i]];
    }

    /// <summary>The regularising prior's log-density λ Σ_i [log σ(θ_i) + log σ(−θ_i)].</summary>
    public static double LogPrior(double[] theta, double regularization)
    {
        if (regularization == 0) return 0;
        double s = 0;
        foreach (double t in theta) s += LogSigmoid(t) + LogSigmoid(-t);
        return regularization * s;
    }

    /// <summary>log σ(x), stable for large |x|.</summary>
    public static double LogSigmoid(double x) => x >= 0 ? -double.LogP1(Math.Exp(-x)) : x - double.LogP1(Math.Exp(x));

    /// <summary>σ(x).</summary>
    public static double Sigmoid(double x) => x >= 0 ? 1 / (1 + Math.Exp(-x)) : Math.Exp(x) / (1 + Math.Exp(x));

    /// <summary>
    /// Standard errors of the centred scores, intervals, ranks and rank confidences from the Fisher information
    /// I = Σ_c g_c (e_l − e_r)(e_l − e_r)ᵀ + λ-prior curvature, where <paramref name="information"/>[c] = g_c is the expected
    /// information a comparison carries about the difference of its two scores (P′² / (P (1 − P)) for its model's
    /// P(left wins)). Worker parameters are treated as known. Components up to <see cref="MaxDenseItems"/> items invert I
    /// exactly; larger ones use 1 / I_ii (which understates the variance a little).
    /// </summary>
    public static PairwiseResult Finish(string method, PairwiseComparisons c, PairwiseOptions options, double[] theta,
        double[] information, int[] component, int[] sizes, double[] skills, int iterations, bool converged,
        List<double> objective, ImmutableDictionary<string, ImmutableArray<double>>? workerParameters = null)
    {
        int n = c.ItemCount;
        double lambda = options.Regularization;
        Center(theta, component, sizes);
        var members = new List<int>[sizes.Length];
        for (int k = 0; k < sizes.Length; k++) members[k] = new List<int>(sizes[k]);
        for (int i = 0; i < n; i++) members[component[i]].Add(i);
        var local = new int[n];
        foreach (var m in members) for (int j = 0; j < m.Count; j++) local[m[j]] = j;

        // Diagonal of I, and per component the dense matrix when it is small enough.
        var diag = new double[n];
        var priorCurvature = new double[n];
        for (int i = 0; i < n; i++)
        {
            double s = Sigmoid(theta[i]);
            diag[i] = priorCurvature[i] = 2 * lambda * s * (1 - s);
        }
        var dense = new double[sizes.Length][];
        for (int k = 0; k < sizes.Length; k++) if (sizes[k] <= MaxDenseItems) dense[k] = new double[(long)sizes[k] * sizes[k]];
        var left = c.Left; var right = c.Right;
        for (int q = 0; q < c.Count; q++)
        {
            int a = left[q], b = right[q];
            double g = information[q];
            diag[a] += g; diag[b] += g;
            if (dense[component[a]] is { } d)
            {
                int m = sizes[component[a]], la = local[a], lb = local[b];
                d[la * m + la] += g; d[lb * m + lb] += g; d[la * m + lb] -= g; d[lb * m + la] -= g;
            }
        }
        var se = new double[n];
        var covariance = new double[sizes.Length][];
        for (int k = 0; k < sizes.Length; k++)
        {
            var m = members[k];
            int size = m.Count;
            if (dense[k] is { } d)
            {
                for (int j = 0; j < size; j++) d[j * size + j] += priorCurvature[m[j]];
                if (lambda == 0)
                    // The likelihood fixes differences only: adding J/n makes I invertible without changing any contrast's variance.
                    for (int x = 0; x < d.Length; x++) d[x] += 1.0 / size;
                var inv = CholeskyInverse(d, size);
                covariance[k] = inv;
                // Variance of θ_i − mean(θ): M_ii − 2 mean_j M_ij + mean_jk M_jk.
                var rowMean = new double[size];
                double all = 0;
                for (int i = 0; i < size; i++)
                {
                    double s = 0;
                    for (int j = 0; j < size; j++) s += inv[i * size + j];
                    rowMean[i] = s / size;
                    all += s;
                }
                all /= (double)size * size;
                for (int i = 0; i < size; i++) se[m[i]] = Math.Sqrt(Math.Max(0, inv[i * size + i] - 2 * rowMean[i] + all));
            }
            else
                foreach (int i in m) se[i] = diag[i] > 0 ? Math.Sqrt(1 / diag[i]) : 0;
        }

        // Ranks within components: by score, ties by item order.
        var ranks = new int[n];
        var confidence = new double[n];
        for (int k = 0; k < sizes.Length; k++)
        {
            var order = members[k].ToArray();
            Array.Sort(order, (x, y) => theta[y] != theta[x] ? theta[y].CompareTo(theta[x]) : x.CompareTo(y));
            for (int p = 0; p < order.Length; p++) ranks[order[p]] = p + 1;
            for (int p = 0; p < order.Length; p++)
            {
                double conf = 1;
                if (p > 0) conf = Math.Min(conf, Ordered(order[p - 1], order[p]));
                if (p + 1 < order.Length) conf = Math.Min(conf, Ordered(order[p], order[p + 1]));
                confidence[order[p]] = conf;
            }

            double Ordered(int better, int worse)
            {
                double var = covariance[k] is { } inv
                    ? inv[local[better] * sizes[k] + local[better]] + inv[local[worse] * sizes[k] + local[worse]] - 2 * inv[local[better] * sizes[k] + local[worse]]
                    : (diag[better] > 0 ? 1 / diag[better] : 0) + (diag[worse] > 0 ? 1 / diag[worse] : 0);
                double diff = theta[better] - theta[worse];
                if (!(var > 0)) return diff > 0 ? 1 : 0.5;
                return NormalDistribution.Cdf(diff / Math.Sqrt(var));
            }
        }

        double z = NormalDistribution.Quantile(0.5 + options.ConfidenceLevel / 2);
        var low = new double[n]; var high = new double[n];
        for (int i = 0; i < n; i++) { low[i] = theta[i] - z * se[i]; high[i] = theta[i] + z * se[i]; }

        var agreement = Agreement(c, theta);
        foreach (var (name, values) in new[] { ("score", theta), ("std_error", se), ("confidence", confidence), ("skill", skills), ("agreement", agreement) })
            foreach (double v in values)
                if (!double.IsFinite(v)) throw new InvalidOperationException($"{method}: a {name} is not finite.");
        return new PairwiseResult
        {
            Method = method,
            Comparisons = c,
            Scores = PairwiseResult.Wrap(theta),
            StandardErrors = PairwiseResult.Wrap(se),
            Low = PairwiseResult.Wrap(low),
            High = PairwiseResult.Wrap(high),
            Ranks = PairwiseResult.Wrap(ranks),
            RankConfidence = PairwiseResult.Wrap(confidence),
            Components = PairwiseResult.Wrap(component),
            ComponentSizes = PairwiseResult.Wrap(sizes),
            WorkerSkills = PairwiseResult.Wrap(skills),
            WorkerAgreement = PairwiseResult.Wrap(agreement),
            WorkerParameters = workerParameters ?? ImmutableDictionary<string, ImmutableArray<double>>.Empty,
            ConfidenceLevel = options.ConfidenceLevel,
            Iterations = iterations,
            Converged = converged,
            LogLikelihoods = [.. objective],
        };
    }

    /// <summary>Fraction of each worker's comparisons whose winner has the higher score (ties count half).</summary>
    public static double[] Agreement(PairwiseComparisons c, double[] theta)
    {
        var agree = new double[c.WorkerCount];
        var count = new int[c.WorkerCount];
        var w = c.ComparisonWorkers;
        for (int k = 0; k < c.Count; k++)
        {
            double d = theta[c.Winner(k)] - theta[c.Loser(k)];
            agree[w[k]] += d > 0 ? 1 : d == 0 ? 0.5 : 0;
            count[w[k]]++;
        }
        for (int i = 0; i < agree.Length; i++) agree[i] = count[i] > 0 ? agree[i] / count[i] : 0;
        return agree;
    }

    /// <summary>The inverse of a symmetric positive-definite matrix by Cholesky factorisation; a tiny ridge guards round-off.</summary>
    private static double[] CholeskyInverse(double[] a, int n)
    {
        var l = (double[])a.Clone();
        double ridge = 0;
        for (int i = 0; i < n; i++) ridge = Math.Max(ridge, a[i * n + i]);
        ridge *= 1e-12;
        for (int j = 0; j < n; j++)
        {
            double s = l[j * n + j] + ridge;
            for (int k = 0; k < j; k++) s -= l[j * n + k] * l[j * n + k];
            double djj = Math.Sqrt(Math.Max(s, 1e-300));
            l[j * n + j] = djj;
            for (int i = j + 1; i < n; i++)
            {
                double t = l[i * n + j];
                for (int k = 0; k < j; k++) t -= l[i * n + k] * l[j * n + k];
                l[i * n + j] = t / djj;
            }
        }
        // L⁻¹ (lower triangular), then A⁻¹ = L⁻ᵀ L⁻¹.
        var li = new double[(long)n * n];
        for (int i = 0; i < n; i++)
        {
            li[i * n + i] = 1 / l[i * n + i];
            for (int j = 0; j < i; j++)
            {
                double s = 0;
                for (int k = j; k < i; k++) s -= l[i * n + k] * li[k * n + j];
                li[i * n + j] = s / l[i * n + i];
            }
        }
        var inv = new double[(long)n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++)
            {
                double s = 0;
                for (int k = i; k < n; k++) s += li[k * n + i] * li[k * n + j];
                inv[i * n + j] = s; inv[j * n + i] = s;
            }
        return inv;
    }
}
