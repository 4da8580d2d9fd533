using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Tally.Service;
using Tally.Server.Dashboard;

namespace Tally.Server;

/// <summary>
/// The web dashboard under <c>/ui</c>: server-rendered HTML pages over <see cref="TallyService"/>, each page reading
/// through the same access-checked methods as the API (a project the caller may not see is 404, an action the role may
/// not take 403, and then only the error is rendered). No script: forms post, pages refresh themselves on request.
/// </summary>
internal static class DashboardRoutes
{
    /// <summary>Maps the dashboard's routes.</summary>
    public static void Map(WebApplication app)
    {
        // Pages, not API: kept out of the OpenAPI document.
        var ui = app.MapGroup("/ui").ExcludeFromDescription();
        ui.MapGet("", (HttpContext ctx) => Results.Redirect(Path(ctx, "/ui/projects")));
        ui.MapGet("/style.css", (HttpContext ctx) =>
        {
            ctx.Response.Headers.CacheControl = "public, max-age=3600";
            return Results.Text(Style.Css, "text/css", Encoding.UTF8);
        });
        ui.MapGet("/signin", (HttpContext ctx, TallyService s) => DashboardPages.SignInPage(ctx, s, null, 200));
        ui.MapPost("/signin", DashboardPages.SignIn);
        ui.MapPost("/signout", DashboardPages.SignOut);

        ui.MapGet("/projects", (HttpContext ctx, TallyService s) => Serve(ctx, s, null, (who, h) => DashboardPages.Projects(ctx, s, who, h)));
        ui.MapGet("/projects/new", (HttpContext ctx, TallyService s) => Serve(ctx, s, null, (who, h) => DashboardPages.NewProject(ctx, who, h, null, null)));
        ui.MapPost("/projects", (HttpContext ctx, TallyService s) => ServeForm(ctx, s, null, (who, form, h) => DashboardPages.CreateProject(ctx, s, who, form, h)));
        ui.MapGet("/projects/{p}", (HttpContext ctx, TallyService s, string p) => Serve(ctx, s, p, (who, h) => DashboardPages.Overview(ctx, s, who, p, h)));
        ui.MapGet("/projects/{p}/labels", (HttpContext ctx, TallyService s, string p) => Serve(ctx, s, p, (who, h) => DashboardPages.Labels(ctx, s, who, p, h)));
        ui.MapGet("/projects/{p}/labels.csv", DashboardPages.LabelsCsv);
        ui.MapGet("/projects/{p}/tasks", (HttpContext ctx, TallyService s, string p) => Serve(ctx, s, p, (who, h) => DashboardPages.UploadForm(ctx, s, who, p, h, null)));
        ui.MapPost("/projects/{p}/tasks", (HttpContext ctx, TallyService s, string p) => ServeForm(ctx, s, p, (who, form, h) => DashboardPages.Upload(ctx, s, who, p, form, h)));
        ui.MapGet("/projects/{p}/workers", (HttpContext ctx, TallyService s, string p) => Serve(ctx, s, p, (who, h) => DashboardPages.Workers(ctx, s, who, p, h)));
        ui.MapPost("/projects/{p}/workers", (HttpContext ctx, TallyService s, string p) => ServeForm(ctx, s, p, (who, form, h) => DashboardPages.IssueKey(ctx, s, who, p, form, h)));
        ui.MapGet("/projects/{p}/worker", (HttpContext ctx, TallyService s, string p) => Serve(ctx, s, p, (who, h) => DashboardPages.Worker(ctx, s, who, p, h)));
        ui.MapGet("/projects/{p}/worker/revoke", (HttpContext ctx, TallyService s, string p) => Serve(ctx, s, p, (who, h) => DashboardPages.ConfirmRevoke(ctx, s, who, p, h)));
        ui.MapPost("/projects/{p}/worker/revoke", (HttpContext ctx, TallyService s, string p) => ServeForm(ctx, s, p, (who, form, h) => DashboardPages.Revoke(ctx, s, who, p, form, h)));
        ui.MapGet("/projects/{p}/rounds", (HttpContext ctx, TallyService s, string p) => Serve(ctx, s, p, (who, h) => DashboardPages.Rounds(ctx, s, who, p, h)));
        ui.MapGet("/projects/{p}/rounds/{r:int}/close", (HttpContext ctx, TallyService s, string p, int r) => Serve(ctx, s, p, (who, h) => DashboardPages.ConfirmClose(ctx, s, who, p, r, h)));
        ui.MapPost("/projects/{p}/rounds/{r:int}/close", (HttpContext ctx, TallyService s, string p, int r) => ServeForm(ctx, s, p, (who, form, h) => DashboardPages.Close(ctx, s, who, p, r, h)));
        ui.MapGet("/projects/{p}/me", (HttpContext ctx, TallyService s, string p) => Serve(ctx, s, p, (who, h) => DashboardPages.Me(ctx, s, who, p, h)));
    }

