using System.Text.Json;

namespace Sandbox.Client.Contracts;

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
    /// <summary>Continues the conversation of this earlier run (its id, or <c>latest</c>): the same agent resumes it with
    /// <see cref="Prompt"/> as the next message (model and endpoint as before unless given; a git session's branch as before).</summary>
    public string? Continue { get; init; }
    /// <summary>What the agent may do with git: <c>full</c> or <c>read_only</c> (status, log, diff, show, blame; no
    /// commit, branch, push …); null for the server's default.</summary>
    public string? GitPolicy { get; init; }
    /// <summary>Tools the agent may use without asking (Claude Code's <c>--allowedTools</c>).</summary>
    public IReadOnlyList<string>? AllowedTools { get; init; }
    /// <summary>Tools the agent may not use (Claude Code's <c>--disallowedTools</c>).</summary>
    public IReadOnlyList<string>? DisallowedTools { get; init; }
    /// <summary>Most thinking tokens per turn (Claude Code).</summary>
    public int? MaxThinkingTokens { get; init; }
    /// <summary>Further directories the agent may work in (absolute, under <c>/workspace</c> or <c>/context</c>).</summary>
    public IReadOnlyList<string>? AddDirs { get; init; }
    /// <summary>Further flags from the server's allow list (e.g. <c>--fallback-model</c>, <c>--strict-mcp-config</c>).</summary>
    public IReadOnlyList<string>? ExtraArgs { get; init; }
    /// <summary>Claude Code settings for the run (a JSON object); keys that take the key, environment or hooks from the
    /// server are refused.</summary>
    public JsonElement? Settings { get; init; }
    /// <summary>Standing instructions: the agent's user-level <c>CLAUDE.md</c> (Claude Code) or <c>AGENTS.md</c> (Codex).</summary>
    public string? Instructions { get; init; }
    /// <summary>Bundled skills to install, by name (<c>GET /api/skills</c> lists them).</summary>
    public IReadOnlyList<string>? Skills { get; init; }
    /// <summary>An archive (zip, tar, tar.gz) of your own skills, base64: folders with a <c>SKILL.md</c>, or one skill
    /// with its <c>SKILL.md</c> at the root. A skill of a bundled one's name replaces it.</summary>
    public string? SkillsArchiveBase64 { get; init; }
    /// <summary>Skills from git repositories (<c>owner/repo</c> on GitHub, or an http(s) git URL), fetched at run setup
    /// through the session's network (its allow list must have the host); installed last, replacing skills of the same name.</summary>
    public IReadOnlyList<string>? RemoteSkills { get; init; }
    /// <summary>MCP servers the agent may use, by name (Claude Code's <c>.mcp.json</c> shape).</summary>
    public IReadOnlyDictionary<string, McpServerSpec>? McpServers { get; init; }
}

/// <summary>An MCP server for an agent: <c>stdio</c> (a program in the sandbox) or <c>http</c> (reached through the
/// session's network allow list).</summary>
public sealed record McpServerSpec
{
    /// <summary><c>stdio</c> (default) or <c>http</c>.</summary>
    public string? Type { get; init; }
    /// <summary>stdio: the program.</summary>
    public string? Command { get; init; }
    /// <summary>stdio: its arguments.</summary>
    public IReadOnlyList<string>? Args { get; init; }
    /// <summary>stdio: its environment (visible in the sandbox: no secrets).</summary>
    public IReadOnlyDictionary<string, string>? Env { get; init; }
    /// <summary>http: its URL (the host must be on the session's allow list).</summary>
    public string? Url { get; init; }
    /// <summary>http: a named operator secret on the session's network; the egress proxy adds its header.</summary>
    public string? Secret { get; init; }
}

/// <summary>A skill an agent was given (or a bundled one the server offers).</summary>
public sealed record AgentSkillDto(string Name, string Description, string Source);

