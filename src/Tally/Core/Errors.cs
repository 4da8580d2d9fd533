namespace Tally.Core;

/// <summary>
/// A mistake the user can fix — bad input, an invalid option, a request that does not fit the data — as opposed to a
/// bug. Front ends print <see cref="Exception.Message"/> as one line and exit with a "bad input" code (2 for the CLI,
/// a 4xx problem for the server); any other exception is an internal error.
/// </summary>
public class TallyUserException : Exception
{
    /// <summary>Creates the error with a message fit to show the user as it is.</summary>
    public TallyUserException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>An option of an algorithm or job has a value it cannot work with.</summary>
public sealed class InvalidOptionException : TallyUserException
{
    /// <summary>Creates the error for option <paramref name="option"/> (its property name, e.g. <c>MaxIterations</c>).</summary>
    public InvalidOptionException(string option, string problem)
        : base($"{option} {problem}")
    {
        Option = option;
        Problem = problem;
    }

    /// <summary>The option's property name (<c>MaxIterations</c>); front ends map it to their own spelling.</summary>
    public string Option { get; }
    /// <summary>What is wrong, without the option name (e.g. "must be at least 0 (got -1)").</summary>
    public string Problem { get; }
}

/// <summary>Checks shared by every options record's <c>Validate()</c>; each throws <see cref="InvalidOptionException"/>.</summary>
public static class Check
{
    /// <summary>Requires <paramref name="value"/> ≥ <paramref name="min"/>.</summary>
    public static void AtLeast(int value, int min, string option)
    {
        if (value < min) throw new InvalidOptionException(option, $"must be at least {min} (got {value})");
    }

    /// <summary>Requires a finite <paramref name="value"/> ≥ <paramref name="min"/>.</summary>
    public static void AtLeast(double value, double min, string option)
    {
        if (!double.IsFinite(value) || value < min)
            throw new InvalidOptionException(option, $"must be a finite number of at least {NumberFormat.Number(min)} (got {NumberFormat.Number(value)})");
    }

    /// <summary>Requires a finite <paramref name="value"/>.</summary>
    public static void Finite(double value, string option)
    {
        if (!double.IsFinite(value)) throw new InvalidOptionException(option, $"must be a finite number (got {NumberFormat.Number(value)})");
    }

    /// <summary>Requires a finite <paramref name="value"/> &gt; <paramref name="min"/>.</summary>
    public static void Above(double value, double min, string option)
    {
        if (!double.IsFinite(value) || !(value > min))
            throw new InvalidOptionException(option, $"must be a finite number above {NumberFormat.Number(min)} (got {NumberFormat.Number(value)})");
    }

    /// <summary>Requires <paramref name="min"/> ≤ <paramref name="value"/> ≤ <paramref name="max"/> (and finite).</summary>
    public static void InRange(double value, double min, double max, string option)
    {
        if (!(value >= min && value <= max))
            throw new InvalidOptionException(option, $"must be between {NumberFormat.Number(min)} and {NumberFormat.Number(max)} (got {NumberFormat.Number(value)})");
    }

    /// <summary>Requires <paramref name="min"/> ≤ <paramref name="value"/> ≤ <paramref name="max"/>.</summary>
    public static void InRange(int value, int min, int max, string option)
    {
        if (value < min || value > max)
            throw new InvalidOptionException(option, $"must be between {min} and {max} (got {value})");
    }

    /// <summary>Requires a non-null value.</summary>
    public static T NotNull<T>(T? value, string option) where T : class =>
        value ?? throw new InvalidOptionException(option, "must be set");

    /// <summary>Requires an enum value that is defined.</summary>
    public static void Defined<T>(T value, string option) where T : struct, Enum
    {
        if (!Enum.IsDefined(value)) throw new InvalidOptionException(option, $"has no value {value}");
    }
}
