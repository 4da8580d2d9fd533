using Tally.Application;
using Tally.Catalogs;
using System.CommandLine;
using System.Globalization;
using System.Text;
using Spectre.Console;
using Tally.Aggregation;
using Tally.Core;
using Tally.Learning;

namespace Tally.Cli;

/// <summary><c>tally learn</c> and <c>tally predict</c>: train a classifier from crowd answers and task features.</summary>
internal static class LearnCommand
{
    public static Command Create(CliContext ctx)
    {
        var answers = new Option<string?>("--answers", "-a") { Description = "Crowd answers (task,worker,label)." };
        var features = new Option<string?>("--features", "-f") { Description = "Features of the training tasks (CSV: task,f0,f1,…; header required)." };
        var testFeatures = new Option<string?>("--test-features") { Description = "Features of held-out tasks to predict (same columns)." };
        var testTruth = new Option<string?>("--test-truth") { Description = "True labels of the held-out tasks (task,truth) to report test accuracy." };
        var dataset = new Option<string?>("--dataset", "-d") { Description = "Use a bundled dataset with features (music-genre) for all four files." };
        var method = new Option<string>("--method", "-m") { Description = "Method: " + string.Join(", ", CrowdLearnerCatalog.All.Select(m => m.Name)), DefaultValueFactory = _ => "maxmig" };
        var model = new Option<string?>("--model") { Description = "Classifier: linear (softmax regression) or mlp:WIDTH[,WIDTH…] (ReLU MLP); default: the method's (see above)." };
        var learningRate = new Option<double?>("--learning-rate") { Description = "Adam step of the classifier; default: the method's." };
        var epochs = new Option<int?>("--epochs", "-e") { Description = "Training epochs (per round for the alternating methods); default: the method's." };
        var seed = new Option<int>("--seed", "-s") { Description = "Seed for initialisation, shuffling and dropout.", DefaultValueFactory = _ => 0 };
        var outDir = new Option<string?>("--out", "-o") { Description = "Directory for model.tlm, predictions.csv, train-posteriors.csv, epochs.csv and learning-curve.png." };
        var format = FeatureFormatOption();
        var ids = new Option<string?>("--feature-ids") { Description = "Sparse features: file with one task id per line for the training rows (default: rows are tasks 0, 1, …)." };
        var testIds = new Option<string?>("--test-ids") { Description = "Sparse features: file with one task id per line for the test rows." };
        var cmd = new Command("learn", """
            Train a classifier directly from noisy crowd answers and task features, jointly with a model of the workers
            where the method has one. The model can then label new tasks with 'tally predict'.

            Methods:
            """ + "\n" + string.Join("\n", CrowdLearnerCatalog.All.Select(m => $"  {m.Name,-11} {m.Description} ({m.Reference}; default model {m.DefaultModel})")) + """


            Examples:
              tally learn --dataset music-genre --method maxmig --out runs/maxmig
              tally learn --answers answers.csv --features features.csv --test-features test.csv --method deepbp --model linear --out runs/bp
              tally predict runs/bp/model.tlm new-features.csv --out new-labels.csv
            """)
        { answers, features, testFeatures, testTruth, dataset, method, model, epochs, learningRate, seed, outDir, format, ids, testIds };
        cmd.SetAction(p =>
        {
            var info = CrowdLearnerCatalog.Find(p.GetValue(method)!)
                ?? throw new UsageException($"unknown method '{p.GetValue(method)}' (known: {string.Join(", ", CrowdLearnerCatalog.All.Select(m => m.Name))})");
            string? answersPath = p.GetValue(answers), featuresPath = p.GetValue(features);
            string? testPath = p.GetValue(testFeatures), truthPath = p.GetValue(testTruth), trainTruthPath = null;
            if (p.GetValue(dataset) is { } ds)
            {
                if (answersPath is not null || featuresPath is not null || testPath is not null || truthPath is not null)
                    throw new UsageException("give either --dataset or the --answers/--features files, not both");
                var b = BundledDatasets.Get(ds);
                answersPath = b.AnswersPath;
                featuresPath = b.File("train-features.csv");
                testPath = b.File("test-features.csv");
                truthPath = b.File("test-truth.csv");
                trainTruthPath = b.TruthPath;
            }
            if (answersPath is null || featuresPath is null) throw new UsageException("give --answers and --features (or --dataset NAME)");
            if (truthPath is not null && testPath is null) throw new UsageException("--test-truth needs --test-features");
            if (p.GetValue(epochs) is < 1) throw new UsageException("--epochs must be at least 1");
            if (p.GetValue(learningRate) is double lr && !(lr > 0 && double.IsFinite(lr))) throw new UsageException("--learning-rate must be a positive number");
            string modelSpec = p.GetValue(model) ?? info.DefaultModel;
            System.Collections.Immutable.ImmutableArray<int> hidden;
            try { hidden = ModelSpec.HiddenLayers(modelSpec); }
            catch (ArgumentException e) { throw new UsageException("--model: " + e.Message); }

            var build = ctx.WithProgress("Reading answers", r => AnswerFiles.ReadAnswers(answersPath, null, r));
            if (build.DroppedDuplicates > 0) ctx.Notice($"{build.DroppedDuplicates} repeated (task, worker) answers dropped (the last one is kept)");
            var matrix = build.Matrix;
            // Kept apart from the matrix: gold on the matrix would be clamped by the methods, i.e. leak the truth.
            GoldLabels? trainTruth = trainTruthPath is null ? null : AnswerFiles.ReadTruth(trainTruthPath, matrix).Labels;
            string fmt = p.GetValue(format)!;
            var table = ReadFeatures(featuresPath, fmt, p.GetValue(ids), null);
            var data = new CrowdTrainingSet { Answers = matrix, Features = table.Align(matrix) };
            FeatureTable? test = testPath is null ? null : ReadFeatures(testPath, fmt, p.GetValue(testIds), table.Dimension);
            if (test is not null && test.Dimension != table.Dimension)
                throw new TallyDataException(testPath!, 1, $"has {test.Dimension} feature columns but the training features have {table.Dimension}");
            int[]? testLabels = truthPath is null ? null : AnswerFiles.ReadTruth(truthPath, test!.Tasks, matrix.Classes.Names);
            double[][]? testRows = test?.ToArray();

            var settings = new LearnerSettings { Hidden = hidden, Epochs = p.GetValue(epochs), LearningRate = p.GetValue(learningRate), Seed = p.GetValue(seed) };
            var learner = info.Create(settings);
            var log = new List<(int Epoch, double Loss, double? TestAccuracy)>();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var result = ctx.WithProgress($"Training with {info.Name}", report =>
                learner.Learn(data, ctx.Compute, new SyncProgress<EpochReport>(e =>
                {
                    double? acc = null;
                    if (testRows is not null && testLabels is not null) acc = LearningEvaluation.Accuracy(e.Model.PredictProbabilities(testRows), testLabels);
                    log.Add((e.Epoch, e.Loss, acc));
                    report((double)e.Epoch / Math.Max(1, e.Epochs));
                })));
            double seconds = clock.Elapsed.TotalSeconds;
            var learned = new LearnedModel { Method = info.Name, Classes = [.. matrix.Classes.Names], FeatureNames = [.. table.Columns], Classifier = result.Classifier };

            double? trainAcc = null;
            if (trainTruth is { } gold) trainAcc = LearningEvaluation.Accuracy(result.Posteriors, gold);
            double[][]? testProbs = testRows is null ? null : result.Classifier.PredictProbabilities(testRows);
            double? testAcc = testProbs is not null && testLabels is not null ? LearningEvaluation.Accuracy(testProbs, testLabels) : null;

            var written = new List<string>();
            if (p.GetValue(outDir) is { } dir)
            {
                Directory.CreateDirectory(dir);
                written.Add(AtomicFile.Write(Path.Combine(dir, "model.tlm"), learned.Save));
                written.Add(AtomicFile.WriteText(Path.Combine(dir, "train-posteriors.csv"), w => PredictionFile.Write(w, matrix.Tasks.Names, matrix.Classes.Names, result.Posteriors)));
                if (test is not null && testProbs is not null)
                    written.Add(AtomicFile.WriteText(Path.Combine(dir, "predictions.csv"), w => PredictionFile.Write(w, test.Tasks, matrix.Classes.Names, testProbs)));
                written.Add(AtomicFile.WriteText(Path.Combine(dir, "epochs.csv"), w =>
                {
                    w.WriteLine(testLabels is null ? "epoch,loss" : "epoch,loss,test_accuracy");
                    foreach (var (ep, loss, acc) in log)
                        w.WriteLine(acc is double a ? $"{ep},{CliValues.Number(loss)},{CliValues.Number(a)}" : $"{ep},{CliValues.Number(loss)}");
                }));
                if (log.Count > 0)
                {
                    string png = Path.Combine(dir, "learning-curve.png");
                    var x = log.Select(l => (double)l.Epoch).ToArray();
                    var series = new List<(string, double[], double[], double[]?, double[]?)> { ("training loss", x, log.Select(l => l.Loss).ToArray(), null, null) };
                    if (testLabels is not null) series.Add(("test accuracy", x, log.Select(l => l.TestAccuracy ?? 0).ToArray(), null, null));
                    Plots.Lines(png, $"tally learn — {info.Name}", "epoch", testLabels is null ? "loss" : "loss / accuracy", series);
                    written.Add(png);
                }
            }

            var t = new Table().Border(TableBorder.Rounded).HideHeaders().Title($"tally learn — {Markup.Escape(info.Name)}");
            t.AddColumn(""); t.AddColumn(new TableColumn("").RightAligned());
            t.AddRow("training tasks / workers / answers", $"{matrix.TaskCount:N0} / {matrix.WorkerCount:N0} / {matrix.AnswerCount:N0}");
            t.AddRow("features / classes", $"{table.Dimension:N0} / {matrix.ClassCount}");
            t.AddRow("model", Markup.Escape(hidden.Length == 0 ? "linear (softmax regression)" : "mlp " + string.Join("-", hidden)));
            t.AddRow("epochs run", log.Count.ToString(CultureInfo.InvariantCulture));
            if (trainAcc is double ta) t.AddRow("accuracy on training tasks", CliValues.Percent(ta) + "%");
            if (testAcc is double te) t.AddRow("test accuracy", $"{CliValues.Percent(te)}% ({testLabels!.Count(l => l >= 0)} tasks)");
            else if (test is not null) t.AddRow("test tasks predicted", test.Count.ToString("N0", CultureInfo.InvariantCulture));
            t.AddRow("seconds", seconds.ToString("0.00", CultureInfo.InvariantCulture));
            foreach (var w in written) t.AddRow("wrote", Markup.Escape(w));
            ctx.Out.Write(t);
            return 0;
        });
        return cmd;
    }

