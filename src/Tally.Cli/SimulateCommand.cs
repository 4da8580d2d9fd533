using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Tally.Application;
using Tally.Core;
using Tally.Simulation;

namespace Tally.Cli;

/// <summary><c>tally simulate</c>: synthetic crowds.</summary>
internal static class SimulateCommand
{
    public static Command Create(CliContext ctx)
    {
        var cmd = new Command("simulate", """
            Generate synthetic crowd answers (with truth) from a generative model.

            Writes into the --out folder: answers.csv (task,worker,label) and truth.csv (task,truth), as the bundled datasets.

            Examples:
              tally simulate ds --tasks 1000 --workers 50 --per-task 5 --class-count 3 --seed 1 --out sim/
              tally aggregate sim/answers.csv --truth sim/truth.csv --method ds
              tally simulate sparse --alpha1 0.4 --alpha2 0.2 --spammers 2 --out sparse/
              tally simulate rowdy --adversaries 0.2 --adversary-strategy pattern --out rowdy/
              tally simulate crowd --server http://127.0.0.1:8080 --project p_123 --key KEY --careful 10 --noisy 10 --spammers 2
            """);
        cmd.Add(CreateDs(ctx));
        cmd.Add(CreateSparse(ctx));
        cmd.Add(CreateRowdy(ctx));
        cmd.Add(CreateCrowd(ctx));
        return cmd;
    }

    private static Option<string> OutOption() => new("--out", "-o") { Description = "Folder for answers.csv (task,worker,label) and truth.csv (task,truth); created if needed.", Required = true };

    private static Option<string> StrategyOption(AdversaryStrategy defaultValue)
    {
        var o = new Option<string>("--adversary-strategy")
        {
            Description = "What colluders answer: flip (truth + 1), constant (one class), random, or pattern (the same random class per task).",
            DefaultValueFactory = _ => Specs.Name(defaultValue),
        };
        o.AcceptOnlyFromAmong([.. Specs.Names<AdversaryStrategy>()]);
        return o;
    }

    private static int Run(CliContext ctx, SimulateRequest request)
    {
        var o = ctx.WithJobProgress(report => SimulateJob.Run(request, report));
        string who = o.Workers is { } w ? $" ({o.Tasks:N0} tasks, {w:N0} workers)" : $" ({o.Tasks:N0} tasks)";
        ctx.Out.MarkupLine(Markup.Escape($"wrote {o.Answers:N0} answers{who} to {o.AnswersPath} and truth to {o.TruthPath} in {o.Seconds:0.0} s"));
        return 0;
    }

