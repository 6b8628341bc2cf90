using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace Sandbox.Agents;

/// <summary>A validated agent run request: the agent, the time limit and the allowed model endpoint it will use.</summary>
/// <param name="Agent">The agent to run.</param>
/// <param name="Timeout">The run's wall-clock limit.</param>
/// <param name="Endpoint">The model endpoint the proxy forwards to.</param>
internal sealed record ValidatedAgentRequest(IAgentRunner Agent, TimeSpan Timeout, Uri Endpoint);

/// <summary>Checks an agent run request against the server's agents and limits; every refusal says what to change.</summary>
public sealed partial class AgentRequestValidator(IOptions<AgentOptions> options)
{
    private readonly AgentOptions _options = options.Value;

    /// <summary>Whether an interactive start resumes the newest conversation in the agent's home.</summary>
    internal static bool ContinuesLatest(AgentRunRequest request) => request.Continue == AgentRunRequest.LatestRun;

    /// <summary>Checks a request; an <paramref name="interactive"/> one (the agent's own interface in a terminal) may
    /// have no prompt, and its time limit is <see cref="AgentOptions.InteractiveTimeout"/>.</summary>
    internal ValidatedAgentRequest Validate(AgentRunRequest request, IReadOnlyDictionary<string, IAgentRunner> agents, bool interactive = false)
    {
        if (!agents.TryGetValue(request.Agent ?? "", out var agent))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                $"Unknown agent '{SafeText.Shorten(request.Agent)}'. Use one of: {string.Join(", ", agents.Keys.Order(StringComparer.Ordinal))}.");
        }
        if (interactive && request.Continue is not (null or AgentRunRequest.LatestRun))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "An interactive agent continues its newest conversation (continue: latest) or starts a new one.");
        }
        if (string.IsNullOrWhiteSpace(request.Prompt) && !interactive)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "prompt is required: say what the agent should do.");
        }
        if (request.Prompt.Length > _options.MaxPromptChars || (request.SystemPrompt?.Length ?? 0) > _options.MaxPromptChars)
        {
            throw new SandboxException(SandboxErrorCodes.LimitExceeded,
                $"prompt and system_prompt may have at most {_options.MaxPromptChars} characters each; put long material in a file in the workspace and refer to it.");
        }
        if (request.Branch is { } branch && !Git.GitService.IsRef(branch))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "branch must be a branch name (letters, digits, . _ / - +; no '..', no leading '-').");
        }
        if (request.MaxTurns is < 1 or > 1000)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "max_turns must be between 1 and 1000.");
        }
        var most = interactive ? _options.InteractiveTimeout : _options.MaxTimeout;
        var timeout = request.Timeout ?? (interactive ? _options.InteractiveTimeout : _options.DefaultTimeout);
        if (timeout <= TimeSpan.Zero)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "timeout must be positive.");
        }
        if (timeout > most)
        {
            throw new SandboxException(SandboxErrorCodes.LimitExceeded,
                $"timeout {timeout.TotalSeconds} s is above the server maximum of {most.TotalSeconds} s for {(interactive ? "interactive agents" : "agent runs")}.");
        }
        ValidateEnv(request.Env);
        var api = _options.Api(agent.ModelApi);
        var requested = string.IsNullOrEmpty(request.ModelEndpoint) ? api.Endpoint : request.ModelEndpoint;
        var allowed = api.Endpoints.FirstOrDefault(e => string.Equals(e.TrimEnd('/'), requested.TrimEnd('/'), StringComparison.OrdinalIgnoreCase))
                      ?? throw new SandboxException(SandboxErrorCodes.Forbidden,
                          $"model_endpoint '{SafeText.Shorten(requested)}' is not one this server allows for agent '{agent.Name}' ({api.Section}:ModelEndpoint, {api.Section}:AllowedModelEndpoints). Leave it out to use the server's.");
        return new ValidatedAgentRequest(agent, timeout, new Uri(allowed));
    }

    private static void ValidateEnv(IReadOnlyDictionary<string, string> env)
    {
        if (env.Count > 64)
        {
            throw new SandboxException(SandboxErrorCodes.LimitExceeded, "env may hold at most 64 variables.");
        }
        foreach (var (name, value) in env)
        {
            if (!EnvName().IsMatch(name) || Reserved(name))
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                    $"env name '{SafeText.Shorten(name)}' is not allowed: use letters, digits and _, and none of HOME, PATH or names starting with ANTHROPIC_, OPENAI_, CODEX_, AGENT_, CLAUDE_CODE_ or SANDBOX_ (the server sets those).");
            }
            if (value is null || value.Length > 32 * 1024 || value.Contains('\0', StringComparison.Ordinal))
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"env value of '{name}' must be a string of at most 32768 characters without NUL.");
            }
        }
    }

    private static bool Reserved(string name) =>
        name is "HOME" or "PATH" or "USER" || name.StartsWith("ANTHROPIC_", StringComparison.OrdinalIgnoreCase)
        || name.StartsWith("OPENAI_", StringComparison.OrdinalIgnoreCase) || name.StartsWith("CODEX_", StringComparison.OrdinalIgnoreCase)
        || name.StartsWith("AGENT_", StringComparison.OrdinalIgnoreCase) || name.StartsWith("CLAUDE_CODE_", StringComparison.OrdinalIgnoreCase)
        || name.StartsWith("SANDBOX_", StringComparison.OrdinalIgnoreCase);

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
    private static partial Regex EnvName();
}
