using System.Data.Common;
using System.Globalization;
using System.Text.Json;
using Tally.Application;
using Tally.Core;
using Tally.Server.Storage;
using Tally.Service;

namespace Tally.Server;

/// <summary>
/// The service's operations, each checking the caller's rights first and touching only the caller's project rows.
/// Every write runs in the <see cref="WriteQueue"/> (group commit, acknowledged after the commit); reads open their own
/// connection.
/// </summary>
public sealed class TallyService : IAsyncDisposable
{
    private readonly Database _db;
    private readonly WriteQueue _writes;
    private readonly TimeProvider _time;

    /// <summary>Most answers in one batch request.</summary>
    public const int MaxBatch = 10_000;

    /// <summary>The service over <paramref name="db"/> (migrated).</summary>
    public TallyService(Database db, TimeProvider time, int authFailuresPerMinute = 30)
    {
        _db = db;
        _time = time;
        _writes = new WriteQueue(db);
        Keys = new KeyRing(db, time, authFailuresPerMinute);
    }

    /// <summary>Key lookups.</summary>
    public KeyRing Keys { get; }

    /// <summary>The write queue (commit counts for the load bench).</summary>
    public WriteQueue Writes => _writes;

    private long Now => _time.GetUtcNow().ToUnixTimeMilliseconds();

    // ---------------------------------------------------------------- principals

    /// <summary>Creates the first admin when there is none; returns its key (null when an admin exists).</summary>
    public async Task<IssuedKey?> EnsureAdminAsync()
    {
        return await _writes.Run((c, tx) =>
        {
            if (c.Scalar(tx, "SELECT id FROM principals WHERE project_id = '' AND role = @r AND revoked_at IS NULL", ("r", Roles.Admin)) is not null) return (IssuedKey?)null;
            return Issue(c, tx, "", Roles.Admin, "admin", "");
        }).ConfigureAwait(false);
    }

    private IssuedKey Issue(DbConnection c, DbTransaction tx, string project, string role, string name, string createdBy)
    {
        string id = KeyRing.NewId(role == Roles.Worker ? "w_" : role == Roles.Requester ? "r_" : "a_");
        string key = KeyRing.NewKey();
        try
        {
            c.Execute(tx, "INSERT INTO principals (project_id, id, role, name, created_by, created_at) VALUES (@p, @id, @role, @name, @by, @t)",
                ("p", project), ("id", id), ("role", role), ("name", name), ("by", createdBy), ("t", Now));
        }
        catch (Exception e) when (Database.IsUniqueViolation(e))
        {
            throw ApiException.Conflict($"a {role} named {Quote.Value(name)} exists already");
        }
        c.Execute(tx, "INSERT INTO api_keys (project_id, key_hash, principal_id, created_at) VALUES (@p, @h, @id, @t)",
            ("p", project), ("h", KeyRing.Hash(key)), ("id", id), ("t", Now));
        return new IssuedKey(id, name, role, key);
    }

