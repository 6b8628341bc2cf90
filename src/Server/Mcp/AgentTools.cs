using System.Text;
using System.Text.Json;
using Sandbox.Agents;

namespace Sandbox.Server.Mcp;

/// <summary>The MCP tools of the agents area.</summary>
[McpServerToolType]
public sealed class AgentTools(AgentRunService agents, IHttpContextAccessor http, ILogger<AgentTools> logger) : SandboxToolsBase(http, logger)
{
    /// <summary>run_agent.</summary>
    [McpServerTool(Name = "run_agent", Title = "Run a coding agent in a session", Destructive = true, OpenWorld = true)]
    [Description("Runs a coding agent (Claude Code by default) unattended with full permissions inside the session's container, in /workspace: " +
        "files uploaded before are its input, what it writes stays there for download_file and execute_code. Create the session with image 'agent' " +
        "first. The agent can reach its model endpoint and nothing else; the API key stays outside the sandbox. Steps (messages, tool calls) " +
        "stream as progress notifications; cancelling the call kills the agent. Returns the status, the agent's final message, the files it " +
        "changed with a unified diff, turns and usage; the full trajectory is kept (get_agent_run).")]
    public Task<CallToolResult> RunAgent(
        [Description("The session_id from create_session (image 'agent').")] string session_id,
        [Description("The task for the agent, as you would type it to Claude Code.")] string prompt,
        [Description("'claude-code' (default) or 'command' (any CLI given in 'command').")] string agent = "claude-code",
        [Description("Model name for the agent (optional; the agent's default otherwise).")] string? model = null,
        [Description("Most agent turns (optional).")] int? max_turns = null,
        [Description("Wall-clock limit in seconds (default 600). At the limit the agent is killed and the run says so.")] double? timeout_seconds = null,
        [Description("Extra instructions appended to the agent's system prompt (optional).")] string? system_prompt = null,
        [Description("Extra environment variables for the agent process only (optional). Values are redacted from the trajectory.")] Dictionary<string, string>? env = null,
        [Description("For agent 'command': the program and its arguments, e.g. ['python3', 'my_agent.py'] (no shell). The prompt is in " +
            "$AGENT_PROMPT.")] string[]? command = null,
        [Description("In a session created with git_url: the new branch the agent works on (default sandbox/<run-id>).")] string? branch = null,
        [Description("'read_only' lets the agent inspect git (status, log, diff, show, blame) but refuses commit, branch, push and every other " +
            "change (you commit and push); 'full' allows all; default: the server's.")] string? git_policy = null,
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
        RequestContext<CallToolRequestParams>? context = null,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var request = new RunAgentRequest
        {
            Prompt = prompt, Agent = agent, Model = model, MaxTurns = max_turns, TimeoutSeconds = timeout_seconds,
            SystemPrompt = system_prompt, Env = env, Command = command, Branch = branch, GitPolicy = git_policy,
            AllowedTools = allowed_tools, DisallowedTools = disallowed_tools, MaxThinkingTokens = max_thinking_tokens, AddDirs = add_dirs,
            ExtraArgs = extra_args, Settings = settings, Instructions = instructions, Skills = skills, SkillsArchiveBase64 = skills_archive_base64, RemoteSkills = remote_skills,
            McpServers = mcp_servers,
        }.ToEngine();
        return await RunWithProgressAsync(session_id, request, context, cancellationToken);
    });

    /// <summary>continue_agent.</summary>
    [McpServerTool(Name = "continue_agent", Title = "Continue an agent's conversation", Destructive = true, OpenWorld = true)]
    [Description("Sends a follow-up message to a finished agent run: the same agent resumes the same conversation (it remembers what it was told " +
        "and did) in the same workspace, as a new run linked to the earlier one. Use it to answer the agent's question, ask for a change to its work " +
        "or give the next task. Steps stream as progress notifications; returns what run_agent returns.")]
    public Task<CallToolResult> ContinueAgent(
        [Description("The session_id the earlier run ran in.")] string session_id,
        [Description("The next message to the agent.")] string prompt,
        [Description("The run to continue (from run_agent or list_agent_runs); default: the session's newest run.")] string? run_id = null,
        [Description("Wall-clock limit in seconds for this turn (default 600).")] double? timeout_seconds = null,
        [Description("Most agent turns (optional).")] int? max_turns = null,
        [Description("Extra environment variables for the agent process only (optional).")] Dictionary<string, string>? env = null,
        RequestContext<CallToolRequestParams>? context = null,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var request = new RunAgentRequest
        {
            Prompt = prompt, MaxTurns = max_turns, TimeoutSeconds = timeout_seconds, Env = env,
            Continue = string.IsNullOrEmpty(run_id) ? AgentRunRequest.LatestRun : run_id,
        }.ToEngine();
        return await RunWithProgressAsync(session_id, request, context, cancellationToken);
    });

    internal static async Task<CallToolResult> ReportAsync(IAsyncEnumerable<AgentRunEvent> events, RequestContext<CallToolRequestParams>? context,
        Func<AgentRun, CallToolResult> result, CancellationToken cancellationToken)
    {
        AgentRun? run = null;
        var steps = 0;
        await foreach (var e in events)
        {
            switch (e)
            {
                case AgentStepEvent s when context?.Params?.ProgressToken is { } token:
                    await context.Server.NotifyProgressAsync(token, new ProgressNotificationValue
                    {
                        Progress = ++steps, Message = s.Step.Tool is null ? $"[{s.Step.Kind}] {s.Step.Text}" : $"[tool] {s.Step.Text}",
                    }, cancellationToken: cancellationToken);
                    break;
                case AgentCompletedEvent c:
                    run = c.Run;
                    break;
            }
        }
        return result(run ?? throw new SandboxException(SandboxErrorCodes.Internal, "The agent run ended without a result."));
    }

    private Task<CallToolResult> RunWithProgressAsync(string session_id, AgentRunRequest request, RequestContext<CallToolRequestParams>? context,
        CancellationToken cancellationToken) =>
        ReportAsync(agents.RunStreamingAsync(session_id, Owner, request, cancellationToken), context, run =>
        {
            var dto = run.ToDto(trajectory: false);
            return McpToolResults.Ok(DescribeRun(dto), new { run = dto });
        }, cancellationToken);

    /// <summary>get_agent_run.</summary>
    [McpServerTool(Name = "get_agent_run", Title = "Get an agent run", ReadOnly = true, OpenWorld = false)]
    [Description("Returns an agent run of a session: status, final message, steps, changed files and diff; with include_trajectory, every event " +
        "the agent printed (can be large).")]
    public Task<CallToolResult> GetAgentRun(
        [Description("The session_id.")] string session_id,
        [Description("The run id from run_agent or list_agent_runs.")] string run_id,
        [Description("Include the full trajectory (every agent event).")] bool include_trajectory = false,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var dto = (await agents.GetAsync(session_id, Owner, run_id, cancellationToken)).ToDto(include_trajectory);
        return McpToolResults.Ok(DescribeRun(dto), new { run = dto });
    });

    /// <summary>list_agent_runs.</summary>
    [McpServerTool(Name = "list_agent_runs", Title = "List agent runs", ReadOnly = true, OpenWorld = false)]
    [Description("Lists a session's agent runs, newest first: id, agent, status, duration, final message.")]
    public Task<CallToolResult> ListAgentRuns(
        [Description("The session_id.")] string session_id,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var runs = (await agents.ListAsync(session_id, Owner, cancellationToken)).Select(r => r.ToDto(trajectory: false)).ToList();
        var text = runs.Count == 0 ? "No agent runs in this session."
            : string.Join("\n", runs.Select(r => $"{r.Id} {r.Agent} {r.Status} {r.DurationMs / 1000:F1}s: {r.FinalMessage ?? r.Error}"));
        return McpToolResults.Ok(text, new { runs });
    });

    internal static string DescribeRun(AgentRunDto r)
    {
        var sb = new StringBuilder();
        sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"Agent run {r.Id} ({r.Agent}) {r.Status} in {r.DurationMs / 1000:F1} s");
        if (r.ContinuesRunId is { } earlier)
        {
            sb.Append(System.Globalization.CultureInfo.InvariantCulture, $", continuing {earlier}");
        }
        if (r.Turns is { } turns)
        {
            sb.Append(System.Globalization.CultureInfo.InvariantCulture, $", {turns} turns");
        }
        sb.AppendLine(".");
        if (r.Error is { } error)
        {
            sb.AppendLine(error);
        }
        if (r.FinalMessage is { } final)
        {
            sb.AppendLine("--- final message ---").AppendLine(final);
        }
        if (r.Git is { } git)
        {
            sb.AppendLine(System.Globalization.CultureInfo.InvariantCulture, $"--- branch {git.Branch} from {git.BaseCommit[..12]}: {git.Commits.Count} commits, {git.Uncommitted.Count} uncommitted changes ---");
            foreach (var c in git.Commits)
            {
                sb.AppendLine(System.Globalization.CultureInfo.InvariantCulture, $"{c.Id[..12]} {c.Subject}");
            }
            foreach (var u in git.Uncommitted.Take(50))
            {
                sb.AppendLine(u);
            }
        }
        if (r.Skills.Count > 0 || r.McpServers.Count > 0)
        {
            sb.AppendLine($"Skills: {(r.Skills.Count == 0 ? "none" : string.Join(", ", r.Skills.Select(s => s.Name)))}; MCP servers: {(r.McpServers.Count == 0 ? "none" : string.Join(", ", r.McpServers))}.");
        }
        if (r.Changes.Count > 0)
        {
            sb.AppendLine("--- files changed: " + (r.Summary ?? r.Changes.Count + " files") + " ---");
            foreach (var c in r.Changes)
            {
                sb.AppendLine(System.Globalization.CultureInfo.InvariantCulture, $"{c.Change} {c.Path}");
            }
            var diff = r.Diff.Length > 20_000 ? r.Diff[..20_000] + "\n[diff cut here; download the files or call get_agent_run]" : r.Diff;
            sb.AppendLine("--- diff ---").Append(diff);
        }
        else if (r.Status != "running")
        {
            sb.AppendLine("No files changed in /workspace.");
        }
        return sb.ToString();
    }
}
