using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sandbox.Client.Contracts;

/// <summary>The JSON conventions of the wire format: snake_case property names (dictionary keys as they are), nulls
/// omitted, enums as snake_case strings.</summary>
public static class SandboxJson
{
    /// <summary>Serializer options for every sandbox contract type.</summary>
    public static JsonSerializerOptions Options { get; } = Create();

    /// <summary>Applies the wire conventions to existing options (for example ASP.NET Core's).</summary>
    public static void Apply(JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        // Dictionary keys are data (environment variable names, metadata keys, server names): never renamed.
        options.DictionaryKeyPolicy = null;
        options.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower));
    }

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        Apply(options);
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}

/// <summary>Resource limits. In a request, unset values take the server defaults; none may exceed the server maxima.</summary>
public sealed record LimitsDto
{
    /// <summary>Memory in MiB (swap is set equal: no swap).</summary>
    public int? MemoryMb { get; init; }
    /// <summary>CPU cores.</summary>
    public double? Cpus { get; init; }
    /// <summary>Maximum processes and threads.</summary>
    public int? Pids { get; init; }
    /// <summary>Open files per process.</summary>
    public int? NoFile { get; init; }
    /// <summary>Largest single file in MiB.</summary>
    public int? FileSizeMb { get; init; }
    /// <summary>Size of /workspace in MiB.</summary>
    public int? WorkspaceMb { get; init; }
    /// <summary>Size of /tmp in MiB.</summary>
    public int? TmpMb { get; init; }
}

/// <summary>Body of a create-session request.</summary>
public sealed record CreateSessionRequest
{
    /// <summary>Image short name; <c>python</c> when omitted.</summary>
    public string? Image { get; init; }
    /// <summary>A name (a task name: lower-case letters, digits, <c>.</c> <c>_</c> <c>-</c>, at most 63), unique among the
    /// caller's open sessions; omitted: none.</summary>
    public string? Name { get; init; }
    /// <summary>Limits to lower.</summary>
    public LimitsDto? Limits { get; init; }
    /// <summary>Idle seconds after which the session is closed.</summary>
    public int? IdleTimeoutSeconds { get; init; }
    /// <summary><c>gvisor</c> (a kernel of its own; the default where the server has it) or <c>container</c>;
    /// omitted: the image's or the server's default.</summary>
    public string? Isolation { get; init; }
    /// <summary>Hosts the session may reach through its egress proxy, and operator secrets the proxy adds; omitted: no
    /// network at all.</summary>
    public NetworkDto? Network { get; init; }
    /// <summary>A snapshot id: the session starts with its files (and its image, unless one is named). The Python
    /// interpreter starts fresh.</summary>
    public string? FromSnapshot { get; init; }
    /// <summary>A repository to clone into the workspace (then <c>run_agent</c> works on a branch per run, and
    /// <c>export_changes</c>/<c>push_changes</c> take the work out).</summary>
    public GitRequestDto? Git { get; init; }
    /// <summary>Shell commands run once, in order, before the session is ready; the first failure fails the create.</summary>
    public IReadOnlyList<string>? Setup { get; init; }
    /// <summary>Names of operator context directories to mount read-only at <c>/context/&lt;name&gt;</c>.</summary>
    public IReadOnlyList<string>? Context { get; init; }
    /// <summary>Your own context directories: name → archive (zip, tar, tar.gz) as base64, unpacked at
    /// <c>/context/&lt;name&gt;</c>, readable and not writable by the sandbox's code. A restart or fork does not carry them.</summary>
    public IReadOnlyDictionary<string, string>? ContextArchives { get; init; }
    /// <summary>Your labels for the session (a task id, a user …): returned everywhere, filterable in listings
    /// (<c>GET /api/sessions?metadata.task=t1</c>). At most 32 keys (letters, digits, <c>. _ -</c>), values up to 512 characters.</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
    /// <summary>Environment variables of every execution, process and terminal of the session. Not for secrets (the
    /// sandbox's code sees them; secrets stay the egress proxy's).</summary>
    public IReadOnlyDictionary<string, string>? Env { get; init; }
    /// <summary>Named volumes to mount: read-only ones may be shared by sessions; one session at a time mounts a volume
    /// read-write, and its files are saved back to the volume when it closes.</summary>
    public IReadOnlyList<VolumeMountDto>? Volumes { get; init; }
    /// <summary>Gives the session its own Docker engine (gVisor tier only; the agent image unless another is named):
    /// <c>docker</c>, <c>docker compose</c> (<c>docker-compose</c>) and <c>docker build</c> work inside, behind the
    /// session's wall and within its limits.</summary>
    public bool? Docker { get; init; }
    /// <summary>The nested engine's storage in MiB (memory-backed); null for the server's default.</summary>
    public int? DockerStorageMb { get; init; }
    /// <summary>Images of the server's engine to load into the session's engine before it is ready (the server's
    /// <c>Sandbox:Docker:AllowedImages</c> says which may be), so <c>docker run</c> needs no registry.</summary>
    public IReadOnlyList<string>? DockerImages { get; init; }
}

