using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.HttpOverrides;

namespace Tally.Server;

/// <summary>
/// Running behind a reverse proxy: with <c>ASPNETCORE_FORWARDEDHEADERS_ENABLED=true</c> (ASP.NET Core's own switch) the
/// service takes the client address, scheme and path prefix from the proxy's <c>X-Forwarded-For</c>,
/// <c>X-Forwarded-Proto</c> and <c>X-Forwarded-Prefix</c> — so the failure limit counts real clients, cookies are
/// <c>Secure</c> behind TLS, and the dashboard's links carry the prefix. Off by default: the headers are trusted from any
/// sender, which is right only when every request comes through the proxy.
/// </summary>
internal static class ReverseProxy
{
    /// <summary>The environment variable that turns it on.</summary>
    public const string Variable = "ASPNETCORE_FORWARDEDHEADERS_ENABLED";

    /// <summary>Whether <see cref="Variable"/> is set to true or 1.</summary>
    public static bool Enabled => Environment.GetEnvironmentVariable(Variable) is { } v && (v == "1" || v.Equals("true", StringComparison.OrdinalIgnoreCase));

    /// <summary>Adds the forwarded-headers middleware first in the pipeline when enabled.</summary>
    public static void Use(WebApplication app)
    {
        if (!Enabled) return;
        var options = new ForwardedHeadersOptions
        {
            ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto | ForwardedHeaders.XForwardedPrefix,
        };
        // The proxy is whoever is in front (it may not be on loopback); enabling the switch says that it is trusted.
        options.KnownIPNetworks.Clear();
        options.KnownProxies.Clear();
        app.UseForwardedHeaders(options);
    }
}
