using Tally.Core;
using System.Collections.Immutable;
using System.Runtime.InteropServices;

namespace Tally.Simulation;

/// <summary>
/// A common prior over the private signals of the agents on one task, for peer-prediction experiments: tasks are
/// i.i.d., and on each task the n agents' signals are drawn jointly (exchangeably) by <see cref="DrawTask"/>.
/// </summary>
public interface ISignalPrior
{
    /// <summary>Short description (for tables).</summary>
    string Name { get; }
    /// <summary>K, the number of signal values (reports share them).</summary>
    int Classes { get; }
    /// <summary>Marginal distribution of one agent's signal (K entries, sums to 1).</summary>
    ImmutableArray<double> Marginal { get; }
    /// <summary>Joint distribution of two distinct agents' signals on a task that the draws actually follow (K×K row-major).</summary>
    ImmutableArray<double> PairJoint { get; }
    /// <summary>
    /// Fills <paramref name="signals"/> (one entry per agent) with one task's signals. Reads <paramref name="rng"/>
    /// exactly 1 + signals.Length times, so experiments that differ only in strategies share their signals.
    /// </summary>
    void DrawTask(Random rng, Span<int> signals);
}

/// <summary>
/// A latent-class signal model: a task's latent class l is drawn from π and every agent's signal independently from
/// the component q_l, so any two agents' signals have the joint Σ_l π_l q_l q_lᵀ exactly, for every number of agents.
/// The symmetric Dawid-Skene model is the case l = true class, q_l = row l of Γ.
/// </summary>
public sealed class LatentClassPrior : ISignalPrior
{
    private readonly double[] _weights;     // π, length L
    private readonly double[] _components;  // q, L×K row-major

    private LatentClassPrior(string name, double[] weights, double[] components, int classes, double[]? target)
    {
        Name = name;
        Classes = classes;
        _weights = weights;
        _components = components;
        var marginal = new double[classes];
        var joint = new double[MemoryBudget.Length(classes, classes)];
        for (int l = 0; l < weights.Length; l++)
            for (int x = 0; x < classes; x++)
            {
                double qx = components[l * classes + x];
                marginal[x] += weights[l] * qx;
                for (int y = 0; y < classes; y++) joint[x * classes + y] += weights[l] * qx * components[l * classes + y];
            }
        Marginal = Wrap(marginal);
        PairJoint = Wrap(joint);
        TargetJoint = target is null ? PairJoint : Wrap(target);
        double tv = 0;
        for (int i = 0; i < joint.Length; i++) tv += Math.Abs(joint[i] - TargetJoint[i]);
        PairwiseTvError = tv / 2;
    }

    /// <inheritdoc />
    public string Name { get; }
    /// <inheritdoc />
    public int Classes { get; }
    /// <inheritdoc />
    public ImmutableArray<double> Marginal { get; }
    /// <inheritdoc />
    public ImmutableArray<double> PairJoint { get; }
    /// <summary>The pairwise joint the prior was built to reproduce (equal to <see cref="PairJoint"/> for exact constructions).</summary>
    public ImmutableArray<double> TargetJoint { get; }
    /// <summary>Total-variation distance ½Σ|PairJoint − TargetJoint| between the simulated and the requested pair joint.</summary>
    public double PairwiseTvError { get; }
    /// <summary>Number of latent classes L.</summary>
    public int LatentClasses => _weights.Length;
    /// <summary>π, the latent-class weights.</summary>
    public ImmutableArray<double> Weights => Wrap((double[])_weights.Clone());
    /// <summary>q, the L×K component distributions (row-major).</summary>
    public ImmutableArray<double> Components => Wrap((double[])_components.Clone());

    /// <inheritdoc />
    public void DrawTask(Random rng, Span<int> signals)
    {
        ArgumentNullException.ThrowIfNull(rng);
        int l = Draw(_weights, rng.NextDouble());
        var q = _components.AsSpan(l * Classes, Classes);
        for (int i = 0; i < signals.Length; i++) signals[i] = Draw(q, rng.NextDouble());
    }

