using System.Text.Json;
using Sandbox.Agents;

namespace Sandbox.Server.Mcp;

/// <summary>The descriptions of the agent options, shared by run_agent and run_agent_job.</summary>
internal static class AgentOptionDocs
{
    public const string AllowedTools = "Tools the agent may use, Claude Code's --allowedTools rules (e.g. 'Read', 'Bash(git log:*)', 'mcp__docs__search'). Optional.";
    public const string DisallowedTools = "Tools the agent may not use (Claude Code's --disallowedTools), e.g. 'WebFetch'. Optional.";
    public const string MaxThinkingTokens = "Most thinking tokens per turn (Claude Code). Optional.";
    public const string AddDirs = "Further directories the agent may work in: absolute paths under /workspace or /context. Optional.";
    public const string ExtraArgs = "Further Claude Code flags from the server's allow list: --fallback-model M, --betas B, --setting-sources S, " +
        "--include-partial-messages, --strict-mcp-config, --disable-slash-commands. Anything else is refused by name.";
    public const string Settings = "Claude Code settings for this run (a JSON object like settings.json); apiKeyHelper, env, disableAllHooks and other " +
        "keys that would take the key or the server's hooks are refused.";
    public const string Instructions = "Standing instructions, written as the agent's user-level CLAUDE.md (Claude Code) or AGENTS.md (Codex) in its home, not the workspace.";
    public const string Skills = "Bundled skills to install by name (list_skills shows them). Optional.";
    public const string RemoteSkills = "Skills from git repositories ('owner/repo' on GitHub, or an http(s) git URL), fetched at run setup through the " +
        "session's network (its allow list must have the host); they replace skills of the same name. Optional.";
    public const string SkillsArchive = "Your own skills as a zip/tar/tar.gz, base64: folders with a SKILL.md (or one skill whose SKILL.md is at the root). " +
        "A skill of a bundled one's name replaces it. Optional.";
    public const string McpServers = "MCP servers the agent may use, in Claude Code's .mcp.json shape: {\"name\": {\"command\": \"python3\", \"args\": [\"server.py\"]}} " +
        "runs a stdio server inside the sandbox; {\"name\": {\"type\": \"http\", \"url\": \"https://host/mcp\", \"secret\": \"NAME\"}} reaches an HTTP " +
        "server on the session's network allow list, the named operator secret's header added by the egress proxy (never inside the sandbox). " +
        "The agent sees the tools as mcp__name__tool.";
}

