using System.Globalization;
using System.Text.Json;

namespace Sandbox.Agents;

/// <summary>
/// OpenAI's Codex CLI (<c>codex exec --json</c>), with approvals and its own sandbox off: the container is the
/// boundary. It talks to the run's model proxy as a custom Responses-API provider whose key is a placeholder (the
/// proxy adds the real one, from <c>Sandbox:Agents:OpenAI</c>). Its JSON events (<c>thread.started</c>,
/// <c>item.started</c>/<c>item.completed</c> of commands, file changes and messages, <c>turn.completed</c>) are the
/// trajectory.
/// </summary>
public sealed class CodexAgent : IAgentRunner
{
    /// <summary>The agent's name.</summary>
    public const string AgentName = "codex";

    /// <inheritdoc />
    public string Name => AgentName;

    /// <inheritdoc />
    public AgentModelApi ModelApi => AgentModelApi.OpenAI;

    /// <summary>Codex's features that reach for the internet on their own (its plugin marketplace runs
    /// <c>git ls-remote https://github.com/openai/plugins.git</c> at every start; apps and plugin sharing talk to OpenAI's
    /// servers). A session reaches its model proxy and nothing else, so they could only wait: the marketplace's git held
    /// every run open ~5.5 s after its last message (measured in both tiers), and a connection that never fails would hold
    /// it to the time limit. Off.</summary>
    internal static readonly string[] OfflineFeatures =
        ["-c", "features.plugins=false", "-c", "features.remote_plugin=false", "-c", "features.plugin_sharing=false", "-c", "features.apps=false",
         "-c", "analytics.enabled=false", "-c", "otel.metrics_exporter=\"none\"", "-c", "otel.exporter=\"none\"", "-c", "otel.trace_exporter=\"none\""];

    /// <inheritdoc />
    public AgentLaunch Build(AgentRunRequest request, AgentContext context)
    {
        var argv = new List<string> { "codex", "exec", "--json", "--skip-git-repo-check", "--color", "never" };
        Check(request, context, argv);
        var prompt = Prompt(request);
        if (context.Conversation is { } conversation)
        {
            // exec's own options above, then the subcommand that resumes the recorded thread with the next message.
            argv.AddRange(["resume", ClaudeCodeAgent.ConversationId(conversation)]);
        }
        argv.AddRange(["--", prompt]);
        var env = Environment(request, context);
        env["NO_COLOR"] = "1";
        return new AgentLaunch(argv, env);
    }

    /// <inheritdoc />
    /// <remarks>Codex's own terminal interface, started at its prompt (no question comes first with the settings given
    /// here); <see cref="AgentRunRequest.Prompt"/>, when given, is its first message.</remarks>
    public AgentLaunch BuildInteractive(AgentRunRequest request, AgentContext context)
    {
        // "resume --last": the newest conversation kept in the agent's home (which lives in the workspace: a restart keeps it).
        List<string> argv = AgentRequestValidator.ContinuesLatest(request) ? ["codex", "resume", "--last", "--include-non-interactive"] : ["codex"];
        Check(request, context, argv);
        var prompt = Prompt(request);
        if (!string.IsNullOrEmpty(prompt))
        {
            argv.AddRange(["--", prompt]);
        }
        return new AgentLaunch(argv, Environment(request, context));
    }

