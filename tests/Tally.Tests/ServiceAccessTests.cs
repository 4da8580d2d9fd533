using System.Net;
using System.Text.Json;
using Tally.Service;

namespace Tally.Tests;

/// <summary>
/// Who may do what, over a real server: every endpoint × {anonymous, wrong key, revoked key, worker of another project,
/// worker, other requester, owner requester, admin} gives the expected status, every refusal is an RFC 9457 problem,
/// and no body shows a worker another worker's answers or payments, or anyone a key they did not just create.
/// </summary>
public sealed class ServiceAccessTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-access-").FullName;

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private const string Alpha = "worker-alpha", Beta = "worker-beta";

    private sealed record Call(string Name, HttpMethod Method, string Path, string? Body);

    [Fact]
    [Trait("Category", "Slow")]
    public async Task Every_endpoint_answers_each_caller_with_the_right_status_and_leaks_nothing()
    {
        // The matrix makes ~50 failed authentications from one address: above the default limit, which has its own test.
        using var server = new ServerProcess(Path.Combine(_dir, "data"), null, "--max-auth-failures", "1000");
        server.Start();
        using var admin = server.Client(server.AdminKey);
        var ownerKey = await admin.CreateRequesterAsync("owner");
        var otherKey = await admin.CreateRequesterAsync("other");
        using var owner = server.Client(ownerKey.Key);
        using var other = server.Client(otherKey.Key);
        // p has a learner (two features per task), so its round close trains a model to (not) read.
        var p = (await owner.CreateProjectAsync(new ProjectSpec
        {
            Name = "p", Classes = ["x", "y"], MinAnswers = 2, MaxAnswers = 2, Mechanism = "oa", Learner = new LearnerSpec { Dimension = 2, Epochs = 5 },
        })).Id;
        var q = (await other.CreateProjectAsync(new ProjectSpec { Name = "q", Classes = ["x", "y"] })).Id;
        await owner.AddTasksAsync(p, [new("t1", Features: [0, 1]), new("t2", Features: [1, 0]), new("t3", Features: [1, 1])]);
        await other.AddTasksAsync(q, [new("u1")]);
        var alpha = await owner.CreateWorkerAsync(p, Alpha);
        var beta = await owner.CreateWorkerAsync(p, Beta);
        var revoked = await owner.CreateWorkerAsync(p, "worker-revoked");
        var foreign = await other.CreateWorkerAsync(q, "worker-foreign");
        // Alpha and beta answer t1 and t2; round 0 is closed, so there are labels and payments to (not) see.
        foreach (var (key, label) in new[] { (alpha.Key, "x"), (beta.Key, "y") })
        {
            using var w = server.Client(key);
            foreach (var t in new[] { "t1", "t2" })
            {
                var a = await w.AssignAsync(p, t);
                await w.AnswerAsync(p, new AnswerPost($"{t}-{label}", t, label, a!.Id));
            }
        }
        await owner.CloseRoundAsync(p, 0);
        await owner.RevokeAsync(revoked.Id);

        var callers = new (string Name, string? Key)[]
        {
            ("anonymous", null), ("wrong key", KeyRingNewKey()), ("revoked key", revoked.Key), ("worker of another project", foreign.Key),
            ("worker", alpha.Key), ("other requester", otherKey.Key), ("owner", ownerKey.Key), ("admin", server.AdminKey),
        };
        int victim = 0;
        Call[] Calls() =>
        [
            new("get project", HttpMethod.Get, $"projects/{p}", null),
            new("list projects", HttpMethod.Get, "projects", null),
            new("upload tasks", HttpMethod.Post, $"projects/{p}/tasks", $$"""[{"id":"new-{{victim}}","features":[0.5,0.5]}]"""),
            new("create worker", HttpMethod.Post, $"projects/{p}/workers", $$"""{"name":"made-{{victim}}"}"""),
            new("list workers", HttpMethod.Get, $"projects/{p}/workers", null),
            new("assign", HttpMethod.Post, $"projects/{p}/assignments", "{}"),
            new("answer twice", HttpMethod.Post, $"projects/{p}/answers", """{"id":"z","task":"t1","label":"x"}"""),
            new("close closed round", HttpMethod.Post, $"projects/{p}/rounds/0/close", null),
            new("list rounds", HttpMethod.Get, $"projects/{p}/rounds", null),
            new("labels", HttpMethod.Get, $"projects/{p}/labels", null),
            new("labels csv", HttpMethod.Get, $"projects/{p}/labels?format=csv", null),
            new("create enrolment", HttpMethod.Post, $"projects/{p}/enrolments", "{}"),
            new("list enrolments", HttpMethod.Get, $"projects/{p}/enrolments", null),
            new("revoke enrolment", HttpMethod.Post, $"projects/{p}/enrolments/{{ENROLMENT}}/revoke", null),
            new("payments", HttpMethod.Get, $"projects/{p}/payments", null),
            new("answers", HttpMethod.Get, $"projects/{p}/answers", null),
            new("me", HttpMethod.Get, $"projects/{p}/me", null),
            new("model", HttpMethod.Get, $"projects/{p}/model", null),
            new("model of round 0", HttpMethod.Get, $"projects/{p}/model?round=0", null),
            new("predictions", HttpMethod.Get, $"projects/{p}/predictions", null),
            new("predictions csv", HttpMethod.Get, $"projects/{p}/predictions?format=csv&all=true", null),
            new("create requester", HttpMethod.Post, "requesters", $$"""{"name":"req-{{victim}}"}"""),
            new("revoke worker", HttpMethod.Post, $"principals/{{VICTIM}}/revoke", null),
            new("open sharing", HttpMethod.Post, $"projects/{p}/sharing", """{"agents":5,"sigma":1,"cost":0.01}"""),
        ];
        // Expected status per call, per caller (in the order of `callers`).
        var expected = new Dictionary<string, int[]>
        {
            //                          anon wrong revok foreign worker other owner admin
            ["get project"] =          [401, 401, 401, 404, 200, 404, 200, 200],
            ["list projects"] =        [401, 401, 401, 200, 200, 200, 200, 200],
            ["upload tasks"] =         [401, 401, 401, 404, 403, 404, 200, 200],
            ["create worker"] =        [401, 401, 401, 404, 403, 404, 201, 201],
            ["list workers"] =         [401, 401, 401, 404, 403, 404, 200, 200],
            ["assign"] =               [401, 401, 401, 404, 200, 404, 403, 403],
            ["answer twice"]         = [401, 401, 401, 404, 409, 404, 403, 403],
            ["close closed round"] =   [401, 401, 401, 404, 403, 404, 200, 200],
            ["list rounds"] =          [401, 401, 401, 404, 200, 404, 200, 200],
            ["labels"] =               [401, 401, 401, 404, 403, 404, 200, 200],
            ["labels csv"] =           [401, 401, 401, 404, 403, 404, 200, 200],
            ["create enrolment"] =     [401, 401, 401, 404, 403, 404, 201, 201],
            ["list enrolments"] =      [401, 401, 401, 404, 403, 404, 200, 200],
            ["revoke enrolment"] =     [401, 401, 401, 404, 403, 404, 204, 204],
            ["payments"] =             [401, 401, 401, 404, 200, 404, 200, 200],
            ["answers"] =              [401, 401, 401, 404, 200, 404, 200, 200],
            ["me"] =                   [401, 401, 401, 404, 200, 404, 403, 403],
            ["model"] =                [401, 401, 401, 404, 403, 404, 200, 200],
            ["model of round 0"] =     [401, 401, 401, 404, 403, 404, 200, 200],
            ["predictions"] =          [401, 401, 401, 404, 403, 404, 200, 200],
            ["predictions csv"] =      [401, 401, 401, 404, 403, 404, 200, 200],
            ["create requester"] =     [401, 401, 401, 403, 403, 403, 403, 201],
            ["revoke worker"] =        [401, 401, 401, 403, 403, 404, 204, 204],
            ["open sharing"] =         [401, 401, 401, 404, 403, 404, 201, 201],
        };
        var failures = new List<string>();
        for (int c = 0; c < callers.Length; c++)
        {
            var (who, key) = callers[c];
            using var client = new TallyClient(server.BaseAddress, key);
            foreach (var call in Calls())
            {
                victim++;
                string path = call.Path;
                if (path.Contains("{VICTIM}", StringComparison.Ordinal))
                    path = path.Replace("{VICTIM}", (await owner.CreateWorkerAsync(p, $"victim-{victim}")).Id, StringComparison.Ordinal);
                if (path.Contains("{ENROLMENT}", StringComparison.Ordinal))
                    path = path.Replace("{ENROLMENT}", (await owner.CreateEnrolmentAsync(p, new EnrolmentSpec())).Id, StringComparison.Ordinal);
                var (status, body, type) = await client.RawAsync(call.Method, path, call.Body);
                int want = expected[call.Name][c];
                if ((int)status != want) failures.Add($"{who} / {call.Name}: {(int)status}, expected {want}: {body}");
                if ((int)status >= 400)
                {
                    if (type != "application/problem+json") failures.Add($"{who} / {call.Name}: {(int)status} without a problem document ({type})");
                    else
                    {
                        using var doc = JsonDocument.Parse(body);
                        if (doc.RootElement.GetProperty("status").GetInt32() != (int)status || doc.RootElement.GetProperty("detail").GetString() is not { Length: > 0 })
                            failures.Add($"{who} / {call.Name}: a problem without its status or detail: {body}");
                    }
                }
                // Keys appear only in the response that creates them.
                bool creates = call.Name is "create worker" or "create requester" or "create enrolment" && (int)status == 201;
                if (!creates && body.Contains("tally_", StringComparison.Ordinal)) failures.Add($"{who} / {call.Name}: a key in the body");
                // A worker never sees another worker's name (answers, payments, reputation); nor anyone outside the project.
                if (who is "worker" && body.Contains(Beta, StringComparison.Ordinal)) failures.Add($"{who} / {call.Name}: shows {Beta}: {body}");
                if (who is "worker of another project" or "other requester" or "anonymous" or "wrong key" or "revoked key"
                    && (body.Contains(Alpha, StringComparison.Ordinal) || body.Contains(Beta, StringComparison.Ordinal)))
                    failures.Add($"{who} / {call.Name}: shows project p's workers: {body}");
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));

        // And the data is as it was: the refused calls changed nothing.
        Assert.Equal(4, (await owner.AnswersAsync(p)).Count);   // alpha's and beta's t1 and t2
        Assert.Equal(3 + 2, (await owner.GetProjectAsync(p)).Tasks);   // the owner's and the admin's uploads only
    }

    [Fact]
    [Trait("Category", "Slow")]
    public async Task Failed_authentications_are_limited_per_address_without_locking_out_valid_keys()
    {
        using var server = new ServerProcess(Path.Combine(_dir, "limited"), null, "--max-auth-failures", "5");
        server.Start();
        using var guesser = server.Client(KeyRingNewKey());
        for (int i = 0; i < 5; i++) Assert.Equal(HttpStatusCode.Unauthorized, (await guesser.RawAsync(HttpMethod.Get, "projects")).Status);
        var (status, body, _) = await guesser.RawAsync(HttpMethod.Get, "projects");
        Assert.Equal(HttpStatusCode.TooManyRequests, status);
        Assert.Contains("too many failed authentications", body);
        // The admin, behind the same address, is not locked out.
        using var admin = server.Client(server.AdminKey);
        Assert.Empty(await admin.ListProjectsAsync());
    }

    private static string KeyRingNewKey() => "tally_" + new string('A', 43);
}
