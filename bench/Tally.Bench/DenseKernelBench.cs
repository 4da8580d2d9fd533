using System.Diagnostics;
using System.Globalization;
using Tally.Learning;

namespace Tally.Bench;

/// <summary>
/// <c>dense-kernels [rows nin nout seconds]</c>: throughput of the dense layer's three products (forward, weight
/// gradient, input gradient), blocked kernels against the plain reference loops, in multiply-adds per second.
/// </summary>
internal static class DenseKernelBench
{
    public static int Run(string[] args)
    {
        int Arg(int i, int fallback) => args.Length > i ? int.Parse(args[i], CultureInfo.InvariantCulture) : fallback;
        int rows = Arg(1, 64), nin = Arg(2, 784), nout = Arg(3, 128);
        double budget = args.Length > 4 ? double.Parse(args[4], CultureInfo.InvariantCulture) : 1.0;
        var rng = new Random(1);
        double[] Fill(int n) { var v = new double[n]; for (int i = 0; i < n; i++) v[i] = rng.NextDouble() - 0.5; return v; }
        double[] a = Fill(rows * nin), w = Fill(nout * nin), bias = Fill(nout), dz = Fill(rows * nout);
        double[] wt = new double[nin * nout], z = new double[rows * nout], gw = new double[nin * nout], gb = new double[nout], da = new double[rows * nin];
        double macs = (double)rows * nin * nout;
        void Time(string name, Action run)
        {
            run();
            var clock = Stopwatch.StartNew();
            long n = 0;
            while (clock.Elapsed.TotalSeconds < budget) { run(); n++; }
            double s = clock.Elapsed.TotalSeconds;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name},{rows},{nin},{nout},{n * macs / s / 1e9:0.00} GMAC/s"));
        }
        Time("forward", () => DenseKernels.Forward(a, rows, nin, w, bias, nout, wt, z));
        Time("forward-reference", () => DenseKernels.ForwardReference(a, rows, nin, w, bias, nout, z));
        Time("weight-gradient", () => DenseKernels.WeightGradient(dz, a, rows, nin, nout, gw, gb, new double[rows * nout]));
        Time("weight-gradient-reference", () => DenseKernels.WeightGradientReference(dz, a, rows, nin, nout, gw));
        Time("input-gradient", () => DenseKernels.InputGradient(dz, w, rows, nin, nout, da));
        Time("input-gradient-reference", () => DenseKernels.InputGradientReference(dz, w, rows, nin, nout, da));
        return 0;
    }
}