    public static Command CreatePredict(CliContext ctx)
    {
        var modelPath = new Argument<string>("MODEL") { Description = "A model.tlm written by 'tally learn'." };
        var featuresPath = new Argument<string>("FEATURES") { Description = "Features CSV (task,f0,f1,…) with the model's feature columns." };
        var outPath = new Option<string?>("--out", "-o") { Description = "Write predictions (task,label,p_<class>…) to this file instead of standard output." };
        var format = FeatureFormatOption();
        var ids = new Option<string?>("--feature-ids") { Description = "Sparse features: file with one task id per line (default: rows are tasks 0, 1, …)." };
        var cmd = new Command("predict", "Label new tasks with a model trained by 'tally learn'.") { modelPath, featuresPath, outPath, format, ids };
        cmd.SetAction(p =>
        {
            string path = p.GetValue(modelPath)!;
            LearnedModel model;
            if (!File.Exists(path)) throw new TallyDataException(path, 0, "file not found");
            try { model = LearnedModel.Load(path); }
            catch (InvalidDataException e) { throw new TallyDataException(path, 0, e.Message); }
            var table = ReadFeatures(p.GetValue(featuresPath)!, p.GetValue(format)!, p.GetValue(ids), model.FeatureNames.Length);
            if (table.Dimension != model.FeatureNames.Length)
                throw new TallyDataException(p.GetValue(featuresPath)!, 1, $"has {table.Dimension} feature columns but the model was trained on {model.FeatureNames.Length}");
            var probs = model.Classifier.PredictProbabilities(table.ToArray());
            if (p.GetValue(outPath) is { } o)
            {
                AtomicFile.WriteText(o, w => PredictionFile.Write(w, table.Tasks, model.Classes, probs));
                ctx.Error.WriteLine($"tally: wrote {table.Count} predictions to {o}");
            }
            else
            {
                var sw = new StringWriter { NewLine = "\n" };
                PredictionFile.Write(sw, table.Tasks, model.Classes, probs);
                ctx.Out.Profile.Out.Writer.Write(sw.ToString());
            }
            return 0;
        });
        return cmd;
    }

