using System.Diagnostics;
using System.Globalization;
using System.Text;
using Tally.Aggregation;
using Tally.Application;
using Tally.Core;
using Tally.Learning;

namespace Tally.Bench;

/// <summary>One thing the fuzzer found: an input and what went wrong with it.</summary>
/// <param name="Reader">The reader fuzzed.</param>
/// <param name="Kind"><c>crash</c> (an exception that is not a located <see cref="TallyUserException"/>), <c>wrong</c>
/// (parsed, but not to what the input says — e.g. another number of rows), <c>accepted</c> (parsed an input that must be
/// refused), <c>rejected</c> (refused a valid input), <c>unlocated</c> (an error that does not name the file) or
/// <c>slow</c> (one input took longer than the limit).</param>
/// <param name="Detail">What happened.</param>
/// <param name="Input">The input's bytes.</param>
public sealed record FuzzFinding(string Reader, string Kind, string Detail, byte[] Input);

/// <summary>What a fuzzing run did.</summary>
/// <param name="Reader">The reader fuzzed.</param>
/// <param name="Inputs">Inputs tried.</param>
/// <param name="Parsed">Inputs the reader accepted.</param>
/// <param name="Rejected">Inputs the reader refused with a located error.</param>
/// <param name="Elapsed">Wall time.</param>
/// <param name="SlowestMilliseconds">The longest any one input took.</param>
/// <param name="Findings">Findings (at most the limit asked for).</param>
public sealed record FuzzReport(string Reader, long Inputs, long Parsed, long Rejected, TimeSpan Elapsed, double SlowestMilliseconds,
    IReadOnlyList<FuzzFinding> Findings);

/// <summary>
/// A property-based fuzzer of Tally's file readers — answers CSV, features (CSV, LDA-C, SVMlight), saved aggregation
/// models (JSON), learned models (binary) and rounds scenarios (JSON). Each input is either generated valid (with the
/// exact content it must read back to) or a valid input mutated at the byte level (quotes, line breaks, delimiters,
/// NUL, invalid UTF-8, byte order marks, huge fields, ragged rows, NaN / 1e999 / overflowing numbers, truncation,
/// random bytes). The properties: the reader either parses or throws a <see cref="TallyUserException"/> that names the
/// input; a valid input reads back exactly; and for the CSV readers an independent RFC 4180 reference parser decides
/// whether the input is well-formed and how many rows it has, so a parse can never silently gain or lose a row.
/// </summary>
public static class ReaderFuzz
{
    /// <summary>The readers, by name.</summary>
    public static IReadOnlyList<string> Readers { get; } = ["answers", "features-csv", "ldac", "svmlight", "aggregation-model", "learned-model", "scenario"];

    private const string Source = "fuzz.input";

