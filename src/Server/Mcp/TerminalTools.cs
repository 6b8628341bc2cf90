using Sandbox.Agents;
using Sandbox.Terminals;

namespace Sandbox.Server.Mcp;

/// <summary>The MCP tools of terminals: each translates its arguments to one engine call. Typing into a terminal is
/// for people (the dashboard, the terminal WebSocket); a model talks to a headless agent with run_agent and continue_agent.</summary>
[McpServerToolType]
public sealed class TerminalTools(TerminalService terminals, InteractiveAgentService agents, IHttpContextAccessor http, ILogger<TerminalTools> logger)
    : SandboxToolsBase(http, logger)
{
    /// <summary>open_terminal.</summary>
    [McpServerTool(Name = "open_terminal", Title = "Start an interactive agent or a shell for a person", Destructive = true, OpenWorld = true)]
    [Description("Opens a terminal the session holds, for a person to attach to (the dashboard's terminal, or the terminal WebSocket with " +
        "terminal=ID): with agent 'claude-code' or 'codex', that agent's own interactive interface, which works on while nobody is attached (an optional " +
        "prompt is its first message); without agent, a shell. It runs until it exits, is closed (close_terminal), its session ends, or its time " +
        "limit (24 h by default). The agent reaches only its model endpoint; the API key stays outside the sandbox. One agent per session.")]
    public Task<CallToolResult> OpenTerminal(
        [Description("The session_id (image 'agent' for an agent).")] string session_id,
        [Description("'claude-code' or 'codex' to start that agent's interface; leave out for a shell.")] string? agent = null,
        [Description("Model name for the agent (optional).")] string? model = null,
        [Description("The agent's first message (optional).")] string? prompt = null,
        [Description("The agent's life in seconds (optional; at most the server's limit).")] double? timeout_seconds = null,
        [Description("Columns (default 120).")] int? cols = null,
        [Description("Rows (default 36).")] int? rows = null,
        [Description("For an agent: 'read_only' refuses its git changes (commit, branch, push …), 'full' allows them; default: the server's.")] string? git_policy = null,
        [Description("For an agent: true resumes its newest conversation kept in the session (after restart_session, say) instead of starting a new one.")] bool @continue = false,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var (c, r) = (cols ?? 120, rows ?? 36);
        var info = string.IsNullOrEmpty(agent)
            ? await terminals.OpenAsync(session_id, Owner, c, r, cancellationToken)
            : await agents.StartAsync(session_id, Owner, new OpenTerminalRequest { Agent = agent, Model = model, Prompt = prompt, TimeoutSeconds = timeout_seconds, GitPolicy = git_policy, Continue = @continue }
                .ToInteractiveAgent(), c, r, cancellationToken);
        var dto = info.ToDto();
        return McpToolResults.Ok($"Terminal {dto.TerminalId} ({dto.Kind}) runs in session {session_id}" + (dto.EndsAt is { } end ? $" until {end:u}" : "") +
            $". A person attaches in the dashboard, or with the WebSocket /api/sessions/{session_id}/terminal?terminal={dto.TerminalId}.", new { terminal = dto });
    });

    /// <summary>list_terminals.</summary>
    [McpServerTool(Name = "list_terminals", Title = "List a session's terminals", ReadOnly = true, OpenWorld = false)]
    [Description("Lists the session's terminals: id, kind (shell or the agent), clients attached, whether one types, running or its exit status.")]
    public Task<CallToolResult> ListTerminals([Description("The session_id.")] string session_id, CancellationToken cancellationToken = default) => Run(() =>
    {
        var list = terminals.List(session_id, Owner).Select(t => t.ToDto()).ToList();
        var text = list.Count == 0 ? "No terminals in this session."
            : string.Join("\n", list.Select(t => $"{t.TerminalId} {t.Kind} {(t.Running ? "running" : $"ended ({t.ExitCode})")}, {t.Viewers} attached"));
        return Task.FromResult(McpToolResults.Ok(text, new { terminals = list }));
    });

    /// <summary>close_terminal.</summary>
    [McpServerTool(Name = "close_terminal", Title = "Close a terminal", Destructive = true, OpenWorld = false)]
    [Description("Closes a terminal: its shell or agent and what it started are killed; attached clients see it end.")]
    public Task<CallToolResult> CloseTerminal(
        [Description("The session_id.")] string session_id, [Description("The terminal id.")] string terminal_id,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        await terminals.CloseAsync(session_id, Owner, terminal_id, cancellationToken);
        return McpToolResults.Ok($"Terminal {terminal_id} is closed.", new { terminal_id });
    });
}
