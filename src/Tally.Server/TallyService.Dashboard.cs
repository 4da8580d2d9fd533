using System.Globalization;
using System.Text.Json;
using Tally.Core;
using Tally.Server.Storage;
using Tally.Service;

namespace Tally.Server;

/// <summary>How the dashboard's labels table is ordered.</summary>
internal enum LabelOrder
{
    /// <summary>The fitted model's task order (the API's order).</summary>
    Task,
    /// <summary>Least confident first.</summary>
    ConfidenceAscending,
    /// <summary>Most confident first.</summary>
    ConfidenceDescending,
    /// <summary>By task id.</summary>
    TaskId,
    /// <summary>By label, then the model's order.</summary>
    Label,
}

/// <summary>A project's progress as the dashboard's overview shows it (aggregates computed in SQL).</summary>
/// <param name="Tasks">Tasks uploaded.</param>
/// <param name="Answered">Tasks with at least one answer.</param>
/// <param name="AtTarget">Tasks with at least the minimum number of answers.</param>
/// <param name="Answers">Answers stored.</param>
/// <param name="GoldTasks">Tasks with a gold label.</param>
/// <param name="GoldAnswers">Answers given to gold tasks.</param>
/// <param name="GoldAnswersCorrect">Of those, the ones equal to the gold label.</param>
/// <param name="GoldLabelled">Gold tasks with an inferred label.</param>
/// <param name="GoldLabelsCorrect">Of those, the ones whose label is the gold label.</param>
/// <param name="AnswersOverTime">The cumulative count of answers over time, from the project's creation (0) to now, sampled at about 60 answers.</param>
/// <param name="ConfidenceBins">Tasks per confidence bin of width 1/<c>ConfidenceBins.Length</c>, from the labels (or the live majority shares before the first close).</param>
/// <param name="FromLabels">Whether <paramref name="ConfidenceBins"/> are the fitted posteriors (true) or the majority shares (false).</param>
internal sealed record ProjectProgress(long Tasks, long Answered, long AtTarget, long Answers, long GoldTasks, long GoldAnswers, long GoldAnswersCorrect,
    long GoldLabelled, long GoldLabelsCorrect, IReadOnlyList<(DateTimeOffset At, long Answers)> AnswersOverTime, long[] ConfidenceBins, bool FromLabels);

/// <summary>One answer as the dashboard lists it.</summary>
internal sealed record TaskAnswer(string Task, string Worker, string Label, int Round, bool Late, DateTimeOffset Answered);

/// <summary>A worker's answers on gold tasks.</summary>
internal sealed record GoldScore(long Answers, long Correct);

/// <summary>
/// The queries of the dashboard (<c>/ui</c>): each checks the caller's rights exactly as the API's reads do (through
/// <c>Visible</c>, owner or admin, and a worker only for their own rows), and pages and aggregates in SQL, so no page
/// reads all of a project's rows.
/// </summary>
public sealed partial class TallyService
{
    /// <summary>Confidence histogram bins of the overview.</summary>
    internal const int ConfidenceBinCount = 20;

    /// <summary>Answers sampled for the answers-over-time chart.</summary>
    internal const int TimeSamples = 60;