/// <summary>A session's own Docker engine.</summary>
/// <param name="Host">The <c>DOCKER_HOST</c> the session's processes see.</param>
/// <param name="StorageMb">Its storage bound in MiB.</param>
/// <param name="Images">Images loaded into it from the server's engine.</param>
/// <param name="StartedMs">Milliseconds from the sandbox's start to the engine's first answer.</param>
public sealed record NestedDockerDto(string Host, int StorageMb, IReadOnlyList<string> Images, long StartedMs);

/// <summary>An image of the server's engine to load into a session's engine.</summary>
/// <param name="Image">Its reference, allowed by the server's <c>Sandbox:Docker:AllowedImages</c>.</param>
public sealed record LoadDockerImageRequest(string Image);

/// <summary>A named volume a new session mounts.</summary>
/// <param name="Name">The volume.</param>
/// <param name="Path">Where: an absolute path under <c>/data</c>, <c>/mnt</c> or <c>/volumes</c>.</param>
/// <param name="ReadOnly">Read-only (shared) or read-write (one session at a time).</param>
public sealed record VolumeMountDto(string Name, string Path, [property: System.Text.Json.Serialization.JsonPropertyName("read_only")] bool ReadOnly = false);

/// <summary>Body of a create-volume request.</summary>
/// <param name="Name">Lower-case letters, digits, <c>. _ -</c>, at most 63; unique among yours.</param>
/// <param name="SizeMb">Its size limit in MiB (default 1024).</param>
public sealed record CreateVolumeRequest(string Name, int? SizeMb = null);

/// <summary>A session mounting a volume.</summary>
public sealed record VolumeMountInfoDto(string SessionId, bool ReadOnly, string Path);

/// <summary>A named volume.</summary>
public sealed record VolumeDto(string Name, int SizeMb, long UsedBytes, int Files, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, IReadOnlyList<VolumeMountInfoDto> Mounts);

/// <summary>A file or directory in a volume.</summary>
public sealed record VolumeEntryDto(string Path, string Kind, long Size);

/// <summary>Body of an update-session request: what is given replaces what the session has.</summary>
public sealed record UpdateSessionRequest
{
    /// <summary>New metadata (replaces all of it); null leaves it.</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
    /// <summary>New environment (replaces all of it; the Python interpreter restarts with it); null leaves it.</summary>
    public IReadOnlyDictionary<string, string>? Env { get; init; }
}

/// <summary>A saved workspace.</summary>
public sealed record SnapshotDto(string SnapshotId, string Name, string SourceSessionId, string Image, long SizeBytes, int Files, DateTimeOffset CreatedAt);

/// <summary>A session's network: host patterns it may reach and operator secrets its proxy adds (names only).</summary>
public sealed record NetworkDto
{
    /// <summary>Host patterns: <c>api.example.com</c>, <c>*.example.org</c> (subdomains), <c>host:8443</c>; no port means
    /// 80 and 443. Names only, never IP addresses; each within what the server permits.</summary>
    public IReadOnlyList<string> Allow { get; init; } = [];
    /// <summary>Names of operator secrets the proxy adds to requests to their hosts (the values never enter the sandbox).</summary>
    public IReadOnlyList<string>? Secrets { get; init; }
    /// <summary>The proxy URL inside the sandbox (in answers; also in <c>HTTP_PROXY</c> and <c>HTTPS_PROXY</c>).</summary>
    public string? Proxy { get; init; }
}

