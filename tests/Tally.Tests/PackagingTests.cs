using System.Diagnostics;
using System.IO.Compression;
using System.Xml.Linq;

namespace Tally.Tests;

/// <summary>
/// The tool package as a user gets it: <c>dotnet pack src/Tally.Cli</c>, <c>dotnet tool install</c>, then the
/// <c>tally</c> command from a folder that is not the repository.
/// </summary>
public sealed class PackagingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-pack-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The platforms whose SkiaSharp natives the package carries (TallyNativeRuntimes in Tally.Cli.csproj).</summary>
    private static readonly string[] NativeRuntimes = ["linux-arm64", "linux-x64", "osx", "win-x64"];

    /// <summary>The platforms whose SQLite native (tally serve) the package carries: the same, macOS by architecture.</summary>
    private static readonly string[] SqliteRuntimes = ["linux-arm64", "linux-x64", "osx-arm64", "osx-x64", "win-x64"];

    private const long MaxPackageBytes = 30_000_000;

    private static (int Code, string Out, string Err) Run(string file, string workingDirectory, params string[] args)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = workingDirectory,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        // A nested build must not inherit the test run's MSBuild settings.
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase)).ToList())
            psi.Environment.Remove(key);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in 5 minutes");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    [Fact]
    [Trait("Category", "Slow")]
    public async Task The_tool_package_is_small_complete_and_installs_a_working_tally()
    {
        var repo = TestData.RepoRoot;
        var pkg = Path.Combine(_dir, "pkg");
        // Built in a private folder (--artifacts-path), so the repository's bin/ and obj/ are left alone.
        var (code, stdout, stderr) = Run("dotnet", _dir, "pack", Path.Combine(repo, "src", "Tally.Cli"), "-c", "Release", "-o", pkg,
            "--artifacts-path", Path.Combine(_dir, "artifacts"), "--disable-build-servers", "-nologo");
        Assert.True(code == 0, stdout + stderr);
        var nupkg = Assert.Single(Directory.GetFiles(pkg, "*.nupkg"));
        long size = new FileInfo(nupkg).Length;
        Assert.True(size < MaxPackageBytes, $"the tool package is {size:N0} bytes (limit {MaxPackageBytes:N0})");

        using (var zip = ZipFile.OpenRead(nupkg))
        {
            var names = zip.Entries.Select(e => e.FullName).ToHashSet();
            const string tool = "tools/net10.0/any/";
            Assert.Contains("README.md", names);
            Assert.Contains(tool + "Tally.Cli.dll", names);
            Assert.Contains(tool + "scenarios/reform-paper.json", names);
            // Every bundled data file travels with the tool.
            var dataRoot = Path.Combine(repo, "data");
            foreach (var file in Directory.GetFiles(dataRoot, "*", SearchOption.AllDirectories))
                Assert.Contains(tool + "data/" + Path.GetRelativePath(dataRoot, file).Replace('\\', '/'), names);
            // Natives for the supported platforms only: SkiaSharp (plots) and SQLite (tally serve); no HarfBuzz, which
            // ScottPlot's PNGs do not need.
            var natives = names.Where(n => n.StartsWith(tool + "runtimes/", StringComparison.Ordinal)).ToList();
            Assert.Equal(NativeRuntimes.Concat(SqliteRuntimes).Distinct().Order(StringComparer.Ordinal),
                natives.Select(n => n.Split('/')[4]).Distinct().Order(StringComparer.Ordinal));
            foreach (var rid in NativeRuntimes)
                Assert.Contains(natives, n => n.Contains($"/{rid}/native/libSkiaSharp", StringComparison.Ordinal));
            foreach (var rid in SqliteRuntimes)
                Assert.Contains(natives, n => n.Contains($"/{rid}/native/", StringComparison.Ordinal) && n.Contains("e_sqlite3", StringComparison.Ordinal));
            Assert.DoesNotContain(natives, n => n.Contains("HarfBuzz", StringComparison.Ordinal));
            // No app host in a platform-agnostic package (the install makes the tally shim).
            Assert.DoesNotContain(tool + "tally", names);
            Assert.DoesNotContain(tool + "Tally.Cli", names);

            var nuspec = XDocument.Load(zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open());
            var ns = nuspec.Root!.GetDefaultNamespace();
            var meta = nuspec.Root.Element(ns + "metadata")!;
            string Meta(string name) => meta.Element(ns + name)?.Value ?? "";
            Assert.Equal("Tally.Cli", Meta("id"));
            Assert.Matches(@"^\d+\.\d+\.\d+", Meta("version"));
            Assert.Equal("MIT", Meta("license"));
            Assert.Equal("expression", meta.Element(ns + "license")!.Attribute("type")!.Value);
            Assert.Equal("README.md", Meta("readme"));
            Assert.NotEmpty(Meta("authors"));
            Assert.NotEmpty(Meta("description"));
            Assert.Contains("crowdsourcing", Meta("tags"));
            Assert.StartsWith("https://", Meta("projectUrl"));
            Assert.StartsWith("https://", meta.Element(ns + "repository")!.Attribute("url")!.Value);
        }

        // Installed from the local folder only (a config with no other source: nothing else can be picked up).
        var config = Path.Combine(_dir, "nuget.config");
        File.WriteAllText(config, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration><packageSources><clear /><add key="local" value="{pkg}" /></packageSources></configuration>
            """);
        var tools = Path.Combine(_dir, "tools");
        (code, stdout, stderr) = Run("dotnet", _dir, "tool", "install", "--tool-path", tools, "--configfile", config, "Tally.Cli");
        Assert.True(code == 0, stdout + stderr);
        var tally = Path.Combine(tools, OperatingSystem.IsWindows() ? "tally.exe" : "tally");
        Assert.True(File.Exists(tally), $"{tally} is missing after the install:\n{stdout}");

        var elsewhere = Directory.CreateDirectory(Path.Combine(_dir, "elsewhere")).FullName;
        (code, stdout, stderr) = Run(tally, elsewhere, "aggregate", "--dataset", "dog", "--method", "ds");
        Assert.True(code == 0, stderr);
        Assert.Contains("accuracy", stdout);
        Assert.Contains("807", stdout);

        (code, _, stderr) = Run(tally, elsewhere, "compare", "--dataset", "dog", "--plot", "dog.png");
        Assert.True(code == 0, stderr);
        var png = File.ReadAllBytes(Path.Combine(elsewhere, "dog.png"));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        Assert.True(png.Length > 5000, $"the chart is only {png.Length} bytes");

        // tally serve from the package: its SQLite native loads and the service answers.
        using (var server = new ServerProcess(Path.Combine(elsewhere, "tally-data")) { Executable = tally })
        {
            server.Start();
            using var admin = server.Client(server.AdminKey);
            Assert.Empty(await admin.ListProjectsAsync());
        }

        (code, stdout, _) = Run(tally, elsewhere, "rounds", "run", "--help");
        Assert.Equal(0, code);
        var shipped = Path.Combine(tools, ".store", "tally.cli");
        Assert.Contains(Path.Combine("scenarios", "reform-paper.json"), stdout);
        Assert.Single(Directory.GetFiles(shipped, "reform-paper.json", SearchOption.AllDirectories));
    }
}
