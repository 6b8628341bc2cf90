using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Sandbox.Agents;

/// <summary>
/// The agent options a caller may pass (tools, thinking, directories, allow-listed flags, settings, MCP servers), checked
/// and turned into arguments: each refusal names the option and says what is allowed. Nothing becomes a shell string.
/// </summary>
public static partial class ClaudeCodeOptions
{
    /// <summary>The flags <see cref="AgentRunRequest.ExtraArgs"/> may hold, and whether each takes a value (the next
    /// element). Everything else is refused by name: the rest either breaks the run's contract (output format,
    /// permissions, session ids) or is given its own option.</summary>
    public static readonly IReadOnlyDictionary<string, bool> ExtraFlags = new Dictionary<string, bool>(StringComparer.Ordinal)
    {
        ["--fallback-model"] = true,
        ["--betas"] = true,
        ["--setting-sources"] = true,
        ["--include-partial-messages"] = false,
        ["--strict-mcp-config"] = false,
        ["--disable-slash-commands"] = false,
    };

    /// <summary>Settings keys a caller may not set: they would hand the model key, the agent's environment or the
    /// server's hooks (the git policy's guard) to the caller's control.</summary>
    public static readonly IReadOnlyList<string> RefusedSettings =
        ["apiKeyHelper", "awsAuthRefresh", "awsCredentialExport", "gcpAuthRefresh", "otelHeadersHelper", "env", "disableAllHooks", "forceLoginMethod"];

