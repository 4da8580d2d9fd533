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
/// (a commit is on disk before it is acknowledged) and a busy timeout; the database is put in WAL mode once.
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
    public static Database Postgres(string connectionString) =>
        new(Engine.Postgres, null, NpgsqlDataSource.Create(connectionString));

    /// <summary>An open connection, configured for the service.</summary>
    public DbConnection Open()
    {
        if (_postgres is not null) return _postgres.OpenConnection();
        var c = new SqliteConnection(_sqlite);
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=30000;";
        cmd.ExecuteNonQuery();
        return c;
    }

    /// <summary>Begins the one kind of write transaction the service uses (SQLite: <c>BEGIN IMMEDIATE</c>, taking the write lock at once).</summary>
    public DbTransaction BeginWrite(DbConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        return connection is SqliteConnection s ? s.BeginTransaction(deferred: false) : connection.BeginTransaction(IsolationLevel.ReadCommitted);
    }

    /// <summary>The engine's type for a double column.</summary>
    public string DoubleType => Engine == Engine.Sqlite ? "REAL" : "DOUBLE PRECISION";

    /// <summary>Whether <paramref name="e"/> is a unique-constraint violation.</summary>
    public static bool IsUniqueViolation(Exception e) =>
        e is SqliteException { SqliteErrorCode: 19 } || e is PostgresException { SqlState: "23505" };

    /// <inheritdoc />
    public void Dispose() => _postgres?.Dispose();
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
        foreach (var (name, value) in parameters)
        {
            var p = cmd.CreateParameter();
            p.ParameterName = name;
            p.Value = value ?? DBNull.Value;
            cmd.Parameters.Add(p);
        }
        return cmd;
    }

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

    /// <summary>A nullable string column.</summary>
    public static string? NullableString(this DbDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);

    /// <summary>A nullable double column.</summary>
    public static double? NullableDouble(this DbDataReader r, int i) => r.IsDBNull(i) ? null : r.GetDouble(i);

    /// <summary>A nullable integer column.</summary>
    public static long? NullableLong(this DbDataReader r, int i) => r.IsDBNull(i) ? null : Convert.ToInt64(r.GetValue(i), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>An integer column, whatever width the engine returns.</summary>
    public static long Long(this DbDataReader r, int i) => Convert.ToInt64(r.GetValue(i), System.Globalization.CultureInfo.InvariantCulture);
}
