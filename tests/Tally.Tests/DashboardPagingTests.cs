using System.Net;
using System.Text.RegularExpressions;
using Tally.Service;

namespace Tally.Tests;

/// <summary>The workers page of a large crowd: a page of rows at a time, every worker reachable, charts kept small.</summary>
public sealed partial class DashboardPagingTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "tally-dash-paging-" + Guid.NewGuid().ToString("N"));

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    [Fact]
    [Trait("Category", "Slow")]
    public async Task The_workers_page_shows_two_hundred_workers_a_page_and_pages_through_all_of_them()
    {
        using var server = new ServerProcess(Path.Combine(_dir, "data"));
        server.Start();
        using var admin = server.Client(server.AdminKey);
        var requester = await admin.CreateRequesterAsync("big-team");
        using var owner = server.Client(requester.Key);
        var p = (await owner.CreateProjectAsync(new ProjectSpec { Name = "crowd", Classes = ["a", "b"] })).Id;
        const int count = 205;
        var names = Enumerable.Range(0, count).Select(i => $"w{i:D3}").ToList();
        foreach (var name in names) await owner.CreateWorkerAsync(p, name);

        var jar = new CookieContainer();
        using var http = new HttpClient(new HttpClientHandler { CookieContainer = jar, AllowAutoRedirect = false }) { BaseAddress = server.BaseAddress };
        string signin = await http.GetStringAsync("ui/signin");
        var signedIn = await http.PostAsync("ui/signin", new FormUrlEncodedContent([new("key", requester.Key), new("_token", DashboardBrowser.FormToken(signin))]));
        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);

        string first = await http.GetStringAsync($"ui/projects/{p}/workers");
        Assert.Contains("Workers 1–200 of 205, by name.", first);
        var firstRows = WorkerLinks().Matches(first).Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(names.Take(200), firstRows);
        Assert.Contains("Page 1 of 2", first);
        Assert.Contains($"/ui/projects/{p}/workers?offset=200", first);

        string second = await http.GetStringAsync($"ui/projects/{p}/workers?offset=200");
        Assert.Contains("Workers 201–205 of 205, by name.", second);
        Assert.Equal(names.Skip(200), WorkerLinks().Matches(second).Select(m => m.Groups[1].Value).ToList());
        Assert.Contains($"/ui/projects/{p}/workers\"", second);   // ← Previous goes back to the first page

        // Past the end: an empty page that says where it is, not an error.
        var beyond = await http.GetAsync($"ui/projects/{p}/workers?offset=5000");
        Assert.Equal(HttpStatusCode.OK, beyond.StatusCode);
        Assert.Empty(WorkerLinks().Matches(await beyond.Content.ReadAsStringAsync()));
    }

    [GeneratedRegex("<a href=\"[^\"]*/worker\\?name=([^\"&]+)\">")]
    private static partial Regex WorkerLinks();
}
