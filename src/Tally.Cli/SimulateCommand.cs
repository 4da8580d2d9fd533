using System.CommandLine;
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
            """);
        cmd.Add(CreateDs(ctx));
        cmd.Add(CreateSparse(ctx));
        cmd.Add(CreateRowdy(ctx));
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
}
