using Sandbox.Backend;
using Sandbox.Durability;
using Sandbox.Sessions;

namespace Sandbox.Ports;

/// <summary>
/// Preview ports: a server listening inside a session (a dev server, a notebook, an app) made reachable through this
/// server, one connection at a time carried by the engine into the sandbox's loopback. The session gets no network for
/// it: only this server reaches in, and nothing reaches out. A port must be exposed before it answers.
/// </summary>
public sealed class PortService(SessionRegistry registry, ISandboxBackend backend, SessionJournal journal)
{

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

    private static void Check(int port)
    {
        if (port is < 1 or > 65535)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "port must be between 1 and 65535.");
        }
    }
}
