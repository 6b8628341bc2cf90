using Sandbox.Isolation;
using Sandbox.Runner;

namespace Sandbox.Sessions;

/// <summary>The engine's live state of one session: outside the engine only its identity shows (the rest is internal); passed to
/// <see cref="ISessionCloseListener"/>s. Its state changes through its own methods (claim and release, pause and resume,
/// loss, close, ports, network), each under its one lock; <see cref="FromRecord"/> and <see cref="ToRecord"/> are its
/// only mapping to and from the store.</summary>
public sealed class Session
{
    internal Session()
    {
    }

    /// <summary>The session id.</summary>
    public required string Id { get; init; }
    /// <summary>The image it runs.</summary>
    public required string Image { get; init; }
    /// <summary>Its name (a task name), unique among its owner's open sessions; null when it has none.</summary>
    internal string? Name { get; init; }

    /// <summary>In a cluster, the node that holds it (this server); null on a single server.</summary>
    internal string? Node { get; init; }
    /// <summary>The API key owner it belongs to.</summary>
    public required string Owner { get; init; }
    /// <summary>Its resource limits.</summary>
    public required SandboxLimits Limits { get; init; }
    /// <summary>When it was created.</summary>
    public required DateTimeOffset CreatedAt { get; init; }
    /// <summary>How long it may live from creation, used or not.</summary>
    public required TimeSpan MaxLifetime { get; init; }
    /// <summary>How long it may stay unused before it is closed.</summary>
    public required TimeSpan IdleTimeout { get; init; }
    /// <summary>The backend container that holds it.</summary>
    public required string ContainerId { get; init; }
    /// <summary>The isolation tier it runs in.</summary>
    public required IsolationTier Isolation { get; init; }
    /// <summary>The connection to the runner; null for a session loaded as lost from the store.</summary>
    internal RunnerConnection? Runner { get; set; }

    /// <summary>The runner of a usable session.</summary>
    internal RunnerConnection Live => Runner ?? throw RunnerConnection.Lost(LostReason ?? "its container is gone");

    private object Sync { get; } = new();
    internal SemaphoreSlim Gate { get; } = new(1, 1);
    internal DateTimeOffset LastUsedAt { get; set; }
    internal SessionStatus Status { get; set; } = SessionStatus.Ready;
    internal string? LostReason { get; set; }
    internal int ExecutionCount { get; set; }
    internal bool Busy { get; set; }
    /// <summary>The allow list and secrets of a session with a network; null: no network. Read and replaced whole.</summary>
    internal Egress.SessionNetwork? Network
    {
        get { lock (Sync) { return _network; } }
        set { lock (Sync) { _network = value; } }
    }

    private Egress.SessionNetwork? _network;
    /// <summary>The repository the workspace was cloned from; null for other sessions.</summary>
    internal Git.GitWorkspace? Git { get; set; }
    /// <summary>Context directories mounted read-only at <c>/context/&lt;name&gt;</c>.</summary>
    internal IReadOnlyList<string> Context { get; init; } = [];
    /// <summary>The caller's labels. Read and replaced whole.</summary>
    internal IReadOnlyDictionary<string, string> Metadata
    {
        get { lock (Sync) { return _metadata; } }
        set { lock (Sync) { _metadata = value; } }
    }

    private IReadOnlyDictionary<string, string> _metadata = new Dictionary<string, string>();

    /// <summary>The caller's environment variables for the session's code. Read and replaced whole.</summary>
    internal IReadOnlyDictionary<string, string> Env
    {
        get { lock (Sync) { return _env; } }
        set { lock (Sync) { _env = value; } }
    }

    private IReadOnlyDictionary<string, string> _env = new Dictionary<string, string>();

    /// <summary>The session's own Docker engine (<c>docker: true</c>); null: none. Read and replaced whole.</summary>
    internal NestedDocker.NestedDockerInfo? Docker
    {
        get { lock (Sync) { return _docker; } }
        set { lock (Sync) { _docker = value; } }
    }

    private NestedDocker.NestedDockerInfo? _docker;

