using System.Data;
using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Tally.Server.Storage;

/// <summary>The two SQL engines the service runs on; the schema and queries are shared, the few differences live here.</summary>
public enum Engine
{
    /// <summary>SQLite (Microsoft.Data.Sqlite): one file, WAL, <c>synchronous=FULL</c>; zero set-up.</summary>
    Sqlite,
    /// <summary>PostgreSQL (Npgsql), for a shared deployment.</summary>
    Postgres,
}

/// <summary>
/// Where the service keeps its data and how to open connections to it. SQLite by default (a file under the data
/// folder); PostgreSQL when given an Npgsql connection string. Every connection of SQLite gets <c>synchronous=FULL</c>
/// (a commit is on disk before it returns) — except the write queue's (<see cref="OpenWriter"/>), whose commits are
/// made durable by a separate flush before anyone is told of them —, a busy timeout, a 64 MiB page cache and a memory map for reads; the
/// database is put in WAL mode once.
/// </summary>
public sealed class Database : IDisposable
{
    private readonly NpgsqlDataSource? _postgres;
    private readonly string? _sqlite;

    private Database(Engine engine, string? sqlite, NpgsqlDataSource? postgres)
    {
        Engine = engine;
        _sqlite = sqlite;
        _postgres = postgres;
    }

    /// <summary>The engine.</summary>
    public Engine Engine { get; }

    /// <summary>A SQLite database in <paramref name="file"/> (created with its folder if needed).</summary>
    public static Database Sqlite(string file)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(file))!);
        var cs = new SqliteConnectionStringBuilder { DataSource = file, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = true, DefaultTimeout = 30 }.ToString();
        var db = new Database(Engine.Sqlite, cs, null);
        using var c = db.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode=WAL;";
        cmd.ExecuteNonQuery();
        return db;
    }

    /// <summary>A PostgreSQL database (an Npgsql connection string: <c>Host=…;Database=…;Username=…</c>).</summary>
    public static Database Postgres(string connectionString)
    {
        // The service runs the same few statements over and over: let Npgsql prepare them (unless the string says otherwise).
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        if (!connectionString.Contains("Auto Prepare", StringComparison.OrdinalIgnoreCase)) builder.MaxAutoPrepare = 100;
        return new(Engine.Postgres, null, NpgsqlDataSource.Create(builder.ConnectionString));
    }

    /// <summary>An open connection, configured for the service.</summary>
    public DbConnection Open()
    {
        if (_postgres is not null) return _postgres.OpenConnection();
        var c = new SqliteConnection(_sqlite);
        c.Open();
        using var cmd = c.CreateCommand();
        // A commit is on disk before it returns (FULL: the WAL is synced at every commit). Reads come from a 64 MiB page
        // cache and a memory map of the file rather than a read call per page.
        cmd.CommandText = "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=30000; PRAGMA cache_size=-65536; PRAGMA mmap_size=268435456;";
        cmd.ExecuteNonQuery();
        return c;
    }

    /// <summary>Begins the one kind of write transaction the service uses (SQLite: <c>BEGIN IMMEDIATE</c>, taking the write lock at once).</summary>
    public DbTransaction BeginWrite(DbConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        return connection is SqliteConnection s ? s.BeginTransaction(deferred: false) : connection.BeginTransaction(IsolationLevel.ReadCommitted);
    }

    /// <summary>
    /// The write queue's connection: like <see cref="Open"/>, but its commits return once the transaction is in the
    /// log, before the log is on disk (SQLite: <c>synchronous=NORMAL</c> in WAL mode; PostgreSQL:
    /// <c>synchronous_commit=off</c>). Nothing committed on it may be acknowledged until a <see cref="LogFlusher"/>
    /// has flushed the log after the commit: the flush then costs the writer nothing, and one flush covers all the
    /// groups committed while the previous one ran.
    /// </summary>
    public DbConnection OpenWriter()
    {
        var c = Open();
        // SQLite: a checkpoint every 8,192 log pages (32 MiB) rather than the default 1,000. Answers rewrite the same hot
        // pages (a worker's index entries, the tasks in hand) commit after commit; a checkpoint copies each page once
        // however often it was logged, so a longer interval copies far fewer pages per answer (under load the commit
        // went from ≈ 4 ms to ≈ 1.5 ms per group). The writer's page cache is 8 MiB, not the readers' 64 MiB: SQLite
        // walks the whole cache at the end of each write transaction, which at 64 MiB was a tenth of the writer's time.
        c.Execute(null, c is SqliteConnection ? "PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=8192; PRAGMA cache_size=-8192" : "SET synchronous_commit = off");
        return c;
    }

    /// <summary>A flusher of this database's log, for the commits of <see cref="OpenWriter"/> connections.</summary>
    public LogFlusher CreateFlusher() => _sqlite is not null ? new SqliteLogFlusher(SqliteFile()) : new PostgresLogFlusher(this);

    private string SqliteFile() => new SqliteConnectionStringBuilder(_sqlite).DataSource;

    /// <summary>The engine's type for a double column.</summary>
    public string DoubleType => Engine == Engine.Sqlite ? "REAL" : "DOUBLE PRECISION";

    /// <summary>The engine's type for a bytes column (model files).</summary>
    public string BlobType => Engine == Engine.Sqlite ? "BLOB" : "BYTEA";

    /// <summary>Whether <paramref name="e"/> is a unique-constraint violation.</summary>
    public static bool IsUniqueViolation(Exception e) =>
        e is SqliteException { SqliteErrorCode: 19 } || e is PostgresException { SqlState: "23505" };

    /// <inheritdoc />
    public void Dispose() => _postgres?.Dispose();
}