    /// <summary>A path of the dashboard (already escaped, with any query) under the request's path base (a reverse proxy's prefix).</summary>
    public static string Path(HttpContext ctx, string path) => ctx.Request.PathBase.ToUriComponent() + path;

    /// <summary>A page's outcome: its title and the HTTP status (a page can also redirect).</summary>
    internal sealed record Outcome(string Title, int Status = 200, string? Redirect = null, string? Project = null);

    /// <summary>Renders a page for a signed-in caller; a refusal of the service renders only the refusal.</summary>
    private static async Task<IResult> Serve(HttpContext ctx, TallyService s, string? project, Func<Principal, Html, Task<Outcome>> render)
    {
        Principal? who;
        try { who = DashboardSession.Caller(ctx, s); }
        catch (ApiException e) { return Document(ctx, null, null, e.Title, ErrorBody(e), e.Status); }
        if (who is null) return Results.Redirect(Path(ctx, "/ui/signin"));
        var body = new Html();
        try
        {
            var outcome = await render(who, body);
            if (outcome.Redirect is { } to) return Results.Redirect(to);
            return Document(ctx, who, outcome.Project ?? project, outcome.Title, body, outcome.Status);
        }
        catch (ApiException e)
        {
            // Nothing of the page is kept: a refused caller sees the refusal and the navigation, no data.
            return Document(ctx, who, null, e.Title, ErrorBody(e), e.Status);
        }
    }

    /// <summary>As <see cref="Serve"/> for a posted form, which must carry its token before anything is read or done.</summary>
    private static Task<IResult> ServeForm(HttpContext ctx, TallyService s, string? project, Func<Principal, IFormCollection, Html, Task<Outcome>> render) =>
        Serve(ctx, s, project, async (who, h) =>
        {
            if (!ctx.Request.HasFormContentType) throw new ApiException(415, "Unsupported media type", "post the dashboard's forms as forms");
            var form = await ctx.Request.ReadFormAsync(ctx.RequestAborted);
            if (!DashboardSession.ValidToken(ctx, form)) throw AntiforgeryRefusal();
            return await render(who, form, h);
        });

    /// <summary>400: a form without the right token.</summary>
    internal static ApiException AntiforgeryRefusal() =>
        ApiException.BadRequest("the form's antiforgery token is missing or does not match this browser's session; reload the page and submit it again");

    private static Html ErrorBody(ApiException e)
    {
        var h = new Html();
        h.Open("p", ("class", "error"), ("role", "alert")).Text($"{e.Status} {e.Title}: {e.Message}").Close("p");
        return h;
    }

    /// <summary>A whole page: head, header with navigation, the body, with the dashboard's security headers.</summary>
    internal static IResult Document(HttpContext ctx, Principal? who, string? project, string title, Html body, int status)
    {
        var h = new Html();
        h.Raw("<!doctype html>").Open("html", ("lang", "en")).Open("head")
            .Raw("<meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
            .El("title", title + " · Tally")
            .Open("link", ("rel", "stylesheet"), ("href", Path(ctx, "/ui/style.css")));
        if (ctx.Request.Query["live"] == "1" && status == 200) h.Raw("<meta http-equiv=\"refresh\" content=\"10\">");
        h.Close("head").Open("body");
        h.Open("header", ("class", "top")).Link(Path(ctx, "/ui/projects"), "Tally", ("class", "brand"));
        if (who is not null)
        {
            h.Open("span", ("class", "who")).Text($"{who.Name} ({who.Role})").Close("span");
            h.Open("form", ("method", "post"), ("action", Path(ctx, "/ui/signout")), ("class", "inline"));
            DashboardPages.Token(ctx, h);
            h.Raw("<button type=\"submit\">Sign out</button>").Close("form");
        }
        h.Close("header");
        h.Open("main");
        if (who is not null && project is not null) DashboardPages.ProjectNav(ctx, who, project, h);
        h.El("h1", title);
        h.Raw(body.ToString());
        h.Close("main").Close("body").Close("html");

        var headers = ctx.Response.Headers;
        headers.ContentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        headers["Referrer-Policy"] = "no-referrer";
        headers.CacheControl = "no-store";
        return Results.Content(h.ToString(), "text/html; charset=utf-8", Encoding.UTF8, status);
    }
}
