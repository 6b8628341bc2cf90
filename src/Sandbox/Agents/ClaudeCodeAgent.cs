using System.Text.Json;
using System.Text.RegularExpressions;

namespace Sandbox.Agents;

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
