using System.Diagnostics;
using Tally.Catalogs;
using Tally.Core;
using Tally.Learning;

namespace Tally.Application;

/// <summary>What the server's learner needs at a round close: the project's classes and learner, its answers and its tasks' features.</summary>
public sealed record ServiceLearnRequest
{
    /// <summary>The project's classes, in order (the model's output order).</summary>
    public required IReadOnlyList<string> Classes { get; init; }
    /// <summary>Learning-from-crowds method (see <see cref="CrowdLearnerCatalog"/>).</summary>
    public required string Method { get; init; }
    /// <summary>Classifier, epochs, Adam step and seed; null fields keep the method's defaults.</summary>
    public LearnerSettings Settings { get; init; } = new();
    /// <summary>Features per task.</summary>
    public required int Dimension { get; init; }
    /// <summary>Every answer of the project so far (as the round close's aggregation sees them).</summary>
    public required IReadOnlyList<ServiceAnswer> Answers { get; init; }
    /// <summary>Every task of the project with its features, in the project's upload order: the tasks predicted.</summary>
    public required IReadOnlyList<(string Task, double[] Features)> Tasks { get; init; }
}

/// <summary>One task's prediction under the new model.</summary>
/// <param name="Task">The task.</param>
/// <param name="Label">The most probable class (the first of the most probable, in class order).</param>
/// <param name="Probabilities">Probability per class, in class order.</param>
/// <param name="Entropy">−Σ p log p in nats: the model's uncertainty about the task.</param>
public sealed record ServicePrediction(string Task, string Label, double[] Probabilities, double Entropy);

/// <summary>What the server's learner did.</summary>
/// <param name="Status"><see cref="ServiceLearnJob.Trained"/>, <see cref="ServiceLearnJob.Skipped"/> or <see cref="ServiceLearnJob.Failed"/>.</param>
/// <param name="Message">Why it was skipped or failed; null when trained.</param>
/// <param name="Method">The method's catalog name.</param>
/// <param name="Model">The model file's bytes (<see cref="LearnedModel.Save(Stream)"/>, read by <c>tally predict</c>); null unless trained.</param>
/// <param name="TrainingTasks">Answered tasks trained on.</param>
/// <param name="Predictions">Every task's prediction, in the request's task order (empty unless trained).</param>
/// <param name="Seconds">Time spent training and predicting.</param>
public sealed record ServiceLearnOutcome(string Status, string? Message, string Method, byte[]? Model, int TrainingTasks,
    IReadOnlyList<ServicePrediction> Predictions, double Seconds);

/// <summary>
/// The server's learner: at a round close, train the project's learning-from-crowds method (as <c>tally learn</c>
/// trains it: the catalog's method and defaults) on the answered tasks' features and all the answers, save the model
/// in <c>tally learn</c>'s file format, and predict every task with the model read back from those bytes — so a
/// downloaded model given to <c>tally predict</c> reproduces the stored predictions exactly. The entropy of each
/// prediction ranks the unanswered tasks for active use: the most uncertain under the model are the ones to ask about.
/// </summary>
/// <remarks>
/// A training failure never fails the round: the job returns <see cref="Failed"/> with the reason instead of throwing.
/// The result depends on the answers, features and seed only (the matrix is in canonical order, the learners are
/// bit-identical for any core count).
/// </remarks>
public static class ServiceLearnJob
{
    /// <summary>A model was trained and every task predicted.</summary>
    public const string Trained = "trained";
    /// <summary>Nothing to train on yet (no answered task).</summary>
    public const string Skipped = "skipped";
    /// <summary>Training failed (bad settings for these data, a learner error); the round closes all the same.</summary>
    public const string Failed = "failed";
    /// <summary>The format version of the model files written (<see cref="LearnedModel.FormatVersion"/>).</summary>
    public const int ModelFormatVersion = LearnedModel.FormatVersion;