    private static Option<string> FeatureFormatOption() => new("--features-format")
    {
        Description = "Features layout: csv (task,f0,f1,… with a header), ldac (LDA-C: 'N idx:value …' per line, 0-based), svmlight ('label idx:value …', 1-based), or auto (by extension: .ldac/.lda → ldac, .svm/.svmlight/.libsvm → svmlight, else csv).",
        DefaultValueFactory = _ => "auto",
    };

    /// <summary>Reads a features file in the chosen layout; sparse files take their width from the training file when known.</summary>
    private static FeatureTable ReadFeatures(string path, string format, string? idsPath, int? dimension)
    {
        string f = format.ToLowerInvariant();
        if (f == "auto")
        {
            string ext = Path.GetExtension(path).ToLowerInvariant();
            f = ext is ".ldac" or ".lda" ? "ldac" : ext is ".svm" or ".svmlight" or ".libsvm" ? "svmlight" : "csv";
        }
        if (f != "csv" && f != "ldac" && f != "svmlight") throw new UsageException($"--features-format must be csv, ldac, svmlight or auto (got '{format}')");
        if (f == "csv")
        {
            if (idsPath is not null) throw new UsageException("task ids files apply to sparse features only (a CSV names its tasks)");
            return FeatureFiles.ReadCsv(path);
        }
        return FeatureFiles.ReadSparse(path, new SparseFeatureOptions(
            f == "ldac" ? SparseLeadingToken.Count : SparseLeadingToken.Label, OneBased: f == "svmlight", Dimension: dimension, IdsPath: idsPath));
    }
}
