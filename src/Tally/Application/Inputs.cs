using Tally.Core;

namespace Tally.Application;

/// <summary>
/// Where a job's answers come from: a file, or a bundled dataset (whose truth then comes along). Exactly one of the two.
/// </summary>
/// <param name="Path">An answers file (CSV/TSV with a header), or null.</param>
/// <param name="Dataset">A bundled dataset's name (see <see cref="BundledDatasets"/>), or null.</param>
/// <param name="What">What the file holds, for the messages ("answers", "reports").</param>
public sealed record InputSource(string? Path, string? Dataset, string What = "answers")
{
    /// <summary>The file to read, the truth file that comes with it (a dataset's, else null) and a name to show.</summary>
    /// <exception cref="TallyUserException">Both or neither given, or an unknown dataset.</exception>
    public (string Path, string? Truth, string Display) Resolve() => Resolve(AnswerType.Categorical);

    /// <summary>As <see cref="Resolve()"/>, for a job that reads answers of type <paramref name="type"/>: a bundled dataset of another type is refused.</summary>
    /// <exception cref="TallyUserException">Both or neither given, an unknown dataset, or a dataset of another answer type.</exception>
    public (string Path, string? Truth, string Display) Resolve(AnswerType type)
    {
        if (Dataset is not null)
        {
            if (Path is not null) throw new TallyUserException($"give either a {What.ToUpperInvariant()} file or --dataset, not both");
            var d = BundledDatasets.Get(Dataset);
            if (d.Type != type)
                throw new TallyUserException($"dataset {d.Name} holds {d.Type.ToString().ToLowerInvariant()} answers: read it with tally aggregate --type {d.Type.ToString().ToLowerInvariant()}");
            return (d.AnswersPath, d.TruthPath, "dataset " + d.Name);
        }
        if (Path is null) throw new TallyUserException($"no {What}: give a {What.ToUpperInvariant()} file or --dataset NAME");
        return (Path, null, Path);
    }
}

/// <summary>Checks on output locations, made before any work so a long run never ends in "cannot write".</summary>
public static class OutputChecks
{
    /// <summary>
    /// Proves that <paramref name="directory"/> can be written — by a probe file in it, or, when it does not exist yet,
    /// in the nearest existing folder above it (nothing is created: a run that fails later leaves no empty folder).
    /// </summary>
    /// <exception cref="TallyUserException">The folder (or its nearest existing parent) cannot be written, or a file is in the way.</exception>
    public static void WritableDirectory(string directory, string option = "--out")
    {
        string full = System.IO.Path.GetFullPath(directory);
        string? existing = full;
        while (existing is not null && !Directory.Exists(existing))
        {
            if (File.Exists(existing)) throw new TallyUserException($"{option} {Quote.Bare(directory)}: {Quote.Bare(existing)} is a file, not a folder");
            existing = System.IO.Path.GetDirectoryName(existing);
        }
        if (existing is null) throw new TallyUserException($"{option} {Quote.Bare(directory)}: no existing folder above it");
        string probe = System.IO.Path.Combine(existing, $".tally-write-probe-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            using (File.Create(probe, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The probe's name is ours, not the user's: the reason is told without it.
            throw new TallyUserException($"{option} {Quote.Bare(directory)}: cannot write in {Quote.Bare(existing)} ({FileErrors.Reason(e, probe)})");
        }
    }

    /// <summary>Checks that the folder of the file <paramref name="path"/> exists and is writable.</summary>
    /// <exception cref="TallyUserException">It does not, or is not.</exception>
    public static void WritableFile(string path, string option)
    {
        string folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        if (Directory.Exists(path)) throw new TallyUserException($"{option} {Quote.Bare(path)} is a folder; give a file name");
        if (!Directory.Exists(folder)) throw new TallyUserException($"{option} {Quote.Bare(path)}: the folder {Quote.Bare(folder)} does not exist");
        WritableDirectory(folder, option);
    }
}

/// <summary>A job's progress: which phase it is in and how far along (0–1) that phase is.</summary>
/// <param name="Phase">What is being done ("Reading answers", "Running ds").</param>
/// <param name="Fraction">Progress of the phase in [0, 1].</param>
public readonly record struct JobProgress(string Phase, double Fraction);
