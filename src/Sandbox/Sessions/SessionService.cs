using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Backend;
using Sandbox.Durability;
using Sandbox.Isolation;
using Sandbox.Pool;
using Sandbox.Storage;

namespace Sandbox.Sessions;

/// <summary>
/// Sessions themselves: create (from the warm pool when it fits), look up, list, pause, resume, close, and the idle
/// and lifetime expiry. Sessions are isolated by owner: another caller's session id behaves like an unknown one.
/// </summary>
public sealed partial class SessionService
{
    private readonly SessionRegistry _registry;
    private readonly SandboxLauncher _launcher;
    private readonly WarmPool _pool;
    private readonly IsolationPolicy _isolation;
    private readonly ISandboxBackend _backend;
    private readonly SessionJournal _journal;
    private readonly Egress.EgressService _egress;
    private readonly Snapshots.SnapshotService _snapshots;
    private readonly Git.GitService _git;
    private readonly Setup.SetupService _setup;
    private readonly IEnumerable<ISessionCloseListener> _closeListeners;
    private readonly SandboxOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<SessionService> _logger;

    /// <summary>Creates the service.</summary>
    internal SessionService(SessionRegistry registry, SandboxLauncher launcher, WarmPool pool, IsolationPolicy isolation, ISandboxBackend backend,
        SessionJournal journal, Egress.EgressService egress, Snapshots.SnapshotService snapshots, Git.GitService git, Setup.SetupService setup, IEnumerable<ISessionCloseListener> closeListeners,
        IOptions<SandboxOptions> options, TimeProvider time, ILogger<SessionService> logger)
    {
        _registry = registry;
        _launcher = launcher;
        _pool = pool;
        _isolation = isolation;
        _backend = backend;
        _journal = journal;
        _egress = egress;
        _snapshots = snapshots;
        _git = git;
        _setup = setup;
        _closeListeners = closeListeners;
        _options = options.Value;
        _time = time;
        _logger = logger;
    }

    /// <summary>Number of live sessions of all callers.</summary>
    public int Count => _registry.Count;

    /// <summary>Creates a session: one hardened sandbox with a bounded workspace and a running interpreter.</summary>
    public Task<SessionInfo> CreateAsync(SessionSpec spec, string owner, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentException.ThrowIfNullOrEmpty(owner);
        if (spec.FromSnapshot is { } snapshotId)
        {
            var snapshot = _snapshots.Get(owner, snapshotId);
            return CreateCoreAsync(spec with { Image = spec.Image ?? ImageName(snapshot.Image) }, owner,
                (container, token) => _snapshots.RestoreAsync(owner, snapshot.SnapshotId, container, token), "from snapshot " + snapshot.SnapshotId, ct);
        }
        return CreateCoreAsync(spec, owner, null, null, ct);
    }