/// <summary>What changed, counted.</summary>
public sealed record ChangeSummaryDto(int FilesAdded, int FilesModified, int FilesDeleted, int LinesAdded, int LinesRemoved, int Commits, string Text);

/// <summary>A session's changes since before its first agent run.</summary>
public sealed record SessionChangesDto(string SessionId, ChangeSummaryDto Summary, IReadOnlyList<AgentFileChangeDto> Changes, string Diff, bool Truncated,
    int Runs, string? FinalMessage);

/// <summary>Body of an agent-job request: a new session, what goes into it, and the run.</summary>
public sealed record RunAgentJobRequest
{
    /// <summary>The session to create (image <c>agent</c> by default for a job).</summary>
    public CreateSessionRequest? Session { get; init; }
    /// <summary>The run: prompt, agent, options, skills, MCP servers.</summary>
    public required RunAgentRequest Run { get; init; }
    /// <summary>An archive (zip, tar, tar.gz), base64, unpacked into the workspace before the run.</summary>
    public string? EditableArchiveBase64 { get; init; }
    /// <summary>The workspace folder it is unpacked into (default: the workspace itself).</summary>
    public string? EditablePath { get; init; }
}

/// <summary>Where a job's results are.</summary>
public sealed record AgentJobLinks(string Job, string Run, string Session, string EditableZip, string EditableTarGz, string Diff, string Summary);

/// <summary>An agent job: its run's status and result, and where to fetch the workspace, diffs and summary.</summary>
public sealed record AgentJobDto
{
    /// <summary>Job id (its run's id).</summary>
    public required string Id { get; init; }
    /// <summary>The session the job made.</summary>
    public required string SessionId { get; init; }
    /// <summary><c>running</c>, <c>succeeded</c>, <c>failed</c>, <c>timed_out</c> or <c>cancelled</c>.</summary>
    public required string Status { get; init; }
    /// <summary>The run (steps, changes, diff; the trajectory only when asked for).</summary>
    public required AgentRunDto Run { get; init; }
    /// <summary>Links to the results.</summary>
    public required AgentJobLinks Links { get; init; }
}

/// <summary>A file an agent run changed.</summary>
public sealed record AgentFileChangeDto(string Path, string Change, bool Binary, long Size);

/// <summary>A commit an agent made while it worked.</summary>
/// <param name="Id">Its hash.</param>
/// <param name="Subject">Its message's first line.</param>
/// <param name="Files">The files it changed.</param>
public sealed record AgentCommitDto(string Id, string Subject, IReadOnlyList<string> Files);

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
    /// <summary>The agent's own id of the conversation (Claude Code's session id, Codex's thread id): continue it with
    /// <see cref="RunAgentRequest.Continue"/>.</summary>
    public string? Conversation { get; init; }
    /// <summary>The run whose conversation this one continues.</summary>
    public string? ContinuesRunId { get; init; }
    /// <summary>What the agent was allowed to do with git: <c>full</c> or <c>read_only</c>.</summary>
    public string GitPolicy { get; init; } = "full";
    /// <summary>The skills installed for the run.</summary>
    public IReadOnlyList<AgentSkillDto> Skills { get; init; } = [];
    /// <summary>The MCP servers the agent was given.</summary>
    public IReadOnlyList<string> McpServers { get; init; } = [];
    /// <summary>What changed, in one line, once the run has ended.</summary>
    public string? Summary { get; init; }
}

/// <summary>One line of a streamed agent run (<c>application/x-ndjson</c>) or one SSE event's data.</summary>
public sealed record AgentRunStreamEvent
{
    /// <summary><c>started</c>, <c>step</c>, <c>commit</c>, <c>result</c> or <c>error</c>.</summary>
    public required string Type { get; init; }
    /// <summary>For step: the step.</summary>
    public AgentStepDto? Step { get; init; }
    /// <summary>For commit: a commit the agent just made (it is also a step of kind <c>commit</c>).</summary>
    public AgentCommitDto? Commit { get; init; }
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
