namespace Tally.Server.Storage;

/// <summary>
/// The schema, as numbered migrations applied in order at start-up inside one transaction each, recorded in
/// <c>schema_migrations</c>; a database newer than the program is refused. Every table carries <c>project_id</c>
/// (empty for rows that belong to no project: admins and requesters), and every query of the service filters on it,
/// so the data can later be distributed by project.
/// </summary>
public static partial class Migrations
{
    /// <summary>The migrations, oldest first: version and statements (<c>{double}</c> and <c>{blob}</c> are the engine's double and bytes types).</summary>
    public static IReadOnlyList<(int Version, string[] Statements)> All { get; } =
    [
        (1,
        [
            """
            CREATE TABLE principals (
              project_id TEXT NOT NULL, id TEXT NOT NULL PRIMARY KEY, role TEXT NOT NULL, name TEXT NOT NULL,
              created_by TEXT NOT NULL, created_at BIGINT NOT NULL, revoked_at BIGINT NULL)
            """,
            "CREATE UNIQUE INDEX principals_name ON principals (project_id, role, name)",
            """
            CREATE TABLE api_keys (
              project_id TEXT NOT NULL, key_hash TEXT NOT NULL PRIMARY KEY, principal_id TEXT NOT NULL,
              created_at BIGINT NOT NULL, revoked_at BIGINT NULL)
            """,
            "CREATE INDEX api_keys_principal ON api_keys (project_id, principal_id)",
            """
            CREATE TABLE projects (
              project_id TEXT NOT NULL PRIMARY KEY, owner_id TEXT NOT NULL, spec TEXT NOT NULL, current_round INTEGER NOT NULL,
              created_at BIGINT NOT NULL, model TEXT NULL, campaign TEXT NULL, task_count BIGINT NOT NULL, answer_count BIGINT NOT NULL)
            """,
            "CREATE INDEX projects_owner ON projects (owner_id)",
            """
            CREATE TABLE tasks (
              project_id TEXT NOT NULL, task_id TEXT NOT NULL, seq BIGINT NOT NULL, payload TEXT NULL, gold TEXT NULL,
              answers INTEGER NOT NULL, confidence {double} NULL, load_count INTEGER NOT NULL, PRIMARY KEY (project_id, task_id))
            """,
            "CREATE INDEX tasks_seq ON tasks (project_id, seq)",
            // Assignment order: under-answered first (answers + open leases, then upload order), then the least confident.
            "CREATE INDEX tasks_load ON tasks (project_id, load_count, seq)",
            "CREATE INDEX tasks_overlap ON tasks (project_id, confidence, load_count, seq)",
            """
            CREATE TABLE assignments (
              project_id TEXT NOT NULL, assignment_id TEXT NOT NULL, task_id TEXT NOT NULL, worker_id TEXT NOT NULL,
              round INTEGER NOT NULL, started_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, state TEXT NOT NULL,
              PRIMARY KEY (project_id, assignment_id))
            """,
            // A worker's leases of a task (any state); the open leases of a worker, and of the project by expiry. The state is
            // in no key: an answer closing its lease then rewrites the row and drops two index entries, nothing more.
            "CREATE INDEX assignments_task ON assignments (project_id, task_id, worker_id)",
            "CREATE INDEX assignments_worker ON assignments (project_id, worker_id, started_at, assignment_id) WHERE state = 'open'",
            "CREATE INDEX assignments_expiry ON assignments (project_id, expires_at) WHERE state = 'open'",
            """
            CREATE TABLE answers (
              project_id TEXT NOT NULL, worker_id TEXT NOT NULL, answer_id TEXT NOT NULL, task_id TEXT NOT NULL,
              label TEXT NOT NULL, round INTEGER NOT NULL, assignment_id TEXT NULL, answered_at BIGINT NOT NULL,
              seconds {double} NULL, late INTEGER NOT NULL, seq BIGINT NOT NULL, PRIMARY KEY (project_id, worker_id, answer_id))
            """,
            "CREATE UNIQUE INDEX answers_task_worker ON answers (project_id, task_id, worker_id)",
            "CREATE INDEX answers_round ON answers (project_id, round, seq)",
            """
            CREATE TABLE rounds (
              project_id TEXT NOT NULL, round INTEGER NOT NULL, status TEXT NOT NULL, closed_at BIGINT NULL, summary TEXT NULL,
              PRIMARY KEY (project_id, round))
            """,
            """
            CREATE TABLE labels (
              project_id TEXT NOT NULL, task_id TEXT NOT NULL, seq BIGINT NOT NULL, label TEXT NOT NULL,
              confidence {double} NOT NULL, probabilities TEXT NOT NULL, PRIMARY KEY (project_id, task_id))
            """,
            "CREATE INDEX labels_seq ON labels (project_id, seq)",
            """
            CREATE TABLE worker_stats (
              project_id TEXT NOT NULL, worker_id TEXT NOT NULL, skill {double} NULL, agreement {double} NULL,
              reputation {double} NULL, total_paid {double} NOT NULL, PRIMARY KEY (project_id, worker_id))
            """,
            """
            CREATE TABLE payments (
              project_id TEXT NOT NULL, round INTEGER NOT NULL, worker_id TEXT NOT NULL, payment {double} NOT NULL,
              tasks INTEGER NOT NULL, chances INTEGER NULL, reputation {double} NULL, PRIMARY KEY (project_id, round, worker_id))
            """,
            """
            CREATE TABLE sharing_sessions (
              project_id TEXT NOT NULL, session_id TEXT NOT NULL, spec TEXT NOT NULL, status TEXT NOT NULL,
              created_at BIGINT NOT NULL, PRIMARY KEY (project_id, session_id))
            """,
            """
            CREATE TABLE sharing_samples (
              project_id TEXT NOT NULL, session_id TEXT NOT NULL, agent_id TEXT NOT NULL, samples TEXT NOT NULL,
              allocation TEXT NULL, PRIMARY KEY (project_id, session_id, agent_id))
            """,
        ]),
        (2,
        [
            // Rounds that close by themselves: when each round opened and when it is due (null: closed only on request).
            "ALTER TABLE rounds ADD COLUMN opened_at BIGINT NULL",
            "ALTER TABLE rounds ADD COLUMN closes_at BIGINT NULL",
            // The one query that spans projects: the rounds now due, wherever they are (it reads this index only).
            "CREATE INDEX rounds_due ON rounds (closes_at) WHERE status = 'open'",
            // Enrolment tokens: a requester hands one link to many workers, each of whom trades it for a key of their own.
            """
            CREATE TABLE enrolments (
              project_id TEXT NOT NULL, enrolment_id TEXT NOT NULL, token_hash TEXT NOT NULL, created_by TEXT NOT NULL,
              created_at BIGINT NOT NULL, expires_at BIGINT NULL, max_uses INTEGER NULL, uses INTEGER NOT NULL, revoked_at BIGINT NULL,
              PRIMARY KEY (project_id, enrolment_id))
            """,
            "CREATE UNIQUE INDEX enrolments_token ON enrolments (token_hash)",
        ]),
        (3,
        [
            // The dashboard's labels least (or most) confident first — which labels are still uncertain — and filtered to
            // "confidence below X": an index walk and a range count instead of sorting or scanning the project's labels.
            "CREATE INDEX labels_confidence ON labels (project_id, confidence, seq)",
        ]),
        (4,
        [
            // M* of REFORM's γ-fairness per payment (what the worker's reports would have earned had they matched), so
            // the rounds page can show γ; null for mechanisms without per-report peer rewards.
            "ALTER TABLE payments ADD COLUMN optimal {double} NULL",
        ]),
        (5,
        [
            // The learner (projects with a learner spec): each task's features (a JSON array of numbers), the model each
            // round close trained (tally learn's file, versioned by its format version), and the latest model's
            // predictions, walked most uncertain first.
            "ALTER TABLE tasks ADD COLUMN features TEXT NULL",
            """
            CREATE TABLE models (
              project_id TEXT NOT NULL, round INTEGER NOT NULL, method TEXT NOT NULL, format_version INTEGER NOT NULL,
              model {blob} NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (project_id, round))
            """,
            """
            CREATE TABLE predictions (
              project_id TEXT NOT NULL, task_id TEXT NOT NULL, round INTEGER NOT NULL, label TEXT NOT NULL,
              probabilities TEXT NOT NULL, entropy {double} NOT NULL, PRIMARY KEY (project_id, task_id))
            """,
            "CREATE INDEX predictions_entropy ON predictions (project_id, entropy DESC, task_id)",
        ]),
        (6,
        [
            // Dynamic overlap only ever picks a task whose load is in [minAnswers, maxAnswers): the pick runs when no free
            // task is under-answered. The overlap index holds only those tasks (each task carries its project's bounds,
            // which never change), and is keyed on overlap_confidence, a copy of confidence kept equal to it while the
            // task is in that range (an answer to a task outside it leaves the copy as it was; every write of load_count
            // copies confidence again). So the answers that bring a task up to minAnswers — most answers — and those of
            // full tasks change no indexed column: on SQLite two B-tree entries fewer per answer, on PostgreSQL the
            // tasks row's update can be a heap-only (HOT) one, without new entries in the tasks' three other indexes,
            // given room in its page (fillfactor 80: the other 20 % are for those updates).
            "ALTER TABLE tasks ADD COLUMN overlap_from INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE tasks ADD COLUMN overlap_to INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE tasks ADD COLUMN overlap_confidence {double} NULL",
            "DROP INDEX tasks_overlap",
            """
            UPDATE tasks SET overlap_from = (SELECT {json_int p.spec minAnswers} FROM projects p WHERE p.project_id = tasks.project_id),
                             overlap_to = (SELECT {json_int p.spec maxAnswers} FROM projects p WHERE p.project_id = tasks.project_id),
                             overlap_confidence = confidence
            """,
            "CREATE INDEX tasks_overlap_range ON tasks (project_id, overlap_confidence, load_count, seq) WHERE load_count >= overlap_from AND load_count < overlap_to",
            "{postgres}ALTER TABLE tasks SET (fillfactor = 80)",
        ]),
    ];