/// <summary>
/// Makes everything committed so far on the database durable: when <see cref="Flush"/> returns, every transaction that
/// had committed (on any connection) when it was called is on disk.
/// </summary>
public abstract class LogFlusher : IDisposable
{
    /// <summary>Flushes the log to disk (blocks for one fsync or so).</summary>
    public abstract void Flush();

    /// <inheritdoc />
    public virtual void Dispose() => GC.SuppressFinalize(this);
}

/// <summary>
/// SQLite in WAL mode: a commit appends its frames to <c>FILE-wal</c>; fsync of that file makes them durable (as
/// <c>synchronous=FULL</c> would at the commit; checkpoints in NORMAL mode sync the log before they copy it back). The
/// file is opened afresh for each flush (an open costs microseconds, an fsync milliseconds), so a log SQLite deleted
/// and created again is never missed by syncing the old one; no log file means nothing is waiting to be flushed.
/// </summary>
internal sealed class SqliteLogFlusher(string databaseFile) : LogFlusher
{
    private readonly string _wal = Path.GetFullPath(databaseFile) + "-wal";

    public override void Flush()
    {
        Microsoft.Win32.SafeHandles.SafeFileHandle wal;
        try { wal = File.OpenHandle(_wal, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete); }
        catch (FileNotFoundException) { return; }
        using (wal) RandomAccess.FlushToDisk(wal);
    }
}

/// <summary>
/// PostgreSQL: a transaction that writes a commit record, committed with <c>synchronous_commit=on</c>, returns only
/// once the log is flushed through its commit — and so through every commit before it, including the writer's
/// asynchronous ones.
/// </summary>
internal sealed class PostgresLogFlusher(Database db) : LogFlusher
{
    private DbConnection? _connection;

    public override void Flush()
    {
        try
        {
            _connection ??= db.Open();
            using var tx = _connection.BeginTransaction();
            _connection.Execute(tx, "SELECT pg_current_xact_id()");
            tx.Commit();
        }
        catch
        {
            _connection?.Dispose();
            _connection = null;
            throw;
        }
    }

    public override void Dispose()
    {
        _connection?.Dispose();
        base.Dispose();
    }
}

/// <summary>
/// Statements that do not read each other's results, sent together: on PostgreSQL as one batch (one round trip for
/// all of them, which is most of what a statement costs the writer there); on SQLite, in process, one after another.
/// They run in the order added, in the caller's transaction; a failing one fails the batch.
/// </summary>
public sealed class SqlBatch
{
    private readonly List<(string Sql, IReadOnlyList<object?[]>? Rows, (string, object?)[] Parameters)> _statements = [];

    /// <summary>Adds one statement.</summary>
    public SqlBatch Add(string sql, params (string, object?)[] parameters)
    {
        _statements.Add((sql, null, parameters));
        return this;
    }

