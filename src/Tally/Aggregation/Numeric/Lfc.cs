using Tally.Core;

namespace Tally.Aggregation.Numeric;

/// <summary>Worker noise of <see cref="LearningFromCrowds"/>.</summary>
public enum NumericNoise
{
    /// <summary>Gaussian: y = z + b_j + ε with ε ~ N(0, σ_j²).</summary>
    Gaussian,
    /// <summary>Heavy-tailed: ε ~ σ_j·t_ν, so a few wild answers cost little.</summary>
    StudentT,
}

/// <summary>Options of <see cref="LearningFromCrowds"/>.</summary>
public sealed record LearningFromCrowdsOptions : NumericIterativeOptions
{
    /// <summary>Defaults: 200 iterations, tolerance 1e-7 (relative to the answers' standard deviation).</summary>
    public LearningFromCrowdsOptions() { MaxIterations = 200; Tolerance = 1e-7; }

    /// <summary>The noise model; default <see cref="NumericNoise.Gaussian"/> (Raykar et al.'s).</summary>
    public NumericNoise Noise { get; init; } = NumericNoise.Gaussian;

    /// <summary>Fit a bias b_j per worker (default true); false = Raykar et al.'s model, unbiased workers.</summary>
    public bool Bias { get; init; } = true;

    /// <summary>Degrees of freedom ν of the Student-t noise; default 4 (heavy tails with a finite variance). Above 0.</summary>
    public double DegreesOfFreedom { get; init; } = 4;

    /// <summary>
    /// Strength of the inverse-gamma prior on every σ_j², in pseudo-answers at the crowd's pooled residual variance;
    /// default 2. Why: a worker with a handful of answers that happen to agree would otherwise get σ² → 0 and an
    /// infinite weight; two pseudo-answers are outweighed once she has tens of real ones.
    /// </summary>
    public double VariancePrior { get; init; } = 2;

    /// <summary>
    /// Strength of the Gaussian prior b_j ~ N(0, σ_j²/κ) on the biases, in pseudo-answers; default 1, so a worker's bias
    /// is her mean residual shrunk by n_j/(n_j + 1). 0 = no shrinkage.
    /// </summary>
    public double BiasPrior { get; init; } = 1;

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        Check.Defined(Noise, nameof(Noise));
        Check.Above(DegreesOfFreedom, 0, nameof(DegreesOfFreedom));
        Check.AtLeast(VariancePrior, 0, nameof(VariancePrior));
        Check.AtLeast(BiasPrior, 0, nameof(BiasPrior));
    }
}

/// <summary>
/// Learning from crowds for numeric answers: each worker j answers task i with y_ij = z_i + b_j + ε_ij, her bias b_j and
/// noise ε_ij ~ N(0, σ_j²) (or σ_j·t_ν), and the true values z_i latent with a flat prior; fitted by EM.
/// V. C. Raykar, S. Yu, L. H. Zhao, G. H. Valadez, C. Florin, L. Bogoni and L. Moy, "Learning From Crowds", JMLR 11,
/// 2010, §4 (regression: y_i^j = y_i + ε with a precision λ_j per annotator) — here without features (the truth is a
/// free latent per task, the "LFC_N" of Zheng et al.'s survey) and with a per-worker bias added.
/// </summary>
/// <remarks>
/// <para>E-step: the posterior of z_i is Gaussian, mean ẑ_i = Σ_j u_ij λ_j (y_ij − b_j) / Σ_j u_ij λ_j, variance
/// v_i = 1/Σ_j u_ij λ_j, with λ_j = 1/σ_j² and u_ij = 1 (Gaussian) or, for Student-t noise written as a scale mixture,
/// u_ij = (ν + 1)/(ν + r_ij²/σ_j²), r_ij = y_ij − b_j − ẑ_i (the mixture's expected precision; the "t" variant is
/// the EM of Lange, Little &amp; Taylor, "Robust Statistical Modeling Using the t Distribution", JASA 1989).
/// M-step: b_j = Σ_i u_ij (y_ij − ẑ_i)/(κ + Σ_i u_ij) and σ_j² = (2β + Σ_i u_ij (r_ij² + v_i) + κ b_j²)/(2α + n_j + 3)
/// (2α + n_j + 2 without a bias)
/// under the inverse-gamma prior (α = β/s² = <see cref="LearningFromCrowdsOptions.VariancePrior"/>/2, s² the pooled
/// residual variance of the mean). The biases are identified only up to a common shift; they are centred on their
/// answer-weighted mean 0 after each M-step (the crowd as a whole is taken as unbiased).</para>
/// <para>Start: the per-task median (robust), σ_j² from the residuals about it. Interval: ẑ_i ± z_{level}·√v_i.
/// Weight = λ_j.</para>
/// </remarks>
public sealed class LearningFromCrowds(LearningFromCrowdsOptions? options = null) : INumericAggregator
{
    /// <summary>The options in use.</summary>
    public LearningFromCrowdsOptions Options { get; } = options ?? new LearningFromCrowdsOptions();

    /// <inheritdoc />
    public string Name => Options.Noise == NumericNoise.StudentT ? "lfc-t" : Options.Bias ? "lfc" : "lfc-n";

