using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Durability;
using Sandbox.Backend;
using Sandbox.Pool;
using Sandbox.Storage;

namespace Sandbox.Sessions;

/// <summary>
/// How sessions end: closed by their caller, by idle timeout or lifetime (the reaper), or all at once at shutdown. The
/// capabilities that keep something per session hear of it (<see cref="ISessionCloseListener"/>) before and after the
/// sandbox is removed; the record is written last.
/// </summary>
public sealed partial class SessionCloser(SessionRegistry registry, WarmPool pool, ISandboxBackend backend, SessionJournal journal,
    IEnumerable<ISessionCloseListener> closeListeners, IEnumerable<ISessionClosingWork> closingWork, IOptions<SandboxOptions> options, TimeProvider time, ILogger<SessionCloser> logger)
{
    private readonly SessionRegistry _registry = registry;
    private readonly WarmPool _pool = pool;
    private readonly ISandboxBackend _backend = backend;
    private readonly SessionJournal _journal = journal;
    private readonly IEnumerable<ISessionCloseListener> _closeListeners = closeListeners;
    private readonly SandboxOptions _options = options.Value;
    private readonly TimeProvider _time = time;
    private readonly ILogger _logger = logger;

    /// <summary>Closes a session: its sandbox and workspace are removed, even if the sandbox is already gone.</summary>
    public async Task CloseAsync(Session session, string why, CancellationToken ct)
    {
        if (!_registry.TryRemove(session))
        {
            return;
        }
        session.MarkClosed();
        foreach (var listener in _closeListeners)
        {
            listener.OnClosing(session, "The session was closed (" + why + ")");
        }
        if (session.Runner is { } runner)
        {
            await runner.DisposeAsync().ConfigureAwait(false);
        }
        foreach (var work in closingWork)
        {
            // Bounded on its own: saving a large volume back may take longer than a removal, never forever.
            using var saving = CancellationTokenSource.CreateLinkedTokenSource(ct);
            saving.CancelAfter(TimeSpan.FromMinutes(5));
            try
            {
                await work.BeforeRemoveAsync(session, saving.Token).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                // The session closes whatever the work met (its own log says what was lost).
                LogClosingWorkFailed(_logger, session.Id, e.GetType().Name, e.Message);
            }
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        await _backend.RemoveSandboxAsync(session.Id, timeout.Token).ConfigureAwait(false);
        foreach (var listener in _closeListeners)
        {
            await listener.OnClosedAsync(session, timeout.Token).ConfigureAwait(false);
        }
        await _journal.PersistAsync(session, CancellationToken.None).ConfigureAwait(false);
        _journal.Record(session, "closed", why);
        LogClosed(_logger, session.Id, why);
    }

    /// <summary>Closes sessions idle past their timeout or older than the maximum lifetime. Returns how many.</summary>
    public async Task<int> ReapAsync(CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        var closed = 0;
        foreach (var session in _registry.All)
        {
            var why = session.ExpiredBecause(now);
            if (why is null)
            {
                continue;
            }
            try
            {
                await CloseAsync(session, why, ct).ConfigureAwait(false);
                closed++;
            }
            catch (SandboxException e)
            {
                LogReapFailed(_logger, session.Id, e.Code);
            }
        }
        return closed;
    }

    /// <summary>Closes every session and empties the warm pool.</summary>
    public async Task CloseAllAsync(string why, CancellationToken ct)
    {
        await _pool.DrainAsync(ct).ConfigureAwait(false);
        foreach (var session in _registry.All)
        {
            await CloseAsync(session, why, ct).ConfigureAwait(false);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId} closed: {Reason}")]
    private static partial void LogClosed(ILogger logger, string sessionId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Closing session {SessionId}: work before its removal failed ({Type}: {Error})")]
    private static partial void LogClosingWorkFailed(ILogger logger, string sessionId, string type, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: reaping failed ({Code})")]
    private static partial void LogReapFailed(ILogger logger, string sessionId, string code);
}