    /// <summary>The project's progress (owner or admin).</summary>
    internal ProjectProgress Progress(Principal caller, string project)
    {
        using var c = _db.Open();
        var p = Visible(c, null, caller, project, workerAllowed: false, "read the project's progress");
        var t = c.Query(null,
            """
            SELECT COUNT(*), COALESCE(SUM(CASE WHEN answers > 0 THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN answers >= @min THEN 1 ELSE 0 END), 0),
                   COALESCE(SUM(CASE WHEN gold IS NOT NULL THEN 1 ELSE 0 END), 0)
            FROM tasks WHERE project_id = @p
            """, r => (r.Long(0), r.Long(1), r.Long(2), r.Long(3)), ("p", p.Id), ("min", p.Spec.MinAnswers))[0];
        long goldAnswers = 0, goldCorrect = 0, goldLabelled = 0, goldLabelsCorrect = 0;
        if (t.Item4 > 0)
        {
            (goldAnswers, goldCorrect) = c.Query(null,
                """
                SELECT COUNT(*), COALESCE(SUM(CASE WHEN a.label = g.gold THEN 1 ELSE 0 END), 0)
                FROM tasks g CROSS JOIN answers a
                WHERE g.project_id = @p AND g.gold IS NOT NULL AND a.project_id = g.project_id AND a.task_id = g.task_id
                """, r => (r.Long(0), r.Long(1)), ("p", p.Id))[0];
            (goldLabelled, goldLabelsCorrect) = c.Query(null,
                """
                SELECT COUNT(*), COALESCE(SUM(CASE WHEN l.label = g.gold THEN 1 ELSE 0 END), 0)
                FROM tasks g JOIN labels l ON l.project_id = g.project_id AND l.task_id = g.task_id
                WHERE g.project_id = @p AND g.gold IS NOT NULL
                """, r => (r.Long(0), r.Long(1)), ("p", p.Id))[0];
        }

        // Answers over time, as the cumulative count at a few sampled answers: answers are numbered (seq) in the order they
        // were stored, so the k-th answer's time is one index seek (answers_round: project, round, seq) and the count up
        // to it is its number + 1 — a curve exact at every sample, without reading the answers in between.
        var overTime = new List<(DateTimeOffset, long)> { (DateTimeOffset.FromUnixTimeMilliseconds(p.Created), 0) };
        var ranges = new List<(int Round, long First, long Last)>();
        foreach (int r in c.Query(null, "SELECT round FROM rounds WHERE project_id = @p ORDER BY round", r => (int)r.Long(0), ("p", p.Id)))
        {
            var first = c.Scalar(null, "SELECT seq FROM answers WHERE project_id = @p AND round = @r ORDER BY seq LIMIT 1", ("p", p.Id), ("r", r));
            var last = c.Scalar(null, "SELECT seq FROM answers WHERE project_id = @p AND round = @r ORDER BY seq DESC LIMIT 1", ("p", p.Id), ("r", r));
            if (first is not null && last is not null)
                ranges.Add((r, Convert.ToInt64(first, CultureInfo.InvariantCulture), Convert.ToInt64(last, CultureInfo.InvariantCulture)));
        }
        for (int k = 1; k <= TimeSamples && p.Answers > 0; k++)
        {
            long target = (k * p.Answers + TimeSamples - 1) / TimeSamples - 1;
            var range = ranges.FirstOrDefault(x => x.First <= target && target <= x.Last);
            if (range.Last < target) continue;
            var hit = c.Query(null, "SELECT answered_at, seq FROM answers WHERE project_id = @p AND round = @r AND seq >= @s ORDER BY seq LIMIT 1",
                r => (DateTimeOffset.FromUnixTimeMilliseconds(r.Long(0)), r.Long(1) + 1), ("p", p.Id), ("r", range.Round), ("s", target));
            if (hit.Count == 1 && hit[0].Item2 > overTime[^1].Item2) overTime.Add(hit[0]);
        }
        overTime.Add((DateTimeOffset.FromUnixTimeMilliseconds(Math.Max(Now, overTime[^1].Item1.ToUnixTimeMilliseconds())), overTime[^1].Item2));

        // Confidence: one number per task streamed from the database into fixed bins (nothing kept per row).
        bool fromLabels = c.Scalar(null, "SELECT 1 FROM labels WHERE project_id = @p LIMIT 1", ("p", p.Id)) is not null;
        var bins = new long[ConfidenceBinCount];
        using (var cmd = c.Command(null, fromLabels ? "SELECT confidence FROM labels WHERE project_id = @p" : "SELECT confidence FROM tasks WHERE project_id = @p AND confidence IS NOT NULL", ("p", p.Id)))
        using (var r = cmd.ExecuteReader())
            while (r.Read()) bins[Math.Clamp((int)(r.GetDouble(0) * ConfidenceBinCount), 0, ConfidenceBinCount - 1)]++;
        return new ProjectProgress(t.Item1, t.Item2, t.Item3, p.Answers, t.Item4, goldAnswers, goldCorrect, goldLabelled, goldLabelsCorrect, overTime, bins, fromLabels);
    }

