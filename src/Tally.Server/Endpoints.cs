using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Tally.Core;
using Tally.Service;

namespace Tally.Server;

/// <summary>The HTTP routes: each reads its body strictly, authenticates, and hands over to <see cref="TallyService"/>.</summary>
internal static class Endpoints
{
    public static void Map(WebApplication app)
    {
        app.MapGet("/healthz", () => Results.Json(new { status = "ok" }));
        app.MapGet("/readyz", (TallyService s) => s.Ready() ? Results.Json(new { status = "ready" }) : Results.Json(new { status = "not ready" }, statusCode: 503));

        app.MapPost("/requesters", async (HttpContext ctx, TallyService s) =>
            Results.Json(await s.CreateRequesterAsync(Auth(ctx, s), await Body<NewPrincipal>(ctx)), ServiceJson.Options, statusCode: 201));
        app.MapPost("/principals/{id}/revoke", async (HttpContext ctx, TallyService s, string id) =>
        {
            await s.RevokeAsync(Auth(ctx, s), id);
            return Results.NoContent();
        });

        app.MapPost("/projects", async (HttpContext ctx, TallyService s) =>
            Results.Json(await s.CreateProjectAsync(Auth(ctx, s), await Body<ProjectSpec>(ctx)), ServiceJson.Options, statusCode: 201));
        app.MapGet("/projects", (HttpContext ctx, TallyService s) => Results.Json(s.ListProjects(Auth(ctx, s)), ServiceJson.Options));
        app.MapGet("/projects/{p}", (HttpContext ctx, TallyService s, string p) => Results.Json(s.GetProject(Auth(ctx, s), p), ServiceJson.Options));

        app.MapPost("/projects/{p}/tasks", async (HttpContext ctx, TallyService s, string p) =>
        {
            var caller = Auth(ctx, s);
            return Results.Json(await s.AddTasksAsync(caller, p, await Tasks(ctx)), ServiceJson.Options);
        });
        app.MapPost("/projects/{p}/workers", async (HttpContext ctx, TallyService s, string p) =>
            Results.Json(await s.CreateWorkerAsync(Auth(ctx, s), p, await Body<NewPrincipal>(ctx)), ServiceJson.Options, statusCode: 201));
        app.MapPost("/projects/{p}/enrolments", async (HttpContext ctx, TallyService s, string p) =>
            Results.Json(await s.CreateEnrolmentAsync(Auth(ctx, s), p, await Body<EnrolmentSpec>(ctx)), ServiceJson.Options, statusCode: 201));
        app.MapGet("/projects/{p}/enrolments", (HttpContext ctx, TallyService s, string p) => Results.Json(s.Enrolments(Auth(ctx, s), p), ServiceJson.Options));
        app.MapPost("/projects/{p}/enrolments/{id}/revoke", async (HttpContext ctx, TallyService s, string p, string id) =>
        {
            await s.RevokeEnrolmentAsync(Auth(ctx, s), p, id);
            return Results.NoContent();
        });
        app.MapPost("/enrol", async (HttpContext ctx, TallyService s) =>
            Results.Json(await s.EnrolAsync(await Body<EnrolRequest>(ctx), Client(ctx)), ServiceJson.Options, statusCode: 201));
        app.MapGet("/projects/{p}/workers", (HttpContext ctx, TallyService s, string p) => Results.Json(s.Workers(Auth(ctx, s), p), ServiceJson.Options));

        app.MapPost("/projects/{p}/assignments", async (HttpContext ctx, TallyService s, string p) =>
        {
            var caller = Auth(ctx, s);
            var request = ctx.Request.ContentLength is 0 || (ctx.Request.ContentLength is null && !ctx.Request.HasJsonContentType()) ? null : await Body<AssignmentRequest>(ctx);
            var a = await s.AssignAsync(caller, p, request);
            return a is null ? Results.NoContent() : Results.Json(a, ServiceJson.Options);
        });
        app.MapPost("/projects/{p}/answers", async (HttpContext ctx, TallyService s, string p) =>
        {
            var caller = Auth(ctx, s);
            var doc = await Body<JsonElement>(ctx);
            if (doc.ValueKind == JsonValueKind.Object && doc.TryGetProperty("answers", out _))
            {
                var batch = Convert<AnswerBatch>(doc);
                return Results.Json(new AnswerAcks(await s.AnswerAsync(caller, p, batch.Answers)), ServiceJson.Options);
            }
            var one = Convert<AnswerPost>(doc);
            return Results.Json((await s.AnswerAsync(caller, p, [one]))[0], ServiceJson.Options);
        });

        app.MapPost("/projects/{p}/rounds/{r:int}/close", async (HttpContext ctx, TallyService s, string p, int r) =>
            Results.Json(await s.CloseRoundAsync(Auth(ctx, s), p, r), ServiceJson.Options));
        app.MapGet("/projects/{p}/rounds", (HttpContext ctx, TallyService s, string p) => Results.Json(s.ListRounds(Auth(ctx, s), p), ServiceJson.Options));

        app.MapGet("/projects/{p}/labels", async (HttpContext ctx, TallyService s, string p) =>
        {
            var caller = Auth(ctx, s);
            long offset = Query(ctx, "offset", 0, 0, long.MaxValue);
            if (Format(ctx) == OutputFormat.Csv)
            {
                // CSV: every label from offset on unless a limit is asked for, streamed from one query in one snapshot.
                long? most = ctx.Request.Query.ContainsKey("limit") ? Query(ctx, "limit", 1000, 1, long.MaxValue) : null;
                await LabelTables.WriteCsvAsync(ctx.Response, s, caller, p, offset, most, ctx.RequestAborted);
                return Results.Empty;
            }
            int limit = (int)Query(ctx, "limit", 1000, 1, 100_000);
            return Results.Json(s.Labels(caller, p, offset, limit), ServiceJson.Options);
        });
        app.MapGet("/projects/{p}/payments", (HttpContext ctx, TallyService s, string p) =>
        {
            var caller = Auth(ctx, s);
            int? round = ctx.Request.Query.ContainsKey("round") ? (int)Query(ctx, "round", 0, 0, int.MaxValue) : null;
            return Results.Json(s.Payments(caller, p, round), ServiceJson.Options);
        });
        app.MapGet("/projects/{p}/answers", (HttpContext ctx, TallyService s, string p) =>
        {
            var caller = Auth(ctx, s);
            var answers = s.Answers(caller, p);
            if (Format(ctx) == OutputFormat.Csv)
            {
                var sb = new StringBuilder("task,worker,label\n");
                foreach (var a in answers) sb.Append(CsvText.Escape(a.Task)).Append(',').Append(CsvText.Escape(a.Worker)).Append(',').Append(CsvText.Escape(a.Label)).Append('\n');
                return Results.Text(sb.ToString(), "text/csv", Encoding.UTF8);
            }
            return Results.Json(answers, ServiceJson.Options);
        });
        app.MapGet("/projects/{p}/model", (HttpContext ctx, TallyService s, string p) =>
        {
            var caller = Auth(ctx, s);
            int? round = ctx.Request.Query.ContainsKey("round") ? (int)Query(ctx, "round", 0, 0, int.MaxValue) : null;
            var model = s.Model(caller, p, round);
            ctx.Response.Headers["X-Tally-Model-Round"] = model.Round.ToString(CultureInfo.InvariantCulture);
            ctx.Response.Headers["X-Tally-Model-Method"] = model.Method;
            ctx.Response.Headers["X-Tally-Model-Format"] = model.FormatVersion.ToString(CultureInfo.InvariantCulture);
            return Results.File(model.Bytes, "application/octet-stream", $"model-round{model.Round}.tlm");
        });
        app.MapGet("/projects/{p}/predictions", (HttpContext ctx, TallyService s, string p) =>
        {
            var caller = Auth(ctx, s);
            bool all = ctx.Request.Query["all"].ToString() switch
            {
                "" or "false" => false,
                "true" => true,
                var v => throw ApiException.BadRequest($"all must be true or false (got {Quote.Value(v)})"),
            };
            long offset = Query(ctx, "offset", 0, 0, long.MaxValue);
            var format = Format(ctx);
            // CSV: every prediction from offset on unless a limit is asked for; JSON: pages.
            int limit = format == OutputFormat.Csv && !ctx.Request.Query.ContainsKey("limit") ? int.MaxValue : (int)Query(ctx, "limit", 1000, 1, 100_000);
            var page = s.Predictions(caller, p, offset, limit, all);
            if (format == OutputFormat.Csv)
            {
                var classes = s.Classes(caller, p);
                var sb = new StringBuilder("task,label");
                foreach (var c in classes) sb.Append(',').Append(CsvText.Escape("p_" + c));
                sb.Append(",entropy,answers,round\n");
                foreach (var x in page.Items)
                {
                    sb.Append(CsvText.Escape(x.Task)).Append(',').Append(CsvText.Escape(x.Label));
                    foreach (var c in classes) sb.Append(',').Append(NumberFormat.Number(x.Probabilities[c]));
                    sb.Append(',').Append(NumberFormat.Number(x.Entropy)).Append(',').Append(x.Answers).Append(',').Append(x.Round).Append('\n');
                }
                return Results.Text(sb.ToString(), "text/csv", Encoding.UTF8);
            }
            return Results.Json(page, ServiceJson.Options);
        });
        app.MapGet("/projects/{p}/me", (HttpContext ctx, TallyService s, string p) => Results.Json(s.Me(Auth(ctx, s), p), ServiceJson.Options));

        app.MapPost("/projects/{p}/sharing", async (HttpContext ctx, TallyService s, string p) =>
            Results.Json(await s.CreateSharingAsync(Auth(ctx, s), p, await Body<SharingSpec>(ctx)), ServiceJson.Options, statusCode: 201));
        app.MapPost("/projects/{p}/sharing/{session}/samples", async (HttpContext ctx, TallyService s, string p, string session) =>
            Results.Json(await s.PostSamplesAsync(Auth(ctx, s), p, session, await Body<SharingSamples>(ctx)), ServiceJson.Options));
        app.MapGet("/projects/{p}/sharing/{session}/allocation", (HttpContext ctx, TallyService s, string p, string session) =>
            Results.Json(s.Allocation(Auth(ctx, s), p, session), ServiceJson.Options));
    }

