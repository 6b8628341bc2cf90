using System.Text.Json;

namespace Sandbox.Agents;

/// <summary>Any agent CLI, given per run as an argument vector. Its JSON lines become the trajectory (a
/// <c>{"type":"result","result":…}</c> line gives the final message); other lines are kept as output.</summary>
public sealed class CommandAgent : IAgentRunner
{
    /// <summary>The agent's name.</summary>
    public const string AgentName = "command";

    /// <inheritdoc />
    public string Name => AgentName;

    /// <inheritdoc />
    public AgentLaunch Build(AgentRunRequest request, AgentContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        if (request.Command is not { Count: > 0 } command || command.Any(string.IsNullOrEmpty) || command.Count > 256
            || command.Sum(a => a.Length) > 100_000 || command.Any(a => a.Contains('\0', StringComparison.Ordinal)))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                "agent 'command' needs command: the program and its arguments as a list of non-empty strings, for example [\"python3\", \"agent.py\"].");
        }
        ClaudeCodeOptions.Check(request, AgentName, claude: false);
        if (request.AddDirs is { Count: > 0 } || request.McpServers is { Count: > 0 } || request.Skills.Count > 0 || request.SkillsArchive is not null
            || request.Instructions is not null)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                "agent 'command' takes no add_dirs, mcp_servers, skills, skills_archive or instructions (it is a program of your own: give it what it needs through its command and env).");
        }
        if (context.GitPolicy == AgentGitPolicy.ReadOnly)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                "agent 'command' cannot be held to a read-only git policy (it has no tool policy to enforce it with); run it with git_policy 'full'.");
        }
        var env = new Dictionary<string, string>(request.Env, StringComparer.Ordinal)
        {
            ["AGENT_PROMPT"] = request.Prompt,
            ["AGENT_MODEL_BASE_URL"] = context.ModelBaseUrl,
            ["ANTHROPIC_BASE_URL"] = context.ModelBaseUrl,
            ["ANTHROPIC_API_KEY"] = context.PlaceholderKey,
            ["HOME"] = context.HomeDirectory,
        };
        if (request.Model is { } model)
        {
            env["AGENT_MODEL"] = model;
        }
        if (request.MaxTurns is { } turns)
        {
            env["AGENT_MAX_TURNS"] = turns.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        if (request.SystemPrompt is { } system)
        {
            env["AGENT_SYSTEM_PROMPT"] = system;
        }
        return new AgentLaunch(command, env);
    }

    /// <inheritdoc />
    public bool TakesMaxTurns => true;

    /// <inheritdoc />
    public void Interpret(JsonElement e, int index, AgentOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        var type = ClaudeCodeAgent.Str(e, "type");
        if (type == "result")
        {
            outcome.FinalMessage = ClaudeCodeAgent.Str(e, "result") ?? outcome.FinalMessage;
            outcome.Steps.Add(new AgentStep(index, "result", ClaudeCodeAgent.Clip(outcome.FinalMessage ?? "done")));
            return;
        }
        var text = ClaudeCodeAgent.Str(e, "text") ?? ClaudeCodeAgent.Str(e, "message") ?? e.GetRawText();
        if (type == "output" && text.Length > 0)
        {
            outcome.FinalMessage = text;
        }
        outcome.Steps.Add(new AgentStep(index, type is null or "output" ? "output" : type, ClaudeCodeAgent.Clip(text)));
    }
}