/// <summary>A session.</summary>
public sealed record SessionDto
{
    /// <summary>Session id.</summary>
    public required string Id { get; init; }
    /// <summary>Image short name.</summary>
    public required string Image { get; init; }
    /// <summary>Its name (a task name), when it has one.</summary>
    public string? Name { get; init; }
    /// <summary>Your labels for it.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();
    /// <summary>Its environment variables.</summary>
    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();
    /// <summary><c>ready</c>, <c>lost</c> or <c>closed</c>.</summary>
    public required string Status { get; init; }
    /// <summary>Effective limits.</summary>
    public required LimitsDto Limits { get; init; }
    /// <summary>Creation time.</summary>
    public DateTimeOffset CreatedAt { get; init; }
    /// <summary>Last use.</summary>
    public DateTimeOffset LastUsedAt { get; init; }
    /// <summary>Idle seconds before the session is closed.</summary>
    public double IdleTimeoutSeconds { get; init; }
    /// <summary>When it will be closed if unused.</summary>
    public DateTimeOffset ExpiresAt { get; init; }
    /// <summary>Whether an execution is running.</summary>
    public bool Busy { get; init; }
    /// <summary>Executions so far.</summary>
    public int ExecutionCount { get; init; }
    /// <summary>Why it is lost, when it is.</summary>
    public string? LostReason { get; init; }
    /// <summary>The wall it runs behind: <c>gvisor</c> or <c>container</c>.</summary>
    public string Isolation { get; init; } = "container";
    /// <summary>Its network; null: none at all.</summary>
    public NetworkDto? Network { get; init; }
    /// <summary>Its exposed preview ports, each served on an origin of its own (open one with a preview grant).</summary>
    public IReadOnlyList<int> Ports { get; init; } = [];
    /// <summary>The repository it was cloned from; null for other sessions.</summary>
    public GitWorkspaceDto? Git { get; init; }
    /// <summary>Context directories mounted at <c>/context/&lt;name&gt;</c>.</summary>
    public IReadOnlyList<string>? Context { get; init; }
    /// <summary>In a cluster, the node that holds the session; null on a single server.</summary>
    public string? Node { get; init; }
    /// <summary>Its own Docker engine; null: none.</summary>
    public NestedDockerDto? Docker { get; init; }
}

/// <summary>What an uploaded archive became: the directory it was unpacked into (empty: the workspace) and what it held.</summary>
public sealed record ArchiveExtractionDto(string Path, int Files, int Directories, int Links, long Bytes);

/// <summary>Every entry below a directory (at most 10,000: <paramref name="Truncated"/> says when there were more).</summary>
/// <param name="Entries">The entries, paths relative to the workspace, sorted.</param>
/// <param name="Truncated">Whether entries were left out.</param>
public sealed record FileTreeDto(IReadOnlyList<FileEntryDto> Entries, bool Truncated);

/// <summary>A workspace entry.</summary>
public sealed record FileEntryDto(string Name, string Path, string Kind, long Size, DateTimeOffset ModifiedAt);

/// <summary>An error with a stable code (the same on every face).</summary>
public sealed record ErrorDto(string Code, string Message, JsonElement? Details = null);

/// <summary>Engine status.</summary>
public sealed record EngineDto(bool Reachable, string? Version, string? ApiVersion, string? Error);

/// <summary>Image status.</summary>
public sealed record ImageStatusDto(string Name, string Reference, bool Present, string? Id);

/// <summary>Server health.</summary>
public sealed record HealthDto
{
    /// <summary><c>ok</c> when the engine answers and every image is present, else <c>degraded</c>.</summary>
    public required string Status { get; init; }
    /// <summary>Server version.</summary>
    public required string Version { get; init; }
    /// <summary>Engine status.</summary>
    public required EngineDto Engine { get; init; }
    /// <summary>Images.</summary>
    public required IReadOnlyList<ImageStatusDto> Images { get; init; }
    /// <summary>Live sessions (all callers).</summary>
    public int Sessions { get; init; }
    /// <summary>What is wrong and what to do about it, when degraded.</summary>
    public IReadOnlyList<string> Problems { get; init; } = [];
    /// <summary>Isolation tiers: the default in force and what the engine can run.</summary>
    public IsolationDto? Isolation { get; init; }
}

/// <summary>The isolation tiers a server offers.</summary>
/// <param name="Default">The tier a session that asks for none gets (<c>gvisor</c> or <c>container</c>).</param>
/// <param name="Configured">The configured default (differs from <paramref name="Default"/> after a fallback).</param>
/// <param name="Available">The tiers the engine can run.</param>
/// <param name="Required">Whether the configured default is required (sessions are refused rather than fall back).</param>
/// <param name="Problem">Why the configured default cannot be had, when it cannot.</param>
public sealed record IsolationDto(string Default, string Configured, IReadOnlyList<string> Available, bool Required, string? Problem);

