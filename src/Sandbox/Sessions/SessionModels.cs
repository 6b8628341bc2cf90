using Sandbox.Isolation;

namespace Sandbox.Sessions;

/// <summary>What a caller asks for when creating a session.</summary>
public sealed record SessionSpec
{
    /// <summary>Image short name (<c>python</c> by default).</summary>
    public string? Image { get; init; }

    /// <summary>A name for the session (a task name: lower-case letters, digits, <c>.</c> <c>_</c> <c>-</c>, at most 63),
    /// unique among the owner's open sessions; null for none.</summary>
    public string? Name { get; init; }

    /// <summary>Limits to lower (never raise past the server maxima).</summary>
    public LimitsRequest? Limits { get; init; }

    /// <summary>Idle time after which the session is closed; null for the server default.</summary>
    public TimeSpan? IdleTimeout { get; init; }

    /// <summary>The isolation tier; null for the image's or the server's default.</summary>
    public IsolationTier? Isolation { get; init; }

    /// <summary>Hosts the session may reach through its egress proxy, and secrets the proxy adds; null: no network.</summary>
    public Egress.NetworkRequest? Network { get; init; }

    /// <summary>A snapshot (of the caller's) whose files the new session starts with; its image is the default image.
    /// The Python interpreter starts fresh: a snapshot holds files, not memory.</summary>
    public string? FromSnapshot { get; init; }

    /// <summary>A repository to clone into the workspace before the session is ready (through the git helper; the
    /// session itself never reaches the network for it and never sees a credential).</summary>
    public Git.GitRequest? Git { get; init; }

    /// <summary>Shell commands run once, in order, before the session is ready (after the clone, after the image's own
    /// setup commands); the first that fails fails the create with its output.</summary>
    public IReadOnlyList<string>? Setup { get; init; }

    /// <summary>Names of operator context directories (<c>Sandbox:Context:Directories</c>) mounted read-only at
    /// <c>/context/&lt;name&gt;</c>.</summary>
    public IReadOnlyList<string>? Context { get; init; }

    /// <summary>The caller's own context directories, by name: archives (zip, tar, tar.gz) unpacked at
    /// <c>/context/&lt;name&gt;</c>, which the sandbox user can read and not change (a volume of the session's own,
    /// removed with it; bounded like its workspace). A restart or fork does not carry them.</summary>
    public IReadOnlyDictionary<string, ReadOnlyMemory<byte>>? ContextArchives { get; init; }

    /// <summary>The caller's labels for the session (a task id, a user …): returned everywhere, filterable in listings;
    /// at most 32 keys of letters, digits, <c>. _ -</c> (64), values up to 512 characters.</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }

    /// <summary>Environment variables of every execution, process and terminal of the session (not secrets: those stay
    /// the egress proxy's). At most 64; names of letters, digits and <c>_</c>, not the sandbox's own (HOME, PATH, proxies …).</summary>
    public IReadOnlyDictionary<string, string>? Env { get; init; }

    /// <summary>Named volumes to mount (read-only ones may be shared; a read-write one is saved back when the session closes).</summary>
    public IReadOnlyList<Volumes.VolumeMountRequest>? Volumes { get; init; }

    /// <summary>Gives the session its own Docker engine (gVisor tier only): <c>DOCKER_HOST</c> for its processes, its
    /// containers behind the session's wall and inside its limits, removed with it.</summary>
    public bool Docker { get; init; }

    /// <summary>The nested engine's storage in MiB (memory-backed, bounded); null for <c>Sandbox:Docker:StorageMb</c>.</summary>
    public int? DockerStorageMb { get; init; }

    /// <summary>Images of the server's engine (allowed by <c>Sandbox:Docker:AllowedImages</c>) loaded into the session's
    /// engine before it is ready, so <c>docker run</c> needs no registry.</summary>
    public IReadOnlyList<string>? DockerImages { get; init; }
}

/// <summary>Lifecycle state of a session.</summary>
public enum SessionStatus
{
    /// <summary>Being created.</summary>
    Creating,
    /// <summary>Ready for executions and files.</summary>
    Ready,
    /// <summary>Frozen (no CPU); the next execution or file operation resumes it.</summary>
    Paused,
    /// <summary>Its container or runner is gone; every call fails with <c>session_lost</c>.</summary>
    Lost,
    /// <summary>Closed; its container and volume are removed.</summary>
    Closed,
}

/// <summary>A snapshot of a session as faces report it.</summary>
/// <param name="Id">The session id (128-bit random, URL-safe).</param>
/// <param name="Image">Image short name.</param>
/// <param name="Owner">The caller that created it.</param>
/// <param name="Status">Lifecycle state.</param>
/// <param name="Limits">Effective limits.</param>
/// <param name="CreatedAt">Creation time (UTC).</param>
/// <param name="LastUsedAt">Last execution or file operation (UTC).</param>
/// <param name="IdleTimeout">Idle time after which it is closed.</param>
/// <param name="ExpiresAt">When it is closed if it stays idle, or at its maximum lifetime, whichever is first.</param>
/// <param name="Busy">Whether an execution is running.</param>
/// <param name="ExecutionCount">Executions so far.</param>
/// <param name="LostReason">Why it became unusable, when <see cref="Status"/> is Lost.</param>
/// <param name="Isolation">The wall it runs behind.</param>
/// <param name="Network">Its allow list and secret names; null: no network at all.</param>
/// <param name="Ports">Its exposed preview ports.</param>
/// <param name="Git">The repository its workspace was cloned from; null for other sessions.</param>
/// <param name="Context">The context directories mounted at <c>/context/&lt;name&gt;</c>.</param>
/// <param name="Node">In a cluster, the node that holds it; null on a single server.</param>
/// <param name="Name">Its name (a task name), if it has one.</param>
/// <param name="Metadata">The caller's labels.</param>
/// <param name="Env">Its environment variables (the caller's; never a secret).</param>
/// <param name="Docker">Its own Docker engine (<c>docker: true</c>); null: none.</param>
public sealed record SessionInfo(
    string Id,
    string Image,
    string Owner,
    SessionStatus Status,
    SandboxLimits Limits,
    DateTimeOffset CreatedAt,
    DateTimeOffset LastUsedAt,
    TimeSpan IdleTimeout,
    DateTimeOffset ExpiresAt,
    bool Busy,
    int ExecutionCount,
    string? LostReason,
    IsolationTier Isolation,
    Egress.SessionNetwork? Network = null,
    IReadOnlyList<int>? Ports = null,
    Git.GitWorkspace? Git = null,
    IReadOnlyList<string>? Context = null,
    string? Node = null,
    string? Name = null,
    IReadOnlyDictionary<string, string>? Metadata = null,
    IReadOnlyDictionary<string, string>? Env = null,
    NestedDocker.NestedDockerInfo? Docker = null);
