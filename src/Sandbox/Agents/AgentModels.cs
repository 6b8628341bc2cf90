using System.Text.Json;

namespace Sandbox.Agents;

/// <summary>What to ask a coding agent to do in a session.</summary>
public sealed record AgentRunRequest
{
    /// <summary>The task for the agent.</summary>
    public required string Prompt { get; init; }

    /// <summary>Which agent: <c>claude-code</c> (default) or <c>command</c> (the argument vector in <see cref="Command"/>).</summary>
    public string Agent { get; init; } = ClaudeCodeAgent.AgentName;

    /// <summary>Model name passed to the agent; null for the agent's default.</summary>
    public string? Model { get; init; }

    /// <summary>Most agent turns; null for the agent's default.</summary>
    public int? MaxTurns { get; init; }

    /// <summary>Wall-clock limit; null for the server default.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>Extra instructions appended to the agent's system prompt.</summary>
    public string? SystemPrompt { get; init; }

    /// <summary>Extra environment for the agent process only (not for later executions). Values are redacted from the
    /// stored trajectory and never logged.</summary>
    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();

    /// <summary>For <c>agent = command</c>: the program and its arguments, run without a shell. The prompt is in the
    /// environment variable <c>AGENT_PROMPT</c>; the model endpoint in <c>AGENT_MODEL_BASE_URL</c>.</summary>
    public IReadOnlyList<string>? Command { get; init; }

    /// <summary>A model endpoint other than the server's default; it must be one the server allows.</summary>
    public string? ModelEndpoint { get; init; }

    /// <summary>An API key for this run instead of the server's. Given to the run's model proxy only; never stored,
    /// logged or returned, and never inside the sandbox.</summary>
    public string? ApiKey { get; init; }

    /// <summary>In a session cloned from a repository: the branch the run works on (new, from the current commit);
    /// null for <c>sandbox/&lt;run-id&gt;</c>. Ignored elsewhere.</summary>
    public string? Branch { get; init; }

    /// <summary>Continues the conversation of this earlier run of the session (its id, or <see cref="LatestRun"/> for the
    /// newest run that left one): the agent resumes it (<c>claude --resume</c>, <c>codex exec resume</c>) with
    /// <see cref="Prompt"/> as the next message, on the same agent, model and endpoint unless given, and in a git
    /// session on the same branch. Null starts a new conversation.</summary>
    public string? Continue { get; init; }

    /// <summary>The value of <see cref="Continue"/> that names the session's newest run with a conversation.</summary>
    public const string LatestRun = "latest";

    /// <summary>What the agent may do with git; null for the server's <see cref="AgentOptions.GitPolicy"/>.</summary>
    public AgentGitPolicy? GitPolicy { get; init; }

    /// <summary>Tools the agent may use without asking (Claude Code's <c>--allowedTools</c>, e.g. <c>Bash(git log:*)</c>,
    /// <c>mcp__docs__search</c>).</summary>
    public IReadOnlyList<string>? AllowedTools { get; init; }

    /// <summary>Tools the agent may not use (Claude Code's <c>--disallowedTools</c>).</summary>
    public IReadOnlyList<string>? DisallowedTools { get; init; }

    /// <summary>Most thinking tokens per turn (Claude Code's <c>MAX_THINKING_TOKENS</c>).</summary>
    public int? MaxThinkingTokens { get; init; }

    /// <summary>Further directories the agent may work in besides the workspace (absolute paths under
    /// <c>/workspace</c> or <c>/context</c>; Claude Code's <c>--add-dir</c>).</summary>
    public IReadOnlyList<string>? AddDirs { get; init; }

    /// <summary>Further command-line flags from the server's allow list (<see cref="ClaudeCodeOptions.ExtraFlags"/>); anything
    /// else is refused by name.</summary>
    public IReadOnlyList<string>? ExtraArgs { get; init; }

    /// <summary>Claude Code settings for this run (a JSON object, its <c>--settings</c>); keys that would take the key,
    /// the environment or the hooks from the server's control are refused.</summary>
    public System.Text.Json.JsonElement? Settings { get; init; }

    /// <summary>Standing instructions written into the agent's home as its user-level <c>CLAUDE.md</c> (Claude Code) or
    /// <c>AGENTS.md</c> (Codex) before the run, replacing what an earlier run put there; the workspace is left alone.</summary>
    public string? Instructions { get; init; }

    /// <summary>Bundled skills (by name, from <see cref="AgentOptions.SkillsDirectory"/>) to install into the agent's
    /// skills folder before the run.</summary>
    public IReadOnlyList<string> Skills { get; init; } = [];

