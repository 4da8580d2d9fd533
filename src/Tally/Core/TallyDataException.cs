namespace Tally.Core;

/// <summary>
/// Bad input: names the source (file), the 1-based line (0 when the problem is not on one line) and what was
/// wrong, so a front end can print one line and exit instead of showing a stack trace.
/// </summary>
public sealed class TallyDataException : TallyUserException
{
    /// <summary>Creates the error.</summary>
    public TallyDataException(string source, long line, string problem, Exception? inner = null)
        : base(line > 0 ? $"{source}:{line}: {problem}" : $"{source}: {problem}", inner)
    {
        Source = source;
        Line = line;
        Problem = problem;
    }

    /// <summary>The file (or stream name) that was read.</summary>
    public new string Source { get; }
    /// <summary>1-based line number, or 0.</summary>
    public long Line { get; }
    /// <summary>What was wrong, without the location.</summary>
    public string Problem { get; }
}
