using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tally.Core;
using Tally.Simulation;

namespace Tally.Application;

/// <summary>
/// The journal of <c>tally lab maxmig-table --out DIR</c>: <c>DIR/reproduction.journal.jsonl</c>, one JSON line per
/// finished run after a first line naming the options that decide a run's result. The full-size table takes hours, so
/// a run is written (and flushed to disk) the moment it finishes, and the same command started again takes the runs
/// the journal holds instead of training them again; a run killed half-way is simply trained again. A journal written
/// with other options is refused rather than mixed in; a last line cut short by a kill is dropped.
/// </summary>
internal sealed class ReproductionJournal : IDisposable
{
    /// <summary>The journal's file name in the output folder.</summary>
    public const string FileName = "reproduction.journal.jsonl";

    private readonly FileStream _stream;
    private readonly object _gate = new();

    private ReproductionJournal(FileStream stream, Dictionary<(ExpertSetting, string, int), MaxMigReproductionRun> earlier)
    {
        _stream = stream;
        Earlier = earlier;
    }

    /// <summary>Runs found in the journal (setting, method, run → result).</summary>
    public IReadOnlyDictionary<(ExpertSetting Setting, string Method, int Run), MaxMigReproductionRun> Earlier { get; }

    /// <summary>The journal's path.</summary>
    public string Path => _stream.Name;

    /// <summary>
    /// Opens (creating <paramref name="directory"/> and the journal when missing) the journal for these options and
    /// image counts; the runs it already holds are in <see cref="Earlier"/>.
    /// </summary>
    /// <exception cref="TallyUserException">The journal was written with other options, or a line other than the last is damaged.</exception>
    public static ReproductionJournal Open(string directory, MaxMigReproductionOptions options, int trainItems, int testItems)
    {
        Directory.CreateDirectory(directory);
        string path = System.IO.Path.Combine(directory, FileName);
        string header = Header(options, trainItems, testItems).ToJsonString();
        var earlier = new Dictionary<(ExpertSetting, string, int), MaxMigReproductionRun>();
        var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
        try
        {
            long keep = Read(stream, path, header, earlier);
            stream.SetLength(keep); // drops a line a kill cut short, so the next one starts on a line of its own
            stream.Seek(0, SeekOrigin.End);
            if (keep == 0) Append(stream, header);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
        return new ReproductionJournal(stream, earlier);
    }

    /// <summary>Writes one finished run and flushes it to disk (thread-safe).</summary>
    public void Add(MaxMigReproductionRun run)
    {
        var line = new JsonObject
        {
            ["setting"] = run.Setting.Label,
            ["method"] = run.Method,
            ["run"] = run.Run,
            ["last_epoch"] = run.LastEpoch,
            ["best_epoch"] = run.BestEpoch,
            ["best_epoch_index"] = run.BestEpochIndex,
            ["forecaster"] = run.Forecaster,
            ["seconds"] = run.Seconds,
        };
        lock (_gate) Append(_stream, line.ToJsonString());
    }

    /// <inheritdoc />
    public void Dispose() => _stream.Dispose();

    private static void Append(FileStream stream, string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json + "\n");
        stream.Write(bytes);
        stream.Flush(flushToDisk: true);
    }

    /// <summary>What decides a run's result besides its seed; the methods, settings and run count may change between starts.</summary>
    private static JsonObject Header(MaxMigReproductionOptions o, int trainItems, int testItems) => new()
    {
        ["journal"] = "tally lab maxmig-table",
        ["train"] = trainItems,
        ["test"] = testItems,
        ["epochs"] = o.Epochs,
        ["em_rounds"] = o.EmRounds,
        ["batch"] = o.BatchSize,
        ["classifier_learning_rate"] = o.ClassifierLearningRate,
        ["aggregator_learning_rate"] = o.AggregatorLearningRate,
        ["hidden"] = new JsonArray([.. o.Hidden.Select(h => (JsonNode)h)]),
        ["crowd_seed"] = o.CrowdSeed,
    };

    /// <summary>Reads the journal into <paramref name="earlier"/>; returns the length of its complete, valid lines.</summary>
    private static long Read(FileStream stream, string path, string header, Dictionary<(ExpertSetting, string, int), MaxMigReproductionRun> earlier)
    {
        stream.Seek(0, SeekOrigin.Begin);
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        long offset = 0;
        int lineNumber = 0;
        while (offset < bytes.Length)
        {
            int end = Array.IndexOf(bytes, (byte)'\n', (int)offset);
            if (end < 0) break; // cut short by a kill: dropped
            lineNumber++;
            string line = Encoding.UTF8.GetString(bytes, (int)offset, end - (int)offset);
            if (lineNumber == 1)
            {
                if (line != header)
                    throw new TallyUserException($"{path}: the journal was written with other options ({Differences(line, header)}); use another --out folder, or delete the journal to start again");
            }
            else
            {
                var run = ParseRun(line, path, lineNumber, isLast: end == bytes.Length - 1);
                if (run is null) break;
                earlier[(run.Setting, run.Method, run.Run)] = run;
            }
            offset = end + 1;
        }
        return offset;
    }

    /// <summary>"epochs 50 in the journal, 20 now; …", or the journal's first line when it is not a header at all.</summary>
    private static string Differences(string journalLine, string header)
    {
        JsonObject? theirs;
        try { theirs = JsonNode.Parse(journalLine) as JsonObject; }
        catch (JsonException) { theirs = null; }
        if (theirs is null || theirs["journal"] is null) return "its first line is not a journal header";
        var ours = JsonNode.Parse(header)!.AsObject();
        var diffs = new List<string>();
        foreach (var (key, value) in ours)
        {
            string now = value?.ToJsonString() ?? "null", then = theirs[key]?.ToJsonString() ?? "none";
            if (now != then) diffs.Add($"{key} {then} in the journal, {now} now");
        }
        return string.Join("; ", diffs);
    }

    private static MaxMigReproductionRun? ParseRun(string line, string path, int lineNumber, bool isLast)
    {
        try
        {
            var o = JsonNode.Parse(line)?.AsObject() ?? throw new FormatException("not a JSON object");
            JsonNode Need(string name) => o[name] ?? throw new FormatException($"no \"{name}\"");
            return new MaxMigReproductionRun(
                ExpertSetting.Parse(Need("setting").GetValue<string>()),
                Need("method").GetValue<string>(),
                Need("run").GetValue<int>(),
                Need("last_epoch").GetValue<double>(),
                Need("best_epoch").GetValue<double>(),
                Need("best_epoch_index").GetValue<int>(),
                o["forecaster"]?.GetValue<double>(),
                Need("seconds").GetValue<double>());
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or InvalidOptionException)
        {
            // The last line may be one a kill interrupted mid-write even with its newline (a torn page); anything
            // earlier is damage the user should see.
            if (isLast) return null;
            throw new TallyUserException(string.Create(CultureInfo.InvariantCulture, $"{path}, line {lineNumber}: not a journal entry ({e.Message})"));
        }
    }
}