    private static void CheckName(string? name, string what)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Length > 200 || name.Any(char.IsControl))
            throw ApiException.Invalid($"{what} needs a name of 1–200 printable characters");
    }

    /// <summary>An admin creates a requester.</summary>
    public Task<IssuedKey> CreateRequesterAsync(Principal caller, NewPrincipal body)
    {
        if (!caller.IsAdmin) throw ApiException.Forbidden("only an admin creates requesters");
        CheckName(body?.Name, "a requester");
        return _writes.Run((c, tx) => Issue(c, tx, "", Roles.Requester, body!.Name, caller.Id));
    }

    /// <summary>Revokes a principal and its keys: an admin any requester or worker; a requester the workers of their projects.</summary>
    public async Task RevokeAsync(Principal caller, string id)
    {
        await _writes.Run((c, tx) =>
        {
            var rows = c.Query(tx, "SELECT project_id, role FROM principals WHERE id = @id", r => (Project: r.GetString(0), Role: r.GetString(1)), ("id", id));
            if (rows.Count == 0) throw ApiException.NotFound($"no principal {Quote.Value(id)}");
            var (project, role) = rows[0];
            bool allowed = caller.IsAdmin ? role != Roles.Admin || id != caller.Id
                : caller.IsRequester && role == Roles.Worker && OwnsProject(c, tx, caller, project);
            if (!allowed)
            {
                if (caller.IsRequester && role == Roles.Worker) throw ApiException.NotFound($"no principal {Quote.Value(id)}");
                throw ApiException.Forbidden("this key may not revoke that principal");
            }
            c.Execute(tx, "UPDATE principals SET revoked_at = @t WHERE project_id = @p AND id = @id AND revoked_at IS NULL", ("t", Now), ("p", project), ("id", id));
            c.Execute(tx, "UPDATE api_keys SET revoked_at = @t WHERE project_id = @p AND principal_id = @id AND revoked_at IS NULL", ("t", Now), ("p", project), ("id", id));
            return 0;
        }).ConfigureAwait(false);
        Keys.Invalidate();
    }

    private static bool OwnsProject(DbConnection c, DbTransaction? tx, Principal caller, string project) =>
        c.Scalar(tx, "SELECT owner_id FROM projects WHERE project_id = @p", ("p", project)) is string owner && owner == caller.Id;

    // ---------------------------------------------------------------- projects

    private sealed record ProjectRow(string Id, string Owner, ProjectSpec Spec, int CurrentRound, long Created, string? Model, string? Campaign, long Tasks, long Answers);

    private static ProjectRow? LoadProject(DbConnection c, DbTransaction? tx, string project) =>
        c.Query(tx, "SELECT project_id, owner_id, spec, current_round, created_at, model, campaign, task_count, answer_count FROM projects WHERE project_id = @p",
            r => new ProjectRow(r.GetString(0), r.GetString(1), JsonSerializer.Deserialize<ProjectSpec>(r.GetString(2), ServiceJson.Options)!,
                (int)r.Long(3), r.Long(4), r.NullableString(5), r.NullableString(6), r.Long(7), r.Long(8)), ("p", project)).FirstOrDefault();

    private static ProjectView View(ProjectRow p) =>
        new(p.Id, p.Owner, p.Spec, p.CurrentRound, p.Tasks, p.Answers, DateTimeOffset.FromUnixTimeMilliseconds(p.Created));

    /// <summary>The project if the caller may see it: its owner, an admin, or one of its workers (<paramref name="workerAllowed"/>).</summary>
    private static ProjectRow Visible(DbConnection c, DbTransaction? tx, Principal caller, string project, bool workerAllowed, string action)
    {
        var p = LoadProject(c, tx, project);
        bool sees = p is not null && (caller.IsAdmin || (caller.IsRequester && p.Owner == caller.Id) || (caller.IsWorker && caller.ProjectId == p.Id));
        if (!sees) throw ApiException.NotFound($"no project {Quote.Value(project)}");
        if (caller.IsWorker && !workerAllowed) throw ApiException.Forbidden($"a worker may not {action}");
        return p!;
    }

    /// <summary>A requester creates a project.</summary>
    public Task<ProjectView> CreateProjectAsync(Principal caller, ProjectSpec spec)
    {
        if (!caller.IsRequester) throw ApiException.Forbidden("only a requester creates projects");
        if (spec is null) throw ApiException.BadRequest("the body must be a project spec");
        var problems = spec.Problems();
        if (problems.Count > 0)
        {
            var e = ApiException.Invalid(string.Join("; ", problems.Select(p => $"{p.Field}: {p.Problem}")));
            e.Extensions["errors"] = problems.GroupBy(p => p.Field).ToDictionary(g => g.Key, g => g.Select(p => p.Problem).ToArray());
            throw e;
        }
        return _writes.Run((c, tx) =>
        {
            string id = KeyRing.NewId("p_");
            long now = Now;
            c.Execute(tx, "INSERT INTO projects (project_id, owner_id, spec, current_round, created_at, task_count, answer_count) VALUES (@p, @o, @s, 0, @t, 0, 0)",
                ("p", id), ("o", caller.Id), ("s", JsonSerializer.Serialize(spec, ServiceJson.Options)), ("t", now));
            c.Execute(tx, "INSERT INTO rounds (project_id, round, status) VALUES (@p, 0, 'open')", ("p", id));
            return new ProjectView(id, caller.Id, spec, 0, 0, 0, DateTimeOffset.FromUnixTimeMilliseconds(now));
        });
    }

    /// <summary>The caller's projects (admin: all; requester: own; worker: theirs).</summary>
    public IReadOnlyList<ProjectView> ListProjects(Principal caller)
    {
        using var c = _db.Open();
        string where = caller.IsAdmin ? "" : caller.IsRequester ? "WHERE owner_id = @me" : "WHERE project_id = @proj";
        var ids = c.Query(null, $"SELECT project_id FROM projects {where} ORDER BY created_at, project_id", r => r.GetString(0), ("me", caller.Id), ("proj", caller.ProjectId));
        return ids.Select(id => View(LoadProject(c, null, id)!)).ToList();
    }

    /// <summary>One project.</summary>
    public ProjectView GetProject(Principal caller, string project)
    {
        using var c = _db.Open();
        return View(Visible(c, null, caller, project, workerAllowed: true, "read the project"));
    }

    /// <summary>Uploads tasks (new ids added; an id already there with the same payload and gold is unchanged; otherwise 409).</summary>
    public Task<TasksAdded> AddTasksAsync(Principal caller, string project, IReadOnlyList<TaskUpload> tasks)
    {
        if (tasks is null || tasks.Count == 0) throw ApiException.Invalid("no tasks in the upload");
        if (tasks.Count > 100_000) throw new ApiException(413, "Content too large", $"{tasks.Count:N0} tasks in one upload; send at most 100,000");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < tasks.Count; i++)
        {
            var t = tasks[i];
            if (t is null || string.IsNullOrEmpty(t.Id) || t.Id.Length > 200 || t.Id.Any(char.IsControl))
                throw ApiException.Invalid($"task {i + 1}: the id must be 1–200 printable characters");
            if (!seen.Add(t.Id)) throw ApiException.Invalid($"task {i + 1}: id {Quote.Value(t.Id)} appears twice in the upload");
        }
        return _writes.Run((c, tx) =>
        {
            var p = Visible(c, tx, caller, project, workerAllowed: false, "upload tasks");
            foreach (var (t, i) in tasks.Select((t, i) => (t, i)))
                if (t.Gold is not null && !p.Spec.Classes.Contains(t.Gold, StringComparer.Ordinal))
                    throw ApiException.Invalid($"task {i + 1} ({Quote.Value(t.Id)}): gold label {Quote.Value(t.Gold)} is not one of the project's classes");
            int added = 0, unchanged = 0;
            long seq = p.Tasks;
            foreach (var t in tasks)
            {
                string? payload = t.Payload is { } json ? json.GetRawText() : null;
                var existing = c.Query(tx, "SELECT payload, gold FROM tasks WHERE project_id = @p AND task_id = @t", r => (r.NullableString(0), r.NullableString(1)), ("p", p.Id), ("t", t.Id));
                if (existing.Count > 0)
                {
                    if (existing[0].Item1 == payload && existing[0].Item2 == t.Gold) { unchanged++; continue; }
                    throw ApiException.Conflict($"task {Quote.Value(t.Id)} exists already with another payload or gold label");
                }
                c.Execute(tx, "INSERT INTO tasks (project_id, task_id, seq, payload, gold, answers) VALUES (@p, @t, @s, @pl, @g, 0)",
                    ("p", p.Id), ("t", t.Id), ("s", seq++), ("pl", payload), ("g", t.Gold));
                added++;
            }
            c.Execute(tx, "UPDATE projects SET task_count = task_count + @n WHERE project_id = @p", ("n", added), ("p", p.Id));
            return new TasksAdded(added, unchanged, p.Tasks + added);
        });
    }

    /// <summary>The owner creates a worker of the project and its key.</summary>
    public Task<IssuedKey> CreateWorkerAsync(Principal caller, string project, NewPrincipal body)
    {
        CheckName(body?.Name, "a worker");
        return _writes.Run((c, tx) =>
        {
            var p = Visible(c, tx, caller, project, workerAllowed: false, "create workers");
            return Issue(c, tx, p.Id, Roles.Worker, body!.Name, caller.Id);
        });
    }

    // ---------------------------------------------------------------- assignment

    /// <summary>
    /// A task for the worker: the one named, or under-answered tasks first (fewest answers and open leases, then
    /// upload order), then — dynamic overlap — tasks whose posterior confidence is below the target, up to the
    /// maximum (least confident first). A lease that expires returns its task to the pool. Null when nothing is left.
    /// </summary>
    public Task<AssignmentView?> AssignAsync(Principal caller, string project, AssignmentRequest? request)
    {
        return _writes.Run((c, tx) =>
        {
            var p = Visible(c, tx, caller, project, workerAllowed: true, "");
            if (!caller.IsWorker) throw ApiException.Forbidden("only a worker takes assignments");
            long now = Now;
            c.Execute(tx, "UPDATE assignments SET state = 'expired' WHERE project_id = @p AND state = 'open' AND expires_at <= @now", ("p", p.Id), ("now", now));
            string? task;
            if (request?.Task is { } named)
            {
                if (c.Scalar(tx, "SELECT task_id FROM tasks WHERE project_id = @p AND task_id = @t", ("p", p.Id), ("t", named)) is null)
                    throw ApiException.Invalid($"no task {Quote.Value(named)} in the project");
                if (c.Scalar(tx, "SELECT answer_id FROM answers WHERE project_id = @p AND task_id = @t AND worker_id = @w", ("p", p.Id), ("t", named), ("w", caller.Name)) is not null)
                    throw ApiException.Conflict($"you have answered task {Quote.Value(named)} already");
                task = named;
            }
            else if (c.Query(tx, "SELECT task_id FROM assignments WHERE project_id = @p AND worker_id = @w AND state = 'open' ORDER BY started_at, assignment_id LIMIT 1",
                         r => r.GetString(0), ("p", p.Id), ("w", caller.Name)) is [var held])
            {
                // A worker who asks again (a lost response, a reloaded page) gets the task they hold, not a second one.
                task = held;
            }
            else
            {
                const string load = "(t.answers + (SELECT COUNT(*) FROM assignments a WHERE a.project_id = t.project_id AND a.task_id = t.task_id AND a.state = 'open'))";
                const string free = """
                    t.project_id = @p
                    AND NOT EXISTS (SELECT 1 FROM answers x WHERE x.project_id = t.project_id AND x.task_id = t.task_id AND x.worker_id = @w)
                    AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.project_id = t.project_id AND a.task_id = t.task_id AND a.worker_id = @w AND a.state = 'open')
                    """;
                task = c.Scalar(tx, $"SELECT t.task_id FROM tasks t WHERE {free} AND {load} < @min ORDER BY {load}, t.seq LIMIT 1",
                    ("p", p.Id), ("w", caller.Name), ("min", p.Spec.MinAnswers)) as string;
                task ??= c.Scalar(tx,
                    $"SELECT t.task_id FROM tasks t WHERE {free} AND {load} < @max AND (t.confidence IS NULL OR t.confidence < @target) ORDER BY t.confidence, {load}, t.seq LIMIT 1",
                    ("p", p.Id), ("w", caller.Name), ("max", p.Spec.MaxAnswers), ("target", p.Spec.ConfidenceTarget)) as string;
                if (task is null) return (AssignmentView?)null;
            }
            // A worker holds at most one open lease per task; asking again renews it.
            var open = c.Query(tx, "SELECT assignment_id FROM assignments WHERE project_id = @p AND task_id = @t AND worker_id = @w AND state = 'open'",
                r => r.GetString(0), ("p", p.Id), ("t", task), ("w", caller.Name));
            string id = open.Count > 0 ? open[0] : KeyRing.NewId("a_");
            long expires = now + p.Spec.LeaseSeconds * 1000L;
            if (open.Count > 0)
                c.Execute(tx, "UPDATE assignments SET expires_at = @e WHERE project_id = @p AND assignment_id = @a", ("e", expires), ("p", p.Id), ("a", id));
            else
                c.Execute(tx, "INSERT INTO assignments (project_id, assignment_id, task_id, worker_id, round, started_at, expires_at, state) VALUES (@p, @a, @t, @w, @r, @s, @e, 'open')",
                    ("p", p.Id), ("a", id), ("t", task), ("w", caller.Name), ("r", p.CurrentRound), ("s", now), ("e", expires));
            var payload = c.Scalar(tx, "SELECT payload FROM tasks WHERE project_id = @p AND task_id = @t", ("p", p.Id), ("t", task)) as string;
            long started = Convert.ToInt64(c.Scalar(tx, "SELECT started_at FROM assignments WHERE project_id = @p AND assignment_id = @a", ("p", p.Id), ("a", id)), CultureInfo.InvariantCulture);
            return new AssignmentView(id, task, payload is null ? null : JsonDocument.Parse(payload).RootElement.Clone(), p.CurrentRound,
                DateTimeOffset.FromUnixTimeMilliseconds(started), DateTimeOffset.FromUnixTimeMilliseconds(expires));
        });
    }

    // ---------------------------------------------------------------- answers

    /// <summary>
    /// Stores answers: each must name a known task and class and a lease the worker holds (its own open assignment of
    /// the task); an id already stored for this worker returns its first result (<c>duplicate</c>). All of a request
    /// is validated before anything is written, and all of it is acknowledged after the commit.
    /// </summary>
    public Task<IReadOnlyList<AnswerAck>> AnswerAsync(Principal caller, string project, IReadOnlyList<AnswerPost> answers)
    {
        if (answers is null || answers.Count == 0) throw ApiException.Invalid("no answers in the request");
        if (answers.Count > MaxBatch) throw new ApiException(413, "Content too large", $"{answers.Count:N0} answers in one request; send at most {MaxBatch:N0} per batch");
        var ids = new HashSet<string>(StringComparer.Ordinal);
        var tasks = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < answers.Count; i++)
        {
            var a = answers[i];
            string where = answers.Count == 1 ? "" : $"answer {i + 1}: ";
            if (a is null) throw ApiException.BadRequest($"{where}null");
            if (string.IsNullOrEmpty(a.Id) || a.Id.Length > 200 || a.Id.Any(char.IsControl)) throw ApiException.Invalid($"{where}the id must be 1–200 printable characters");
            if (string.IsNullOrEmpty(a.Task)) throw ApiException.Invalid($"{where}no task");
            if (a.Label is null) throw ApiException.Invalid($"{where}no label");
            if (!ids.Add(a.Id)) throw ApiException.Invalid($"{where}id {Quote.Value(a.Id)} appears twice in the request");
            if (!tasks.Add(a.Task)) throw ApiException.Invalid($"{where}task {Quote.Value(a.Task)} is answered twice in the request");
        }
        return _writes.Run<IReadOnlyList<AnswerAck>>((c, tx) =>
        {
            var p = Visible(c, tx, caller, project, workerAllowed: true, "");
            if (!caller.IsWorker) throw ApiException.Forbidden("only a worker posts answers");
            var classes = new HashSet<string>(p.Spec.Classes, StringComparer.Ordinal);
            long now = Now;
            var acks = new AnswerAck[answers.Count];
            var fresh = new List<(int Index, AnswerPost Answer, string Assignment, long Started)>();
            for (int i = 0; i < answers.Count; i++)
            {
                var a = answers[i];
                string where = answers.Count == 1 ? "" : $"answer {i + 1}: ";
                var stored = c.Query(tx, "SELECT task_id, label, round, late FROM answers WHERE project_id = @p AND worker_id = @w AND answer_id = @id",
                    r => (Task: r.GetString(0), Label: r.GetString(1), Round: (int)r.Long(2), Late: r.Long(3) != 0), ("p", p.Id), ("w", caller.Name), ("id", a.Id));
                if (stored.Count > 0)
                {
                    if (stored[0].Task != a.Task || stored[0].Label != a.Label)
                        throw ApiException.Conflict($"{where}id {Quote.Value(a.Id)} was used for another answer (task {Quote.Value(stored[0].Task)}, label {Quote.Value(stored[0].Label)})");
                    acks[i] = new AnswerAck(a.Id, "duplicate", stored[0].Round, stored[0].Late);
                    continue;
                }
                if (c.Scalar(tx, "SELECT task_id FROM tasks WHERE project_id = @p AND task_id = @t", ("p", p.Id), ("t", a.Task)) is null)
                    throw ApiException.Invalid($"{where}no task {Quote.Value(a.Task)} in the project");
                if (!classes.Contains(a.Label))
                    throw ApiException.Invalid($"{where}label {Quote.Value(a.Label)} is not one of the project's classes ({string.Join(", ", p.Spec.Classes.Take(20))})");
                if (c.Scalar(tx, "SELECT answer_id FROM answers WHERE project_id = @p AND task_id = @t AND worker_id = @w", ("p", p.Id), ("t", a.Task), ("w", caller.Name)) is string other)
                    throw ApiException.Conflict($"{where}you answered task {Quote.Value(a.Task)} already (answer {Quote.Value(other)})");
                string byId = a.Assignment is null ? "" : " AND assignment_id = @a";
                var lease = c.Query(tx,
                    $"SELECT assignment_id, started_at, state, expires_at FROM assignments WHERE project_id = @p AND task_id = @t AND worker_id = @w{byId} ORDER BY started_at DESC LIMIT 1",
                    r => (Id: r.GetString(0), Started: r.Long(1), State: r.GetString(2), Expires: r.Long(3)), ("p", p.Id), ("t", a.Task), ("w", caller.Name), ("a", a.Assignment ?? ""));
                if (lease.Count == 0)
                    throw ApiException.Conflict($"{where}you hold no assignment of task {Quote.Value(a.Task)}; ask for one first (POST /projects/{p.Id}/assignments)");
                // An answer after its lease expired is still the worker's answer: kept, and late when past the deadline.
                fresh.Add((i, a, lease[0].Id, lease[0].Started));
            }
            long seq = Convert.ToInt64(c.Scalar(tx, "SELECT answer_count FROM projects WHERE project_id = @p", ("p", p.Id)), CultureInfo.InvariantCulture);
            foreach (var (i, a, assignment, started) in fresh)
            {
                double seconds = Math.Max(0, (now - started) / 1000.0);
                bool late = p.Spec.DeadlineSeconds is double d && seconds > d;
                c.Execute(tx,
                    "INSERT INTO answers (project_id, worker_id, answer_id, task_id, label, round, assignment_id, answered_at, seconds, late, seq) VALUES (@p, @w, @id, @t, @l, @r, @a, @now, @s, @late, @seq)",
                    ("p", p.Id), ("w", caller.Name), ("id", a.Id), ("t", a.Task), ("l", a.Label), ("r", p.CurrentRound), ("a", assignment), ("now", now),
                    ("s", seconds), ("late", late ? 1 : 0), ("seq", seq++));
                c.Execute(tx, "UPDATE assignments SET state = 'answered' WHERE project_id = @p AND assignment_id = @a", ("p", p.Id), ("a", assignment));
                c.Execute(tx, "UPDATE tasks SET answers = answers + 1 WHERE project_id = @p AND task_id = @t", ("p", p.Id), ("t", a.Task));
                acks[i] = new AnswerAck(a.Id, "stored", p.CurrentRound, late);
            }
            if (fresh.Count > 0)
            {
                c.Execute(tx, "UPDATE projects SET answer_count = answer_count + @n WHERE project_id = @p", ("n", fresh.Count), ("p", p.Id));
                foreach (var task in fresh.Select(f => f.Answer.Task).Distinct(StringComparer.Ordinal)) RefreshVoteConfidence(c, tx, p.Id, task);
            }
            return acks;
        });
    }

    /// <summary>
    /// Between round closes, a task's confidence is its majority share (what dynamic overlap compares with the target);
    /// a close replaces it by the fitted model's posterior.
    /// </summary>
    private static void RefreshVoteConfidence(DbConnection c, DbTransaction tx, string project, string task)
    {
        var counts = c.Query(tx, "SELECT COUNT(*) FROM answers WHERE project_id = @p AND task_id = @t GROUP BY label", r => r.Long(0), ("p", project), ("t", task));
        long total = counts.Sum();
        double share = total == 0 ? 0 : (double)counts.Max() / total;
        c.Execute(tx, "UPDATE tasks SET confidence = @c WHERE project_id = @p AND task_id = @t", ("c", share), ("p", project), ("t", task));
    }

    // ---------------------------------------------------------------- rounds

    /// <summary>
    /// Closes round <paramref name="round"/> once: freezes its answers (later answers go to the next round), refines the
    /// aggregation model, pays the round, updates reputations, writes the payments ledger and the labels — one
    /// transaction. Closing a closed round returns its stored result.
    /// </summary>
    public Task<RoundView> CloseRoundAsync(Principal caller, string project, int round) =>
        _writes.Run((c, tx) =>
        {
            var p = Visible(c, tx, caller, project, workerAllowed: false, "close rounds");
            var existing = LoadRound(c, tx, p.Id, round);
            if (existing is { Status: "closed" }) return existing;
            if (round != p.CurrentRound)
                throw ApiException.Conflict(round > p.CurrentRound
                    ? $"round {round} has not started; the open round is {p.CurrentRound}"
                    : $"round {round} is not open");
            var answers = c.Query(tx, "SELECT task_id, worker_id, label, round, seconds, late FROM answers WHERE project_id = @p AND round <= @r ORDER BY seq",
                r => new ServiceAnswer(r.GetString(0), r.GetString(1), r.GetString(2), (int)r.Long(3), r.NullableDouble(4), r.Long(5) != 0), ("p", p.Id), ("r", round));
            var gold = c.Query(tx, "SELECT task_id, gold FROM tasks WHERE project_id = @p AND gold IS NOT NULL", r => (r.GetString(0), r.GetString(1)), ("p", p.Id))
                .ToDictionary(x => x.Item1, x => x.Item2, StringComparer.Ordinal);
            var spec = p.Spec;
            ServiceRoundOutcome outcome;
            try
            {
                outcome = ServiceRoundJob.Run(new ServiceRoundRequest
                {
                    Round = round, Classes = spec.Classes, Method = spec.Method, Mechanism = spec.Mechanism, Seed = spec.Seed, Budget = spec.Budget,
                    ReformChances = spec.ReformChances, ReformLambda = spec.ReformLambda, Decay = spec.Decay, DeadlineSeconds = spec.DeadlineSeconds,
                    ModelJson = p.Model, CampaignJson = p.Campaign, Answers = answers, Gold = gold,
                });
            }
            catch (TallyUserException e)
            {
                throw ApiException.Invalid("the round cannot be closed: " + e.Message);
            }
            long now = Now;
            foreach (var (l, i) in outcome.Labels.Select((l, i) => (l, i)))
            {
                var probabilities = new SortedDictionary<string, double>(StringComparer.Ordinal);
                for (int k = 0; k < spec.Classes.Count; k++) probabilities[spec.Classes[k]] = l.Probabilities[k];
                string probs = JsonSerializer.Serialize(spec.Classes.Select((cl, k) => l.Probabilities[k]).ToArray());
                c.Execute(tx, "DELETE FROM labels WHERE project_id = @p AND task_id = @t", ("p", p.Id), ("t", l.Task));
                c.Execute(tx, "INSERT INTO labels (project_id, task_id, seq, label, confidence, probabilities) VALUES (@p, @t, @s, @l, @c, @pr)",
                    ("p", p.Id), ("t", l.Task), ("s", i), ("l", l.Label), ("c", l.Confidence), ("pr", probs));
                c.Execute(tx, "UPDATE tasks SET confidence = @c WHERE project_id = @p AND task_id = @t", ("c", l.Confidence), ("p", p.Id), ("t", l.Task));
            }
            foreach (var w in outcome.Workers)
                Upsert(c, tx, p.Id, w.Worker, "skill = @a, agreement = @b", ("a", w.Skill), ("b", w.Agreement));
            double total = 0;
            foreach (var pay in outcome.Payments)
            {
                c.Execute(tx, "INSERT INTO payments (project_id, round, worker_id, payment, tasks, chances, reputation) VALUES (@p, @r, @w, @pay, @n, @k, @rep)",
                    ("p", p.Id), ("r", round), ("w", pay.Worker), ("pay", pay.Payment), ("n", pay.Tasks), ("k", pay.Chances), ("rep", pay.Reputation));
                Upsert(c, tx, p.Id, pay.Worker, "total_paid = total_paid + @a, reputation = COALESCE(@b, reputation)", ("a", pay.Payment), ("b", pay.Reputation));
                total += pay.Payment;
            }
            var workers = outcome.Payments.Select(x => x.Worker).Distinct(StringComparer.Ordinal).Count();
            var tasks = answers.Where(a => a.Round == round).Select(a => a.Task).Distinct(StringComparer.Ordinal).Count();
            var view = new RoundView(round, "closed", outcome.RoundAnswers, outcome.LateAnswers, tasks, workers, spec.Method, spec.Mechanism,
                DateTimeOffset.FromUnixTimeMilliseconds(now), total, workers == 0 ? null : total / workers);
            c.Execute(tx, "UPDATE rounds SET status = 'closed', closed_at = @t, summary = @s WHERE project_id = @p AND round = @r",
                ("t", now), ("s", JsonSerializer.Serialize(view, ServiceJson.Options)), ("p", p.Id), ("r", round));
            c.Execute(tx, "INSERT INTO rounds (project_id, round, status) VALUES (@p, @r, 'open')", ("p", p.Id), ("r", round + 1));
            c.Execute(tx, "UPDATE projects SET current_round = @r, model = @m, campaign = @c WHERE project_id = @p",
                ("r", round + 1), ("m", outcome.ModelJson), ("c", outcome.CampaignJson), ("p", p.Id));
            return view;
        });

    private static void Upsert(DbConnection c, DbTransaction tx, string project, string worker, string set, params (string, object?)[] values)
    {
        c.Execute(tx, "INSERT INTO worker_stats (project_id, worker_id, total_paid) VALUES (@p, @w, 0) ON CONFLICT (project_id, worker_id) DO NOTHING", ("p", project), ("w", worker));
        c.Execute(tx, $"UPDATE worker_stats SET {set} WHERE project_id = @p AND worker_id = @w", [("p", project), ("w", worker), .. values]);
    }

    private static RoundView? LoadRound(DbConnection c, DbTransaction? tx, string project, int round)
    {
        var rows = c.Query(tx, "SELECT status, summary FROM rounds WHERE project_id = @p AND round = @r", r => (r.GetString(0), r.NullableString(1)), ("p", project), ("r", round));
        if (rows.Count == 0) return null;
        if (rows[0].Item2 is { } json) return JsonSerializer.Deserialize<RoundView>(json, ServiceJson.Options);
        return new RoundView(round, rows[0].Item1, 0, 0, 0, 0, null, null, null, null, null);
    }

    /// <summary>The project's rounds (open ones with their answers so far).</summary>
    public IReadOnlyList<RoundView> ListRounds(Principal caller, string project)
    {
        using var c = _db.Open();
        var p = Visible(c, null, caller, project, workerAllowed: true, "");
        var rounds = c.Query(null, "SELECT round FROM rounds WHERE project_id = @p ORDER BY round", r => (int)r.Long(0), ("p", p.Id));
        var list = new List<RoundView>();
        foreach (int r in rounds)
        {
            var v = LoadRound(c, null, p.Id, r)!;
            if (v.Status == "open")
            {
                long n = Convert.ToInt64(c.Scalar(null, "SELECT COUNT(*) FROM answers WHERE project_id = @p AND round = @r", ("p", p.Id), ("r", r)), CultureInfo.InvariantCulture);
                long late = Convert.ToInt64(c.Scalar(null, "SELECT COUNT(*) FROM answers WHERE project_id = @p AND round = @r AND late = 1", ("p", p.Id), ("r", r)), CultureInfo.InvariantCulture);
                v = v with { Answers = (int)n, LateAnswers = (int)late };
            }
            list.Add(v);
        }
        return list;
    }

    // ---------------------------------------------------------------- reading results

    /// <summary>A page of labels (owner), in the fitted model's task order.</summary>
    public Page<LabelView> Labels(Principal caller, string project, long offset, int limit)
    {
        using var c = _db.Open();
        var p = Visible(c, null, caller, project, workerAllowed: false, "read the labels");
        long total = Convert.ToInt64(c.Scalar(null, "SELECT COUNT(*) FROM labels WHERE project_id = @p", ("p", p.Id)), CultureInfo.InvariantCulture);
        var items = c.Query(null, "SELECT task_id, label, confidence, probabilities FROM labels WHERE project_id = @p ORDER BY seq LIMIT @n OFFSET @o",
            r =>
            {
                var probs = JsonSerializer.Deserialize<double[]>(r.GetString(3))!;
                var map = new Dictionary<string, double>(StringComparer.Ordinal);
                for (int k = 0; k < p.Spec.Classes.Count; k++) map[p.Spec.Classes[k]] = probs[k];
                return new LabelView(r.GetString(0), r.GetString(1), r.GetDouble(2), map);
            }, ("p", p.Id), ("n", limit), ("o", offset));
        return new Page<LabelView>(items, offset, total);
    }

    /// <summary>The project's classes, for CSV headers.</summary>
    public IReadOnlyList<string> Classes(Principal caller, string project)
    {
        using var c = _db.Open();
        return Visible(c, null, caller, project, workerAllowed: true, "").Spec.Classes;
    }

    /// <summary>The project's workers with their answers, fitted skill, reputation and total paid (owner).</summary>
    public IReadOnlyList<WorkerView> Workers(Principal caller, string project)
    {
        using var c = _db.Open();
        var p = Visible(c, null, caller, project, workerAllowed: false, "list the workers");
        return c.Query(null,
            """
            SELECT w.name, (SELECT COUNT(*) FROM answers a WHERE a.project_id = w.project_id AND a.worker_id = w.name),
                   s.skill, s.agreement, s.reputation, COALESCE(s.total_paid, 0), w.revoked_at
            FROM principals w LEFT JOIN worker_stats s ON s.project_id = w.project_id AND s.worker_id = w.name
            WHERE w.project_id = @p AND w.role = 'worker' ORDER BY w.name
            """,
            r => new WorkerView(r.GetString(0), r.Long(1), r.NullableDouble(2), r.NullableDouble(3), r.NullableDouble(4), r.GetDouble(5), !r.IsDBNull(6)), ("p", p.Id));
    }

    /// <summary>Payments: all (owner) or the worker's own.</summary>
    public IReadOnlyList<PaymentView> Payments(Principal caller, string project, int? round)
    {
        using var c = _db.Open();
        var p = Visible(c, null, caller, project, workerAllowed: true, "");
        string mine = caller.IsWorker ? " AND worker_id = @w" : "";
        string which = round is null ? "" : " AND round = @r";
        round ??= -1;   // bound but unused: every parameter gets a type
        return c.Query(null, $"SELECT round, worker_id, payment, tasks, chances, reputation FROM payments WHERE project_id = @p{mine}{which} ORDER BY round, worker_id",
            r => new PaymentView((int)r.Long(0), r.GetString(1), r.GetDouble(2), (int)r.Long(3), r.NullableLong(4) is long k ? (int)k : null, r.NullableDouble(5)),
            ("p", p.Id), ("w", caller.Name), ("r", round));
    }

    /// <summary>Answers: all (owner) or the worker's own, in the order they were stored.</summary>
    public IReadOnlyList<AnswerView> Answers(Principal caller, string project)
    {
        using var c = _db.Open();
        var p = Visible(c, null, caller, project, workerAllowed: true, "");
        string mine = caller.IsWorker ? " AND worker_id = @w" : "";
        return c.Query(null, $"SELECT answer_id, task_id, worker_id, label, round, late, seconds FROM answers WHERE project_id = @p{mine} ORDER BY seq",
            r => new AnswerView(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), (int)r.Long(4), r.Long(5) != 0, r.NullableDouble(6)),
            ("p", p.Id), ("w", caller.Name));
    }

    /// <summary>What a worker may see of themself.</summary>
    public WorkerSelf Me(Principal caller, string project)
    {
        using var c = _db.Open();
        var p = Visible(c, null, caller, project, workerAllowed: true, "");
        if (!caller.IsWorker) throw ApiException.Forbidden("only a worker has a /me");
        long answers = Convert.ToInt64(c.Scalar(null, "SELECT COUNT(*) FROM answers WHERE project_id = @p AND worker_id = @w", ("p", p.Id), ("w", caller.Name)), CultureInfo.InvariantCulture);
        var stats = c.Query(null, "SELECT reputation, total_paid FROM worker_stats WHERE project_id = @p AND worker_id = @w", r => (r.NullableDouble(0), r.GetDouble(1)), ("p", p.Id), ("w", caller.Name));
        return new WorkerSelf(caller.Name, p.Id, answers, stats.Count > 0 ? stats[0].Item2 : 0, stats.Count > 0 ? stats[0].Item1 : null, Payments(caller, project, null));
    }

    // ---------------------------------------------------------------- data sharing

    /// <summary>The owner opens a data-sharing session among m of the project's workers.</summary>
    public Task<SharingView> CreateSharingAsync(Principal caller, string project, SharingSpec spec)
    {
        if (spec is null) throw ApiException.BadRequest("the body must be a sharing spec");
        try { ShareSessionJob.Check(spec.Agents, spec.Sigma, spec.Cost); }
        catch (InvalidOptionException e) { throw ApiException.Invalid($"{char.ToLowerInvariant(e.Option[0])}{e.Option[1..]}: {e.Problem}"); }
        catch (TallyUserException e) { throw ApiException.Invalid(e.Message); }
        return _writes.Run((c, tx) =>
        {
            var p = Visible(c, tx, caller, project, workerAllowed: false, "open sharing sessions");
            string id = KeyRing.NewId("s_");
            c.Execute(tx, "INSERT INTO sharing_sessions (project_id, session_id, spec, status, created_at) VALUES (@p, @s, @spec, 'collecting', @t)",
                ("p", p.Id), ("s", id), ("spec", JsonSerializer.Serialize(spec, ServiceJson.Options)), ("t", Now));
            return new SharingView(id, spec, "collecting", 0);
        });
    }

    /// <summary>A worker posts its samples; the last of the m agents triggers the allocation.</summary>
    public Task<SharingView> PostSamplesAsync(Principal caller, string project, string session, SharingSamples body)
    {
        if (!caller.IsWorker) throw ApiException.Forbidden("only a worker (an agent) posts samples");
        if (body?.Values is null || body.Values.Count == 0) throw ApiException.Invalid("no values");
        if (body.Values.Count > 1_000_000) throw new ApiException(413, "Content too large", "at most 1,000,000 values");
        if (body.Values.Any(v => !double.IsFinite(v))) throw ApiException.Invalid("every value must be a finite number");
        return _writes.Run((c, tx) =>
        {
            var p = Visible(c, tx, caller, project, workerAllowed: true, "");
            var (spec, status) = LoadSharing(c, tx, p.Id, session);
            if (status != "collecting") throw ApiException.Conflict("the session is allocated; it takes no more samples");
            try
            {
                c.Execute(tx, "INSERT INTO sharing_samples (project_id, session_id, agent_id, samples) VALUES (@p, @s, @a, @v)",
                    ("p", p.Id), ("s", session), ("a", caller.Name), ("v", JsonSerializer.Serialize(body.Values)));
            }
            catch (Exception e) when (Database.IsUniqueViolation(e))
            {
                throw ApiException.Conflict("you have posted your samples to this session already");
            }
            var posted = c.Query(tx, "SELECT agent_id, samples FROM sharing_samples WHERE project_id = @p AND session_id = @s",
                r => (Agent: r.GetString(0), Values: JsonSerializer.Deserialize<double[]>(r.GetString(1))!), ("p", p.Id), ("s", session));
            if (posted.Count < spec.Agents) return new SharingView(session, spec, "collecting", posted.Count);
            // Allocated as `tally share allocate` allocates the same samples (agents in natural order).
            var (n, allocations) = ShareSessionJob.Allocate(
                posted.ToDictionary(x => x.Agent, x => (IReadOnlyList<double>)x.Values, StringComparer.Ordinal), spec.Sigma, spec.Cost, spec.Seed);
            foreach (var a in allocations)
            {
                var view = new SharingAllocationView(session, a.Agent, n, a.Allocation.Z, a.Allocation.ZPrime, a.NoisyWeight);
                c.Execute(tx, "UPDATE sharing_samples SET allocation = @al WHERE project_id = @p AND session_id = @s AND agent_id = @a",
                    ("al", JsonSerializer.Serialize(view, ServiceJson.Options)), ("p", p.Id), ("s", session), ("a", a.Agent));
            }
            c.Execute(tx, "UPDATE sharing_sessions SET status = 'allocated' WHERE project_id = @p AND session_id = @s", ("p", p.Id), ("s", session));
            return new SharingView(session, spec, "allocated", posted.Count);
        });
    }

    private static (SharingSpec Spec, string Status) LoadSharing(DbConnection c, DbTransaction? tx, string project, string session)
    {
        var rows = c.Query(tx, "SELECT spec, status FROM sharing_sessions WHERE project_id = @p AND session_id = @s",
            r => (JsonSerializer.Deserialize<SharingSpec>(r.GetString(0), ServiceJson.Options)!, r.GetString(1)), ("p", project), ("s", session));
        return rows.Count == 0 ? throw ApiException.NotFound($"no sharing session {Quote.Value(session)}") : rows[0];
    }

    /// <summary>A worker reads only its own allocation, once the session is allocated.</summary>
    public SharingAllocationView Allocation(Principal caller, string project, string session)
    {
        if (!caller.IsWorker) throw ApiException.Forbidden("only the agent reads its allocation");
        using var c = _db.Open();
        var p = Visible(c, null, caller, project, workerAllowed: true, "");
        var (_, status) = LoadSharing(c, null, p.Id, session);
        var json = c.Scalar(null, "SELECT allocation FROM sharing_samples WHERE project_id = @p AND session_id = @s AND agent_id = @a",
            ("p", p.Id), ("s", session), ("a", caller.Name)) as string;
        if (json is null)
            throw status == "collecting" ? ApiException.Conflict("the session is still collecting samples") : ApiException.NotFound("you posted no samples to this session");
        return JsonSerializer.Deserialize<SharingAllocationView>(json, ServiceJson.Options)!;
    }

    /// <summary>Whether the database answers.</summary>
    public bool Ready()
    {
        try
        {
            using var c = _db.Open();
            return c.Scalar(null, "SELECT MAX(version) FROM schema_migrations") is not null;
        }
        catch (DbException) { return false; }
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _writes.DisposeAsync();
}