    /// <summary>The caller, from <c>Authorization: Bearer KEY</c>.</summary>
    private static Principal Auth(HttpContext ctx, TallyService s)
    {
        string? header = ctx.Request.Headers.Authorization;
        string? key = header is not null && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..].Trim() : null;
        return s.Keys.Authenticate(key, Client(ctx));
    }

    /// <summary>The client's address, the unit of failed-authentication limits.</summary>
    private static string Client(HttpContext ctx) => ctx.Connection.RemoteIpAddress?.ToString() ?? "unknown";

    /// <summary>The body as <typeparamref name="T"/>: JSON only, every member known, no trailing data.</summary>
    private static async Task<T> Body<T>(HttpContext ctx)
    {
        if (!ctx.Request.HasJsonContentType())
            throw new ApiException(415, "Unsupported media type", "send the body as JSON (Content-Type: application/json)");
        try
        {
            var value = await JsonSerializer.DeserializeAsync<T>(ctx.Request.Body, ServiceJson.Options, ctx.RequestAborted);
            return value ?? throw ApiException.BadRequest("the body is null; send a JSON object");
        }
        catch (JsonException e)
        {
            throw ApiException.BadRequest("the body is not valid JSON of the expected shape: " + JsonErrors.Problem(e));
        }
    }

    private static T Convert<T>(JsonElement doc)
    {
        try
        {
            return doc.Deserialize<T>(ServiceJson.Options) ?? throw ApiException.BadRequest("the body is null; send a JSON object");
        }
        catch (JsonException e)
        {
            throw ApiException.BadRequest("the body is not valid JSON of the expected shape: " + JsonErrors.Problem(e));
        }
    }

    /// <summary>Tasks as a JSON array, JSON lines (<c>application/x-ndjson</c>) or CSV (<c>text/csv</c>: id[,payload][,gold]).</summary>
    private static async Task<IReadOnlyList<TaskUpload>> Tasks(HttpContext ctx)
    {
        string type = ctx.Request.ContentType ?? "";
        if (ctx.Request.HasJsonContentType()) return await Body<List<TaskUpload>>(ctx);
        using var reader = new StreamReader(ctx.Request.Body, new UTF8Encoding(false, true));
        string text;
        try { text = await reader.ReadToEndAsync(ctx.RequestAborted); }
        catch (DecoderFallbackException) { throw ApiException.BadRequest("the body is not valid UTF-8"); }
        if (type.StartsWith("application/x-ndjson", StringComparison.OrdinalIgnoreCase) || type.StartsWith("application/jsonl", StringComparison.OrdinalIgnoreCase))
            return TaskUploads.FromJsonLines(text);
        if (type.StartsWith("text/csv", StringComparison.OrdinalIgnoreCase)) return TaskUploads.FromCsv(text);
        throw new ApiException(415, "Unsupported media type", "send tasks as application/json (an array), application/x-ndjson (one object per line) or text/csv (id[,payload][,gold])");
    }

    private static OutputFormat Format(HttpContext ctx)
    {
        string? f = ctx.Request.Query["format"];
        return f switch
        {
            null or "" or "json" => OutputFormat.Json,
            "csv" => OutputFormat.Csv,
            _ => throw ApiException.BadRequest($"format must be csv or json (got {Quote.Value(f)})"),
        };
    }

    private static long Query(HttpContext ctx, string name, long fallback, long min, long max)
    {
        string? v = ctx.Request.Query[name];
        if (string.IsNullOrEmpty(v)) return fallback;
        if (!long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out long x) || x < min || x > max)
            throw ApiException.BadRequest($"{name} must be an integer in {min}..{max} (got {Quote.Value(v)})");
        return x;
    }
}
