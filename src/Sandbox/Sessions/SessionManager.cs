using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using Docker.DotNet;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Docker;
using Sandbox.Execution;
using Sandbox.Safety;
using Sandbox.Storage;

namespace Sandbox.Sessions;

/// <summary>
/// The engine: every session operation exists here once; REST and MCP only translate to and from it.
/// Sessions are isolated by owner: another caller's session id behaves like an unknown one.
/// </summary>
public sealed partial class SessionManager : IAsyncDisposable
{
    private readonly DockerBackend _backend;
    private readonly ISafetyPolicy _safety;
    private readonly SandboxOptions _options;
    private readonly ILogger<SessionManager> _logger;
    private readonly TimeProvider _time;
    private readonly ISessionStore _store;
    private volatile bool _detaching;
    private readonly ConcurrentDictionary<string, Session> _sessions = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _executionSlots;
    private readonly SemaphoreSlim _agentSlots;
    private readonly CancellationTokenSource _lifetime = new();
    private int _reserved;

    /// <summary>Creates the engine.</summary>
    public SessionManager(DockerBackend backend, ISafetyPolicy safety, IOptions<SandboxOptions> options,
        ILogger<SessionManager> logger, TimeProvider? time = null, ISessionStore? store = null)
    {
        _store = store ?? new InMemorySessionStore();
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(safety);
        ArgumentNullException.ThrowIfNull(options);
        _backend = backend;
        _safety = safety;
        _options = options.Value;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _executionSlots = new SemaphoreSlim(_options.MaxConcurrentExecutions, _options.MaxConcurrentExecutions);
        _agentSlots = new SemaphoreSlim(_options.Agents.MaxConcurrentRuns, _options.Agents.MaxConcurrentRuns);
    }

    /// <summary>The engine options in force.</summary>
    public SandboxOptions Options => _options;

    /// <summary>The container backend.</summary>
    public DockerBackend Backend => _backend;

