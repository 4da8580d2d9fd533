using System.Collections.Immutable;
using Tally.Core;

namespace Tally.Aggregation.Pairwise;

/// <summary>Options of <see cref="BradleyTerry"/>.</summary>
public sealed record BradleyTerryOptions : PairwiseOptions;

/// <summary>
/// Bradley-Terry: item i beats item j with probability γ_i / (γ_i + γ_j) = σ(θ_i − θ_j), the same for every worker.
/// Fitted by Hunter's MM algorithm (D. R. Hunter, "MM algorithms for generalized Bradley-Terry models", Annals of
/// Statistics 32(1), 2004, eq. 3), each step raising the (regularised) log-likelihood
/// Σ_c log σ(θ_winner − θ_loser) + λ Σ_i [log σ(θ_i) + log σ(−θ_i)]. The model of R. A. Bradley and M. E. Terry,
/// "Rank analysis of incomplete block designs", Biometrika 39, 1952. Worker skill = agreement with the fitted order.
/// </summary>
public sealed class BradleyTerry(BradleyTerryOptions? options = null) : IPairwiseAggregator
{
    /// <summary>The options.</summary>
    public BradleyTerryOptions Options { get; } = options ?? new BradleyTerryOptions();

    /// <inheritdoc />
    public string Name => "bt";

    /// <inheritdoc />
    public PairwiseResult Aggregate(PairwiseComparisons comparisons, ComputeOptions? compute = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(comparisons);
        Options.Validate();
        var component = BradleyTerryKernel.Components(comparisons, out var sizes);
        BradleyTerryKernel.CheckEstimable(comparisons, component, sizes, Options.Regularization);
        var theta = new double[comparisons.ItemCount];
        var objective = Fit(comparisons, theta, Options, component, sizes, null, null, out int iterations, out bool converged, cancellationToken);
        var info = new double[comparisons.Count];
        for (int k = 0; k < info.Length; k++)
        {
            double p = BradleyTerryKernel.Sigmoid(theta[comparisons.Left[k]] - theta[comparisons.Right[k]]);
            info[k] = p * (1 - p);
        }
        var skills = BradleyTerryKernel.Agreement(comparisons, theta);
        return BradleyTerryKernel.Finish(Name, comparisons, Options, theta, info, component, sizes, skills, iterations, converged, objective);
    }

    /// <summary>
    /// Runs MM steps on weighted win counts from <paramref name="theta"/> until the objective per comparison changes by
    /// less than the tolerance; the shared inner loop of the family (weights null = plain counts).
    /// </summary>
    internal static List<double> Fit(PairwiseComparisons c, double[] theta, PairwiseOptions o, int[] component, int[] sizes,
        double[]? winWeight, double[]? lossWeight, out int iterations, out bool converged, CancellationToken ct)
    {
        var objective = new List<double>();
        var numerator = new double[c.ItemCount];
        var denominator = new double[c.ItemCount];
        var strength = new double[c.ItemCount];
        double previous = double.NegativeInfinity;
        converged = false;
        iterations = 0;
        for (int it = 0; it < o.MaxIterations; it++)
        {
            ct.ThrowIfCancellationRequested();
            BradleyTerryKernel.MmStep(c, theta, winWeight, lossWeight, o.Regularization, component, sizes, numerator, denominator, strength);
            iterations++;
            double ll = LogLikelihood(c, theta, winWeight, lossWeight) + BradleyTerryKernel.LogPrior(theta, o.Regularization);
            ll /= Math.Max(1, c.Count);
            objective.Add(ll);
            if (o.Tolerance > 0 && Math.Abs(ll - previous) < o.Tolerance) { converged = true; break; }
            previous = ll;
        }
        return objective;
    }

    /// <summary>Σ_c [w_c log σ(θ_winner − θ_loser) + v_c log σ(θ_loser − θ_winner)] (w = 1, v = 0 when unweighted).</summary>
    internal static double LogLikelihood(PairwiseComparisons c, double[] theta, double[]? winWeight, double[]? lossWeight)
    {
        double s = 0;
        for (int k = 0; k < c.Count; k++)
        {
            double d = theta[c.Winner(k)] - theta[c.Loser(k)];
            double w = winWeight?[k] ?? 1, v = lossWeight?[k] ?? 0;
            if (w != 0) s += w * BradleyTerryKernel.LogSigmoid(d);
            if (v != 0) s += v * BradleyTerryKernel.LogSigmoid(-d);
        }
        return s;
    }