    /// <summary>Adds a statement over <paramref name="rows"/> (placeholders as in <see cref="Sql.ExecuteRows"/>); nothing when there are none.</summary>
    public SqlBatch AddRows(string sql, IReadOnlyList<object?[]> rows, params (string, object?)[] parameters)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Count > 0) _statements.Add((sql, rows, parameters));
        return this;
    }

    /// <summary>Runs the statements.</summary>
    public void Execute(DbConnection c, DbTransaction tx)
    {
        ArgumentNullException.ThrowIfNull(c);
        if (_statements.Count == 0) return;
        if (!c.CanCreateBatch || _statements.Count == 1)
        {
            foreach (var (sql, rows, parameters) in _statements)
                if (rows is null) c.Execute(tx, sql, parameters);
                else c.ExecuteRows(tx, sql, rows, parameters);
            return;
        }
        using var batch = c.CreateBatch();
        batch.Transaction = tx;
        foreach (var (sql, rows, parameters) in _statements) Sql.AddTo(batch, sql, rows, parameters);
        batch.ExecuteNonQuery();
    }
}

/// <summary>
/// Queries that do not depend on each other, sent together (PostgreSQL: one batch, one round trip; SQLite: one after
/// another): each <c>Add</c> gives the list its rows are read into by <see cref="Execute"/>.
/// </summary>
public sealed class SqlReadBatch
{
    private readonly List<(string Sql, IReadOnlyList<object?[]>? Rows, (string, object?)[] Parameters, Action<DbDataReader> Read)> _queries = [];

    /// <summary>Adds a plain query.</summary>
    public List<T> Add<T>(string sql, Func<DbDataReader, T> map, params (string, object?)[] parameters)
    {
        ArgumentNullException.ThrowIfNull(map);
        var list = new List<T>();
        _queries.Add((sql, null, parameters, r => list.Add(map(r))));
        return list;
    }

    /// <summary>Adds a query over <paramref name="rows"/> (placeholders as in <see cref="Sql.QueryRows"/>); its list stays empty when there are no rows.</summary>
    public List<T> Add<T>(string sql, IReadOnlyList<object?[]> rows, Func<DbDataReader, T> map, params (string, object?)[] parameters)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(map);
        var list = new List<T>();
        if (rows.Count > 0) _queries.Add((sql, rows, parameters, r => list.Add(map(r))));
        return list;
    }

    /// <summary>Runs the queries and fills their lists.</summary>
    public void Execute(DbConnection c, DbTransaction tx)
    {
        ArgumentNullException.ThrowIfNull(c);
        if (_queries.Count == 0) return;
        if (!c.CanCreateBatch || _queries.Count == 1)
        {
            foreach (var (sql, rows, parameters, read) in _queries)
                if (rows is null) c.Query(tx, sql, r => { read(r); return 0; }, parameters);
                else c.QueryRows(tx, sql, rows, r => { read(r); return 0; }, parameters);
            return;
        }
        using var batch = c.CreateBatch();
        batch.Transaction = tx;
        foreach (var (sql, rows, parameters, _) in _queries) Sql.AddTo(batch, sql, rows, parameters);
        using var reader = batch.ExecuteReader();
        for (int q = 0; q < _queries.Count; q++)
        {
            if (q > 0 && !reader.NextResult()) throw new InvalidOperationException("a batched query returned no result set");
            while (reader.Read()) _queries[q].Read(reader);
        }
    }
}

/// <summary>Small conveniences over ADO.NET commands.</summary>
public static class Sql
{
    /// <summary>A command on <paramref name="c"/> in <paramref name="tx"/> with <c>@name</c> parameters.</summary>
    public static DbCommand Command(this DbConnection c, DbTransaction? tx, string sql, params (string Name, object? Value)[] parameters)
    {
        ArgumentNullException.ThrowIfNull(c);
        var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        bool sqlite = c is SqliteConnection;
        foreach (var (name, value) in parameters)
        {
            var p = cmd.CreateParameter();
            p.ParameterName = sqlite ? Prefixed(name) : name;
            p.Value = value ?? DBNull.Value;
            cmd.Parameters.Add(p);
        }
        return cmd;
    }

    /// <summary>
    /// The name as the SQL text spells it (<c>@name</c>). Microsoft.Data.Sqlite binds a name without its prefix by
    /// trying the name and then each of <c>@ $ :</c> in front of it — four lookups, each a UTF-8 conversion and a native
    /// call, for every parameter of every execution — where a prefixed name takes one.
    /// </summary>
    private static string Prefixed(string name) => name.Length > 0 && name[0] is '@' or '$' or ':' ? name : "@" + name;