/// <summary>The MCP tools of agent jobs, bundled skills and a session's changes.</summary>
[McpServerToolType]
public sealed class JobTools(AgentJobService jobs, AgentSetup setup, SessionChanges changes, IHttpContextAccessor http, ILogger<JobTools> logger)
    : SandboxToolsBase(http, logger)
{
    /// <summary>run_agent_job.</summary>
    [McpServerTool(Name = "run_agent_job", Title = "Run an agent job in a new session", Destructive = true, OpenWorld = true)]
    [Description("One call for a whole agent job: creates a session (image 'agent'), unpacks your project archive into /workspace, installs skills, " +
        "gives the agent its MCP servers and options, and runs it. Steps stream as progress notifications. Returns the run (final message, summary, " +
        "files changed, diff) and the job id; the session stays for inspection until its TTL: download_archive, session_diff, session_summary.")]
    public Task<CallToolResult> RunAgentJob(
        [Description("The task for the agent.")] string prompt,
        [Description("'claude-code' (default), 'codex' or 'command'.")] string agent = "claude-code",
        [Description("Your project as a zip, tar or tar.gz, base64, unpacked into the workspace (or editable_path) before the run. Optional.")] string? editable_archive_base64 = null,
        [Description("The workspace folder the archive goes into (default: the workspace itself).")] string? editable_path = null,
        [Description(SessionTools.ContextArchivesDoc)] Dictionary<string, string>? context_archives = null,
        [Description("Clone this repository into the workspace instead (the agent works on a branch). Optional.")] string? git_url = null,
        [Description("Session image (default 'agent').")] string? image = null,
        [Description("CPUs for the session (optional).")] double? cpus = null,
        [Description("Memory for the session in MiB (optional).")] int? memory_mb = null,
        [Description("Hosts the session may reach (its egress allow list), e.g. ['pypi.org', 'docs.example.com']. Optional.")] string[]? network_allow = null,
        [Description("Operator secrets whose headers the egress proxy adds (for HTTP MCP servers). Optional.")] string[]? network_secrets = null,
        [Description("Idle seconds after which the session (kept for inspection after the run) is closed; default: the server's.")] int? idle_timeout_seconds = null,
        [Description("Model name (optional).")] string? model = null,
        [Description("Most agent turns (server default 300).")] int? max_turns = null,
        [Description("Wall-clock limit of the run in seconds (default 600).")] double? timeout_seconds = null,
        [Description("Extra instructions appended to the agent's system prompt (optional).")] string? system_prompt = null,
        [Description("Extra environment variables for the agent process only (optional); values are redacted from the trajectory.")] Dictionary<string, string>? env = null,
        [Description("For agent 'command': the program and its arguments (no shell), e.g. ['python3', 'agent.py'].")] string[]? command = null,
        [Description(AgentOptionDocs.AllowedTools)] string[]? allowed_tools = null,
        [Description(AgentOptionDocs.DisallowedTools)] string[]? disallowed_tools = null,
        [Description(AgentOptionDocs.MaxThinkingTokens)] int? max_thinking_tokens = null,
        [Description(AgentOptionDocs.AddDirs)] string[]? add_dirs = null,
        [Description(AgentOptionDocs.ExtraArgs)] string[]? extra_args = null,
        [Description(AgentOptionDocs.Settings)] JsonElement? settings = null,
        [Description(AgentOptionDocs.Instructions)] string? instructions = null,
        [Description(AgentOptionDocs.Skills)] string[]? skills = null,
        [Description(AgentOptionDocs.SkillsArchive)] string? skills_archive_base64 = null,
        [Description(AgentOptionDocs.RemoteSkills)] string[]? remote_skills = null,
        [Description(AgentOptionDocs.McpServers)] Dictionary<string, McpServerSpec>? mcp_servers = null,
        [Description("Wait for the job to end (default true, with its steps as progress); false answers at once with the running job (follow it with get_agent_job).")] bool wait = true,
        RequestContext<CallToolRequestParams>? context = null,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var request = new RunAgentJobRequest
        {
            Session = new CreateSessionRequest
            {
                Image = image, IdleTimeoutSeconds = idle_timeout_seconds, ContextArchives = context_archives,
                Limits = cpus is null && memory_mb is null ? null : new LimitsDto { Cpus = cpus, MemoryMb = memory_mb },
                Git = string.IsNullOrEmpty(git_url) ? null : new GitRequestDto { Url = git_url },
                Network = network_allow is null && network_secrets is null ? null : new NetworkDto { Allow = network_allow ?? [], Secrets = network_secrets },
            },
            EditableArchiveBase64 = editable_archive_base64, EditablePath = editable_path,
            Run = new RunAgentRequest
            {
                Prompt = prompt, Agent = agent, Model = model, MaxTurns = max_turns, TimeoutSeconds = timeout_seconds, SystemPrompt = system_prompt,
                Env = env, Command = command, AllowedTools = allowed_tools, DisallowedTools = disallowed_tools, MaxThinkingTokens = max_thinking_tokens, AddDirs = add_dirs,
                ExtraArgs = extra_args, Settings = settings, Instructions = instructions, Skills = skills, SkillsArchiveBase64 = skills_archive_base64, RemoteSkills = remote_skills,
                McpServers = mcp_servers,
            },
        }.ToEngine();
        var started = await jobs.StartAsync(request, Owner, cancellationToken);
        if (!wait)
        {
            var running = started.ToJobDto();
            return McpToolResults.Ok($"Job {running.Id} started in session {running.SessionId}; follow it with get_agent_job.", new { job = running });
        }
        // The job goes on if this call is cancelled (it is a job, not a call): only the wait for it ends.
        return await AgentTools.ReportAsync(jobs.WatchAsync(started.Id, Owner, cancellationToken), context, run =>
        {
            var job = run.ToJobDto();
            return McpToolResults.Ok($"Job {job.Id} in session {job.SessionId}: " + AgentTools.DescribeRun(job.Run), new { job });
        }, cancellationToken);
    });

    /// <summary>get_agent_job.</summary>
    [McpServerTool(Name = "get_agent_job", Title = "Get an agent job", ReadOnly = true, OpenWorld = false)]
    [Description("A job from run_agent_job: status, final message, summary, files changed, and where its results are.")]
    public Task<CallToolResult> GetAgentJob(
        [Description("The job id from run_agent_job.")] string job_id,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var job = (await jobs.GetAsync(job_id, Owner, cancellationToken)).ToJobDto();
        return McpToolResults.Ok($"Job {job.Id} in session {job.SessionId}: " + AgentTools.DescribeRun(job.Run), new { job });
    });

    /// <summary>list_skills.</summary>
    [McpServerTool(Name = "list_skills", Title = "List bundled skills", ReadOnly = true, OpenWorld = false, Idempotent = true)]
    [Description("The skills this server bundles (name and description); give their names as skills to run_agent or run_agent_job.")]
    public Task<CallToolResult> ListSkills() => Run(() =>
    {
        var skills = setup.ListBundled().Select(s => new AgentSkillDto(s.Name, s.Description, s.Source)).ToList();
        var text = skills.Count == 0 ? "This server bundles no skills." : string.Join("\n", skills.Select(s => $"{s.Name}: {s.Description}"));
        return Task.FromResult(McpToolResults.Ok(text, new { skills }));
    });

    /// <summary>session_diff.</summary>
    [McpServerTool(Name = "session_diff", Title = "Diff a session against its start", ReadOnly = true, OpenWorld = false)]
    [Description("What changed in the session since before its first agent run (or since one of your snapshots): files added, modified, " +
        "deleted, and a unified diff (of the whole workspace, or of one path).")]
    public Task<CallToolResult> SessionDiff(
        [Description("The session_id.")] string session_id,
        [Description("One file or folder (workspace-relative); default: everything.")] string? path = null,
        [Description("Compare with one of your snapshots (its snapshot_id) instead of the state before the first agent run.")] string? against = null,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var report = (await changes.GetAsync(session_id, Owner, path, includeDiff: true, cancellationToken, against)).ToDto();
        return McpToolResults.Ok(report.Summary.Text + (report.Diff.Length > 0 ? "\n\n" + report.Diff : ""), new { changes = report });
    });

    /// <summary>session_summary.</summary>
    [McpServerTool(Name = "session_summary", Title = "Summarise a session's changes", ReadOnly = true, OpenWorld = false)]
    [Description("A short summary of what the session's agents changed since before the first run (files, lines, commits) and the newest final message.")]
    public Task<CallToolResult> SessionSummary(
        [Description("The session_id.")] string session_id,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var report = (await changes.GetAsync(session_id, Owner, null, includeDiff: false, cancellationToken)).ToDto();
        return McpToolResults.Ok($"{report.Summary.Text} over {report.Runs} agent run(s)." + (report.FinalMessage is { } m ? " Last message: " + m : ""), new { summary = report });
    });
}