    /// <summary>Runs the learner; never throws for a training problem (see <see cref="Failed"/>).</summary>
    /// <exception cref="ArgumentException">A task's features do not have <see cref="ServiceLearnRequest.Dimension"/> values (the server validates them at upload).</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public static ServiceLearnOutcome Run(ServiceLearnRequest request, ComputeOptions? compute = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var info = CrowdLearnerCatalog.Find(request.Method);
        string method = info?.Name ?? request.Method;
        var features = new Dictionary<string, double[]>(request.Tasks.Count, StringComparer.Ordinal);
        foreach (var (task, row) in request.Tasks)
        {
            if (row is null || row.Length != request.Dimension) throw new ArgumentException($"Task '{task}' has {row?.Length ?? 0} features, not {request.Dimension}.", nameof(request));
            features[task] = row;
        }
        if (info is null) return Fail(method, $"unknown method {Quote.Value(request.Method)}", 0);

        // Answers of tasks without features cannot be trained on (the server requires features on every task).
        var builder = new LabelMatrixBuilder(request.Classes);
        int used = 0;
        foreach (var a in request.Answers)
            if (features.ContainsKey(a.Task)) { builder.Add(a.Task, a.Worker, a.Label); used++; }
        if (used == 0) return new ServiceLearnOutcome(Skipped, "no answered task has features yet", method, null, 0, [], 0);
        var matrix = builder.Build().Matrix;

        var clock = Stopwatch.StartNew();
        try
        {
            var learner = info.Create(request.Settings);
            var data = new CrowdTrainingSet { Answers = matrix, Features = [.. matrix.Tasks.Names.Select(t => features[t])] };
            var result = learner.Learn(data, compute, null, cancellationToken);
            var model = new LearnedModel
            {
                Method = info.Name, Classes = [.. request.Classes], FeatureNames = [.. FeatureTable.DefaultColumns(request.Dimension)], Classifier = result.Classifier,
            };
            using var buffer = new MemoryStream();
            model.Save(buffer);
            byte[] bytes = buffer.ToArray();
            // Predict with the model as a download reads it, not the in-memory classifier: what the endpoint serves is
            // then exactly what `tally predict` gives on the same features.
            using var saved = new MemoryStream(bytes, writable: false);
            var loaded = LearnedModel.Load(saved);
            var rows = request.Tasks.Select(t => t.Features).ToArray();
            var probabilities = loaded.Classifier.PredictProbabilities(rows);
            var labels = LearningEvaluation.ArgMax(probabilities);
            var predictions = new ServicePrediction[rows.Length];
            for (int i = 0; i < rows.Length; i++)
            {
                var p = probabilities[i];
                if (p.Any(v => !double.IsFinite(v))) return Fail(method, $"the model gave task {Quote.Value(request.Tasks[i].Task)} a non-finite probability", matrix.TaskCount, clock);
                predictions[i] = new ServicePrediction(request.Tasks[i].Task, request.Classes[labels[i]], p, Entropy(p));
            }
            return new ServiceLearnOutcome(Trained, null, method, bytes, matrix.TaskCount, predictions, clock.Elapsed.TotalSeconds);
        }
        catch (OperationCanceledException) { throw; }
        catch (TallyUserException e) { return Fail(method, e.Message, matrix.TaskCount, clock); }
        catch (Exception e)
        {
            // Not the user's doing (a bug, memory), but the round's labels and payments must not wait on the learner:
            // the failure is reported on the round with its type, where the requester and the logs see it.
            return Fail(method, $"{e.GetType().Name}: {e.Message}", matrix.TaskCount, clock);
        }
    }

    private static ServiceLearnOutcome Fail(string method, string message, int tasks, Stopwatch? clock = null) =>
        new(Failed, message, method, null, tasks, [], clock?.Elapsed.TotalSeconds ?? 0);

    /// <summary>−Σ p log p (nats), with 0 log 0 = 0; never negative.</summary>
    public static double Entropy(ReadOnlySpan<double> probabilities)
    {
        double h = 0;
        foreach (double p in probabilities)
            if (p > 0) h -= p * Math.Log(p);
        return Math.Max(0, h);
    }
}