/// <summary>An installed package.</summary>
public sealed record PackageDto(string Name, string Version, string Manager);

/// <summary>What an image offers.</summary>
public sealed record PackagesDto(string Image, string Reference, IReadOnlyList<string> Languages, IReadOnlyList<PackageDto> Packages);

/// <summary>One audit entry of a session's history. Code is never stored, only its SHA-256 and size.</summary>
public sealed record HistoryEntryDto(
    string Kind, DateTimeOffset At, string? Language, string? CodeSha256, int? CodeSize, int? ExitCode, string? ErrorType,
    bool TimedOut, double? DurationMs, string? Output);

/// <summary>A preview of an exposed port: its own origin, and a link that opens it in a browser.</summary>
/// <param name="SessionId">The session.</param>
/// <param name="Port">The port.</param>
/// <param name="Origin">The preview's origin (<c>{scheme}://{port}-{session}.{preview domain}</c>): pages there share
/// nothing with the API's origin.</param>
/// <param name="Url">Opens the preview in a browser: the origin, with the grant when the server has tokens (the browser
/// trades it for a cookie of that origin at once).</param>
/// <param name="Grant">The grant itself, for a program (send it as <c>X-Sandbox-Preview-Grant</c>); null when the
/// server has no tokens (its previews are open, like its API).</param>
/// <param name="ExpiresAt">When the grant stops opening the preview.</param>
public sealed record PreviewDto(string SessionId, int Port, string Origin, string Url, string? Grant, DateTimeOffset ExpiresAt);

/// <summary>A terminal a session holds: it runs whether or not a client is attached.</summary>
/// <param name="TerminalId">Its id (attach with the terminal WebSocket and <c>terminal=ID</c>).</param>
/// <param name="StartedAt">When it opened.</param>
/// <param name="Viewers">Clients attached now.</param>
/// <param name="HasWriter">Whether one of them holds the keyboard (others watch, read-only).</param>
/// <param name="Running">False once its shell ended.</param>
/// <param name="ExitCode">The shell's exit status once it ended.</param>
/// <param name="Kind"><c>shell</c>, or the agent whose own interface runs in it (<c>claude-code</c>).</param>
/// <param name="EndsAt">When its time limit closes it (agents).</param>
public sealed record TerminalDto(string TerminalId, DateTimeOffset StartedAt, int Viewers, bool HasWriter, bool Running, int? ExitCode,
    string Kind = "shell", DateTimeOffset? EndsAt = null);

/// <summary>Body of an open-terminal request: a shell, or with <see cref="Agent"/> that agent's own interactive
/// interface (attach to talk to it; it works on while nobody is attached).</summary>
public sealed record OpenTerminalRequest
{
    /// <summary>Columns (default 80).</summary>
    public int? Cols { get; init; }
    /// <summary>Rows (default 24).</summary>
    public int? Rows { get; init; }
    /// <summary>The agent to start (<c>claude-code</c>); null for a shell.</summary>
    public string? Agent { get; init; }
    /// <summary>Model name for the agent.</summary>
    public string? Model { get; init; }
    /// <summary>The agent's first message (optional).</summary>
    public string? Prompt { get; init; }
    /// <summary>Extra environment for the agent process only (it may show on the terminal).</summary>
    public IReadOnlyDictionary<string, string>? Env { get; init; }
    /// <summary>A model endpoint the server allows, instead of its default.</summary>
    public string? ModelEndpoint { get; init; }
    /// <summary>An API key instead of the server's; held by the model proxy only, never stored or returned.</summary>
    public string? ApiKey { get; init; }
    /// <summary>The agent's life in seconds (default and most: the server's, 24 h unless configured).</summary>
    public double? TimeoutSeconds { get; init; }
    /// <summary>What the agent may do with git: <c>full</c> or <c>read_only</c>; null for the server's default.</summary>
    public string? GitPolicy { get; init; }
    /// <summary>With <see cref="Agent"/>: resume the agent's newest conversation kept in the session (Claude Code's
    /// <c>--continue</c>, Codex's <c>resume --last</c>), for example after a restart, instead of starting a new one.</summary>
    public bool Continue { get; init; }
}

/// <summary>One line that matched a code search.</summary>
public sealed record CodeMatchDto(string Path, int Line, string Text);

/// <summary>What a code search found (at most the limit asked for; <paramref name="Truncated"/> when there were more).</summary>
public sealed record CodeSearchDto(IReadOnlyList<CodeMatchDto> Matches, bool Truncated);
