using System.CommandLine;
using System.Diagnostics;
using Spectre.Console;
using Tally.Simulation;

namespace Tally.Cli;

/// <summary><c>tally simulate</c>: synthetic crowds.</summary>
internal static class SimulateCommand
{
    public static Command Create(CliContext ctx)
    {
        var cmd = new Command("simulate", """
            Generate synthetic crowd answers (with truth) from a generative model.

            Examples:
              tally simulate ds --tasks 1000 --workers 50 --per-task 5 --classes 3 --seed 1 --out sim.csv
              tally aggregate sim.csv --truth sim.truth.csv --method ds
            """);
        cmd.Add(CreateDs(ctx));
        return cmd;
    }

    private static Command CreateDs(CliContext ctx)
    {
        var d = new DawidSkeneScenario();
        var tasks = new Option<int>("--tasks") { Description = "Number of tasks.", DefaultValueFactory = _ => d.Tasks };
        var workers = new Option<int>("--workers") { Description = "Number of workers.", DefaultValueFactory = _ => d.Workers };
        var perTask = new Option<int>("--per-task") { Description = "Distinct workers per task.", DefaultValueFactory = _ => d.PerTask };
        var classes = new Option<int>("--classes") { Description = "Number of classes K.", DefaultValueFactory = _ => d.Classes };
        var accuracy = new Option<double>("--accuracy") { Description = "Mean worker accuracy.", DefaultValueFactory = _ => d.Accuracy };
        var spread = new Option<double>("--accuracy-spread") { Description = "Standard deviation of worker accuracy (Beta-distributed).", DefaultValueFactory = _ => d.AccuracySpread };
        var seed = new Option<int>("--seed", "-s") { Description = "Seed.", DefaultValueFactory = _ => 0 };
        var output = new Option<string>("--out", "-o") { Description = "Answers CSV to write (task,worker,label).", Required = true };
        var truthOut = new Option<string?>("--truth-out") { Description = "Truth CSV to write (default: beside --out, named <name>.truth.csv)." };
        var cmd = new Command("ds", """
            Answers from the Dawid-Skene model: uniform task classes; worker accuracy ~ Beta(mean, spread); errors spread
            over the other classes by a Dirichlet(1) draw per confusion row; each task answered by --per-task distinct workers.
            The file is streamed, so millions of answers need little memory.

            Examples:
              tally simulate ds --tasks 1000 --workers 50 --per-task 5 --classes 3 --seed 1 --out sim.csv
              tally simulate ds --tasks 2000000 --workers 1000 --per-task 5 --out big.csv --truth-out big-truth.csv
            """)
        { tasks, workers, perTask, classes, accuracy, spread, seed, output, truthOut };
        cmd.SetAction(p =>
        {
            var scenario = new DawidSkeneScenario
            {
                Tasks = p.GetValue(tasks), Workers = p.GetValue(workers), PerTask = p.GetValue(perTask), Classes = p.GetValue(classes),
                Accuracy = p.GetValue(accuracy), AccuracySpread = p.GetValue(spread), Seed = p.GetValue(seed),
            };
            scenario.Validate();
            string outPath = p.GetValue(output)!;
            string truthPath = p.GetValue(truthOut) ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(outPath))!,
                Path.GetFileNameWithoutExtension(outPath) + ".truth.csv");
            var clock = Stopwatch.StartNew();
            ctx.WithProgress("Simulating", report => { new DawidSkeneSimulator().WriteCsv(scenario, outPath, truthPath, report); return 0; });
            ctx.Out.MarkupLine(Markup.Escape($"wrote {(long)scenario.Tasks * scenario.PerTask:N0} answers to {outPath} and truth to {truthPath} in {clock.Elapsed.TotalSeconds:0.0} s"));
            return 0;
        });
        return cmd;
    }
}
