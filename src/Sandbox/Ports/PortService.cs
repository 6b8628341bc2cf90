using System.Globalization;
using System.Security.Cryptography;
using Sandbox.Backend;
using Sandbox.Durability;
using Sandbox.Links;
using Sandbox.Sessions;

namespace Sandbox.Ports;

/// <summary>
/// Preview ports: a server listening inside a session (a dev server, a notebook, an app) made reachable through this
/// server, one connection at a time carried by the engine into the sandbox's loopback. The session gets no network for
/// it: only this server reaches in, and nothing reaches out. A port must be exposed before it answers. Each preview is
/// served on an origin of its own (<see cref="PreviewHost"/>), opened by a <see cref="PreviewGrant"/>: the API token
/// never goes there.
/// </summary>
public sealed class PortService(SessionRegistry registry, ISandboxBackend backend, SessionJournal journal, LinkService links, TimeProvider time)
{
    // A preview grant is a signed link whose method is this (no file link has it) and whose path is the port.
    private const string PreviewMethod = "PREVIEW";

    /// <summary>Makes <paramref name="port"/> of the session reachable; returns the session.</summary>
    public async Task<SessionInfo> ExposeAsync(string sessionId, string owner, int port, CancellationToken ct)
    {
        Check(port);
        var session = registry.Get(sessionId, owner);
        session.EnsureUsable();
        session.ExposePort(port);
        journal.Record(session, "port", $"exposed {port}");
        // Saved with the session, so a restarted server serves the port again.
        await journal.PersistAsync(session, ct).ConfigureAwait(false);
        return session.ToInfo();
    }

    /// <summary>Stops <paramref name="port"/> from answering through this server.</summary>
    public async Task<SessionInfo> UnexposeAsync(string sessionId, string owner, int port, CancellationToken ct)
    {
        var session = registry.Get(sessionId, owner);
        if (!session.UnexposePort(port))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"Port {port} of session {session.Id} is not exposed.");
        }
        journal.Record(session, "port", $"unexposed {port}");
        await journal.PersistAsync(session, ct).ConfigureAwait(false);
        return session.ToInfo();
    }

    /// <summary>Throws unless <paramref name="port"/> of the caller's session is exposed.</summary>
    public void EnsureExposed(string sessionId, string owner, int port)
    {
        var session = registry.Get(sessionId, owner);
        session.EnsureUsable();
        session.EnsureExposed(port);
    }

    /// <summary>A connection to an exposed port of the session.</summary>
    public async Task<Stream> ConnectAsync(string sessionId, string owner, int port, CancellationToken ct)
    {
        var session = registry.Get(sessionId, owner);
        session.EnsureUsable();
        session.EnsureExposed(port);
        await registry.EnsureRunningAsync(session, ct).ConfigureAwait(false);
        session.Touch(DateTimeOffset.UtcNow);
        return await backend.ConnectPortAsync(session.ContainerId, port, ct).ConfigureAwait(false);
    }

    /// <summary>A grant that opens the preview of <paramref name="port"/> of the caller's session, and nothing else,
    /// until it expires.</summary>
    public PreviewGrant Grant(string sessionId, string owner, int port)
    {
        var session = registry.Get(sessionId, owner);
        session.EnsureUsable();
        session.EnsureExposed(port);
        var label = PreviewHost.Label(session.Id, port);
        var expiresAt = DateTimeOffset.FromUnixTimeSeconds((time.GetUtcNow() + links.PreviewGrantExpiry).ToUnixTimeSeconds());
        var claims = new LinkClaims(session.Id, owner, port.ToString(CultureInfo.InvariantCulture), PreviewMethod, expiresAt.ToUnixTimeSeconds(),
            Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12)), false);
        return new PreviewGrant(links.Sign(claims), session.Id, port, label, expiresAt);
    }

    /// <summary>The caller a grant acts for, when it is valid for the preview of <paramref name="port"/> of session
    /// <paramref name="sessionId"/>; throws <c>forbidden</c> (saying why) otherwise.</summary>
    public string Authorize(string grant, string sessionId, int port)
    {
        var claims = links.Verify(grant);
        if (claims is null || claims.Method != PreviewMethod)
        {
            throw new SandboxException(SandboxErrorCodes.Forbidden, "This preview grant is not valid. Open the preview again from the dashboard (or ask the API for a grant).");
        }
        if (claims.SessionId != sessionId || claims.Path != port.ToString(CultureInfo.InvariantCulture))
        {
            throw new SandboxException(SandboxErrorCodes.Forbidden, "This preview grant is for another preview.");
        }
        if (time.GetUtcNow().ToUnixTimeSeconds() >= claims.ExpiresAt)
        {
            throw new SandboxException(SandboxErrorCodes.Forbidden, "This preview grant has expired. Open the preview again from the dashboard (or ask the API for a new grant).");
        }
        return claims.Owner;
    }

    private static void Check(int port)
    {
        if (port is < 1 or > 65535)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "port must be between 1 and 65535.");
        }
    }
}
