using System.Globalization;
using Tally.Core;

namespace Tally.Mechanisms.Reputation;

/// <summary>How to read one round of reports.</summary>
/// <param name="TaskColumn">Task id column.</param>
/// <param name="AgentColumn">Agent (worker) id column.</param>
/// <param name="ReportColumn">Report (label) column.</param>
/// <param name="SecondsColumn">Answer-time column in seconds; used when the file has it, otherwise every time is unknown.</param>
/// <param name="DeadlineColumn">Per-row task deadline column in seconds; used when present (rows of a task must agree).</param>
/// <param name="Deadline">A deadline in seconds for every task without one in the file; null = none.</param>
/// <param name="Encoding">The file's encoding when it has no byte order mark (default strict UTF-8).</param>
public sealed record RoundFileOptions(
    string TaskColumn = "task",
    string AgentColumn = "worker",
    string ReportColumn = "label",
    string SecondsColumn = "seconds",
    string DeadlineColumn = "deadline",
    double? Deadline = null,
    FileEncoding Encoding = FileEncoding.Utf8);

/// <summary>A round read from a file, with the names behind its numbered tasks and report values.</summary>
/// <param name="Round">
/// The round: tasks and report values numbered in <see cref="Vocabulary.NaturalOrder"/> and reports sorted by task,
/// then agent, so the same rows in any order give the same round (and the same payments and reputations).
/// </param>
/// <param name="Tasks">Task ids by index.</param>
/// <param name="Classes">Report values by index.</param>
/// <param name="HasTimes">Whether the file had an answer-time column.</param>
public sealed record RoundRead(Round Round, IReadOnlyList<string> Tasks, IReadOnlyList<string> Classes, bool HasTimes);

/// <summary>Reads a round's reports from a <c>task,worker,label[,seconds][,deadline]</c> CSV/TSV file.</summary>
public static class RoundFile
{
    /// <summary>Reads <paramref name="path"/> as round <paramref name="index"/>.</summary>
    /// <exception cref="TallyDataException">Missing column, empty field, a bad time or deadline, an agent reporting twice on a
    /// task, conflicting deadlines, or no reports — each with the file and line.</exception>
    public static RoundRead Read(string path, int index, RoundFileOptions? options = null)
    {
        options ??= new RoundFileOptions();
        using var csv = CsvRecordReader.Open(path, encoding: options.Encoding);
        int tc = csv.Column(options.TaskColumn), ac = csv.Column(options.AgentColumn), rc = csv.Column(options.ReportColumn);
        int sc = IndexOf(csv.Header, options.SecondsColumn), dc = IndexOf(csv.Header, options.DeadlineColumn);
        if (options.Deadline is double dl && !(dl >= 0 && double.IsFinite(dl)))
            throw new ArgumentOutOfRangeException(nameof(options), "The deadline must be a non-negative number of seconds.");
        var tasks = new Dictionary<string, int>(StringComparer.Ordinal);
        var classes = new Dictionary<string, int>(StringComparer.Ordinal);
        var taskNames = new List<string>();
        var classNames = new List<string>();
        var deadlines = new List<double?>();
        var deadlineLine = new List<long>();
        var reports = new List<RoundReport>();
        var seen = new Dictionary<(string, int), long>();
        while (csv.ReadChecked())
        {
            string task = Required(csv, tc, options.TaskColumn), agent = Required(csv, ac, options.AgentColumn), report = Required(csv, rc, options.ReportColumn);
            if (!tasks.TryGetValue(task, out int t))
            {
                tasks[task] = t = taskNames.Count;
                taskNames.Add(task);
                deadlines.Add(options.Deadline);
                deadlineLine.Add(0);
            }
            if (!classes.TryGetValue(report, out int c)) { classes[report] = c = classNames.Count; classNames.Add(report); }
            double? seconds = sc >= 0 ? Seconds(csv, sc, options.SecondsColumn) : null;
            if (dc >= 0 && Seconds(csv, dc, options.DeadlineColumn) is double d)
            {
                if (deadlineLine[t] > 0 && deadlines[t] != d)
                    throw new TallyDataException(csv.SourceName, csv.LineNumber,
                        $"task {Quote.Value(task)} has deadline {d.ToString(CultureInfo.InvariantCulture)} here but {deadlines[t]?.ToString(CultureInfo.InvariantCulture)} at line {deadlineLine[t]}");
                deadlines[t] = d;
                deadlineLine[t] = csv.LineNumber;
            }
            if (seen.TryGetValue((agent, t), out long first))
                throw new TallyDataException(csv.SourceName, csv.LineNumber, $"agent {Quote.Value(agent)} reports on task {Quote.Value(task)} twice (first at line {first})");
            seen[(agent, t)] = csv.LineNumber;
            reports.Add(new RoundReport(agent, t, c, seconds));
        }
        if (reports.Count == 0) throw new TallyDataException(csv.SourceName, 0, "has a header but no reports");
        return Canonical(index, taskNames, classNames, reports, deadlines, sc >= 0);
    }