    /// <summary>Fuzzes <paramref name="reader"/> with <paramref name="inputs"/> inputs on <paramref name="threads"/> threads.</summary>
    /// <param name="reader">One of <see cref="Readers"/>.</param>
    /// <param name="inputs">How many inputs to try.</param>
    /// <param name="seed">Seed; the same seed and thread count try the same inputs.</param>
    /// <param name="threads">Worker threads.</param>
    /// <param name="slowLimit">An input that takes longer is a <c>slow</c> finding.</param>
    /// <param name="hangLimit">An input still running after this long is a hang: <paramref name="onHang"/> is called
    /// with it (the default prints it and ends the process, as a stuck thread cannot be stopped).</param>
    /// <param name="maxFindings">Findings kept.</param>
    /// <param name="onHang">What to do with a hanging input.</param>
    public static FuzzReport Run(string reader, long inputs, int seed = 1, int threads = 1, TimeSpan? slowLimit = null,
        TimeSpan? hangLimit = null, int maxFindings = 20, Action<FuzzFinding>? onHang = null)
    {
        if (!Readers.Contains(reader)) throw new ArgumentException($"unknown reader '{reader}' (known: {string.Join(", ", Readers)})", nameof(reader));
        var target = Target.For(reader);
        var slow = slowLimit ?? TimeSpan.FromSeconds(1);
        var hang = hangLimit ?? TimeSpan.FromSeconds(20);
        onHang ??= f =>
        {
            Console.Error.WriteLine($"HANG in {f.Reader}: {f.Detail}; input (base64): {Convert.ToBase64String(f.Input)}");
            Environment.Exit(3);
        };
        var findings = new List<FuzzFinding>();
        long parsed = 0, rejected = 0;
        double slowest = 0;
        var started = new long[threads];
        var current = new byte[]?[threads];
        var clock = Stopwatch.StartNew();
        using var done = new CancellationTokenSource();
        var watchdog = new Thread(() =>
        {
            while (!done.Token.WaitHandle.WaitOne(500))
                for (int t = 0; t < threads; t++)
                {
                    long s = Volatile.Read(ref started[t]);
                    if (s != 0 && Stopwatch.GetElapsedTime(s) > hang)
                        onHang(new FuzzFinding(reader, "hang", $"still running after {hang.TotalSeconds:0} s", Volatile.Read(ref current[t]) ?? []));
                }
        }) { IsBackground = true };
        watchdog.Start();
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            var rng = new Random(seed * 7919 + t);
            long mine = inputs / threads + (t < inputs % threads ? 1 : 0);
            long p = 0, r = 0;
            double worst = 0;
            var local = new List<FuzzFinding>();
            for (long i = 0; i < mine; i++)
            {
                var (bytes, expect) = target.Make(rng);
                Volatile.Write(ref current[t], bytes);
                long start = Stopwatch.GetTimestamp();
                Volatile.Write(ref started[t], start);
                var (outcome, problem) = Check(target, bytes, expect);
                Volatile.Write(ref started[t], 0);
                double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                if (ms > worst) worst = ms;
                if (outcome == Outcome.Parsed) p++;
                else if (outcome == Outcome.Rejected) r++;
                if (problem is not null && local.Count < maxFindings) local.Add(new FuzzFinding(reader, problem.Value.Kind, problem.Value.Detail, bytes));
                if (ms > slow.TotalMilliseconds && local.Count < maxFindings)
                    local.Add(new FuzzFinding(reader, "slow", $"{ms:0} ms for {bytes.Length:N0} bytes", bytes));
            }
            lock (findings)
            {
                parsed += p;
                rejected += r;
                slowest = Math.Max(slowest, worst);
                findings.AddRange(local.Take(maxFindings - findings.Count));
            }
        }) { IsBackground = true, Name = $"fuzz-{reader}-{t}" }).ToList();
        foreach (var w in workers) w.Start();
        foreach (var w in workers) w.Join();
        done.Cancel();
        return new FuzzReport(reader, inputs, parsed, rejected, clock.Elapsed, slowest, findings);
    }

    private enum Outcome { Parsed, Rejected, Failed }

    /// <summary>
    /// What an input may read to: <see cref="Value"/> null = anything (or a located error); <see cref="Invalid"/> = only a
    /// located error; <see cref="MustParse"/> = exactly <see cref="Value"/> (else: <see cref="Value"/> if it parses at all).
    /// </summary>
    internal sealed record Expectation(object? Value, bool Invalid = false, bool MustParse = false)
    {
        public static readonly Expectation Any = new(Value: null);
        public static readonly Expectation Refused = new(Value: null, Invalid: true);
    }

    private static (Outcome, (string Kind, string Detail)?) Check(Target target, byte[] bytes, Expectation? expect)
    {
        object result;
        try
        {
            result = target.Read(bytes);
        }
        catch (TallyUserException e)
        {
            bool located = e is TallyDataException d ? d.Source == Source : e.Message.Contains(Source, StringComparison.Ordinal);
            if (!located) return (Outcome.Failed, ("unlocated", $"{e.GetType().Name}: {e.Message}"));
            if (e.Message.Length > 400) return (Outcome.Failed, ("unlocated", $"a {e.Message.Length}-character message: {Tally.Core.Quote.Bare(e.Message)}"));
            if (e.Message.Any(char.IsControl)) return (Outcome.Failed, ("unlocated", $"control characters in the message: {Tally.Core.Quote.Bare(e.Message)}"));
            if (expect is { MustParse: true })
                return (Outcome.Failed, ("rejected", $"a valid input was refused: {e.Message}"));
            return (Outcome.Rejected, null);
        }
        catch (Exception e)
        {
            return (Outcome.Failed, ("crash", $"{e.GetType().Name}: {Tally.Core.Quote.Bare(e.Message)} at {Tally.Core.Quote.Bare(e.StackTrace?.Split('\n').FirstOrDefault()?.Trim() ?? "")}"));
        }
        if (expect is { Invalid: true }) return (Outcome.Failed, ("accepted", "an input that must be refused was read"));
        if (expect?.Value is { } want && target.Compare(result, want) is { } wrong) return (Outcome.Failed, ("wrong", wrong));
        return (Outcome.Parsed, null);
    }

    /// <summary>A reader with its generator of valid inputs and its oracle.</summary>
    private abstract class Target
    {
        /// <summary>A valid input and what it reads to.</summary>
        public abstract (byte[] Bytes, object Expected) Valid(Random rng);
        /// <summary>Reads the input.</summary>
        public abstract object Read(byte[] bytes);
        /// <summary>Null when <paramref name="result"/> is what <paramref name="expected"/> says, else what differs.</summary>
        public abstract string? Compare(object result, object expected);
        /// <summary>What a mutated input must read to, when the target can tell (e.g. a reference parse); default: anything.</summary>
        public virtual Expectation Judge(byte[] bytes) => Expectation.Any;
        /// <summary>Tokens that mean something to this reader, for mutations.</summary>
        public virtual string[] Tokens => [];

        public (byte[], Expectation?) Make(Random rng)
        {
            var (bytes, expected) = Valid(rng);
            if (rng.Next(4) == 0) return (bytes, new Expectation(expected, MustParse: true));
            var mutated = Mutations.Apply(bytes, rng, Tokens);
            return (mutated, Judge(mutated));
        }

        public static Target For(string name) => name switch
        {
            "answers" => new AnswersTarget(),
            "features-csv" => new FeatureCsvTarget(),
            "ldac" => new SparseTarget(svm: false),
            "svmlight" => new SparseTarget(svm: true),
            "aggregation-model" => new AggregationModelTarget(),
            "learned-model" => new LearnedModelTarget(),
            _ => new ScenarioTarget(),
        };
    }

    /// <summary>Strings for CSV values: plain, with delimiters, quotes, line breaks, spaces, non-ASCII, astral characters.</summary>
    private static readonly string[] Pieces = ["a", "b", "7", "10", "x y", ",", ";", "\t", "\"", "\"\"", "\n", "\r\n", "\r", " ", "é", "日本", "😀", "ß", "-", "0.5"];

    private static string Value(Random rng)
    {
        var b = new StringBuilder();
        int n = rng.Next(1, 4);
        for (int i = 0; i < n; i++) b.Append(Pieces[rng.Next(Pieces.Length)]);
        if (rng.Next(2000) == 0) b.Append('v', rng.Next(1000, 300_000));
        var s = b.ToString();
        return s.Trim().Length == 0 ? s + "w" : s;
    }

    private static string Quote(string v, char delimiter, Random rng) =>
        rng.Next(4) == 0 ? "\"" + v.Replace("\"", "\"\"") + "\"" : CsvText.Escape(v, delimiter);

    private static string LineEnd(Random rng) => rng.Next(5) switch { 0 => "\r\n", 1 => "\r", _ => "\n" };

    /// <summary>Encodes text as a user's file might be: UTF-8 (maybe with a BOM) or UTF-16 with a BOM.</summary>
    private static byte[] Encode(string text, Random rng) => rng.Next(10) switch
    {
        0 => [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes(text)],
        1 => [0xFF, 0xFE, .. Encoding.Unicode.GetBytes(text)],
        2 => [0xFE, 0xFF, .. Encoding.BigEndianUnicode.GetBytes(text)],
        _ => Encoding.UTF8.GetBytes(text),
    };

    private sealed class AnswersTarget : Target
    {
        private static readonly AnswerFileOptions Options = new(Duplicates: DuplicatePolicy.KeepAll);
        public override string[] Tokens => ["task", "worker", "label", "\"", ",", "\t", ";", "\n", "\r\n", "\"\"", " ", ",,"];

        public override (byte[], object) Valid(Random rng)
        {
            char d = rng.Next(4) == 0 ? '\t' : ',';
            var cols = new[] { "task", "worker", "label" }.OrderBy(_ => rng.Next()).ToArray();
            if (rng.Next(3) == 0) cols = [.. cols, "extra"];
            var text = new StringBuilder(string.Join(d, cols.Select(c => rng.Next(5) == 0 ? "\"" + c + "\"" : c)) + LineEnd(rng));
            int rows = rng.Next(1, 12);
            var triples = new List<(string, string, string)>();
            for (int r = 0; r < rows; r++)
            {
                var row = new Dictionary<string, string> { ["task"] = Value(rng), ["worker"] = Value(rng), ["label"] = Value(rng), ["extra"] = rng.Next(3) == 0 ? "" : Value(rng) };
                triples.Add((row["task"], row["worker"], row["label"]));
                text.Append(string.Join(d, cols.Select(c => Quote(row[c], d, rng))));
                if (r < rows - 1 || rng.Next(3) > 0) text.Append(LineEnd(rng));
                if (rng.Next(10) == 0) text.Append(LineEnd(rng)); // a blank line
            }
            return (Encode(text.ToString(), rng), triples);
        }

        public override object Read(byte[] bytes) => AnswerFiles.ReadAnswers(new MemoryStream(bytes), Source, Options).Matrix;

        public override string? Compare(object result, object expected)
        {
            var m = (LabelMatrix)result;
            var want = ((List<(string, string, string)>)expected).Select(t => $"{t.Item1}\u0001{t.Item2}\u0001{t.Item3}").Order(StringComparer.Ordinal).ToList();
            var got = new List<string>();
            var workers = m.TaskWorkers;
            var labels = m.TaskLabels;
            for (int t = 0; t < m.TaskCount; t++)
                for (int i = m.TaskOffsets[t]; i < m.TaskOffsets[t + 1]; i++)
                    got.Add($"{m.Tasks[t]}\u0001{m.Workers[workers[i]]}\u0001{m.Classes[labels[i]]}");
            got.Sort(StringComparer.Ordinal);
            if (got.Count != want.Count) return $"{got.Count} answers read, {want.Count} rows in the input";
            for (int i = 0; i < got.Count; i++)
                if (got[i] != want[i]) return $"read {Tally.Core.Quote.Value(got[i])} where the input has {Tally.Core.Quote.Value(want[i])}";
            return null;
        }

        public override Expectation Judge(byte[] bytes)
        {
            var records = Reference.Parse(bytes, out string? malformed);
            if (malformed is not null) return Expectation.Refused;
            if (records is null || records.Count == 0) return Expectation.Refused;
            var header = records[0].Select(h => h.Trim()).ToArray();
            int Col(string name)
            {
                int i = Array.IndexOf(header, name);
                return i >= 0 ? i : Array.FindIndex(header, h => string.Equals(h, name, StringComparison.OrdinalIgnoreCase));
            }
            int tc = Col("task"), wc = Col("worker"), lc = Col("label");
            if (tc < 0 || wc < 0 || lc < 0) return Expectation.Refused;
            var triples = new List<(string, string, string)>();
            foreach (var r in records.Skip(1))
            {
                if (r.Length != header.Length) return Expectation.Refused;
                if (r[tc].Length == 0 || r[wc].Length == 0 || r[lc].Length == 0) return Expectation.Refused;
                triples.Add((r[tc], r[wc], r[lc]));
            }
            return triples.Count == 0 ? Expectation.Refused : new Expectation(triples, MustParse: true);
        }
    }

    private sealed class FeatureCsvTarget : Target
    {
        public override string[] Tokens => ["task", "NaN", "1e999", "-1e999", "Infinity", "∞", "1e-400", "0x10", "1,5", "\"", ",", "\n", " ", "-0", "+.5", "1e308"];

        public override (byte[], object) Valid(Random rng)
        {
            int d = rng.Next(1, 5), n = rng.Next(1, 10);
            var names = Enumerable.Range(0, d).Select(j => rng.Next(4) == 0 ? $"f {j},\"x\"" : $"f{j}").ToArray();
            var text = new StringBuilder("task," + string.Join(",", names.Select(c => CsvText.Escape(c))) + LineEnd(rng));
            var rows = new List<(string, double[])>();
            for (int r = 0; r < n; r++)
            {
                string task = $"t{r}" + (rng.Next(3) == 0 ? Value(rng) : "");
                var values = Enumerable.Range(0, d).Select(_ => rng.Next(5) switch
                {
                    0 => 0.0, 1 => rng.NextDouble() * 1e300, 2 => -rng.NextDouble() * 1e-300, _ => Math.Round(rng.NextDouble() * 100 - 50, 3),
                }).ToArray();
                rows.Add((task.Trim(), values));
                text.Append(Quote(task, ',', rng)).Append(',').Append(string.Join(",", values.Select(v => Quote(NumberFormat.Finite(v), ',', rng)))).Append(LineEnd(rng));
            }
            return (Encode(text.ToString(), rng), rows);
        }

        public override object Read(byte[] bytes) => FeatureFiles.ReadCsv(new MemoryStream(bytes), Source);

        public override string? Compare(object result, object expected)
        {
            var t = (FeatureTable)result;
            if (expected is int count) return CompareCount(t, count);
            var rows = (List<(string Task, double[] Values)>)expected;
            if (t.Count != rows.Count) return $"{t.Count} rows read, {rows.Count} in the input";
            for (int i = 0; i < rows.Count; i++)
            {
                if (t.Tasks[i] != rows[i].Task) return $"row {i}: task {Tally.Core.Quote.Value(t.Tasks[i])}, input {Tally.Core.Quote.Value(rows[i].Task)}";
                if (!t.Row(i).SequenceEqual(rows[i].Values)) return $"row {i}: other values";
            }
            return null;
        }

        public override Expectation Judge(byte[] bytes)
        {
            var records = Reference.Parse(bytes, out string? malformed);
            if (malformed is not null || records is null || records.Count < 2) return Expectation.Refused;
            return new Expectation(records.Count - 1); // the row count a parse must have
        }

        public static string? CompareCount(FeatureTable t, int rows) => t.Count == rows ? null : $"{t.Count} rows read, {rows} records in the input";
    }

    private sealed class SparseTarget(bool svm) : Target
    {
        private readonly SparseFeatureOptions _options = svm
            ? new SparseFeatureOptions(SparseLeadingToken.Label, OneBased: true)
            : new SparseFeatureOptions();
        public override string[] Tokens => [":", " ", "\t", "\n", "#", "NaN", "1e999", "-1", "2147483647", "2147483648", "0:", ":1", "99999999", "\r\n", "1e-400"];

        public override (byte[], object) Valid(Random rng)
        {
            int n = rng.Next(1, 10), d = rng.Next(1, 8);
            var dense = new double[n][];
            var text = new StringBuilder();
            int maxCol = -1;
            for (int r = 0; r < n; r++)
            {
                dense[r] = new double[d];
                var cols = Enumerable.Range(0, d).Where(_ => rng.Next(2) == 0).OrderBy(_ => rng.Next()).ToList();
                var pairs = new List<string>();
                foreach (int c in cols)
                {
                    double v = Math.Round(rng.NextDouble() * 10 - 5, 2);
                    if (v == 0) v = 1;
                    dense[r][c] = v;
                    maxCol = Math.Max(maxCol, c);
                    pairs.Add($"{c + (svm ? 1 : 0)}:{NumberFormat.Finite(v)}");
                }
                string lead = svm ? (rng.Next(2) == 0 ? "+1" : "-1") : pairs.Count.ToString(CultureInfo.InvariantCulture);
                text.Append(lead);
                foreach (var p in pairs) text.Append(rng.Next(4) == 0 ? '\t' : ' ').Append(p);
                if (svm && rng.Next(4) == 0) text.Append(" # comment");
                text.Append(LineEnd(rng));
                if (svm && rng.Next(8) == 0) text.Append("# a comment line").Append(LineEnd(rng));
            }
            if (maxCol < 0) return Valid(rng); // every row empty: the width is unknown, so this is not a valid file
            int width = maxCol + 1;
            return (Encode(text.ToString(), rng), dense.Select(r => r[..width]).ToArray());
        }

        public override object Read(byte[] bytes) => FeatureFiles.ReadSparse(new MemoryStream(bytes), Source, _options);

        public override string? Compare(object result, object expected)
        {
            var t = (FeatureTable)result;
            if (expected is int rows) return FeatureCsvTarget.CompareCount(t, rows);
            var want = (double[][])expected;
            if (t.Count != want.Length) return $"{t.Count} rows read, {want.Length} lines in the input";
            if (t.Dimension != want[0].Length) return $"dimension {t.Dimension}, input {want[0].Length}";
            for (int i = 0; i < want.Length; i++)
                if (!t.Row(i).SequenceEqual(want[i])) return $"row {i}: other values";
            return null;
        }

        public override Expectation Judge(byte[] bytes)
        {
            // Rows are the lines with content outside comments; blank lines between rows are errors, at the end ignored.
            string? text = Reference.Decode(bytes);
            if (text is null) return Expectation.Refused;
            var lines = Reference.Lines(text);
            int rows = 0;
            bool blank = false;
            foreach (var line in lines)
            {
                int hash = line.IndexOf('#');
                var content = (hash >= 0 ? line[..hash] : line).Trim();
                if (content.Length == 0) { if (hash < 0) blank = true; continue; }
                if (blank) return Expectation.Refused;
                rows++;
            }
            return rows == 0 ? Expectation.Refused : new Expectation(rows);
        }
    }

    private sealed class AggregationModelTarget : Target
    {
        private readonly AggregationModel[] _seeds;
        public override string[] Tokens => ["{", "}", "[", "]", ",", ":", "\"", "null", "true", "NaN", "1e999", "-1", "0", "2147483648", "\"Confusion\"", "\"Vote\"", "1.5", "\\u0000", "\\ud800"];

        public AggregationModelTarget()
        {
            var rng = new Random(5);
            var seeds = new List<AggregationModel>();
            foreach (var method in new IAggregator[] { new DawidSkene(), new MajorityVote() })
            {
                var b = new LabelMatrixBuilder();
                for (int i = 0; i < 30; i++) b.TryAdd($"t{rng.Next(8)}", $"w{rng.Next(4)}", $"c{rng.Next(3)}", i + 2);
                seeds.Add(method.Aggregate(b.Build(DuplicatePolicy.KeepLast).Matrix).Model);
            }
            _seeds = [.. seeds];
        }

        public override (byte[], object) Valid(Random rng)
        {
            var m = _seeds[rng.Next(_seeds.Length)];
            return (Encoding.UTF8.GetBytes(m.ToJson()), m);
        }

        public override object Read(byte[] bytes) => AggregationModel.Load(new MemoryStream(bytes), Source);
        public override string? Compare(object result, object expected) => ((AggregationModel)result).Equals((AggregationModel)expected) ? null : "the model read differs from the one written";
        public override Expectation Judge(byte[] bytes) => Reference.Decode(bytes, allowBom: true) is null ? Expectation.Refused : Expectation.Any;
    }

    private sealed class LearnedModelTarget : Target
    {
        private readonly (byte[] Bytes, LearnedModel Model)[] _seeds;

        public LearnedModelTarget()
        {
            var rng = new Random(9);
            var seeds = new List<(byte[], LearnedModel)>();
            foreach (var hidden in new[] { Array.Empty<int>(), [3] })
            {
                var net = new DenseNetwork(new DenseNetworkOptions { Hidden = [.. hidden], Epochs = 2, Seed = 1 });
                var x = Enumerable.Range(0, 12).Select(_ => new[] { rng.NextDouble(), rng.NextDouble() }).ToArray();
                var y = x.Select(r => r[0] > 0.5 ? new[] { 1.0, 0.0 } : [0.0, 1.0]).ToArray();
                net.Fit(x, y);
                var model = new LearnedModel { Method = "mv", Classes = ["no", "yes"], FeatureNames = ["f0", "f1"], Classifier = net };
                var ms = new MemoryStream();
                model.Save(ms);
                seeds.Add((ms.ToArray(), model));
            }
            _seeds = [.. seeds];
        }

        public override (byte[], object) Valid(Random rng)
        {
            var s = _seeds[rng.Next(_seeds.Length)];
            return (s.Bytes, s.Model);
        }

        public override object Read(byte[] bytes) => LearnedModel.Load(new MemoryStream(bytes), Source);

        public override string? Compare(object result, object expected)
        {
            var (a, b) = ((LearnedModel)result, (LearnedModel)expected);
            if (a.Method != b.Method || !a.Classes.SequenceEqual(b.Classes) || !a.FeatureNames.SequenceEqual(b.FeatureNames)) return "another header";
            double[][] probe = [[0.1, 0.9], [0.7, 0.2]];
            var (pa, pb) = (a.Classifier.PredictProbabilities(probe), b.Classifier.PredictProbabilities(probe));
            return pa.Zip(pb).All(z => z.First.SequenceEqual(z.Second)) ? null : "other predictions";
        }
    }

    private sealed class ScenarioTarget : Target
    {
        public override string[] Tokens => ["{", "}", "[", "]", ",", ":", "\"", "null", "NaN", "1e999", "-1", "0", "2147483648", "\"rounds\"", "\"k\"", "\"alpha\"", "\"population\"", "//", "/*", "1.5", "\"reform\"", "\"rptsc\""];

        public override (byte[], object) Valid(Random rng)
        {
            int rounds = rng.Next(1, 50), tasks = rng.Next(5, 50), agents = rng.Next(2 * tasks, 2 * tasks + 200);
            var k = Enumerable.Range(1, rng.Next(1, 4)).Select(_ => rng.Next(1, 5)).Distinct().ToArray();
            var text = $$"""
                {
                  // a scenario
                  "rounds": {{rounds}},
                  "tasks_per_round": {{tasks}},
                  "population": { "agents": {{agents}}, "trustworthy_share": 0.5, "accuracy": [0.6, 0.9] },
                  "k": [{{string.Join(", ", k)}}],
                }
                """;
            return (Encode(text, rng), (rounds, agents, tasks, k));
        }

        public override object Read(byte[] bytes) => RoundsJob.ReadScenario(new MemoryStream(bytes), Source);

        public override string? Compare(object result, object expected)
        {
            var o = (Tally.Simulation.ReformLabOptions)result;
            var (rounds, agents, tasks, k) = ((int, int, int, int[]))expected;
            return o.Rounds == rounds && o.Agents == agents && o.TasksPerRound == tasks && o.Chances.SequenceEqual(k) ? null : "other options";
        }
    }

    /// <summary>Byte-level mutations.</summary>
    private static class Mutations
    {
        private static readonly byte[][] Bytes =
        [
            [0], [0xFF], [0xE9], [0xC3], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xEF, 0xBB, 0xBF], [0xFF, 0xFE], [0xFE, 0xFF],
            [0x80], [0xC0, 0xAF], [(byte)'"'], [(byte)'\n'], [(byte)'\r'], [(byte)','], [(byte)'\t'],
        ];

        public static byte[] Apply(byte[] seed, Random rng, string[] tokens)
        {
            var b = new List<byte>(seed);
            int ops = rng.Next(1, 5);
            for (int o = 0; o < ops; o++)
            {
                int at = b.Count == 0 ? 0 : rng.Next(b.Count + 1);
                switch (rng.Next(12))
                {
                    case 0 when b.Count > 0: b[Math.Min(at, b.Count - 1)] ^= (byte)(1 << rng.Next(8)); break;
                    case 1 when b.Count > 0: b[Math.Min(at, b.Count - 1)] = (byte)rng.Next(256); break;
                    case 2: b.Insert(at, (byte)rng.Next(256)); break;
                    case 3 when b.Count > 0:
                    {
                        int len = Math.Min(rng.Next(1, 16), b.Count - Math.Min(at, b.Count - 1));
                        b.RemoveRange(Math.Min(at, b.Count - 1), len);
                        break;
                    }
                    case 4 when b.Count > 0:
                    {
                        int from = rng.Next(b.Count), len = Math.Min(rng.Next(1, 40), b.Count - from);
                        b.InsertRange(at, b.GetRange(from, len));
                        break;
                    }
                    case 5: b.InsertRange(at, Bytes[rng.Next(Bytes.Length)]); break;
                    case 6 when tokens.Length > 0: b.InsertRange(at, Encoding.UTF8.GetBytes(tokens[rng.Next(tokens.Length)])); break;
                    case 7: b.RemoveRange(at, b.Count - at); break; // truncate
                    case 8 when rng.Next(50) == 0: b.InsertRange(at, Enumerable.Repeat((byte)'x', rng.Next(10_000, 1_000_000))); break; // a huge field
                    case 9 when rng.Next(20) == 0: b = [.. Encoding.Unicode.GetBytes(Encoding.Latin1.GetString([.. b]))]; break; // UTF-16 without a BOM
                    case 10 when b.Count > 0:
                    {
                        // Replace a number-looking run with an extreme one.
                        string[] numbers = ["NaN", "1e999", "-1e999", "Infinity", "2147483648", "-2147483649", "1e-400", "0", "-0", "99999999999999999999"];
                        b.InsertRange(at, Encoding.UTF8.GetBytes(numbers[rng.Next(numbers.Length)]));
                        break;
                    }
                    default: b.InsertRange(at, Bytes[rng.Next(Bytes.Length)]); break;
                }
            }
            return [.. b];
        }
    }

    /// <summary>
    /// An independent, deliberately simple reference: strict decoding by .NET's own encoders (after the BOM) and a
    /// character-at-a-time RFC 4180 state machine with Tally's two documented choices — a quote inside an unquoted
    /// field is a character, and lines holding only white space are skipped.
    /// </summary>
    internal static class Reference
    {
        private static readonly Encoding StrictUtf8 = new UTF8Encoding(false, throwOnInvalidBytes: true);
        private static readonly Encoding StrictUtf16LE = new UnicodeEncoding(false, false, throwOnInvalidBytes: true);
        private static readonly Encoding StrictUtf16BE = new UnicodeEncoding(true, false, throwOnInvalidBytes: true);

        /// <summary>The text, or null when the bytes are not valid (or hold a NUL).</summary>
        public static string? Decode(byte[] bytes, bool allowBom = true)
        {
            try
            {
                string s;
                if (bytes.AsSpan().StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) s = StrictUtf8.GetString(bytes, 3, bytes.Length - 3);
                else if (bytes.AsSpan().StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE])) s = StrictUtf16LE.GetString(bytes, 2, bytes.Length - 2);
                else if (bytes.AsSpan().StartsWith((ReadOnlySpan<byte>)[0xFE, 0xFF])) s = StrictUtf16BE.GetString(bytes, 2, bytes.Length - 2);
                else s = StrictUtf8.GetString(bytes);
                return s.Contains('\0') ? null : s;
            }
            catch (DecoderFallbackException) { return null; }
            catch (ArgumentException) { return null; }
        }

        /// <summary>Lines split at LF, CR LF and CR; a final empty line (after a last line break) is not a line.</summary>
        public static List<string> Lines(string text)
        {
            var lines = new List<string>();
            var b = new StringBuilder();
            for (int i = 0; i < text.Length; i++)
            {
                char c = text[i];
                if (c == '\n' || c == '\r')
                {
                    lines.Add(b.ToString());
                    b.Clear();
                    if (c == '\r' && i + 1 < text.Length && text[i + 1] == '\n') i++;
                }
                else b.Append(c);
            }
            if (b.Length > 0) lines.Add(b.ToString());
            return lines;
        }

        /// <summary>The records (header first) of the CSV bytes, or null with <paramref name="malformed"/> set.</summary>
        public static List<string[]>? Parse(byte[] bytes, out string? malformed)
        {
            malformed = null;
            string? text = Decode(bytes);
            if (text is null) { malformed = "encoding"; return null; }
            char d = ',';
            foreach (var line in Lines(text))
            {
                if (string.IsNullOrWhiteSpace(line)) continue;
                int tabs = line.Count(c => c == '\t'), commas = line.Count(c => c == ','), semis = line.Count(c => c == ';');
                d = tabs > 0 && tabs >= commas ? '\t' : commas == 0 && semis > 0 ? ';' : ',';
                break;
            }
            var records = new List<string[]>();
            var fields = new List<string>();
            var field = new StringBuilder();
            bool quotedRecord = false;
            int i = 0, n = text.Length;
            while (i < n)
            {
                // One record.
                fields.Clear();
                quotedRecord = false;
                while (true)
                {
                    field.Clear();
                    if (i < n && text[i] == '"')
                    {
                        quotedRecord = true;
                        i++;
                        while (true)
                        {
                            if (i >= n) { malformed = "unterminated"; return null; }
                            if (text[i] == '"')
                            {
                                if (i + 1 < n && text[i + 1] == '"') { field.Append('"'); i += 2; continue; }
                                i++;
                                break;
                            }
                            field.Append(text[i++]);
                        }
                        if (i < n && text[i] != d && text[i] != '\n' && text[i] != '\r') { malformed = "text after quote"; return null; }
                    }
                    else
                    {
                        while (i < n && text[i] != d && text[i] != '\n' && text[i] != '\r') field.Append(text[i++]);
                    }
                    fields.Add(field.ToString());
                    if (i < n && text[i] == d) { i++; continue; }
                    break;
                }
                if (i < n && text[i] == '\r') i += i + 1 < n && text[i + 1] == '\n' ? 2 : 1;
                else if (i < n) i++;
                bool blank = fields.Count == 1 && !quotedRecord && string.IsNullOrWhiteSpace(fields[0]);
                if (!blank) records.Add([.. fields]);
            }
            return records;
        }
    }
}
