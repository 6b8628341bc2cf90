using System.Text.Json;
using System.Text.RegularExpressions;

namespace Sandbox.Agents;

/// <summary>How to start an agent: an argument vector (never a shell string) and the environment of that process only.</summary>
/// <param name="Argv">Program and arguments.</param>
/// <param name="Env">Environment added for the agent process.</param>
/// <param name="HomeFiles">Set-up files the agent needs in its home (relative names), written where none is yet.</param>
public sealed record AgentLaunch(IReadOnlyList<string> Argv, IReadOnlyDictionary<string, string> Env, IReadOnlyDictionary<string, string>? HomeFiles = null);

/// <summary>What the engine provides to every agent run.</summary>
/// <param name="ModelBaseUrl">The model proxy's URL as the agent sees it (the proxy adds the real key).</param>
/// <param name="PlaceholderKey">What to give the agent as its API key: a placeholder, since the proxy holds the real one.</param>
/// <param name="HomeDirectory">A writable home for the agent's own configuration, outside the workspace.</param>
/// <param name="Conversation">The agent's conversation to resume (from an earlier run's <see cref="AgentRun.Conversation"/>), or null.</param>
/// <param name="GitPolicy">What the agent may do with git; an agent that cannot enforce <see cref="AgentGitPolicy.ReadOnly"/> refuses it.</param>
public sealed record AgentContext(string ModelBaseUrl, string PlaceholderKey, string HomeDirectory, string? Conversation = null,
    AgentGitPolicy GitPolicy = AgentGitPolicy.Full);

/// <summary>What a run's events say, collected while it runs.</summary>
public sealed class AgentOutcome
{
    /// <summary>Readable steps so far.</summary>
    public List<AgentStep> Steps { get; } = [];
    /// <summary>The agent's final message.</summary>
    public string? FinalMessage { get; set; }
    /// <summary>Turns reported.</summary>
    public int? Turns { get; set; }
    /// <summary>Usage reported.</summary>
    public JsonElement? Usage { get; set; }
    /// <summary>Cost reported in US dollars.</summary>
    public double? CostUsd { get; set; }
    /// <summary>Set when the agent itself reported failure, with its reason.</summary>
    public string? ReportedError { get; set; }
    /// <summary>The agent's id of its conversation, once it said it (a later run may resume it).</summary>
    public string? Conversation { get; set; }
    /// <summary>Model turns so far (live, before the agent's own count at its end).</summary>
    public int TurnsSoFar { get; set; }
    /// <summary>Input tokens the agent's model calls reported so far.</summary>
    public long InputTokensSoFar { get; set; }
    /// <summary>Output tokens the agent's model calls reported so far.</summary>
    public long OutputTokensSoFar { get; set; }
    /// <summary>The model message counted last (an agent may report one message in several events).</summary>
    internal string? LastMessage { get; set; }
    /// <summary>Whether tool results came back since that message (what follows them is a new turn).</summary>
    internal bool ResultsSinceMessage { get; set; }

    /// <summary>Adds one model turn's tokens and a <c>usage</c> step saying the totals so far.</summary>
    public void CountTurn(int index, long input, long output)
    {
        TurnsSoFar++;
        InputTokensSoFar += input;
        OutputTokensSoFar += output;
        Steps.Add(new AgentStep(index, "usage", string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"turn {TurnsSoFar}: {InputTokensSoFar} tokens in, {OutputTokensSoFar} out so far")));
    }

    /// <summary>Adds a <c>file</c> step: the agent changes a file (path relative to the workspace when inside it).</summary>
    public void ChangeFile(int index, string change, string path, string? tool)
    {
        var relative = path.StartsWith("/workspace/", StringComparison.Ordinal) ? path["/workspace/".Length..] : path;
        Steps.Add(new AgentStep(index, "file", ClaudeCodeAgent.Clip(change + " " + relative), tool));
    }
}

/// <summary>A coding agent the engine can run in a session. Add more with <see cref="AgentRunService.RegisterAgent"/>.</summary>
public interface IAgentRunner
{
    /// <summary>The name callers use (<c>agent</c> argument).</summary>
    string Name { get; }

    /// <summary>The model API it speaks (its proxy's endpoint, key and paths follow from it).</summary>
    AgentModelApi ModelApi => AgentModelApi.Anthropic;

    /// <summary>Builds the command for a request. Throws <see cref="SandboxException"/> for a request it cannot run.</summary>
    AgentLaunch Build(AgentRunRequest request, AgentContext context);

    /// <summary>Reads one event the agent printed (a JSON object; plain lines arrive as <c>{"type":"output","text":…}</c>).</summary>
    void Interpret(JsonElement e, int index, AgentOutcome outcome);

