using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using Sandbox.Files;
using Sandbox.Sessions;

namespace Sandbox.Links;

/// <summary>A link handed out for one file.</summary>
/// <param name="Token">The signed token (the URL is <c>/links/{token}/{path}</c>).</param>
/// <param name="Path">Workspace-relative path.</param>
/// <param name="Method"><c>GET</c> or <c>PUT</c>.</param>
/// <param name="ExpiresAt">When it stops working.</param>
/// <param name="SingleUse">Whether it works once.</param>
public sealed record FileLink(string Token, string Path, string Method, DateTimeOffset ExpiresAt, bool SingleUse)
{
    /// <summary>The link's path on this server (prefix it with the server's address).</summary>
    public string RelativeUrl => UrlUnder("/links/");

    /// <summary>The path of a volume's link on this server (<see cref="LinkService.CreateForVolume"/>).</summary>
    public string VolumeRelativeUrl => UrlUnder("/volume-links/");

    private string UrlUnder(string root) => root + Token + "/" + string.Join('/', Path.Split('/').Select(Uri.EscapeDataString));
}

/// <summary>What a valid link lets its bearer do.</summary>
/// <param name="SessionId">The session.</param>
/// <param name="Owner">The caller the link acts for.</param>
/// <param name="Path">The one path.</param>
public sealed record LinkGrant(string SessionId, string Owner, string Path);

