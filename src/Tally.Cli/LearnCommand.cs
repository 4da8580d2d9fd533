using Tally.Application;
using Tally.Catalogs;
using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Tally.Core;
using Tally.Learning;

namespace Tally.Cli;

/// <summary><c>tally learn</c> and <c>tally predict</c>: train a classifier from crowd answers and task features.</summary>
internal static class LearnCommand
{
    public static Command Create(CliContext ctx)
    {
        var answers = new Option<string?>("--answers", "-a") { Description = "Crowd answers (task,worker,label)." };
        var features = new Option<string?>("--features") { Description = "Features of the training tasks: CSV task,f0,f1,… with a header (rows in any order; extra tasks allowed), or sparse (see --features-format)." };
        var testFeatures = new Option<string?>("--test-features") { Description = "Features of held-out tasks to predict (same columns)." };
        var testTruth = new Option<string?>("--test-truth") { Description = "True labels of the held-out tasks (task,truth) to report test accuracy." };
        var truth = new Option<string?>("--truth", "-t") { Description = "True labels of the training tasks (task,truth) to report the accuracy of the method's posteriors (never shown to the method)." };
        var dataset = new Option<string?>("--dataset", "-d") { Description = "Use a bundled dataset with features (music-genre) for all four files." };
        var method = new Option<string>("--method", "-m") { Description = "Method: " + string.Join(", ", CrowdLearnerCatalog.All.Select(m => m.Name)), DefaultValueFactory = _ => CrowdLearnerCatalog.Default.Name };
        var model = new Option<string?>("--classifier") { Description = "Classifier: linear (softmax regression) or mlp:WIDTH[,WIDTH…] (ReLU MLP); default: the method's (see above)." };
        var learningRate = new Option<double?>("--learning-rate") { Description = "Adam step of the classifier; default: the method's." };
        var epochs = new Option<int?>("--epochs", "-e") { Description = "Training epochs (per round for the alternating methods); default: the method's." };
        var restarts = new Option<int?>("--restarts") { Description = "Label-free restarts (" + string.Join(", ", CrowdLearnerCatalog.All.Where(m => m.HasRestarts).Select(m => $"{m.Name}: keep the highest {m.SelectionCriterion}")) + $"); default {new RestartOptions().Count} (one run)." };
        var seed = CommonOptions.Seed("Seed for initialisation, shuffling and dropout.");
        var outDir = CommonOptions.Out($"{LearnJob.ModelFile}, the tables {LearnJob.PredictionsTable}, {LearnJob.PosteriorsTable} and {LearnJob.EpochsTable} (.csv or .json) and learning-curve.png");
        var outFormat = CommonOptions.Format();
        var format = FeatureFormatOption();
        var ids = new Option<string?>("--feature-ids") { Description = "Sparse features: file with one task id per line for the training rows (default: rows are tasks 0, 1, …)." };
        var testIds = new Option<string?>("--test-ids") { Description = "Sparse features: file with one task id per line for the test rows." };
        var answerFormat = new AnswerFormatOptions();
        var cmd = new Command("learn", """
            Train a classifier directly from noisy crowd answers and task features, jointly with a model of the workers
            where the method has one. The model can then label new tasks with 'tally predict'.

            Methods:
            """ + "\n" + string.Join("\n", CrowdLearnerCatalog.All.Select(m => $"  {m.Name,-11} {m.Description} ({m.Reference}; default model {m.DefaultModel}, {m.DefaultEpochs} epochs)")) + """


            Examples:
              tally learn --dataset music-genre --method maxmig --out runs/maxmig
              tally learn --answers answers.csv --features features.csv --test-features test.csv --method deepbp --classifier linear --out runs/bp
              tally predict runs/bp/model.tlm new-features.csv --out new-labels/
            """)
        { answers, features, testFeatures, testTruth, truth, dataset, method, model, epochs, learningRate, restarts, seed, outDir, outFormat, format, ids, testIds };
        answerFormat.AddTo(cmd);
        cmd.SetAction(p =>
        {
            var request = new LearnRequest
            {
                AnswersPath = p.GetValue(answers),
                FeaturesPath = p.GetValue(features),
                TestFeaturesPath = p.GetValue(testFeatures),
                TestTruthPath = p.GetValue(testTruth),
                TruthPath = p.GetValue(truth),
                Dataset = p.GetValue(dataset),
                FeaturesFormat = ParseFormat(p.GetValue(format)!),
                FeatureIdsPath = p.GetValue(ids),
                TestIdsPath = p.GetValue(testIds),
                Format = answerFormat.Read(p),
                Method = p.GetValue(method),
                Settings = new LearnerSettings
                {
                    Hidden = p.GetValue(model) is { } spec ? ModelSpec.HiddenLayers(spec) : null,
                    Epochs = p.GetValue(epochs),
                    LearningRate = p.GetValue(learningRate),
                    Seed = p.GetValue(seed),
                    Restarts = p.GetValue(restarts),
                },
                OutputDirectory = p.GetValue(outDir),
                OutputFormat = CommonOptions.ReadFormat(p, outFormat, p.GetValue(outDir)),
            };
            var o = ctx.WithJobProgress(report => LearnJob.Run(request, ctx.Compute, report));
            if (o.DroppedDuplicates > 0) ctx.Notice($"{o.DroppedDuplicates} repeated (task, worker) answers dropped ({request.Format.Duplicates}; see --duplicates)");
            var written = o.Written.ToList();
            if (request.OutputDirectory is { } dir && o.Epochs.Length > 0)
                written.Add(LearningCurve(Path.Combine(dir, "learning-curve.png"), o));

            var t = new Table().Border(TableBorder.Rounded).HideHeaders().Title($"tally learn — {Markup.Escape(o.Method.Name)}");
            t.AddColumn(""); t.AddColumn(new TableColumn("").RightAligned());
            t.AddRow("training tasks / workers / answers", $"{o.Answers.TaskCount:N0} / {o.Answers.WorkerCount:N0} / {o.Answers.AnswerCount:N0}");
            t.AddRow("features / classes", $"{o.Features.Dimension:N0} / {o.Answers.ClassCount}");
            t.AddRow("model", Markup.Escape(ModelSpec.Describe(o.Hidden)));
            t.AddRow("epochs run", o.Epochs.Length.ToString(CultureInfo.InvariantCulture));
            if (o.Result.Restarts is { } r)
            {
                var kept = r.Runs[r.Selected];
                t.AddRow("restarts", $"{r.Runs.Length} ({r.MergedWorkers} workers merged into groups)");
                t.AddRow($"kept run (highest {Markup.Escape(o.Method.SelectionCriterion ?? "criterion")})",
                    $"{r.Selected} ({kept.Start.ToString().ToLowerInvariant()} start), {kept.Criterion.ToString("0.0000", CultureInfo.InvariantCulture)}");
            }
            if (o.TrainAccuracy is double ta) t.AddRow("accuracy on training tasks", CliValues.Percent(ta) + "%");
            if (o.TestAccuracy is double te) t.AddRow("test accuracy", $"{CliValues.Percent(te)}% ({o.TestLabelled} tasks)");
            else if (o.TestProbabilities is not null) t.AddRow("test tasks predicted", o.TestTasks.Count.ToString("N0", CultureInfo.InvariantCulture));
            t.AddRow("seconds", o.TrainSeconds.ToString("0.00", CultureInfo.InvariantCulture));
            foreach (var w in written) t.AddRow("wrote", Markup.Escape(w));
            ctx.Out.Write(t);
            return 0;
        });
        return cmd;
    }

