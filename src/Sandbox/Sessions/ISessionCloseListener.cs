namespace Sandbox.Sessions;

/// <summary>A capability that holds something of a session's (an agent run, its network) and must let go of it when
/// the session closes. <see cref="SessionService"/> calls every registered listener.</summary>
public interface ISessionCloseListener
{
    /// <summary>Before the sandbox is removed: stop what runs in it, saying why.</summary>
    void OnClosing(Session session, string reason);

    /// <summary>After the sandbox is removed: remove what belonged to it.</summary>
    Task OnClosedAsync(Session session, CancellationToken ct);
}