    private static Command CreateSparse(CliContext ctx)
    {
        var d = new SparseCrowdScenario();
        var tasks = new Option<int>("--tasks") { Description = "Number of tasks.", DefaultValueFactory = _ => d.Tasks };
        var l = new Option<int>("--per-task") { Description = "l, workers per task.", DefaultValueFactory = _ => d.PerTask };
        var r = new Option<int>("--per-worker") { Description = "r, tasks per worker.", DefaultValueFactory = _ => d.PerWorker };
        var classes = new Option<int>("--class-count") { Description = "K.", DefaultValueFactory = _ => d.Classes };
        var a1 = new Option<double>("--alpha1") { Description = "Dirichlet weight of the correct answer.", DefaultValueFactory = _ => d.Alpha1 };
        var a2 = new Option<double>("--alpha2") { Description = "Dirichlet weight of each wrong answer.", DefaultValueFactory = _ => d.Alpha2 };
        var twoCoin = new Option<bool>("--two-coin") { Description = "Draw every confusion row from Dir(α1, α2…) instead of one accuracy per worker.", DefaultValueFactory = _ => !d.OneCoin };
        var spammers = new Option<int>("--spammers") { Description = "Extreme spammers added (each answers --spammer-share of all tasks at random).", DefaultValueFactory = _ => d.Spammers };
        var share = new Option<double>("--spammer-share") { Description = "Share of tasks each spammer answers.", DefaultValueFactory = _ => d.SpammerShare };
        var adv = new Option<double>("--adversaries") { Description = "Fraction α of regular workers who collude.", DefaultValueFactory = _ => d.AdversaryFraction };
        var strategy = StrategyOption(d.Adversary);
        var seed = new Option<int>("--seed", "-s") { Description = "Seed.", DefaultValueFactory = _ => d.Seed };
        var output = OutOption();
        var cmd = new Command("sparse", """
            A sparse crowd: random (l, r)-regular task-worker graph (Kim et al., AISTATS 2022, §4.1), worker confusions
            from a Dirichlet prior, optional extreme spammers and colluding adversaries.

            Examples:
              tally simulate sparse --alpha1 0.4 --alpha2 0.2 --seed 1 --out sparse/
              tally simulate sparse --spammers 3 --adversaries 0.1 --adversary-strategy pattern --out hard/
            """)
        { tasks, l, r, classes, a1, a2, twoCoin, spammers, share, adv, strategy, seed, output };
        cmd.SetAction(p =>
        {
            if (Given(p, share) && p.GetValue(spammers) == 0)
                throw new UsageException("--spammer-share applies to the extreme spammers; give --spammers N (N ≥ 1)");
            if (Given(p, strategy) && p.GetValue(adv) == 0)
                throw new UsageException("--adversary-strategy applies to colluding workers; give --adversaries FRACTION (above 0)");
            return Run(ctx, new SimulateRequest
        {
            Sparse = d with
            {
                Tasks = p.GetValue(tasks), PerTask = p.GetValue(l), PerWorker = p.GetValue(r), Classes = p.GetValue(classes),
                Alpha1 = p.GetValue(a1), Alpha2 = p.GetValue(a2), OneCoin = !p.GetValue(twoCoin), Spammers = p.GetValue(spammers),
                SpammerShare = p.GetValue(share), AdversaryFraction = p.GetValue(adv),
                Adversary = SimulateJob.ParseStrategy(p.GetValue(strategy)!), Seed = p.GetValue(seed),
            },
            OutputDirectory = p.GetValue(output)!,
        });
        });
        return cmd;
    }

    /// <summary>Whether the user gave <paramref name="option"/> (rather than it taking its default).</summary>
    private static bool Given(ParseResult p, Option option) => CommonOptions.Given(p, option);

    private static Command CreateRowdy(CliContext ctx)
    {
        var d = new AdversaryScenario();
        var tasks = new Option<int>("--tasks") { Description = "Number of tasks.", DefaultValueFactory = _ => d.Tasks };
        var workers = new Option<int>("--workers") { Description = "Number of workers.", DefaultValueFactory = _ => d.Workers };
        var perTask = new Option<int>("--per-task") { Description = "Distinct workers per task.", DefaultValueFactory = _ => d.PerTask };
        var classes = new Option<int>("--class-count") { Description = "K.", DefaultValueFactory = _ => d.Classes };
        var accuracy = new Option<double>("--accuracy") { Description = "Honest accuracy (Γ diagonal; errors spread evenly).", DefaultValueFactory = _ => d.Accuracy };
        var adv = new Option<double>("--adversaries") { Description = "Fraction α of colluding workers.", DefaultValueFactory = _ => d.AdversaryFraction };
        var strategy = StrategyOption(d.Strategy);
        var constant = new Option<int>("--constant-label") { Description = "Class index given by constant adversaries.", DefaultValueFactory = _ => d.ConstantLabel };
        var seed = new Option<int>("--seed", "-s") { Description = "Seed.", DefaultValueFactory = _ => d.Seed };
        var output = OutOption();
        var cmd = new Command("rowdy", """
            A rowdy crowd (Schoenebeck, Yu et al., WWW 2021): honest workers share one symmetric Dawid-Skene model, a
            fraction α collude on one strategy.

            Example:
              tally simulate rowdy --tasks 2000 --workers 400 --class-count 3 --adversaries 0.2 --adversary-strategy constant --out rowdy/
            """)
        { tasks, workers, perTask, classes, accuracy, adv, strategy, constant, seed, output };
        cmd.SetAction(p =>
        {
            if (Given(p, constant) && SimulateJob.ParseStrategy(p.GetValue(strategy)!) != AdversaryStrategy.Constant)
                throw new UsageException($"--constant-label applies to --adversary-strategy constant, not {p.GetValue(strategy)}");
            if (Given(p, strategy) && p.GetValue(adv) == 0)
                throw new UsageException("--adversary-strategy applies to colluding workers; give --adversaries FRACTION (above 0)");
            return Run(ctx, new SimulateRequest
        {
            Rowdy = d with
            {
                Tasks = p.GetValue(tasks), Workers = p.GetValue(workers), PerTask = p.GetValue(perTask), Classes = p.GetValue(classes),
                Accuracy = p.GetValue(accuracy), AdversaryFraction = p.GetValue(adv), Strategy = SimulateJob.ParseStrategy(p.GetValue(strategy)!),
                ConstantLabel = p.GetValue(constant), Seed = p.GetValue(seed),
            },
            OutputDirectory = p.GetValue(output)!,
        });
        });
        return cmd;
    }

