using System.Net;
using System.Text.Json;

namespace Tally.Tests;

/// <summary>The service's HTTP conventions: probes, an OpenAPI document of every route, request ids in responses and logs.</summary>
public sealed class ServiceConventionsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-http-").FullName;

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    [Fact]
    [Trait("Category", "Slow")]
    public async Task Probes_openapi_and_request_ids()
    {
        using var server = new ServerProcess(Path.Combine(_dir, "data"));
        server.Start();
        using var anonymous = server.Client(null);
        var health = await anonymous.RawAsync(HttpMethod.Get, "healthz");
        Assert.Equal(HttpStatusCode.OK, health.Status);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.RawAsync(HttpMethod.Get, "readyz")).Status);

        var (status, body, type) = await anonymous.RawAsync(HttpMethod.Get, "openapi.json");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("application/json", type);
        using var doc = JsonDocument.Parse(body);
        var paths = doc.RootElement.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToHashSet();
        foreach (var route in new[] { "/projects", "/projects/{p}/tasks", "/projects/{p}/assignments", "/projects/{p}/answers", "/projects/{p}/rounds/{r}/close",
                     "/projects/{p}/labels", "/projects/{p}/payments", "/projects/{p}/me", "/projects/{p}/model", "/projects/{p}/predictions", "/requesters", "/healthz" })
            Assert.Contains(route, paths);

        // Every response names its request, and the log line of that request carries the same id.
        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        using var response = await http.GetAsync("projects");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        string id = response.Headers.GetValues("X-Request-Id").Single();
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(id, problem.RootElement.GetProperty("requestId").GetString());
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!server.Log.Split('\n').Any(l => l.Contains(id, StringComparison.Ordinal) && l.Contains("Tally.Server.Requests", StringComparison.Ordinal)) && DateTime.UtcNow < deadline) await Task.Delay(100);
        var line = server.Log.Split('\n').First(l => l.Contains(id, StringComparison.Ordinal) && l.Contains("Tally.Server.Requests", StringComparison.Ordinal));
        Assert.DoesNotContain("unhandled exception", server.Log);
        using var entry = JsonDocument.Parse(line);
        Assert.Contains("GET /projects 401", entry.RootElement.GetProperty("Message").GetString());
    }
}