    /// <summary>Symmetric Dawid-Skene signals: true class from <paramref name="prior"/> (w), signal from row y of <paramref name="confusion"/> (Γ, K×K row-major).</summary>
    public static LatentClassPrior DawidSkene(double[] prior, double[] confusion, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(prior);
        ArgumentNullException.ThrowIfNull(confusion);
        int k = prior.Length;
        if (k < 1) throw new ArgumentException("The prior needs at least one class.", nameof(prior));
        if (confusion.Length != k * k) throw new ArgumentException($"The confusion matrix needs K×K = {k * k} entries.", nameof(confusion));
        var w = Normalised(prior, nameof(prior));
        var g = new double[MemoryBudget.Length(k, k)];
        for (int c = 0; c < k; c++) Normalised(confusion.AsSpan(c * k, k).ToArray(), nameof(confusion)).CopyTo(g, c * k);
        return new LatentClassPrior(name ?? $"ds(K={k})", w, g, k, null);
    }

    /// <summary>Symmetric Dawid-Skene signals with uniform classes and accuracy a (off-diagonal mass spread evenly).</summary>
    public static LatentClassPrior SymmetricDawidSkene(int classes, double accuracy, double[]? prior = null) =>
        DawidSkene(prior ?? Enumerable.Repeat(1.0, classes).ToArray(), PeerReportSimulator.Symmetric(classes, accuracy),
            $"ds(K={classes},a={accuracy:0.###})");

    /// <summary>An explicit mixture Σ_l π_l q_l q_lᵀ (L weights, L×K components row-major): reproduces that pair joint exactly.</summary>
    public static LatentClassPrior FromMixture(double[] weights, double[] components, int classes, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(components);
        if (classes < 1) throw new ArgumentOutOfRangeException(nameof(classes));
        if (weights.Length < 1 || components.Length != weights.Length * classes)
            throw new TallyUserException($"Need L ≥ 1 weights and L×K = {weights.Length * classes} component entries.");
        var w = Normalised(weights, nameof(weights));
        var q = new double[components.Length];
        for (int l = 0; l < weights.Length; l++)
            Normalised(components.AsSpan(l * classes, classes).ToArray(), nameof(components)).CopyTo(q, l * classes);
        return new LatentClassPrior(name ?? $"mixture(L={weights.Length},K={classes})", w, q, classes, null);
    }

    /// <summary>
    /// A prior whose pair joint approximates a given symmetric joint J (K×K row-major, non-negative, sums to 1).
    /// </summary>
    /// <remarks>
    /// Construction. n &gt; 2 exchangeable agents need a joint law of n signals, which a pair joint does not determine;
    /// the standard construction "draw a reference signal z from the marginal p, then every agent's signal i.i.d. from
    /// J(z, ·)/p_z" makes two agents' joint J diag(p)⁻¹ J, which is not J in general (it is the latent-class model with
    /// π = p, q_z = J(z, ·)/p_z). So that construction is only the starting point: with K latent classes we fit π and q
    /// by EM (minimising KL(J ‖ Σ π_l q_l q_lᵀ), treating J as a weighted sample of signal pairs), which never does worse
    /// in KL than the start and is exact (TV → 0) whenever J is a K-component mixture Σ π_l q_l q_lᵀ (e.g. every
    /// Dawid-Skene joint), up to EM convergence. A J that is no such mixture (e.g. not positive semi-definite, as
    /// when peers anti-agree) cannot be reproduced by any model with conditionally independent agents; the residual is
    /// reported in <see cref="PairwiseTvError"/>, and <paramref name="initialTvError"/> gives the reference-signal
    /// construction's error for comparison. Draws are then exact draws from the fitted model.
    /// </remarks>
    /// <param name="joint">J.</param>
    /// <param name="classes">K.</param>
    /// <param name="name">Name.</param>
    /// <param name="iterations">Most EM iterations (0 = keep the reference-signal construction).</param>
    /// <param name="initialTvError">TV error of the reference-signal construction J diag(p)⁻¹ J.</param>
    public static LatentClassPrior FromJoint(double[] joint, int classes, string? name, int iterations, out double initialTvError)
    {
        ArgumentNullException.ThrowIfNull(joint);
        int k = classes;
        if (k < 1 || joint.Length != k * k) throw new ArgumentException($"The joint needs K×K = {k * k} entries.", nameof(joint));
        ValidateJoint(joint, k, 1e-6);
        var j = (double[])joint.Clone();
        double total = j.Sum();
        for (int i = 0; i < j.Length; i++) j[i] /= total;
        // Start: the reference-signal construction, one latent class per signal value with p_z > 0.
        var p = new double[k];
        for (int x = 0; x < k; x++) for (int y = 0; y < k; y++) p[x] += j[x * k + y];
        var alive = Enumerable.Range(0, k).Where(z => p[z] > 0).ToArray();
        int lCount = alive.Length;
        var pi = new double[lCount];
        var q = new double[MemoryBudget.Length(lCount, k)];
        for (int l = 0; l < lCount; l++)
        {
            int z = alive[l];
            pi[l] = p[z];
            for (int x = 0; x < k; x++) q[l * k + x] = j[z * k + x] / p[z];
        }
        initialTvError = new LatentClassPrior("", pi, q, k, j).PairwiseTvError;

        var model = new double[MemoryBudget.Length(k, k)];
        var newPi = new double[lCount];
        var newQ = new double[MemoryBudget.Length(lCount, k)];
        for (int it = 0; it < iterations; it++)
        {
            Array.Clear(model);
            for (int l = 0; l < lCount; l++)
                for (int x = 0; x < k; x++)
                {
                    double a = pi[l] * q[l * k + x];
                    if (a == 0) continue;
                    for (int y = 0; y < k; y++) model[x * k + y] += a * q[l * k + y];
                }
            Array.Clear(newPi);
            Array.Clear(newQ);
            for (int x = 0; x < k; x++)
                for (int y = 0; y < k; y++)
                {
                    double jxy = j[x * k + y], mxy = model[x * k + y];
                    // A pair with J > 0 but model 0 cannot gain responsibility from any class; skipping it keeps
                    // the update finite (it only arises when J has a pair no latent class can produce).
                    if (jxy == 0 || mxy <= 0) continue;
                    double f = jxy / mxy;
                    for (int l = 0; l < lCount; l++)
                    {
                        double r = pi[l] * q[l * k + x] * q[l * k + y] * f;
                        newPi[l] += r;
                        newQ[l * k + x] += r;
                    }
                }
            double change = 0, sumPi = newPi.Sum();
            for (int l = 0; l < lCount; l++)
            {
                if (newPi[l] <= 0)
                {
                    // A class that lost all responsibility keeps its (irrelevant) component with weight 0.
                    change += pi[l]; pi[l] = 0; continue;
                }
                for (int x = 0; x < k; x++)
                {
                    double v = newQ[l * k + x] / newPi[l];
                    change += Math.Abs(v - q[l * k + x]);
                    q[l * k + x] = v;
                }
                double np = newPi[l] / sumPi;
                change += Math.Abs(np - pi[l]);
                pi[l] = np;
            }
            if (change < 1e-13) break;
        }
        return new LatentClassPrior(name ?? $"joint(K={k})", pi, q, k, j);
    }

