using Tally.Application;
using Spectre.Console;
using Tally.Core;

namespace Tally.Cli;

/// <summary>A usage error the user can fix (bad option value, conflicting options); exit code 2.</summary>
internal sealed class UsageException(string message) : TallyUserException(message);

/// <summary>Where a command writes: tables and results to <see cref="Out"/>, errors and notices to <see cref="Error"/>.</summary>
internal sealed class CliContext(IAnsiConsole output, TextWriter error, bool interactive)
{
    public IAnsiConsole Out { get; } = output;
    public TextWriter Error { get; } = error;
    public bool Interactive { get; } = interactive;
    /// <summary>How much of the machine the library may use (<c>--threads</c>); set before a command runs.</summary>
    public ComputeOptions Compute { get; set; } = ComputeOptions.Default;

    public void Notice(string message) => Error.WriteLine("tally: " + message);

    /// <summary>
    /// Runs a job; if it is still running after about a second and the terminal is interactive, shows a progress bar
    /// with the job's current phase and how far along it is.
    /// </summary>
    public T WithJobProgress<T>(Func<IProgress<JobProgress>, T> work)
    {
        string phase = "Working";
        double fraction = 0;
        var gate = new object();
        var task = Task.Run(() => work(new Tally.Application.SyncProgress<JobProgress>(p =>
        {
            lock (gate) { phase = p.Phase; fraction = Math.Clamp(p.Fraction, 0, 1); }
        })));
        if (task.Wait(TimeSpan.FromSeconds(1)) || !Interactive) return task.GetAwaiter().GetResult();
        Out.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var bar = ctx.AddTask(phase, maxValue: 1.0);
                while (!task.Wait(100))
                    lock (gate) { bar.Description = Markup.Escape(phase); bar.Value = fraction; }
                bar.Value = 1.0;
            });
        return task.GetAwaiter().GetResult();
    }

    /// <summary>
    /// Runs <paramref name="work"/>; if it is still running after about a second and the terminal is interactive,
    /// shows a progress bar fed by the fraction (0..1) the work reports.
    /// </summary>
    public T WithProgress<T>(string description, Func<Action<double>, T> work)
    {
        double fraction = 0;
        var task = Task.Run(() => work(f => Volatile.Write(ref fraction, Math.Clamp(f, 0, 1))));
        if (task.Wait(TimeSpan.FromSeconds(1)) || !Interactive) return task.GetAwaiter().GetResult();
        Out.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var bar = ctx.AddTask(description, maxValue: 1.0);
                while (!task.Wait(100)) bar.Value = Volatile.Read(ref fraction);
                bar.Value = 1.0;
            });
        return task.GetAwaiter().GetResult();
    }
}


/// <summary>Shared parsing of command-line values.</summary>
internal static class CliValues
{
    /// <summary>The command-line spelling of a library option: <c>MaxIterations</c> → <c>--max-iterations</c>.</summary>
    public static string OptionName(string property)
    {
        var b = new System.Text.StringBuilder("--");
        for (int i = 0; i < property.Length; i++)
        {
            char c = property[i];
            if (char.IsUpper(c) && i > 0) b.Append('-');
            b.Append(char.ToLowerInvariant(c));
        }
        return b.ToString();
    }

    public static DuplicatePolicy ParseDuplicates(string value) => value.ToLowerInvariant() switch
    {
        "keep-last" or "last" => DuplicatePolicy.KeepLast,
        "keep-first" or "first" => DuplicatePolicy.KeepFirst,
        "keep-all" or "all" => DuplicatePolicy.KeepAll,
        "error" => DuplicatePolicy.Error,
        _ => throw new UsageException($"--duplicates must be keep-last, keep-first, keep-all or error (got '{value}')"),
    };

    /// <summary>Parses --prior (the language is the application layer's: <see cref="Specs.Prior"/>).</summary>
    public static Tally.Aggregation.WorkerPrior? ParsePrior(string? value) => Specs.Prior(value);

    /// <summary>A number for a CSV file: shortest round-trip form; a non-finite value is a bug and throws (<see cref="NumberFormat.Finite"/>).</summary>
    public static string Number(double x) => NumberFormat.Finite(x);

    public static string Percent(double x) => (100 * x).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture);
    public static string Fixed(double x, string format = "0.###") => x.ToString(format, System.Globalization.CultureInfo.InvariantCulture);
}
