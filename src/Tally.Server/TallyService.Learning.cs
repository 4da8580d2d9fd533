using System.Data.Common;
using System.Globalization;
using System.Text.Json;
using Tally.Application;
using Tally.Core;
using Tally.Server.Storage;
using Tally.Service;

namespace Tally.Server;

/// <summary>A model file as stored: the bytes <c>tally predict</c> reads and what they are.</summary>
/// <param name="Round">The round whose close trained it.</param>
/// <param name="Method">The learning-from-crowds method.</param>
/// <param name="FormatVersion">The file's format version.</param>
/// <param name="Bytes">The file.</param>
public sealed record StoredModel(int Round, string Method, int FormatVersion, byte[] Bytes);

/// <summary>
/// The project's learner (<see cref="ProjectSpec.Learner"/>): features checked at upload, a model trained by
/// <see cref="ServiceLearnJob"/> inside each round close's transaction, and the model and predictions read back.
/// </summary>
public sealed partial class TallyService
{
    /// <summary>
    /// The stored form of task <paramref name="t"/>'s features (a JSON array of round-trip numbers), checked against
    /// the project's learner: required with a learner, refused without one, of its dimension and finite.
    /// </summary>
    private static string? FeaturesText(ProjectSpec spec, TaskUpload t, int i)
    {
        string where = $"task {i + 1} ({Quote.Value(t.Id)})";
        if (spec.Learner is not { } learner)
        {
            if (t.Features is not null) throw ApiException.Invalid($"{where}: features are given but the project has no learner (add a \"learner\" to the project's spec)");
            return null;
        }
        if (t.Features is not { } f) throw ApiException.Invalid($"{where}: the project's learner needs features ({learner.Dimension} numbers) on every task");
        if (f.Count != learner.Dimension) throw ApiException.Invalid($"{where}: {f.Count} features, but the project's learner takes {learner.Dimension}");
        for (int j = 0; j < f.Count; j++)
            if (!double.IsFinite(f[j])) throw ApiException.Invalid($"{where}: feature {j + 1} is not a finite number");
        return JsonSerializer.Serialize(f as double[] ?? [.. f]);
    }

    /// <summary>
    /// Trains the project's learner on its answers up to <paramref name="round"/> inside the close's transaction, and
    /// on success stores the model of the round and replaces the predictions. A training failure is reported, never
    /// thrown: the round closes whatever the learner does.
    /// </summary>
    private static LearnerStatus Learn(DbConnection c, DbTransaction tx, ProjectRow p, int round, IReadOnlyList<ServiceAnswer> answers, long now)
    {
        var learner = p.Spec.Learner!;
        var tasks = c.Query(tx, "SELECT task_id, features FROM tasks WHERE project_id = @p AND features IS NOT NULL ORDER BY seq",
            r => (r.GetString(0), JsonSerializer.Deserialize<double[]>(r.GetString(1))!), ("p", p.Id));
        var outcome = ServiceLearnJob.Run(new ServiceLearnRequest
        {
            Classes = p.Spec.Classes, Method = learner.Method, Settings = learner.Settings(p.Spec.Seed), Dimension = learner.Dimension,
            Answers = answers, Tasks = tasks,
        });
        if (outcome.Status == ServiceLearnJob.Trained)
        {
            c.Execute(tx, "INSERT INTO models (project_id, round, method, format_version, model, created_at) VALUES (@p, @r, @m, @v, @b, @t)",
                ("p", p.Id), ("r", round), ("m", outcome.Method), ("v", ServiceLearnJob.ModelFormatVersion), ("b", outcome.Model), ("t", now));
            c.Execute(tx, "DELETE FROM predictions WHERE project_id = @p", ("p", p.Id));
            var rows = outcome.Predictions.Select(x => new object?[] { p.Id, x.Task, round, x.Label, JsonSerializer.Serialize(x.Probabilities), x.Entropy }).ToList();
            foreach (var chunk in rows.Chunk(50_000))
                c.ExecuteRows(tx, "INSERT INTO predictions (project_id, task_id, round, label, probabilities, entropy) {select}", chunk);
        }
        return new LearnerStatus(outcome.Status, outcome.Message, outcome.Method, outcome.TrainingTasks, outcome.Predictions.Count);
    }

    /// <summary>The model trained at the latest close (or at round <paramref name="round"/>'s), for its owner or an admin.</summary>
    public StoredModel Model(Principal caller, string project, int? round)
    {
        using var c = _db.Open();
        var p = Visible(c, null, caller, project, workerAllowed: false, "read the model");
        if (p.Spec.Learner is null) throw ApiException.NotFound("the project has no learner, so no model");
        var which = round is null ? "ORDER BY round DESC LIMIT 1" : "AND round = @r";
        var rows = c.Query(null, $"SELECT round, method, format_version, model FROM models WHERE project_id = @p {which}",
            r => new StoredModel((int)r.Long(0), r.GetString(1), (int)r.Long(2), (byte[])r.GetValue(3)), ("p", p.Id), ("r", round ?? -1));
        if (rows.Count == 0)
            throw ApiException.NotFound(round is int x ? $"no model was trained at round {x}" : "no model yet: one is trained when a round with answers closes");
        return rows[0];
    }

    /// <summary>
    /// A page of the latest model's predictions (owner, admin): the unanswered tasks (or, with <paramref name="all"/>,
    /// every task), most uncertain first — highest entropy, then upload order.
    /// </summary>
    public Page<PredictionView> Predictions(Principal caller, string project, long offset, int limit, bool all)
    {
        using var c = _db.Open();
        var p = Visible(c, null, caller, project, workerAllowed: false, "read the predictions");
        if (p.Spec.Learner is null) throw ApiException.NotFound("the project has no learner, so no predictions");
        string unanswered = all ? "" : " AND t.answers = 0";
        const string from = "FROM predictions x JOIN tasks t ON t.project_id = x.project_id AND t.task_id = x.task_id WHERE x.project_id = @p";
        long total = Convert.ToInt64(c.Scalar(null, $"SELECT COUNT(*) {from}{unanswered}", ("p", p.Id)), CultureInfo.InvariantCulture);
        var classes = p.Spec.Classes;
        var items = c.Query(null, $"SELECT x.task_id, x.label, x.entropy, x.probabilities, t.answers, x.round {from}{unanswered} ORDER BY x.entropy DESC, t.seq LIMIT @n OFFSET @o",
            r =>
            {
                var probs = JsonSerializer.Deserialize<double[]>(r.GetString(3))!;
                var map = new Dictionary<string, double>(StringComparer.Ordinal);
                for (int k = 0; k < classes.Count; k++) map[classes[k]] = probs[k];
                return new PredictionView(r.GetString(0), r.GetString(1), r.GetDouble(2), map, (int)r.Long(4), (int)r.Long(5));
            }, ("p", p.Id), ("n", limit), ("o", offset));
        return new Page<PredictionView>(items, offset, total);
    }
}