/// <summary>
/// Short-lived links to one file of one session, for data too big for a tool argument: signed with the server's key
/// (HMAC-SHA256), expiring, bound to a session, a path and a method, optionally single use. They work without the
/// bearer token (whoever holds the link may use it, like any presigned URL) and die with their session, their expiry,
/// or the key.
/// </summary>
public sealed class LinkService(SessionRegistry registry, Storage.ISessionStore store, IOptions<LinkOptions> options,
    IOptions<Durability.DurabilityOptions> durability, TimeProvider time)
{
    private readonly Storage.ISessionStore _store = store;
    private readonly LinkOptions _options = options.Value;
    private readonly Lazy<LinkSigner> _signer = new(() => LinkSigner.FromKeyFile(KeyFile(options.Value, durability.Value)));

    private static string KeyFile(LinkOptions options, Durability.DurabilityOptions durability) => string.IsNullOrEmpty(options.KeyFile)
        ? Path.Combine(durability.ResolveDataDirectory(), "link-key")
        : options.KeyFile;

    /// <summary>A link to <paramref name="path"/> of the caller's session.</summary>
    public FileLink Create(string sessionId, string owner, string path, string method, TimeSpan? expires, bool singleUse)
    {
        var session = registry.Get(sessionId, owner);
        session.EnsureUsable();
        var verb = Verb(method);
        return Issue(session.Id, owner, WorkspacePath.Normalize(path, allowRoot: verb == "GET"), verb, verb, expires, singleUse);
    }

    private static string Verb(string? method)
    {
        var verb = (method ?? "GET").ToUpperInvariant();
        return verb is "GET" or "PUT" ? verb : throw new SandboxException(SandboxErrorCodes.InvalidArgument, "method must be GET (download) or PUT (upload).");
    }

    // Signs a link's claims: claimed is the method the token names (a volume link's has a prefix of its own), verb the HTTP one.
    private FileLink Issue(string subject, string owner, string relative, string verb, string claimed, TimeSpan? expires, bool singleUse)
    {
        var life = expires ?? _options.DefaultExpiry;
        if (life <= TimeSpan.Zero || life > _options.MaxExpiry)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"expires_seconds must be between 1 and {_options.MaxExpiry.TotalSeconds}.");
        }
        var claims = new LinkClaims(subject, owner, relative, claimed, (time.GetUtcNow() + life).ToUnixTimeSeconds(),
            Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12)), singleUse);
        return new FileLink(_signer.Value.Sign(claims), relative, verb, DateTimeOffset.FromUnixTimeSeconds(claims.ExpiresAt), singleUse);
    }

    /// <summary>The session a valid (signed, unexpired) token is for, or null; nothing else is checked. A cluster uses it
    /// to send the request to the node holding the session (the nodes share <see cref="LinkOptions.KeyFile"/>).</summary>
    public LinkGrant? Peek(string token)
    {
        var claims = _signer.Value.Verify(token);
        return claims is null || time.GetUtcNow().ToUnixTimeSeconds() >= claims.ExpiresAt ? null : new LinkGrant(claims.SessionId, claims.Owner, claims.Path);
    }

    /// <summary>What the token lets a request with <paramref name="method"/> on <paramref name="path"/> do; throws
    /// <c>forbidden</c> when it lets it do nothing. A single-use link's use is recorded in the store, so it is used once
    /// across restarts and on every server sharing the store.</summary>
    public async Task<LinkGrant> RedeemAsync(string token, string method, string path, CancellationToken ct)
    {
        // Only file links open files (a preview grant or a volume link is signed with the same key but opens only its own).
        var claims = Check(token, method, path, "");
        if (!registry.TryFind(claims.SessionId, out var session) || session.Owner != claims.Owner || session.Status is SessionStatus.Closed or SessionStatus.Lost)
        {
            throw Refused("This link's session is gone.");
        }
        await UseAsync(claims, method, ct).ConfigureAwait(false);
        return new LinkGrant(claims.SessionId, claims.Owner, claims.Path);
    }

    // The checks every link kind shares: signed, of this kind (its method's prefix), unexpired, for this method and path.
    private LinkClaims Check(string token, string method, string path, string kind)
    {
        var claims = _signer.Value.Verify(token) ?? throw Refused("This link is not valid.");
        if (time.GetUtcNow().ToUnixTimeSeconds() >= claims.ExpiresAt)
        {
            throw Refused("This link has expired; ask for a new one.");
        }
        if (claims.Method != kind + "GET" && claims.Method != kind + "PUT")
        {
            throw Refused("This link is not valid.");
        }
        var verb = method == "HEAD" ? "GET" : method;
        if (!string.Equals(kind + verb, claims.Method, StringComparison.Ordinal))
        {
            throw Refused($"This link is for {claims.Method[kind.Length..]} only.");
        }
        if (!string.Equals(path.Trim('/'), claims.Path, StringComparison.Ordinal))
        {
            throw Refused("This link is for another path.");
        }
        return claims;
    }

    // A single-use link is used once across restarts and servers (HEAD does not use it).
    private async Task UseAsync(LinkClaims claims, string method, CancellationToken ct)
    {
        if (claims.SingleUse && method != "HEAD"
            && !await _store.UseLinkOnceAsync(claims.Nonce, DateTimeOffset.FromUnixTimeSeconds(claims.ExpiresAt), ct).ConfigureAwait(false))
        {
            throw Refused("This single-use link was used already.");
        }
    }

    // A volume link's claims: the volume in place of the session, and a method of its own, so a volume link never opens a
    // session's file and a file link never opens a volume's.
    private const string VolumePrefix = "volume:";
    private const string VolumeKind = "VOLUME-";

    /// <summary>A link to file <paramref name="path"/> of the caller's volume <paramref name="volume"/> (GET downloads,
    /// PUT uploads), served at <c>/volume-links/{token}/{path}</c>.</summary>
    public FileLink CreateForVolume(string volume, string owner, string path, string method, TimeSpan? expires, bool singleUse)
    {
        var verb = Verb(method);
        return Issue(VolumePrefix + volume, owner, WorkspacePath.Normalize(path), verb, VolumeKind + verb, expires, singleUse);
    }

    /// <summary>The volume, owner and path a volume link lets a request with <paramref name="method"/> on
    /// <paramref name="path"/> reach; <c>forbidden</c> otherwise (the volume itself is checked by its service).</summary>
    public async Task<(string Volume, string Owner, string Path)> RedeemForVolumeAsync(string token, string method, string path, CancellationToken ct)
    {
        var claims = Check(token, method, path, VolumeKind);
        if (!claims.SessionId.StartsWith(VolumePrefix, StringComparison.Ordinal))
        {
            throw Refused("This link is not valid.");
        }
        await UseAsync(claims, method, ct).ConfigureAwait(false);
        return (claims.SessionId[VolumePrefix.Length..], claims.Owner, claims.Path);
    }

    /// <summary>Signs claims with the server's link key (preview grants use it too).</summary>
    internal string Sign(LinkClaims claims) => _signer.Value.Sign(claims);

    /// <summary>The claims of a token signed with the server's link key, or null.</summary>
    internal LinkClaims? Verify(string token) => _signer.Value.Verify(token);

    /// <summary>How long a preview grant lives.</summary>
    internal TimeSpan PreviewGrantExpiry => _options.PreviewGrantExpiry;

    private static SandboxException Refused(string message) => new(SandboxErrorCodes.Forbidden, message);
}
