using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Tally.Core;
using Tally.Server.Storage;
using Tally.Service;

namespace Tally.Server;

/// <summary>How <c>tally serve</c> runs.</summary>
public sealed record ServerOptions
{
    /// <summary>The data folder: <c>tally.db</c> (SQLite) and <c>admin.key</c> (default <c>./tally-data</c>).</summary>
    public string DataDirectory { get; init; } = "tally-data";
    /// <summary>An Npgsql connection string to use PostgreSQL instead of SQLite (null = SQLite in the data folder).</summary>
    public string? Postgres { get; init; }
    /// <summary>The address to listen on (default 127.0.0.1).</summary>
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>The port (0 = any free port; the one chosen is printed).</summary>
    public int Port { get; init; } = 8080;
    /// <summary>Failed authentications per client address and minute before further failures get 429 (default 30).</summary>
    public int AuthFailuresPerMinute { get; init; } = 30;
    /// <summary>Largest request body in bytes (default 32 MiB: a 10,000-answer batch or a large task upload).</summary>
    public long MaxRequestBytes { get; init; } = 32L << 20;
    /// <summary>How often the database is asked for rounds past their deadline (default 1 s).</summary>
    public TimeSpan RoundCheckInterval { get; init; } = TimeSpan.FromSeconds(1);
}