    /// <summary>The newest schema version this program knows.</summary>
    public static int Latest => All[^1].Version;

    /// <summary>Applies the migrations the database lacks; returns the versions applied.</summary>
    /// <exception cref="InvalidOperationException">The database's schema is newer than this program's.</exception>
    public static IReadOnlyList<int> Apply(Database db)
    {
        ArgumentNullException.ThrowIfNull(db);
        using var c = db.Open();
        // Replicas starting together over one PostgreSQL take turns: the first migrates, the others find it done.
        // (SQLite: BEGIN IMMEDIATE already serialises the processes of one file.)
        if (db.Engine == Engine.Postgres) c.Execute(null, "SELECT pg_advisory_lock(@k)", ("k", MigrationLock));
        try
        {
            return ApplyLocked(db, c);
        }
        finally
        {
            if (db.Engine == Engine.Postgres) c.Execute(null, "SELECT pg_advisory_unlock(@k)", ("k", MigrationLock));
        }
    }

    /// <summary>The advisory lock the migrations hold on PostgreSQL (an arbitrary constant: "tally" in ASCII).</summary>
    private const long MigrationLock = 0x74616c6c79;

    /// <summary>
    /// A migration statement in the engine's dialect: <c>{double}</c> and <c>{blob}</c> become its types, and
    /// <c>{json_int COLUMN FIELD}</c> the integer member FIELD of the JSON text in COLUMN; null for a statement that
    /// starts with <c>{postgres}</c> (a storage setting only PostgreSQL has) on SQLite.
    /// </summary>
    private static string? Sql(Database db, string statement) =>
        statement.StartsWith(PostgresOnly, StringComparison.Ordinal) ? (db.Engine == Engine.Postgres ? Sql(db, statement[PostgresOnly.Length..]) : null) :
        JsonInt().Replace(statement.Replace("{double}", db.DoubleType, StringComparison.Ordinal).Replace("{blob}", db.BlobType, StringComparison.Ordinal),
            m => db.Engine == Engine.Sqlite
                ? $"CAST(json_extract({m.Groups[1].Value}, '$.{m.Groups[2].Value}') AS INTEGER)"
                : $"(({m.Groups[1].Value})::json->>'{m.Groups[2].Value}')::integer");

