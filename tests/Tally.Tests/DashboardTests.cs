using System.Globalization;
using System.Net;
using Tally.Service;
using Xunit.Abstractions;

namespace Tally.Tests;

/// <summary>
/// The dashboard in a real headless Chromium against a real <c>tally serve</c> process: a requester signs in, creates a
/// project, uploads tasks and issues a key through the forms; a simulated crowd answers over the API; rounds are closed
/// (one through the confirmation form); the labels, workers, rounds and worker pages show the API's numbers, the CSV
/// download is the API's CSV, a worker's session sees only their own page, and a form without its antiforgery token is
/// refused. Every page is captured at 1280 and 390 px (DASHBOARD_SCREENSHOTS, or <c>screenshots/dashboard</c> beside
/// the test assembly) and must not scroll sideways at either width.
/// </summary>
public sealed class DashboardTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-dash-").FullName;
    private static readonly string[] Classes = ["cat", "dog", "fox"];

    /// <summary>Where the screenshots go.</summary>
    public static string ScreenshotFolder =>
        Environment.GetEnvironmentVariable("DASHBOARD_SCREENSHOTS") is { Length: > 0 } d ? d : Path.Combine(AppContext.BaseDirectory, "screenshots", "dashboard");

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private static string F3(double v) => v.ToString("F3", CultureInfo.InvariantCulture);

    /// <summary>The crowd: careful workers right with their accuracy, spammers uniform, colluders always answering the first class.</summary>
    private static readonly (string Name, double Accuracy, bool Colluder)[] Crowd =
    [
        ("worker-a", 0.95, false), ("worker-b", 0.9, false), ("worker-c", 0.9, false), ("worker-d", 0.85, false), ("worker-e", 0.85, false),
        ("worker-f", 0.8, false), ("worker-g", 0.9, false), ("worker-h", 0.0, false), ("worker-i", 0.0, false), ("worker-j", 0.0, true),
    ];

    private static string Truth(string task) => Classes[int.Parse(task.AsSpan(task.LastIndexOf('-') + 1), CultureInfo.InvariantCulture) % Classes.Length];

    /// <summary>Every worker takes assignments until the service has none left for them, and answers each.</summary>
    private static Task Answer(ServerProcess server, string project, IReadOnlyDictionary<string, string> keys, int seed) =>
        Parallel.ForEachAsync(Crowd.Select((w, i) => (w, i)), new ParallelOptions { MaxDegreeOfParallelism = 10 }, async (x, ct) =>
        {
            using var client = server.Client(keys[x.w.Name]);
            var rng = new Random(seed * 100 + x.i);
            while (await client.AssignAsync(project, null, ct) is { } a)
            {
                string label = x.w.Colluder ? Classes[0] : rng.NextDouble() < x.w.Accuracy ? Truth(a.Task) : Classes[rng.Next(Classes.Length)];
                await client.AnswerAsync(project, new AnswerPost($"{x.w.Name}-{a.Task}", a.Task, label, a.Id), ct);
            }
        });

    private sealed class Shots(DashboardBrowser browser, ITestOutputHelper output)
    {
        public List<string> Taken { get; } = [];

        /// <summary>Captures the page at both widths and checks it does not scroll sideways at either.</summary>
        public void Take(string name)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            foreach (var (width, suffix) in new[] { (1280, "desktop"), (390, "phone") })
            {
                string file = Path.Combine(ScreenshotFolder, $"{name}-{suffix}.png");
                long overflow = browser.Screenshot(file, width);
                Assert.True(overflow == 0, $"{name} scrolls sideways by {overflow} px at {width} px ({browser.Path})");
                Taken.Add(file);
            }
            output.WriteLine($"screenshot {name}: {browser.Path} ({clock.ElapsedMilliseconds} ms)");
        }
    }

    [BrowserFact]
    [Trait("Category", "Slow")]
    public async Task A_requester_runs_a_project_and_a_worker_sees_only_their_own_page()
    {
        using var server = new ServerProcess(Path.Combine(_dir, "data"));
        server.Start();
        using var admin = server.Client(server.AdminKey);
        var requester = await admin.CreateRequesterAsync("lab-team");
        using var owner = server.Client(requester.Key);
        using var browser = new DashboardBrowser(server.BaseAddress);
        var shots = new Shots(browser, output);

        // Sign in.
        browser.Go("/ui");
        Assert.StartsWith("/ui/signin", browser.Path);
        shots.Take("signin");
        browser.Fill("input[name=key]", requester.Key);
        browser.Click("form.stack button[type=submit]");
        Assert.Equal("/ui/projects", browser.Path);
        Assert.Contains("lab-team (requester)", browser.Text);

        // Create a project through the form.
        browser.Click("a[href$='/ui/projects/new']");
        Assert.Equal("Create a project", browser.Heading);
        browser.Fill("input[name=name]", "animals");
        browser.Fill("input[name=classes]", string.Join(",", Classes));
        browser.Choose("select[name=method] option[value=robust-ds]");
        browser.Choose("select[name=mechanism] option[value='reform:ca']");
        browser.Fill("input[name=maxAnswers]", "6");
        shots.Take("new-project");
        browser.Click("form.stack button[type=submit]");
        var projects = await owner.ListProjectsAsync();
        var project = Assert.Single(projects);
        Assert.Equal("robust-ds", project.Spec.Method);
        Assert.Equal("reform:ca", project.Spec.Mechanism);
        Assert.Equal(6, project.Spec.MaxAnswers);
        Assert.Equal($"/ui/projects/{project.Id}", browser.Path);
        string p = project.Id;

        // Upload tasks through the form (8 of the 40 with gold).
        browser.Click($"a[href$='/ui/projects/{p}/tasks']");
        var csv = "id,gold\n" + string.Join("\n", Enumerable.Range(0, 40).Select(i => $"t-{i}," + (i % 5 == 0 ? Truth($"t-{i}") : "")));
        browser.Fill("textarea[name=text]", csv);
        browser.Click("form.stack button[type=submit]");
        Assert.Contains("40 tasks added, 0 already there; the project has 40 tasks.", browser.Text);
        shots.Take("upload");
        Assert.Equal(40, (await owner.GetProjectAsync(p)).Tasks);

        // Issue one worker key through the form; the others over the API.
        browser.Go($"/ui/projects/{p}/workers");
        browser.Fill("form[aria-label='Issue a worker key'] input[name=name]", Crowd[0].Name);
        browser.Click("form[aria-label='Issue a worker key'] button[type=submit]");
        var keys = new Dictionary<string, string>(StringComparer.Ordinal) { [Crowd[0].Name] = browser.Find("#issued-key").Text };
        shots.Take("worker-key");
        var ids = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var w in Crowd.Skip(1))
        {
            var issued = await owner.CreateWorkerAsync(p, w.Name);
            (keys[w.Name], ids[w.Name]) = (issued.Key, issued.Id);
        }
        using (var first = server.Client(keys[Crowd[0].Name])) Assert.Equal(Crowd[0].Name, (await first.MeAsync(p)).Worker);

        // Round 0: the crowd answers, the requester closes the round through the confirmation form.
        await Answer(server, p, keys, seed: 1);
        browser.Go($"/ui/projects/{p}/rounds");
        browser.Click($"a[href$='/ui/projects/{p}/rounds/0/close']");
        Assert.Equal("Close round 0", browser.Heading);
        shots.Take("close-round");
        Assert.Equal("open", (await owner.ListRoundsAsync(p))[0].Status);   // asking is not closing
        browser.Click("form button.danger");
        Assert.Equal($"/ui/projects/{p}/rounds?round=0", browser.Path);
        Assert.Equal("closed", (await owner.ListRoundsAsync(p))[0].Status);

        // Round 1 over the API: more tasks, more answers, a close.
        await owner.AddTasksAsync(p, [.. Enumerable.Range(40, 30).Select(i => new TaskUpload($"t-{i}"))]);
        await Answer(server, p, keys, seed: 2);
        var round1 = await owner.CloseRoundAsync(p, 1);

        // Overview.
        browser.Go($"/ui/projects/{p}");
        Assert.Equal("animals", browser.Heading);
        var view = await owner.GetProjectAsync(p);
        Assert.Contains(view.Answers.ToString("N0", CultureInfo.InvariantCulture), browser.Text);
        Assert.NotEmpty(browser.FindAll("svg#answers-time title"));
        Assert.NotEmpty(browser.FindAll("svg#confidence rect"));
        shots.Take("overview");

        // Labels: the first page, the filter, the order and the CSV are the API's.
        var labels = (await owner.LabelsAsync(p, 0, 1000)).Items;
        browser.Go($"/ui/projects/{p}/labels");
        var rows = browser.FindAll("tbody tr");
        Assert.Equal(Math.Min(50, labels.Count), rows.Count);
        for (int i = 0; i < rows.Count; i++)
        {
            var cells = rows[i].FindElements(OpenQA.Selenium.By.TagName("td"));
            Assert.Equal(labels[i].Task, cells[0].Text);
            Assert.Equal(labels[i].Label, cells[1].Text);
            Assert.Equal(F3(labels[i].Confidence), cells[2].Text);
        }
        Assert.Contains($"of {labels.Count}", browser.Text);
        shots.Take("labels");
        int uncertain = labels.Count(l => l.Confidence < 0.9);
        browser.Go($"/ui/projects/{p}/labels?below=0.9&sort=confidence");
        if (uncertain > 0)
        {
            Assert.Contains($"of {uncertain} with confidence below 0.9", browser.Text);
            Assert.Equal(F3(labels.Min(l => l.Confidence)), browser.FindAll("tbody tr")[0].FindElements(OpenQA.Selenium.By.TagName("td"))[2].Text);
        }
        using (var http = new HttpClient(new HttpClientHandler { CookieContainer = browser.Cookies() }) { BaseAddress = server.BaseAddress })
            Assert.Equal(await owner.LabelsCsvAsync(p), await http.GetStringAsync($"ui/projects/{p}/labels.csv"));

        // Workers: answers and total paid are the API's, and the total is the sum of the ledger's payments.
        var workers = await owner.ListWorkersAsync(p);
        var payments = await owner.PaymentsAsync(p);
        browser.Go($"/ui/projects/{p}/workers");
        foreach (var row in browser.FindAll("tbody tr"))
        {
            var cells = row.FindElements(OpenQA.Selenium.By.TagName("td"));
            var w = workers.Single(x => x.Worker == cells[0].Text);
            Assert.Equal(w.Answers.ToString("N0", CultureInfo.InvariantCulture), cells[1].Text);
            Assert.Equal(F3(w.TotalPaid), cells[5].Text);
            Assert.Equal(F3(payments.Where(x => x.Worker == w.Worker).Sum(x => x.Payment)), cells[5].Text);
        }
        Assert.Equal(workers.Count, browser.FindAll("tbody tr").Count);
        Assert.NotEmpty(browser.FindAll("svg#confusion-mean rect"));
        Assert.NotEmpty(browser.FindAll("svg#reputation polyline"));
        shots.Take("workers");
        // Names are data, never markup: a worker named like an element shows as text.
        const string tricky = "<i id=\"x\">eve</i> & \"co\"";
        await owner.CreateWorkerAsync(p, tricky);
        browser.Go($"/ui/projects/{p}/workers");
        Assert.Contains(tricky, browser.Text);
        Assert.Empty(browser.FindAll("i#x"));
        using (var http = new HttpClient(new HttpClientHandler { CookieContainer = browser.Cookies() }) { BaseAddress = server.BaseAddress })
        {
            string raw = await http.GetStringAsync($"ui/projects/{p}/workers");
            Assert.Contains("&lt;i id=&quot;x&quot;&gt;eve&lt;/i&gt; &amp; &quot;co&quot;", raw);
            Assert.DoesNotContain("<i id", raw);
        }

        // One worker's page: their payments per round.
        string someone = Crowd[1].Name;
        browser.Click($"a[href$='/worker?name={someone}']");
        Assert.StartsWith(someone, browser.Heading);
        var theirs = payments.Where(x => x.Worker == someone).ToList();
        var payRows = browser.FindAll("table")[0].FindElements(OpenQA.Selenium.By.CssSelector("tbody tr"));
        Assert.Equal(theirs.Count, payRows.Count);
        for (int i = 0; i < theirs.Count; i++) Assert.Equal(F3(theirs[i].Payment), payRows[i].FindElements(OpenQA.Selenium.By.TagName("td"))[1].Text);
        shots.Take("worker");

        // Rounds: budget spent is the API's round total, and the sum of its payments.
        browser.Go($"/ui/projects/{p}/rounds?round=1");
        var r1 = browser.FindAll("tbody tr")[1].FindElements(OpenQA.Selenium.By.TagName("td"));
        Assert.Equal(F3(round1.TotalPaid!.Value), r1[6].Text);
        Assert.Equal(F3(payments.Where(x => x.Round == 1).Sum(x => x.Payment)), r1[6].Text);
        Assert.Equal(round1.LateAnswers.ToString(CultureInfo.InvariantCulture), r1[3].Text);
        Assert.NotEmpty(browser.FindAll("svg#payments rect"));
        Assert.Contains("Qualitative fairness", browser.Text);
        // γ-fairness over all paid workers, from the API's M* and payments: 1 / E[M* − E*] per scored report.
        var scored = payments.Where(x => x.Round == 1 && x.Optimal is not null && x.Tasks > 0).ToList();
        Assert.NotEmpty(scored);
        double gap = scored.Sum(x => x.Tasks * (x.Optimal!.Value - x.Payment)) / scored.Sum(x => x.Tasks);
        Assert.True(gap > 0, "some report must have been penalised for γ to be finite");
        var gammaCard = browser.FindAll("dl.cards div").Single(d => d.FindElement(OpenQA.Selenium.By.TagName("dt")).Text == "γ, all paid workers");
        // The page rounds γ to 3 decimals; the server sums the ledger in its own order, so the last bit may differ from
        // this sum and a value on a rounding boundary (x.xxx5) may round either way: compare within half a unit of display.
        double shown = double.Parse(gammaCard.FindElement(OpenQA.Selenium.By.TagName("dd")).Text, CultureInfo.InvariantCulture);
        Assert.InRange(shown, 1 / gap - 0.0005 - 1e-9, 1 / gap + 0.0005 + 1e-9);
        shots.Take("rounds");

        // Revoke a worker's key through the confirmation form: the key stops working.
        string revoked = Crowd[^1].Name;
        browser.Go($"/ui/projects/{p}/workers");
        browser.Click($"a[href$='/worker/revoke?name={revoked}']");
        Assert.Equal($"Revoke {revoked}", browser.Heading);
        shots.Take("revoke-worker");
        browser.Click("form button.danger");
        Assert.Equal($"/ui/projects/{p}/workers", browser.Path);
        Assert.True((await owner.ListWorkersAsync(p)).Single(w => w.Worker == revoked).Revoked);
        using (var gone = server.Client(keys[revoked]))
            Assert.Equal(HttpStatusCode.Unauthorized, (await Assert.ThrowsAsync<TallyServiceException>(() => gone.MeAsync(p))).Status);

        // A form posted without its token (or with another's) is refused, and changes nothing.
        using (var http = new HttpClient(new HttpClientHandler { CookieContainer = browser.Cookies(), AllowAutoRedirect = false }) { BaseAddress = server.BaseAddress })
        {
            var noToken = await http.PostAsync($"ui/projects/{p}/rounds/2/close", new FormUrlEncodedContent([]));
            Assert.Equal(HttpStatusCode.BadRequest, noToken.StatusCode);
            Assert.Contains("antiforgery token", await noToken.Content.ReadAsStringAsync());
            var wrong = await http.PostAsync($"ui/projects/{p}/rounds/2/close", new FormUrlEncodedContent([new("_token", "not-the-token")]));
            Assert.Equal(HttpStatusCode.BadRequest, wrong.StatusCode);
            var noSignInToken = await http.PostAsync("ui/signin", new FormUrlEncodedContent([new("key", requester.Key)]));
            Assert.Equal(HttpStatusCode.BadRequest, noSignInToken.StatusCode);
            Assert.Equal("open", (await owner.ListRoundsAsync(p))[2].Status);
            // With the page's token the same post is accepted (so the refusals above were the token's doing).
            string page = await http.GetStringAsync($"ui/projects/{p}/rounds/2/close");
            var ok = await http.PostAsync($"ui/projects/{p}/rounds/2/close", new FormUrlEncodedContent([new("_token", DashboardBrowser.FormToken(page))]));
            Assert.Equal(HttpStatusCode.Redirect, ok.StatusCode);
            Assert.Equal("closed", (await owner.ListRoundsAsync(p))[2].Status);
        }

        // Another project of the same requester, for the worker's 404.
        var other = await owner.CreateProjectAsync(new ProjectSpec { Name = "other", Classes = Classes });

        // A worker's session: their own page only.
        browser.Click("header form button[type=submit]");
        Assert.StartsWith("/ui/signin", browser.Path);
        string me = Crowd[2].Name;
        browser.Fill("input[name=key]", keys[me]);
        browser.Click("form.stack button[type=submit]");
        Assert.Equal($"/ui/projects/{p}/me", browser.Path);
        using (var worker = server.Client(keys[me]))
        {
            var self = await worker.MeAsync(p);
            Assert.Contains(F3(self.TotalPaid), browser.Text);
            var rowsMe = browser.FindAll("table")[0].FindElements(OpenQA.Selenium.By.CssSelector("tbody tr"));
            Assert.Equal(self.Payments.Count, rowsMe.Count);
            for (int i = 0; i < self.Payments.Count; i++) Assert.Equal(F3(self.Payments[i].Payment), rowsMe[i].FindElements(OpenQA.Selenium.By.TagName("td"))[1].Text);
            Assert.Contains($"of {self.Answers}", browser.Text);
        }
        foreach (var w in Crowd.Where(w => w.Name != me)) Assert.DoesNotContain(w.Name, browser.Text);
        shots.Take("me");

        using (var http = new HttpClient(new HttpClientHandler { CookieContainer = browser.Cookies(), AllowAutoRedirect = false }) { BaseAddress = server.BaseAddress })
        {
            var refused = new (string Path, HttpStatusCode Status)[]
            {
                ($"ui/projects/{p}", HttpStatusCode.Forbidden), ($"ui/projects/{p}/labels", HttpStatusCode.Forbidden),
                ($"ui/projects/{p}/labels.csv", HttpStatusCode.Forbidden), ($"ui/projects/{p}/workers", HttpStatusCode.Forbidden),
                ($"ui/projects/{p}/worker?name={Crowd[3].Name}", HttpStatusCode.Forbidden), ($"ui/projects/{p}/worker?name={me}", HttpStatusCode.Forbidden),
                ($"ui/projects/{p}/rounds", HttpStatusCode.Forbidden), ($"ui/projects/{p}/rounds/3/close", HttpStatusCode.Forbidden),
                ($"ui/projects/{p}/tasks", HttpStatusCode.Forbidden), ("ui/projects/new", HttpStatusCode.Forbidden),
                ($"ui/projects/{other.Id}/me", HttpStatusCode.NotFound), ($"ui/projects/{other.Id}", HttpStatusCode.NotFound),
                ($"ui/projects/{other.Id}/labels", HttpStatusCode.NotFound),
            };
            foreach (var (path, status) in refused)
            {
                var response = await http.GetAsync(path);
                string body = await response.Content.ReadAsStringAsync();
                Assert.True(status == response.StatusCode, $"{path}: {(int)response.StatusCode}, expected {(int)status}");
                foreach (var w in Crowd.Where(w => w.Name != me)) Assert.DoesNotContain(w.Name, body);
                Assert.DoesNotContain("t-1", body);
                Assert.DoesNotContain("<table", body);
                Assert.DoesNotContain("<svg", body);
            }
            // A worker's post with a valid token is still refused by the role.
            string mine = await http.GetStringAsync($"ui/projects/{p}/me");
            var close = await http.PostAsync($"ui/projects/{p}/rounds/3/close", new FormUrlEncodedContent([new("_token", DashboardBrowser.FormToken(mine))]));
            Assert.Equal(HttpStatusCode.Forbidden, close.StatusCode);
            Assert.Equal("open", (await owner.ListRoundsAsync(p))[3].Status);
        }
        browser.Go($"/ui/projects/{p}/labels");
        Assert.Equal("Forbidden", browser.Heading);
        Assert.Empty(browser.FindAll("table"));
        shots.Take("forbidden");

        // Revoking the key ends its session at once.
        await owner.RevokeAsync(ids[me]);
        browser.Go($"/ui/projects/{p}/me");
        Assert.StartsWith("/ui/signin", browser.Path);
        output.WriteLine($"{shots.Taken.Count} screenshots in {ScreenshotFolder}");
    }
}