    /// <summary>Checks the options every agent shares and refuses, by name, those <paramref name="agent"/> does not take.</summary>
    internal static void Check(AgentRunRequest request, string agent, bool claude)
    {
        var unsupported = new List<string>();
        if (!claude)
        {
            if (request.AllowedTools is { Count: > 0 }) { unsupported.Add("allowed_tools"); }
            if (request.DisallowedTools is { Count: > 0 }) { unsupported.Add("disallowed_tools"); }
            if (request.MaxThinkingTokens is not null) { unsupported.Add("max_thinking_tokens"); }
            if (request.ExtraArgs is { Count: > 0 }) { unsupported.Add("extra_args"); }
            if (request.Settings is not null) { unsupported.Add("settings"); }
        }
        if (unsupported.Count > 0)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                $"Agent '{agent}' does not take {string.Join(", ", unsupported)} (Claude Code's options); leave {(unsupported.Count == 1 ? "it" : "them")} out.");
        }
        Tools(request.AllowedTools, "allowed_tools");
        Tools(request.DisallowedTools, "disallowed_tools");
        if (request.MaxThinkingTokens is < 0 or > 1_000_000)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "max_thinking_tokens must be between 0 and 1000000.");
        }
        foreach (var dir in request.AddDirs ?? [])
        {
            Directory(dir);
        }
        if ((request.AddDirs?.Count ?? 0) > 16)
        {
            throw new SandboxException(SandboxErrorCodes.LimitExceeded, "add_dirs may name at most 16 directories.");
        }
        if (request.Instructions is { Length: > 100_000 })
        {
            throw new SandboxException(SandboxErrorCodes.LimitExceeded, "instructions may have at most 100000 characters.");
        }
    }

    /// <summary>Claude Code's arguments for the options (after the run's own); the settings merged with the server's
    /// own (<paramref name="serverSettings"/>, the git policy's hook), which always win.</summary>
    internal static void AddClaudeArguments(List<string> argv, Dictionary<string, string> env, AgentRunRequest request, JsonObject? serverSettings)
    {
        foreach (var tool in request.AllowedTools ?? [])
        {
            argv.AddRange(["--allowedTools", tool]);
        }
        foreach (var tool in request.DisallowedTools ?? [])
        {
            argv.AddRange(["--disallowedTools", tool]);
        }
        foreach (var dir in request.AddDirs ?? [])
        {
            argv.AddRange(["--add-dir", Directory(dir)]);
        }
        if (request.MaxThinkingTokens is { } thinking)
        {
            env["MAX_THINKING_TOKENS"] = thinking.ToString(CultureInfo.InvariantCulture);
        }
        argv.AddRange(Extra(request.ExtraArgs));
        if (Settings(request.Settings, serverSettings) is { } settings)
        {
            argv.AddRange(["--settings", settings]);
        }
        if (request.McpServers is { Count: > 0 } servers)
        {
            argv.AddRange(["--mcp-config", McpConfig(servers)]);
        }
    }

    /// <summary>The servers as Claude Code's <c>.mcp.json</c> (<c>{"mcpServers": {…}}</c>).</summary>
    internal static string McpConfig(IReadOnlyDictionary<string, AgentMcpServer> servers)
    {
        var all = new JsonObject();
        foreach (var (name, server) in servers.OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            all[name] = IsHttp(server)
                ? new JsonObject { ["type"] = "http", ["url"] = server.Url }
                : new JsonObject
                {
                    ["type"] = "stdio", ["command"] = server.Command,
                    ["args"] = new JsonArray((server.Args ?? []).Select(a => (JsonNode?)JsonValue.Create(a)).ToArray()),
                    ["env"] = new JsonObject((server.Env ?? new Dictionary<string, string>()).Select(e => KeyValuePair.Create(e.Key, (JsonNode?)JsonValue.Create(e.Value)))),
                };
        }
        return new JsonObject { ["mcpServers"] = all }.ToJsonString();
    }

    /// <summary>Whether the server is reached over HTTP (otherwise it is a program started in the sandbox).</summary>
    internal static bool IsHttp(AgentMcpServer server) => string.Equals(server.Type, "http", StringComparison.Ordinal);

    /// <summary>Checks the shape of each MCP server (names, program or URL); the network checks are the session's.</summary>
    internal static void CheckMcpServers(IReadOnlyDictionary<string, AgentMcpServer>? servers)
    {
        if (servers is null)
        {
            return;
        }
        if (servers.Count > 16)
        {
            throw new SandboxException(SandboxErrorCodes.LimitExceeded, "mcp_servers may hold at most 16 servers.");
        }
        foreach (var (name, server) in servers)
        {
            if (!McpName().IsMatch(name ?? ""))
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                    $"MCP server name '{SafeText.Shorten(name)}': use letters, digits, _ and - (at most 64); the agent sees its tools as mcp__NAME__TOOL.");
            }
            if (server is null || server.Type is not (null or "stdio" or "http"))
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"MCP server '{name}': type is 'stdio' or 'http'.");
            }
            if (IsHttp(server))
            {
                if (server.Command is not null || server.Args is { Count: > 0 } || server.Env is { Count: > 0 })
                {
                    throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"MCP server '{name}': an http server has a url (and optionally a secret), not command, args or env.");
                }
                if (!Uri.TryCreate(server.Url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.UserInfo.Length > 0)
                {
                    throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"MCP server '{name}': url must be an http(s) URL without credentials (use secret for a header).");
                }
                continue;
            }
            if (server.Url is not null || server.Secret is not null)
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"MCP server '{name}': url and secret are for type 'http'; a stdio server has command, args and env.");
            }
            var args = server.Args ?? [];
            if (string.IsNullOrEmpty(server.Command) || args.Count > 64 || args.Prepend(server.Command).Any(a => a is null || a.Length > 4096 || a.Contains('\0', StringComparison.Ordinal)))
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                    $"MCP server '{name}': a stdio server needs command (a program in the sandbox) and at most 64 args, each at most 4096 characters without NUL.");
            }
            foreach (var (key, value) in server.Env ?? new Dictionary<string, string>())
            {
                if (!EnvName().IsMatch(key ?? "") || value is null || value.Length > 32 * 1024 || value.Contains('\0', StringComparison.Ordinal))
                {
                    throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"MCP server '{name}': env names are letters, digits and _; values at most 32768 characters without NUL.");
                }
            }
        }
    }

    private static void Tools(IReadOnlyList<string>? tools, string option)
    {
        if (tools is null)
        {
            return;
        }
        if (tools.Count > 100)
        {
            throw new SandboxException(SandboxErrorCodes.LimitExceeded, $"{option} may name at most 100 tools.");
        }
        foreach (var tool in tools)
        {
            if (tool is null || !ToolPattern().IsMatch(tool))
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                    $"{option}: '{SafeText.Shorten(tool)}' is not a tool name or rule (e.g. Read, Bash(git log:*), mcp__server__tool).");
            }
        }
    }

    private static string Directory(string dir)
    {
        var parts = (dir ?? "").Split('/');
        if (dir is null || !(dir == "/workspace" || dir.StartsWith("/workspace/", StringComparison.Ordinal) || dir.StartsWith("/context/", StringComparison.Ordinal))
            || parts.Skip(1).Any(p => p is "" or "." or "..") || dir.Length > 1024 || dir.Any(char.IsControl))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                $"add_dirs: '{SafeText.Shorten(dir)}' must be an absolute path under /workspace or /context, without '.', '..' or empty parts.");
        }
        return dir;
    }

    private static List<string> Extra(IReadOnlyList<string>? args)
    {
        var list = new List<string>();
        if (args is null)
        {
            return list;
        }
        for (var i = 0; i < args.Count; i++)
        {
            var flag = args[i] ?? "";
            var name = flag.Split('=', 2)[0];
            if (!ExtraFlags.TryGetValue(name, out var takesValue))
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                    $"extra_args: '{SafeText.Shorten(name)}' is not allowed. Allowed: {string.Join(", ", ExtraFlags.Keys)}; the others have options of their own (allowed_tools, disallowed_tools, add_dirs, settings, mcp_servers, model, max_turns) or are the server's.");
            }
            string? value = null;
            if (flag.Contains('=', StringComparison.Ordinal))
            {
                value = flag[(name.Length + 1)..];
            }
            else if (takesValue)
            {
                value = i + 1 < args.Count ? args[++i] : null;
            }
            if (takesValue != (value is not null) || value is { } v && (v.Length is 0 or > 200 || !FlagValue().IsMatch(v)))
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                    takesValue ? $"extra_args: {name} takes one value (letters, digits, . _ : / @ , -)." : $"extra_args: {name} takes no value.");
            }
            list.Add(name);
            if (value is not null)
            {
                list.Add(value);
            }
        }
        return list;
    }

    private static string? Settings(JsonElement? given, JsonObject? server)
    {
        if (given is not { } element)
        {
            return server?.ToJsonString();
        }
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "settings must be a JSON object (Claude Code's settings.json).");
        }
        var raw = element.GetRawText();
        if (raw.Length > 64 * 1024)
        {
            throw new SandboxException(SandboxErrorCodes.LimitExceeded, "settings may have at most 65536 characters.");
        }
        var settings = JsonNode.Parse(raw)!.AsObject();
        if (settings.Select(p => p.Key).FirstOrDefault(k => RefusedSettings.Contains(k, StringComparer.Ordinal)) is { } refused)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                $"settings: '{refused}' is the server's to set (refused: {string.Join(", ", RefusedSettings)}); pass environment with env.");
        }
        foreach (var (key, value) in server ?? [])
        {
            if (key == "hooks" && settings["hooks"] is JsonObject mine && value is JsonObject theirs)
            {
                // The caller's hooks stay; the server's are added after them (a refusal by either stops the tool).
                foreach (var (hook, list) in theirs)
                {
                    if (mine[hook] is not JsonArray merged)
                    {
                        merged = [];
                        mine[hook] = merged;
                    }
                    foreach (var entry in list as JsonArray ?? [])
                    {
                        merged.Add(entry?.DeepClone());
                    }
                }
                continue;
            }
            settings[key] = value?.DeepClone();
        }
        return settings.ToJsonString();
    }

    [GeneratedRegex(@"^[A-Za-z0-9_*.:\-]{1,200}(\([^\x00-\x1f]{0,500}\))?$")]
    private static partial Regex ToolPattern();

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex McpName();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
    private static partial Regex EnvName();

    [GeneratedRegex("^[A-Za-z0-9._:/@,\\-]+$")]
    private static partial Regex FlagValue();
}
