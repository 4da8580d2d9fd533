using System.Globalization;
using System.Net;
using System.Text;
using Tally.Service;

namespace Tally.Tests;

/// <summary>
/// Over a real server: rounds that close by themselves at their deadline (exactly once, the same result a close request
/// then returns; an empty round stays open), enrolment tokens (limited uses, expiry, revocation, unknown tokens counted
/// as failed authentications), and the labels export in CSV, paged or whole, equal to the JSON pages.
/// </summary>
public sealed class ServiceRoundsAndEnrolmentTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-rounds-").FullName;

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private static async Task AnswerAll(TallyClient worker, string project, Func<string, string> labelOf)
    {
        while (await worker.AssignAsync(project) is { } a)
            await worker.AnswerAsync(project, new AnswerPost("ans-" + a.Task, a.Task, labelOf(a.Task), a.Id));
    }

    private static async Task<IReadOnlyList<RoundView>> WaitForRounds(TallyClient owner, string project, Func<IReadOnlyList<RoundView>, bool> done)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var rounds = await owner.ListRoundsAsync(project);
            if (done(rounds)) return rounds;
            if (clock.Elapsed > TimeSpan.FromSeconds(30)) throw new TimeoutException("rounds as they are after 30 s: " + string.Join("; ", rounds));
            await Task.Delay(200);
        }
    }

    [Fact]
    [Trait("Category", "Slow")]
    public async Task A_round_closes_by_itself_at_its_deadline_exactly_once_and_an_empty_round_stays_open()
    {
        using var server = new ServerProcess(Path.Combine(_dir, "auto"));
        server.Start();
        using var admin = server.Client(server.AdminKey);
        using var owner = server.Client((await admin.CreateRequesterAsync("team")).Key);
        var spec = new ProjectSpec { Name = "auto", Classes = ["x", "y"], MinAnswers = 3, MaxAnswers = 3, Mechanism = "oa", RoundSeconds = 6 };
        var p = (await owner.CreateProjectAsync(spec)).Id;
        await owner.AddTasksAsync(p, [.. Enumerable.Range(0, 6).Select(i => new TaskUpload("t" + i))]);
        var opened = DateTimeOffset.UtcNow;
        Assert.True((await owner.ListRoundsAsync(p))[0].Due is { } due0 && due0 > opened.AddSeconds(4) && due0 <= opened.AddSeconds(7), "round 0 is due 6 s after it opened");
        // The three workers answer side by side, so that all 18 answers land well inside the round even on a loaded machine.
        var workers = new List<TallyClient>();
        for (int w = 0; w < 3; w++) workers.Add(server.Client((await owner.CreateWorkerAsync(p, "w" + w)).Key));
        await Task.WhenAll(workers.Select((worker, who) => AnswerAll(worker, p, t => who == 2 && t == "t0" ? "y" : "x")));
        foreach (var worker in workers) worker.Dispose();

        // Nobody asks: the deadline closes round 0, and round 1 opens with its own deadline.
        var rounds = await WaitForRounds(owner, p, r => r.Count >= 2 && r[0].Status == "closed");
        var closed = rounds[0];
        Assert.Equal(18, closed.Answers);
        Assert.Equal(3, closed.Workers);
        Assert.True(closed.Closed >= opened.AddSeconds(5.5), $"closed at {closed.Closed:O}, opened {opened:O}");
        Assert.Equal("open", rounds[1].Status);
        Assert.NotNull(rounds[1].Due);
        var payments = await owner.PaymentsAsync(p, 0);
        Assert.Equal(3, payments.Count);
        Assert.Equal(closed.TotalPaid!.Value, payments.Sum(x => x.Payment), 9);
        // A close request afterwards returns the stored result: the round was paid once.
        var again = await owner.CloseRoundAsync(p, 0);
        Assert.Equal(closed.Closed, again.Closed);
        Assert.Equal(3, (await owner.PaymentsAsync(p, 0)).Count);
        Assert.Equal(closed.TotalPaid!.Value, (await owner.ListWorkersAsync(p)).Sum(x => x.TotalPaid), 9);

        // Round 1 gets no answers: past its deadline it stays open, due one round length later.
        var firstDue = rounds[1].Due!.Value;
        rounds = await WaitForRounds(owner, p, r => r[^1].Due > firstDue);
        Assert.Equal(2, rounds.Count);
        Assert.Equal("open", rounds[1].Status);
        // The log says why (the console logger writes in the background: give it a moment).
        for (int wait = 0; wait < 100 && !server.Log.Contains("was due and stays open", StringComparison.Ordinal); wait++) await Task.Delay(100);
        Assert.Contains("was due and stays open", server.Log);
        Assert.Contains("no answers yet", server.Log);
    }

    [Fact]
    [Trait("Category", "Slow")]
    public async Task Workers_enrol_with_a_token_within_its_uses_expiry_and_revocation()
    {
        using var server = new ServerProcess(Path.Combine(_dir, "enrol"), null, "--max-auth-failures", "3");
        server.Start();
        using var admin = server.Client(server.AdminKey);
        using var owner = server.Client((await admin.CreateRequesterAsync("team")).Key);
        var p = (await owner.CreateProjectAsync(new ProjectSpec { Name = "p", Classes = ["x", "y"] })).Id;
        var q = (await owner.CreateProjectAsync(new ProjectSpec { Name = "q", Classes = ["x", "y"] })).Id;
        await owner.AddTasksAsync(p, [new("t1")]);
        var twice = await owner.CreateEnrolmentAsync(p, new EnrolmentSpec(MaxUses: 2));
        Assert.StartsWith("tally_enrol_", twice.Token);
        using var anonymous = server.Client(null);

        // Two workers join p with the token; each key is a worker of p, and works.
        var ann = await anonymous.EnrolAsync(twice.Token!, "ann");
        var bob = await anonymous.EnrolAsync(twice.Token!, "bob");
        Assert.Equal("worker", ann.Role);
        Assert.NotEqual(ann.Key, bob.Key);
        using (var a = server.Client(ann.Key))
        {
            Assert.Equal("t1", (await a.AssignAsync(p))!.Task);
            Assert.Equal(HttpStatusCode.NotFound, (await a.RawAsync(HttpMethod.Get, $"projects/{q}")).Status);   // p's worker only
        }
        Assert.Equal(["ann", "bob"], (await owner.ListWorkersAsync(p)).Select(w => w.Worker).Order(StringComparer.Ordinal).Take(2));

        async Task Refused(string token, string name, HttpStatusCode status, string detail)
        {
            var (s, body, type) = await anonymous.RawAsync(HttpMethod.Post, "enrol", $$"""{"token":"{{token}}","name":"{{name}}"}""");
            Assert.True(s == status, $"{(int)s}, expected {(int)status}: {body}");
            Assert.Equal("application/problem+json", type);
            Assert.Contains(detail, body);
            Assert.DoesNotContain("tally_", body.Replace(token, "", StringComparison.Ordinal));
        }
        await Refused(twice.Token!, "cy", HttpStatusCode.Forbidden, "used by its 2 workers already");
        var open = await owner.CreateEnrolmentAsync(p, new EnrolmentSpec());
        await Refused(open.Token!, "ann", HttpStatusCode.Conflict, "exists already");
        await owner.RevokeEnrolmentAsync(p, open.Id);
        await Refused(open.Token!, "dee", HttpStatusCode.Forbidden, "revoked");
        var brief = await owner.CreateEnrolmentAsync(p, new EnrolmentSpec(ExpiresSeconds: 1));
        await Task.Delay(1300);
        await Refused(brief.Token!, "eve", HttpStatusCode.Forbidden, "expired");

        // The list shows uses and states, never a token.
        var list = await owner.ListEnrolmentsAsync(p);
        Assert.Equal([twice.Id, open.Id, brief.Id], list.Select(e => e.Id));
        Assert.Equal([2, 0, 0], list.Select(e => e.Uses));
        Assert.Equal([false, true, false], list.Select(e => e.Revoked));
        Assert.All(list, e => Assert.Null(e.Token));
        Assert.Equal(2, (await owner.ListWorkersAsync(p)).Count);   // nothing refused made a worker

        // Unknown tokens are failed authentications: 401, then 429 past the limit.
        for (int i = 0; i < 3; i++) await Refused("tally_enrol_" + new string('Q', 43), "x" + i, HttpStatusCode.Unauthorized, "not known");
        await Refused("tally_enrol_" + new string('Q', 43), "z", HttpStatusCode.TooManyRequests, "too many failed authentications");
    }

    [Fact]
    [Trait("Category", "Slow")]
    public async Task The_labels_csv_export_pages_and_streams_the_same_rows_as_the_json_pages()
    {
        using var server = new ServerProcess(Path.Combine(_dir, "labels"));
        server.Start();
        using var admin = server.Client(server.AdminKey);
        using var owner = server.Client((await admin.CreateRequesterAsync("team")).Key);
        var p = (await owner.CreateProjectAsync(new ProjectSpec { Name = "l", Classes = ["x", "y", "z"], MinAnswers = 2, MaxAnswers = 2, Method = "mv", Mechanism = "oa" })).Id;
        await owner.AddTasksAsync(p, [.. Enumerable.Range(0, 25).Select(i => new TaskUpload($"task,{i}"))]);   // a comma: quoted in CSV
        for (int w = 0; w < 2; w++)
        {
            using var worker = server.Client((await owner.CreateWorkerAsync(p, "w" + w)).Key);
            int who = w;
            await AnswerAll(worker, p, t => (t.Length + who) % 3 == 0 ? "x" : who == 0 ? "y" : "z");
        }
        await owner.CloseRoundAsync(p, 0);

        var pages = new List<LabelView>();
        for (long offset = 0; ; offset += 7)
        {
            var page = await owner.LabelsAsync(p, offset, 7);
            Assert.Equal(25, page.Total);
            if (page.Items.Count == 0) break;
            pages.AddRange(page.Items);
        }
        Assert.Equal(25, pages.Count);
        Assert.Equal(25, pages.Select(l => l.Task).Distinct().Count());
        string Row(LabelView l) => string.Join(",", [CsvQuote(l.Task), l.Label, Num(l.Confidence), Num(l.Probabilities["x"]), Num(l.Probabilities["y"]), Num(l.Probabilities["z"])]);
        string whole = await owner.LabelsCsvAsync(p);
        var lines = whole.TrimEnd('\n').Split('\n');
        Assert.Equal("task,label,confidence,p_x,p_y,p_z", lines[0]);
        Assert.Equal(pages.Select(Row), lines.Skip(1));
        var (status, part, type) = await owner.RawAsync(HttpMethod.Get, $"projects/{p}/labels?format=csv&offset=10&limit=5");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("text/csv", type);
        Assert.Equal(pages.Skip(10).Take(5).Select(Row), part.TrimEnd('\n').Split('\n').Skip(1));
    }

    private static string CsvQuote(string s) => s.Contains(',', StringComparison.Ordinal) ? "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : s;

    private static string Num(double x) => Tally.Core.NumberFormat.Finite(x);
}
