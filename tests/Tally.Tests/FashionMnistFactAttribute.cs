namespace Tally.Tests;

/// <summary>
/// A test that needs the real Fashion-MNIST files (<see cref="FashionMnist.TryLocate()"/>). Where they are absent the
/// test is skipped with a reason saying how to get them: <c>dotnet test</c> never installs system packages. CI
/// (<c>.ci/run</c>) installs the data and sets <see cref="RequireVariable"/>, and then a missing data set is a failure,
/// not a skip, so the tests can never silently stop running there.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class FashionMnistFactAttribute : FactAttribute
{
    /// <summary>Environment variable that, set to 1, turns a missing data set from a skip into a failure.</summary>
    public const string RequireVariable = "TALLY_REQUIRE_FASHION_MNIST";

    /// <summary>Skips the test when the data is missing, unless <see cref="RequireVariable"/> is 1.</summary>
    public FashionMnistFactAttribute()
    {
        if (SkipReason(FashionMnist.TryLocate() is not null, Environment.GetEnvironmentVariable(RequireVariable)) is { } reason)
            Skip = reason;
    }

    /// <summary>Why to skip (null = run): only when the data is missing and not required.</summary>
    /// <param name="found">Whether the four files were found.</param>
    /// <param name="require">The value of <see cref="RequireVariable"/>.</param>
    public static string? SkipReason(bool found, string? require) =>
        found || Required(require) ? null : "Fashion-MNIST is not installed: " + FashionMnist.InstallHint;

    /// <summary>Whether <paramref name="require"/> (the value of <see cref="RequireVariable"/>) asks for the data.</summary>
    public static bool Required(string? require) => require is "1" or "true";

    /// <summary>The real files; a failure that names the missing data when it is required (CI) but absent.</summary>
    public static FashionMnistFiles Files() =>
        FashionMnist.TryLocate() ?? throw new Xunit.Sdk.XunitException(
            $"Fashion-MNIST is required ({RequireVariable}=1) but not found: " + FashionMnist.InstallHint);
}
