using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Tally.Server.Storage;

namespace Tally.Server;

/// <summary>A refusal in HTTP terms, turned into an RFC 9457 problem response by the endpoints.</summary>
/// <param name="status">The HTTP status (400, 401, 403, 404, 409, 413, 422, 429).</param>
/// <param name="title">A short, fixed summary of the kind of problem.</param>
/// <param name="detail">What was wrong with this request, in the caller's terms.</param>
public sealed class ApiException(int status, string title, string detail) : Exception(detail)
{
    /// <summary>The HTTP status.</summary>
    public int Status { get; } = status;
    /// <summary>The problem's title.</summary>
    public string Title { get; } = title;
    /// <summary>Extra members of the problem document (e.g. the invalid fields).</summary>
    public IDictionary<string, object?> Extensions { get; } = new Dictionary<string, object?>();

    /// <summary>400: the request cannot be read (malformed JSON, wrong types).</summary>
    public static ApiException BadRequest(string detail) => new(400, "Bad request", detail);
    /// <summary>401: no key, an unknown key or a revoked key.</summary>
    public static ApiException Unauthorized(string detail = "a valid key is needed: send 'Authorization: Bearer KEY'") => new(401, "Unauthorized", detail);
    /// <summary>403: the key is valid but its role may not do this.</summary>
    public static ApiException Forbidden(string detail) => new(403, "Forbidden", detail);
    /// <summary>404: no such resource visible to the caller.</summary>
    public static ApiException NotFound(string detail) => new(404, "Not found", detail);
    /// <summary>409: the request conflicts with the state (a closed round, an expired assignment).</summary>
    public static ApiException Conflict(string detail) => new(409, "Conflict", detail);
    /// <summary>422: well-formed but invalid (unknown task or class, a bad field).</summary>
    public static ApiException Invalid(string detail) => new(422, "Unprocessable content", detail);
}

/// <summary>Who is calling: an admin, a requester, or a worker of one project.</summary>
/// <param name="Id">The principal's id.</param>
/// <param name="ProjectId">The worker's project; empty for admins and requesters.</param>
/// <param name="Role"><see cref="Roles"/>.</param>
/// <param name="Name">The name given when it was created.</param>
public sealed record Principal(string Id, string ProjectId, string Role, string Name)
{
    /// <summary>Whether this is an admin.</summary>
    public bool IsAdmin => Role == Roles.Admin;
    /// <summary>Whether this is a requester.</summary>
    public bool IsRequester => Role == Roles.Requester;
    /// <summary>Whether this is a worker.</summary>
    public bool IsWorker => Role == Roles.Worker;
}

/// <summary>The three roles.</summary>
public static class Roles
{
    /// <summary>Creates requesters; sees everything.</summary>
    public const string Admin = "admin";
    /// <summary>Creates projects and their workers; sees only their own projects.</summary>
    public const string Requester = "requester";
    /// <summary>Answers one project's tasks; sees only their own assignments, answers, payments and reputation.</summary>
    public const string Worker = "worker";
}

/// <summary>
/// Keys: 256 random bits, shown once, stored only as their SHA-256 hash (a key has full entropy, so a plain hash is
/// enough and lets a key be found by an index); the hash found is compared with the presented one in constant time.
/// Lookups are cached for a few seconds (revocation clears the cache of this process). Failed attempts are limited
/// per client address.
/// </summary>
public sealed class KeyRing
{
    private readonly Database _db;
    private readonly ConcurrentDictionary<string, (Principal? Who, long Until)> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (int Count, long WindowStart)> _failures = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;

    /// <summary>Failed attempts allowed per client address and minute before further failures get 429 (default 30).</summary>
    public int FailuresPerMinute { get; }

    /// <summary>A key ring over <paramref name="db"/>.</summary>
    public KeyRing(Database db, TimeProvider time, int failuresPerMinute = 30)
    {
        _db = db;
        _time = time;
        FailuresPerMinute = failuresPerMinute;
    }

    /// <summary>A new random key (<c>tally_</c> + 43 base64url characters).</summary>
    public static string NewKey() => "tally_" + Base64Url(RandomNumberGenerator.GetBytes(32));

    /// <summary>A new random id with a prefix (<c>p_…</c>, <c>w_…</c>).</summary>
    public static string NewId(string prefix) => prefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    /// <summary>The stored form of a key.</summary>
    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>Forgets cached lookups (after a revocation).</summary>
    public void Invalidate() => _cache.Clear();

    /// <summary>The principal of <paramref name="key"/>, or a 401/429 problem.</summary>
    /// <param name="key">The presented key (null: none).</param>
    /// <param name="client">The client's address, for rate limiting failures.</param>
    public Principal Authenticate(string? key, string client)
    {
        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        // An address over its failure budget gets 429 for every further failure (valid keys behind the same address
        // keep working): guessing is cut to a trickle, nobody is locked out. A 256-bit key cannot be guessed anyway;
        // the limit keeps floods of bad keys from costing more than an index lookup each.
        Principal? who = null;
        if (!string.IsNullOrEmpty(key))
        {
            string hash = Hash(key);
            if (_cache.TryGetValue(hash, out var cached) && cached.Until > now) who = cached.Who;
            else
            {
                who = Lookup(hash);
                _cache[hash] = (who, now + 2_000);
            }
        }
        if (who is not null) return who;
        throw Failed(client, string.IsNullOrEmpty(key) ? null : "the key is not known or has been revoked");
    }

    /// <summary>
    /// Counts a failed attempt of <paramref name="client"/> (a bad key, an unknown enrolment token) and returns the
    /// problem to answer with: 401 with <paramref name="detail"/>, or 429 once the address is over its budget.
    /// </summary>
    public ApiException Failed(string client, string? detail)
    {
        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        bool limited = _failures.TryGetValue(client, out var f) && now - f.WindowStart < 60_000 && f.Count >= FailuresPerMinute;
        Fail(client, now);
        if (limited)
            return new ApiException(429, "Too many requests", $"too many failed authentications from this address; wait {Math.Max(1, (60_000 - (now - f.WindowStart)) / 1000)} s");
        return detail is null ? ApiException.Unauthorized() : ApiException.Unauthorized(detail);
    }

    private void Fail(string client, long now) =>
        _failures.AddOrUpdate(client, _ => (1, now), (_, old) => now - old.WindowStart >= 60_000 ? (1, now) : (old.Count + 1, old.WindowStart));

    private Principal? Lookup(string hash)
    {
        using var c = _db.Open();
        var rows = c.Query(null,
            """
            SELECT k.key_hash, p.id, p.project_id, p.role, p.name FROM api_keys k JOIN principals p ON p.id = k.principal_id
            WHERE k.key_hash = @h AND k.revoked_at IS NULL AND p.revoked_at IS NULL
            """,
            r => (Hash: r.GetString(0), Who: new Principal(r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4))), ("h", hash));
        if (rows.Count != 1) return null;
        // The index found it; the comparison that decides is in constant time all the same.
        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(rows[0].Hash), Encoding.ASCII.GetBytes(hash)) ? rows[0].Who : null;
    }
}
