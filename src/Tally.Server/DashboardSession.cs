using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Tally.Server;

/// <summary>
/// The dashboard's sign-in session and form tokens, both stateless so that any replica of the service can serve any
/// request and nothing new is stored.
/// <list type="bullet">
/// <item><b>Session</b>: signing in with a key puts that key in an <c>HttpOnly</c>, <c>SameSite=Strict</c> cookie
/// (<c>Secure</c> when the request came over HTTPS), scoped to the dashboard's path and ending with the browser. Every
/// request authenticates it through the same <see cref="KeyRing.Authenticate"/> as a bearer key — the same principal,
/// role, failure limit and revocation (a revoked key ends its sessions).</item>
/// <item><b>Antiforgery</b>: every form carries a token, HMAC-SHA256 of the signed-in session (or of no session, on the
/// sign-in form) under a random per-browser secret kept in a second <c>HttpOnly</c>, <c>SameSite=Strict</c> cookie. A
/// post is refused unless its token is the one its cookies give (compared in constant time): another site can neither
/// read the token nor compute it, and a cookie planted from elsewhere does not match the victim's session.</item>
/// </list>
/// </summary>
internal static class DashboardSession
{
    /// <summary>The session cookie: the signed-in key.</summary>
    public const string SessionCookie = "tally_session";
    /// <summary>The per-browser secret the form tokens are computed from.</summary>
    public const string FormCookie = "tally_form";
    /// <summary>The hidden form field that carries the token.</summary>
    public const string TokenField = "_token";

    private const string NewSecretItem = "tally.form-secret";

    private static CookieOptions Options(HttpContext ctx) => new()
    {
        HttpOnly = true,
        SameSite = SameSiteMode.Strict,
        Secure = ctx.Request.IsHttps,
        Path = DashboardRoutes.Path(ctx, "/ui"),
        IsEssential = true,
    };

    /// <summary>The signed-in principal, or null (no session, or its key no longer valid — then the cookie is dropped).</summary>
    /// <exception cref="ApiException">429: too many failed authentications from this address.</exception>
    public static Principal? Caller(HttpContext ctx, TallyService service)
    {
        string? key = ctx.Request.Cookies[SessionCookie];
        if (string.IsNullOrEmpty(key)) return null;
        try
        {
            return service.Keys.Authenticate(key, Client(ctx));
        }
        catch (ApiException e) when (e.Status == 401)
        {
            ctx.Response.Cookies.Delete(SessionCookie, Options(ctx));
            return null;
        }
    }

    /// <summary>The client's address, for the failure limit.</summary>
    public static string Client(HttpContext ctx) => ctx.Connection.RemoteIpAddress?.ToString() ?? "unknown";

    /// <summary>Starts a session with an authenticated key.</summary>
    public static void SignIn(HttpContext ctx, string key) => ctx.Response.Cookies.Append(SessionCookie, key, Options(ctx));

    /// <summary>Ends the session.</summary>
    public static void SignOut(HttpContext ctx) => ctx.Response.Cookies.Delete(SessionCookie, Options(ctx));

    /// <summary>The token for a form on this page (setting the browser's secret cookie if it has none).</summary>
    public static string FormToken(HttpContext ctx)
    {
        string? secret = ctx.Items[NewSecretItem] as string ?? ctx.Request.Cookies[FormCookie];
        if (!IsSecret(secret))
        {
            secret = Base64Url(RandomNumberGenerator.GetBytes(32));
            ctx.Items[NewSecretItem] = secret;
            ctx.Response.Cookies.Append(FormCookie, secret, Options(ctx));
        }
        return Token(secret!, ctx.Request.Cookies[SessionCookie]);
    }

    /// <summary>Whether the posted form carries the token its cookies give.</summary>
    public static bool ValidToken(HttpContext ctx, IFormCollection form)
    {
        string? secret = ctx.Request.Cookies[FormCookie];
        string? posted = form[TokenField];
        if (!IsSecret(secret) || string.IsNullOrEmpty(posted)) return false;
        var expected = Encoding.ASCII.GetBytes(Token(secret!, ctx.Request.Cookies[SessionCookie]));
        var given = Encoding.UTF8.GetBytes(posted);
        return CryptographicOperations.FixedTimeEquals(expected, given);
    }

    private static bool IsSecret(string? s) => s is { Length: 43 } && s.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    private static string Token(string secret, string? session)
    {
        // The session enters as its hash: the token page never carries anything the key could be recovered from.
        string bound = session is null ? "" : KeyRing.Hash(session);
        return Base64Url(HMACSHA256.HashData(Encoding.ASCII.GetBytes(secret), Encoding.UTF8.GetBytes("tally-form\n" + bound)));
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
