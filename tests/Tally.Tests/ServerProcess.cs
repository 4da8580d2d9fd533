using System.Diagnostics;
using System.Text.RegularExpressions;
using Tally.Service;

namespace Tally.Tests;

/// <summary>
/// A real <c>tally serve</c> process on loopback (the built CLI, as a user runs it): started on a free port with its
/// own data folder, killed with SIGKILL or stopped, restarted on the same data. Its stderr is kept for failures.
/// </summary>
public sealed partial class ServerProcess : IDisposable
{
    private Process? _process;
    private readonly List<string> _log = [];
    private readonly string? _postgres;
    private readonly string[] _extra;

    /// <summary>The program to start instead of the built CLI (an installed <c>tally</c>), or null.</summary>
    public string? Executable { get; init; }

    /// <summary>A server over <paramref name="dataDirectory"/> (SQLite), or over PostgreSQL when a connection string is given.</summary>
    public ServerProcess(string dataDirectory, string? postgres = null, params string[] extraArguments)
    {
        DataDirectory = dataDirectory;
        _postgres = postgres;
        _extra = extraArguments;
    }

    /// <summary>The data folder.</summary>
    public string DataDirectory { get; }

    /// <summary>The address, once started.</summary>
    public Uri BaseAddress { get; private set; } = new("http://127.0.0.1/");

    /// <summary>The admin key written on first start.</summary>
    public string AdminKey => File.ReadAllText(Path.Combine(DataDirectory, "admin.key")).Trim();

    /// <summary>What the server printed (stderr: start-up; stdout: the request log).</summary>
    public string Log { get { lock (_log) return string.Join("\n", _log); } }

    /// <summary>Starts the server (on a free port the first time, the same port after a restart) and waits until it listens.</summary>
    public void Start()
    {
        int port = _process is null ? 0 : BaseAddress.Port;
        string cli = Path.Combine(AppContext.BaseDirectory, "Tally.Cli.dll");
        var psi = new ProcessStartInfo(Executable ?? "dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        if (Executable is null) psi.ArgumentList.Add(cli);
        foreach (var a in new[] { "serve", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--data", DataDirectory })
            psi.ArgumentList.Add(a);
        if (_postgres is not null) { psi.ArgumentList.Add("--db"); psi.ArgumentList.Add(_postgres); }
        foreach (var a in _extra) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_gcServer"] = "0";
        var started = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        var p = new Process { StartInfo = psi, EnableRaisingEvents = true };
        p.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) { started.TrySetException(new InvalidOperationException("the server exited:\n" + Log)); return; }
            lock (_log) _log.Add(e.Data);
            var m = Listening().Match(e.Data);
            if (m.Success) started.TrySetResult(new Uri(m.Groups[1].Value + "/"));
        };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_log) _log.Add(e.Data); };   // the request log (JSON lines)
        p.Start();
        p.BeginErrorReadLine();
        p.BeginOutputReadLine();
        _process = p;
        if (!started.Task.Wait(TimeSpan.FromSeconds(60))) throw new TimeoutException("the server did not start within 60 s:\n" + Log);
        BaseAddress = started.Task.Result;
    }

    [GeneratedRegex(@"listening on (http://[^\s]+)")]
    private static partial Regex Listening();

    /// <summary>SIGKILL: no shutdown, no flush — what a power cut or an OOM kill does.</summary>
    public void Kill()
    {
        if (_process is null || _process.HasExited) return;
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit(10_000);
    }

    /// <summary>Kills and starts again on the same data and port.</summary>
    public void Restart()
    {
        Kill();
        Start();
    }

    /// <summary>A client with <paramref name="key"/>.</summary>
    public TallyClient Client(string? key) => new(BaseAddress, key);

    /// <summary>Stops the server.</summary>
    public void Dispose() => Kill();
}
