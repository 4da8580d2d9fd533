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
public sealed partial class TallyService : IAsyncDisposable
{
    private readonly Database _db;
    private readonly WriteQueue _writes;
    private readonly TimeProvider _time;
    private readonly AnswerWork _answerWork;
    private readonly AssignWork _assignWork;

    /// <summary>Most answers in one batch request.</summary>
    public const int MaxBatch = 10_000;

    /// <summary>The service over <paramref name="db"/> (migrated).</summary>
    public TallyService(Database db, TimeProvider time, int authFailuresPerMinute = 30)
    {
        _db = db;
        _time = time;
        _writes = new WriteQueue(db);
        _answerWork = new AnswerWork(this);
        _assignWork = new AssignWork(this);
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
        try
        {
            return await _writes.Run((c, tx) =>
            {
                if (c.Scalar(tx, "SELECT id FROM principals WHERE project_id = '' AND role = @r AND revoked_at IS NULL", ("r", Roles.Admin)) is not null) return (IssuedKey?)null;
                return Issue(c, tx, "", Roles.Admin, "admin", "");
            }).ConfigureAwait(false);
        }
        catch (ApiException e) when (e.Status == 409)
        {
            // Another replica created it a moment ago (the name is unique): that one wrote the key file.
            return null;
        }
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

    /// <summary>Specs as stored (a spec never changes once written), parsed once: every assignment and answer reads its project.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, ProjectSpec> _specs = new(StringComparer.Ordinal);

    private ProjectSpec ParseSpec(string json)
    {
        if (_specs.TryGetValue(json, out var spec)) return spec;
        spec = JsonSerializer.Deserialize<ProjectSpec>(json, ServiceJson.Options)!;
        if (_specs.Count > 10_000) _specs.Clear();
        _specs[json] = spec;
        return spec;
    }

    /// <summary>
    /// The project's row; with <paramref name="lockRow"/>, locked until the transaction ends. Every write that depends
    /// on the project's state (answers and their round, assignments and task loads, uploads, round closes) takes the
    /// lock first, so replicas over one PostgreSQL write a project's rows one transaction at a time — a round close
    /// waits for the answers in flight and the answers after it see the next round.
    /// </summary>
    private ProjectRow? LoadProject(DbConnection c, DbTransaction? tx, string project, bool lockRow = false) =>
        c.Query(tx, ProjectSql + (lockRow ? c.ForUpdate() : ""), ReadProject, ("p", project)).FirstOrDefault();

    private const string ProjectSql = "SELECT project_id, owner_id, spec, current_round, created_at, model, campaign, task_count, answer_count FROM projects WHERE project_id = @p";

    private ProjectRow ReadProject(DbDataReader r) =>
        new(r.GetString(0), r.GetString(1), ParseSpec(r.GetString(2)), (int)r.Long(3), r.Long(4), r.NullableString(5), r.NullableString(6), r.Long(7), r.Long(8));

    private static ProjectView View(ProjectRow p) =>
        new(p.Id, p.Owner, p.Spec, p.CurrentRound, p.Tasks, p.Answers, DateTimeOffset.FromUnixTimeMilliseconds(p.Created));

    /// <summary>The project if the caller may see it: its owner, an admin, or one of its workers (<paramref name="workerAllowed"/>).</summary>
    private ProjectRow Visible(DbConnection c, DbTransaction? tx, Principal caller, string project, bool workerAllowed, string action, bool lockRow = false) =>
        Visible(LoadProject(c, tx, project, lockRow), caller, project, workerAllowed, action);

    /// <summary>The loaded project <paramref name="p"/> if the caller may see it (see the other overload).</summary>
    private static ProjectRow Visible(ProjectRow? p, Principal caller, string project, bool workerAllowed, string action)
    {
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
            OpenRound(c, tx, id, 0, spec, now);
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
            var p = Visible(c, tx, caller, project, workerAllowed: false, "upload tasks", lockRow: true);
            var features = new string?[tasks.Count];
            foreach (var (t, i) in tasks.Select((t, i) => (t, i)))
            {
                if (t.Gold is not null && !p.Spec.Classes.Contains(t.Gold, StringComparer.Ordinal))
                    throw ApiException.Invalid($"task {i + 1} ({Quote.Value(t.Id)}): gold label {Quote.Value(t.Gold)} is not one of the project's classes");
                features[i] = FeaturesText(p.Spec, t, i);
            }
            int added = 0, unchanged = 0;
            long seq = p.Tasks;
            var existing = new Dictionary<string, (string? Payload, string? Gold, string? Features)>(StringComparer.Ordinal);
            foreach (var (id, payload, gold, f) in c.QueryRows(tx, "SELECT task_id, payload, gold, features FROM tasks WHERE project_id = @p AND task_id {in}",
                         tasks.Select(t => new object?[] { t.Id }).ToList(), r => (r.GetString(0), r.NullableString(1), r.NullableString(2), r.NullableString(3)), ("p", p.Id)))
                existing[id] = (payload, gold, f);
            var inserts = new List<object?[]>();
            foreach (var (t, i) in tasks.Select((t, i) => (t, i)))
            {
                string? payload = t.Payload is { } json ? json.GetRawText() : null;
                if (existing.TryGetValue(t.Id, out var there))
                {
                    if (there.Payload == payload && there.Gold == t.Gold && there.Features == features[i]) { unchanged++; continue; }
                    throw ApiException.Conflict($"task {Quote.Value(t.Id)} exists already with another payload, gold label or features");
                }
                inserts.Add([p.Id, t.Id, seq++, payload, t.Gold, 0, 0, features[i], p.Spec.MinAnswers, p.Spec.MaxAnswers]);
                added++;
            }
            c.ExecuteRows(tx, "INSERT INTO tasks (project_id, task_id, seq, payload, gold, answers, load_count, features, overlap_from, overlap_to) {select}", inserts);
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

    // ---------------------------------------------------------------- enrolment

    /// <summary>The owner creates an enrolment token: many workers trade it for keys of their own at <see cref="EnrolAsync"/>.</summary>
    public Task<EnrolmentView> CreateEnrolmentAsync(Principal caller, string project, EnrolmentSpec spec)
    {
        if (spec is null) throw ApiException.BadRequest("the body must be an enrolment spec ({} for no limits)");
        if (spec.MaxUses is int m && (m < 1 || m > 1_000_000)) throw ApiException.Invalid("maxUses must be in 1..1000000");
        if (spec.ExpiresSeconds is double e && !(e >= 1 && e <= 366 * 24 * 3600)) throw ApiException.Invalid("expiresSeconds must be in 1..31622400");
        return _writes.Run((c, tx) =>
        {
            var p = Visible(c, tx, caller, project, workerAllowed: false, "create enrolment tokens");
            long now = Now;
            string id = KeyRing.NewId("e_");
            string token = "tally_enrol_" + KeyRing.NewKey()["tally_".Length..];
            long? expires = spec.ExpiresSeconds is double s ? now + (long)Math.Round(s * 1000) : null;
            c.Execute(tx, "INSERT INTO enrolments (project_id, enrolment_id, token_hash, created_by, created_at, expires_at, max_uses, uses) VALUES (@p, @id, @h, @by, @t, @e, @m, 0)",
                ("p", p.Id), ("id", id), ("h", KeyRing.Hash(token)), ("by", caller.Id), ("t", now), ("e", expires), ("m", spec.MaxUses));
            return new EnrolmentView(id, p.Id, token, spec.MaxUses, 0, expires is long x ? DateTimeOffset.FromUnixTimeMilliseconds(x) : null, false);
        });
    }

    /// <summary>The project's enrolment tokens, oldest first, without their secrets (owner, admin).</summary>
    public IReadOnlyList<EnrolmentView> Enrolments(Principal caller, string project)
    {
        using var c = _db.Open();
        var p = Visible(c, null, caller, project, workerAllowed: false, "list enrolment tokens");
        return c.Query(null, "SELECT enrolment_id, max_uses, uses, expires_at, revoked_at FROM enrolments WHERE project_id = @p ORDER BY created_at, enrolment_id",
            r => new EnrolmentView(r.GetString(0), p.Id, null, r.NullableLong(1) is long m ? (int)m : null, (int)r.Long(2),
                r.NullableLong(3) is long e ? DateTimeOffset.FromUnixTimeMilliseconds(e) : null, !r.IsDBNull(4)), ("p", p.Id));
    }

    /// <summary>The owner revokes an enrolment token: it stops working; the keys already issued with it stay valid.</summary>
    public Task RevokeEnrolmentAsync(Principal caller, string project, string id) =>
        _writes.Run((c, tx) =>
        {
            var p = Visible(c, tx, caller, project, workerAllowed: false, "revoke enrolment tokens");
            if (c.Execute(tx, "UPDATE enrolments SET revoked_at = COALESCE(revoked_at, @t) WHERE project_id = @p AND enrolment_id = @id", ("t", Now), ("p", p.Id), ("id", id)) == 0)
                throw ApiException.NotFound($"no enrolment token {Quote.Value(id)} in the project");
            return 0;
        });

    /// <summary>
    /// A worker trades an enrolment token for a key of the token's project, under a name of their choosing. An unknown
    /// token counts as a failed authentication of <paramref name="client"/> (401, then 429); an expired, revoked or
    /// used-up one is refused with the reason (403).
    /// </summary>
    public async Task<IssuedKey> EnrolAsync(EnrolRequest body, string client)
    {
        if (body is null || string.IsNullOrEmpty(body.Token)) throw Keys.Failed(client, "send the enrolment token you were given: {\"token\": \"…\", \"name\": \"…\"}");
        CheckName(body.Name, "a worker");
        string hash = KeyRing.Hash(body.Token);
        try
        {
            return await _writes.Run((c, tx) =>
            {
                // The token is found by its hash alone, as keys are: it names its project.
                var rows = c.Query(tx, "SELECT project_id, enrolment_id, token_hash, expires_at, max_uses, uses, revoked_at FROM enrolments WHERE token_hash = @h" + c.ForUpdate(),
                    r => (Project: r.GetString(0), Id: r.GetString(1), Hash: r.GetString(2), Expires: r.NullableLong(3), Max: r.NullableLong(4), Uses: r.Long(5), Revoked: !r.IsDBNull(6)), ("h", hash));
                if (rows.Count != 1 || !System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(
                        System.Text.Encoding.ASCII.GetBytes(rows[0].Hash), System.Text.Encoding.ASCII.GetBytes(hash)))
                    throw new UnknownToken();
                var t = rows[0];
                if (t.Revoked) throw ApiException.Forbidden("this enrolment token has been revoked; ask the project's owner for a new one");
                if (t.Expires is long e && e <= Now) throw ApiException.Forbidden("this enrolment token has expired; ask the project's owner for a new one");
                if (t.Max is long m && t.Uses >= m) throw ApiException.Forbidden($"this enrolment token has been used by its {m} workers already");
                var key = Issue(c, tx, t.Project, Roles.Worker, body.Name, t.Id);
                c.Execute(tx, "UPDATE enrolments SET uses = uses + 1 WHERE project_id = @p AND enrolment_id = @id", ("p", t.Project), ("id", t.Id));
                return key;
            }).ConfigureAwait(false);
        }
        catch (UnknownToken)
        {
            throw Keys.Failed(client, "the enrolment token is not known");
        }
    }

    private sealed class UnknownToken : Exception;

    // ---------------------------------------------------------------- assignment

    /// <summary>
    /// A task for the worker: the one named, or under-answered tasks first (fewest answers and open leases, then
    /// upload order), then — dynamic overlap — tasks whose posterior confidence is below the target, up to the
    /// maximum (least confident first). A lease that expires returns its task to the pool. Null when nothing is left.
    /// </summary>
    public Task<AssignmentView?> AssignAsync(Principal caller, string project, AssignmentRequest? request) =>
        _writes.Run(_assignWork, new AssignRequest(caller, project, request));

    private sealed record AssignRequest(Principal Caller, string Project, AssignmentRequest? Request);

    /// <summary>
    /// The assignments of one group, run together: per project, the project is read and expired leases are swept once,
    /// then each request runs in queue order against what the ones before it wrote. A request is refused only before it
    /// writes anything, so refusals need no savepoint; a database error fails the run, and the queue then runs each
    /// request alone.
    /// </summary>
    private sealed class AssignWork(TallyService service) : BulkWork<AssignRequest, AssignmentView?>
    {
        public override void Run(DbConnection c, DbTransaction tx, IReadOnlyList<AssignRequest> inputs, (AssignmentView? Value, Exception? Error)[] results)
        {
            long now = service.Now;
            // Projects in one order (ordinal), so two replicas locking the same projects cannot wait on each other.
            foreach (var byProject in Enumerable.Range(0, inputs.Count).GroupBy(i => inputs[i].Project, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
            {
                var row = service.LoadProject(c, tx, byProject.Key, lockRow: true);
                bool swept = false;
                foreach (int i in byProject)
                {
                    try
                    {
                        var caller = inputs[i].Caller;
                        var p = Visible(row, caller, byProject.Key, workerAllowed: true, "");
                        if (!caller.IsWorker) throw ApiException.Forbidden("only a worker takes assignments");
                        if (!swept)
                        {
                            Expire(c, tx, p.Id, now);
                            swept = true;
                        }
                        results[i] = (Assign(c, tx, p, caller, inputs[i].Request, now), null);
                    }
                    catch (ApiException e) { results[i] = (null, e); }
                }
            }
        }

        /// <summary>Leases past their expiry go back to the pool.</summary>
        private static void Expire(DbConnection c, DbTransaction tx, string project, long now)
        {
            var expiring = c.Query(tx, "SELECT DISTINCT task_id FROM assignments WHERE project_id = @p AND state = 'open' AND expires_at <= @now",
                r => new object?[] { r.GetString(0) }, ("p", project), ("now", now));
            if (expiring.Count == 0) return;
            c.Execute(tx, "UPDATE assignments SET state = 'expired' WHERE project_id = @p AND state = 'open' AND expires_at <= @now", ("p", project), ("now", now));
            RefreshLoad(c, tx, project, expiring);
        }

        private static AssignmentView? Assign(DbConnection c, DbTransaction tx, ProjectRow p, Principal caller, AssignmentRequest? request, long now)
        {
            // Every refusal below comes before the first write.
            string task;
            string? payload, lease = null;
            long started = now;
            if (request?.Task is { } named)
            {
                // The task, whether the worker answered it, and the worker's open lease of it (at most one: asking again renews it).
                var found = c.Query(tx,
                    """
                    SELECT t.payload, (SELECT x.answer_id FROM answers x WHERE x.project_id = t.project_id AND x.task_id = t.task_id AND x.worker_id = @w),
                           a.assignment_id, a.started_at
                    FROM tasks t LEFT JOIN assignments a ON a.project_id = t.project_id AND a.task_id = t.task_id AND a.worker_id = @w AND a.state = 'open'
                    WHERE t.project_id = @p AND t.task_id = @t
                    """,
                    r => (Payload: r.NullableString(0), Answered: !r.IsDBNull(1), Lease: r.NullableString(2), Started: r.NullableLong(3)), ("p", p.Id), ("t", named), ("w", caller.Name));
                if (found.Count == 0)
                    throw ApiException.Invalid($"no task {Quote.Value(named)} in the project");
                if (found[0].Answered)
                    throw ApiException.Conflict($"you have answered task {Quote.Value(named)} already");
                (task, payload, lease) = (named, found[0].Payload, found[0].Lease);
                if (found[0].Started is long s0) started = s0;
            }
            else
            {
                // The worker's open lease, and the first under-answered task they could get: one batch (PostgreSQL: one
                // round trip). load_count = answers + open leases, kept by every write that changes either (RefreshLoad),
                // and indexed with the upload order, so the first free task is found by walking an index instead of
                // scanning the project.
                const string free = """
                    t.project_id = @p
                    AND NOT EXISTS (SELECT 1 FROM answers x WHERE x.project_id = t.project_id AND x.task_id = t.task_id AND x.worker_id = @w)
                    AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.project_id = t.project_id AND a.task_id = t.task_id AND a.worker_id = @w AND a.state = 'open')
                    """;
                var reads = new SqlReadBatch();
                var heldRows = reads.Add(
                    """
                    SELECT a.task_id, t.payload, a.assignment_id, a.started_at FROM assignments a JOIN tasks t ON t.project_id = a.project_id AND t.task_id = a.task_id
                    WHERE a.project_id = @p AND a.worker_id = @w AND a.state = 'open' ORDER BY a.started_at, a.assignment_id LIMIT 1
                    """,
                    r => (r.GetString(0), r.NullableString(1), r.GetString(2), r.Long(3)), ("p", p.Id), ("w", caller.Name));
                var pick = reads.Add($"SELECT t.task_id, t.payload FROM tasks t WHERE {free} AND t.load_count < @min ORDER BY t.load_count, t.seq LIMIT 1",
                    r => (r.GetString(0), r.NullableString(1)), ("p", p.Id), ("w", caller.Name), ("min", p.Spec.MinAnswers));
                reads.Execute(c, tx);
                if (heldRows is [var held])
                {
                    // A worker who asks again (a lost response, a reloaded page) gets the task they hold, not a second one.
                    (task, payload, lease, started) = held;
                }
                else
                {
                    // Dynamic overlap: none under-answered, so the least confident below the target, up to the maximum.
                    // No free task has a load below minAnswers now, so the range [overlap_from, overlap_to) = [minAnswers,
                    // maxAnswers) selects the same tasks as "below maxAnswers" and lets the walk use the overlap index,
                    // which holds only the tasks in that range (and there overlap_confidence = confidence).
                    if (pick.Count == 0)
                        pick = c.Query(tx,
                            $"SELECT t.task_id, t.payload FROM tasks t WHERE {free} AND t.load_count >= t.overlap_from AND t.load_count < t.overlap_to AND (t.overlap_confidence IS NULL OR t.overlap_confidence < @target) ORDER BY t.overlap_confidence, t.load_count, t.seq LIMIT 1",
                            r => (r.GetString(0), r.NullableString(1)), ("p", p.Id), ("w", caller.Name), ("target", p.Spec.ConfidenceTarget));
                    if (pick.Count == 0) return null;
                    (task, payload) = pick[0];
                }
            }
            long expires = now + p.Spec.LeaseSeconds * 1000L;
            if (lease is not null)
                c.Execute(tx, "UPDATE assignments SET expires_at = @e WHERE project_id = @p AND assignment_id = @a", ("e", expires), ("p", p.Id), ("a", lease));
            else
            {
                lease = KeyRing.NewId("a_");
                // The lease and one more open lease on its task (the checks above made sure the worker held none of
                // it): one batch (PostgreSQL: one round trip).
                new SqlBatch()
                    .Add("INSERT INTO assignments (project_id, assignment_id, task_id, worker_id, round, started_at, expires_at, state) VALUES (@p, @a, @t, @w, @r, @s, @e, 'open')",
                        ("p", p.Id), ("a", lease), ("t", task), ("w", caller.Name), ("r", p.CurrentRound), ("s", now), ("e", expires))
                    .Add("UPDATE tasks SET load_count = load_count + 1, overlap_confidence = confidence WHERE project_id = @p AND task_id = @t", ("p", p.Id), ("t", task))
                    .Execute(c, tx);
            }
            return new AssignmentView(lease, task, payload is null ? null : JsonDocument.Parse(payload).RootElement.Clone(), p.CurrentRound,
                DateTimeOffset.FromUnixTimeMilliseconds(started), DateTimeOffset.FromUnixTimeMilliseconds(expires));
        }
    }

    /// <summary>
    /// Sets <c>load_count</c> (answers + open leases, the order of assignment) of <paramref name="tasks"/> (rows of one
    /// task id) from the tables. Like every write of <c>load_count</c>, it copies <c>confidence</c> to
    /// <c>overlap_confidence</c>, so a task entering the overlap range carries its current confidence into the index.
    /// </summary>
    private static void RefreshLoad(DbConnection c, DbTransaction tx, string project, IReadOnlyList<object?[]> tasks) =>
        c.ExecuteRows(tx, RefreshLoadSql, tasks, ("p", project));

    private const string RefreshLoadSql = """
        UPDATE tasks SET load_count = answers + (SELECT COUNT(*) FROM assignments a WHERE a.project_id = tasks.project_id AND a.task_id = tasks.task_id AND a.state = 'open'),
                         overlap_confidence = confidence
        WHERE project_id = @p AND task_id {in}
        """;

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
        return _writes.Run(_answerWork, new AnswerRequest(caller, project, answers));
    }

    private sealed record AnswerRequest(Principal Caller, string Project, IReadOnlyList<AnswerPost> Answers);

    /// <summary>
    /// The answers of one group, run together: per project, the project is read once, the state the checks need (ids
    /// stored, tasks answered, leases, tasks, label counts) is read in a few set queries, every request is then checked
    /// in memory in queue order (each seeing the ones before it, as if run alone), and the accepted answers are written
    /// with one multi-row insert and three set updates. A refused request writes nothing.
    /// </summary>
    private sealed class AnswerWork(TallyService service) : BulkWork<AnswerRequest, IReadOnlyList<AnswerAck>>
    {
        public override void Run(DbConnection c, DbTransaction tx, IReadOnlyList<AnswerRequest> inputs, (IReadOnlyList<AnswerAck>? Value, Exception? Error)[] results)
        {
            long now = service.Now;
            foreach (var byProject in Enumerable.Range(0, inputs.Count).GroupBy(i => inputs[i].Project, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
                RunProject(c, tx, byProject.Key, [.. byProject], inputs, results, now);
        }

        private void RunProject(DbConnection c, DbTransaction tx, string project, List<int> items, IReadOnlyList<AnswerRequest> inputs,
            (IReadOnlyList<AnswerAck>? Value, Exception? Error)[] results, long now)
        {
            // One batch (PostgreSQL: one round trip, run in order): the project, locked first, then what the checks
            // need for the answers of every caller who can be one of its workers — whose rights are checked after.
            var reads = new SqlReadBatch();
            var projectRows = reads.Add(ProjectSql + c.ForUpdate(), service.ReadProject, ("p", project));
            var idRows = new List<object?[]>();
            var pairRows = new List<object?[]>();
            var taskRows = new List<object?[]>();
            var seenTasks = new HashSet<string>(StringComparer.Ordinal);
            foreach (int i in items)
                if (inputs[i].Caller is { IsWorker: true } worker && worker.ProjectId == project)
                    foreach (var a in inputs[i].Answers)
                    {
                        idRows.Add([worker.Name, a.Id]);
                        pairRows.Add([a.Task, worker.Name]);
                        if (seenTasks.Add(a.Task)) taskRows.Add([a.Task]);
                    }
            var storedRows = reads.Add(
                "SELECT a.worker_id, a.answer_id, a.task_id, a.label, a.round, a.late FROM {values} CROSS JOIN answers a WHERE a.project_id = @p AND a.worker_id = v.column1 AND a.answer_id = v.column2",
                idRows, r => (r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), (int)r.Long(4), r.Long(5) != 0), ("p", project));
            // The answers of the tasks: who answered them already, and their votes.
            var answerRows = reads.Add("SELECT task_id, worker_id, answer_id, label FROM answers WHERE project_id = @p AND task_id {in}",
                taskRows, r => (r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3)), ("p", project));
            // A worker's lease of a task: the latest assignment (any state; an answer after its lease expired is still kept).
            var leaseRows = reads.Add(
                "SELECT s.task_id, s.worker_id, s.assignment_id, s.started_at, s.state FROM {values} CROSS JOIN assignments s WHERE s.project_id = @p AND s.task_id = v.column1 AND s.worker_id = v.column2",
                pairRows, r => (r.GetString(0), r.GetString(1), r.GetString(2), r.Long(3), r.GetString(4) == "open"), ("p", project));
            reads.Execute(c, tx);

            var row = projectRows.FirstOrDefault();
            var valid = new List<int>(items.Count);
            foreach (int i in items)
            {
                try
                {
                    Visible(row, inputs[i].Caller, project, workerAllowed: true, "");
                    if (!inputs[i].Caller.IsWorker) throw ApiException.Forbidden("only a worker posts answers");
                    valid.Add(i);
                }
                catch (ApiException e) { results[i] = (null, e); }
            }
            if (valid.Count == 0) return;
            var p = row!;
            var classes = new HashSet<string>(p.Spec.Classes, StringComparer.Ordinal);
            var stored = new Dictionary<(string Worker, string Id), (string Task, string Label, int Round, bool Late)>();
            foreach (var s in storedRows) stored[(s.Item1, s.Item2)] = (s.Item3, s.Item4, s.Item5, s.Item6);
            var answered = new Dictionary<(string Task, string Worker), string>();
            var votes = new Dictionary<string, Dictionary<string, long>>(StringComparer.Ordinal);
            foreach (var (task, worker, id, label) in answerRows)
            {
                answered[(task, worker)] = id;
                if (!votes.TryGetValue(task, out var byLabel)) votes[task] = byLabel = new Dictionary<string, long>(StringComparer.Ordinal);
                byLabel[label] = byLabel.GetValueOrDefault(label) + 1;
            }
            var leases = new Dictionary<(string Task, string Worker), List<(string Id, long Started, bool Open)>>();
            foreach (var s in leaseRows)
            {
                if (!leases.TryGetValue((s.Item1, s.Item2), out var list)) leases[(s.Item1, s.Item2)] = list = [];
                list.Add((s.Item3, s.Item4, s.Item5));
            }
            // A task with a lease exists (leases are only given for tasks of the project, and tasks are never removed);
            // only the others are looked up.
            var known = leases.Keys.Select(k => k.Task).ToHashSet(StringComparer.Ordinal);
            var unleased = taskRows.Where(t => !known.Contains((string)t[0]!)).ToList();
            known.UnionWith(c.QueryRows(tx, "SELECT task_id FROM tasks WHERE project_id = @p AND task_id {in}", unleased, r => r.GetString(0), ("p", p.Id)));

            // Each request in order, against the state the ones before it left.
            long seq = p.Answers;
            var inserts = new List<object?[]>();
            var leasesAnswered = new List<object?[]>();
            var perTask = new Dictionary<string, int>(StringComparer.Ordinal);
            var loadChanged = new HashSet<string>(StringComparer.Ordinal);
            foreach (int i in valid)
            {
                var (caller, answers) = (inputs[i].Caller, inputs[i].Answers);
                try
                {
                    var acks = new AnswerAck[answers.Count];
                    var fresh = new List<(int Index, AnswerPost Answer, string Assignment, long Started, bool Open)>();
                    for (int k = 0; k < answers.Count; k++)
                    {
                        var a = answers[k];
                        string where = answers.Count == 1 ? "" : $"answer {k + 1}: ";
                        if (stored.TryGetValue((caller.Name, a.Id), out var first))
                        {
                            if (first.Task != a.Task || first.Label != a.Label)
                                throw ApiException.Conflict($"{where}id {Quote.Value(a.Id)} was used for another answer (task {Quote.Value(first.Task)}, label {Quote.Value(first.Label)})");
                            acks[k] = new AnswerAck(a.Id, "duplicate", first.Round, first.Late);
                            continue;
                        }
                        if (!known.Contains(a.Task))
                            throw ApiException.Invalid($"{where}no task {Quote.Value(a.Task)} in the project");
                        if (!classes.Contains(a.Label))
                            throw ApiException.Invalid($"{where}label {Quote.Value(a.Label)} is not one of the project's classes ({string.Join(", ", p.Spec.Classes.Take(20))})");
                        if (answered.TryGetValue((a.Task, caller.Name), out var other))
                            throw ApiException.Conflict($"{where}you answered task {Quote.Value(a.Task)} already (answer {Quote.Value(other)})");
                        (string Id, long Started, bool Open)? lease = null;
                        if (leases.TryGetValue((a.Task, caller.Name), out var held))
                            foreach (var l in held)
                                if ((a.Assignment is null || l.Id == a.Assignment) && (lease is null || l.Started > lease.Value.Started)) lease = l;
                        if (lease is null)
                            throw ApiException.Conflict($"{where}you hold no assignment of task {Quote.Value(a.Task)}; ask for one first (POST /projects/{p.Id}/assignments)");
                        // An answer after its lease expired is still the worker's answer: kept, and late when past the deadline.
                        fresh.Add((k, a, lease.Value.Id, lease.Value.Started, lease.Value.Open));
                    }
                    foreach (var (k, a, assignment, started, open) in fresh)
                    {
                        // Answering an open lease leaves answers + open leases as they were; answering after the lease
                        // expired adds one.
                        if (!open) loadChanged.Add(a.Task);
                        double seconds = Math.Max(0, (now - started) / 1000.0);
                        bool late = p.Spec.DeadlineSeconds is double d && seconds > d;
                        inserts.Add([p.Id, caller.Name, a.Id, a.Task, a.Label, p.CurrentRound, assignment, now, seconds, late ? 1 : 0, seq++]);
                        leasesAnswered.Add([assignment]);
                        stored[(caller.Name, a.Id)] = (a.Task, a.Label, p.CurrentRound, late);
                        answered[(a.Task, caller.Name)] = a.Id;
                        if (!votes.TryGetValue(a.Task, out var byLabel)) votes[a.Task] = byLabel = new Dictionary<string, long>(StringComparer.Ordinal);
                        byLabel[a.Label] = byLabel.GetValueOrDefault(a.Label) + 1;
                        perTask[a.Task] = perTask.GetValueOrDefault(a.Task) + 1;
                        acks[k] = new AnswerAck(a.Id, "stored", p.CurrentRound, late);
                    }
                    results[i] = (acks, null);
                }
                catch (ApiException e) { results[i] = (null, e); }
            }
            if (inserts.Count == 0) return;

            // The writes do not read each other: one batch (PostgreSQL: one round trip).
            var writes = new SqlBatch()
                .AddRows("INSERT INTO answers (project_id, worker_id, answer_id, task_id, label, round, assignment_id, answered_at, seconds, late, seq) {select}", inserts)
                .AddRows("UPDATE assignments SET state = 'answered' WHERE project_id = @p AND assignment_id {in}", leasesAnswered, ("p", p.Id));
            // Between round closes, a task's confidence is its majority share (what dynamic overlap compares with the
            // target); a close replaces it by the fitted model's posterior.
            var taskUpdates = perTask.Select(t =>
            {
                var byLabel = votes[t.Key];
                long total = byLabel.Values.Sum();
                return new object?[] { t.Key, t.Value, total == 0 ? 0.0 : (double)byLabel.Values.Max() / total };
            }).ToList();
            // Its copy in the overlap index changes only while the task is in the overlap range (the answer leaves the
            // load as it is; a late answer's RefreshLoad below copies it again): outside it, no indexed column changes.
            writes.AddRows(
                """
                UPDATE tasks SET answers = answers + v.column2, confidence = v.column3,
                  overlap_confidence = CASE WHEN tasks.load_count >= tasks.overlap_from AND tasks.load_count < tasks.overlap_to THEN v.column3 ELSE tasks.overlap_confidence END
                FROM {values} WHERE tasks.project_id = @p AND tasks.task_id = v.column1
                """,
                taskUpdates, ("p", p.Id));
            writes.AddRows(RefreshLoadSql, [.. loadChanged.Select(t => new object?[] { t })], ("p", p.Id));
            writes.Add("UPDATE projects SET answer_count = answer_count + @n WHERE project_id = @p", ("n", inserts.Count), ("p", p.Id));
            writes.Execute(c, tx);
        }
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
            var p = Visible(c, tx, caller, project, workerAllowed: false, "close rounds", lockRow: true);
            var existing = LoadRound(c, tx, p.Id, round);
            if (existing is { Status: "closed" }) return existing;
            if (round != p.CurrentRound)
                throw ApiException.Conflict(round > p.CurrentRound
                    ? $"round {round} has not started; the open round is {p.CurrentRound}"
                    : $"round {round} is not open");
            return CloseRound(c, tx, p, round);
        });

    /// <summary>What the round closer did with a round that was due.</summary>
    /// <param name="Project">The project.</param>
    /// <param name="Round">The round.</param>
    /// <param name="Closed">True when this call closed it (false: it was closed already, or it was extended).</param>
    /// <param name="Note">Why it was extended, when it was.</param>
    public sealed record DueRound(string Project, int Round, bool Closed, string? Note);

    /// <summary>
    /// Closes the rounds whose deadline has passed (projects with <see cref="ProjectSpec.RoundSeconds"/>), each in its
    /// own transaction under the project's lock, so that when several replicas look at once, one closes the round and
    /// the others find it closed. A round with no answers, or one that cannot be closed (say, too few answers for the
    /// mechanism), stays open for another round length, and the reason is returned for the log.
    /// </summary>
    public async Task<IReadOnlyList<DueRound>> CloseDueRoundsAsync(int most = 50)
    {
        List<(string Project, int Round)> due;
        using (var c = _db.Open())
            due = c.Query(null, "SELECT project_id, round FROM rounds WHERE status = 'open' AND closes_at <= @now ORDER BY closes_at, project_id, round LIMIT @n",
                r => (r.GetString(0), (int)r.Long(1)), ("now", Now), ("n", most));
        var done = new List<DueRound>(due.Count);
        foreach (var (project, round) in due)
        {
            done.Add(await _writes.Run((c, tx) =>
            {
                long now = Now;
                var p = LoadProject(c, tx, project, lockRow: true);
                var state = c.Query(tx, "SELECT status, closes_at FROM rounds WHERE project_id = @p AND round = @r", r => (r.GetString(0), r.NullableLong(1)), ("p", project), ("r", round));
                if (p is null || state is not [("open", long closesAt)] || closesAt > now || p.CurrentRound != round) return new DueRound(project, round, false, null);
                long next = now + (long)Math.Round((p.Spec.RoundSeconds ?? 3600) * 1000);
                string? why = null;
                if (Convert.ToInt64(c.Scalar(tx, "SELECT COUNT(*) FROM answers WHERE project_id = @p AND round = @r", ("p", project), ("r", round)), CultureInfo.InvariantCulture) == 0)
                    why = "no answers yet";
                else
                {
                    try
                    {
                        CloseRound(c, tx, p, round);
                        return new DueRound(project, round, true, null);
                    }
                    catch (ApiException e)
                    {
                        // Refused before anything was written (the round job runs first).
                        why = e.Message;
                    }
                }
                c.Execute(tx, "UPDATE rounds SET closes_at = @t WHERE project_id = @p AND round = @r", ("t", next), ("p", project), ("r", round));
                return new DueRound(project, round, false, $"extended to {DateTimeOffset.FromUnixTimeMilliseconds(next):u}: {why}");
            }).ConfigureAwait(false));
        }
        return done;
    }

    private static void OpenRound(DbConnection c, DbTransaction tx, string project, int round, ProjectSpec spec, long now) =>
        c.Execute(tx, "INSERT INTO rounds (project_id, round, status, opened_at, closes_at) VALUES (@p, @r, 'open', @o, @d)",
            ("p", project), ("r", round), ("o", now), ("d", spec.RoundSeconds is double s ? now + (long)Math.Round(s * 1000) : null));

    /// <summary>Closes open round <paramref name="round"/> of the locked project <paramref name="p"/>; refuses (422) before writing anything when the round job does.</summary>
    private RoundView CloseRound(DbConnection c, DbTransaction tx, ProjectRow p, int round)
    {
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
        // Every task with answers gets its label again, seq = 0, 1, 2, … in the job's order (what paging by seq relies
        // on): the old labels go in one statement, the new ones and the tasks' confidences in set statements.
        var labelRows = new List<object?[]>(outcome.Labels.Count);
        var confidenceRows = new List<object?[]>(outcome.Labels.Count);
        for (int i = 0; i < outcome.Labels.Count; i++)
        {
            var l = outcome.Labels[i];
            labelRows.Add([p.Id, l.Task, (long)i, l.Label, l.Confidence, JsonSerializer.Serialize(l.Probabilities.Take(spec.Classes.Count).ToArray())]);
            confidenceRows.Add([l.Task, l.Confidence]);
        }
        c.Execute(tx, "DELETE FROM labels WHERE project_id = @p", ("p", p.Id));
        foreach (var chunk in labelRows.Chunk(50_000))
            c.ExecuteRows(tx, "INSERT INTO labels (project_id, task_id, seq, label, confidence, probabilities) {select}", chunk);
        foreach (var chunk in confidenceRows.Chunk(50_000))
            c.ExecuteRows(tx, "UPDATE tasks SET confidence = v.column2, overlap_confidence = v.column2 FROM {values} WHERE tasks.project_id = @p AND tasks.task_id = v.column1", chunk, ("p", p.Id));
        foreach (var w in outcome.Workers)
            Upsert(c, tx, p.Id, w.Worker, "skill = @a, agreement = @b", ("a", w.Skill), ("b", w.Agreement));
        double total = 0;
        foreach (var pay in outcome.Payments)
        {
            c.Execute(tx, "INSERT INTO payments (project_id, round, worker_id, payment, tasks, chances, reputation, optimal) VALUES (@p, @r, @w, @pay, @n, @k, @rep, @opt)",
                ("p", p.Id), ("r", round), ("w", pay.Worker), ("pay", pay.Payment), ("n", pay.Tasks), ("k", pay.Chances), ("rep", pay.Reputation), ("opt", pay.Optimal));
            Upsert(c, tx, p.Id, pay.Worker, "total_paid = total_paid + @a, reputation = COALESCE(@b, reputation)", ("a", pay.Payment), ("b", pay.Reputation));
            total += pay.Payment;
        }
        var workers = outcome.Payments.Select(x => x.Worker).Distinct(StringComparer.Ordinal).Count();
        var tasks = answers.Where(a => a.Round == round).Select(a => a.Task).Distinct(StringComparer.Ordinal).Count();
        var view = new RoundView(round, "closed", outcome.RoundAnswers, outcome.LateAnswers, tasks, workers, spec.Method, spec.Mechanism,
            DateTimeOffset.FromUnixTimeMilliseconds(now), total, workers == 0 ? null : total / workers,
            Learner: spec.Learner is null ? null : Learn(c, tx, p, round, answers, now));
        c.Execute(tx, "UPDATE rounds SET status = 'closed', closed_at = @t, summary = @s WHERE project_id = @p AND round = @r",
            ("t", now), ("s", JsonSerializer.Serialize(view, ServiceJson.Options)), ("p", p.Id), ("r", round));
        OpenRound(c, tx, p.Id, round + 1, spec, now);
        c.Execute(tx, "UPDATE projects SET current_round = @r, model = @m, campaign = @c WHERE project_id = @p",
            ("r", round + 1), ("m", outcome.ModelJson), ("c", outcome.CampaignJson), ("p", p.Id));
        return view;
    }

    private static void Upsert(DbConnection c, DbTransaction tx, string project, string worker, string set, params (string, object?)[] values)
    {
        c.Execute(tx, "INSERT INTO worker_stats (project_id, worker_id, total_paid) VALUES (@p, @w, 0) ON CONFLICT (project_id, worker_id) DO NOTHING", ("p", project), ("w", worker));
        c.Execute(tx, $"UPDATE worker_stats SET {set} WHERE project_id = @p AND worker_id = @w", [("p", project), ("w", worker), .. values]);
    }

    private static RoundView? LoadRound(DbConnection c, DbTransaction? tx, string project, int round)
    {
        var rows = c.Query(tx, "SELECT status, summary, closes_at FROM rounds WHERE project_id = @p AND round = @r",
            r => (r.GetString(0), r.NullableString(1), r.NullableLong(2)), ("p", project), ("r", round));
        if (rows.Count == 0) return null;
        if (rows[0].Item2 is { } json) return JsonSerializer.Deserialize<RoundView>(json, ServiceJson.Options);
        return new RoundView(round, rows[0].Item1, 0, 0, 0, 0, null, null, null, null, null,
            rows[0].Item3 is long due ? DateTimeOffset.FromUnixTimeMilliseconds(due) : null);
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
        // A close writes every label again with seq = 0, 1, 2, …, so the page starting at offset o starts at seq o: the
        // index finds it directly instead of skipping o rows.
        var items = c.Query(null, "SELECT task_id, label, confidence, probabilities FROM labels WHERE project_id = @p AND seq >= @o ORDER BY seq LIMIT @n",
            r => ReadLabel(r, p.Spec.Classes), ("p", p.Id), ("n", limit), ("o", offset));
        return new Page<LabelView>(items, offset, total);
    }

    private static LabelView ReadLabel(DbDataReader r, IReadOnlyList<string> classes)
    {
        var probs = JsonSerializer.Deserialize<double[]>(r.GetString(3))!;
        var map = new Dictionary<string, double>(StringComparer.Ordinal);
        for (int k = 0; k < classes.Count; k++) map[classes[k]] = probs[k];
        return new LabelView(r.GetString(0), r.GetString(1), r.GetDouble(2), map);
    }

    /// <summary>
    /// The labels from <paramref name="offset"/> on (at most <paramref name="limit"/>; null = all), read by one query
    /// in one snapshot, row by row — for an export of any size that never holds the project's labels in memory.
    /// </summary>
    public async IAsyncEnumerable<LabelView> StreamLabels(Principal caller, string project, long offset, long? limit,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default)
    {
        await using var c = _db.Open();
        // A read snapshot: SQLite's deferred BEGIN (no write lock; the writer goes on), PostgreSQL's REPEATABLE READ.
        await using var tx = c is Microsoft.Data.Sqlite.SqliteConnection sqlite ? sqlite.BeginTransaction(deferred: true)
            : await c.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct).ConfigureAwait(false);
        var p = Visible(c, tx, caller, project, workerAllowed: false, "read the labels");
        await using var cmd = c.Command(tx, "SELECT task_id, label, confidence, probabilities FROM labels WHERE project_id = @p AND seq >= @o ORDER BY seq LIMIT @n",
            ("p", p.Id), ("o", offset), ("n", limit ?? long.MaxValue));
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false)) yield return ReadLabel(r, p.Spec.Classes);
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
        return c.Query(null, $"SELECT round, worker_id, payment, tasks, chances, reputation, optimal FROM payments WHERE project_id = @p{mine}{which} ORDER BY round, worker_id",
            r => new PaymentView((int)r.Long(0), r.GetString(1), r.GetDouble(2), (int)r.Long(3), r.NullableLong(4) is long k ? (int)k : null, r.NullableDouble(5), r.NullableDouble(6)),
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