    /// <summary>Whether the agent can resume a conversation (<see cref="AgentContext.Conversation"/>).</summary>
    bool CanResume => false;

    /// <summary>Where in its home the agent keeps a conversation (home-relative), when that is known; null otherwise.</summary>
    string? ConversationFile(string conversation) => null;

    /// <summary>Where in its home the agent reads skills (folders with a <c>SKILL.md</c>), or null when it has none.</summary>
    string? SkillsFolder => null;

    /// <summary>The file in its home the agent reads standing instructions from, or null when it has none.</summary>
    string? InstructionsFile => null;

    /// <summary>Whether the agent takes <see cref="AgentRunRequest.MaxTurns"/> (the server's default applies to it).</summary>
    bool TakesMaxTurns => false;

    /// <summary>Files in its home that carry a policy (home-relative name → text; null: the file must not be there),
    /// written before every start, headless or interactive, so what an earlier run or the agent itself left there
    /// never decides.</summary>
    IReadOnlyDictionary<string, string?> PolicyFiles(AgentGitPolicy policy) => new Dictionary<string, string?>();

    /// <summary>Builds the command of the agent's own interactive interface (for a terminal a person attaches to);
    /// <see cref="AgentRunRequest.Prompt"/>, when given, is its first message. Throws <see cref="SandboxException"/>
    /// for an agent that has none.</summary>
    AgentLaunch BuildInteractive(AgentRunRequest request, AgentContext context) =>
        throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"Agent '{Name}' has no interactive interface; run it with run_agent.");
}

/// <summary>Claude Code (<c>claude -p … --output-format stream-json</c>), with every permission: the container is the boundary.</summary>
public sealed partial class ClaudeCodeAgent : IAgentRunner
{
    /// <summary>The agent's name.</summary>
    public const string AgentName = "claude-code";

    /// <inheritdoc />
    public string Name => AgentName;