    /// <summary>
    /// Round <paramref name="index"/> from reports held in memory (the server's answers), numbered exactly as
    /// <see cref="Read"/> numbers a file with the same rows: tasks and classes by name, reports by task then agent.
    /// </summary>
    /// <param name="index">The round's index.</param>
    /// <param name="reports">(task, agent, report, seconds taken or null, the task's deadline in seconds or null).</param>
    /// <exception cref="ArgumentException">No reports, an agent reporting twice on a task, or conflicting deadlines.</exception>
    public static RoundRead FromReports(int index, IEnumerable<(string Task, string Agent, string Report, double? Seconds, double? Deadline)> reports)
    {
        ArgumentNullException.ThrowIfNull(reports);
        var tasks = new Dictionary<string, int>(StringComparer.Ordinal);
        var classes = new Dictionary<string, int>(StringComparer.Ordinal);
        var taskNames = new List<string>();
        var classNames = new List<string>();
        var deadlines = new List<double?>();
        var rows = new List<RoundReport>();
        var seen = new HashSet<(string, int)>();
        bool times = false;
        foreach (var (task, agent, report, seconds, deadline) in reports)
        {
            if (!tasks.TryGetValue(task, out int t)) { tasks[task] = t = taskNames.Count; taskNames.Add(task); deadlines.Add(deadline); }
            else if (deadlines[t] != deadline) throw new ArgumentException($"Task '{task}' has two deadlines.", nameof(reports));
            if (!classes.TryGetValue(report, out int c)) { classes[report] = c = classNames.Count; classNames.Add(report); }
            if (!seen.Add((agent, t))) throw new ArgumentException($"Agent '{agent}' reports on task '{task}' twice.", nameof(reports));
            times |= seconds is not null;
            rows.Add(new RoundReport(agent, t, c, seconds));
        }
        if (rows.Count == 0) throw new ArgumentException("A round needs at least one report.", nameof(reports));
        return Canonical(index, taskNames, classNames, rows, deadlines, times);
    }

    private static RoundRead Canonical(int index, List<string> taskNames, List<string> classNames, List<RoundReport> reports, List<double?> deadlines, bool hasTimes)
    {
        // Numbered by name, not by first appearance, and reports in a fixed order: the round must not depend on the rows' order.
        var taskVocabulary = new Vocabulary(taskNames).InNaturalOrder(out int[] taskMap);
        var classVocabulary = new Vocabulary(classNames).InNaturalOrder(out int[] classMap);
        var sortedDeadlines = new double?[taskNames.Count];
        for (int t = 0; t < taskNames.Count; t++) sortedDeadlines[taskMap.Length == 0 ? t : taskMap[t]] = deadlines[t];
        var canonical = reports
            .Select(r => r with { Task = taskMap.Length == 0 ? r.Task : taskMap[r.Task], Report = classMap.Length == 0 ? r.Report : classMap[r.Report] })
            .OrderBy(r => r.Task).ThenBy(r => r.Agent, StringComparer.Ordinal).ToList();
        var round = new Round(index, taskNames.Count, Math.Max(1, classNames.Count), canonical, sortedDeadlines);
        return new RoundRead(round, taskVocabulary.Names, classVocabulary.Names, hasTimes);
    }

    private static int IndexOf(IReadOnlyList<string> header, string name)
    {
        for (int i = 0; i < header.Count; i++) if (string.Equals(header[i], name, StringComparison.OrdinalIgnoreCase)) return i;
        return -1;
    }

    private static string Required(CsvRecordReader csv, int column, string name)
    {
        var field = csv.Field(column);
        if (field.IsEmpty) throw new TallyDataException(csv.SourceName, csv.LineNumber, $"empty {name}");
        return field.ToString();
    }

    /// <summary>An optional non-negative number of seconds (empty = unknown).</summary>
    private static double? Seconds(CsvRecordReader csv, int column, string name)
    {
        var field = csv.Field(column);
        if (field.IsEmpty) return null;
        if (!double.TryParse(field, NumberStyles.Float, CultureInfo.InvariantCulture, out double s) || !double.IsFinite(s) || s < 0)
            throw new TallyDataException(csv.SourceName, csv.LineNumber, $"{name} {Quote.Value(field)} is not a non-negative number of seconds");
        return s;
    }
}
