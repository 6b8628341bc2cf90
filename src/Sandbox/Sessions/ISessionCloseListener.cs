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

/// <summary>Work that needs a closing session's sandbox still there (saving a volume back). <see cref="SessionCloser"/>
/// runs it after <see cref="ISessionCloseListener.OnClosing"/> and before the sandbox is removed; a failure there is the
/// work's own to report, never a reason to keep the sandbox.</summary>
public interface ISessionClosingWork
{
    /// <summary>Runs while the session's sandbox still exists.</summary>
    Task BeforeRemoveAsync(Session session, CancellationToken ct);
}