    /// <summary>Makes <paramref name="count"/> new sessions with a copy of a running session's workspace (same image,
    /// limits, tier and network list). Their Python interpreters start fresh: files are copied, memory is not.</summary>
    public async Task<IReadOnlyList<SessionInfo>> ForkAsync(string sessionId, string owner, int count, CancellationToken ct)
    {
        if (count < 1 || count > _options.Snapshots.MaxForks)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"count must be between 1 and {_options.Snapshots.MaxForks}.");
        }
        var source = _registry.Get(sessionId, owner);
        source.EnsureUsable();
        var archive = await _snapshots.SaveTemporaryAsync(source, ct).ConfigureAwait(false);
        var made = new List<SessionInfo>();
        try
        {
            var l = source.Limits;
            Egress.SessionNetwork? network;
            lock (source.Sync)
            {
                network = source.Network;
            }
            var spec = new SessionSpec
            {
                Image = ImageName(source.Image), Isolation = source.Isolation, IdleTimeout = source.IdleTimeout,
                Limits = new LimitsRequest { MemoryMb = l.MemoryMb, Cpus = l.Cpus, Pids = l.Pids, NoFile = l.NoFile, FileSizeMb = l.FileSizeMb, WorkspaceMb = l.WorkspaceMb, TmpMb = l.TmpMb },
                Network = network is null ? null : new Egress.NetworkRequest { Allow = network.Allow, Secrets = network.Secrets },
                Context = source.Context.Count == 0 ? null : source.Context,
            };
            for (var i = 0; i < count; i++)
            {
                // A fork of a git session is one too: its repository came along with the files.
                made.Add(await CreateCoreAsync(spec, owner, (container, token) => _snapshots.RestoreFileAsync(archive, container, token), "fork of " + source.Id, ct,
                    source.Git).ConfigureAwait(false));
            }
            return made;
        }
        catch
        {
            foreach (var s in made)
            {
                await CloseAsync(s.Id, owner, CancellationToken.None).ConfigureAwait(false);
            }
            throw;
        }
        finally
        {
            File.Delete(archive);
        }
    }

    /// <summary>The short image name of an image reference (sessions record the reference).</summary>
    private string? ImageName(string image) =>
        _options.Images.FirstOrDefault(kv => kv.Value == image || kv.Key == image).Key ?? image;

    private async Task<SessionInfo> CreateCoreAsync(SessionSpec spec, string owner, Func<string, CancellationToken, Task>? restore, string? origin, CancellationToken ct,
        Git.GitWorkspace? inheritedGit = null)
    {
        var (image, _) = _launcher.ResolveImage(spec.Image);
        var limits = (spec.Limits ?? new LimitsRequest()).Resolve(_options.DefaultLimits, _options.MaxLimits);
        var idle = spec.IdleTimeout ?? _options.IdleTimeout;
        if (idle <= TimeSpan.Zero || idle > _options.MaxIdleTimeout)
        {
            throw new SandboxException(idle <= TimeSpan.Zero ? SandboxErrorCodes.InvalidArgument : SandboxErrorCodes.LimitExceeded,
                $"Idle timeout must be between 1 second and {_options.MaxIdleTimeout.TotalSeconds} seconds.");
        }
        var network = _egress.Validate(spec.Network);
        if (spec.Git is not null && restore is not null)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "A session starts either from a repository (git) or from a snapshot, not both.");
        }
        var clone = spec.Git is null ? null : _git.Validate(spec.Git);
        var context = _setup.ResolveContext(spec.Context);
        var setup = _setup.Commands(image, spec.Setup);
        var (tier, runtime) = await _isolation.ResolveAsync(spec.Isolation, image, ct).ConfigureAwait(false);
        _registry.Reserve();
        var released = false;
        var now = _time.GetUtcNow();
        try
        {
            // Context mounts are made when a container is created: a warm one cannot take them.
            var pooled = context.Count == 0 && _pool.Fits(image, limits) ? await _pool.TakeAsync(tier, ct).ConfigureAwait(false) : null;
            var sandbox = pooled ?? await _launcher.LaunchAsync(image, limits, owner, tier, runtime, ct, context).ConfigureAwait(false);
            var session = new Session
            {
                Id = sandbox.Id, Image = image, Owner = owner, Limits = limits, CreatedAt = now, IdleTimeout = idle,
                ContainerId = sandbox.ContainerId, Runner = sandbox.Runner, LastUsedAt = now, Isolation = sandbox.Isolation,
                Context = context.Select(c => c.Name).ToList(), Git = inheritedGit, Node = _options.Cluster.Enabled ? _options.InstanceId : null,
            };
            if (network is not null || restore is not null || clone is not null || setup.Count > 0)
            {
                try
                {
                    if (restore is not null)
                    {
                        await restore(session.ContainerId, ct).ConfigureAwait(false);
                    }
                    if (clone is not null)
                    {
                        session.Git = await _git.CloneAsync(session, clone, ct).ConfigureAwait(false);
                    }
                    if (network is not null)
                    {
                        await _egress.AttachAsync(session, network, ct).ConfigureAwait(false);
                    }
                    if (setup.Count > 0)
                    {
                        await _setup.RunAsync(session, setup, ct).ConfigureAwait(false);
                    }
                }
                catch
                {
                    await sandbox.Runner.DisposeAsync().ConfigureAwait(false);
                    await _launcher.RemoveQuietlyAsync(sandbox.Id).ConfigureAwait(false);
                    throw;
                }
            }
            _registry.Add(session);
            try
            {
                await _journal.PersistAsync(session, ct).ConfigureAwait(false);
            }
            catch (SandboxException)
            {
                // Nothing half-made: a session the store could not record (store_unavailable) is removed at once
                // (which gives its room back).
                released = true;
                await RemoveUnrecordedAsync(session).ConfigureAwait(false);
                throw;
            }
            LogCreated(_logger, session.Id, image, owner, IsolationPolicy.Name(tier), limits.MemoryMb, limits.Cpus, limits.Pids, pooled is not null);
            _journal.RecordCreated(session, origin, pooled is not null, setup.Count, network);
            return session.ToInfo(_options.MaxLifetime);
        }
        catch
        {
            if (!released)
            {
                _registry.Unreserve();
            }
            throw;
        }
    }

    /// <summary>The caller's session.</summary>
    public SessionInfo Get(string sessionId, string owner) => _registry.Get(sessionId, owner).ToInfo(_options.MaxLifetime);

    /// <summary>The caller's sessions, newest first.</summary>
    public IReadOnlyList<SessionInfo> List(string owner) =>
        _registry.All.Where(s => s.Owner == owner).Select(s => s.ToInfo(_options.MaxLifetime))
            .OrderByDescending(s => s.CreatedAt).ToList();

    /// <summary>Every live session of every caller (for tests and administration; not exposed to callers).</summary>
    public IReadOnlyList<SessionInfo> ListAll() => _registry.All.Select(s => s.ToInfo(_options.MaxLifetime)).ToList();

    /// <summary>Engine reachability, image presence and session count.</summary>
    public async Task<SandboxHealth> GetHealthAsync(CancellationToken ct)
    {
        var engine = await _backend.GetEngineStatusAsync(ct).ConfigureAwait(false);
        IReadOnlyList<ImageStatus> images = engine.Reachable
            ? await _backend.GetImageStatusAsync(ct).ConfigureAwait(false)
            : _options.Images.Select(kv => new ImageStatus(kv.Key, kv.Value, false, null, null)).ToList();
        var isolation = engine.Reachable ? await _isolation.RefreshAsync(ct).ConfigureAwait(false) : _isolation.Status();
        return new SandboxHealth(engine, images, _registry.Count, isolation);
    }

    /// <summary>The caller's session history (audit log), oldest first.</summary>
    public async Task<IReadOnlyList<HistoryEntry>> GetHistoryAsync(string sessionId, string owner, int limit, CancellationToken ct)
    {
        var session = _registry.Get(sessionId, owner);
        return await _journal.Store.GetHistoryAsync(session.Id, Math.Clamp(limit, 1, 10_000), ct).ConfigureAwait(false);
    }

    /// <summary>Freezes a session's processes so an idle session costs no CPU. Its state and files are kept.</summary>
    public async Task<SessionInfo> PauseAsync(string sessionId, string owner, CancellationToken ct)
    {
        var session = _registry.Get(sessionId, owner);
        session.EnsureUsable();
        _registry.Lock(session, $"Session {session.Id} is running an execution; pause it when it is idle.");
        try
        {
            if (session.Status == SessionStatus.Ready)
            {
                await _backend.PauseAsync(session.ContainerId, ct).ConfigureAwait(false);
                lock (session.Sync)
                {
                    session.Status = SessionStatus.Paused;
                }
                _journal.Record(session, "paused");
                await _journal.PersistAsync(session, ct).ConfigureAwait(false);
            }
            return session.ToInfo(_options.MaxLifetime);
        }
        finally
        {
            session.Gate.Release();
        }
    }

    /// <summary>Thaws a paused session (executions and file operations also do this on their own).</summary>
    public async Task<SessionInfo> ResumeAsync(string sessionId, string owner, CancellationToken ct)
    {
        var session = await _registry.GetRunningAsync(sessionId, owner, ct).ConfigureAwait(false);
        return session.ToInfo(_options.MaxLifetime);
    }

    /// <summary>Removes a new session whose record could not be saved; closing it gives its registry slot back.</summary>
    private async Task RemoveUnrecordedAsync(Session session)
    {
        try
        {
            await CloseAsync(session, "its record could not be saved", CancellationToken.None).ConfigureAwait(false);
        }
        catch (SandboxException e) when (e.Code == SandboxErrorCodes.StoreUnavailable)
        {
            // Closing writes the record too, and the store is still away: the sandbox is gone, which is what matters.
        }
    }

    /// <summary>Closes a session: its sandbox and workspace are removed, even if the sandbox is already gone.</summary>
    public async Task CloseAsync(string sessionId, string owner, CancellationToken ct) =>
        await CloseAsync(_registry.Get(sessionId, owner), "closed by caller", ct).ConfigureAwait(false);

    internal async Task CloseAsync(Session session, string why, CancellationToken ct)
    {
        if (!_registry.TryRemove(session))
        {
            return;
        }
        lock (session.Sync)
        {
            session.Status = SessionStatus.Closed;
        }
        foreach (var listener in _closeListeners)
        {
            listener.OnClosing(session, "The session was closed (" + why + ")");
        }
        if (session.Runner is { } runner)
        {
            await runner.DisposeAsync().ConfigureAwait(false);
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

    /// <summary>Closes every session and empties the warm pool.</summary>
    public async Task CloseAllAsync(string why, CancellationToken ct)
    {
        await _pool.DrainAsync(ct).ConfigureAwait(false);
        foreach (var session in _registry.All)
        {
            await CloseAsync(session, why, ct).ConfigureAwait(false);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId} created from {Image} for {Owner} (isolation {Isolation}, memory {MemoryMb} MiB, cpus {Cpus}, pids {Pids}, from pool {Pooled})")]
    private static partial void LogCreated(ILogger logger, string sessionId, string image, string owner, string isolation, int memoryMb, double cpus, int pids, bool pooled);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId} closed: {Reason}")]
    private static partial void LogClosed(ILogger logger, string sessionId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: reaping failed ({Code})")]
    private static partial void LogReapFailed(ILogger logger, string sessionId, string code);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: cleanup failed: {Error}")]
    internal static partial void LogCleanupFailed(ILogger logger, string sessionId, string error);
}