    /// <summary>Loss (and test accuracy) per epoch as a PNG; returns its path.</summary>
    private static string LearningCurve(string png, LearnOutcome o)
    {
        var x = o.Epochs.Select(l => (double)l.Epoch).ToArray();
        var series = new List<(string, double[], double[], double[]?, double[]?)> { ("training loss", x, o.Epochs.Select(l => l.Loss).ToArray(), null, null) };
        bool accuracy = o.Epochs[0].TestAccuracy is not null;
        if (accuracy) series.Add(("test accuracy", x, o.Epochs.Select(l => l.TestAccuracy ?? 0).ToArray(), null, null));
        Plots.Lines(png, $"tally learn — {o.Method.Name}", "epoch", accuracy ? "loss / accuracy" : "loss", series);
        return png;
    }

    public static Command CreatePredict(CliContext ctx)
    {
        var modelPath = new Argument<string>("MODEL") { Description = "A model.tlm written by 'tally learn'." };
        var featuresPath = new Argument<string>("FEATURES") { Description = "Features (CSV task,f0,f1,… with the model's feature columns, or sparse)." };
        var outDir = CommonOptions.Out($"{PredictJob.PredictionsTable}.csv or .json (task,label,p_<class>…); without it the predictions go to standard output");
        var outFormat = CommonOptions.Format("the predictions (in the --out folder or on standard output)");
        var format = FeatureFormatOption();
        var ids = new Option<string?>("--feature-ids") { Description = "Sparse features: file with one task id per line (default: rows are tasks 0, 1, …)." };
        var encoding = AnswerFormatOptions.EncodingOption("features and ids files");
        var cmd = new Command("predict", """
            Label new tasks with a model trained by 'tally learn' (rows in task order, as 'tally learn' writes them).

            Examples:
              tally learn --dataset music-genre --out runs/music
              tally predict runs/music/model.tlm data/music-genre/test-features.csv --out labels/
              tally predict model.tlm new.svm --features-format svmlight --feature-ids new-ids.txt --format json
            """) { modelPath, featuresPath, outDir, outFormat, format, ids, encoding };
        cmd.SetAction(p =>
        {
            var request = new PredictRequest
            {
                ModelPath = p.GetValue(modelPath)!,
                FeaturesPath = p.GetValue(featuresPath)!,
                Format = ParseFormat(p.GetValue(format)!),
                IdsPath = p.GetValue(ids),
                OutputDirectory = p.GetValue(outDir),
                OutputFormat = Specs.Choice<OutputFormat>(p.GetValue(outFormat)!, "Format"),
                Encoding = AnswerFormatOptions.Encoding(p, encoding),
            };
            var o = ctx.WithJobProgress(report => PredictJob.Run(request, report));
            if (o.Written is { } path) ctx.Error.WriteLine($"tally: wrote {o.Tasks.Count} predictions to {path}");
            else
            {
                using var buffer = new MemoryStream();
                o.WriteTo(buffer, request.OutputFormat);
                ctx.Out.Profile.Out.Writer.Write(System.Text.Encoding.UTF8.GetString(buffer.ToArray()));
            }
            return 0;
        });
        return cmd;
    }

    private static Option<string> FeatureFormatOption()
    {
        var option = new Option<string>("--features-format")
        {
            Description = "Features layout: csv (task,f0,f1,… with a header), ldac (LDA-C: 'N idx:value …' per line, 0-based), svmlight ('label idx:value …', 1-based), or auto (by extension: .ldac/.lda → ldac, .svm/.svmlight/.libsvm → svmlight, else csv).",
            DefaultValueFactory = _ => "auto",
        };
        option.AcceptOnlyFromAmong("auto", "csv", "ldac", "svmlight");
        return option;
    }

    private static FeatureFileFormat ParseFormat(string value) => value switch
    {
        "csv" => FeatureFileFormat.Csv,
        "ldac" => FeatureFileFormat.Ldac,
        "svmlight" => FeatureFileFormat.SvmLight,
        _ => FeatureFileFormat.Auto,
    };
}
