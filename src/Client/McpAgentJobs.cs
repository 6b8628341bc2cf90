using Sandbox.Client.Contracts;

namespace Sandbox.Client;

/// <summary>Agent options, jobs, skills and a session's changes over MCP: the same requests as over REST, spelled as
/// tool arguments.</summary>
internal static class McpAgentJobs
{
    /// <summary>A run's options as the arguments run_agent and run_agent_job share.</summary>
    public static Dictionary<string, object?> Options(RunAgentRequest r) => new()
    {
        ["prompt"] = r.Prompt, ["agent"] = r.Agent, ["model"] = r.Model, ["max_turns"] = r.MaxTurns, ["timeout_seconds"] = r.TimeoutSeconds,
        ["system_prompt"] = r.SystemPrompt, ["allowed_tools"] = r.AllowedTools, ["disallowed_tools"] = r.DisallowedTools,
        ["max_thinking_tokens"] = r.MaxThinkingTokens, ["add_dirs"] = r.AddDirs, ["extra_args"] = r.ExtraArgs, ["settings"] = r.Settings,
        ["instructions"] = r.Instructions, ["skills"] = r.Skills, ["skills_archive_base64"] = r.SkillsArchiveBase64, ["remote_skills"] = r.RemoteSkills, ["mcp_servers"] = r.McpServers,
    };

    /// <summary>Refuses what a tool call must not carry (a key would pass through the calling model's context).</summary>
    public static void CheckForMcp(RunAgentRequest r, string tool)
    {
        ArgumentNullException.ThrowIfNull(r);
        if (r.ApiKey is not null || r.ModelEndpoint is not null)
        {
            throw new SandboxClientException("invalid_argument",
                $"Over MCP, {tool} takes no api_key or model_endpoint (a key in a tool call would pass through the model's context). Configure them on the server, or use SandboxRestClient.");
        }
    }

    public static async Task<AgentJobDto> RunJobAsync(McpToolCaller tools, RunAgentJobRequest request, bool wait, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        CheckForMcp(request.Run, "run_agent_job");
        var s = request.Session ?? new CreateSessionRequest();
        if (s.Setup is { Count: > 0 } || s.Context is { Count: > 0 } || s.FromSnapshot is not null
            || s.Git?.Ref is not null || s.Git?.Credentials is not null || s.Isolation is not null || s.Name is not null)
        {
            throw new SandboxClientException("invalid_argument",
                "Over MCP, run_agent_job takes the session's image, cpus, memory, git url, network and idle timeout, and the run's options; for setup, context, snapshots, git refs or credentials, isolation or a name use SandboxRestClient.");
        }
        var args = Options(request.Run);
        (args["env"], args["command"]) = (request.Run.Env, request.Run.Command);
        args["editable_archive_base64"] = request.EditableArchiveBase64;
        args["editable_path"] = request.EditablePath;
        args["git_url"] = s.Git?.Url;
        args["image"] = s.Image;
        args["cpus"] = s.Limits?.Cpus;
        args["memory_mb"] = s.Limits?.MemoryMb;
        args["network_allow"] = s.Network?.Allow;
        args["network_secrets"] = s.Network?.Secrets;
        args["idle_timeout_seconds"] = s.IdleTimeoutSeconds;
        args["context_archives"] = s.ContextArchives;
        args["wait"] = wait;
        return await tools.CallAsync<AgentJobDto>("run_agent_job", args, "job", ct).ConfigureAwait(false);
    }
}
