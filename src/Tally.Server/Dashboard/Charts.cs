using System.Globalization;

namespace Tally.Server.Dashboard;

/// <summary>
/// Charts as inline SVG written on the server: bars (histograms), lines and heat maps. Each is a scalable image
/// (<c>viewBox</c>, full width of its column) with <c>role="img"</c>, a <c>title</c> and a <c>desc</c> that say what it
/// shows in words (its alternative text); colours and sizes are presentation attributes, so the page's content
/// security policy needs no inline styles. Every label passes through <see cref="Html"/>'s encoding.
/// </summary>
internal static class Charts
{
    private const double W = 520, H = 250, Left = 56, Right = 12, Top = 14, Bottom = 50;
    private static readonly string[] Palette = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#db2777"];

    private static string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);

    private static void Start(Html h, string id, string title, string description, double height = H, double width = W, string kind = "chart")
    {
        h.Open("figure", ("class", kind));
        h.Open("svg", ("xmlns", "http://www.w3.org/2000/svg"), ("viewBox", $"0 0 {F(width)} {F(height)}"), ("role", "img"),
            ("aria-labelledby", $"{id}-t {id}-d"), ("id", id), ("font-family", "system-ui, sans-serif"), ("font-size", "13"));
        h.El("title", title, ("id", id + "-t"));
        h.El("desc", description, ("id", id + "-d"));
    }

    private static void End(Html h, string title)
    {
        h.Close("svg");
        h.El("figcaption", title);
        h.Close("figure");
    }

    /// <summary>A round step 1, 2 or 5 × 10ⁿ giving about five ticks up to <paramref name="max"/>.</summary>
    /// <param name="max">The largest value shown.</param>
    /// <param name="whole">Whether the values are counts (then the step is at least 1).</param>
    internal static double Step(double max, bool whole = false)
    {
        if (!(max > 0) || !double.IsFinite(max)) return 1;
        double raw = max / 5, magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double m = raw / magnitude;
        double step = (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * magnitude;
        return whole ? Math.Max(1, step) : step;
    }

    private static double Ceiling(double max, bool whole) => max > 0 ? Math.Ceiling(max / Step(max, whole)) * Step(max, whole) : 1;

    private static void Axes(Html h, double yMax, string xLabel, string yLabel, Func<double, string> yFormat, bool whole)
    {
        double step = Step(yMax, whole), plotH = H - Top - Bottom;
        for (double v = 0; v <= yMax * 1.0000001 + 1e-12; v += step)
        {
            double y = Top + plotH * (1 - v / yMax);
            h.Open("line", ("x1", F(Left)), ("x2", F(W - Right)), ("y1", F(y)), ("y2", F(y)), ("stroke", "#e5e7eb")).Close("line");
            h.Open("text", ("x", F(Left - 6)), ("y", F(y + 4)), ("text-anchor", "end"), ("fill", "#374151")).Text(yFormat(v)).Close("text");
        }
        h.Open("line", ("x1", F(Left)), ("x2", F(W - Right)), ("y1", F(H - Bottom)), ("y2", F(H - Bottom)), ("stroke", "#6b7280")).Close("line");
        h.Open("text", ("x", F(Left + (W - Left - Right) / 2)), ("y", F(H - 6)), ("text-anchor", "middle"), ("fill", "#111827")).Text(xLabel).Close("text");
        h.Open("text", ("x", "14"), ("y", F(Top + plotH / 2)), ("text-anchor", "middle"), ("fill", "#111827"),
            ("transform", $"rotate(-90 14 {F(Top + plotH / 2)})")).Text(yLabel).Close("text");
    }

    /// <summary>Vertical bars, one per category (a histogram when the categories are bins).</summary>
    /// <remarks><paramref name="whole"/>: the values are counts (whole-number ticks).</remarks>
    public static void Bars(Html h, string id, string title, string description, IReadOnlyList<string> categories, IReadOnlyList<double> values,
        string xLabel, string yLabel, bool whole = false)
    {
        Start(h, id, title, description);
        Func<double, string> yFormat = v => v.ToString(whole ? "0" : "0.###", CultureInfo.InvariantCulture);
        double max = values.Count == 0 ? 1 : Math.Max(values.Max(), 0);
        double yMax = Ceiling(max, whole);
        int n = Math.Max(1, values.Count);
        // Long or many labels are slanted so that neighbours do not run into each other (the axis title then gives way).
        bool slant = n > 6 && categories.Any(c => c.Length > 4);
        Axes(h, yMax, slant ? "" : xLabel, yLabel, yFormat, whole);
        double plotW = W - Left - Right, plotH = H - Top - Bottom, slot = plotW / n, bar = Math.Max(1, slot * 0.8);
        int every = Math.Max(1, (int)Math.Ceiling(n / (slant ? 30.0 : 10.0)));
        for (int i = 0; i < values.Count; i++)
        {
            double v = Math.Max(values[i], 0), bh = plotH * v / yMax, x = Left + i * slot + (slot - bar) / 2;
            h.Open("rect", ("x", F(x)), ("y", F(H - Bottom - bh)), ("width", F(bar)), ("height", F(bh)), ("fill", Palette[0]));
            h.El("title", $"{categories[i]}: {yFormat(values[i])}");
            h.Close("rect");
            if (i % every != 0) continue;
            double cx = Left + i * slot + slot / 2, cy = H - Bottom + 14;
            if (slant)
                h.Open("text", ("x", F(cx)), ("y", F(cy)), ("text-anchor", "end"), ("fill", "#374151"), ("font-size", "11"), ("transform", $"rotate(-35 {F(cx)} {F(cy)})"))
                    .Text(categories[i].Length > 10 ? categories[i][..9] + "…" : categories[i]).Close("text");
            else
                h.Open("text", ("x", F(cx)), ("y", F(cy + 2)), ("text-anchor", "middle"), ("fill", "#374151")).Text(categories[i]).Close("text");
        }
        End(h, title);
    }

    /// <summary>Lines through points, one per series, with a legend when there are several (at most eight named).</summary>
    /// <remarks><paramref name="wholeX"/>: x is a whole number (a round), ticked at whole numbers only.</remarks>
    public static void Lines(Html h, string id, string title, string description, IReadOnlyList<(string Name, IReadOnlyList<(double X, double Y)> Points)> series,
        string xLabel, string yLabel, Func<double, string> xFormat, bool wholeX = false)
    {
        Start(h, id, title, description);
        Func<double, string> yFormat = v => v.ToString("0.###", CultureInfo.InvariantCulture);
        var all = series.SelectMany(s => s.Points).ToList();
        double xMin = all.Count == 0 ? 0 : all.Min(p => p.X), xMax = all.Count == 0 ? 1 : all.Max(p => p.X);
        if (xMax <= xMin) xMax = xMin + 1;
        double yMaxRaw = all.Count == 0 ? 1 : Math.Max(all.Max(p => p.Y), 0);
        double yMax = Ceiling(yMaxRaw, false);
        Axes(h, yMax, xLabel, yLabel, yFormat, false);
        double plotW = W - Left - Right, plotH = H - Top - Bottom;
        double X(double x) => Left + plotW * (x - xMin) / (xMax - xMin);
        double Y(double y) => Top + plotH * (1 - Math.Max(y, 0) / yMax);
        var ticks = wholeX
            ? Enumerable.Range(0, (int)(xMax - xMin) + 1).Where(i => i % (int)Math.Max(1, Step(xMax - xMin, true)) == 0).Select(i => xMin + i).ToList()
            : Enumerable.Range(0, 5).Select(t => xMin + (xMax - xMin) * t / 4).ToList();
        foreach (double x in ticks)
        {
            string anchor = x == xMin && !wholeX ? "start" : x == xMax && !wholeX ? "end" : "middle";
            h.Open("text", ("x", F(X(x))), ("y", F(H - Bottom + 16)), ("text-anchor", anchor), ("fill", "#374151")).Text(xFormat(x)).Close("text");
        }
        for (int s = 0; s < series.Count; s++)
        {
            var pts = series[s].Points;
            string colour = Palette[s % Palette.Length];
            if (pts.Count == 1)
                h.Open("circle", ("cx", F(X(pts[0].X))), ("cy", F(Y(pts[0].Y))), ("r", "3"), ("fill", colour)).El("title", series[s].Name).Close("circle");
            else
                h.Open("polyline", ("points", string.Join(" ", pts.Select(p => F(X(p.X)) + "," + F(Y(p.Y))))), ("fill", "none"), ("stroke", colour),
                    ("stroke-width", series.Count > 8 ? "1" : "2")).El("title", series[s].Name).Close("polyline");
        }
        End(h, title);
        if (series.Count is > 1 and <= 8)
        {
            h.Open("ul", ("class", "legend"));
            for (int s = 0; s < series.Count; s++)
                h.Open("li").Open("svg", ("viewBox", "0 0 10 10"), ("width", "10"), ("height", "10"), ("aria-hidden", "true"))
                    .Open("rect", ("width", "10"), ("height", "10"), ("fill", Palette[s % Palette.Length])).Close("rect").Close("svg")
                    .Text(" " + series[s].Name).Close("li");
            h.Close("ul");
        }
    }

    /// <summary>A heat map of a matrix of values in [0, 1] (e.g. a confusion matrix: row = true class, column = answer), each cell labelled.</summary>
    public static void HeatMap(Html h, string id, string title, string description, IReadOnlyList<string> rows, IReadOnlyList<string> columns,
        IReadOnlyList<double> values, string rowTitle, string columnTitle)
    {
        int r = rows.Count, c = columns.Count;
        double left = 100, top = 44, size = Math.Min(80, Math.Max(14, (W - left - 20) / Math.Max(1, c)));
        double height = top + size * r + 12, width = left + size * c + 12;
        Start(h, id, title, description, height, width, "chart heat");
        h.Open("text", ("x", F(left + size * c / 2)), ("y", "16"), ("text-anchor", "middle"), ("fill", "#111827")).Text(columnTitle).Close("text");
        h.Open("text", ("x", "16"), ("y", F(top + size * r / 2)), ("text-anchor", "middle"), ("fill", "#111827"),
            ("transform", $"rotate(-90 16 {F(top + size * r / 2)})")).Text(rowTitle).Close("text");
        bool labels = size >= 28;
        for (int j = 0; j < c; j++)
            h.Open("text", ("x", F(left + j * size + size / 2)), ("y", F(top - 6)), ("text-anchor", "middle"), ("fill", "#374151")).Text(columns[j]).Close("text");
        for (int i = 0; i < r; i++)
        {
            h.Open("text", ("x", F(left - 6)), ("y", F(top + i * size + size / 2 + 4)), ("text-anchor", "end"), ("fill", "#374151")).Text(rows[i]).Close("text");
            for (int j = 0; j < c; j++)
            {
                double v = Math.Clamp(values[i * c + j], 0, 1);
                h.Open("rect", ("x", F(left + j * size)), ("y", F(top + i * size)), ("width", F(size - 1)), ("height", F(size - 1)), ("fill", Blue(v)));
                h.El("title", $"{rowTitle} {rows[i]}, {columnTitle} {columns[j]}: {v.ToString("0.000", CultureInfo.InvariantCulture)}");
                h.Close("rect");
                if (labels)
                    h.Open("text", ("x", F(left + j * size + size / 2)), ("y", F(top + i * size + size / 2 + 4)), ("text-anchor", "middle"),
                        ("fill", v > 0.5 ? "#ffffff" : "#111827"), ("font-size", size >= 50 ? "14" : "11")).Text(v.ToString("0.00", CultureInfo.InvariantCulture)).Close("text");
            }
        }
        End(h, title);
    }

    /// <summary>White (0) to dark blue (1).</summary>
    private static string Blue(double v)
    {
        int R = (int)Math.Round(255 + (30 - 255) * v), G = (int)Math.Round(255 + (64 - 255) * v), B = (int)Math.Round(255 + (175 - 255) * v);
        return $"#{R:x2}{G:x2}{B:x2}";
    }
}
