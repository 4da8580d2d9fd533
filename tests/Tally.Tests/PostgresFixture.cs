using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Tally.Tests;

/// <summary>
/// A real, throwaway PostgreSQL 15 server for tests: its own cluster (<c>initdb</c>) in a fresh temporary directory, on
/// a free port on 127.0.0.1, stopped and deleted afterwards. It never uses, or depends on, a system cluster (port 5432).
/// The binaries are the Debian <c>postgresql</c> package's (<see cref="BinDirectory"/>); when the test process runs as
/// root (CI) the server runs as the <c>postgres</c> OS user through <c>runuser</c>, as PostgreSQL refuses root.
/// <para>
/// Where the binaries are absent the fixture is <see cref="Available"/> = false and tests marked
/// <see cref="PostgresFactAttribute"/>/<see cref="PostgresTheoryAttribute"/> are skipped: tests never install anything
/// themselves. CI (<c>.ci/run</c>) installs the package and sets <see cref="RequireVariable"/>, and then missing binaries
/// are a failure, not a skip, so the tests can never silently stop running there.
/// </para>
/// Use it through the <c>"postgres"</c> collection (<see cref="PostgresCollection"/>), and give each test an empty
/// database with <see cref="CreateDatabase"/>.
/// </summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    /// <summary>Environment variable that, set to 1, turns missing PostgreSQL binaries from a skip into a failure.</summary>
    public const string RequireVariable = "TALLY_REQUIRE_POSTGRES";

    /// <summary>Where the Debian <c>postgresql</c> package (PostgreSQL 15) puts <c>initdb</c>, <c>pg_ctl</c>, <c>postgres</c>.</summary>
    public const string BinDirectory = "/usr/lib/postgresql/15/bin";

    /// <summary>How to get the binaries.</summary>
    public const string InstallHint = "apt-get install postgresql (CI installs it)";

    /// <summary>The cluster's superuser (trust authentication, no password).</summary>
    public const string User = "tally";

    private const string OsUser = "postgres";
    private const int StartAttempts = 5;
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(120);

    private readonly List<string> _handedOut = [];
    private string? _root;
    private string? _dataDirectory;
    private int _port;

    /// <summary>Whether the three PostgreSQL 15 binaries are installed.</summary>
    public static bool Installed =>
        new[] { "initdb", "pg_ctl", "postgres" }.All(name => File.Exists(Path.Combine(BinDirectory, name)));

    /// <summary>Why to skip (null = run): only when the binaries are missing and not required.</summary>
    /// <param name="installed">Whether the binaries were found (<see cref="Installed"/>).</param>
    /// <param name="require">The value of <see cref="RequireVariable"/>.</param>
    public static string? SkipReason(bool installed, string? require) =>
        installed || Required(require) ? null : "PostgreSQL 15 not installed: " + InstallHint;

    /// <summary>Whether <paramref name="require"/> (the value of <see cref="RequireVariable"/>) asks for PostgreSQL.</summary>
    public static bool Required(string? require) => require is "1" or "true";

    /// <summary>Whether this fixture has its cluster (false only where PostgreSQL is absent and not required).</summary>
    public bool Available { get; private set; }

    /// <summary>How long <see cref="InitializeAsync"/> took (initdb, start, create the <c>tally</c> database).</summary>
    public TimeSpan StartupTime { get; private set; }

    /// <summary>The cluster's data directory (also its Unix socket directory), for durability tests that inspect it.</summary>
    public string DataDirectory => _dataDirectory ?? throw Unavailable();

    /// <summary>The TCP port the server listens on, on 127.0.0.1 only.</summary>
    public int Port => _port != 0 ? _port : throw Unavailable();

    /// <summary>The server's log file (outside <see cref="DataDirectory"/>).</summary>
    public string LogFile => Path.Combine(_root ?? throw Unavailable(), "server.log");

    /// <summary>The <c>tally</c> database, created at start.</summary>
    public string ConnectionString => ConnectionStringFor("tally");

    /// <summary>Creates a fresh, empty database and returns its connection string, so each test can have its own.</summary>
    /// <param name="name">The database name (an identifier: letters, digits, underscores; stored as given, case and all).</param>
    public string CreateDatabase(string name)
    {
        if (name.Length is 0 or > 63 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_') || char.IsAsciiDigit(name[0]))
            throw new ArgumentException($"Not a plain database name: '{name}'.", nameof(name));
        using (var connection = new NpgsqlConnection(AdminConnectionString()))
        {
            connection.Open();
            using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
            command.ExecuteNonQuery();
        }
        return ConnectionStringFor(name);
    }

    /// <summary>
    /// Stops the cluster (for "the database went away" scenarios), keeping <see cref="DataDirectory"/> and
    /// <see cref="Port"/>; <see cref="StartAsync"/> brings the same cluster back. <paramref name="immediate"/> is
    /// <c>pg_ctl -m immediate</c>: the processes quit without a checkpoint, as in a crash, and the next start runs crash
    /// recovery from the WAL; otherwise <c>-m fast</c>, a clean shutdown. Idle pooled connections for the connection
    /// strings this fixture handed out are cleared, so that after a restart they open fresh ones (pools of an
    /// <c>NpgsqlDataSource</c> the code under test built are its own business).
    /// </summary>
    /// <param name="immediate">Whether to stop without a checkpoint (crash-like) rather than cleanly.</param>
    public async Task StopAsync(bool immediate)
    {
        if (_port == 0)
            throw Unavailable();
        await PgCtl(["-D", DataDirectory, "-m", immediate ? "immediate" : "fast", "-w", "stop"]);
        ClearPools();
    }

    /// <summary>Starts the cluster again after <see cref="StopAsync"/>, on the same port and data directory.</summary>
    public async Task StartAsync()
    {
        if (_port == 0)
            throw Unavailable();
        await PgCtl(StartArguments(_port));
    }

    /// <inheritdoc/>
    public async Task InitializeAsync()
    {
        if (!Installed)
        {
            if (Required(Environment.GetEnvironmentVariable(RequireVariable)))
                throw new InvalidOperationException(
                    $"PostgreSQL 15 is required ({RequireVariable}=1) but not found in {BinDirectory}: " + InstallHint);
            return;
        }
        var clock = Stopwatch.StartNew();
        _root = Path.Combine(TempBase(), "tally-pg-" + Guid.NewGuid().ToString("N")[..12]);
        _dataDirectory = Path.Combine(_root, "data");
        try
        {
            Directory.CreateDirectory(_root);
            Directory.CreateDirectory(_dataDirectory);
            if (AsRoot)
                await Run("chown", ["-R", OsUser + ":", _root], asPostgres: false);
            // C locale and UTF-8 whatever the machine's LANG (an uninstalled locale would fail initdb). --no-sync only
            // skips initdb's own flush of the fresh files; the running server keeps fsync on (the default) for durability tests.
            await Run(Path.Combine(BinDirectory, "initdb"),
                ["-D", _dataDirectory, "-A", "trust", "-U", User, "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"],
                asPostgres: true);
            await StartOnFreePort();
            Available = true;
            using (var connection = new NpgsqlConnection(AdminConnectionString()))
            {
                await connection.OpenAsync();
                await using var command = new NpgsqlCommand("CREATE DATABASE tally", connection);
                await command.ExecuteNonQueryAsync();
            }
            StartupTime = clock.Elapsed;
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    /// <inheritdoc/>
    public async Task DisposeAsync()
    {
        Available = false;
        if (_root is null)
            return;
        ClearPools();
        if (_dataDirectory is not null && File.Exists(Path.Combine(_dataDirectory, "postmaster.pid")))
        {
            try
            {
                await PgCtl(["-D", _dataDirectory, "-m", "immediate", "-w", "stop"]);
            }
            catch (InvalidOperationException)
            {
                KillPostmaster();
            }
        }
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
        _root = null;
        _dataDirectory = null;
        _port = 0;
    }

    private async Task StartOnFreePort()
    {
        for (var attempt = 1; ; attempt++)
        {
            var candidate = FreePort();
            var logStart = File.Exists(LogFile) ? new FileInfo(LogFile).Length : 0;
            try
            {
                await PgCtl(StartArguments(candidate));
                _port = candidate;
                return;
            }
            catch (InvalidOperationException) when (attempt < StartAttempts && PortClash(logStart))
            {
                // Someone took the port between our probe and the server's bind: try another.
            }
        }
    }

    private List<string> StartArguments(int onPort) =>
    [
        "-D", DataDirectory, "-l", LogFile, "-w", "-t", "60",
        "-o", $"-p {onPort} -k {Quote(DataDirectory)} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=on",
        "start",
    ];

    /// <summary>Whether the server's log since <paramref name="logStart"/> says the port was taken.</summary>
    private bool PortClash(long logStart)
    {
        try
        {
            using var log = new FileStream(LogFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            log.Seek(logStart, SeekOrigin.Begin);
            return new StreamReader(log).ReadToEnd().Contains("could not bind", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        finally
        {
            listener.Stop();
        }
    }

    private string ConnectionStringFor(string database)
    {
        var text = $"Host=127.0.0.1;Port={Port};Username={User};Database={database};Pooling=true;Maximum Pool Size=100";
        lock (_handedOut)
            if (!_handedOut.Contains(text))
                _handedOut.Add(text);
        return text;
    }

    private string AdminConnectionString() => $"Host=127.0.0.1;Port={Port};Username={User};Database=postgres;Pooling=false";

    private void ClearPools()
    {
        string[] strings;
        lock (_handedOut)
            strings = [.. _handedOut];
        foreach (var text in strings)
        {
            using var connection = new NpgsqlConnection(text);
            NpgsqlConnection.ClearPool(connection);
        }
    }

    private void KillPostmaster()
    {
        try
        {
            var pidFile = Path.Combine(_dataDirectory!, "postmaster.pid");
            if (int.TryParse(File.ReadLines(pidFile).FirstOrDefault(), out var pid))
                using (var process = Process.GetProcessById(pid))
                    process.Kill(entireProcessTree: true);
        }
        catch (Exception e) when (e is IOException or ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
        }
    }

    private Task PgCtl(List<string> arguments) => Run(Path.Combine(BinDirectory, "pg_ctl"), arguments, asPostgres: true);

    private static bool AsRoot => Environment.IsPrivilegedProcess;

    /// <summary>Runs a command (as the <c>postgres</c> OS user when we are root and <paramref name="asPostgres"/>).</summary>
    private async Task Run(string program, List<string> arguments, bool asPostgres)
    {
        var start = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            // A directory the postgres user can enter (not, say, /root).
            WorkingDirectory = _root ?? Path.GetTempPath(),
        };
        if (asPostgres && AsRoot)
        {
            start.FileName = "runuser";
            foreach (var argument in (string[])["-u", OsUser, "--", program])
                start.ArgumentList.Add(argument);
        }
        else
            start.FileName = program;
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        // The cluster is fully described by the arguments: no PGDATA/PGPORT/... from the caller's environment.
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("PG", StringComparison.Ordinal)).ToList())
            start.Environment.Remove(name);
        start.Environment["LC_ALL"] = "C";

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {program}.");
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(CommandTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{Describe(start)} did not finish in {CommandTimeout.TotalSeconds:0} s.{LogTail()}");
        }
        var text = (await output + await error).Trim();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{Describe(start)} failed (exit {process.ExitCode}): {text}{LogTail()}");
    }

    private static string Describe(ProcessStartInfo start) => string.Join(' ', [start.FileName, .. start.ArgumentList]);

    private string LogTail()
    {
        try
        {
            if (_root is null || !File.Exists(LogFile))
                return "";
            var lines = File.ReadAllLines(LogFile);
            return "\nServer log (" + LogFile + "):\n" + string.Join('\n', lines.Skip(Math.Max(0, lines.Length - 20)));
        }
        catch (IOException)
        {
            return "";
        }
    }

    /// <summary>
    /// The temporary directory, unless we are root and the postgres user could not reach into it (a TMPDIR under
    /// /root, say): then /tmp.
    /// </summary>
    private static string TempBase()
    {
        var temp = Path.GetFullPath(Path.GetTempPath());
        if (!AsRoot)
            return temp;
        for (var directory = new DirectoryInfo(temp); directory is not null; directory = directory.Parent)
            if (!directory.UnixFileMode.HasFlag(UnixFileMode.OtherExecute))
                return "/tmp";
        return temp;
    }

    /// <summary>Quotes for the shell that <c>pg_ctl</c> passes its <c>-o</c> options through.</summary>
    private static string Quote(string text) => "'" + text.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private Exception Unavailable() => new InvalidOperationException(
        SkipReason(Installed, Environment.GetEnvironmentVariable(RequireVariable)) is { } reason
            ? reason + " (mark the test [PostgresFact] or [PostgresTheory] so it is skipped)"
            : "The PostgreSQL fixture is not running.");
}

/// <summary>The tests that share one <see cref="PostgresFixture"/> server: <c>[Collection("postgres")]</c>.</summary>
[CollectionDefinition("postgres")]
public sealed class PostgresCollection : ICollectionFixture<PostgresFixture>
{
}

/// <summary>
/// A test that needs PostgreSQL 15 (<see cref="PostgresFixture"/>). Where it is absent the test is skipped with a
/// reason saying how to get it: <c>dotnet test</c> never installs system packages. CI (<c>.ci/run</c>) installs it and
/// sets <see cref="PostgresFixture.RequireVariable"/>, and then missing PostgreSQL is a failure, not a skip.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class PostgresFactAttribute : FactAttribute
{
    /// <summary>Skips the test when PostgreSQL 15 is missing, unless <see cref="PostgresFixture.RequireVariable"/> is 1.</summary>
    public PostgresFactAttribute()
    {
        if (PostgresFixture.SkipReason(PostgresFixture.Installed, Environment.GetEnvironmentVariable(PostgresFixture.RequireVariable)) is { } reason)
            Skip = reason;
    }
}

/// <summary>A theory that needs PostgreSQL 15; skipped like <see cref="PostgresFactAttribute"/>.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class PostgresTheoryAttribute : TheoryAttribute
{
    /// <summary>Skips the theory when PostgreSQL 15 is missing, unless <see cref="PostgresFixture.RequireVariable"/> is 1.</summary>
    public PostgresTheoryAttribute()
    {
        if (PostgresFixture.SkipReason(PostgresFixture.Installed, Environment.GetEnvironmentVariable(PostgresFixture.RequireVariable)) is { } reason)
            Skip = reason;
    }
}
