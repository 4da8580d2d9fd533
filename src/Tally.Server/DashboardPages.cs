using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http;
using Tally.Application;
using Tally.Catalogs;
using Tally.Core;
using Tally.Mechanisms.Reputation;
using Tally.Service;
using Tally.Server.Dashboard;
using Outcome = Tally.Server.DashboardRoutes.Outcome;

namespace Tally.Server;

/// <summary>
/// The dashboard's pages. Each reads only through <see cref="TallyService"/>'s access-checked methods (the first call
/// refuses a caller who may not see the page, before anything is written) and renders the result; the numbers shown
/// are the service's and the application layer's, never recomputed here.
/// </summary>
internal static class DashboardPages
{
    /// <summary>Rows of the workers table per page.</summary>
    internal const int WorkersPerPage = 200;

    /// <summary>Workers drawn in the per-worker charts (lines, bars) before the charts keep only the most active.</summary>
    internal const int ChartedWorkers = 30;

    /// <summary>Rows of a labels page.</summary>
    internal const int LabelsPerPage = 50;
    /// <summary>Rows of a page of answers.</summary>
    internal const int AnswersPerPage = 50;

    private static string P(HttpContext ctx, string project, string rest = "") => DashboardRoutes.Path(ctx, "/ui/projects/" + Uri.EscapeDataString(project) + rest);

    private static string Q(string value) => Uri.EscapeDataString(value);

    /// <summary>The hidden antiforgery field of a form.</summary>
    internal static void Token(HttpContext ctx, Html h) =>
        h.Open("input", ("type", "hidden"), ("name", DashboardSession.TokenField), ("value", DashboardSession.FormToken(ctx)));

    /// <summary>A table's head: its caption and column names (a name starting with # is a numeric, right-aligned column).</summary>
    private static void Head(Html h, string caption, params string[] columns)
    {
        h.Open("table").El("caption", caption, ("class", "note")).Open("thead").Open("tr");
        foreach (var c in columns) h.El("th", c.TrimStart('#'), ("scope", "col"), ("class", c.StartsWith('#') ? "num" : null));
        h.Close("tr").Close("thead").Open("tbody");
    }

    private static void Cell(Html h, string column, string? text, bool numeric = false) =>
        h.El("td", text, ("data-label", column), ("class", numeric ? "num" : null));

    private static void Cards(Html h, params (string Name, string Value)[] items)
    {
        h.Open("dl", ("class", "cards"));
        foreach (var (name, value) in items) h.Open("div").El("dt", name).El("dd", value).Close("div");
        h.Close("dl");
    }

    private static string Maybe(double? v, int decimals = 3) => v is double d ? Html.Number(d, decimals) : "—";

    /// <summary>The project's navigation: the requester's pages, or the worker's own page.</summary>
    internal static void ProjectNav(HttpContext ctx, Principal who, string project, Html h)
    {
        string here = ctx.Request.Path.Value ?? "";
        h.Open("nav", ("class", "project"), ("aria-label", "Project")).Open("ul");
        var items = who.IsWorker
            ? new[] { ("My answers and pay", "/me") }
            : [("Overview", ""), ("Labels", "/labels"), ("Workers", "/workers"), ("Rounds", "/rounds"), ("Upload tasks", "/tasks")];
        foreach (var (name, rest) in items)
        {
            string path = "/ui/projects/" + Uri.EscapeDataString(project) + rest;
            h.Open("li").Open("a", ("href", P(ctx, project, rest)), ("aria-current", here == path ? "page" : null)).Text(name).Close("a").Close("li");
        }
        h.Close("ul").Close("nav");
    }

    // ---------------------------------------------------------------- sign-in

    /// <summary>The sign-in form (also after a failed attempt, with its reason).</summary>
    internal static IResult SignInPage(HttpContext ctx, TallyService s, string? problem, int status)
    {
        if (problem is null && DashboardSession.Caller(ctx, s) is { } who) return Results.Redirect(Home(ctx, s, who));
        var h = new Html();
        if (problem is not null) h.Open("p", ("class", "error"), ("role", "alert")).Text(problem).Close("p");
        h.Open("form", ("method", "post"), ("action", DashboardRoutes.Path(ctx, "/ui/signin")), ("class", "stack"));
        Token(ctx, h);
        h.Open("label").Text("Key").Open("span", ("class", "hint")).Text("Your requester, admin or worker key (tally_…), as issued; it is kept in a session cookie until you sign out or close the browser.").Close("span")
            .Open("input", ("type", "password"), ("name", "key"), ("autocomplete", "current-password"), ("required", ""), ("spellcheck", "false")).Close("label");
        h.Raw("<button type=\"submit\">Sign in</button>").Close("form");
        return DashboardRoutes.Document(ctx, null, null, "Sign in", h, status);
    }

    private static string Home(HttpContext ctx, TallyService s, Principal who) =>
        who.IsWorker ? P(ctx, who.ProjectId, "/me") : DashboardRoutes.Path(ctx, "/ui/projects");

    /// <summary>Signs in with a key (authenticated as an API key is, with the same failure limit).</summary>
    internal static async Task<IResult> SignIn(HttpContext ctx, TallyService s)
    {
        if (!ctx.Request.HasFormContentType) return SignInPage(ctx, s, "post the sign-in form", 415);
        var form = await ctx.Request.ReadFormAsync(ctx.RequestAborted);
        if (!DashboardSession.ValidToken(ctx, form)) return SignInPage(ctx, s, DashboardRoutes.AntiforgeryRefusal().Message, 400);
        string key = (form["key"].ToString() ?? "").Trim();
        try
        {
            var who = s.Keys.Authenticate(key, DashboardSession.Client(ctx));
            DashboardSession.SignIn(ctx, key);
            return Results.Redirect(Home(ctx, s, who));
        }
        catch (ApiException e)
        {
            return SignInPage(ctx, s, e.Message, e.Status);
        }
    }

    /// <summary>Ends the session.</summary>
    internal static async Task<IResult> SignOut(HttpContext ctx, TallyService s)
    {
        if (!ctx.Request.HasFormContentType) return SignInPage(ctx, s, "post the sign-out form", 415);
        var form = await ctx.Request.ReadFormAsync(ctx.RequestAborted);
        if (!DashboardSession.ValidToken(ctx, form)) return SignInPage(ctx, s, DashboardRoutes.AntiforgeryRefusal().Message, 400);
        DashboardSession.SignOut(ctx);
        return Results.Redirect(DashboardRoutes.Path(ctx, "/ui/signin"));
    }

    // ---------------------------------------------------------------- projects

    /// <summary>The caller's projects with their progress.</summary>
    internal static Task<Outcome> Projects(HttpContext ctx, TallyService s, Principal who, Html h)
    {
        var projects = s.ListProjects(who);
        if (who.IsRequester) h.Open("p").Link(DashboardRoutes.Path(ctx, "/ui/projects/new"), "Create a project", ("class", "button")).Close("p");
        if (projects.Count == 0)
        {
            h.El("p", who.IsRequester ? "No projects yet." : "No projects to show.", ("class", "note"));
            return Task.FromResult(new Outcome("Projects"));
        }
        Head(h, "Progress is answers collected out of tasks × minimum answers.", "Project", "Method", "Mechanism", "#Round", "#Tasks", "#Answers", "Progress");
        foreach (var p in projects)
        {
            h.Open("tr").Open("td", ("data-label", "Project")).Link(who.IsWorker ? P(ctx, p.Id, "/me") : P(ctx, p.Id), p.Spec.Name).Close("td");
            Cell(h, "Method", p.Spec.Method);
            Cell(h, "Mechanism", p.Spec.Mechanism);
            Cell(h, "Round", p.CurrentRound.ToString(CultureInfo.InvariantCulture), true);
            Cell(h, "Tasks", Html.Count(p.Tasks), true);
            Cell(h, "Answers", Html.Count(p.Answers), true);
            long goal = p.Tasks * p.Spec.MinAnswers;
            h.Open("td", ("data-label", "Progress"))
                .Open("progress", ("value", Math.Min(p.Answers, goal).ToString(CultureInfo.InvariantCulture)), ("max", Math.Max(goal, 1).ToString(CultureInfo.InvariantCulture)),
                    ("aria-label", $"{p.Spec.Name}: {Html.Percent(Math.Min(p.Answers, goal), goal)} of the minimum answers")).Close("progress")
                .Text(" " + Html.Percent(Math.Min(p.Answers, goal), goal)).Close("td");
            h.Close("tr");
        }
        h.Close("tbody").Close("table");
        return Task.FromResult(new Outcome("Projects"));
    }

