using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Threading.Channels;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Sandbox.Client.Contracts;

namespace Sandbox.Client;

/// <summary>The agents area of the MCP client: runs, jobs, skills, a session's changes and terminals.</summary>
public sealed partial class SandboxMcpClient
{
    /// <inheritdoc />
    /// <remarks>Over MCP a run takes no <c>api_key</c> or <c>model_endpoint</c>: a key in a tool call would pass through
    /// the calling model's context. Configure them on the server, or use the REST client.</remarks>
    public async Task<AgentRunDto> RunAgentAsync(string sessionId, RunAgentRequest request, CancellationToken cancellationToken = default)
    {
        McpAgentJobs.CheckForMcp(request, "run_agent");
        if (request.Continue is not null)
        {
            throw new SandboxClientException("invalid_argument", "Over MCP, continue a run with ContinueAgentAsync (the continue_agent tool).");
        }
        var args = McpAgentJobs.Options(request);
        (args["session_id"], args["env"], args["command"], args["branch"], args["git_policy"]) = (sessionId, request.Env, request.Command, request.Branch, request.GitPolicy);
        return McpToolCaller.Get<AgentRunDto>(await _tools.CallAsync("run_agent", args, cancellationToken).ConfigureAwait(false), "run");
    }

    /// <inheritdoc />
    public Task<AgentJobDto> RunAgentJobAsync(RunAgentJobRequest request, bool wait = true, CancellationToken cancellationToken = default) =>
        McpAgentJobs.RunJobAsync(_tools, request, wait, cancellationToken);

    /// <inheritdoc />
    public Task<AgentJobDto> GetAgentJobAsync(string jobId, CancellationToken cancellationToken = default) =>
        _tools.CallAsync<AgentJobDto>("get_agent_job", new() { ["job_id"] = jobId }, "job", cancellationToken);

    /// <inheritdoc />
    public Task<CodeSearchDto> SearchCodeAsync(string sessionId, string pattern, string? path = null, bool fixedText = false, bool ignoreCase = false,
        int maxMatches = 200, CancellationToken cancellationToken = default) =>
        _tools.CallAsync<CodeSearchDto>("search_code", new()
        {
            ["session_id"] = sessionId, ["pattern"] = pattern, ["path"] = path, ["fixed"] = fixedText, ["ignore_case"] = ignoreCase, ["max_matches"] = maxMatches,
        }, "search", cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<AgentSkillDto>> ListSkillsAsync(CancellationToken cancellationToken = default) =>
        _tools.CallAsync<IReadOnlyList<AgentSkillDto>>("list_skills", [], "skills", cancellationToken);

    /// <inheritdoc />
    public Task<SessionChangesDto> GetSessionDiffAsync(string sessionId, string? path = null, string? against = null, CancellationToken cancellationToken = default) =>
        _tools.CallAsync<SessionChangesDto>("session_diff", new() { ["session_id"] = sessionId, ["path"] = path, ["against"] = against }, "changes", cancellationToken);

    /// <inheritdoc />
    public Task<SessionChangesDto> GetSessionSummaryAsync(string sessionId, CancellationToken cancellationToken = default) =>
        _tools.CallAsync<SessionChangesDto>("session_summary", new() { ["session_id"] = sessionId }, "summary", cancellationToken);

    /// <inheritdoc />
    public Task<AgentRunDto> ContinueAgentAsync(string sessionId, string runId, string prompt, CancellationToken cancellationToken = default) =>
        _tools.CallAsync<AgentRunDto>("continue_agent", new()
        {
            ["session_id"] = sessionId, ["run_id"] = runId, ["prompt"] = prompt,
        }, "run", cancellationToken);

    /// <inheritdoc />
    /// <remarks>Over MCP a terminal takes no <c>api_key</c>, <c>model_endpoint</c> or <c>env</c> (they would pass through
    /// the calling model's context); use the REST client for those.</remarks>
    public async Task<TerminalDto> OpenTerminalAsync(string sessionId, OpenTerminalRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.ApiKey is not null || request.ModelEndpoint is not null || request.Env is not null)
        {
            throw new SandboxClientException("invalid_argument", "Over MCP, open_terminal takes no api_key, model_endpoint or env. Configure them on the server, or use SandboxRestClient.");
        }
        return await _tools.CallAsync<TerminalDto>("open_terminal", new()
        {
            ["session_id"] = sessionId, ["agent"] = request.Agent, ["model"] = request.Model, ["prompt"] = request.Prompt,
            ["timeout_seconds"] = request.TimeoutSeconds, ["cols"] = request.Cols, ["rows"] = request.Rows, ["git_policy"] = request.GitPolicy, ["continue"] = request.Continue,
        }, "terminal", cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<TerminalDto>> ListTerminalsAsync(string sessionId, CancellationToken cancellationToken = default) =>
        _tools.CallAsync<IReadOnlyList<TerminalDto>>("list_terminals", new() { ["session_id"] = sessionId }, "terminals", cancellationToken);

    /// <inheritdoc />
    public Task CloseTerminalAsync(string sessionId, string terminalId, CancellationToken cancellationToken = default) =>
        _tools.CallAsync("close_terminal", new() { ["session_id"] = sessionId, ["terminal_id"] = terminalId }, cancellationToken);

    /// <inheritdoc />
    public Task<AgentRunDto> GetAgentRunAsync(string sessionId, string runId, bool includeTrajectory = false, CancellationToken cancellationToken = default) =>
        _tools.CallAsync<AgentRunDto>("get_agent_run", new()
        {
            ["session_id"] = sessionId, ["run_id"] = runId, ["include_trajectory"] = includeTrajectory,
        }, "run", cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<AgentRunDto>> ListAgentRunsAsync(string sessionId, CancellationToken cancellationToken = default) =>
        _tools.CallAsync<IReadOnlyList<AgentRunDto>>("list_agent_runs", new() { ["session_id"] = sessionId }, "runs", cancellationToken);
}
