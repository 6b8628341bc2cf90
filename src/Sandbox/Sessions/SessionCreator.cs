using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Durability;
using Sandbox.Isolation;
using Sandbox.Pool;
using Sandbox.Storage;

namespace Sandbox.Sessions;

/// <summary>
/// How a session comes to be: its request checked (image, limits, idle timeout, network, repository, context, setup),
/// a sandbox taken from the warm pool when it fits or launched, then filled (snapshot or fork, clone, network, setup
/// commands), recorded, and only then registered for callers. Nothing half-made survives a failure on the way.
/// </summary>
public sealed partial class SessionCreator(SessionRegistry registry, SandboxLauncher launcher, WarmPool pool, IsolationPolicy isolation,
    SessionJournal journal, Egress.EgressService egress, Snapshots.SnapshotService snapshots, Git.GitService git, Setup.SetupService setup,
    Files.WorkspaceArchives archives, SessionCloser closer, SessionCeiling ceiling, Volumes.VolumeService volumes, NestedDocker.NestedDockerService docker, IOptions<SandboxOptions> options, IOptions<Snapshots.SnapshotOptions> snapshotOptions, IOptions<Cluster.ClusterOptions> cluster,
    TimeProvider time, ILogger<SessionCreator> logger)
{
    private readonly SessionRegistry _registry = registry;
    private readonly SandboxLauncher _launcher = launcher;
    private readonly WarmPool _pool = pool;
    private readonly IsolationPolicy _isolation = isolation;
    private readonly SessionJournal _journal = journal;
    private readonly Egress.EgressService _egress = egress;
    private readonly Snapshots.SnapshotService _snapshots = snapshots;
    private readonly Git.GitService _git = git;
    private readonly Setup.SetupService _setup = setup;
    private readonly SandboxOptions _options = options.Value;
    private readonly SessionCeiling _ceiling = ceiling;
    private readonly int _maxForks = snapshotOptions.Value.MaxForks;
    private readonly bool _clustered = cluster.Value.Enabled;
    private readonly TimeProvider _time = time;
    private readonly ILogger _logger = logger;

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
        if (count < 1 || count > _maxForks)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"count must be between 1 and {_maxForks}.");
        }
        var source = _registry.Get(sessionId, owner);
        source.EnsureUsable();
        var archive = await _snapshots.SaveTemporaryAsync(source, ct).ConfigureAwait(false);
        var made = new List<SessionInfo>();
        try
        {
            var spec = SpecOf(source);
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
                await closer.CloseAsync(_registry.Get(s.Id, owner), "closed by caller", CancellationToken.None).ConfigureAwait(false);
            }
            throw;
        }
        finally
        {
            File.Delete(archive);
        }
    }

    /// <summary>Recreates a session: a new container on the image its name stands for now (a rebuilt image is taken),
    /// with the same limits, tier, network list, context, name and repository, and a copy of its workspace (files, the
    /// agents' home with their conversations, the repository); then the old one is closed. What ran in it (the
    /// interpreter's state, processes, terminals) does not come along. Refused while the session is busy.</summary>
    public async Task<SessionInfo> RestartAsync(string sessionId, string owner, CancellationToken ct)
    {
        var source = _registry.Get(sessionId, owner);
        source.EnsureUsable();
        _registry.Lock(source, $"Session {source.Id} is running an execution or agent run; restart it when it is idle.");
        try
        {
            var archive = await _snapshots.SaveTemporaryAsync(source, ct).ConfigureAwait(false);
            try
            {
                var made = await CreateCoreAsync(SpecOf(source) with { Name = source.Name }, owner, (container, token) => _snapshots.RestoreFileAsync(archive, container, token),
                    "restart of " + source.Id, ct, source.Git, replacing: source).ConfigureAwait(false);
                await closer.CloseAsync(source, "restarted as " + made.Id, CancellationToken.None).ConfigureAwait(false);
                return made;
            }
            finally
            {
                File.Delete(archive);
            }
        }
        finally
        {
            source.Gate.Release();
        }
    }

    /// <summary>What a fork or a restart of <paramref name="source"/> is created with (not its name).</summary>
    private SessionSpec SpecOf(Session source)
    {
        var l = source.Limits;
        var network = source.Network;
        return new SessionSpec
        {
            Image = ImageName(source.Image), Isolation = source.Isolation, IdleTimeout = source.IdleTimeout,
            Limits = new LimitsRequest { MemoryMb = l.MemoryMb, Cpus = l.Cpus, Pids = l.Pids, NoFile = l.NoFile, FileSizeMb = l.FileSizeMb, WorkspaceMb = l.WorkspaceMb, TmpMb = l.TmpMb },
            Network = network is null ? null : new Egress.NetworkRequest { Allow = network.Allow, Secrets = network.Secrets },
            Context = source.Context.Count == 0 ? null : source.Context,
            Metadata = source.Metadata, Env = source.Env,
            // A new engine with the same images (the old engine's containers and images built in it are not carried).
            Docker = source.Docker is not null, DockerStorageMb = source.Docker?.StorageMb, DockerImages = source.Docker?.Images,
        };
    }

    /// <summary>The short image name of an image reference (sessions record the reference).</summary>
    private string? ImageName(string image) =>
        _options.Images.FirstOrDefault(kv => kv.Value == image || kv.Key == image).Key ?? image;

    private async Task<SessionInfo> CreateCoreAsync(SessionSpec spec, string owner, Func<string, CancellationToken, Task>? restore, string? origin, CancellationToken ct,
        Git.GitWorkspace? inheritedGit = null, Session? replacing = null)
    {
        spec = docker.Defaults(spec);
        var dockerPlan = docker.Plan(spec);
        var (image, _) = _launcher.ResolveImage(spec.Image);
        var ceiling = await _ceiling.GetAsync(ct).ConfigureAwait(false);
        var limits = (spec.Limits ?? new LimitsRequest()).Resolve(_options.DefaultLimits, ceiling.Maxima, ceiling.Reason);
        var idle = spec.IdleTimeout ?? _options.IdleTimeout;
        if (idle <= TimeSpan.Zero || idle > _options.MaxIdleTimeout)
        {
            throw new SandboxException(idle <= TimeSpan.Zero ? SandboxErrorCodes.InvalidArgument : SandboxErrorCodes.LimitExceeded,
                $"Idle timeout must be between 1 second and {_options.MaxIdleTimeout.TotalSeconds} seconds.");
        }
        var network = _egress.Validate(spec.Network);
        if (spec.Name is { } name)
        {
            if (!SessionRegistry.IsName(name))
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument, "name must be lower-case letters, digits, '.', '_' or '-', starting with a letter or digit, at most 63 characters.");
            }
        }
        if (spec.Git is not null && restore is not null)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "A session starts either from a repository (git) or from a snapshot, not both.");
        }
        var clone = spec.Git is null ? null : _git.Validate(spec.Git);
        var context = _setup.ResolveContext(spec.Context);
        Setup.SetupService.CheckContextArchives(spec.ContextArchives, context);
        var contextArchives = spec.ContextArchives ?? new Dictionary<string, ReadOnlyMemory<byte>>();
        var metadata = SessionSettings.Metadata(spec.Metadata);
        var env = SessionSettings.Env(spec.Env);
        var setup = _setup.Commands(image, spec.Setup);
        var mounts = volumes.Plan(owner, spec.Volumes);
        var (tier, runtime) = await _isolation.ResolveAsync(spec.Isolation, image, ct).ConfigureAwait(false);
        if (dockerPlan is not null)
        {
            NestedDocker.NestedDockerService.RequireTier(tier);
        }
        using var named = spec.Name is null ? null : _registry.ReserveName(owner, spec.Name, replacing);
        _registry.Reserve();
        var released = false;
        var now = _time.GetUtcNow();
        try
        {
            // Context mounts are made when a container is created: a warm one cannot take them.
            var pooled = context.Count == 0 && contextArchives.Count == 0 && mounts.Count == 0 && dockerPlan is null && _pool.Fits(image, limits)
                ? await _pool.TakeAsync(tier, ct).ConfigureAwait(false) : null;
            var sandbox = pooled ?? await _launcher.LaunchAsync(image, limits, owner, tier, runtime, ct, context, callerContext: contextArchives.Count > 0, mounts,
                dockerPlan?.StorageMb).ConfigureAwait(false);
            var session = new Session
            {
                Id = sandbox.Id, Image = image, Owner = owner, Limits = limits, CreatedAt = now, MaxLifetime = _options.MaxLifetime, IdleTimeout = idle,
                ContainerId = sandbox.ContainerId, Runner = sandbox.Runner, LastUsedAt = now, Isolation = sandbox.Isolation,
                Context = context.Select(c => c.Name).ToList(), Git = inheritedGit, Node = _clustered ? _options.InstanceId : null,
                Name = spec.Name, Metadata = metadata, Env = env,
            };
            if (network is not null || restore is not null || clone is not null || setup.Count > 0 || contextArchives.Count > 0 || env.Count > 0 || mounts.Count > 0
                || dockerPlan is not null)
            {
                try
                {
                    if (dockerPlan is not null)
                    {
                        await docker.StartAsync(session, dockerPlan, ct).ConfigureAwait(false); // before setup commands, which may use it
                    }
                    if (mounts.Count > 0)
                    {
                        await volumes.AttachAsync(session, spec.Volumes!, ct).ConfigureAwait(false);
                    }
                    if (env.Count > 0 && network is null)
                    {
                        await _egress.ApplyEnvironmentAsync(session, ct).ConfigureAwait(false); // with a network, attaching sends it
                    }
                    foreach (var (contextName, archive) in contextArchives.OrderBy(a => a.Key, StringComparer.Ordinal))
                    {
                        await archives.UnpackContextAsync(session, contextName, archive, ct).ConfigureAwait(false);
                    }
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
            return session.ToInfo();
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

    /// <summary>Removes a new session whose record could not be saved; closing it gives its registry slot back.</summary>
    private async Task RemoveUnrecordedAsync(Session session)
    {
        try
        {
            await closer.CloseAsync(session, "its record could not be saved", CancellationToken.None).ConfigureAwait(false);
        }
        catch (SandboxException e) when (e.Code == SandboxErrorCodes.StoreUnavailable)
        {
            // Closing writes the record too, and the store is still away: the sandbox is gone, which is what matters.
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId} created from {Image} for {Owner} (isolation {Isolation}, memory {MemoryMb} MiB, cpus {Cpus}, pids {Pids}, from pool {Pooled})")]
    private static partial void LogCreated(ILogger logger, string sessionId, string image, string owner, string isolation, int memoryMb, double cpus, int pids, bool pooled);
}