    /// <summary>The form that creates a project (with the last attempt's values and problem).</summary>
    internal static Task<Outcome> NewProject(HttpContext ctx, Principal who, Html h, IFormCollection? values, string? problem)
    {
        if (!who.IsRequester) throw ApiException.Forbidden("only a requester creates projects");
        var defaults = new ProjectSpec { Name = "", Classes = [] };
        string V(string name, string fallback) => values?[name].ToString() is { Length: > 0 } v ? v : fallback;
        if (problem is not null) h.Open("p", ("class", "error"), ("role", "alert")).Text(problem).Close("p");
        h.Open("form", ("method", "post"), ("action", DashboardRoutes.Path(ctx, "/ui/projects")), ("class", "stack"));
        Token(ctx, h);
        void Field(string name, string label, string hint, string value, string type = "text", string? step = null, bool required = false) =>
            h.Open("label").Text(label).El("span", hint, ("class", "hint"))
                .Open("input", ("type", type), ("name", name), ("value", value), ("step", step), ("required", required ? "" : null)).Close("label");
        Field("name", "Name", "1–200 characters.", V("name", ""), required: true);
        Field("classes", "Classes", "The answer classes in order, separated by commas.", V("classes", ""), required: true);
        h.Open("label").Text("Aggregation method").El("span", "How labels are inferred when a round closes.", ("class", "hint")).Open("select", ("name", "method"));
        foreach (var m in AggregatorCatalog.All)
            h.Open("option", ("value", m.Name), ("selected", V("method", defaults.Method) == m.Name ? "" : null)).Text($"{m.Name} — {m.Description}").Close("option");
        h.Close("select").Close("label");
        h.Open("label").Text("Payment mechanism").El("span", "How workers are paid by peer prediction; reform:NAME adds REFORM's reputations across rounds.", ("class", "hint")).Open("select", ("name", "mechanism"));
        foreach (var m in MechanismCatalog.Names)
            h.Open("option", ("value", m), ("selected", V("mechanism", defaults.Mechanism) == m ? "" : null)).Text(m).Close("option");
        h.Close("select").Close("label");
        string I(int v) => v.ToString(CultureInfo.InvariantCulture);
        Field("minAnswers", "Minimum answers per task", $"Default {I(defaults.MinAnswers)}.", V("minAnswers", I(defaults.MinAnswers)), "number");
        Field("maxAnswers", "Maximum answers per task", $"Uncertain tasks are re-asked up to this many; default {I(defaults.MaxAnswers)}.", V("maxAnswers", I(defaults.MaxAnswers)), "number");
        Field("confidenceTarget", "Confidence target", $"Tasks below it are re-asked; default {defaults.ConfidenceTarget.ToString(CultureInfo.InvariantCulture)}.",
            V("confidenceTarget", defaults.ConfidenceTarget.ToString(CultureInfo.InvariantCulture)), "number", "any");
        Field("budget", "Budget per worker and round", "Optional (plain mechanisms): payments are mapped to [0, budget].", V("budget", ""), "number", "any");
        Field("deadlineSeconds", "Answer deadline (seconds)", "Optional: later answers are kept, marked late, and ignored by REFORM.", V("deadlineSeconds", ""), "number", "any");
        Field("seed", "Seed", $"Default {I(defaults.Seed)}.", V("seed", I(defaults.Seed)), "number");
        h.Raw("<button type=\"submit\">Create the project</button>").Close("form");
        return Task.FromResult(new Outcome("Create a project", problem is null ? 200 : 422));
    }