    /// <summary>Creates a session: one hardened container with a bounded workspace and a running interpreter.</summary>
    public async Task<SessionInfo> CreateSessionAsync(SessionSpec spec, string owner, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentException.ThrowIfNullOrEmpty(owner);
        var (image, _) = ResolveImage(spec.Image);
        var limits = (spec.Limits ?? new LimitsRequest()).Resolve(_options.DefaultLimits, _options.MaxLimits);
        var idle = spec.IdleTimeout ?? _options.IdleTimeout;
        if (idle <= TimeSpan.Zero || idle > _options.MaxIdleTimeout)
        {
            throw new SandboxException(idle <= TimeSpan.Zero ? SandboxErrorCodes.InvalidArgument : SandboxErrorCodes.LimitExceeded,
                $"Idle timeout must be between 1 second and {_options.MaxIdleTimeout.TotalSeconds} seconds.");
        }
        if (Interlocked.Increment(ref _reserved) > _options.MaxSessions)
        {
            Interlocked.Decrement(ref _reserved);
            throw new SandboxException(SandboxErrorCodes.CapacityExceeded,
                $"The server already runs its maximum of {_options.MaxSessions} sessions. Close a session you no longer need and retry.");
        }

        var now = _time.GetUtcNow();
        try
        {
            var pooled = IsPoolable(image, limits) ? await TakeFromPoolAsync(ct).ConfigureAwait(false) : null;
            var (id, containerId, runner) = pooled ?? await StartContainerAsync(image, limits, owner, ct).ConfigureAwait(false);
            var session = new Session
            {
                Id = id, Image = image, Owner = owner, Limits = limits, CreatedAt = now, IdleTimeout = idle,
                ContainerId = containerId, Runner = runner, LastUsedAt = now,
            };
            _sessions[id] = session;
            _ = runner.Completion.ContinueWith(_ => OnRunnerEnded(session), CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            LogCreated(_logger, id, image, owner, limits.MemoryMb, limits.Cpus, limits.Pids, pooled is not null);
            await PersistAsync(session, ct).ConfigureAwait(false);
            _store.AppendHistory(new HistoryEntry(id, owner, "created", now, Output: pooled is null ? null : "from the warm pool"));
            return session.ToInfo(_options.MaxLifetime);
        }
        catch
        {
            Interlocked.Decrement(ref _reserved);
            throw;
        }
    }

    /// <summary>Creates, starts and connects to a session container; on any failure nothing is left behind.</summary>
    private async Task<(string Id, string ContainerId, RunnerConnection Runner)> StartContainerAsync(
        string image, SandboxLimits limits, string owner, CancellationToken ct)
    {
        var id = NewSessionId();
        var labels = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [SandboxLabels.CreatedAt] = _time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture),
            [SandboxLabels.Owner] = owner,
            [SandboxLabels.Image] = image,
        };
        RunnerConnection? runner = null;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_options.CreateTimeout);
        try
        {
            var (containerId, stream) = await _backend.CreateAndStartAsync(id, _options.Images[image], limits, labels, timeout.Token).ConfigureAwait(false);
            runner = new RunnerConnection(stream, id, _logger);
            await runner.WaitHelloAsync(timeout.Token).ConfigureAwait(false);
            return (id, containerId, runner);
        }
        catch (Exception e)
        {
            if (runner is not null)
            {
                await runner.DisposeAsync().ConfigureAwait(false);
            }
            await RemoveQuietlyAsync(id).ConfigureAwait(false);
            if (e is OperationCanceledException && !ct.IsCancellationRequested)
            {
                throw new SandboxException(SandboxErrorCodes.Timeout,
                    $"The session did not start within {_options.CreateTimeout.TotalSeconds} s; nothing was left behind. Retry, or check the engine (see /healthz).", e);
            }
            if (e is DockerApiException { StatusCode: System.Net.HttpStatusCode.NotFound } or DockerImageNotFoundException)
            {
                throw new SandboxException(SandboxErrorCodes.ImageNotFound,
                    $"Image '{_options.Images[image]}' is not built on this engine. Run deploy/build-images.sh.", e);
            }
            throw;
        }
    }

    /// <summary>The configured image a request names (the default when it names none), or <c>image_not_found</c>.</summary>
    private (string Name, string Reference) ResolveImage(string? requested)
    {
        var name = string.IsNullOrWhiteSpace(requested) ? _options.DefaultImage : requested.Trim();
        return _options.Images.TryGetValue(name, out var reference)
            ? (name, reference)
            : throw new SandboxException(SandboxErrorCodes.ImageNotFound,
                $"Unknown image '{Shorten(name)}'. Known images: {string.Join(", ", _options.Images.Keys.Order(StringComparer.Ordinal))}.");
    }

    /// <summary>The caller's session.</summary>
    public SessionInfo GetSession(string sessionId, string owner) => Get(sessionId, owner).ToInfo(_options.MaxLifetime);

    /// <summary>The caller's sessions, newest first.</summary>
    public IReadOnlyList<SessionInfo> ListSessions(string owner) =>
        _sessions.Values.Where(s => s.Owner == owner).Select(s => s.ToInfo(_options.MaxLifetime))
            .OrderByDescending(s => s.CreatedAt).ToList();

    /// <summary>Engine reachability, image presence and session count.</summary>
    public async Task<SandboxHealth> GetHealthAsync(CancellationToken ct)
    {
        var engine = await _backend.GetEngineStatusAsync(ct).ConfigureAwait(false);
        IReadOnlyList<ImageStatus> images = engine.Reachable
            ? await _backend.GetImageStatusAsync(ct).ConfigureAwait(false)
            : _options.Images.Select(kv => new ImageStatus(kv.Key, kv.Value, false, null, null)).ToList();
        return new SandboxHealth(engine, images, _sessions.Count);
    }

    /// <summary>Every live session of every caller (for tests and administration; not exposed to callers).</summary>
    public IReadOnlyList<SessionInfo> ListAllSessions() => _sessions.Values.Select(s => s.ToInfo(_options.MaxLifetime)).ToList();

    /// <summary>Number of live sessions of all callers.</summary>
    public int SessionCount => _sessions.Count;

    /// <summary>Closes a session: its container and workspace volume are removed, even if the container is already gone.</summary>
    public async Task CloseSessionAsync(string sessionId, string owner, CancellationToken ct)
    {
        var session = Get(sessionId, owner);
        await CloseAsync(session, "closed by caller", ct).ConfigureAwait(false);
    }

    private async Task CloseAsync(Session session, string why, CancellationToken ct)
    {
        if (!_sessions.TryRemove(session.Id, out _))
        {
            return;
        }
        lock (session.Sync)
        {
            session.Status = SessionStatus.Closed;
        }
        Interlocked.Decrement(ref _reserved);
        foreach (var run in _agentRuns.Values.Where(r => r.Session == session && !r.Completion.IsCompleted))
        {
            run.CancelByCaller("The session was closed (" + why + ")"); // the agent dies with the container
        }
        if (session.Runner is { } runner)
        {
            await runner.DisposeAsync().ConfigureAwait(false);
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        await _backend.RemoveSessionAsync(session.Id, timeout.Token).ConfigureAwait(false);
        await PersistAsync(session, CancellationToken.None).ConfigureAwait(false);
        _store.AppendHistory(new HistoryEntry(session.Id, session.Owner, "closed", _time.GetUtcNow(), Output: why));
        LogClosed(_logger, session.Id, why);
    }

    /// <summary>Closes sessions idle past their timeout or older than the maximum lifetime. Returns how many.</summary>
    public async Task<int> ReapAsync(CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        var closed = 0;
        foreach (var session in _sessions.Values)
        {
            string? why = null;
            lock (session.Sync)
            {
                if (session.Busy)
                {
                    continue;
                }
                if (now - session.LastUsedAt >= session.IdleTimeout)
                {
                    why = "idle timeout";
                }
                else if (now - session.CreatedAt >= _options.MaxLifetime)
                {
                    why = "maximum lifetime";
                }
            }
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

    /// <summary>
    /// Removes containers labelled as ours that no live session owns: those of this instance (left by a crash), and
    /// those of any instance older than the maximum lifetime (left by a process that died without cleaning up).
    /// </summary>
    public async Task<int> RemoveOrphansAsync(CancellationToken ct)
    {
        var removed = 0;
        var now = _time.GetUtcNow();
        foreach (var container in await _backend.ListManagedContainersAsync(allInstances: true, ct).ConfigureAwait(false))
        {
            var labels = container.Labels ?? new Dictionary<string, string>();
            if (!labels.TryGetValue(SandboxLabels.SessionId, out var sid) || _sessions.ContainsKey(sid) || IsPooled(sid))
            {
                continue;
            }
            var mine = labels.TryGetValue(SandboxLabels.Instance, out var instance) && instance == _options.InstanceId;
            var expired = labels.TryGetValue(SandboxLabels.CreatedAt, out var created)
                          && DateTimeOffset.TryParse(created, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var at)
                          && now - at > _options.MaxLifetime + TimeSpan.FromHours(1);
            if (!mine && !expired)
            {
                continue;
            }
            await _backend.RemoveSessionAsync(sid, ct).ConfigureAwait(false);
            removed++;
        }
        return removed + await RemoveOrphanAgentNetworksAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Closes every session and empties the warm pool (used at shutdown: without a durable store nothing could resume them).</summary>
    public async Task CloseAllAsync(CancellationToken ct)
    {
        await DrainPoolAsync(ct).ConfigureAwait(false);
        foreach (var session in _sessions.Values)
        {
            await CloseAsync(session, "server shutting down", ct).ConfigureAwait(false);
        }
    }

    internal Session Get(string sessionId, string owner)
    {
        ArgumentNullException.ThrowIfNull(owner);
        if (string.IsNullOrEmpty(sessionId) || !_sessions.TryGetValue(sessionId, out var session) || session.Owner != owner)
        {
            throw new SandboxException(SandboxErrorCodes.SessionNotFound,
                $"No session '{Shorten(sessionId)}'. It may have been closed or expired; create a new one with create_session.");
        }
        return session;
    }

    private void OnRunnerEnded(Session session)
    {
        if (_detaching)
        {
            return; // the server is shutting down and leaves the container running for the next start
        }
        session.MarkLost(session.Runner?.ClosedReason ?? "the container stopped");
        if (session.Status == SessionStatus.Lost)
        {
            LogLost(_logger, session.Id, session.LostReason);
            _store.AppendHistory(new HistoryEntry(session.Id, session.Owner, "lost", _time.GetUtcNow(), Output: session.LostReason));
            _ = PersistQuietlyAsync(session);
        }
    }

    private async Task RemoveQuietlyAsync(string sessionId)
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await _backend.RemoveSessionAsync(sessionId, cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SandboxException or DockerApiException or OperationCanceledException)
        {
            LogCleanupFailed(_logger, sessionId, e.Message);
        }
    }

    /// <summary>128 random bits, base64url without padding (22 characters).</summary>
    internal static string NewSessionId() => Base64Url(RandomNumberGenerator.GetBytes(16));

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>Caller-supplied text shortened and stripped of control characters for messages.</summary>
    internal static string Shorten(string? text)
    {
        if (text is null)
        {
            return "";
        }
        var clean = new string(text.Take(64).Select(c => char.IsControl(c) ? '?' : c).ToArray());
        return text.Length > 64 ? clean + "…" : clean;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _lifetime.CancelAsync().ConfigureAwait(false);
        using (var drain = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            try
            {
                await DrainPoolAsync(drain.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SandboxException or OperationCanceledException)
            {
                LogCleanupFailed(_logger, "(pool)", e.Message);
            }
        }
        foreach (var session in _sessions.Values)
        {
            if (session.Runner is { } runner)
            {
                await runner.DisposeAsync().ConfigureAwait(false);
            }
        }
        _executionSlots.Dispose();
        _agentSlots.Dispose();
        _lifetime.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId} created from {Image} for {Owner} (memory {MemoryMb} MiB, cpus {Cpus}, pids {Pids}, from pool {Pooled})")]
    private static partial void LogCreated(ILogger logger, string sessionId, string image, string owner, int memoryMb, double cpus, int pids, bool pooled);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId} closed: {Reason}")]
    private static partial void LogClosed(ILogger logger, string sessionId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId} lost: {Reason}")]
    private static partial void LogLost(ILogger logger, string sessionId, string? reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: reaping failed ({Code})")]
    private static partial void LogReapFailed(ILogger logger, string sessionId, string code);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: cleanup failed: {Error}")]
    private static partial void LogCleanupFailed(ILogger logger, string sessionId, string error);
}
