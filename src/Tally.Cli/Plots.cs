using System.Runtime.InteropServices;
using ScottPlot;
using Tally.Core;

namespace Tally.Cli;

/// <summary>Charts written as PNG files (presentation only: the numbers come from the library).</summary>
internal static class Plots
{
    /// <summary>The platforms whose SkiaSharp native library the program carries (Tally.Cli.csproj, TallyNativeRuntimes).</summary>
    private const string NativePlatforms = "linux-x64, linux-arm64, macOS (osx) and win-x64";

    /// <summary>A new chart; a user error (not a crash) when SkiaSharp's native library is missing for this platform.</summary>
    private static Plot NewPlot()
    {
        try
        {
            return new Plot();
        }
        catch (TypeInitializationException e) when (Innermost(e) is DllNotFoundException)
        {
            throw new TallyUserException(
                $"--plot: cannot draw: SkiaSharp's native library does not load on this platform ({RuntimeInformation.RuntimeIdentifier}; " +
                $"it ships for {NativePlatforms}); leave out --plot, or build for this platform " +
                "(dotnet publish src/Tally.Cli -r RID)", e);
        }
    }

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null) e = e.InnerException;
        return e;
    }

    /// <summary>A bar chart of one value per named item.</summary>
    public static void Bars(string path, string title, string yLabel, IReadOnlyList<string> names, IReadOnlyList<double> values)
    {
        var plot = NewPlot();
        var bars = new List<Bar>();
        for (int i = 0; i < values.Count; i++)
            bars.Add(new Bar { Position = i, Value = values[i], FillColor = Colors.C0, Label = values[i].ToString(values[i] < 10 ? "0.###" : "0.0", System.Globalization.CultureInfo.InvariantCulture) });
        var series = plot.Add.Bars(bars);
        series.ValueLabelStyle.FontSize = 11;
        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, names.Count).Select(i => (double)i).ToArray(), names.ToArray());
        // Long strategy names need slanted labels to stay readable.
        if (names.Any(n => n.Length > 8))
        {
            plot.Axes.Bottom.TickLabelStyle.Rotation = -35;
            plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleRight;
            plot.Axes.Bottom.MinimumSize = 130;
        }
        plot.Axes.Margins(bottom: 0);
        plot.Title(title);
        plot.YLabel(yLabel);
        Save(plot, path, Math.Max(480, 80 * names.Count), 460);
    }

    /// <summary>
    /// Lines with shaded intervals: one series per name, y(x) with lower/upper bounds; the legend sits in the lower
    /// left corner, or right of the chart when <paramref name="legendOutside"/> (for series that fill the whole area).
    /// </summary>
    public static void Lines(string path, string title, string xLabel, string yLabel,
        IReadOnlyList<(string Name, double[] X, double[] Y, double[]? Low, double[]? High)> series, bool legendOutside = false)
    {
        var plot = NewPlot();
        int i = 0;
        foreach (var (name, x, y, low, high) in series)
        {
            var color = plot.Add.Palette.GetColor(i++);
            if (low is not null && high is not null)
            {
                var band = plot.Add.FillY(x, low, high);
                band.FillColor = color.WithAlpha(0.2);
                band.LineWidth = 0;
            }
            var line = plot.Add.Scatter(x, y);
            line.Color = color;
            line.LegendText = name;
            line.MarkerSize = 5;
        }
        if (legendOutside) plot.ShowLegend(Edge.Right);
        else plot.ShowLegend(Alignment.LowerLeft);
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        Save(plot, path, legendOutside ? 820 : 640, 440);
    }

    /// <summary>
    /// Points (x, y), each with a vertical interval low–high when given: e.g. every worker's accuracy against her number
    /// of answers. <paramref name="logX"/> spaces x by its logarithm (answers per worker span orders of magnitude).
    /// </summary>
    public static void Points(string path, string title, string xLabel, string yLabel, IReadOnlyList<double> x, IReadOnlyList<double> y,
        IReadOnlyList<double>? low = null, IReadOnlyList<double>? high = null, bool logX = false)
    {
        var plot = NewPlot();
        double X(double v) => logX ? Math.Log10(Math.Max(v, 1)) : v;
        var color = Colors.C0;
        if (low is not null && high is not null)
            for (int i = 0; i < x.Count; i++)
            {
                var bar = plot.Add.Line(X(x[i]), low[i], X(x[i]), high[i]);
                bar.Color = color.WithAlpha(0.35);
                bar.LineWidth = 1.5f;
            }
        var points = plot.Add.ScatterPoints(x.Select(X).ToArray(), y.ToArray());
        points.Color = color;
        points.MarkerSize = 6;
        if (logX)
        {
            // Ticks at 1, 10, 100 … labelled with the counts, not their logarithms.
            double top = x.Count == 0 ? 1 : Math.Ceiling(X(x.Max()));
            var positions = Enumerable.Range(0, (int)top + 1).Select(e => (double)e).ToArray();
            plot.Axes.Bottom.SetTicks(positions, positions.Select(e => Math.Pow(10, e).ToString("0", System.Globalization.CultureInfo.InvariantCulture)).ToArray());
        }
        plot.Axes.SetLimitsY(-0.02, 1.02);
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        Save(plot, path, 640, 440);
    }

    private static void Save(Plot plot, string path, int width, int height)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        plot.SavePng(path, width, height);
    }
}