    /// <summary>
    /// The start of the EM variants: the comparison graph's components, checked to be estimable, and the plain
    /// Bradley-Terry scores fitted on them (at most 200 MM steps).
    /// </summary>
    internal static double[] Start<TOptions>(PairwiseComparisons c, TOptions options, out int[] component, out int[] sizes, CancellationToken cancellationToken)
        where TOptions : PairwiseOptions
    {
        component = BradleyTerryKernel.Components(c, out sizes);
        BradleyTerryKernel.CheckEstimable(c, component, sizes, options.Regularization);
        var theta = new double[c.ItemCount];
        Fit(c, theta, options with { MaxIterations = Math.Min(options.MaxIterations, 200) }, component, sizes, null, null, out _, out _, cancellationToken);
        return theta;
    }
}

/// <summary>Options of <see cref="NoisyBradleyTerry"/>.</summary>
public sealed record NoisyBradleyTerryOptions : PairwiseOptions;

/// <summary>
/// NoisyBT: each worker w answers by the Bradley-Terry model with probability γ_w (her skill) and otherwise picks the
/// left item with her own bias probability β_w, whatever the items: P(left wins) = γ_w σ(θ_l − θ_r) + (1 − γ_w) β_w.
/// Random clickers get γ → 0 and stop moving the scores; position-biased ones are explained by β. From A. Bugakova,
/// V. Fedorova, G. Gusev and A. Drutsa, "Aggregation of pairwise comparisons with reduction of biases", NeurIPS 2019
/// Workshop on Crowdsourcing (Crowd-Kit's NoisyBT maximises the same likelihood by L-BFGS). Here it is fitted by
/// generalised EM: the E-step gives each comparison the responsibility r_c of the Bradley-Terry branch; the M-step sets
/// γ_w and β_w in closed form (with Beta(2, 2) smoothing) and takes one MM step on the scores with wins weighted by r_c.
/// Started from the plain Bradley-Terry fit with γ = 0.9, β = 0.5.
/// </summary>
public sealed class NoisyBradleyTerry(NoisyBradleyTerryOptions? options = null) : IPairwiseAggregator
{
    /// <summary>The options.</summary>
    public NoisyBradleyTerryOptions Options { get; } = options ?? new NoisyBradleyTerryOptions();

    /// <inheritdoc />
    public string Name => "noisybt";

    /// <inheritdoc />
    public PairwiseResult Aggregate(PairwiseComparisons comparisons, ComputeOptions? compute = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(comparisons);
        Options.Validate();
        var c = comparisons;
        var theta = BradleyTerry.Start(c, Options, out var component, out var sizes, cancellationToken);

        int W = c.WorkerCount, C = c.Count;
        var skill = new double[W]; Array.Fill(skill, 0.9);
        var bias = new double[W]; Array.Fill(bias, 0.5);
        var r = new double[C];
        var numerator = new double[c.ItemCount];
        var denominator = new double[c.ItemCount];
        var strength = new double[c.ItemCount];
        var rSum = new double[W]; var leftRandom = new double[W]; var random = new double[W]; var count = new int[W];
        var objective = new List<double>();
        double previous = double.NegativeInfinity;
        bool converged = false;
        int iterations = 0;
        var workers = c.ComparisonWorkers; var leftWon = c.LeftWon; var left = c.Left; var right = c.Right;
        for (int it = 0; it < Options.MaxIterations; it++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            double ll = 0;
            Array.Clear(rSum); Array.Clear(leftRandom); Array.Clear(random); Array.Clear(count);
            for (int k = 0; k < C; k++)
            {
                int w = workers[k];
                double p = BradleyTerryKernel.Sigmoid(theta[left[k]] - theta[right[k]]);
                double bt = skill[w] * (leftWon[k] ? p : 1 - p);
                double noise = (1 - skill[w]) * (leftWon[k] ? bias[w] : 1 - bias[w]);
                double total = bt + noise;
                r[k] = total > 0 ? bt / total : 0.5;
                ll += Math.Log(Math.Max(total, Numerics.MinProbability));
                rSum[w] += r[k];
                random[w] += 1 - r[k];
                if (leftWon[k]) leftRandom[w] += 1 - r[k];
                count[w]++;
            }
            ll = (ll + BradleyTerryKernel.LogPrior(theta, Options.Regularization)) / Math.Max(1, C);
            objective.Add(ll);
            iterations++;
            for (int w = 0; w < W; w++)
            {
                skill[w] = (rSum[w] + 1) / (count[w] + 2);
                bias[w] = (leftRandom[w] + 1) / (random[w] + 2);
            }
            BradleyTerryKernel.MmStep(c, theta, r, null, Options.Regularization, component, sizes, numerator, denominator, strength);
            if (Options.Tolerance > 0 && Math.Abs(ll - previous) < Options.Tolerance) { converged = true; break; }
            previous = ll;
        }

        var info = new double[C];
        for (int k = 0; k < C; k++)
        {
            int w = workers[k];
            double p = BradleyTerryKernel.Sigmoid(theta[left[k]] - theta[right[k]]);
            double pl = skill[w] * p + (1 - skill[w]) * bias[w];
            double slope = skill[w] * p * (1 - p);
            info[k] = slope * slope / Math.Max(pl * (1 - pl), 1e-300);
        }
        var parameters = ImmutableDictionary<string, ImmutableArray<double>>.Empty.Add("bias", PairwiseResult.Wrap(bias));
        return BradleyTerryKernel.Finish(Name, c, Options, theta, info, component, sizes, skill, iterations, converged, objective, parameters);
    }
}