    private const string PostgresOnly = "{postgres}";

    [System.Text.RegularExpressions.GeneratedRegex(@"\{json_int ([a-z_.]+) ([A-Za-z]+)\}")]
    private static partial System.Text.RegularExpressions.Regex JsonInt();

    private static IReadOnlyList<int> ApplyLocked(Database db, System.Data.Common.DbConnection c)
    {
        using (var tx = db.BeginWrite(c))
        {
            c.Execute(tx, "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)");
            tx.Commit();
        }
        var applied = new List<int>();
        foreach (var (version, statements) in All)
        {
            using var tx = db.BeginWrite(c);
            if (c.Scalar(tx, "SELECT version FROM schema_migrations WHERE version = @v", ("v", version)) is not null) { tx.Rollback(); continue; }
            foreach (var statement in statements)
                if (Sql(db, statement) is { } sql) c.Execute(tx, sql);
            c.Execute(tx, "INSERT INTO schema_migrations (version, applied_at) VALUES (@v, @t)", ("v", version), ("t", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));
            tx.Commit();
            applied.Add(version);
        }
        long newest = Convert.ToInt64(c.Scalar(null, "SELECT MAX(version) FROM schema_migrations") ?? 0L, System.Globalization.CultureInfo.InvariantCulture);
        if (newest > Latest)
            throw new InvalidOperationException($"The database has schema version {newest}, newer than this program's {Latest}; run a newer tally.");
        return applied;
    }
}