    /// <inheritdoc />
    public NumericResult Aggregate(NumericAnswerMatrix answers, ComputeOptions? compute = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(answers);
        var o = Options;
        o.Validate();
        var a = answers;
        int T = a.TaskCount, W = a.WorkerCount;
        bool t = o.Noise == NumericNoise.StudentT;
        double nu = o.DegreesOfFreedom;
        double scale = NumericKernel.Scale(a), sd = Math.Sqrt(scale), floor = NumericKernel.RelativeFloor * scale;

        var z = NumericKernel.Medians(a);
        var (bias0, var0) = NumericKernel.Residuals(a, z);
        // Pooled residual variance about the start: the prior's centre.
        double pooled = 0;
        for (int w = 0; w < W; w++) pooled += var0[w] * a.WorkerAnswerCount(w);
        pooled = Math.Max(floor, a.AnswerCount > 0 ? pooled / a.AnswerCount : scale);
        double alpha = o.VariancePrior / 2, beta = alpha * pooled;

        var bias = new double[W];
        var sigma2 = new double[W];
        for (int w = 0; w < W; w++)
        {
            int n = a.WorkerAnswerCount(w);
            double resid = var0[w] + bias0[w] * bias0[w];
            sigma2[w] = Math.Max(floor, (2 * beta + n * resid) / (2 * alpha + n + 2));
        }
        var u = new double[a.AnswerCount];          // by task-major answer index
        Array.Fill(u, 1.0);
        var v = new double[T];
        var previous = new double[T];
        var bw = new double[W];                      // Σ u (y − ẑ) per worker
        var uw = new double[W];                      // Σ u per worker
        var rw = new double[W];                      // Σ u (r² + v) per worker
        int it = 0;
        bool converged = false;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            // E-step: the posterior of every z_i given the workers' parameters (and, for t noise, the weights u).
            Array.Copy(z, previous, T);
            for (int pass = 0; pass < (t ? 2 : 1); pass++)
            {
                for (int i = 0; i < T; i++)
                {
                    double num = 0, den = 0;
                    for (int e = a.TaskOffsets[i]; e < a.TaskOffsets[i + 1]; e++)
                    {
                        int w = a.TaskWorkers[e];
                        double p = u[e] / sigma2[w];
                        num += p * (a.TaskValues[e] - bias[w]);
                        den += p;
                    }
                    if (den > 0) { z[i] = num / den; v[i] = 1 / den; }
                }
                if (!t) break;
                for (int i = 0; i < T; i++)
                    for (int e = a.TaskOffsets[i]; e < a.TaskOffsets[i + 1]; e++)
                    {
                        int w = a.TaskWorkers[e];
                        double r = a.TaskValues[e] - bias[w] - z[i];
                        u[e] = (nu + 1) / (nu + (r * r + v[i]) / sigma2[w]);
                    }
            }
            if (converged || it >= o.MaxIterations) break;
            it++;
            // M-step, in task order so the sums never depend on threads or row order.
            Array.Clear(bw); Array.Clear(uw); Array.Clear(rw);
            for (int i = 0; i < T; i++)
                for (int e = a.TaskOffsets[i]; e < a.TaskOffsets[i + 1]; e++)
                {
                    int w = a.TaskWorkers[e];
                    bw[w] += u[e] * (a.TaskValues[e] - z[i]);
                    uw[w] += u[e];
                }
            if (o.Bias)
            {
                double centre = 0, mass = 0;
                for (int w = 0; w < W; w++)
                {
                    bias[w] = uw[w] > 0 ? bw[w] / (o.BiasPrior + uw[w]) : 0;
                    int n = a.WorkerAnswerCount(w);
                    centre += n * bias[w]; mass += n;
                }
                if (mass > 0) { centre /= mass; for (int w = 0; w < W; w++) bias[w] -= centre; }
            }
            for (int i = 0; i < T; i++)
                for (int e = a.TaskOffsets[i]; e < a.TaskOffsets[i + 1]; e++)
                {
                    int w = a.TaskWorkers[e];
                    double r = a.TaskValues[e] - bias[w] - z[i];
                    rw[w] += u[e] * (r * r + v[i]);
                }
            for (int w = 0; w < W; w++)
            {
                int n = a.WorkerAnswerCount(w);
                double shrink = o.Bias ? o.BiasPrior * bias[w] * bias[w] : 0;
                sigma2[w] = Math.Max(floor, (2 * beta + rw[w] + shrink) / (2 * alpha + n + (o.Bias ? 1 : 0) + 2));
            }
            // Converged: one more E-step gives the estimates and intervals of the final parameters.
            if (o.Tolerance > 0 && NumericKernel.MaxChange(z, previous) < o.Tolerance * sd) converged = true;
        }
        // Final E-step above used the last parameters; the intervals come from its posterior variances.
        double q = NumericKernel.NormalQuantile(o.IntervalLevel);
        var lower = new double[T];
        var upper = new double[T];
        for (int i = 0; i < T; i++) { double h = q * Math.Sqrt(v[i]); lower[i] = z[i] - h; upper[i] = z[i] + h; }
        var weight = new double[W];
        for (int w = 0; w < W; w++) weight[w] = 1 / sigma2[w];
        if (!o.Bias) bias = NumericKernel.Residuals(a, z).Bias;
        return NumericKernel.Result(Name, a, o, z, lower, upper, bias, sigma2, weight, it, converged);
    }
}