    /// <summary>Creates the project, or shows the form again with every problem.</summary>
    internal static async Task<Outcome> CreateProject(HttpContext ctx, TallyService s, Principal who, IFormCollection form, Html h)
    {
        if (!who.IsRequester) throw ApiException.Forbidden("only a requester creates projects");
        var problems = new List<string>();
        int Int(string name, int fallback)
        {
            string v = form[name].ToString().Trim();
            if (v.Length == 0) return fallback;
            if (int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int x)) return x;
            problems.Add($"{name}: not a whole number ({Quote.Value(v)})");
            return fallback;
        }
        double? Real(string name)
        {
            string v = form[name].ToString().Trim();
            if (v.Length == 0) return null;
            if (double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double x)) return x;
            problems.Add($"{name}: not a number ({Quote.Value(v)})");
            return null;
        }
        var defaults = new ProjectSpec { Name = "", Classes = [] };
        var spec = new ProjectSpec
        {
            Name = form["name"].ToString().Trim(),
            Classes = form["classes"].ToString().Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries),
            Method = form["method"].ToString() is { Length: > 0 } m ? m : defaults.Method,
            Mechanism = form["mechanism"].ToString() is { Length: > 0 } me ? me : defaults.Mechanism,
            MinAnswers = Int("minAnswers", defaults.MinAnswers),
            MaxAnswers = Int("maxAnswers", defaults.MaxAnswers),
            ConfidenceTarget = Real("confidenceTarget") ?? defaults.ConfidenceTarget,
            Budget = Real("budget"),
            DeadlineSeconds = Real("deadlineSeconds"),
            Seed = Int("seed", defaults.Seed),
        };
        if (problems.Count > 0) return await NewProject(ctx, who, h, form, string.Join("; ", problems));
        try
        {
            var created = await s.CreateProjectAsync(who, spec);
            return new Outcome("", Redirect: P(ctx, created.Id));
        }
        catch (ApiException e) when (e.Status is 400 or 422)
        {
            return await NewProject(ctx, who, h, form, e.Message);
        }
    }

    // ---------------------------------------------------------------- overview

    /// <summary>A project's overview: progress, answers over time, confidence, gold, method and mechanism.</summary>
    internal static Task<Outcome> Overview(HttpContext ctx, TallyService s, Principal who, string project, Html h)
    {
        var progress = s.Progress(who, project);   // refuses workers and strangers first
        var p = s.GetProject(who, project);
        var spec = p.Spec;
        long goal = progress.Tasks * spec.MinAnswers;
        h.Open("p", ("class", "note")).Text($"Created {Html.Time(p.Created)}. ")
            .Link(ctx.Request.Query["live"] == "1" ? P(ctx, project) : P(ctx, project, "?live=1"), ctx.Request.Query["live"] == "1" ? "Stop refreshing" : "Refresh every 10 s").Close("p");
        Cards(h, ("Tasks", Html.Count(progress.Tasks)), ("Tasks answered", $"{Html.Count(progress.Answered)} ({Html.Percent(progress.Answered, progress.Tasks)})"),
            ($"Tasks with ≥ {spec.MinAnswers} answers", $"{Html.Count(progress.AtTarget)} ({Html.Percent(progress.AtTarget, progress.Tasks)})"),
            ("Answers", Html.Count(progress.Answers)), ("Open round", p.CurrentRound.ToString(CultureInfo.InvariantCulture)),
            ("Method", spec.Method), ("Mechanism", spec.Mechanism));
        h.Open("p").Open("label").Text("Answers collected of the minimum (tasks × minimum answers): ")
            .Open("progress", ("value", Math.Min(progress.Answers, goal).ToString(CultureInfo.InvariantCulture)), ("max", Math.Max(goal, 1).ToString(CultureInfo.InvariantCulture))).Close("progress")
            .Text(" " + Html.Percent(Math.Min(progress.Answers, goal), goal)).Close("label").Close("p");

        h.Open("div", ("class", "grid2"));
        var points = progress.AnswersOverTime.Select(t => ((double)t.At.ToUnixTimeMilliseconds(), (double)t.Answers)).ToList();
        Charts.Lines(h, "answers-time", "Answers over time",
            $"Cumulative answers from the project's creation to now ({Html.Time(progress.AnswersOverTime[^1].At)}): {Html.Count(progress.Answers)} answers in all.",
            [("answers", points)], "time (UTC)", "answers", TimeAxis(points[0].Item1, points[^1].Item1));
        int bins = progress.ConfidenceBins.Length;
        string source = progress.FromLabels ? "posterior confidence of each task's label at the last round close" : "majority share of each task's answers (no round closed yet)";
        Charts.Bars(h, "confidence", "Confidence of the labels",
            $"Histogram of the {source}, in {bins} bins of width {Html.Number(1.0 / bins, 2)}; {Html.Count(progress.ConfidenceBins.Sum())} tasks, " +
            $"{Html.Count(progress.ConfidenceBins.Take((int)Math.Round(spec.ConfidenceTarget * bins)).Sum())} below the target {Html.Number(spec.ConfidenceTarget, 2)}.",
            Enumerable.Range(0, bins).Select(i => Html.Number((double)i / bins, 2)).ToList(), progress.ConfidenceBins.Select(c => (double)c).ToList(),
            "confidence (bin start)", "tasks", whole: true);
        h.Close("div");

        h.El("h2", "Gold tasks");
        if (progress.GoldTasks == 0) h.El("p", "The project has no gold tasks, so there is no accuracy against known answers.", ("class", "note"));
        else
        {
            Cards(h, ("Gold tasks", Html.Count(progress.GoldTasks)),
                ("Workers' answers right on gold", $"{Html.Percent(progress.GoldAnswersCorrect, progress.GoldAnswers)} of {Html.Count(progress.GoldAnswers)}"),
                ("Labels right on gold", progress.GoldLabelled == 0 ? "no round closed" : $"{Html.Percent(progress.GoldLabelsCorrect, progress.GoldLabelled)} of {Html.Count(progress.GoldLabelled)}"));
            if (AggregatorCatalog.Find(spec.Method) is { SupportsGold: true })
                h.El("p", $"{spec.Method} clamps gold labels during inference, so its labels on gold tasks are the gold answers; the workers' accuracy on them is the informative number.", ("class", "note"));
        }

        h.El("h2", "Method and mechanism");
        var method = AggregatorCatalog.Find(spec.Method);
        var mechanism = MechanismCatalog.Resolve(spec.Mechanism);
        h.Open("dl", ("class", "spec"));
        h.El("dt", "Aggregation").Open("dd").Text($"{spec.Method}: {method?.Description} ({method?.Reference})").Close("dd");
        h.El("dt", "Payments").Open("dd").Text(mechanism is null ? spec.Mechanism
            : $"{spec.Mechanism}: {mechanism.Mechanism.Description} ({mechanism.Mechanism.Reference})" + (mechanism.Reform ? $" — wrapped in REFORM ({MechanismCatalog.ReformReference})" : "")).Close("dd");
        h.El("dt", "Answers per task").El("dd", $"{spec.MinAnswers} to {spec.MaxAnswers}; tasks below confidence {Html.Number(spec.ConfidenceTarget, 2)} are re-asked");
        h.El("dt", "Budget").El("dd", spec.Budget is double b ? $"{Html.Number(b)} per worker and round" : "none (the mechanism's own units)");
        h.El("dt", "Deadline").El("dd", spec.DeadlineSeconds is double d ? $"{Html.Number(d, 0)} s from the assignment" : "none");
        h.El("dt", "Leases and seed").El("dd", $"{spec.LeaseSeconds} s; seed {spec.Seed}");
        h.Close("dl");
        return Task.FromResult(new Outcome(spec.Name));
    }

    /// <summary>Time tick labels fine enough for the span shown.</summary>
    private static Func<double, string> TimeAxis(double from, double to)
    {
        double hours = (to - from) / 3_600_000;
        string format = hours < 1 ? "HH:mm:ss" : hours < 48 ? "MM-dd HH:mm" : "yyyy-MM-dd";
        return x => DateTimeOffset.FromUnixTimeMilliseconds((long)x).UtcDateTime.ToString(format, CultureInfo.InvariantCulture);
    }

    // ---------------------------------------------------------------- labels

    private static readonly (string Key, LabelOrder Order, string Name)[] Orders =
    [
        ("task", LabelOrder.Task, "model order"), ("confidence", LabelOrder.ConfidenceAscending, "least confident first"),
        ("-confidence", LabelOrder.ConfidenceDescending, "most confident first"), ("id", LabelOrder.TaskId, "task id"), ("label", LabelOrder.Label, "label"),
    ];

    private static long QueryLong(HttpContext ctx, string name, long fallback, long min, long max)
    {
        string? v = ctx.Request.Query[name];
        if (string.IsNullOrEmpty(v)) return fallback;
        if (!long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out long x) || x < min || x > max)
            throw ApiException.BadRequest($"{name} must be an integer in {min}..{max} (got {Quote.Value(v)})");
        return x;
    }

    /// <summary>A page of labels: sortable, filtered by confidence, each task with its answers; a CSV download of them all.</summary>
    internal static Task<Outcome> Labels(HttpContext ctx, TallyService s, Principal who, string project, Html h)
    {
        string sortKey = ctx.Request.Query["sort"].ToString() is { Length: > 0 } sk ? sk : "task";
        var order = Orders.FirstOrDefault(o => o.Key == sortKey);
        if (order.Key is null) throw ApiException.BadRequest($"sort must be one of {string.Join(", ", Orders.Select(o => o.Key))} (got {Quote.Value(sortKey)})");
        double? below = null;
        if (ctx.Request.Query["below"].ToString() is { Length: > 0 } bs)
        {
            if (!double.TryParse(bs, NumberStyles.Float, CultureInfo.InvariantCulture, out double b) || !(b > 0 && b <= 1))
                throw ApiException.BadRequest($"below must be a confidence in (0, 1] (got {Quote.Value(bs)})");
            below = b;
        }
        long offset = QueryLong(ctx, "offset", 0, 0, long.MaxValue / 2);
        var page = s.LabelPage(who, project, order.Order, below, offset, LabelsPerPage);
        var spec = s.GetProject(who, project).Spec;
        var answers = s.AnswersOf(who, project, page.Items.Select(l => l.Task).ToList());

        string Here(string sort, double? b, long off) =>
            P(ctx, project, "/labels?sort=" + Q(sort) + (b is double x ? "&below=" + x.ToString(CultureInfo.InvariantCulture) : "") + (off > 0 ? "&offset=" + off.ToString(CultureInfo.InvariantCulture) : ""));

        h.Open("form", ("method", "get"), ("action", P(ctx, project, "/labels")), ("class", "filters"), ("aria-label", "Filter and sort"));
        h.Open("label").Text("Confidence below").Open("input", ("type", "number"), ("name", "below"), ("min", "0"), ("max", "1"), ("step", "any"),
            ("value", below?.ToString(CultureInfo.InvariantCulture) ?? ""), ("placeholder", "e.g. 0.9")).Close("label");
        h.Open("label").Text("Order").Open("select", ("name", "sort"));
        foreach (var o in Orders) h.Open("option", ("value", o.Key), ("selected", o.Key == order.Key ? "" : null)).Text(o.Name).Close("option");
        h.Close("select").Close("label");
        h.Raw("<button type=\"submit\">Show</button>");
        h.Link(P(ctx, project, "/labels.csv"), "Download all labels (CSV)", ("class", "button secondary"), ("download", ""));
        h.Close("form");

        if (page.Total == 0)
        {
            h.El("p", below is null ? "No labels yet: they are inferred when a round closes." : "No label has a confidence below that.", ("class", "note"));
            return Task.FromResult(new Outcome("Labels · " + spec.Name));
        }
        long last = Math.Min(page.Total, offset + page.Items.Count);
        h.Open("p", ("class", "note")).Text($"Labels {Html.Count(offset + 1)}–{Html.Count(last)} of {Html.Count(page.Total)}" +
            (below is double bb ? $" with confidence below {bb.ToString(CultureInfo.InvariantCulture)}" : "") + $", {order.Name}.").Close("p");
        string SortLink(string key, string name) => key == order.Key ? name + " ▲" : name;
        h.Open("table").El("caption", "Each task's inferred label, its posterior confidence and the answers it got.", ("class", "note")).Open("thead").Open("tr");
        h.Open("th", ("scope", "col")).Link(Here("id", below, 0), SortLink("id", "Task")).Close("th");
        h.Open("th", ("scope", "col")).Link(Here("label", below, 0), SortLink("label", "Label")).Close("th");
        h.Open("th", ("scope", "col"), ("class", "num")).Link(Here(order.Key == "confidence" ? "-confidence" : "confidence", below, 0),
            order.Key == "confidence" ? "Confidence ▲" : order.Key == "-confidence" ? "Confidence ▼" : "Confidence").Close("th");
        h.El("th", "Answers", ("scope", "col"));
        h.Close("tr").Close("thead").Open("tbody");
        var rank = spec.Classes.Select((c, i) => (c, i)).ToDictionary(x => x.c, x => x.i, StringComparer.Ordinal);
        foreach (var l in page.Items)
        {
            h.Open("tr");
            Cell(h, "Task", l.Task);
            Cell(h, "Label", l.Label);
            Cell(h, "Confidence", Html.Number(l.Confidence), true);
            h.Open("td", ("data-label", "Answers"));
            var list = answers.TryGetValue(l.Task, out var a) ? a : [];
            var tally = list.GroupBy(x => x.Label, StringComparer.Ordinal).OrderByDescending(g => g.Count()).ThenBy(g => rank.GetValueOrDefault(g.Key))
                .Select(g => $"{g.Key} ×{g.Count()}");
            h.Open("details").El("summary", $"{list.Count}: {string.Join(", ", tally)}").Open("ul");
            foreach (var x in list) h.El("li", $"{x.Worker}: {x.Label} (round {x.Round}{(x.Late ? ", late" : "")})");
            h.Close("ul").Close("details").Close("td");
            h.Close("tr");
        }
        h.Close("tbody").Close("table");
        h.Open("nav", ("class", "pager"), ("aria-label", "Pages"));
        if (offset > 0) h.Link(Here(order.Key, below, Math.Max(0, offset - LabelsPerPage)), "← Previous");
        h.Text($"Page {Html.Count(offset / LabelsPerPage + 1)} of {Html.Count((page.Total + LabelsPerPage - 1) / LabelsPerPage)}");
        if (last < page.Total) h.Link(Here(order.Key, below, offset + LabelsPerPage), "Next →");
        h.Close("nav");
        return Task.FromResult(new Outcome("Labels · " + spec.Name));
    }

    /// <summary>Every label as CSV, the API's <c>labels?format=csv</c> (written page by page, never all rows at once).</summary>
    internal static async Task LabelsCsv(HttpContext ctx, TallyService s, string p)
    {
        Principal? who;
        try { who = DashboardSession.Caller(ctx, s); }
        catch (ApiException e) { await ServerHost.Problem(ctx, e.Status, e.Title, e.Message); return; }
        if (who is null) { ctx.Response.Redirect(DashboardRoutes.Path(ctx, "/ui/signin")); return; }
        try
        {
            s.Labels(who, p, 0, 1);   // the API's own check (owner or admin), before the response starts
        }
        catch (ApiException e)
        {
            var h = new Html();
            h.Open("p", ("class", "error"), ("role", "alert")).Text($"{e.Status} {e.Title}: {e.Message}").Close("p");
            await DashboardRoutes.Document(ctx, who, null, e.Title, h, e.Status).ExecuteAsync(ctx);
            return;
        }
        ctx.Response.Headers.ContentDisposition = "attachment; filename=\"labels.csv\"";
        await LabelTables.WriteCsvAsync(ctx.Response, s, who, p, 0, null, ctx.RequestAborted);
    }

    // ---------------------------------------------------------------- tasks

    /// <summary>The task upload form.</summary>
    internal static Task<Outcome> UploadForm(HttpContext ctx, TallyService s, Principal who, string project, Html h, string? problem)
    {
        var p = s.GetProject(who, project);
        if (who.IsWorker) throw ApiException.Forbidden("a worker may not upload tasks");
        if (problem is not null) h.Open("p", ("class", "error"), ("role", "alert")).Text(problem).Close("p");
        h.El("p", $"The project has {Html.Count(p.Tasks)} tasks. Upload more as CSV (a header with id, and optionally payload as JSON and gold as one of the classes " +
            $"{string.Join(", ", p.Spec.Classes.Take(10))}) or as JSON lines ({{\"id\": …, \"payload\": …, \"gold\": …}} per line). Re-uploading a task is harmless.", ("class", "note"));
        h.Open("form", ("method", "post"), ("action", P(ctx, project, "/tasks")), ("enctype", "multipart/form-data"), ("class", "stack"));
        Token(ctx, h);
        h.Open("label").Text("File").El("span", ".csv, or .jsonl / .ndjson for JSON lines.", ("class", "hint"))
            .Open("input", ("type", "file"), ("name", "file"), ("accept", ".csv,.jsonl,.ndjson,text/csv")).Close("label");
        h.Open("label").Text("Or paste CSV").El("span", "Used when no file is chosen.", ("class", "hint"))
            .Open("textarea", ("name", "text"), ("placeholder", "id,gold\ntask-1,\ntask-2,cat"), ("spellcheck", "false")).Close("textarea").Close("label");
        h.Raw("<button type=\"submit\">Upload</button>").Close("form");
        return Task.FromResult(new Outcome("Upload tasks · " + p.Spec.Name, problem is null ? 200 : 422));
    }

    /// <summary>Adds the uploaded tasks through the API's own upload.</summary>
    internal static async Task<Outcome> Upload(HttpContext ctx, TallyService s, Principal who, string project, IFormCollection form, Html h)
    {
        string text, name;
        if (form.Files.GetFile("file") is { Length: > 0 } file)
        {
            using var reader = new StreamReader(file.OpenReadStream(), new UTF8Encoding(false, true));
            try { text = await reader.ReadToEndAsync(ctx.RequestAborted); }
            catch (DecoderFallbackException) { return await UploadForm(ctx, s, who, project, h, "the file is not valid UTF-8"); }
            name = file.FileName;
        }
        else
        {
            text = form["text"].ToString();
            name = "pasted.csv";
        }
        try
        {
            var tasks = name.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".ndjson", StringComparison.OrdinalIgnoreCase)
                ? TaskUploads.FromJsonLines(text) : TaskUploads.FromCsv(text);
            var added = await s.AddTasksAsync(who, project, tasks);
            h.Open("p", ("class", "ok"), ("role", "status")).Text($"{Html.Count(added.Added)} tasks added, {Html.Count(added.Unchanged)} already there; the project has {Html.Count(added.Total)} tasks.").Close("p");
            return await UploadForm(ctx, s, who, project, h, null);
        }
        catch (ApiException e) when (e.Status is 400 or 409 or 413 or 422)
        {
            return await UploadForm(ctx, s, who, project, h, e.Message);
        }
    }

    // ---------------------------------------------------------------- workers

    /// <summary>The workers: answers, fitted skill and confusion, agreement, reputation over rounds, pay; issue and revoke keys.</summary>
    internal static Task<Outcome> Workers(HttpContext ctx, TallyService s, Principal who, string project, Html h)
    {
        var workers = s.Workers(who, project);   // refuses workers and strangers first
        var spec = s.GetProject(who, project).Spec;
        var fitted = DashboardJob.Workers(s.ModelJson(who, project));
        var byName = fitted?.Workers.ToDictionary(w => w.Worker, StringComparer.Ordinal);
        var gold = s.GoldScores(who, project);
        var payments = s.Payments(who, project, null);

        h.Open("form", ("method", "post"), ("action", P(ctx, project, "/workers")), ("class", "filters"), ("aria-label", "Issue a worker key"));
        Token(ctx, h);
        h.Open("label").Text("New worker's name").Open("input", ("type", "text"), ("name", "name"), ("required", ""), ("maxlength", "200")).Close("label");
        h.Raw("<button type=\"submit\">Issue a key</button>").Close("form");

        if (fitted is null) h.El("p", "No round has closed yet: skills, agreement and confusions come from the model fitted at a close.", ("class", "note"));
        else if (fitted.FlagsDownWeighting)
            h.El("p", $"{fitted.Method} reports each worker's trust ω as their skill: its robust filter counts a worker's answers with weight ω. Workers below {Html.Number(DashboardJob.StrongDownWeighting, 1)} are flagged (the filter counts less than half of their answers); between that and 1 they are partly down-weighted.", ("class", "note"));
        else
            h.El("p", $"{fitted.Method} does not down-weight workers, so none is flagged (robust-ds does: choose it to flag likely colluders). Skill is {fitted.Method}'s own measure; agreement is the share of a worker's answers equal to the inferred label.", ("class", "note"));

        if (workers.Count == 0) h.El("p", "No workers yet.", ("class", "note"));
        else
        {
            var columns = new List<string> { "Worker", "#Answers", "#Skill", "#Agreement", "#Reputation", "#Total paid" };
            if (gold.Count > 0) columns.Add("#Right on gold");
            if (fitted?.FlagsDownWeighting == true) columns.Add("Down-weighted");
            columns.Add("Key");
            long offset = QueryLong(ctx, "offset", 0, 0, long.MaxValue / 2);
            var shown = workers.Skip((int)Math.Min(offset, workers.Count)).Take(WorkersPerPage).ToList();
            long last = Math.Min(workers.Count, offset + shown.Count);
            Head(h, workers.Count <= WorkersPerPage ? "Workers of the project."
                : $"Workers {Html.Count(Math.Min(offset + 1, last))}–{Html.Count(last)} of {Html.Count(workers.Count)}, by name.", [.. columns]);
            foreach (var w in shown)
            {
                h.Open("tr").Open("td", ("data-label", "Worker")).Link(P(ctx, project, "/worker?name=" + Q(w.Worker)), w.Worker).Close("td");
                Cell(h, "Answers", Html.Count(w.Answers), true);
                Cell(h, "Skill", Maybe(w.Skill), true);
                Cell(h, "Agreement", Maybe(w.Agreement), true);
                Cell(h, "Reputation", Maybe(w.Reputation), true);
                Cell(h, "Total paid", Html.Number(w.TotalPaid), true);
                if (gold.Count > 0) Cell(h, "Right on gold", gold.TryGetValue(w.Worker, out var g) ? $"{Html.Percent(g.Correct, g.Answers)} of {g.Answers}" : "—", true);
                if (fitted?.FlagsDownWeighting == true)
                {
                    var fw = byName!.GetValueOrDefault(w.Worker);
                    h.Open("td", ("data-label", "Down-weighted"));
                    if (fw is null) h.Text("—");
                    else if (!fw.DownWeighted) h.Text("no");
                    else if (fw.Skill < DashboardJob.StrongDownWeighting) h.Open("span", ("class", "flag")).Text($"yes, ω = {Html.Number(fw.Skill)}").Close("span");
                    else h.Open("span", ("class", "partly")).Text($"partly, ω = {Html.Number(fw.Skill)}").Close("span");
                    h.Close("td");
                }
                h.Open("td", ("data-label", "Key"));
                if (w.Revoked) h.Text("revoked");
                else h.Link(P(ctx, project, "/worker/revoke?name=" + Q(w.Worker)), "Revoke…");
                h.Close("td").Close("tr");
            }
            h.Close("tbody").Close("table");
            if (workers.Count > WorkersPerPage)
            {
                string Link(long off) => P(ctx, project, "/workers" + (off > 0 ? "?offset=" + off.ToString(CultureInfo.InvariantCulture) : ""));
                h.Open("nav", ("class", "pager"), ("aria-label", "Pages"));
                if (offset > 0) h.Link(Link(Math.Max(0, offset - WorkersPerPage)), "← Previous");
                h.Text($"Page {Html.Count(offset / WorkersPerPage + 1)} of {Html.Count((workers.Count + WorkersPerPage - 1) / WorkersPerPage)}");
                if (last < workers.Count) h.Link(Link(last), "Next →");
                h.Close("nav");
            }
        }

        h.Open("div", ("class", "grid2"));
        if (fitted is { AverageConfusion.IsEmpty: false } fm)
            Charts.HeatMap(h, "confusion-mean", "Confusion of the average worker",
                $"Heat map of P(answer | true class) averaged over the {fm.Workers.Count} workers of the {fm.Method} model, weighted by answers; rows are true classes, columns answers. Each worker's own is on their page.",
                fm.Classes, fm.Classes, fm.AverageConfusion, "true", "answer");
        var allReputations = payments.Where(x => x.Reputation is not null).GroupBy(x => x.Worker, StringComparer.Ordinal).ToList();
        // One line per worker stays readable (and the SVG small) for a few dozen: beyond that, the most active ones.
        var reputations = allReputations.Count <= ChartedWorkers ? allReputations
            : [.. allReputations.OrderByDescending(g => g.Sum(x => x.Tasks)).ThenBy(g => g.Key, StringComparer.Ordinal).Take(ChartedWorkers).OrderBy(g => g.Key, StringComparer.Ordinal)];
        if (reputations.Count > 0)
            Charts.Lines(h, "reputation", "Reputation Ω over rounds",
                (reputations.Count == allReputations.Count
                    ? $"REFORM's reputation of each of the {reputations.Count} paid workers after each round closed (one line per worker)."
                    : $"REFORM's reputation after each round closed of the {reputations.Count} of {allReputations.Count} paid workers with the most scored reports (one line per worker; every worker's is on their page)."),
                reputations.Select(g => (g.Key, (IReadOnlyList<(double, double)>)g.Select(x => ((double)x.Round, x.Reputation!.Value)).ToList())).ToList(),
                "round", "reputation", x => x.ToString("0", CultureInfo.InvariantCulture), wholeX: true);
        else
            h.El("p", spec.Mechanism.StartsWith(MechanismCatalog.ReformPrefix, StringComparison.Ordinal)
                ? "Reputations appear once a round has closed." : $"{spec.Mechanism} keeps no reputations across rounds (reform:NAME mechanisms do), so there is no reputation chart.", ("class", "note"));
        if (workers.Count > 0 && workers.Any(w => w.TotalPaid != 0))
        {
            var top = workers.OrderByDescending(w => w.TotalPaid).ThenBy(w => w.Worker, StringComparer.Ordinal).Take(ChartedWorkers).ToList();
            Charts.Bars(h, "paid", "Total paid per worker",
                $"Total paid to each worker over all rounds, the {top.Count} best paid of {workers.Count}, highest first; from {Html.Number(top[^1].TotalPaid)} to {Html.Number(top[0].TotalPaid)}.",
                top.Select(w => w.Worker).ToList(), top.Select(w => w.TotalPaid).ToList(), "worker", "total paid");
        }
        h.Close("div");
        return Task.FromResult(new Outcome("Workers · " + spec.Name));
    }

    /// <summary>Issues a worker key, shown once.</summary>
    internal static async Task<Outcome> IssueKey(HttpContext ctx, TallyService s, Principal who, string project, IFormCollection form, Html h)
    {
        var issued = await s.CreateWorkerAsync(who, project, new NewPrincipal(form["name"].ToString().Trim()));
        h.Open("div", ("class", "ok"), ("role", "status")).Open("p").Text($"Worker {issued.Name} can now sign in and use the API with this key. It is shown only this once; only its hash is stored.").Close("p")
            .Open("p").El("code", issued.Key, ("class", "key"), ("id", "issued-key")).Close("p").Close("div");
        h.Open("p").Link(P(ctx, project, "/workers"), "Back to the workers").Close("p");
        return new Outcome("Worker key issued");
    }

    /// <summary>Asks before revoking a worker's keys.</summary>
    internal static Task<Outcome> ConfirmRevoke(HttpContext ctx, TallyService s, Principal who, string project, Html h)
    {
        string name = ctx.Request.Query["name"].ToString();
        var (w, _) = s.Worker(who, project, name);
        h.El("p", $"Revoke {w.Worker}? Their keys stop working at once (API and dashboard); their {Html.Count(w.Answers)} answers and payments stay. This cannot be undone.");
        h.Open("form", ("method", "post"), ("action", P(ctx, project, "/worker/revoke")), ("class", "filters"));
        Token(ctx, h);
        h.Open("input", ("type", "hidden"), ("name", "name"), ("value", w.Worker));
        h.Raw("<button type=\"submit\" class=\"danger\">Revoke the worker</button>").Link(P(ctx, project, "/workers"), "Cancel", ("class", "button secondary")).Close("form");
        return Task.FromResult(new Outcome($"Revoke {w.Worker}"));
    }

    /// <summary>Revokes the worker.</summary>
    internal static async Task<Outcome> Revoke(HttpContext ctx, TallyService s, Principal who, string project, IFormCollection form, Html h)
    {
        await s.RevokeWorkerAsync(who, project, form["name"].ToString());
        return new Outcome("", Redirect: P(ctx, project, "/workers"));
    }

    /// <summary>One worker, for the project's owner: their answers, confusion, reputation and pay per round.</summary>
    internal static Task<Outcome> Worker(HttpContext ctx, TallyService s, Principal who, string project, Html h)
    {
        string name = ctx.Request.Query["name"].ToString();
        var (w, _) = s.Worker(who, project, name);   // refuses workers and strangers first
        var spec = s.GetProject(who, project).Spec;
        var payments = s.WorkerPayments(who, project, w.Worker);
        var fitted = DashboardJob.Workers(s.ModelJson(who, project));
        var mine = fitted?.Workers.FirstOrDefault(x => x.Worker == w.Worker);
        Cards(h, ("Answers", Html.Count(w.Answers)), ("Skill", Maybe(w.Skill)), ("Agreement", Maybe(w.Agreement)), ("Reputation", Maybe(w.Reputation)),
            ("Total paid", Html.Number(w.TotalPaid)), ("Key", w.Revoked ? "revoked" : "active"));
        if (mine is { DownWeighted: true })
            h.Open("p", ("class", mine.Skill < DashboardJob.StrongDownWeighting ? "flag" : "partly"))
                .Text($"{(mine.Skill < DashboardJob.StrongDownWeighting ? "Down-weighted" : "Partly down-weighted")} by {fitted!.Method}: trust ω = {Html.Number(mine.Skill)}.").Close("p");
        h.Open("div", ("class", "grid2"));
        if (mine is { Confusion.IsEmpty: false })
            Charts.HeatMap(h, "confusion", $"Confusion matrix of {w.Worker}",
                $"Heat map of P(answer | true class) fitted by {fitted!.Method} for {w.Worker}: rows are true classes, columns answers; the diagonal is the chance of a right answer.",
                fitted.Classes, fitted.Classes, mine.Confusion, "true", "answer");
        else h.El("p", fitted is null ? "No round has closed yet: there is no fitted confusion." : $"{spec.Method} fits no confusion matrix for this worker.", ("class", "note"));
        PayCharts(h, payments, w.Worker);
        h.Close("div");
        PaymentTable(h, payments);
        AnswerTable(ctx, s, who, project, w.Worker, h, "/worker?name=" + Q(w.Worker) + "&");
        return Task.FromResult(new Outcome($"{w.Worker} · {spec.Name}"));
    }

    private static void PayCharts(Html h, IReadOnlyList<PaymentView> payments, string worker)
    {
        if (payments.Count == 0) return;
        Charts.Bars(h, "pay-rounds", "Payment per round", $"What {worker} was paid in each of {payments.Count} closed rounds; {Html.Number(payments.Sum(p => p.Payment))} in all.",
            payments.Select(p => p.Round.ToString(CultureInfo.InvariantCulture)).ToList(), payments.Select(p => p.Payment).ToList(), "round", "payment");
        var rep = payments.Where(p => p.Reputation is not null).ToList();
        if (rep.Count > 0)
            Charts.Lines(h, "reputation-history", "Reputation over rounds", $"REFORM's reputation of {worker} after each of {rep.Count} rounds, last {Html.Number(rep[^1].Reputation!.Value)}.",
                [(worker, rep.Select(p => ((double)p.Round, p.Reputation!.Value)).ToList())], "round", "reputation", x => x.ToString("0", CultureInfo.InvariantCulture), wholeX: true);
    }

    private static void PaymentTable(Html h, IReadOnlyList<PaymentView> payments)
    {
        h.El("h2", "Payments per round");
        if (payments.Count == 0) { h.El("p", "No payments yet: workers are paid when a round closes.", ("class", "note")); return; }
        Head(h, "Payments of each closed round.", "#Round", "#Payment", "#Tasks scored", "#Pairings", "#Reputation after");
        foreach (var p in payments)
        {
            h.Open("tr");
            Cell(h, "Round", p.Round.ToString(CultureInfo.InvariantCulture), true);
            Cell(h, "Payment", Html.Number(p.Payment), true);
            Cell(h, "Tasks scored", p.Tasks.ToString(CultureInfo.InvariantCulture), true);
            Cell(h, "Pairings", p.Chances?.ToString(CultureInfo.InvariantCulture) ?? "—", true);
            Cell(h, "Reputation after", Maybe(p.Reputation), true);
            h.Close("tr");
        }
        h.Close("tbody").Close("table");
    }

    private static void AnswerTable(HttpContext ctx, TallyService s, Principal who, string project, string worker, Html h, string pageLink)
    {
        long offset = QueryLong(ctx, "offset", 0, 0, long.MaxValue / 2);
        var page = s.WorkerAnswers(who, project, worker, offset, AnswersPerPage);
        h.El("h2", "Answers");
        if (page.Total == 0) { h.El("p", "No answers yet.", ("class", "note")); return; }
        long last = offset + page.Items.Count;
        Head(h, $"Answers {Html.Count(offset + 1)}–{Html.Count(last)} of {Html.Count(page.Total)}, newest first.", "Task", "Answer", "#Round", "Late", "Answered");
        foreach (var a in page.Items)
        {
            h.Open("tr");
            Cell(h, "Task", a.Task);
            Cell(h, "Answer", a.Label);
            Cell(h, "Round", a.Round.ToString(CultureInfo.InvariantCulture), true);
            Cell(h, "Late", a.Late ? "late" : "");
            Cell(h, "Answered", Html.Time(a.Answered));
            h.Close("tr");
        }
        h.Close("tbody").Close("table");
        h.Open("nav", ("class", "pager"), ("aria-label", "Pages"));
        string Link(long off) => P(ctx, project, pageLink + "offset=" + off.ToString(CultureInfo.InvariantCulture));
        if (offset > 0) h.Link(Link(Math.Max(0, offset - AnswersPerPage)), "← Newer");
        if (last < page.Total) h.Link(Link(last), "Older →");
        h.Close("nav");
    }

    // ---------------------------------------------------------------- rounds

    /// <summary>The rounds: budget spent, late answers, the payments of a round, its fairness; closing the open round.</summary>
    internal static Task<Outcome> Rounds(HttpContext ctx, TallyService s, Principal who, string project, Html h)
    {
        var p = s.GetProject(who, project);
        if (who.IsWorker) throw ApiException.Forbidden("a worker may not read the rounds' payments");
        var rounds = s.ListRounds(who, project);
        var closed = rounds.Where(r => r.Status == "closed").ToList();
        long shown = QueryLong(ctx, "round", closed.Count > 0 ? closed[^1].Round : -1, -1, int.MaxValue);
        var spec = p.Spec;

        Head(h, "Rounds of the project. Budget spent is the total paid in the round.", "#Round", "Status", "#Answers", "#Late answers", "#Tasks", "#Workers paid", "#Budget spent", "#Mean payment", "Closed", "");
        foreach (var r in rounds)
        {
            h.Open("tr");
            h.Open("td", ("data-label", "Round"), ("class", "num"));
            if (r.Status == "closed") h.Link(P(ctx, project, "/rounds?round=" + r.Round.ToString(CultureInfo.InvariantCulture)), r.Round.ToString(CultureInfo.InvariantCulture));
            else h.Text(r.Round.ToString(CultureInfo.InvariantCulture));
            h.Close("td");
            Cell(h, "Status", r.Status);
            Cell(h, "Answers", Html.Count(r.Answers), true);
            Cell(h, "Late answers", Html.Count(r.LateAnswers), true);
            Cell(h, "Tasks", r.Status == "closed" ? Html.Count(r.Tasks) : "—", true);
            Cell(h, "Workers paid", r.Status == "closed" ? Html.Count(r.Workers) : "—", true);
            Cell(h, "Budget spent", Maybe(r.TotalPaid), true);
            Cell(h, "Mean payment", Maybe(r.MeanPayment), true);
            Cell(h, "Closed", r.Closed is { } c ? Html.Time(c) : "—");
            h.Open("td", ("data-label", "Action"));
            if (r.Status == "open") h.Link(P(ctx, project, $"/rounds/{r.Round}/close"), "Close…", ("class", "button"));
            h.Close("td").Close("tr");
        }
        h.Close("tbody").Close("table");
        if (spec.Budget is double b) h.El("p", $"Budget: payments are mapped to [0, {Html.Number(b)}] per worker and round.", ("class", "note"));
        if (spec.Learner is { } learner)
        {
            // The learner's state at the latest close: what a requester needs to know before reading /predictions.
            var last = closed.LastOrDefault(r => r.Learner is not null);
            h.El("p", last?.Learner is not { } l ? $"Learner ({learner.Method}): a model is trained when a round with answers closes."
                : l.Status == "trained" ? $"Learner ({l.Method}), round {last.Round}: trained on {Html.Count(l.TrainingTasks)} answered tasks; {Html.Count(l.Predicted)} tasks predicted (GET /projects/{project}/predictions ranks the unanswered ones, most uncertain first; /model is the file for tally predict)."
                : $"Learner ({l.Method}), round {last.Round}: {l.Status} — {l.Message}", ("class", "note"));
        }

        var round = closed.FirstOrDefault(r => r.Round == shown);
        if (round is null)
        {
            h.El("p", "No round has closed yet: payments and fairness appear after the first close.", ("class", "note"));
            return Task.FromResult(new Outcome("Rounds · " + spec.Name));
        }
        var payments = s.Payments(who, project, round.Round);
        h.El("h2", $"Round {round.Round}: payments");
        Cards(h, ("Workers paid", Html.Count(payments.Count)), ("Budget spent", Maybe(round.TotalPaid)), ("Mean payment", Maybe(round.MeanPayment)),
            ("Late answers", Html.Count(round.LateAnswers)));
        h.Open("div", ("class", "grid2"));
        if (payments.Count > 0)
        {
            double lo = payments.Min(x => x.Payment), hi = payments.Max(x => x.Payment);
            const int bins = 12;
            double width = hi > lo ? (hi - lo) / bins : 1;
            var counts = new double[bins];
            foreach (var x in payments) counts[Math.Clamp((int)((x.Payment - lo) / width), 0, bins - 1)]++;
            Charts.Bars(h, "payments", $"Payments of round {round.Round}",
                $"Histogram of the {payments.Count} payments of round {round.Round} in {bins} bins from {Html.Number(lo)} to {Html.Number(hi)}; mean {Maybe(round.MeanPayment)}.",
                Enumerable.Range(0, bins).Select(i => Html.Number(lo + i * width, 2)).ToList(), counts, "payment (bin start)", "workers", whole: true);
        }
        var totals = closed.Select(r => ((double)r.Round, r.TotalPaid ?? 0)).ToList();
        Charts.Bars(h, "budget", "Budget spent per round", $"Total paid in each of the {closed.Count} closed rounds; {Html.Number(totals.Sum(t => t.Item2))} in all.",
            closed.Select(r => r.Round.ToString(CultureInfo.InvariantCulture)).ToList(), totals.Select(t => t.Item2).ToList(), "round", "total paid");
        h.Close("div");

        h.El("h2", "Fairness (REFORM's definitions)");
        bool reform = MechanismCatalog.Resolve(spec.Mechanism)?.Reform ?? false;
        var reputationBefore = round.Round == 0 ? new Dictionary<string, double>(StringComparer.Ordinal)
            : s.Payments(who, project, round.Round - 1).Where(x => x.Reputation is not null).ToDictionary(x => x.Worker, x => x.Reputation!.Value, StringComparer.Ordinal);
        GammaSection(h, payments, reputationBefore, spec.Mechanism);
        if (!reform)
            h.El("p", $"Qualitative fairness (Definition 3) compares workers by reputation; {spec.Mechanism} keeps none (reform:NAME mechanisms do).", ("class", "note"));
        else
        {
            // A payment is already the mean reward per scored report.
            var samples = payments.Where(x => x.Tasks > 0 && reputationBefore.ContainsKey(x.Worker)).Select(x => (reputationBefore[x.Worker], x.Payment)).ToList();
            var fairness = DashboardJob.RoundQualitativeFairness(samples);
            if (fairness is null)
                h.El("p", $"Qualitative fairness (Definition 3) needs at least {DashboardJob.MinFairnessSamples} workers paid in this round with a reputation from the round before ({samples.Count} here).", ("class", "note"));
            else
            {
                h.Open("p", ("class", fairness.Holds ? "ok" : "error")).Text(fairness.Holds
                    ? $"Qualitative fairness holds: no reputation group earns significantly ({Html.Number(fairness.Z, 0)} standard errors) less per scored report than the group below it."
                    : $"Qualitative fairness is violated at group(s) {string.Join(", ", fairness.Violations.Select(v => v + 1))}: they earn significantly less per scored report than the group below.").Close("p");
                h.El("p", "Workers grouped by their reputation before the round, compared by their mean reward per scored report (the ledger has one payment per worker, not one per report).", ("class", "note"));
                Head(h, "Reputation groups of the round.", "Group", "#Reputation from", "#to", "#Workers", "#Mean pay per report", "#Standard error");
                for (int g = 0; g < fairness.Groups.Length; g++)
                {
                    var grp = fairness.Groups[g];
                    h.Open("tr");
                    Cell(h, "Group", (g + 1).ToString(CultureInfo.InvariantCulture));
                    Cell(h, "Reputation from", Html.Number(grp.MinReputation), true);
                    Cell(h, "to", Html.Number(grp.MaxReputation), true);
                    Cell(h, "Workers", grp.Count.ToString(CultureInfo.InvariantCulture), true);
                    Cell(h, "Mean pay per report", Html.Number(grp.MeanReward), true);
                    Cell(h, "Standard error", Html.Number(grp.StandardError), true);
                    h.Close("tr");
                }
                h.Close("tbody").Close("table");
            }
        }
        return Task.FromResult(new Outcome("Rounds · " + spec.Name));
    }

    /// <summary>
    /// γ-fairness of the round (REFORM Definition 2) from the ledger's M* and payments: over every paid worker, and over
    /// the workers whose reputation before the round was at least the median — the live stand-in for the paper's
    /// trustworthy agents, whom the service cannot see.
    /// </summary>
    private static void GammaSection(Html h, IReadOnlyList<PaymentView> payments, IReadOnlyDictionary<string, double> reputationBefore, string mechanism)
    {
        var all = DashboardJob.RoundGammaFairness(payments.Select(x => (x.Optimal, x.Payment, x.Tasks)));
        if (all is null)
        {
            h.El("p", $"γ-fairness (Definition 2) compares what each report earned with what it would have earned had it matched its peer (M*). {mechanism} records no M*: " +
                "it is kept for reform:NAME mechanisms that pay per-report peer rewards (OA, DG, CA, RPTSC); reform:NAME with k = 1 pays exactly as NAME does.", ("class", "note"));
            return;
        }
        var known = payments.Where(x => x.Optimal is not null && reputationBefore.ContainsKey(x.Worker)).ToList();
        GammaFairness? reputable = null;
        if (known.Count >= DashboardJob.MinFairnessSamples)
        {
            var sorted = known.Select(x => reputationBefore[x.Worker]).Order().ToList();
            double median = sorted[sorted.Count / 2];
            reputable = DashboardJob.RoundGammaFairness(known.Where(x => reputationBefore[x.Worker] >= median).Select(x => (x.Optimal, x.Payment, x.Tasks)));
        }
        static string G(GammaFairness? f) => f?.Gamma is double g ? Html.Number(g) : f is null ? "—" : "∞ (no penalty)";
        static string Share(GammaFairness? f) => f?.Normalised is double n ? Html.Number(100 * n, 1) + "%" : "—";
        Cards(h, ("γ, all paid workers", G(all)), ("Earned of M*, all", Share(all)),
            ("γ, more reputable half", G(reputable)), ("Earned of M*, more reputable half", Share(reputable)));
        h.El("p", $"γ = 1 / E[M* − E*] over the scored reports (Definition 2): M* is what a report would have earned had it matched its peer, E* what it earned; " +
            $"a larger γ means smaller unfair penalties. Over {Html.Count(all.Reports)} reports of all paid workers" +
            (reputable is null ? $"; the more reputable half needs reputations from the round before for at least {DashboardJob.MinFairnessSamples} workers." :
                $", and {Html.Count(reputable.Reports)} reports of the workers whose reputation before the round was at least the median (the service cannot tell trustworthy workers from the others, as the paper's definition assumes)."),
            ("class", "note"));
    }

    /// <summary>Asks before closing a round.</summary>
    internal static Task<Outcome> ConfirmClose(HttpContext ctx, TallyService s, Principal who, string project, int round, Html h)
    {
        var p = s.GetProject(who, project);
        if (who.IsWorker) throw ApiException.Forbidden("a worker may not close rounds");
        var r = s.ListRounds(who, project).FirstOrDefault(x => x.Round == round) ?? throw ApiException.NotFound($"no round {round}");
        if (r.Status != "open") return Task.FromResult(new Outcome("", Redirect: P(ctx, project, "/rounds?round=" + round.ToString(CultureInfo.InvariantCulture))));
        h.El("p", $"Close round {round} of {p.Spec.Name}? Its {Html.Count(r.Answers)} answers ({Html.Count(r.LateAnswers)} late) are frozen, the labels are refitted with {p.Spec.Method}, " +
            $"and every worker who answered in the round is paid with {p.Spec.Mechanism}. A round closes once; this cannot be undone.");
        h.Open("form", ("method", "post"), ("action", P(ctx, project, $"/rounds/{round}/close")), ("class", "filters"));
        Token(ctx, h);
        h.Raw("<button type=\"submit\" class=\"danger\">Close the round and pay</button>").Link(P(ctx, project, "/rounds"), "Cancel", ("class", "button secondary")).Close("form");
        return Task.FromResult(new Outcome($"Close round {round}"));
    }

    /// <summary>Closes the round (once; a repeated post shows the first result).</summary>
    internal static async Task<Outcome> Close(HttpContext ctx, TallyService s, Principal who, string project, int round, Html h)
    {
        var closed = await s.CloseRoundAsync(who, project, round);
        return new Outcome("", Redirect: P(ctx, project, "/rounds?round=" + closed.Round.ToString(CultureInfo.InvariantCulture)));
    }

    // ---------------------------------------------------------------- a worker's own page

    /// <summary>A worker's own answers, payments per round and reputation history — nothing about anyone else.</summary>
    internal static Task<Outcome> Me(HttpContext ctx, TallyService s, Principal who, string project, Html h)
    {
        var me = s.Me(who, project);   // only a worker of this project has one
        var spec = s.GetProject(who, project).Spec;
        Cards(h, ("Answers", Html.Count(me.Answers)), ("Total paid", Html.Number(me.TotalPaid)), ("Reputation", Maybe(me.Reputation)), ("Rounds paid", me.Payments.Count.ToString(CultureInfo.InvariantCulture)));
        h.Open("div", ("class", "grid2"));
        PayCharts(h, me.Payments, me.Worker);
        h.Close("div");
        PaymentTable(h, me.Payments);
        AnswerTable(ctx, s, who, project, me.Worker, h, "/me?");
        return Task.FromResult(new Outcome($"{me.Worker} · {spec.Name}"));
    }
}