    private static Command CreateDs(CliContext ctx)
    {
        var d = new DawidSkeneScenario();
        var tasks = new Option<int>("--tasks") { Description = "Number of tasks.", DefaultValueFactory = _ => d.Tasks };
        var workers = new Option<int>("--workers") { Description = "Number of workers.", DefaultValueFactory = _ => d.Workers };
        var perTask = new Option<int>("--per-task") { Description = "Distinct workers per task.", DefaultValueFactory = _ => d.PerTask };
        var classes = new Option<int>("--class-count") { Description = "Number of classes K.", DefaultValueFactory = _ => d.Classes };
        var accuracy = new Option<double>("--accuracy") { Description = "Mean worker accuracy.", DefaultValueFactory = _ => d.Accuracy };
        var spread = new Option<double>("--accuracy-spread") { Description = "Standard deviation of worker accuracy (Beta-distributed).", DefaultValueFactory = _ => d.AccuracySpread };
        var seed = new Option<int>("--seed", "-s") { Description = "Seed.", DefaultValueFactory = _ => d.Seed };
        var output = OutOption();
        var cmd = new Command("ds", """
            Answers from the Dawid-Skene model: uniform task classes; worker accuracy ~ Beta(mean, spread); errors spread
            over the other classes by a Dirichlet(1) draw per confusion row; each task answered by --per-task distinct workers.
            The file is streamed, so millions of answers need little memory.

            Examples:
              tally simulate ds --tasks 1000 --workers 50 --per-task 5 --class-count 3 --seed 1 --out sim/
              tally simulate ds --tasks 2000000 --workers 1000 --per-task 5 --out big/
            """)
        { tasks, workers, perTask, classes, accuracy, spread, seed, output };
        cmd.SetAction(p => Run(ctx, new SimulateRequest
        {
            DawidSkene = d with
            {
                Tasks = p.GetValue(tasks), Workers = p.GetValue(workers), PerTask = p.GetValue(perTask), Classes = p.GetValue(classes),
                Accuracy = p.GetValue(accuracy), AccuracySpread = p.GetValue(spread), Seed = p.GetValue(seed),
            },
            OutputDirectory = p.GetValue(output)!,
        }));
        return cmd;
    }