    /// <summary>Runs a statement; returns the rows affected.</summary>
    public static int Execute(this DbConnection c, DbTransaction? tx, string sql, params (string, object?)[] parameters)
    {
        using var cmd = c.Command(tx, sql, parameters);
        return cmd.ExecuteNonQuery();
    }

    /// <summary>The first column of the first row, or null.</summary>
    public static object? Scalar(this DbConnection c, DbTransaction? tx, string sql, params (string, object?)[] parameters)
    {
        using var cmd = c.Command(tx, sql, parameters);
        var v = cmd.ExecuteScalar();
        return v is DBNull ? null : v;
    }

    /// <summary>Each row mapped by <paramref name="map"/>.</summary>
    public static List<T> Query<T>(this DbConnection c, DbTransaction? tx, string sql, Func<DbDataReader, T> map, params (string, object?)[] parameters)
    {
        using var cmd = c.Command(tx, sql, parameters);
        using var r = cmd.ExecuteReader();
        var list = new List<T>();
        while (r.Read()) list.Add(map(r));
        return list;
    }

    /// <summary>
    /// Runs <paramref name="sql"/> over <paramref name="rows"/> (all of one width and column types) and returns the
    /// rows affected. The text names the rows with one of three placeholders, which each engine fills its own way:
    /// <list type="bullet">
    /// <item><c>x {in}</c>, rows of one value: SQLite <c>x IN (@r0_0)</c>, PostgreSQL <c>x = ANY(@r0)</c>.</item>
    /// <item><c>{values}</c>, a row source named <c>v</c> with columns <c>column1</c>, <c>column2</c>, …: SQLite
    /// <c>(VALUES (@r0_0, @r0_1)) AS v</c>, PostgreSQL <c>unnest(@r0, @r1) AS v(column1, column2)</c>.</item>
    /// <item><c>INSERT … {select}</c>: SQLite <c>VALUES (@r0_0, …)</c>, PostgreSQL <c>SELECT * FROM unnest(@r0, …)</c>.</item>
    /// </list>
    /// PostgreSQL gets all the rows in one statement, one array per column (one round trip, and the same text whatever
    /// the count, so it is prepared once); SQLite, in process, one prepared statement run once per row, which costs
    /// less there than binding hundreds of parameters. Nothing runs for no rows.
    /// </summary>
    public static int ExecuteRows(this DbConnection c, DbTransaction? tx, string sql, IReadOnlyList<object?[]> rows, params (string, object?)[] parameters)
    {
        int n = 0;
        ForRows(c, tx, sql, rows, parameters, cmd => n += cmd.ExecuteNonQuery());
        return n;
    }

    /// <summary>Each row of <paramref name="sql"/> run over <paramref name="rows"/> (see <see cref="ExecuteRows"/>), mapped by <paramref name="map"/>.</summary>
    public static List<T> QueryRows<T>(this DbConnection c, DbTransaction? tx, string sql, IReadOnlyList<object?[]> rows, Func<DbDataReader, T> map, params (string, object?)[] parameters)
    {
        ArgumentNullException.ThrowIfNull(map);
        var list = new List<T>();
        ForRows(c, tx, sql, rows, parameters, cmd =>
        {
            using var r = cmd.ExecuteReader();
            while (r.Read()) list.Add(map(r));
        });
        return list;
    }

    private static void ForRows(DbConnection c, DbTransaction? tx, string sql, IReadOnlyList<object?[]> rows, (string, object?)[] parameters, Action<DbCommand> run)
    {
        ArgumentNullException.ThrowIfNull(sql);
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Count == 0) return;
        int width = rows[0].Length;
        var names = Enumerable.Range(0, width).Select(j => "r" + j.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        if (c is SqliteConnection)
        {
            string one = string.Join(", ", names.Select(n => "@" + n));
            using var cmd = c.Command(tx, sql.Replace("{in}", $"IN ({one})", StringComparison.Ordinal)
                .Replace("{values}", $"(VALUES ({one})) AS v", StringComparison.Ordinal)
                .Replace("{select}", $"VALUES ({one})", StringComparison.Ordinal), parameters);
            var slots = names.Select(n =>
            {
                var p = cmd.CreateParameter();
                p.ParameterName = "@" + n;
                cmd.Parameters.Add(p);
                return p;
            }).ToArray();
            foreach (var row in rows)
            {
                for (int j = 0; j < width; j++) slots[j].Value = row[j] ?? DBNull.Value;
                run(cmd);
            }
            return;
        }
        using var pg = c.Command(tx, ArrayText(sql, width), [.. parameters, .. ArrayParameters(rows)]);
        run(pg);
    }