    /// <summary>Throws <see cref="ArgumentException"/> unless J is a finite, non-negative, symmetric K×K matrix summing to 1 (within <paramref name="tolerance"/>).</summary>
    public static void ValidateJoint(ReadOnlySpan<double> joint, int classes, double tolerance)
    {
        var problem = EdxPriors.JointProblem(joint, classes, tolerance);
        if (problem is not null) throw new ArgumentException(problem);
    }

    private static double[] Normalised(double[] v, string param)
    {
        double sum = 0;
        foreach (var x in v)
        {
            if (!double.IsFinite(x) || x < 0) throw new ArgumentException("Probabilities must be finite and ≥ 0.", param);
            sum += x;
        }
        if (!(sum > 0)) throw new ArgumentException("Probabilities must not all be 0.", param);
        var r = new double[v.Length];
        for (int i = 0; i < v.Length; i++) r[i] = v[i] / sum;
        return r;
    }

    /// <summary>Inverse-CDF draw (the last class with positive mass absorbs rounding, so zero-mass classes are never drawn).</summary>
    internal static int Draw(ReadOnlySpan<double> p, double u)
    {
        double c = 0;
        int last = 0;
        for (int x = 0; x < p.Length; x++)
        {
            if (p[x] <= 0) continue;
            last = x;
            c += p[x];
            if (u < c) return x;
        }
        return last;
    }

    private static ImmutableArray<double> Wrap(double[] a) => ImmutableCollectionsMarshal.AsImmutableArray(a);
}

/// <summary>Signal priors from the bundled edX joints.</summary>
public static class EdxPriorExtensions
{
    /// <summary>A signal prior reproducing J between any two agents (see <see cref="LatentClassPrior.FromJoint"/>).</summary>
    public static LatentClassPrior ToSignalPrior(this EdxPrior prior, int iterations = 2000)
    {
        ArgumentNullException.ThrowIfNull(prior);
        return LatentClassPrior.FromJoint(prior.Joint.ToArray(), prior.Classes, "edx:" + prior.Name, iterations, out _);
    }
}