    /// <summary>Records an image loaded into the session's Docker engine.</summary>
    internal void AddDockerImage(string image)
    {
        lock (Sync)
        {
            if (_docker is { } d && !d.Images.Contains(image))
            {
                _docker = d with { Images = [.. d.Images, image] };
            }
        }
    }

    /// <summary>Ports reachable through the server (preview ports): changed only through this class.</summary>
    internal SortedSet<int> Ports { get; } = [];

    /// <summary>The session as its last record says, for a server that holds no live state of it (after a restart, or
    /// another node's session in a cluster listing). No runner: the caller reconnects it or reports it.</summary>
    internal static Session FromRecord(Storage.SessionRecord record, TimeSpan maxLifetime, string? node)
    {
        var session = new Session
        {
            Id = record.Id, Image = record.Image, Owner = record.Owner, Limits = record.Limits, CreatedAt = record.CreatedAt,
            MaxLifetime = maxLifetime, IdleTimeout = record.IdleTimeout, ContainerId = record.ContainerId, LastUsedAt = record.LastUsedAt,
            ExecutionCount = record.ExecutionCount, Status = record.Status, LostReason = record.LostReason, Isolation = record.Isolation,
            Network = record.Network, Git = record.Git, Context = record.Context ?? [], Node = node, Name = record.Name,
            Metadata = record.Metadata ?? new Dictionary<string, string>(), Env = record.Env ?? new Dictionary<string, string>(),
            Docker = record.Docker,
        };
        // Exposed ports are part of the session's durable state: they answer again after a restart.
        session.Ports.UnionWith((record.Ports ?? []).Where(p => p is >= 1 and <= 65535).Take(MaxExposedPorts));
        return session;
    }

    internal SessionInfo ToInfo()
    {
        lock (Sync)
        {
            var idleEnd = LastUsedAt + IdleTimeout;
            var lifeEnd = CreatedAt + MaxLifetime;
            return new SessionInfo(Id, Image, Owner, Status, Limits, CreatedAt, LastUsedAt, IdleTimeout,
                idleEnd < lifeEnd ? idleEnd : lifeEnd, Busy, ExecutionCount, LostReason, Isolation, Network, Ports.ToList(), Git, Context.Count == 0 ? null : Context, Node, Name,
                _metadata, _env, _docker);
        }
    }

    /// <summary>Most ports one session exposes at once.</summary>
    internal const int MaxExposedPorts = 16;

    /// <summary>Makes a port reachable through the server (idempotent); refuses a port beyond <see cref="MaxExposedPorts"/>.</summary>
    internal void ExposePort(int port)
    {
        lock (Sync)
        {
            if (Ports.Count >= MaxExposedPorts && !Ports.Contains(port))
            {
                throw new SandboxException(SandboxErrorCodes.LimitExceeded, $"A session exposes at most {MaxExposedPorts} ports; unexpose one first.");
            }
            Ports.Add(port);
        }
    }

    /// <summary>Stops a port from answering; false when it was not exposed.</summary>
    internal bool UnexposePort(int port)
    {
        lock (Sync)
        {
            return Ports.Remove(port);
        }
    }

    /// <summary>Throws <c>forbidden</c> unless the port is exposed.</summary>
    internal void EnsureExposed(int port)
    {
        lock (Sync)
        {
            if (!Ports.Contains(port))
            {
                throw new SandboxException(SandboxErrorCodes.Forbidden, $"Port {port} of session {Id} is not exposed (expose_port first).");
            }
        }
    }

    /// <summary>The session's record for the store, as it is now.</summary>
    internal Storage.SessionRecord ToRecord()
    {
        lock (Sync)
        {
            return new Storage.SessionRecord(Id, Owner, Image, Limits, IdleTimeout, ContainerId, Status, LostReason, CreatedAt, LastUsedAt,
                ExecutionCount, Isolation, _network, Git, Context, Ports: Ports.ToList(), Name: Name,
                Metadata: _metadata.Count == 0 ? null : _metadata, Env: _env.Count == 0 ? null : _env)
            {
                Docker = _docker,
            };
        }
    }

    private int _heldPrograms;

    /// <summary>A program that works while nobody is attached (an interactive agent in a held terminal) started: the
    /// session is in use, not idle, until it ends (its own time limit and the maximum lifetime still hold).</summary>
    internal void HoldProgram()
    {
        lock (Sync)
        {
            _heldPrograms++;
        }
    }

