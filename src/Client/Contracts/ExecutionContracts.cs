using System.Text.Json;

namespace Sandbox.Client.Contracts;

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
    /// <summary>Install what the code imports and the session lacks before it runs (<c>python</c>, <c>node</c>), with
    /// the server's package policy; what was installed is in <see cref="ExecutionResultDto.AutoInstalled"/>.</summary>
    public bool? AutoInstall { get; init; }
    /// <summary>Import or package names auto_install leaves alone.</summary>
    public IReadOnlyList<string>? AutoInstallIgnore { get; init; }
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
    /// <summary>Packages auto_install installed before the code ran.</summary>
    public IReadOnlyList<InstalledPackageDto> AutoInstalled { get; init; } = [];
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