/// <summary>Options of <see cref="CrowdBradleyTerry"/>.</summary>
public sealed record CrowdBradleyTerryOptions : PairwiseOptions;

/// <summary>
/// Crowd-BT, Bradley-Terry with a reliability per worker: worker w reports the Bradley-Terry outcome with probability
/// η_w and its reverse otherwise, P(i beats j | w) = η_w σ(θ_i − θ_j) + (1 − η_w) σ(θ_j − θ_i). η ≈ 1 is a careful
/// worker, η ≈ ½ a random one (her answers carry no weight), η &lt; ½ an adversary whose answers count reversed. From
/// X. Chen, P. N. Bennett, K. Collins-Thompson and E. Horvitz, "Pairwise ranking aggregation in a crowdsourced
/// setting", WSDM 2013 (eq. 1). Fitted by generalised EM: r_c = P(the worker was reliable on c); η_w = (Σ r + 1) / (n + 2);
/// one MM step on the scores with the winner credited r_c wins and the loser 1 − r_c. Started from the Bradley-Terry fit
/// with η = 0.8.
/// </summary>
public sealed class CrowdBradleyTerry(CrowdBradleyTerryOptions? options = null) : IPairwiseAggregator
{
    /// <summary>The options.</summary>
    public CrowdBradleyTerryOptions Options { get; } = options ?? new CrowdBradleyTerryOptions();

    /// <inheritdoc />
    public string Name => "crowdbt";

    /// <inheritdoc />
    public PairwiseResult Aggregate(PairwiseComparisons comparisons, ComputeOptions? compute = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(comparisons);
        Options.Validate();
        var c = comparisons;
        var theta = BradleyTerry.Start(c, Options, out var component, out var sizes, cancellationToken);

        int W = c.WorkerCount, C = c.Count;
        var eta = new double[W]; Array.Fill(eta, 0.8);
        var r = new double[C]; var flipped = new double[C];
        var numerator = new double[c.ItemCount];
        var denominator = new double[c.ItemCount];
        var strength = new double[c.ItemCount];
        var rSum = new double[W]; var count = new int[W];
        var objective = new List<double>();
        double previous = double.NegativeInfinity;
        bool converged = false;
        int iterations = 0;
        var workers = c.ComparisonWorkers;
        for (int it = 0; it < Options.MaxIterations; it++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            double ll = 0;
            Array.Clear(rSum); Array.Clear(count);
            for (int k = 0; k < C; k++)
            {
                int w = workers[k];
                double p = BradleyTerryKernel.Sigmoid(theta[c.Winner(k)] - theta[c.Loser(k)]);
                double honest = eta[w] * p, reversed = (1 - eta[w]) * (1 - p);
                double total = honest + reversed;
                r[k] = total > 0 ? honest / total : 0.5;
                flipped[k] = 1 - r[k];
                ll += Math.Log(Math.Max(total, Numerics.MinProbability));
                rSum[w] += r[k];
                count[w]++;
            }
            ll = (ll + BradleyTerryKernel.LogPrior(theta, Options.Regularization)) / Math.Max(1, C);
            objective.Add(ll);
            iterations++;
            for (int w = 0; w < W; w++) eta[w] = (rSum[w] + 1) / (count[w] + 2);
            BradleyTerryKernel.MmStep(c, theta, r, flipped, Options.Regularization, component, sizes, numerator, denominator, strength);
            if (Options.Tolerance > 0 && Math.Abs(ll - previous) < Options.Tolerance) { converged = true; break; }
            previous = ll;
        }

        var info = new double[C];
        for (int k = 0; k < C; k++)
        {
            int w = workers[k];
            double p = BradleyTerryKernel.Sigmoid(theta[c.Left[k]] - theta[c.Right[k]]);
            double pl = eta[w] * p + (1 - eta[w]) * (1 - p);
            double slope = (2 * eta[w] - 1) * p * (1 - p);
            info[k] = slope * slope / Math.Max(pl * (1 - pl), 1e-300);
        }
        return BradleyTerryKernel.Finish(Name, c, Options, theta, info, component, sizes, eta, iterations, converged, objective);
    }
}