    /// <summary>PostgreSQL: <paramref name="sql"/> with its row placeholders over one array parameter per column (<c>@r0</c>, <c>@r1</c>, …).</summary>
    internal static string ArrayText(string sql, int width)
    {
        var names = Enumerable.Range(0, width).Select(j => "@r" + j.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        string list = string.Join(", ", names);
        return sql.Replace("{in}", "= ANY(@r0)", StringComparison.Ordinal)
            .Replace("{values}", $"unnest({list}) AS v({string.Join(", ", Enumerable.Range(1, width).Select(j => "column" + j.ToString(System.Globalization.CultureInfo.InvariantCulture)))})", StringComparison.Ordinal)
            .Replace("{select}", $"SELECT * FROM unnest({list})", StringComparison.Ordinal);
    }

    /// <summary>Adds <paramref name="sql"/> to <paramref name="batch"/>: over <paramref name="rows"/> as arrays (<see cref="ArrayText"/>) when given.</summary>
    internal static void AddTo(DbBatch batch, string sql, IReadOnlyList<object?[]>? rows, (string, object?)[] parameters)
    {
        var command = batch.CreateBatchCommand();
        command.CommandText = rows is null ? sql : ArrayText(sql, rows[0].Length);
        foreach (var (name, value) in rows is null ? parameters : [.. parameters, .. ArrayParameters(rows)])
        {
            var p = command.CreateParameter();
            p.ParameterName = name;
            p.Value = value ?? DBNull.Value;
            command.Parameters.Add(p);
        }
        batch.BatchCommands.Add(command);
    }

    /// <summary>PostgreSQL: the array parameters of <see cref="ArrayText"/> for <paramref name="rows"/>.</summary>
    internal static (string, object?)[] ArrayParameters(IReadOnlyList<object?[]> rows) =>
        [.. Enumerable.Range(0, rows[0].Length).Select(j => ("r" + j.ToString(System.Globalization.CultureInfo.InvariantCulture), (object?)Column(rows, j)))];

    /// <summary>Column <paramref name="j"/> of <paramref name="rows"/> as a typed array (strings may be null).</summary>
    private static Array Column(IReadOnlyList<object?[]> rows, int j)
    {
        var first = rows.Select(r => r[j]).FirstOrDefault(v => v is not null);
        switch (first)
        {
            case null or string: return rows.Select(r => (string?)r[j]).ToArray();
            case int: return rows.Select(r => (int)r[j]!).ToArray();
            case long: return rows.Select(r => (long)r[j]!).ToArray();
            case double: return rows.Select(r => (double)r[j]!).ToArray();
            case bool: return rows.Select(r => (bool)r[j]!).ToArray();
            default: throw new ArgumentException($"no array type for {first.GetType().Name}", nameof(rows));
        }
    }

    /// <summary>
    /// What to append to a <c>SELECT</c> of one row to lock it until the transaction ends: <c>FOR UPDATE</c> on
    /// PostgreSQL, where several replicas write at once; nothing on SQLite, whose <c>BEGIN IMMEDIATE</c> holds the
    /// whole file already.
    /// </summary>
    public static string ForUpdate(this DbConnection c) => c is NpgsqlConnection ? " FOR UPDATE" : "";

    /// <summary>A nullable string column.</summary>
    public static string? NullableString(this DbDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);

    /// <summary>A nullable double column.</summary>
    public static double? NullableDouble(this DbDataReader r, int i) => r.IsDBNull(i) ? null : r.GetDouble(i);

    /// <summary>A nullable integer column.</summary>
    public static long? NullableLong(this DbDataReader r, int i) => r.IsDBNull(i) ? null : Convert.ToInt64(r.GetValue(i), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>An integer column, whatever width the engine returns.</summary>
    public static long Long(this DbDataReader r, int i) => Convert.ToInt64(r.GetValue(i), System.Globalization.CultureInfo.InvariantCulture);
}