    /// <summary>
    /// A page of labels (owner or admin), in <paramref name="order"/>, optionally only those with confidence below
    /// <paramref name="below"/>; the total counts the filtered labels. Paged by the database (LIMIT/OFFSET over an
    /// index for the model's order).
    /// </summary>
    internal Page<LabelView> LabelPage(Principal caller, string project, LabelOrder order, double? below, long offset, int limit)
    {
        using var c = _db.Open();
        var p = Visible(c, null, caller, project, workerAllowed: false, "read the labels");
        string filter = below is null ? "" : " AND confidence < @below";
        string by = order switch
        {
            LabelOrder.ConfidenceAscending => "confidence, seq",
            LabelOrder.ConfidenceDescending => "confidence DESC, seq",
            LabelOrder.TaskId => "task_id",
            LabelOrder.Label => "label, seq",
            _ => "seq",
        };
        var args = new (string, object?)[] { ("p", p.Id), ("below", below ?? 0.0), ("n", limit), ("o", offset) };
        long total = c.Query(null, $"SELECT COUNT(*) FROM labels WHERE project_id = @p{filter}", r => r.Long(0), args)[0];
        var classes = p.Spec.Classes;
        var items = c.Query(null, $"SELECT task_id, label, confidence, probabilities FROM labels WHERE project_id = @p{filter} ORDER BY {by} LIMIT @n OFFSET @o",
            r =>
            {
                var probs = JsonSerializer.Deserialize<double[]>(r.GetString(3))!;
                var map = new Dictionary<string, double>(StringComparer.Ordinal);
                for (int k = 0; k < classes.Count; k++) map[classes[k]] = probs[k];
                return new LabelView(r.GetString(0), r.GetString(1), r.GetDouble(2), map);
            }, args);
        return new Page<LabelView>(items, offset, total);
    }

    /// <summary>The answers of <paramref name="tasks"/> (owner or admin), by task in the order they were stored.</summary>
    internal IReadOnlyDictionary<string, IReadOnlyList<TaskAnswer>> AnswersOf(Principal caller, string project, IReadOnlyCollection<string> tasks)
    {
        using var c = _db.Open();
        var p = Visible(c, null, caller, project, workerAllowed: false, "read other workers' answers");
        var rows = c.QueryRows(null, "SELECT task_id, worker_id, label, round, late, answered_at, seq FROM answers WHERE project_id = @p AND task_id {in}",
            tasks.Select(t => new object?[] { t }).ToList(),
            r => (Seq: r.Long(6), Answer: new TaskAnswer(r.GetString(0), r.GetString(1), r.GetString(2), (int)r.Long(3), r.Long(4) != 0,
                DateTimeOffset.FromUnixTimeMilliseconds(r.Long(5)))), ("p", p.Id));
        return rows.OrderBy(x => x.Seq).GroupBy(x => x.Answer.Task, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => (IReadOnlyList<TaskAnswer>)g.Select(x => x.Answer).ToList(), StringComparer.Ordinal);
    }

    /// <summary>
    /// A page of one worker's answers, newest first: a worker only their own (whatever <paramref name="worker"/> says),
    /// the owner or an admin any worker of the project.
    /// </summary>
    internal Page<TaskAnswer> WorkerAnswers(Principal caller, string project, string worker, long offset, int limit)
    {
        using var c = _db.Open();
        var p = Visible(c, null, caller, project, workerAllowed: true, "");
        if (caller.IsWorker) worker = caller.Name;
        var args = new (string, object?)[] { ("p", p.Id), ("w", worker), ("n", limit), ("o", offset) };
        long total = c.Query(null, "SELECT COUNT(*) FROM answers WHERE project_id = @p AND worker_id = @w", r => r.Long(0), args)[0];
        var items = c.Query(null, "SELECT task_id, worker_id, label, round, late, answered_at FROM answers WHERE project_id = @p AND worker_id = @w ORDER BY seq DESC LIMIT @n OFFSET @o",
            r => new TaskAnswer(r.GetString(0), r.GetString(1), r.GetString(2), (int)r.Long(3), r.Long(4) != 0, DateTimeOffset.FromUnixTimeMilliseconds(r.Long(5))), args);
        return new Page<TaskAnswer>(items, offset, total);
    }

