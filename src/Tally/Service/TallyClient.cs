using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Tally.Service;

/// <summary>A problem response from the service (RFC 9457): its status, title and detail.</summary>
public sealed class TallyServiceException(HttpStatusCode status, string? title, string? detail, string body)
    : Exception($"{(int)status} {title}: {detail}")
{
    /// <summary>The HTTP status.</summary>
    public HttpStatusCode Status { get; } = status;
    /// <summary>The problem's title.</summary>
    public string? Title { get; } = title;
    /// <summary>The problem's detail.</summary>
    public string? Detail { get; } = detail;
    /// <summary>The whole response body.</summary>
    public string Body { get; } = body;
}

/// <summary>
/// A typed client of <c>tally serve</c>: one method per endpoint, the service's JSON shapes (<see cref="ServiceJson"/>),
/// a <see cref="TallyServiceException"/> for every problem response. The key is sent as a bearer token.
/// </summary>
public sealed class TallyClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly bool _owns;

    /// <summary>A client of the service at <paramref name="baseAddress"/> with <paramref name="key"/> (null: anonymous).</summary>
    public TallyClient(Uri baseAddress, string? key, HttpMessageHandler? handler = null)
    {
        _http = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
        _http.BaseAddress = baseAddress;
        _http.Timeout = TimeSpan.FromSeconds(100);
        if (key is not null) _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        _owns = true;
    }

    /// <summary>The same service with another key (shares nothing mutable with this client).</summary>
    public TallyClient WithKey(string? key) => new(_http.BaseAddress!, key);

    /// <summary>The service's address.</summary>
    public Uri BaseAddress => _http.BaseAddress!;

    private async Task<T> Send<T>(HttpMethod method, string path, object? body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null) request.Content = JsonContent.Create(body, body.GetType(), options: ServiceJson.Options);
        using var response = await _http.SendAsync(request, ct).ConfigureAwait(false);
        await ThrowIfProblem(response, ct).ConfigureAwait(false);
        if (typeof(T) == typeof(string)) return (T)(object)await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NoContent) return default!;
        return (await response.Content.ReadFromJsonAsync<T>(ServiceJson.Options, ct).ConfigureAwait(false))!;
    }

    private static async Task ThrowIfProblem(HttpResponseMessage response, CancellationToken ct)
    {
        if (response.IsSuccessStatusCode) return;
        string text = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        string? title = null, detail = null;
        try
        {
            using var doc = JsonDocument.Parse(text);
            if (doc.RootElement.TryGetProperty("title", out var t)) title = t.GetString();
            if (doc.RootElement.TryGetProperty("detail", out var d)) detail = d.GetString();
        }
        catch (JsonException) { detail = text; }
        throw new TallyServiceException(response.StatusCode, title, detail, text);
    }

    /// <summary><c>POST /requesters</c> (admin): a new requester and its key.</summary>
    public Task<IssuedKey> CreateRequesterAsync(string name, CancellationToken ct = default) => Send<IssuedKey>(HttpMethod.Post, "requesters", new NewPrincipal(name), ct);

    /// <summary><c>POST /principals/{id}/revoke</c>: revokes a requester (admin) or a worker (its project's owner) and their keys.</summary>
    public Task RevokeAsync(string principalId, CancellationToken ct = default) => Send<string>(HttpMethod.Post, $"principals/{Uri.EscapeDataString(principalId)}/revoke", null, ct);

    /// <summary><c>POST /projects</c> (requester).</summary>
    public Task<ProjectView> CreateProjectAsync(ProjectSpec spec, CancellationToken ct = default) => Send<ProjectView>(HttpMethod.Post, "projects", spec, ct);

    /// <summary><c>GET /projects</c>: the caller's projects.</summary>
    public Task<IReadOnlyList<ProjectView>> ListProjectsAsync(CancellationToken ct = default) => Send<IReadOnlyList<ProjectView>>(HttpMethod.Get, "projects", null, ct);

    /// <summary><c>GET /projects/{p}</c>.</summary>
    public Task<ProjectView> GetProjectAsync(string project, CancellationToken ct = default) => Send<ProjectView>(HttpMethod.Get, P(project), null, ct);

    /// <summary><c>POST /projects/{p}/tasks</c> (JSON array).</summary>
    public Task<TasksAdded> AddTasksAsync(string project, IReadOnlyList<TaskUpload> tasks, CancellationToken ct = default) =>
        Send<TasksAdded>(HttpMethod.Post, P(project) + "/tasks", tasks, ct);

    /// <summary><c>POST /projects/{p}/workers</c> (owner): a new worker and its key.</summary>
    public Task<IssuedKey> CreateWorkerAsync(string project, string name, CancellationToken ct = default) =>
        Send<IssuedKey>(HttpMethod.Post, P(project) + "/workers", new NewPrincipal(name), ct);

    /// <summary><c>POST /projects/{p}/enrolments</c> (owner): an enrolment token for workers to join with.</summary>
    public Task<EnrolmentView> CreateEnrolmentAsync(string project, EnrolmentSpec spec, CancellationToken ct = default) =>
        Send<EnrolmentView>(HttpMethod.Post, P(project) + "/enrolments", spec, ct);

    /// <summary><c>GET /projects/{p}/enrolments</c> (owner): the project's enrolment tokens (without their secrets).</summary>
    public Task<IReadOnlyList<EnrolmentView>> ListEnrolmentsAsync(string project, CancellationToken ct = default) =>
        Send<IReadOnlyList<EnrolmentView>>(HttpMethod.Get, P(project) + "/enrolments", null, ct);

    /// <summary><c>POST /projects/{p}/enrolments/{id}/revoke</c> (owner): the token stops working (keys issued with it stay).</summary>
    public Task RevokeEnrolmentAsync(string project, string id, CancellationToken ct = default) =>
        Send<string>(HttpMethod.Post, $"{P(project)}/enrolments/{Uri.EscapeDataString(id)}/revoke", null, ct);

    /// <summary><c>POST /enrol</c> (no key needed): trades an enrolment token for a worker key of the token's project.</summary>
    public Task<IssuedKey> EnrolAsync(string token, string name, CancellationToken ct = default) =>
        Send<IssuedKey>(HttpMethod.Post, "enrol", new EnrolRequest(token, name), ct);

    /// <summary><c>GET /projects/{p}/workers</c> (owner).</summary>
    public Task<IReadOnlyList<WorkerView>> ListWorkersAsync(string project, CancellationToken ct = default) =>
        Send<IReadOnlyList<WorkerView>>(HttpMethod.Get, P(project) + "/workers", null, ct);

    /// <summary><c>POST /projects/{p}/assignments</c> (worker): a task to answer, or null when none is left for this worker.</summary>
    public Task<AssignmentView?> AssignAsync(string project, string? task = null, CancellationToken ct = default) =>
        Send<AssignmentView?>(HttpMethod.Post, P(project) + "/assignments", new AssignmentRequest(task), ct);

    /// <summary><c>POST /projects/{p}/answers</c> (worker): one answer.</summary>
    public Task<AnswerAck> AnswerAsync(string project, AnswerPost answer, CancellationToken ct = default) =>
        Send<AnswerAck>(HttpMethod.Post, P(project) + "/answers", answer, ct);

    /// <summary><c>POST /projects/{p}/answers</c> (worker): a batch.</summary>
    public Task<AnswerAcks> AnswerBatchAsync(string project, IReadOnlyList<AnswerPost> answers, CancellationToken ct = default) =>
        Send<AnswerAcks>(HttpMethod.Post, P(project) + "/answers", new AnswerBatch(answers), ct);

    /// <summary><c>POST /projects/{p}/rounds/{r}/close</c> (owner): closes the round once (a second close returns the first result).</summary>
    public Task<RoundView> CloseRoundAsync(string project, int round, CancellationToken ct = default) =>
        Send<RoundView>(HttpMethod.Post, $"{P(project)}/rounds/{round}/close", null, ct);

    /// <summary><c>GET /projects/{p}/rounds</c>.</summary>
    public Task<IReadOnlyList<RoundView>> ListRoundsAsync(string project, CancellationToken ct = default) =>
        Send<IReadOnlyList<RoundView>>(HttpMethod.Get, P(project) + "/rounds", null, ct);

    /// <summary><c>GET /projects/{p}/labels</c> (owner), one page.</summary>
    public Task<Page<LabelView>> LabelsAsync(string project, long offset = 0, int limit = 1000, CancellationToken ct = default) =>
        Send<Page<LabelView>>(HttpMethod.Get, $"{P(project)}/labels?offset={offset}&limit={limit}", null, ct);

    /// <summary><c>GET /projects/{p}/labels?format=csv</c> (owner): the columns of <c>labels.csv</c>.</summary>
    public Task<string> LabelsCsvAsync(string project, CancellationToken ct = default) => Send<string>(HttpMethod.Get, $"{P(project)}/labels?format=csv", null, ct);

    /// <summary><c>GET /projects/{p}/payments</c>: every payment (owner) or the worker's own.</summary>
    public Task<IReadOnlyList<PaymentView>> PaymentsAsync(string project, int? round = null, CancellationToken ct = default) =>
        Send<IReadOnlyList<PaymentView>>(HttpMethod.Get, $"{P(project)}/payments{(round is int r ? $"?round={r}" : "")}", null, ct);

    /// <summary><c>GET /projects/{p}/answers?format=csv</c>: <c>task,worker,label</c> (owner: all; worker: own).</summary>
    public Task<string> AnswersCsvAsync(string project, CancellationToken ct = default) => Send<string>(HttpMethod.Get, $"{P(project)}/answers?format=csv", null, ct);

    /// <summary><c>GET /projects/{p}/answers</c>: every answer (owner) or the worker's own.</summary>
    public Task<IReadOnlyList<AnswerView>> AnswersAsync(string project, CancellationToken ct = default) =>
        Send<IReadOnlyList<AnswerView>>(HttpMethod.Get, $"{P(project)}/answers", null, ct);

    /// <summary><c>GET /projects/{p}/me</c> (worker): own answers count, payments and reputation.</summary>
    public Task<WorkerSelf> MeAsync(string project, CancellationToken ct = default) => Send<WorkerSelf>(HttpMethod.Get, P(project) + "/me", null, ct);

    /// <summary>
    /// <c>GET /projects/{p}/model[?round=R]</c> (owner): the model file trained at the latest round close (or at round
    /// <paramref name="round"/>'s), in <c>tally learn</c>'s format — save it as <c>model.tlm</c> for <c>tally predict</c>.
    /// </summary>
    public async Task<byte[]> ModelAsync(string project, int? round = null, CancellationToken ct = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{P(project)}/model{(round is int r ? $"?round={r}" : "")}");
        using var response = await _http.SendAsync(request, ct).ConfigureAwait(false);
        await ThrowIfProblem(response, ct).ConfigureAwait(false);
        return await response.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// <c>GET /projects/{p}/predictions</c> (owner), one page: the latest model's predictions of the unanswered tasks,
    /// most uncertain (highest entropy) first — the tasks to ask about next; <paramref name="all"/> = every task.
    /// </summary>
    public Task<Page<PredictionView>> PredictionsAsync(string project, long offset = 0, int limit = 1000, bool all = false, CancellationToken ct = default) =>
        Send<Page<PredictionView>>(HttpMethod.Get, $"{P(project)}/predictions?offset={offset}&limit={limit}{(all ? "&all=true" : "")}", null, ct);

    /// <summary><c>GET /projects/{p}/predictions?format=csv</c> (owner): <c>task,label,p_&lt;class&gt;…,entropy,answers,round</c>, in the JSON pages' order.</summary>
    public Task<string> PredictionsCsvAsync(string project, bool all = false, CancellationToken ct = default) =>
        Send<string>(HttpMethod.Get, $"{P(project)}/predictions?format=csv{(all ? "&all=true" : "")}", null, ct);

    /// <summary><c>POST /projects/{p}/sharing</c> (owner): a data-sharing session.</summary>
    public Task<SharingView> CreateSharingAsync(string project, SharingSpec spec, CancellationToken ct = default) =>
        Send<SharingView>(HttpMethod.Post, P(project) + "/sharing", spec, ct);

    /// <summary><c>POST /projects/{p}/sharing/{s}/samples</c> (worker): the agent's samples.</summary>
    public Task<SharingView> PostSamplesAsync(string project, string session, IReadOnlyList<double> values, CancellationToken ct = default) =>
        Send<SharingView>(HttpMethod.Post, $"{P(project)}/sharing/{Uri.EscapeDataString(session)}/samples", new SharingSamples(values), ct);

    /// <summary><c>GET /projects/{p}/sharing/{s}/allocation</c> (worker): the agent's own allocation.</summary>
    public Task<SharingAllocationView> AllocationAsync(string project, string session, CancellationToken ct = default) =>
        Send<SharingAllocationView>(HttpMethod.Get, $"{P(project)}/sharing/{Uri.EscapeDataString(session)}/allocation", null, ct);

    /// <summary>A raw request (for tests of malformed input): method, path, body bytes and content type; returns status and body.</summary>
    public async Task<(HttpStatusCode Status, string Body, string? ContentType)> RawAsync(HttpMethod method, string path, string? body = null,
        string contentType = "application/json", CancellationToken ct = default)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null) request.Content = new StringContent(body, Encoding.UTF8, contentType);
        using var response = await _http.SendAsync(request, ct).ConfigureAwait(false);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false), response.Content.Headers.ContentType?.MediaType);
    }

    private static string P(string project) => "projects/" + Uri.EscapeDataString(project);

    /// <inheritdoc />
    public void Dispose()
    {
        if (_owns) _http.Dispose();
    }
}