    /// <summary>Refuses what Codex cannot do, then adds the options every start shares: no approvals and no sandbox of
    /// its own (the container is the boundary), the workspace, the model proxy as its provider, nothing that reaches
    /// for the internet on its own, the model.</summary>
    private static void Check(AgentRunRequest request, AgentContext context, List<string> argv)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        if (request.Command is { Count: > 0 })
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "command applies to agent 'command' only.");
        }
        if (request.MaxTurns is not null)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "max_turns is not supported by agent 'codex' (its CLI has no such limit); bound the run with timeout_seconds.");
        }
        argv.AddRange(
        [
            "--dangerously-bypass-approvals-and-sandbox", "-C", "/workspace",
            "-c", "model_provider=\"sandbox\"",
            "-c", "model_providers.sandbox.name=\"Sandbox model proxy\"",
            "-c", $"model_providers.sandbox.base_url=\"{context.ModelBaseUrl}/v1\"",
            "-c", "model_providers.sandbox.env_key=\"OPENAI_API_KEY\"",
            "-c", "model_providers.sandbox.wire_api=\"responses\"",
            "-c", "model_providers.sandbox.request_max_retries=2",
            "-c", "model_providers.sandbox.stream_max_retries=2",
        ]);
        argv.AddRange(OfflineFeatures);
        ClaudeCodeOptions.Check(request, AgentName, claude: false);
        foreach (var dir in request.AddDirs ?? [])
        {
            argv.AddRange(["--add-dir", dir]);
        }
        foreach (var (name, server) in (request.McpServers ?? new Dictionary<string, AgentMcpServer>()).OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            // Codex's config.toml entries, given as overrides: TOML strings in JSON's spelling (which TOML reads).
            var key = "mcp_servers." + name;
            if (ClaudeCodeOptions.IsHttp(server))
            {
                argv.AddRange(["-c", $"{key}.url={Toml(server.Url!)}"]);
                continue;
            }
            argv.AddRange(["-c", $"{key}.command={Toml(server.Command!)}", "-c", $"{key}.args=[{string.Join(",", (server.Args ?? []).Select(Toml))}]"]);
            if (server.Env is { Count: > 0 } env)
            {
                argv.AddRange(["-c", $"{key}.env={{{string.Join(",", env.Select(e => e.Key + "=" + Toml(e.Value)))}}}"]);
            }
        }
        if (request.Model is { } model)
        {
            if (!ClaudeCodeAgent.IsModelName(model))
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument, "model must be a model name such as 'gpt-5' (letters, digits, . _ : / @ -).");
            }
            argv.AddRange(["-m", model]);
        }
    }

    /// <summary>Codex has no flag to add to its system prompt: extra instructions lead the task instead.</summary>
    private static string Prompt(AgentRunRequest request) =>
        string.IsNullOrEmpty(request.SystemPrompt) ? request.Prompt : request.SystemPrompt + "\n\n" + request.Prompt;

    private static Dictionary<string, string> Environment(AgentRunRequest request, AgentContext context) =>
        new(request.Env, StringComparer.Ordinal)
        {
            ["OPENAI_API_KEY"] = context.PlaceholderKey,
            ["HOME"] = context.HomeDirectory,
        };

    /// <inheritdoc />
    public bool CanResume => true;

    /// <summary>Where the read-only git policy lives in Codex's home: one of its execution-policy rules files, which it
    /// reads at start and enforces even with approvals and its sandbox off (a forbidden command is rejected before it
    /// runs, and Codex is told why).</summary>
    internal const string GitPolicyRules = ".codex/rules/sandbox-git-policy.rules";

    /// <summary>The git subcommands that change a repository, or that change it in some of their forms (Codex's rules
    /// match a command's leading words, so <c>git branch</c> is refused whole, listing included).</summary>
    internal static readonly string[] ChangingSubcommands =
    [
        "add", "am", "apply", "bisect", "branch", "bundle", "checkout", "checkout-index", "cherry-pick", "clean", "clone", "commit",
        "commit-tree", "config", "fast-import", "fetch", "filter-branch", "filter-repo", "gc", "hash-object", "init", "lfs", "maintenance",
        "merge", "mktag", "mktree", "mv", "notes", "pack-refs", "prune", "pull", "push", "read-tree", "rebase", "reflog", "remote",
        "repack", "replace", "rerere", "reset", "restore", "revert", "rm", "sparse-checkout", "stage", "stash", "submodule", "switch",
        "symbolic-ref", "tag", "update-index", "update-ref", "worktree", "write-tree",
    ];

    private static readonly string ReadOnlyRules = BuildRules();

    private static string BuildRules()
    {
        // Starlark strings: every word here is plain ASCII without quotes or backslashes.
        static string Quote(string word) => "\"" + word + "\"";
        static string List(IEnumerable<string> words) => "[" + string.Join(", ", words.Select(Quote)) + "]";
        var git = List(["git", "/usr/bin/git", "/bin/git"]);
        return "# The read-only git policy of this session, written by the sandbox server before every start of Codex.\n"
            + $"prefix_rule(pattern = [{git}, {List(ChangingSubcommands)}], decision = \"forbidden\", justification = "
            + Quote("Refused by the git policy of this session: git is read-only here (status, log, diff, show, blame work); the user commits and pushes.") + ")\n"
            + $"prefix_rule(pattern = [{git}, {List(["-c", "-C", "--git-dir", "--work-tree", "--exec-path", "--namespace", "--config-env", "--super-prefix"])}], "
            + "decision = \"forbidden\", justification = "
            + Quote("Refused by the git policy of this session: global options of git (-c, -C, --git-dir and the like) are not allowed; run a read-only git command in the workspace.") + ")\n";
    }

    /// <inheritdoc />
    public IReadOnlyDictionary<string, string?> PolicyFiles(AgentGitPolicy policy) =>
        new Dictionary<string, string?> { [GitPolicyRules] = policy == AgentGitPolicy.ReadOnly ? ReadOnlyRules : null };

    /// <inheritdoc />
    public string SkillsFolder => ".codex/skills";

    /// <inheritdoc />
    public string InstructionsFile => ".codex/AGENTS.md";

    private static string Toml(string text) => JsonSerializer.Serialize(text);

    /// <inheritdoc />
    public void Interpret(JsonElement e, int index, AgentOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        switch (ClaudeCodeAgent.Str(e, "type"))
        {
            case "thread.started" when ClaudeCodeAgent.Str(e, "thread_id") is { } thread && ClaudeCodeAgent.IsConversationId(thread):
                outcome.Conversation = thread;
                outcome.Steps.Add(new AgentStep(index, "system", "started (thread " + thread + ")"));
                break;
            case "thread.started":
                outcome.Steps.Add(new AgentStep(index, "system", "started (thread " + (ClaudeCodeAgent.Str(e, "thread_id") ?? "?") + ")"));
                break;
            case "item.started" when e.TryGetProperty("item", out var item) && ClaudeCodeAgent.Str(item, "type") == "command_execution":
                outcome.Steps.Add(new AgentStep(index, "tool_call", ClaudeCodeAgent.Clip("exec_command " + (ClaudeCodeAgent.Str(item, "command") ?? "")), "exec_command"));
                break;
            case "item.completed" when e.TryGetProperty("item", out var item):
                Completed(item, index, outcome);
                break;
            case "turn.completed":
                outcome.Turns = (outcome.Turns ?? 0) + 1;
                var used = e.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object ? usage : default;
                if (used.ValueKind == JsonValueKind.Object)
                {
                    outcome.Usage = used.Clone();
                }
                outcome.CountTurn(index, ClaudeCodeAgent.Tokens(used, "input_tokens"), ClaudeCodeAgent.Tokens(used, "output_tokens"));
                break;
            case "turn.failed":
                var reason = e.TryGetProperty("error", out var error) ? ClaudeCodeAgent.Str(error, "message") : null;
                outcome.ReportedError = "the agent reported failure" + (reason is { Length: > 0 } ? ": " + ClaudeCodeAgent.Clip(reason) : "");
                outcome.Steps.Add(new AgentStep(index, "result", ClaudeCodeAgent.Clip(outcome.ReportedError)));
                break;
            case "error" when ClaudeCodeAgent.Str(e, "message") is { Length: > 0 } message:
                outcome.Steps.Add(new AgentStep(index, "output", ClaudeCodeAgent.Clip(message)));
                break;
            case "output" when ClaudeCodeAgent.Str(e, "text") is { Length: > 0 } line:
                outcome.Steps.Add(new AgentStep(index, "output", ClaudeCodeAgent.Clip(line)));
                break;
        }
    }

    private static void Completed(JsonElement item, int index, AgentOutcome outcome)
    {
        switch (ClaudeCodeAgent.Str(item, "type"))
        {
            case "agent_message" when ClaudeCodeAgent.Str(item, "text") is { } text:
                outcome.FinalMessage = text;
                outcome.Steps.Add(new AgentStep(index, "message", ClaudeCodeAgent.Clip(text)));
                break;
            case "command_execution":
                var exit = item.TryGetProperty("exit_code", out var code) && code.TryGetInt32(out var c) ? c : (int?)null;
                var output = ClaudeCodeAgent.Str(item, "aggregated_output") ?? "";
                outcome.Steps.Add(new AgentStep(index, "tool_result", ClaudeCodeAgent.Clip(
                    (exit is null or 0 ? "" : "error: ") + $"exit {exit?.ToString(CultureInfo.InvariantCulture) ?? "?"}: {output}")));
                break;
            case "file_change" when item.TryGetProperty("changes", out var changes) && changes.ValueKind == JsonValueKind.Array:
                var paths = string.Join(", ", changes.EnumerateArray().Select(ch => $"{ClaudeCodeAgent.Str(ch, "kind")} {ClaudeCodeAgent.Str(ch, "path")}"));
                outcome.Steps.Add(new AgentStep(index, "tool_call", ClaudeCodeAgent.Clip("apply_patch " + paths), "apply_patch"));
                foreach (var change in changes.EnumerateArray())
                {
                    if (ClaudeCodeAgent.Str(change, "path") is { Length: > 0 } path)
                    {
                        outcome.ChangeFile(index, ClaudeCodeAgent.Str(change, "kind") switch { "add" => "adds", "delete" => "deletes", _ => "edits" }, path, "apply_patch");
                    }
                }
                break;
            case "error" when ClaudeCodeAgent.Str(item, "message") is { Length: > 0 } message:
                outcome.Steps.Add(new AgentStep(index, "output", ClaudeCodeAgent.Clip(message)));
                break;
        }
    }
}