    /// <inheritdoc />
    public AgentLaunch Build(AgentRunRequest request, AgentContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        if (request.Command is { Count: > 0 })
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "command applies to agent 'command' only.");
        }
        var argv = new List<string> { "claude", "-p", "--dangerously-skip-permissions", "--output-format", "stream-json", "--verbose" };
        var env = Environment(request, context);
        AddOptions(argv, env, request, context);
        // The prompt after "--", so a prompt that starts with "-" is never read as an option.
        argv.AddRange(["--", request.Prompt]);
        return new AgentLaunch(argv, env);
    }

    /// <inheritdoc />
    /// <remarks>Its first start in a session would ask a person to pick a theme, trust the folder, accept the
    /// placeholder key and confirm skipped permissions: these settings are merged into the home's <c>.claude.json</c>
    /// (the CLI's own entries there are kept). The conversation is Claude Code's own, kept in the agent's home.</remarks>
    public AgentLaunch BuildInteractive(AgentRunRequest request, AgentContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        if (request.MaxTurns is not null)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "max_turns applies to headless runs (run_agent); an interactive agent runs until it is closed or its time is up.");
        }
        var argv = new List<string> { "claude", "--dangerously-skip-permissions" };
        if (AgentRequestValidator.ContinuesLatest(request))
        {
            // The newest conversation kept in the agent's home (which lives in the workspace: a restart keeps it).
            argv.Add("--continue");
        }
        var env = Environment(request, context);
        AddOptions(argv, env, request, context);
        if (!string.IsNullOrEmpty(request.Prompt))
        {
            argv.AddRange(["--", request.Prompt]);
        }
        var settings = System.Text.Json.Nodes.JsonNode.Parse("""
            {"hasCompletedOnboarding": true, "bypassPermissionsModeAccepted": true, "theme": "dark",
             "customApiKeyResponses": {"approved": [], "rejected": []},
             "projects": {"/workspace": {"hasTrustDialogAccepted": true, "hasCompletedProjectOnboarding": true, "allowedTools": []}}}
            """)!;
        // The CLI remembers an approved key by its last 20 characters.
        settings["customApiKeyResponses"]!["approved"]!.AsArray().Add(context.PlaceholderKey[^Math.Min(20, context.PlaceholderKey.Length)..]);
        return new AgentLaunch(argv, env, new Dictionary<string, string> { [".claude.json"] = settings.ToJsonString() });
    }

    private static void AddOptions(List<string> argv, Dictionary<string, string> env, AgentRunRequest request, AgentContext context)
    {
        ClaudeCodeOptions.Check(request, AgentName, claude: true);
        if (request.Model is { } model)
        {
            if (!IsModelName(model))
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument, "model must be a model name such as 'claude-sonnet-4-5' (letters, digits, . _ : / @ -).");
            }
            argv.AddRange(["--model", model]);
        }
        if (request.MaxTurns is { } turns)
        {
            argv.AddRange(["--max-turns", turns.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        }
        if (!string.IsNullOrEmpty(request.SystemPrompt))
        {
            argv.AddRange(["--append-system-prompt", request.SystemPrompt]);
        }
        if (context.Conversation is { } conversation)
        {
            argv.AddRange(["--resume", ConversationId(conversation)]);
        }
        // With a read-only git policy: a hook on the Bash tool, given on the command line (the agent cannot change it),
        // that Claude Code runs before every command even with permissions skipped; hooks are switched on whatever its
        // settings say. Its program is in the agent process's own environment (see Environment), which the agent's
        // commands inherit but cannot change for it; the command stays short, because Claude Code shows it with every
        // refusal. A caller's settings are merged under it.
        ClaudeCodeOptions.AddClaudeArguments(argv, env, request,
            context.GitPolicy == AgentGitPolicy.ReadOnly ? System.Text.Json.Nodes.JsonNode.Parse(ReadOnlyGitSettings)!.AsObject() : null);
    }

    /// <summary>The variable of the agent's environment that holds the git policy's hook program.</summary>
    internal const string GitGuardVariable = "SANDBOX_GIT_GUARD";

    private static readonly string ReadOnlyGitSettings = new System.Text.Json.Nodes.JsonObject
        {
            ["disableAllHooks"] = false,
            ["hooks"] = new System.Text.Json.Nodes.JsonObject
            {
                ["PreToolUse"] = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonObject
                {
                    ["matcher"] = "Bash",
                    ["hooks"] = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonObject
                    {
                        ["type"] = "command",
                        // Without its program (an environment that lost it) every command is refused, never let through.
                        ["command"] = $"python3 -c \"${{{GitGuardVariable}:-raise SystemExit(2)}}\"",
                    }),
                }),
            },
        }.ToJsonString();

    private static Dictionary<string, string> Environment(AgentRunRequest request, AgentContext context)
    {
        var env = new Dictionary<string, string>(request.Env, StringComparer.Ordinal)
        {
            ["ANTHROPIC_BASE_URL"] = context.ModelBaseUrl,
            ["ANTHROPIC_API_KEY"] = context.PlaceholderKey,
            ["HOME"] = context.HomeDirectory,
            ["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] = "1",
            ["DISABLE_AUTOUPDATER"] = "1",
            ["DISABLE_TELEMETRY"] = "1",
            ["DISABLE_ERROR_REPORTING"] = "1",
        };
        if (context.GitPolicy == AgentGitPolicy.ReadOnly)
        {
            env[GitGuardVariable] = EmbeddedScript.GitGuard.Value;
        }
        return env;
    }

    /// <inheritdoc />
    public bool CanResume => true;

    /// <inheritdoc />
    /// <remarks>Claude Code keeps each conversation of a project as one file named by its session id, the project being
    /// the working directory with its slashes as dashes.</remarks>
    public string? ConversationFile(string conversation) => ".claude/projects/-workspace/" + ConversationId(conversation) + ".jsonl";

    /// <inheritdoc />
    public string SkillsFolder => ".claude/skills";

    /// <inheritdoc />
    public string InstructionsFile => ".claude/CLAUDE.md";

    /// <inheritdoc />
    public bool TakesMaxTurns => true;

    /// <inheritdoc />
    public void Interpret(JsonElement e, int index, AgentOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        if (Str(e, "session_id") is { } conversation && IsConversationId(conversation))
        {
            outcome.Conversation = conversation;
        }
        switch (Str(e, "type"))
        {
            case "system" when Str(e, "subtype") == "init":
                outcome.Steps.Add(new AgentStep(index, "system", $"started (model {Str(e, "model") ?? "default"})"));
                break;
            case "assistant" when e.TryGetProperty("message", out var m) && m.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.Array:
                foreach (var block in content.EnumerateArray())
                {
                    switch (Str(block, "type"))
                    {
                        case "text" when Str(block, "text") is { Length: > 0 } text:
                            outcome.Steps.Add(new AgentStep(index, "message", Clip(text)));
                            break;
                        case "tool_use":
                            var tool = Str(block, "name") ?? "tool";
                            outcome.Steps.Add(new AgentStep(index, "tool_call", Clip(tool + " " + MainArgument(block)), tool));
                            if (tool is "Write" or "Edit" or "MultiEdit" or "NotebookEdit" && block.TryGetProperty("input", out var input)
                                && (Str(input, "file_path") ?? Str(input, "notebook_path")) is { Length: > 0 } file)
                            {
                                outcome.ChangeFile(index, tool == "Write" ? "writes" : "edits", file, tool);
                            }
                            break;
                    }
                }
                // One model message may arrive as several events (one per content block), each with the message's usage:
                // a new turn is another message, or any message after tool results came back.
                var id = Str(m, "id") ?? "event-" + index;
                if (id != outcome.LastMessage || outcome.ResultsSinceMessage)
                {
                    (outcome.LastMessage, outcome.ResultsSinceMessage) = (id, false);
                    var used = m.TryGetProperty("usage", out var u) && u.ValueKind == JsonValueKind.Object ? u : default;
                    outcome.CountTurn(index, Tokens(used, "input_tokens") + Tokens(used, "cache_read_input_tokens") + Tokens(used, "cache_creation_input_tokens"),
                        Tokens(used, "output_tokens"));
                }
                break;
            case "user" when e.TryGetProperty("message", out var m) && m.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.Array:
                outcome.ResultsSinceMessage = true;
                foreach (var block in content.EnumerateArray())
                {
                    if (Str(block, "type") == "tool_result")
                    {
                        var failed = block.TryGetProperty("is_error", out var err) && err.ValueKind == JsonValueKind.True;
                        outcome.Steps.Add(new AgentStep(index, "tool_result", Clip((failed ? "error: " : "") + ResultText(block))));
                    }
                }
                break;
            case "result":
                outcome.FinalMessage = Str(e, "result") ?? outcome.FinalMessage;
                if (e.TryGetProperty("num_turns", out var n) && n.TryGetInt32(out var turns))
                {
                    outcome.Turns = turns;
                }
                if (e.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
                {
                    outcome.Usage = usage.Clone();
                }
                if (e.TryGetProperty("total_cost_usd", out var cost) && cost.TryGetDouble(out var usd))
                {
                    outcome.CostUsd = usd;
                }
                var isError = e.TryGetProperty("is_error", out var ie) && ie.ValueKind == JsonValueKind.True;
                if (isError || Str(e, "subtype") is { } sub && sub != "success")
                {
                    outcome.ReportedError = $"the agent reported {Str(e, "subtype") ?? "an error"}" + (Str(e, "result") is { Length: > 0 } r ? ": " + Clip(r) : "");
                }
                outcome.Steps.Add(new AgentStep(index, "result", Clip(outcome.FinalMessage ?? Str(e, "subtype") ?? "done")));
                break;
            case "output" when Str(e, "text") is { Length: > 0 } line:
                outcome.Steps.Add(new AgentStep(index, "output", Clip(line)));
                break;
        }
    }

    private static string MainArgument(JsonElement toolUse)
    {
        if (!toolUse.TryGetProperty("input", out var input) || input.ValueKind != JsonValueKind.Object)
        {
            return "";
        }
        foreach (var key in new[] { "file_path", "command", "path", "pattern", "url", "description", "prompt" })
        {
            if (Str(input, key) is { Length: > 0 } value)
            {
                return value;
            }
        }
        return "";
    }

    private static string ResultText(JsonElement block)
    {
        if (!block.TryGetProperty("content", out var c))
        {
            return "";
        }
        if (c.ValueKind == JsonValueKind.String)
        {
            return c.GetString() ?? "";
        }
        if (c.ValueKind == JsonValueKind.Array)
        {
            return string.Join(" ", c.EnumerateArray().Select(x => Str(x, "text")).Where(x => x is not null));
        }
        return "";
    }

    /// <summary>A token count of a usage object (0 when absent).</summary>
    internal static long Tokens(JsonElement usage, string name) =>
        usage.ValueKind == JsonValueKind.Object && usage.TryGetProperty(name, out var v) && v.TryGetInt64(out var n) ? n : 0;

    internal static string? Str(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>One line of at most 200 characters.</summary>
    internal static string Clip(string text)
    {
        var flat = text.ReplaceLineEndings(" ").Trim();
        return flat.Length <= 200 ? flat : flat[..197] + "...";
    }

    /// <summary>A model name: letters, digits and <c>. _ : / @ [ ] -</c>.</summary>
    internal static bool IsModelName(string name) => ModelName().IsMatch(name);

    /// <summary>A conversation id as agents print them (a UUID, or a name of letters, digits, <c>. _ -</c>): it comes
    /// from the sandbox, so anything else is never passed back to an agent.</summary>
    internal static bool IsConversationId(string id) => ConversationIdPattern().IsMatch(id);

    /// <summary>The id, checked again where it becomes an argument.</summary>
    internal static string ConversationId(string id) => IsConversationId(id) ? id
        : throw new SandboxException(SandboxErrorCodes.InvalidArgument, "The conversation to continue has an id this server does not pass to an agent.");

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
    private static partial Regex ConversationIdPattern();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._:/@\\[\\]-]{0,99}$")]
    private static partial Regex ModelName();
}

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
