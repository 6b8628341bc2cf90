using Microsoft.Extensions.Logging;
using Sandbox.Durability;
using Microsoft.Extensions.Options;
using Sandbox.Backend;
using Sandbox.Isolation;
using Sandbox.Pool;
using Sandbox.Storage;

namespace Sandbox.Sessions;

/// <summary>
/// Sessions themselves: create (from the warm pool when it fits), look up, list, pause, resume, close, and the idle
/// and lifetime expiry. Sessions are isolated by owner: another caller's session id behaves like an unknown one.
/// </summary>
public sealed partial class SessionService(SessionRegistry registry, SessionCreator creator, SessionCloser closer, IsolationPolicy isolation,
    ISandboxBackend backend, SessionJournal journal, Egress.EgressService egress, IOptions<SandboxOptions> options)
{
    private readonly IsolationPolicy _isolation = isolation;
    private readonly SandboxOptions _options = options.Value;

    /// <summary>Number of live sessions of all callers.</summary>
    public int Count => registry.Count;

    /// <summary>Creates a session: one hardened sandbox with a bounded workspace and a running interpreter.</summary>
    public Task<SessionInfo> CreateAsync(SessionSpec spec, string owner, CancellationToken ct) => creator.CreateAsync(spec, owner, ct);

    /// <summary>Makes <paramref name="count"/> new sessions with a copy of a running session's workspace (same image,
    /// limits, tier and network list). Their Python interpreters start fresh: files are copied, memory is not.</summary>
    public Task<IReadOnlyList<SessionInfo>> ForkAsync(string sessionId, string owner, int count, CancellationToken ct) =>
        creator.ForkAsync(sessionId, owner, count, ct);

    /// <inheritdoc cref="SessionCreator.RestartAsync"/>
    public Task<SessionInfo> RestartAsync(string sessionId, string owner, CancellationToken ct) => creator.RestartAsync(sessionId, owner, ct);

    /// <summary>The caller's session.</summary>
    public SessionInfo Get(string sessionId, string owner) => registry.Get(sessionId, owner).ToInfo();

    /// <summary>The caller's sessions, newest first.</summary>
    public IReadOnlyList<SessionInfo> List(string owner, IReadOnlyDictionary<string, string>? metadata = null) =>
        registry.All.Where(s => s.Owner == owner && SessionSettings.Matches(s.Metadata, metadata)).Select(s => s.ToInfo())
            .OrderByDescending(s => s.CreatedAt).ToList();

    /// <summary>Replaces a session's metadata and/or environment (null leaves one as it is). A new environment reaches
    /// every execution, process and terminal started from now on; the Python interpreter restarts with it (its
    /// variables are lost) before the next execution.</summary>
    public async Task<SessionInfo> UpdateAsync(string sessionId, string owner, IReadOnlyDictionary<string, string>? metadata,
        IReadOnlyDictionary<string, string>? env, CancellationToken ct)
    {
        var session = registry.Get(sessionId, owner);
        session.EnsureUsable();
        var newMetadata = metadata is null ? null : SessionSettings.Metadata(metadata);
        var newEnv = env is null ? null : SessionSettings.Env(env);
        if (newEnv is not null)
        {
            var before = session.Env;
            session.Env = newEnv;
            try
            {
                await registry.EnsureRunningAsync(session, ct).ConfigureAwait(false);
                await egress.ApplyEnvironmentAsync(session, ct).ConfigureAwait(false);
            }
            catch
            {
                session.Env = before;
                throw;
            }
        }
        if (newMetadata is not null)
        {
            session.Metadata = newMetadata;
        }
        await journal.PersistAsync(session, ct).ConfigureAwait(false);
        return session.ToInfo();
    }

    /// <summary>Every live session of every caller (for tests and administration; not exposed to callers).</summary>
    public IReadOnlyList<SessionInfo> ListAll() => registry.All.Select(s => s.ToInfo()).ToList();

    /// <summary>Engine reachability, image presence and session count.</summary>
    public async Task<SandboxHealth> GetHealthAsync(CancellationToken ct)
    {
        var engine = await backend.GetEngineStatusAsync(ct).ConfigureAwait(false);
        IReadOnlyList<ImageStatus> images = engine.Reachable
            ? await backend.GetImageStatusAsync(ct).ConfigureAwait(false)
            : _options.Images.Select(kv => new ImageStatus(kv.Key, kv.Value, false, null, null)).ToList();
        var isolation = engine.Reachable ? await _isolation.RefreshAsync(ct).ConfigureAwait(false) : _isolation.Status();
        return new SandboxHealth(engine, images, registry.Count, isolation);
    }

    /// <summary>The caller's session history (audit log), oldest first.</summary>
    public async Task<IReadOnlyList<HistoryEntry>> GetHistoryAsync(string sessionId, string owner, int limit, CancellationToken ct)
    {
        var session = registry.Get(sessionId, owner);
        return await journal.Store.GetHistoryAsync(session.Id, Math.Clamp(limit, 1, 10_000), ct).ConfigureAwait(false);
    }

    /// <summary>Freezes a session's processes so an idle session costs no CPU. Its state and files are kept.</summary>
    public async Task<SessionInfo> PauseAsync(string sessionId, string owner, CancellationToken ct)
    {
        var session = registry.Get(sessionId, owner);
        session.EnsureUsable();
        registry.Lock(session, $"Session {session.Id} is running an execution; pause it when it is idle.");
        try
        {
            if (session.Status == SessionStatus.Ready)
            {
                await backend.PauseAsync(session.ContainerId, ct).ConfigureAwait(false);
                session.MarkPaused();
                journal.Record(session, "paused");
                await journal.PersistAsync(session, ct).ConfigureAwait(false);
            }
            return session.ToInfo();
        }
        finally
        {
            session.Gate.Release();
        }
    }

    /// <summary>Thaws a paused session (executions and file operations also do this on their own).</summary>
    public async Task<SessionInfo> ResumeAsync(string sessionId, string owner, CancellationToken ct)
    {
        var session = await registry.GetRunningAsync(sessionId, owner, ct).ConfigureAwait(false);
        return session.ToInfo();
    }

    /// <summary>Closes a session: its sandbox and workspace are removed, even if the sandbox is already gone.</summary>
    public Task CloseAsync(string sessionId, string owner, CancellationToken ct) => closer.CloseAsync(registry.Get(sessionId, owner), "closed by caller", ct);

    /// <summary>Closes sessions idle past their timeout or older than the maximum lifetime. Returns how many.</summary>
    public Task<int> ReapAsync(CancellationToken ct) => closer.ReapAsync(ct);

    /// <summary>Closes every session and empties the warm pool.</summary>
    public Task CloseAllAsync(string why, CancellationToken ct) => closer.CloseAllAsync(why, ct);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: cleanup failed: {Error}")]
    internal static partial void LogCleanupFailed(ILogger logger, string sessionId, string error);
}