    /// <summary>An archive (zip, tar, tar.gz) of skills installed after the bundled ones (a skill of the same name
    /// replaces the bundled one): folders with a <c>SKILL.md</c>, or one skill with its <c>SKILL.md</c> at the root.</summary>
    public ReadOnlyMemory<byte>? SkillsArchive { get; init; }

    /// <summary>Skills fetched from git repositories at run setup (<c>owner/repo</c> on GitHub, or an <c>https://</c> git
    /// URL), through the session's network (its allow list must have the host); installed after the other sources.</summary>
    public IReadOnlyList<string> RemoteSkills { get; init; } = [];

    /// <summary>MCP servers the agent may use this run, by name (Claude Code's <c>.mcp.json</c> shape).</summary>
    public IReadOnlyDictionary<string, AgentMcpServer>? McpServers { get; init; }
}

/// <summary>An MCP server an agent may use: a program started inside the sandbox (stdio) or an HTTP server reached
/// through the session's network allow list.</summary>
public sealed record AgentMcpServer
{
    /// <summary><c>stdio</c> (default when <see cref="Command"/> is given) or <c>http</c>.</summary>
    public string? Type { get; init; }
    /// <summary>stdio: the program (from the image, or installed by the session's setup).</summary>
    public string? Command { get; init; }
    /// <summary>stdio: its arguments.</summary>
    public IReadOnlyList<string>? Args { get; init; }
    /// <summary>stdio: its environment. Visible inside the sandbox: no secrets here (use <see cref="Secret"/> with an
    /// HTTP server).</summary>
    public IReadOnlyDictionary<string, string>? Env { get; init; }
    /// <summary>http: its URL; its host must be on the session's network allow list.</summary>
    public string? Url { get; init; }
    /// <summary>http: the name of an operator secret (<c>Sandbox:Egress:Secrets</c>) on the session's network whose
    /// header the egress proxy adds to requests to this server's host; its value never enters the sandbox.</summary>
    public string? Secret { get; init; }
}

/// <summary>A skill an agent was given.</summary>
/// <param name="Name">Its folder's name.</param>
/// <param name="Description">The description from its <c>SKILL.md</c>'s front matter.</param>
/// <param name="Source"><c>bundled</c>, <c>uploaded</c> or <c>remote:&lt;repository&gt;</c>.</param>
public sealed record AgentSkill(string Name, string Description, string Source);

/// <summary>What an agent may do with git in the session's repository.</summary>
public enum AgentGitPolicy
{
    /// <summary>Everything (commit, branch, push where a remote is reachable).</summary>
    Full,
    /// <summary>Read only: status, log, diff, show, blame and listings; every command that changes the repository is
    /// refused by the agent's own tool policy (the user commits and pushes). Code the agent writes and runs itself is
    /// not covered.</summary>
    ReadOnly,
}

/// <summary>Where an agent run is.</summary>
public enum AgentRunStatus
{
    /// <summary>The agent is working.</summary>
    Running,
    /// <summary>The agent finished and reported success.</summary>
    Succeeded,
    /// <summary>The agent finished with an error (its exit status or its own report).</summary>
    Failed,
    /// <summary>The run hit its time limit and the agent was killed.</summary>
    TimedOut,
    /// <summary>The caller cancelled the run and the agent was killed.</summary>
    Cancelled,
}

/// <summary>One file the run changed in the workspace.</summary>
/// <param name="Path">Workspace-relative path.</param>
/// <param name="Change"><c>added</c>, <c>modified</c> or <c>deleted</c>.</param>
/// <param name="Binary">Whether the diff leaves its content out (binary or large).</param>
/// <param name="Size">Size after the run, in bytes.</param>
public sealed record AgentFileChange(string Path, string Change, bool Binary, long Size);

/// <summary>One readable step of a run (a message, a tool call, a tool result), derived from the agent's own event.</summary>
/// <param name="Index">Position in the trajectory of the event it comes from.</param>
/// <param name="Kind"><c>system</c>, <c>message</c>, <c>tool_call</c>, <c>tool_result</c>, <c>result</c> or <c>output</c>.</param>
/// <param name="Text">A short description (tool name and main argument, or the start of a message).</param>
/// <param name="Tool">The tool name, for tool calls.</param>
public sealed record AgentStep(int Index, string Kind, string Text, string? Tool = null);

