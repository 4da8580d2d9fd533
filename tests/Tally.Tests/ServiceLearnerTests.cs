using System.Globalization;
using System.Text.Json;
using Tally.Application;
using Tally.Learning;
using Tally.Server;
using Tally.Server.Storage;
using Tally.Service;

namespace Tally.Tests;

/// <summary>
/// The service's learner, in process over SQLite and a real PostgreSQL: tasks uploaded with features (checked, the
/// database unchanged on refusal), a model trained inside the round close (a failure reported on the round, which
/// closes all the same), predictions of the unanswered tasks most uncertain first, the model file versioned per round
/// and giving, through <c>tally predict</c>, exactly the predictions the service serves.
/// </summary>
[Collection("postgres")]
public sealed class ServiceLearnerTests(PostgresFixture postgres) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-learner-").FullName;

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private static readonly string[] Classes = ["a", "b", "c"];
    private const int Tasks = 60, Answered = 40, Dimension = 4;

    private Database Sqlite() => Database.Sqlite(Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".db"));
    private Database Postgres() => Database.Postgres(postgres.CreateDatabase("learner_" + Guid.NewGuid().ToString("N")[..12]));

    /// <summary>A service over <paramref name="db"/> with an owner, another requester, and a learner project of 60 blob tasks.</summary>
    private sealed class Setup : IAsyncDisposable
    {
        public required Database Db { get; init; }
        public required TallyService Service { get; init; }
        public required Principal Admin { get; init; }
        public required Principal Owner { get; init; }
        public required Principal Other { get; init; }
        public required string Project { get; init; }
        public required double[][] X { get; init; }
        public required int[] Y { get; init; }
        public List<Principal> Workers { get; } = [];

        public async ValueTask DisposeAsync()
        {
            await Service.DisposeAsync();
            Db.Dispose();
        }
    }

    private static async Task<Setup> Create(Database db, LearnerSpec? learner = null)
    {
        Migrations.Apply(db);
        var service = new TallyService(db, TimeProvider.System);
        var adminKey = (await service.EnsureAdminAsync())!;
        var admin = service.Keys.Authenticate(adminKey.Key, "test");
        var owner = service.Keys.Authenticate((await service.CreateRequesterAsync(admin, new NewPrincipal("owner"))).Key, "test");
        var other = service.Keys.Authenticate((await service.CreateRequesterAsync(admin, new NewPrincipal("other"))).Key, "test");
        var project = await service.CreateProjectAsync(owner, new ProjectSpec
        {
            Name = "blobs", Classes = Classes, MinAnswers = 3, MaxAnswers = 3, Seed = 7,
            Learner = learner ?? new LearnerSpec { Dimension = Dimension },
        });
        var (x, y) = CrowdToyData.Blobs(Tasks, Classes.Length, Dimension, seed: 11);
        var added = await service.AddTasksAsync(owner, project.Id, [.. Enumerable.Range(0, Tasks).Select(t => new TaskUpload($"t{t:00}", Features: x[t]))]);
        Assert.Equal(Tasks, added.Added);
        var s = new Setup { Db = db, Service = service, Admin = admin, Owner = owner, Other = other, Project = project.Id, X = x, Y = y };
        foreach (var name in new[] { "w1", "w2", "w3", "w4" })
            s.Workers.Add(service.Keys.Authenticate((await service.CreateWorkerAsync(owner, project.Id, new NewPrincipal(name))).Key, "test"));
        return s;
    }

    /// <summary>Workers answer tasks [from, to): three of the four per task, right with probability 0.8 (fixed seed).</summary>
    private static async Task Answer(Setup s, int from, int to, int seed = 3)
    {
        var rng = new Random(seed);
        for (int t = from; t < to; t++)
            for (int k = 0; k < 3; k++)
            {
                var w = s.Workers[(t + k) % s.Workers.Count];
                int label = rng.NextDouble() < 0.8 ? s.Y[t] : (s.Y[t] + 1 + rng.Next(Classes.Length - 1)) % Classes.Length;
                string task = $"t{t:00}";
                var a = await s.Service.AssignAsync(w, s.Project, new AssignmentRequest(task));
                var ack = await s.Service.AnswerAsync(w, s.Project, [new AnswerPost($"{task}-{w.Name}", task, Classes[label], a!.Id)]);
                Assert.Equal("stored", ack[0].Status);
            }
    }

    [Fact]
    public Task Sqlite_round_close_trains_and_ranks_the_unanswered_tasks() => Trains(Sqlite());

    [PostgresFact]
    public Task Postgres_round_close_trains_and_ranks_the_unanswered_tasks() => Trains(Postgres());

    private async Task<byte[]> Trains(Database db)
    {
        await using var s = await Create(db);
        await Answer(s, 0, Answered);
        var round = await s.Service.CloseRoundAsync(s.Owner, s.Project, 0);
        Assert.Equal("closed", round.Status);
        Assert.Equal(new LearnerStatus(ServiceLearnJob.Trained, null, "maxmig", Answered, Tasks), round.Learner);
        // The status is stored with the round.
        Assert.Equal(round.Learner, s.Service.ListRounds(s.Owner, s.Project)[0].Learner);

        // The unanswered tasks only, most uncertain first, entropies of their probabilities; and the model is right on them.
        var page = s.Service.Predictions(s.Owner, s.Project, 0, 1000, all: false);
        Assert.Equal(Tasks - Answered, page.Total);
        Assert.Equal(Enumerable.Range(Answered, Tasks - Answered).Select(t => $"t{t:00}").Order(StringComparer.Ordinal),
            page.Items.Select(p => p.Task).Order(StringComparer.Ordinal));
        for (int i = 1; i < page.Items.Count; i++) Assert.True(page.Items[i - 1].Entropy >= page.Items[i].Entropy);
        foreach (var p in page.Items)
        {
            var probs = Classes.Select(c => p.Probabilities[c]).ToArray();
            Assert.Equal(1.0, probs.Sum(), 1e-12);
            Assert.Equal(-probs.Where(v => v > 0).Sum(v => v * Math.Log(v)), p.Entropy, 1e-12);
            Assert.Equal(Classes[Array.IndexOf(probs, probs.Max())], p.Label);
            Assert.Equal(0, p.Answers);
            Assert.Equal(0, p.Round);
        }
        // Well-separated blobs (Bayes error ≈ 0.1 %): 20 unseen tasks, at most 2 wrong.
        int right = page.Items.Count(p => p.Label == Classes[s.Y[int.Parse(p.Task[1..], CultureInfo.InvariantCulture)]]);
        Assert.True(right >= 18, $"{right} of 20 unanswered tasks right");

        // Paging walks the same order; all=true has every task.
        var second = s.Service.Predictions(s.Owner, s.Project, 5, 5, all: false);
        Assert.Equal(page.Items.Skip(5).Take(5).Select(p => p.Task), second.Items.Select(p => p.Task));
        var all = s.Service.Predictions(s.Owner, s.Project, 0, 1000, all: true);
        Assert.Equal(Tasks, all.Total);
        Assert.Equal(Answered, all.Items.Count(p => p.Answers == 3));

        // The model: tally learn's file, of round 0, loadable, predicting exactly what the service serves.
        var model = s.Service.Model(s.Owner, s.Project, null);
        Assert.Equal((0, "maxmig", LearnedModel.FormatVersion), (model.Round, model.Method, model.FormatVersion));
        var loaded = LearnedModel.Load(new MemoryStream(model.Bytes));
        Assert.Equal(Classes, loaded.Classes);
        Assert.Equal(Dimension, loaded.FeatureNames.Length);
        foreach (var p in all.Items)
        {
            var again = loaded.Classifier.PredictProbabilities([s.X[int.Parse(p.Task[1..], CultureInfo.InvariantCulture)]])[0];
            Assert.Equal(Classes.Select(c => p.Probabilities[c]), again);
        }

        // Who may read them: the owner and an admin; a worker is refused (403), another requester sees no project (404).
        Assert.Equal(model.Bytes, s.Service.Model(s.Admin, s.Project, 0).Bytes);
        Assert.Equal(Tasks - Answered, s.Service.Predictions(s.Admin, s.Project, 0, 10, false).Total);
        Assert.Equal(403, Assert.Throws<ApiException>(() => s.Service.Model(s.Workers[0], s.Project, null)).Status);
        Assert.Equal(403, Assert.Throws<ApiException>(() => s.Service.Predictions(s.Workers[0], s.Project, 0, 10, false)).Status);
        Assert.Equal(404, Assert.Throws<ApiException>(() => s.Service.Model(s.Other, s.Project, null)).Status);
        Assert.Equal(404, Assert.Throws<ApiException>(() => s.Service.Predictions(s.Other, s.Project, 0, 10, false)).Status);
        Assert.Equal(404, Assert.Throws<ApiException>(() => s.Service.Model(s.Owner, s.Project, 1)).Status);
        return model.Bytes;
    }

    [PostgresFact]
    public async Task The_same_project_gives_the_same_model_bytes_on_SQLite_and_PostgreSQL()
    {
        // Determinism: the learner sees the answers in canonical order whatever the engine returns.
        var fromSqlite = await Trains(Sqlite());
        var fromPostgres = await Trains(Postgres());
        Assert.Equal(fromSqlite, fromPostgres);
    }

    [Fact]
    public Task Sqlite_features_are_checked_at_upload_and_a_refusal_changes_nothing() => ChecksFeatures(Sqlite());

    [PostgresFact]
    public Task Postgres_features_are_checked_at_upload_and_a_refusal_changes_nothing() => ChecksFeatures(Postgres());

    private static async Task ChecksFeatures(Database db)
    {
        await using var s = await Create(db);
        async Task Refused(string expect, params TaskUpload[] tasks)
        {
            var e = await Assert.ThrowsAsync<ApiException>(() => s.Service.AddTasksAsync(s.Owner, s.Project, tasks));
            Assert.Equal(422, e.Status);
            Assert.Contains(expect, e.Message);
            // Nothing of the upload was stored: not even its valid first task.
            Assert.Equal(Tasks, s.Service.GetProject(s.Owner, s.Project).Tasks);
        }
        var good = new TaskUpload("new-1", Features: [1, 2, 3, 4]);
        await Refused("3 features, but the project's learner takes 4", good, new TaskUpload("new-2", Features: [1, 2, 3]));
        await Refused("feature 2 is not a finite number", good, new TaskUpload("new-2", Features: [1, double.PositiveInfinity, 3, 4]));
        await Refused("feature 1 is not a finite number", good, new TaskUpload("new-2", Features: [double.NaN, 0, 3, 4]));
        await Refused("needs features (4 numbers) on every task", good, new TaskUpload("new-2"));
        // The same task again with other features is a conflict; with the same ones, unchanged.
        var conflict = await Assert.ThrowsAsync<ApiException>(() => s.Service.AddTasksAsync(s.Owner, s.Project, [new TaskUpload("t00", Features: [0, 0, 0, 0])]));
        Assert.Equal(409, conflict.Status);
        Assert.Equal(new TasksAdded(0, 1, Tasks), await s.Service.AddTasksAsync(s.Owner, s.Project, [new TaskUpload("t00", Features: s.X[0])]));

        // A project without a learner takes no features; a bad learner spec is refused by field.
        var plain = await s.Service.CreateProjectAsync(s.Owner, new ProjectSpec { Name = "plain", Classes = Classes });
        var e2 = await Assert.ThrowsAsync<ApiException>(() => s.Service.AddTasksAsync(s.Owner, plain.Id, [new TaskUpload("x", Features: [1])]));
        Assert.Equal(422, e2.Status);
        Assert.Contains("no learner", e2.Message);
        Assert.Equal(404, Assert.Throws<ApiException>(() => s.Service.Model(s.Owner, plain.Id, null)).Status);
        var bad = Assert.Throws<ApiException>(() => s.Service.CreateProjectAsync(s.Owner, new ProjectSpec
        {
            Name = "bad", Classes = Classes, Learner = new LearnerSpec { Dimension = 0, Method = "nope", Classifier = "cnn", Epochs = 0, LearningRate = -1 },
        }).GetAwaiter().GetResult());
        Assert.Equal(422, bad.Status);
        var fields = ((IDictionary<string, string[]>)bad.Extensions["errors"]!).Keys.Order(StringComparer.Ordinal);
        Assert.Equal(["learner.classifier", "learner.dimension", "learner.epochs", "learner.learningRate", "learner.method"], fields);
    }

    [Fact]
    public Task Sqlite_a_failed_training_reports_and_the_round_still_closes() => FailsSoftly(Sqlite());

    [PostgresFact]
    public Task Postgres_a_failed_training_reports_and_the_round_still_closes() => FailsSoftly(Postgres());

    private static async Task FailsSoftly(Database db)
    {
        await using var s = await Create(db, new LearnerSpec { Dimension = Dimension, Method = "crowdlayer", Epochs = 20 });
        // Nothing to train on at a close without answers: skipped, the round closes.
        var empty = await s.Service.CloseRoundAsync(s.Owner, s.Project, 0);
        Assert.Equal(("closed", ServiceLearnJob.Skipped), (empty.Status, empty.Learner!.Status));
        Assert.Equal(404, Assert.Throws<ApiException>(() => s.Service.Model(s.Owner, s.Project, null)).Status);

        await Answer(s, 0, 20);
        var first = await s.Service.CloseRoundAsync(s.Owner, s.Project, 1);
        Assert.Equal(ServiceLearnJob.Trained, first.Learner!.Status);
        var before = s.Service.Predictions(s.Owner, s.Project, 0, 1000, all: true);

        // A learner that can no longer be built (say, a method a newer release dropped): the spec as stored names it.
        using (var c = s.Db.Open())
        {
            var spec = (string)c.Scalar(null, "SELECT spec FROM projects WHERE project_id = @p", ("p", s.Project))!;
            c.Execute(null, "UPDATE projects SET spec = @s WHERE project_id = @p", ("s", spec.Replace("\"crowdlayer\"", "\"retired\"", StringComparison.Ordinal)), ("p", s.Project));
        }
        await Answer(s, 20, 30);
        var failed = await s.Service.CloseRoundAsync(s.Owner, s.Project, 2);
        Assert.Equal("closed", failed.Status);
        Assert.Equal(ServiceLearnJob.Failed, failed.Learner!.Status);
        Assert.Contains("unknown method", failed.Learner.Message);
        // The round's other results are there (labels of every answered task, payments), the learner's stay as they were.
        Assert.Equal(30, s.Service.Labels(s.Owner, s.Project, 0, 1000).Total);
        Assert.NotEmpty(s.Service.Payments(s.Owner, s.Project, 2));
        Assert.Equal(3, s.Service.GetProject(s.Owner, s.Project).CurrentRound);
        Assert.Equal(1, s.Service.Model(s.Owner, s.Project, null).Round);
        Assert.Equal(404, Assert.Throws<ApiException>(() => s.Service.Model(s.Owner, s.Project, 2)).Status);
        Assert.Equal(JsonSerializer.Serialize(before.Items), JsonSerializer.Serialize(s.Service.Predictions(s.Owner, s.Project, 0, 1000, all: true).Items
            .Select(p => p with { Answers = before.Items.First(b => b.Task == p.Task).Answers })));
    }

    [Fact]
    [Trait("Category", "Slow")]
    public async Task Over_http_the_downloaded_model_gives_through_tally_predict_the_predictions_the_service_serves()
    {
        using var server = new ServerProcess(Path.Combine(_dir, "data"));
        server.Start();
        using var admin = server.Client(server.AdminKey);
        var ownerKey = (await admin.CreateRequesterAsync("owner")).Key;
        using var owner = server.Client(ownerKey);
        var project = await owner.CreateProjectAsync(new ProjectSpec
        {
            Name = "blobs", Classes = Classes, MinAnswers = 2, MaxAnswers = 2, Learner = new LearnerSpec { Dimension = Dimension, Method = "deepmf", Classifier = "linear" },
        });
        var (x, y) = CrowdToyData.Blobs(Tasks, Classes.Length, Dimension, seed: 5);
        // Features over HTTP as CSV (a quoted JSON array), the upload's third form.
        var csv = "id,features\n" + string.Concat(Enumerable.Range(0, Tasks).Select(t => $"t{t:00},\"{JsonSerializer.Serialize(x[t])}\"\n"));
        var (status, body, _) = await owner.RawAsync(HttpMethod.Post, $"projects/{project.Id}/tasks", csv, "text/csv");
        Assert.True(status == System.Net.HttpStatusCode.OK, body);
        // A wrong length over HTTP is a 422 problem.
        var (bad, problem, type) = await owner.RawAsync(HttpMethod.Post, $"projects/{project.Id}/tasks", """[{"id":"z","features":[1,2]}]""");
        Assert.Equal((System.Net.HttpStatusCode.UnprocessableEntity, "application/problem+json"), (bad, type));
        Assert.Contains("2 features, but the project's learner takes 4", problem);

        using var worker = server.Client((await owner.CreateWorkerAsync(project.Id, "w")).Key);
        using var worker2 = server.Client((await owner.CreateWorkerAsync(project.Id, "v")).Key);
        for (int t = 0; t < Answered; t++)
            foreach (var w in new[] { worker, worker2 })
            {
                var a = await w.AssignAsync(project.Id, $"t{t:00}");
                await w.AnswerAsync(project.Id, new AnswerPost($"a{t}", $"t{t:00}", Classes[y[t]], a!.Id));
            }
        Assert.Equal(ServiceLearnJob.Trained, (await owner.CloseRoundAsync(project.Id, 0)).Learner!.Status);
        var forbidden = await Assert.ThrowsAsync<TallyServiceException>(() => worker.ModelAsync(project.Id));
        Assert.Equal(System.Net.HttpStatusCode.Forbidden, forbidden.Status);

        // Download the model, save it, run `tally predict` on the tasks' features: the same numbers, to the last bit.
        string modelPath = Path.Combine(_dir, "model.tlm");
        await File.WriteAllBytesAsync(modelPath, await owner.ModelAsync(project.Id));
        string features = Path.Combine(_dir, "features.csv");
        await File.WriteAllTextAsync(features, "task,f0,f1,f2,f3\n" + string.Concat(Enumerable.Range(0, Tasks).Select(t =>
            $"t{t:00},{string.Join(",", x[t].Select(v => v.ToString("R", CultureInfo.InvariantCulture)))}\n")));
        var (code, _, err) = CliTests.Run("predict", modelPath, features, "--out", Path.Combine(_dir, "out"));
        Assert.True(code == 0, err);
        var predicted = File.ReadLines(Path.Combine(_dir, "out", "predictions.csv")).Skip(1).Select(l => l.Split(','))
            .ToDictionary(f => f[0], f => (Label: f[1], P: f[2..].Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray()));
        var all = await owner.PredictionsAsync(project.Id, all: true);
        Assert.Equal(Tasks, all.Items.Count);
        foreach (var p in all.Items)
        {
            Assert.Equal(predicted[p.Task].Label, p.Label);
            Assert.Equal(predicted[p.Task].P, Classes.Select(c => p.Probabilities[c]));
        }
        // The unanswered ones by default, most uncertain first; the CSV has the same rows in the same order.
        var open = await owner.PredictionsAsync(project.Id);
        Assert.Equal(Tasks - Answered, open.Total);
        var lines = (await owner.PredictionsCsvAsync(project.Id)).TrimEnd('\n').Split('\n');
        Assert.Equal("task,label,p_a,p_b,p_c,entropy,answers,round", lines[0]);
        Assert.Equal(open.Items.Select(p => p.Task), lines.Skip(1).Select(l => l.Split(',')[0]));
        Assert.Equal(open.Items.Select(p => p.Entropy), lines.Skip(1).Select(l => double.Parse(l.Split(',')[5], CultureInfo.InvariantCulture)));

        // The dashboard's rounds page says what the learner did.
        var jar = new System.Net.CookieContainer();
        using var http = new HttpClient(new HttpClientHandler { CookieContainer = jar, AllowAutoRedirect = false }) { BaseAddress = server.BaseAddress };
        string signin = await http.GetStringAsync("ui/signin");
        var signedIn = await http.PostAsync("ui/signin", new FormUrlEncodedContent([new("key", ownerKey), new("_token", DashboardBrowser.FormToken(signin))]));
        Assert.Equal(System.Net.HttpStatusCode.Redirect, signedIn.StatusCode);
        Assert.Contains($"Learner (deepmf), round 0: trained on {Answered} answered tasks; {Tasks} tasks predicted", await http.GetStringAsync($"ui/projects/{project.Id}/rounds"));
    }
}
