using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sandbox.Client.Contracts;

/// <summary>The JSON conventions of the wire format: snake_case names, nulls omitted, enums as snake_case strings.</summary>
public static class SandboxJson
{
    /// <summary>Serializer options for every sandbox contract type.</summary>
    public static JsonSerializerOptions Options { get; } = Create();

    /// <summary>Applies the wire conventions to existing options (for example ASP.NET Core's).</summary>
    public static void Apply(JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        options.DictionaryKeyPolicy = JsonNamingPolicy.SnakeCaseLower;
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
    /// <summary>Its exposed preview ports, reachable at <c>/api/sessions/{id}/ports/{port}/</c>.</summary>
    public IReadOnlyList<int> Ports { get; init; } = [];
    /// <summary>The repository it was cloned from; null for other sessions.</summary>
    public GitWorkspaceDto? Git { get; init; }
    /// <summary>Context directories mounted at <c>/context/&lt;name&gt;</c>.</summary>
    public IReadOnlyList<string>? Context { get; init; }
}

/// <summary>Body of an execute request.</summary>
public sealed record ExecuteRequest
{
    /// <summary>Source code.</summary>
    public required string Code { get; init; }
    /// <summary><c>python</c> (default, stateful) or <c>bash</c>.</summary>
    public string? Language { get; init; }
    /// <summary>Wall-clock limit in seconds.</summary>
    public double? TimeoutSeconds { get; init; }
    /// <summary>Python only: run in a new interpreter, without the session's variables.</summary>
    public bool? Fresh { get; init; }
    /// <summary>Safety rule ids or names to allow.</summary>
    public IReadOnlyList<string>? Allow { get; init; }
    /// <summary>Seconds to wait for the code to finish; after that the answer has status <c>running</c>, the output so
    /// far and the execution id, and the code keeps running (REST default: until done; MCP default: 25).</summary>
    public double? WaitSeconds { get; init; }
    /// <summary>Characters of stdout and of stderr the answer carries at most (head and tail with a marker; the whole
    /// output is kept in the workspace). REST default: the server cap; MCP default: 16000.</summary>
    public int? MaxOutputChars { get; init; }
}

/// <summary>An exception that ended the code.</summary>
public sealed record ExecutionErrorDto(string Type, string Message, string? Traceback);

/// <summary>An image the code produced.</summary>
public sealed record ImageDto(string Format, string Base64);

/// <summary>A safety check finding.</summary>
public sealed record FindingDto(string RuleId, int Line, string Message, string Name);

/// <summary>The result of an execution.</summary>
public sealed record ExecutionResultDto
{
    /// <summary>Execution id within the session.</summary>
    public required string ExecutionId { get; init; }
    /// <summary>Standard output (capped).</summary>
    public required string Stdout { get; init; }
    /// <summary>Standard error (capped).</summary>
    public required string Stderr { get; init; }
    /// <summary>Exit status.</summary>
    public int? ExitCode { get; init; }
    /// <summary>The exception that ended the code.</summary>
    public ExecutionErrorDto? Error { get; init; }
    /// <summary>Whether the timeout stopped the code.</summary>
    public bool TimedOut { get; init; }
    /// <summary>Whether output was cut.</summary>
    public bool Truncated { get; init; }
    /// <summary>Whether the session's variables were lost.</summary>
    public bool StateLost { get; init; }
    /// <summary>Duration in milliseconds.</summary>
    public double DurationMs { get; init; }
    /// <summary>Images produced.</summary>
    public IReadOnlyList<ImageDto> Images { get; init; } = [];
    /// <summary>Safety findings (warn mode).</summary>
    public IReadOnlyList<FindingDto> Findings { get; init; } = [];
    /// <summary><c>finished</c>, <c>running</c> (read on with get_execution), <c>failed</c> or <c>cancelled</c>.</summary>
    public string Status { get; init; } = "finished";
    /// <summary>Why it did not finish (failed, cancelled).</summary>
    public ErrorDto? Failure { get; init; }
    /// <summary>Pass it to get_execution to read only what came after this answer.</summary>
    public int Cursor { get; init; }
    /// <summary>Bytes written to stdout in all, when the whole output was kept.</summary>
    public long? StdoutBytes { get; init; }
    /// <summary>Bytes written to stderr in all, when the whole output was kept.</summary>
    public long? StderrBytes { get; init; }
    /// <summary>Workspace path of the kept output without the <c>.stdout</c>/<c>.stderr</c> suffix.</summary>
    public string? OutputLog { get; init; }
}

/// <summary>Body of a create-link request.</summary>
public sealed record CreateLinkRequest
{
    /// <summary>Workspace-relative path (for GET, empty: the whole workspace as tar).</summary>
    public string Path { get; init; } = "";
    /// <summary><c>GET</c> (download, default) or <c>PUT</c> (upload).</summary>
    public string? Method { get; init; }
    /// <summary>Seconds until it expires (server default 900).</summary>
    public int? ExpiresSeconds { get; init; }
    /// <summary>Whether it works only once.</summary>
    public bool? SingleUse { get; init; }
}

/// <summary>A link to one file of a session: usable without the bearer token until it expires.</summary>
/// <param name="Url">The URL (GET or PUT it as it is).</param>
/// <param name="Path">Workspace-relative path.</param>
/// <param name="Method"><c>GET</c> or <c>PUT</c>.</param>
/// <param name="ExpiresAt">When it stops working.</param>
/// <param name="SingleUse">Whether it works only once.</param>
public sealed record FileLinkDto(string Url, string Path, string Method, DateTimeOffset ExpiresAt, bool SingleUse);

/// <summary>Body of a start-process request: a bash line or an argument vector.</summary>
public sealed record StartProcessRequest
{
    /// <summary>A bash command line; or give <see cref="Argv"/>.</summary>
    public string? Command { get; init; }
    /// <summary>The program and its arguments, without a shell.</summary>
    public IReadOnlyList<string>? Argv { get; init; }
    /// <summary>Working directory relative to <c>/workspace</c>.</summary>
    public string? Cwd { get; init; }
    /// <summary>Extra environment variables.</summary>
    public IReadOnlyDictionary<string, string>? Env { get; init; }
    /// <summary>Safety rule ids or names to allow for the command line.</summary>
    public IReadOnlyList<string>? Allow { get; init; }
}

/// <summary>A background process.</summary>
public sealed record ProcessDto(string ProcessId, string Command, bool Running, int? ExitCode, DateTimeOffset StartedAt,
    long StdoutBytes, long StderrBytes, string? OutputLog);

/// <summary>A background process's output since two cursors (byte offsets).</summary>
public sealed record ProcessOutputDto(ProcessDto Process, string Stdout, string Stderr, long StdoutCursor, long StderrCursor, long SkippedBytes);

/// <summary>Body of a send-input request.</summary>
public sealed record ProcessInputRequest
{
    /// <summary>Text written to the process's stdin.</summary>
    public string Text { get; init; } = "";
    /// <summary>Close its stdin afterwards (end of input).</summary>
    public bool Close { get; init; }
}

/// <summary>An execution in a session's list.</summary>
public sealed record ExecutionSummaryDto(string ExecutionId, string Language, string Status, DateTimeOffset StartedAt, double DurationMs);

/// <summary>A slice of an execution's kept output (offsets in bytes).</summary>
public sealed record OutputSliceDto(string ExecutionId, string Stream, long Offset, int Length, long TotalBytes, string Text);

/// <summary>A matching line of an execution's kept output.</summary>
public sealed record OutputMatchDto(int Line, long Offset, string Text);

/// <summary>The lines of an execution's kept output that matched.</summary>
public sealed record OutputMatchesDto(string ExecutionId, string Stream, IReadOnlyList<OutputMatchDto> Matches, bool More);

/// <summary>One line of a streamed execution (<c>application/x-ndjson</c>) or one SSE event's data.</summary>
public sealed record ExecutionStreamEvent
{
    /// <summary><c>output</c>, <c>image</c>, <c>result</c> or <c>error</c>.</summary>
    public required string Type { get; init; }
    /// <summary>For output: <c>stdout</c> or <c>stderr</c>.</summary>
    public string? Stream { get; init; }
    /// <summary>For output: the text.</summary>
    public string? Text { get; init; }
    /// <summary>For image: the image.</summary>
    public ImageDto? Image { get; init; }
    /// <summary>For result: the whole result.</summary>
    public ExecutionResultDto? Result { get; init; }
    /// <summary>The cursor after this event (also the SSE event id): reconnect with it to read on.</summary>
    public int? Cursor { get; init; }
    /// <summary>For error: what went wrong.</summary>
    public ErrorDto? Error { get; init; }
}

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

/// <summary>Body of a run-agent request.</summary>
public sealed record RunAgentRequest
{
    /// <summary>The task for the agent.</summary>
    public required string Prompt { get; init; }
    /// <summary><c>claude-code</c> (default) or <c>command</c>.</summary>
    public string? Agent { get; init; }
    /// <summary>Model name for the agent.</summary>
    public string? Model { get; init; }
    /// <summary>Most agent turns.</summary>
    public int? MaxTurns { get; init; }
    /// <summary>Wall-clock limit in seconds.</summary>
    public double? TimeoutSeconds { get; init; }
    /// <summary>Extra instructions appended to the agent's system prompt.</summary>
    public string? SystemPrompt { get; init; }
    /// <summary>Extra environment for the agent process only; values are redacted from the trajectory.</summary>
    public IReadOnlyDictionary<string, string>? Env { get; init; }
    /// <summary>For agent <c>command</c>: program and arguments (no shell).</summary>
    public IReadOnlyList<string>? Command { get; init; }
    /// <summary>A model endpoint the server allows, instead of its default.</summary>
    public string? ModelEndpoint { get; init; }
    /// <summary>An API key for this run instead of the server's; held by the run's model proxy only, never stored or returned.</summary>
    public string? ApiKey { get; init; }
    /// <summary>In a git session: the new branch to work on (default <c>sandbox/&lt;run-id&gt;</c>).</summary>
    public string? Branch { get; init; }
}

/// <summary>A file an agent run changed.</summary>
public sealed record AgentFileChangeDto(string Path, string Change, bool Binary, long Size);

/// <summary>A readable step of an agent run.</summary>
public sealed record AgentStepDto(int Index, string Kind, string Text, string? Tool);

/// <summary>An agent run.</summary>
public sealed record AgentRunDto
{
    /// <summary>Run id.</summary>
    public required string Id { get; init; }
    /// <summary>Session id.</summary>
    public required string SessionId { get; init; }
    /// <summary>Agent name.</summary>
    public required string Agent { get; init; }
    /// <summary>Model asked for.</summary>
    public string? Model { get; init; }
    /// <summary>The prompt.</summary>
    public required string Prompt { get; init; }
    /// <summary>The model endpoint used.</summary>
    public required string ModelEndpoint { get; init; }
    /// <summary><c>running</c>, <c>succeeded</c>, <c>failed</c>, <c>timed_out</c> or <c>cancelled</c>.</summary>
    public required string Status { get; init; }
    /// <summary>Start time.</summary>
    public DateTimeOffset StartedAt { get; init; }
    /// <summary>End time, once ended.</summary>
    public DateTimeOffset? EndedAt { get; init; }
    /// <summary>Duration in milliseconds.</summary>
    public double DurationMs { get; init; }
    /// <summary>The agent's final message.</summary>
    public string? FinalMessage { get; init; }
    /// <summary>Why it did not succeed.</summary>
    public string? Error { get; init; }
    /// <summary>Exit status of the agent process.</summary>
    public int? ExitCode { get; init; }
    /// <summary>Turns reported by the agent.</summary>
    public int? Turns { get; init; }
    /// <summary>Token usage reported by the agent.</summary>
    public JsonElement? Usage { get; init; }
    /// <summary>Cost reported by the agent, USD.</summary>
    public double? CostUsd { get; init; }
    /// <summary>Files changed.</summary>
    public IReadOnlyList<AgentFileChangeDto> Changes { get; init; } = [];
    /// <summary>Unified diff of the workspace.</summary>
    public string Diff { get; init; } = "";
    /// <summary>Whether the diff was cut.</summary>
    public bool DiffTruncated { get; init; }
    /// <summary>Readable steps.</summary>
    public IReadOnlyList<AgentStepDto> Steps { get; init; } = [];
    /// <summary>Every event the agent printed (left out of listings and, unless asked for, of MCP results).</summary>
    public IReadOnlyList<JsonElement>? Trajectory { get; init; }
    /// <summary>Whether the trajectory was cut.</summary>
    public bool TrajectoryTruncated { get; init; }
    /// <summary>The end of the agent's standard error.</summary>
    public string? Stderr { get; init; }
    /// <summary>In a git session: the run's branch, its commits and what it left uncommitted.</summary>
    public GitRunChangesDto? Git { get; init; }
}

/// <summary>One line of a streamed agent run (<c>application/x-ndjson</c>) or one SSE event's data.</summary>
public sealed record AgentRunStreamEvent
{
    /// <summary><c>started</c>, <c>step</c>, <c>result</c> or <c>error</c>.</summary>
    public required string Type { get; init; }
    /// <summary>For step: the step.</summary>
    public AgentStepDto? Step { get; init; }
    /// <summary>For started and result: the run.</summary>
    public AgentRunDto? Run { get; init; }
    /// <summary>For error: what went wrong.</summary>
    public ErrorDto? Error { get; init; }
}

/// <summary>Body of an install-packages request.</summary>
public sealed record InstallPackagesRequest
{
    /// <summary>Package specs: <c>name</c> or <c>name==1.2.3</c> (pip), <c>name</c> or <c>name@1.2.3</c> (npm).</summary>
    public required IReadOnlyList<string> Packages { get; init; }
    /// <summary><c>pip</c> (default) or <c>npm</c>.</summary>
    public string? Manager { get; init; }
}

/// <summary>One installed package.</summary>
public sealed record InstalledPackageDto(string Name, string Version, string Manager, bool Cached, long Bytes);

/// <summary>The outcome of an install.</summary>
public sealed record PackageInstallResultDto(string Manager, IReadOnlyList<InstalledPackageDto> Installed, string Location, double DurationMs);