/// <summary>
/// <c>tally serve</c>: the HTTP service over <see cref="TallyService"/> (ASP.NET Core minimal APIs). Every error is an
/// RFC 9457 problem document; every request is logged with its id, method, path, status and time.
/// </summary>
public static class ServerHost
{
    /// <summary>Builds the application (storage opened and migrated, the first admin key written once).</summary>
    /// <param name="options">Where and how to run.</param>
    /// <param name="log">Where start-up messages go (the listening address, the admin key file).</param>
    public static WebApplication Build(ServerOptions options, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(options);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddJsonConsole(o => { o.IncludeScopes = true; o.UseUtcTimestamp = true; });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddFilter("Tally.Server.Requests", LogLevel.Information);
        builder.Logging.AddFilter("Tally.Server.RoundCloser", LogLevel.Information);
        // Refusals are problems the service raises on purpose (logged as requests); real failures are logged by WriteException.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Diagnostics.ExceptionHandlerMiddleware", LogLevel.None);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = options.MaxRequestBytes;
            k.AddServerHeader = false;
        });
        builder.WebHost.UseUrls($"http://{options.Host}:{options.Port.ToString(CultureInfo.InvariantCulture)}");
        builder.Services.AddProblemDetails();
        builder.Services.AddOpenApi();
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.PropertyNamingPolicy = ServiceJson.Options.PropertyNamingPolicy;
            o.SerializerOptions.DefaultIgnoreCondition = ServiceJson.Options.DefaultIgnoreCondition;
            o.SerializerOptions.UnmappedMemberHandling = ServiceJson.Options.UnmappedMemberHandling;
            o.SerializerOptions.Encoder = ServiceJson.Options.Encoder;
        });

        Directory.CreateDirectory(options.DataDirectory);
        var db = options.Postgres is { } pg ? Database.Postgres(pg) : Database.Sqlite(Path.Combine(options.DataDirectory, "tally.db"));
        Migrations.Apply(db);
        var service = new TallyService(db, TimeProvider.System, options.AuthFailuresPerMinute);
        var admin = service.EnsureAdminAsync().GetAwaiter().GetResult();
        string keyFile = Path.Combine(options.DataDirectory, "admin.key");
        if (admin is not null)
        {
            WriteSecret(keyFile, admin.Key + "\n");
            log.WriteLine($"tally serve: created the admin key in {keyFile} (shown only there; keep it safe)");
        }
        builder.Services.AddSingleton(service);
        builder.Services.AddSingleton(db);
        builder.Services.AddHostedService(sp => new RoundCloser(service, sp.GetRequiredService<ILogger<RoundCloser>>(), options.RoundCheckInterval));

        var app = builder.Build();
        var requests = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Tally.Server.Requests");
        ReverseProxy.Use(app);
        // Outermost: it logs the final status, whether the endpoint answered or a handler turned an error into a problem.
        app.Use(async (ctx, next) =>
        {
            var clock = Stopwatch.StartNew();
            string id = ctx.TraceIdentifier;
            ctx.Response.Headers["X-Request-Id"] = id;
            using (requests.BeginScope(new Dictionary<string, object> { ["requestId"] = id }))
            {
                await next(ctx).ConfigureAwait(false);
                requests.LogInformation("{Method} {Path} {Status} {Milliseconds:0.0} ms", ctx.Request.Method, ctx.Request.Path.Value, ctx.Response.StatusCode, clock.Elapsed.TotalMilliseconds);
            }
        });
        app.UseExceptionHandler(new ExceptionHandlerOptions { ExceptionHandler = WriteException });
        app.UseStatusCodePages(async ctx =>
        {
            // Routing's own 404/405 and Kestrel's 413 get a problem body too.
            var http = ctx.HttpContext;
            if (http.Response.HasStarted || http.Response.ContentLength > 0) return;
            await Problem(http, http.Response.StatusCode, http.Response.StatusCode switch
            {
                404 => "Not found",
                405 => "Method not allowed",
                413 => "Content too large",
                415 => "Unsupported media type",
                _ => "Error",
            }, http.Response.StatusCode == 404 ? $"no endpoint {http.Request.Method} {http.Request.Path}" : null).ConfigureAwait(false);
        });
        app.MapOpenApi("/openapi.json");
        Endpoints.Map(app);
        DashboardRoutes.Map(app);
        app.Lifetime.ApplicationStopped.Register(() =>
        {
            service.DisposeAsync().AsTask().GetAwaiter().GetResult();
            db.Dispose();
        });
        return app;
    }

    /// <summary>Runs until stopped (Ctrl+C, SIGTERM); prints the address it listens on.</summary>
    public static async Task RunAsync(ServerOptions options, TextWriter log, CancellationToken cancellationToken = default)
    {
        await using var app = Build(options, log);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        foreach (var address in app.Urls) log.WriteLine($"tally serve: listening on {address}");
        log.Flush();
        await app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
    }

    private static void WriteSecret(string path, string text)
    {
        var tmp = path + ".tmp";
        var fso = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) fso.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var fs = new FileStream(tmp, fso))
        {
            fs.Write(Encoding.UTF8.GetBytes(text));
            fs.Flush(flushToDisk: true);
        }
        File.Move(tmp, path, overwrite: true);
    }

    private static async Task WriteException(HttpContext ctx)
    {
        var error = ctx.Features.Get<IExceptionHandlerFeature>()?.Error;
        switch (error)
        {
            case ApiException api:
                await Problem(ctx, api.Status, api.Title, api.Detail(), api.Extensions).ConfigureAwait(false);
                break;
            case BadHttpRequestException bad:
                await Problem(ctx, bad.StatusCode, bad.StatusCode == 413 ? "Content too large" : "Bad request", BodyProblem(bad)).ConfigureAwait(false);
                break;
            case JsonException json:
                await Problem(ctx, 400, "Bad request", "the body is not valid JSON of the expected shape: " + JsonErrors.Problem(json)).ConfigureAwait(false);
                break;
            default:
                await Problem(ctx, 500, "Internal error", "a bug in the service; the request id identifies it in the log").ConfigureAwait(false);
                ctx.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Tally.Server.Requests").LogError(error, "unhandled error");
                break;
        }
    }

    private static string Detail(this ApiException e) => e.Message;

    private static string BodyProblem(BadHttpRequestException e) =>
        e.InnerException is JsonException j ? "the body is not valid JSON of the expected shape: " + JsonErrors.Problem(j)
        : e.StatusCode == 413 ? "the request body is larger than the service accepts"
        : Quote.Bare(e.Message);

    /// <summary>Writes an RFC 9457 problem document.</summary>
    internal static Task Problem(HttpContext ctx, int status, string title, string? detail, IDictionary<string, object?>? extensions = null)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/problem+json";
        ctx.Response.Headers["X-Request-Id"] = ctx.TraceIdentifier;   // the exception handler cleared the headers
        var doc = new Dictionary<string, object?>
        {
            ["type"] = "about:blank",
            ["title"] = title,
            ["status"] = status,
            ["detail"] = detail,
            ["instance"] = ctx.Request.Path.Value,
            ["requestId"] = ctx.TraceIdentifier,
        };
        if (extensions is not null) foreach (var (k, v) in extensions) doc[k] = v;
        return ctx.Response.WriteAsync(JsonSerializer.Serialize(doc, ServiceJson.Options));
    }
}