/// <summary>An agent run: its request (without secrets), status, trajectory and effect on the workspace.</summary>
public sealed record AgentRun
{
    /// <summary>Run id, unique within the server.</summary>
    public required string Id { get; init; }
    /// <summary>The session it ran in.</summary>
    public required string SessionId { get; init; }
    /// <summary>The caller that started it.</summary>
    public required string Owner { get; init; }
    /// <summary>The agent.</summary>
    public required string Agent { get; init; }
    /// <summary>The model asked for, if any.</summary>
    public string? Model { get; init; }
    /// <summary>The prompt.</summary>
    public required string Prompt { get; init; }
    /// <summary>The model endpoint the proxy forwarded to.</summary>
    public required string ModelEndpoint { get; init; }
    /// <summary>Status.</summary>
    public AgentRunStatus Status { get; init; }
    /// <summary>When it started.</summary>
    public DateTimeOffset StartedAt { get; init; }
    /// <summary>When it ended, once it has.</summary>
    public DateTimeOffset? EndedAt { get; init; }
    /// <summary>Duration in milliseconds (so far, while running).</summary>
    public double DurationMs { get; init; }
    /// <summary>The agent's final message.</summary>
    public string? FinalMessage { get; init; }
    /// <summary>Why it failed, timed out or was cancelled.</summary>
    public string? Error { get; init; }
    /// <summary>Exit status of the agent process.</summary>
    public int? ExitCode { get; init; }
    /// <summary>Turns the agent reports.</summary>
    public int? Turns { get; init; }
    /// <summary>Token usage the agent reports (its own JSON object).</summary>
    public JsonElement? Usage { get; init; }
    /// <summary>Cost the agent reports, in US dollars.</summary>
    public double? CostUsd { get; init; }
    /// <summary>Every event the agent printed (for Claude Code: each <c>stream-json</c> line), with secrets redacted.</summary>
    public IReadOnlyList<JsonElement> Trajectory { get; init; } = [];
    /// <summary>Whether the trajectory was cut at the server's cap.</summary>
    public bool TrajectoryTruncated { get; init; }
    /// <summary>Readable steps derived from the trajectory.</summary>
    public IReadOnlyList<AgentStep> Steps { get; init; } = [];
    /// <summary>Files the run added, changed or deleted (version-control internals under <c>.git/</c> are left out).</summary>
    public IReadOnlyList<AgentFileChange> Changes { get; init; } = [];
    /// <summary>Unified diff of the workspace before and after the run.</summary>
    public string Diff { get; init; } = "";
    /// <summary>Whether the diff was cut at the server's cap.</summary>
    public bool DiffTruncated { get; init; }
    /// <summary>The end of the agent's standard error (diagnostics), with secrets redacted.</summary>
    public string Stderr { get; init; } = "";
    /// <summary>In a session cloned from a repository: the run's branch, its commits and what it left uncommitted
    /// (<see cref="Diff"/> is then the workspace against the branch's base, untracked files included).</summary>
    public Git.GitRunChanges? Git { get; init; }
    /// <summary>The agent's own id of the conversation (Claude Code's session id, Codex's thread id), once it said it:
    /// what a later run continues (<see cref="AgentRunRequest.Continue"/>).</summary>
    public string? Conversation { get; init; }
    /// <summary>The run whose conversation this one continues, if any.</summary>
    public string? ContinuesRunId { get; init; }
    /// <summary>What the agent was allowed to do with git.</summary>
    public AgentGitPolicy GitPolicy { get; init; }
    /// <summary>The skills installed for this run.</summary>
    public IReadOnlyList<AgentSkill> Skills { get; init; } = [];
    /// <summary>The MCP servers the agent was given, by name.</summary>
    public IReadOnlyList<string> McpServers { get; init; } = [];
    /// <summary>What changed, in one line (files added, modified, deleted; lines; commits), once the run has ended.</summary>
    public string? Summary { get; init; }
}

/// <summary>An event of a streamed agent run.</summary>
public abstract record AgentRunEvent;

/// <summary>The run started.</summary>
/// <param name="Run">The run as it starts.</param>
public sealed record AgentStartedEvent(AgentRun Run) : AgentRunEvent;

/// <summary>The agent did something.</summary>
/// <param name="Step">The step.</param>
public sealed record AgentStepEvent(AgentStep Step) : AgentRunEvent;

/// <summary>A commit the agent made, seen while it works.</summary>
/// <param name="Id">Its hash.</param>
/// <param name="Subject">Its message's first line.</param>
/// <param name="Files">The files it changed (at most 200).</param>
public sealed record AgentCommit(string Id, string Subject, IReadOnlyList<string> Files);

/// <summary>The agent made a commit (in the workspace's repository) while the run goes on.</summary>
/// <param name="Commit">The commit.</param>
public sealed record AgentCommitEvent(AgentCommit Commit) : AgentRunEvent;

/// <summary>The last event: the finished run.</summary>
/// <param name="Run">The finished run.</param>
public sealed record AgentCompletedEvent(AgentRun Run) : AgentRunEvent;