    private static Command CreateCrowd(CliContext ctx)
    {
        var d = new LiveCrowdOptions { Server = new Uri("http://127.0.0.1/"), Project = "", OwnerKey = "" };
        var server = new Option<string>("--server") { Description = "Address of a running 'tally serve', e.g. http://127.0.0.1:8080.", Required = true };
        var project = new Option<string>("--project") { Description = "The project to answer (its id, p_…).", Required = true };
        var key = new Option<string?>("--key") { Description = $"The project owner's (requester's) key; the crowd's workers are created with it (default: the {LiveCrowdJob.KeyVariable} environment variable)." };
        var truth = new Option<string?>("--truth", "-t") { Description = "Truth file (task,truth) the simulated workers answer from (default: a uniform random class per task, drawn from --seed)." };
        var replay = new Option<string?>("--replay") { Description = "Answers file (task,worker,label) to replay instead of simulated workers: one service worker per file worker, posting exactly its answers." };
        var careful = new Option<int>("--careful") { Description = "Careful workers (accuracy --careful-accuracy).", DefaultValueFactory = _ => d.Careful };
        var carefulAccuracy = new Option<double>("--careful-accuracy") { Description = "Mean accuracy of careful and late workers.", DefaultValueFactory = _ => d.CarefulAccuracy };
        var noisy = new Option<int>("--noisy") { Description = "Noisy workers (accuracy --noisy-accuracy).", DefaultValueFactory = _ => d.Noisy };
        var noisyAccuracy = new Option<double>("--noisy-accuracy") { Description = "Mean accuracy of noisy workers.", DefaultValueFactory = _ => d.NoisyAccuracy };
        var spread = new Option<double>("--accuracy-spread") { Description = "Standard deviation of worker accuracy around its kind's mean (Beta-distributed).", DefaultValueFactory = _ => d.AccuracySpread };
        var spammers = new Option<int>("--spammers") { Description = "Spammers (uniformly random answers).", DefaultValueFactory = _ => d.Spammers };
        var colluders = new Option<int>("--colluders") { Description = "Colluders, all following --colluder-strategy.", DefaultValueFactory = _ => d.Colluders };
        var strategy = new Option<string>("--colluder-strategy")
        {
            Description = "What colluders answer: flip (the class after the truth) or constant (the class --constant-label).",
            DefaultValueFactory = _ => Specs.Name(d.ColluderStrategy),
        };
        strategy.AcceptOnlyFromAmong([.. LiveCrowdJob.ColluderStrategies]);
        var constant = new Option<int>("--constant-label") { Description = "Class index (in the project's class order) given by constant colluders.", DefaultValueFactory = _ => d.ConstantLabel };
        var late = new Option<int>("--late") { Description = "Late answerers: careful workers who wait past the project's deadline before each answer.", DefaultValueFactory = _ => d.Late };
        var concurrency = new Option<int>("--concurrency") { Description = "Requests in flight at once.", DefaultValueFactory = _ => d.Concurrency };
        var budget = new Option<int?>("--answer-budget") { Description = "Most answers posted in all (default: no limit — until the service has no task left for any worker)." };
        var seed = CommonOptions.Seed("Seed of the workers' accuracies, their answers and the drawn truth (the same seed gives every worker the same answer to a task).");
        var cmd = new Command("crowd", $"""
            Drive a running 'tally serve' with a simulated crowd, over HTTP as real workers would: each worker is created
            with the owner's key, then asks for assignments and answers them (labels drawn from its kind's model given
            the task's truth) until the service has no task left for it or --answer-budget is spent. Workers are named
            careful-1, noisy-1, spammer-1, colluder-1, late-1, …; requests failing transiently are retried (answers
            with the same id, so each is stored once). With --replay, posts exactly the answers of a file instead.

            The key comes from --key, else from the {LiveCrowdJob.KeyVariable} environment variable.

            Examples:
              tally simulate crowd --server http://127.0.0.1:8080 --project p_123 --key KEY --careful 10 --noisy 10 --spammers 2
              TALLY_KEY=KEY tally simulate crowd --server http://127.0.0.1:8080 --project p_123 --replay data/dog/answers.csv
              tally simulate crowd --server http://127.0.0.1:8080 --project p_123 --truth truth.csv --careful 5 --colluders 3 --answer-budget 900
            """)
        { server, project, key, truth, replay, careful, carefulAccuracy, noisy, noisyAccuracy, spread, spammers, colluders, strategy, constant, late, concurrency, budget, seed };
        cmd.SetAction((p, ct) =>
        {
            string url = p.GetValue(server)!;
            if (!Uri.TryCreate(url.EndsWith('/') ? url : url + "/", UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
                throw new UsageException($"--server must be an http:// or https:// address (got {Quote.Value(url)})");
            string? owner = p.GetValue(key) ?? Environment.GetEnvironmentVariable(LiveCrowdJob.KeyVariable);
            if (string.IsNullOrWhiteSpace(owner))
                throw new UsageException($"give the project owner's key: --key KEY, or the {LiveCrowdJob.KeyVariable} environment variable");
            var colluderStrategy = LiveCrowdJob.ParseColluderStrategy(p.GetValue(strategy)!);
            if (Given(p, strategy) && p.GetValue(colluders) == 0)
                throw new UsageException("--colluder-strategy applies to colluders; give --colluders N (N ≥ 1)");
            if (Given(p, constant) && colluderStrategy != AdversaryStrategy.Constant)
                throw new UsageException($"--constant-label applies to --colluder-strategy constant, not {p.GetValue(strategy)}");
            if (p.GetValue(replay) is not null)
                foreach (var o in new Option[] { careful, carefulAccuracy, noisy, noisyAccuracy, spread, spammers, colluders, strategy, constant, late, truth })
                    if (Given(p, o)) throw new UsageException($"{o.Name} applies to simulated workers; --replay posts the file's answers");
            var options = d with
            {
                Server = uri, Project = p.GetValue(project)!, OwnerKey = owner.Trim(), TruthPath = p.GetValue(truth), ReplayPath = p.GetValue(replay),
                Careful = p.GetValue(careful), CarefulAccuracy = p.GetValue(carefulAccuracy), Noisy = p.GetValue(noisy), NoisyAccuracy = p.GetValue(noisyAccuracy),
                AccuracySpread = p.GetValue(spread), Spammers = p.GetValue(spammers), Colluders = p.GetValue(colluders), ColluderStrategy = colluderStrategy,
                ConstantLabel = p.GetValue(constant), Late = p.GetValue(late), Concurrency = p.GetValue(concurrency), AnswerBudget = p.GetValue(budget),
                Seed = p.GetValue(seed),
            };
            var result = ctx.WithJobProgress(report => LiveCrowdJob.Run(options, report, ct));
            PrintCrowd(ctx, options, result);
            return Task.FromResult(0);
        });
        return cmd;
    }

    private static void PrintCrowd(CliContext ctx, LiveCrowdOptions options, LiveCrowdResult r)
    {
        static string N(long n) => n.ToString("N0", CultureInfo.InvariantCulture);
        ctx.Out.MarkupLine(Markup.Escape($"project {options.Project} at {options.Server}"));
        var table = new Table().Border(TableBorder.Rounded);
        table.AddColumn("workers");
        table.AddColumn(new TableColumn("count").RightAligned());
        table.AddColumn(new TableColumn("answers").RightAligned());
        foreach (var k in r.Kinds) table.AddRow(Markup.Escape(Specs.Name(k.Kind)), N(k.Workers), N(k.Answers));
        table.AddRow("[bold]total[/]", $"[bold]{N(r.Workers)}[/]", $"[bold]{N(r.Answers)}[/]");
        ctx.Out.Write(table);
        var notes = new List<string>();
        if (r.LateAnswers > 0) notes.Add($"{N(r.LateAnswers)} late");
        if (r.Retries > 0) notes.Add($"{N(r.Retries)} requests retried, {N(r.Duplicates)} answers acknowledged as duplicates");
        if (r.BudgetReached) notes.Add($"stopped at the budget of {N(options.AnswerBudget!.Value)} answers");
        ctx.Out.MarkupLine(Markup.Escape($"{N(r.Answers)} answers in {r.Seconds:0.0} s ({r.AnswersPerSecond:0} answers/s){(notes.Count > 0 ? "; " + string.Join("; ", notes) : "")}"));
    }
}
