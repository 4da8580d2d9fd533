using System.Net;
using System.Text;
using System.Text.Json;
using Tally.Service;

namespace Tally.Tests;

/// <summary>
/// Bad input against a real server: malformed JSON, wrong types, unknown members, tasks, classes and projects, oversized
/// bodies, a 100,000-answer batch, duplicate ids, wrong content types — each a precise 4xx problem document, and the
/// database unchanged by every rejected request. Late answers are stored, marked late and ignored by REFORM.
/// </summary>
public sealed class ServiceBadInputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-bad-").FullName;

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private static void AssertProblem((HttpStatusCode Status, string Body, string? Type) r, int status, string detail)
    {
        Assert.True((int)r.Status == status, $"{(int)r.Status}, expected {status}: {r.Body}");
        Assert.Equal("application/problem+json", r.Type);
        using var doc = JsonDocument.Parse(r.Body);
        Assert.Equal(status, doc.RootElement.GetProperty("status").GetInt32());
        string text = doc.RootElement.GetProperty("detail").GetString()!;
        Assert.Contains(detail, text);
        Assert.DoesNotContain("Exception", r.Body);
        Assert.DoesNotContain("System.", r.Body);
        Assert.DoesNotContain("   at ", r.Body);
    }

    [Fact]
    [Trait("Category", "Slow")]
    public async Task Every_bad_request_is_a_precise_problem_and_changes_nothing()
    {
        using var server = new ServerProcess(Path.Combine(_dir, "data"));
        server.Start();
        using var admin = server.Client(server.AdminKey);
        var req = await admin.CreateRequesterAsync("team");
        using var owner = server.Client(req.Key);
        var p = (await owner.CreateProjectAsync(new ProjectSpec { Name = "p", Classes = ["cat", "dog"], MinAnswers = 1, MaxAnswers = 1 })).Id;
        await owner.AddTasksAsync(p, [new("t1"), new("t2"), new("t3")]);
        var wk = await owner.CreateWorkerAsync(p, "w");
        using var w = server.Client(wk.Key);
        var lease = await w.AssignAsync(p, "t1");
        await w.AssignAsync(p, "t2");
        string answers = $"projects/{p}/answers";

        async Task<(long Tasks, long Answers)> State()
        {
            var v = await owner.GetProjectAsync(p);
            return (v.Tasks, (await owner.AnswersAsync(p)).Count);
        }
        var before = await State();

        AssertProblem(await w.RawAsync(HttpMethod.Post, answers, "{\"id\": \"a\", \"task\": "), 400, "not valid JSON");
        AssertProblem(await w.RawAsync(HttpMethod.Post, answers, "{\"id\": 5, \"task\": \"t1\", \"label\": \"cat\"}"), 400, "field id");
        AssertProblem(await w.RawAsync(HttpMethod.Post, answers, "{\"id\": \"a\", \"task\": \"t1\", \"label\": \"cat\", \"colour\": 1}"), 400, "colour");
        AssertProblem(await w.RawAsync(HttpMethod.Post, answers, "[1, 2]"), 400, "not valid JSON of the expected shape");
        AssertProblem(await w.RawAsync(HttpMethod.Post, answers, "id,task,label\na,t1,cat", "text/csv"), 415, "JSON");
        AssertProblem(await w.RawAsync(HttpMethod.Post, answers, "{\"id\": \"a\", \"task\": \"nope\", \"label\": \"cat\"}"), 422, "no task 'nope'");
        AssertProblem(await w.RawAsync(HttpMethod.Post, answers, "{\"id\": \"a\", \"task\": \"t1\", \"label\": \"cow\"}"), 422, "label 'cow' is not one of the project's classes (cat, dog)");
        AssertProblem(await w.RawAsync(HttpMethod.Post, answers, "{\"id\": \"a\", \"task\": \"t3\", \"label\": \"cat\"}"), 409, "no assignment of task 't3'");
        AssertProblem(await w.RawAsync(HttpMethod.Post, "projects/p_nope/answers", "{\"id\": \"a\", \"task\": \"t1\", \"label\": \"cat\"}"), 404, "no project 'p_nope'");
        AssertProblem(await w.RawAsync(HttpMethod.Post, answers, "{\"id\": \"\", \"task\": \"t1\", \"label\": \"cat\"}"), 422, "the id must be 1–200 printable characters");
        // A batch is all or nothing: its third answer's class is unknown, so the first two are not stored either.
        AssertProblem(await w.RawAsync(HttpMethod.Post, answers,
            "{\"answers\": [{\"id\": \"b1\", \"task\": \"t1\", \"label\": \"cat\"}, {\"id\": \"b2\", \"task\": \"t2\", \"label\": \"dog\"}, {\"id\": \"b3\", \"task\": \"t3\", \"label\": \"emu\"}]}"),
            422, "answer 3");
        AssertProblem(await w.RawAsync(HttpMethod.Post, answers,
            "{\"answers\": [{\"id\": \"d\", \"task\": \"t1\", \"label\": \"cat\"}, {\"id\": \"d\", \"task\": \"t2\", \"label\": \"cat\"}]}"), 422, "id 'd' appears twice");
        // 100,000 answers in one request: refused whole, with the limit.
        var big = new StringBuilder("{\"answers\": [");
        for (int i = 0; i < 100_000; i++) big.Append(i == 0 ? "" : ",").Append("{\"id\": \"x").Append(i).Append("\", \"task\": \"t1\", \"label\": \"cat\"}");
        big.Append("]}");
        AssertProblem(await w.RawAsync(HttpMethod.Post, answers, big.ToString()), 413, "send at most 10,000 per batch");
        // A body over the size limit (32 MiB) is cut off by the server.
        // (With Expect: 100-continue, as curl sends for large bodies, the refusal arrives before the body is sent.)
        using (var http = new HttpClient { BaseAddress = server.BaseAddress })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, answers)
            {
                Content = new StringContent("{\"id\": \"" + new string('z', 33 << 20) + "\"}", Encoding.UTF8, "application/json"),
            };
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", wk.Key);
            request.Headers.ExpectContinue = true;
            using var response = await http.SendAsync(request);
            AssertProblem((response.StatusCode, await response.Content.ReadAsStringAsync(), response.Content.Headers.ContentType?.MediaType), 413, "larger than the service accepts");
        }
        // Tasks and projects.
        AssertProblem(await owner.RawAsync(HttpMethod.Post, $"projects/{p}/tasks", "[{\"id\": \"n1\"}, {\"id\": \"n1\"}]"), 422, "appears twice");
        AssertProblem(await owner.RawAsync(HttpMethod.Post, $"projects/{p}/tasks", "[{\"id\": \"n2\", \"gold\": \"emu\"}]"), 422, "gold label 'emu'");
        AssertProblem(await owner.RawAsync(HttpMethod.Post, $"projects/{p}/tasks", "id,payload\nn3,{not json", "text/csv"), 400, "line 2: the payload is not JSON");
        AssertProblem(await owner.RawAsync(HttpMethod.Post, $"projects/{p}/tasks", "n4", "text/plain"), 415, "text/csv");
        AssertProblem(await owner.RawAsync(HttpMethod.Post, "projects", "{\"name\": \"q\", \"classes\": [\"only\"], \"method\": \"nope\"}"), 422, "classes: needs at least 2 classes; method: unknown method 'nope'");
        AssertProblem(await owner.RawAsync(HttpMethod.Post, "projects", "{\"name\": \"q\", \"classes\": [\"a\", \"b\"], \"budget\": -1}"), 422, "budget: must be a positive finite number");
        AssertProblem(await owner.RawAsync(HttpMethod.Post, $"projects/{p}/rounds/x/close"), 404, "no endpoint");
        AssertProblem(await owner.RawAsync(HttpMethod.Post, $"projects/{p}/rounds/5/close"), 409, "round 5 has not started");
        AssertProblem(await owner.RawAsync(HttpMethod.Get, $"projects/{p}/labels?offset=-1"), 400, "offset must be an integer");
        AssertProblem(await owner.RawAsync(HttpMethod.Get, $"projects/{p}/labels?format=xml"), 400, "format must be csv or json");

        Assert.Equal(before, await State());

        // Then the good answer, its retry (the first result), and the same id for another answer (a conflict).
        var ack = await w.AnswerAsync(p, new AnswerPost("a", "t1", "cat", lease!.Id));
        Assert.Equal("stored", ack.Status);
        Assert.Equal("duplicate", (await w.AnswerAsync(p, new AnswerPost("a", "t1", "cat"))).Status);
        AssertProblem(await w.RawAsync(HttpMethod.Post, answers, "{\"id\": \"a\", \"task\": \"t1\", \"label\": \"dog\"}"), 409, "id 'a' was used for another answer");
        Assert.Equal(before.Answers + 1, (await State()).Answers);
    }

    [Fact]
    [Trait("Category", "Slow")]
    public async Task An_answer_after_the_deadline_is_stored_marked_late_and_ignored_by_reform()
    {
        using var server = new ServerProcess(Path.Combine(_dir, "data"));
        server.Start();
        using var admin = server.Client(server.AdminKey);
        using var owner = server.Client((await admin.CreateRequesterAsync("team")).Key);
        var p = (await owner.CreateProjectAsync(new ProjectSpec
        {
            Name = "late", Classes = ["a", "b"], MinAnswers = 3, MaxAnswers = 3, Mechanism = "reform:rptsc", DeadlineSeconds = 1,
        })).Id;
        await owner.AddTasksAsync(p, [.. Enumerable.Range(0, 6).Select(t => new TaskUpload($"t{t}"))]);
        var clients = new List<TallyClient>();
        for (int i = 0; i < 3; i++) clients.Add(server.Client((await owner.CreateWorkerAsync(p, $"w{i}")).Key));
        // w0 and w1 answer on time; w2 answers its first task 1.5 s after taking it.
        for (int i = 0; i < 3; i++)
            for (int t = 0; t < 6; t++)
            {
                var lease = await clients[i].AssignAsync(p, $"t{t}");
                if (i == 2 && t == 0) await Task.Delay(1500);
                var ack = await clients[i].AnswerAsync(p, new AnswerPost($"{i}-{t}", $"t{t}", t % 2 == 0 ? "a" : "b", lease!.Id));
                Assert.Equal(i == 2 && t == 0, ack.Late);
            }
        var stored = await owner.AnswersAsync(p);
        Assert.Equal(18, stored.Count);
        Assert.Single(stored, a => a.Late);
        var round = await owner.CloseRoundAsync(p, 0);
        Assert.Equal(1, round.LateAnswers);
        // REFORM scored w2 on its 5 on-time reports only.
        var payments = await owner.PaymentsAsync(p, 0);
        Assert.Equal(5, payments.Single(x => x.Worker == "w2").Tasks);
        Assert.Equal(6, payments.Single(x => x.Worker == "w0").Tasks);
        foreach (var c in clients) c.Dispose();
    }
}