    /// <summary>The program <see cref="HoldProgram"/> counted ended; the idle time counts from now.</summary>
    internal void ReleaseProgram(DateTimeOffset now)
    {
        lock (Sync)
        {
            _heldPrograms = Math.Max(0, _heldPrograms - 1);
            LastUsedAt = now > LastUsedAt ? now : LastUsedAt;
        }
    }

    /// <summary>A call claimed the session (<see cref="SessionRegistry.Claim"/>).</summary>
    internal void BeginWork()
    {
        lock (Sync)
        {
            Busy = true;
        }
    }

    /// <summary>The call that claimed the session ended: one call more, idle again.</summary>
    internal void EndWork(DateTimeOffset now)
    {
        lock (Sync)
        {
            Busy = false;
            ExecutionCount++;
            LastUsedAt = now;
        }
    }

    /// <summary>Its container is frozen.</summary>
    internal void MarkPaused()
    {
        lock (Sync)
        {
            Status = SessionStatus.Paused;
        }
    }

    /// <summary>Its container runs again (a session lost or closed meanwhile stays so).</summary>
    internal void MarkResumed()
    {
        lock (Sync)
        {
            if (Status == SessionStatus.Paused)
            {
                Status = SessionStatus.Ready;
            }
        }
    }

    /// <summary>It is being closed: no call may use it from now on.</summary>
    internal void MarkClosed()
    {
        lock (Sync)
        {
            Status = SessionStatus.Closed;
        }
    }

    /// <summary>Why the reaper closes it now (<c>idle timeout</c>, <c>maximum lifetime</c>), or null: in use or not due.</summary>
    internal string? ExpiredBecause(DateTimeOffset now)
    {
        lock (Sync)
        {
            return Busy ? null
                : _heldPrograms == 0 && now - LastUsedAt >= IdleTimeout ? "idle timeout"
                : now - CreatedAt >= MaxLifetime ? "maximum lifetime"
                : null;
        }
    }

    /// <summary>The one explanation of its loss: the first caller's <paramref name="inspect"/> runs, everyone shares it.</summary>
    internal Task<string> ExplainLossOnce(Func<string, Task<string>> inspect)
    {
        lock (Sync)
        {
            var fallback = LostReason ?? Runner?.ClosedReason ?? "the container stopped";
            return LossExplanation ??= inspect(fallback);
        }
    }

    /// <summary>Its loss is already explained (another node reported it): no one inspects again.</summary>
    internal void SetLossExplanation(string reason)
    {
        lock (Sync)
        {
            LossExplanation = Task.FromResult(reason);
        }
    }

    internal void Touch(DateTimeOffset now)
    {
        lock (Sync)
        {
            LastUsedAt = now;
        }
    }

    /// <summary>Why the sandbox ended, once someone asked the engine (shared by everyone who asks).</summary>
    internal Task<string>? LossExplanation { get; set; }

    internal void MarkLost(string reason)
    {
        lock (Sync)
        {
            if (Status is SessionStatus.Ready or SessionStatus.Creating or SessionStatus.Paused)
            {
                Status = SessionStatus.Lost;
                LostReason = reason;
            }
        }
    }

    /// <summary>Replaces a lost session's reason with a better explanation found afterwards.</summary>
    internal void ExplainLoss(string reason)
    {
        lock (Sync)
        {
            if (Status == SessionStatus.Lost)
            {
                LostReason = reason;
            }
        }
    }

    /// <summary>Throws unless the session can take calls.</summary>
    internal void EnsureUsable()
    {
        lock (Sync)
        {
            switch (Status)
            {
                case SessionStatus.Ready:
                case SessionStatus.Paused:
                    return;
                case SessionStatus.Closed:
                    throw new SandboxException(SandboxErrorCodes.SessionNotFound, $"Session {Id} is closed. Create a new session.");
                default:
                    throw new SandboxException(SandboxErrorCodes.SessionLost,
                        $"Session {Id} is no longer usable ({LostReason}). Close it and create a new session.");
            }
        }
    }
}
