using System.Diagnostics;
using System.Globalization;
using Tally.Core;
using Tally.Learning;

namespace Tally.Bench;

/// <summary>
/// `learn METHOD [TASKS=700] [FEATURES=124] [WORKERS=44] [K=10] [EPOCHS=50] [HIDDEN=128] [PER_TASK=5]`: times one joint
/// learning-from-crowds run (maxmig, crowdlayer or conal, batch 64) on synthetic Gaussian blobs with a Dawid-Skene-style crowd
/// (worker accuracies 0.5–0.9, wrong answers uniform), after a small warm-up run so the JIT is not timed. Prints
/// method,tasks,features,workers,classes,epochs,hidden,answers,seconds,train_accuracy.
/// </summary>
internal static class LearningBench
{
    public static int Run(string[] args)
    {
        string method = args[1];
        int Arg(int i, int fallback) => args.Length > i ? int.Parse(args[i], CultureInfo.InvariantCulture) : fallback;
        int tasks = Arg(2, 700), features = Arg(3, 124), workers = Arg(4, 44), k = Arg(5, 10), epochs = Arg(6, 50),
            hidden = Arg(7, 128), perTask = Arg(8, 5);
        var (data, truth) = Generate(tasks, features, workers, k, perTask, 1);
        ICrowdLearner Create(int e) => method switch
        {
            "maxmig" => new MaxMig(new MaxMigOptions { Network = new DenseNetworkOptions { Hidden = [hidden] }, Epochs = e, BatchSize = 64 }),
            "crowdlayer" => new CrowdLayer(new CrowdLayerOptions { Network = new DenseNetworkOptions { Hidden = [hidden] }, Epochs = e, BatchSize = 64 }),
            "conal" => new CoNal(new CoNalOptions { Network = new DenseNetworkOptions { Hidden = [hidden] }, Epochs = e, BatchSize = 64 }),
            _ => throw new ArgumentException($"Unknown learner '{method}'."),
        };
        Create(2).Learn(Generate(200, features, workers, k, perTask, 2).Data);
        GC.Collect();
        var clock = Stopwatch.StartNew();
        var result = Create(epochs).Learn(data);
        double seconds = clock.Elapsed.TotalSeconds;
        int hits = 0;
        for (int t = 0; t < tasks; t++)
        {
            var row = result.Posteriors.Row(t);
            int arg = 0;
            for (int c = 1; c < k; c++) if (row[c] > row[arg]) arg = c;
            if (arg == truth[t]) hits++;
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{method},{tasks},{features},{workers},{k},{epochs},{hidden},{data.Answers.AnswerCount},{seconds:0.000},{hits / (double)tasks:0.0000}"));
        return 0;
    }

    private static (CrowdTrainingSet Data, int[] Truth) Generate(int n, int d, int workers, int k, int perTask, int seed)
    {
        var (x, y, crowd) = Blobs(n, d, workers, k, perTask, n, seed);
        var answers = LabelMatrix.FromTriples(n, workers, k, [.. crowd.Select(a => a.Task)], [.. crowd.Select(a => a.Worker)], [.. crowd.Select(a => a.Label)]);
        return (new CrowdTrainingSet { Answers = answers, Features = x }, y);
    }

    /// <summary>
    /// Gaussian blobs (class means 0.5·N(0, 1) per feature, unit noise; class of each row uniform) and a crowd of
    /// <paramref name="workers"/> with accuracies uniform in [0.5, 0.9], <paramref name="perTask"/> distinct workers on
    /// each of the first <paramref name="answeredTasks"/> rows, a wrong answer uniform over the other classes. Shared by
    /// the learning and the service-learner benches.
    /// </summary>
    internal static (double[][] X, int[] Y, List<(int Task, int Worker, int Label)> Answers) Blobs(int n, int d, int workers, int k, int perTask, int answeredTasks, int seed)
    {
        var rng = new Random(seed);
        var means = new double[k][];
        for (int c = 0; c < k; c++) { means[c] = new double[d]; for (int j = 0; j < d; j++) means[c][j] = 0.5 * Normal(rng); }
        var x = new double[n][];
        var y = new int[n];
        for (int i = 0; i < n; i++)
        {
            y[i] = rng.Next(k);
            x[i] = new double[d];
            for (int j = 0; j < d; j++) x[i][j] = means[y[i]][j] + Normal(rng);
        }
        var acc = new double[workers];
        for (int w = 0; w < workers; w++) acc[w] = 0.5 + 0.4 * rng.NextDouble();
        var answers = new List<(int, int, int)>();
        var pick = new int[workers];
        for (int w = 0; w < workers; w++) pick[w] = w;
        for (int t = 0; t < answeredTasks; t++)
        {
            for (int i = workers - 1; i > 0; i--) { int j = rng.Next(i + 1); (pick[i], pick[j]) = (pick[j], pick[i]); }
            for (int a = 0; a < Math.Min(perTask, workers); a++)
                answers.Add((t, pick[a], rng.NextDouble() < acc[pick[a]] ? y[t] : (y[t] + 1 + rng.Next(k - 1)) % k));
        }
        return (x, y, answers);
    }

    private static double Normal(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