    /// <summary>The workers' answers on gold tasks (owner or admin), by worker; empty without gold.</summary>
    internal IReadOnlyDictionary<string, GoldScore> GoldScores(Principal caller, string project)
    {
        using var c = _db.Open();
        var p = Visible(c, null, caller, project, workerAllowed: false, "read the workers' gold scores");
        if (c.Scalar(null, "SELECT 1 FROM tasks WHERE project_id = @p AND gold IS NOT NULL LIMIT 1", ("p", p.Id)) is null)
            return new Dictionary<string, GoldScore>(StringComparer.Ordinal);
        // CROSS JOIN keeps SQLite's loop over the (few) gold tasks outside, seeking each task's answers by index.
        return c.Query(null,
                """
                SELECT a.worker_id, COUNT(*), COALESCE(SUM(CASE WHEN a.label = g.gold THEN 1 ELSE 0 END), 0)
                FROM tasks g CROSS JOIN answers a
                WHERE g.project_id = @p AND g.gold IS NOT NULL AND a.project_id = g.project_id AND a.task_id = g.task_id GROUP BY a.worker_id
                """, r => (r.GetString(0), new GoldScore(r.Long(1), r.Long(2))), ("p", p.Id))
            .ToDictionary(x => x.Item1, x => x.Item2, StringComparer.Ordinal);
    }

    /// <summary>The fitted aggregation model of the last close (owner or admin), as stored; null before the first close.</summary>
    internal string? ModelJson(Principal caller, string project)
    {
        using var c = _db.Open();
        return Visible(c, null, caller, project, workerAllowed: false, "read the fitted model").Model;
    }

    /// <summary>One worker of the project with their principal id (owner or admin); 404 when there is none of that name.</summary>
    internal (WorkerView View, string PrincipalId) Worker(Principal caller, string project, string worker)
    {
        using var c = _db.Open();
        var p = Visible(c, null, caller, project, workerAllowed: false, "read another worker's page");
        var id = c.Scalar(null, "SELECT id FROM principals WHERE project_id = @p AND role = 'worker' AND name = @n", ("p", p.Id), ("n", worker)) as string
            ?? throw ApiException.NotFound($"no worker {Quote.Value(worker)} in the project");
        var view = c.Query(null,
            """
            SELECT w.name, (SELECT COUNT(*) FROM answers a WHERE a.project_id = w.project_id AND a.worker_id = w.name),
                   s.skill, s.agreement, s.reputation, COALESCE(s.total_paid, 0), w.revoked_at
            FROM principals w LEFT JOIN worker_stats s ON s.project_id = w.project_id AND s.worker_id = w.name
            WHERE w.project_id = @p AND w.id = @id
            """,
            r => new WorkerView(r.GetString(0), r.Long(1), r.NullableDouble(2), r.NullableDouble(3), r.NullableDouble(4), r.GetDouble(5), !r.IsDBNull(6)), ("p", p.Id), ("id", (object?)id))[0];
        return (view, id);
    }

    /// <summary>One worker's payments, every round (owner or admin; a worker reads their own through <see cref="Me"/>).</summary>
    internal IReadOnlyList<PaymentView> WorkerPayments(Principal caller, string project, string worker)
    {
        using var c = _db.Open();
        var p = Visible(c, null, caller, project, workerAllowed: false, "read another worker's payments");
        return c.Query(null, "SELECT round, worker_id, payment, tasks, chances, reputation, optimal FROM payments WHERE project_id = @p AND worker_id = @w ORDER BY round",
            r => new PaymentView((int)r.Long(0), r.GetString(1), r.GetDouble(2), (int)r.Long(3), r.NullableLong(4) is long k ? (int)k : null, r.NullableDouble(5), r.NullableDouble(6)),
            ("p", p.Id), ("w", worker));
    }

    /// <summary>Revokes the worker named <paramref name="worker"/> and their keys (the owner, or an admin), through <see cref="RevokeAsync"/>.</summary>
    internal async Task RevokeWorkerAsync(Principal caller, string project, string worker)
    {
        var (_, id) = Worker(caller, project, worker);
        await RevokeAsync(caller, id).ConfigureAwait(false);
    }
}
