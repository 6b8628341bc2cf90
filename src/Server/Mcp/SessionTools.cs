using System.Text.Json;
using Sandbox.Sessions;

namespace Sandbox.Server.Mcp;

/// <summary>The MCP tools of the sessions area: each translates its arguments to one engine call.</summary>
[McpServerToolType]
public sealed class SessionTools(SessionService service, Sandbox.Cluster.ClusterService cluster, IHttpContextAccessor http, ILogger<SessionTools> logger) : SandboxToolsBase(http, logger)
{
    /// <summary>The tool that creates a session (a cluster places its call on a node before it is served).</summary>
    public const string CreateSessionTool = "create_session";

    /// <summary>The description of a context_archives argument.</summary>
    internal const string ContextArchivesDoc = "Your own read-only context: {\"name\": \"<zip/tar/tar.gz as base64>\"}; each is unpacked at /context/<name>, " +
        "readable by the sandbox's code (and an agent), not writable. Optional.";

    /// <summary>create_session.</summary>
    [McpServerTool(Name = CreateSessionTool, Title = "Create a sandbox session", Destructive = false, OpenWorld = false)]
    [Description("Creates an isolated sandbox (a container with no network unless network_allow names hosts) and returns its session_id. Python " +
        "state (variables, imports, files in /workspace) persists across execute_code calls in the session. Close it with close_session when done; " +
        "idle sessions are closed automatically.")]
    public Task<CallToolResult> CreateSession(
        [Description("Image to use: 'python' (default; numpy, pandas, matplotlib installed) or 'agent' (Claude Code and Codex CLIs, Node, git, " +
            "Python: for run_agent and git_url), or an image reference the server's operator allows (e.g. 'node:22'; a refusal names the allowed patterns; " +
            "such an image runs bash, node and commands, and Python only if it has python3).")] string? image = null,
        [Description("Memory limit in MiB (optional; at most the server maximum).")] int? memory_mb = null,
        [Description("CPU cores (optional, e.g. 0.5).")] double? cpus = null,
        [Description("Maximum processes (optional).")] int? pids = null,
        [Description("Size of /workspace in MiB (optional).")] int? workspace_mb = null,
        [Description("Close the session after this many idle seconds (optional).")] int? ttl_seconds = null,
        [Description("'gvisor' (the code runs on a kernel of its own, not the host's; the default where the server has it) or 'container' (the " +
            "hardened container alone; faster to start). Optional.")] string? isolation = null,
        [Description("Hosts the session may reach over HTTP/HTTPS through its proxy, e.g. [\"pypi.org\", \"*.pythonhosted.org\", " +
            "\"api.example.com:8443\"] (no port: 80 and 443; names only). Within what the server permits. Omitted: no network at all; [] starts " +
            "with nothing allowed (update_network can open hosts later).")] string[]? network_allow = null,
        [Description("Names of operator-configured secrets the proxy adds to requests to their hosts (the values never enter the sandbox). " +
            "Optional.")] string[]? network_secrets = null,
        [Description("A snapshot_id from snapshot_session: the session starts with its files (and its image). Python variables start fresh. " +
            "Optional.")] string? from_snapshot = null,
        [Description("A git repository (https URL, no credentials in it) to clone into /workspace before the session is ready; use image 'agent'. " +
            "run_agent then works on a new branch per run; export_changes and push_changes take the work out. Optional.")] string? git_url = null,
        [Description("Branch, tag or full commit id to clone (optional; the default branch otherwise).")] string? git_ref = null,
        [Description("Name of an operator-configured git credential for a private repository (optional; the value never enters the sandbox).")] string? git_credentials = null,
        [Description("Clone only the last commit (optional).")] bool git_shallow = false,
        [Description("Clone submodules too (optional; they must be on the same host).")] bool git_submodules = false,
        [Description("Shell commands run once, in order, before the session is ready (e.g. [\"pip install -e .\"]); the first failure fails the " +
            "create with its output. Optional.")] string[]? setup = null,
        [Description("Names of operator context directories to mount read-only at /context/<name> (optional).")] string[]? context = null,
        [Description(ContextArchivesDoc)] Dictionary<string, string>? context_archives = null,
        [Description("Your labels for the session, e.g. {\"task\": \"t1\"}: returned everywhere, filterable in list_sessions (optional).")] Dictionary<string, string>? metadata = null,
        [Description("Environment variables of every execution, process and terminal of the session (optional; not for secrets).")] Dictionary<string, string>? env = null,
        [Description("A name for the session (a task name: lower-case letters, digits, '.', '_', '-'), unique among your open sessions (optional).")] string? name = null,
        [Description("Named volumes to mount (optional): [{\"name\": \"datasets\", \"path\": \"/data/datasets\", \"read_only\": true}]. Paths are under " +
            "/data, /mnt or /volumes. Many sessions may mount a volume read-only; one at a time read-write, and its files are saved back to the " +
            "volume when the session closes. create_volume makes one.")] VolumeMountDto[]? volumes = null,
        [Description("Give the session its own Docker engine (optional; gVisor isolation only, the agent image unless you name another): docker, " +
            "docker-compose and docker build work inside it, behind the session's wall and within its memory. Nested containers share the " +
            "session's network: a service's port is the session's (localhost:<port> or services:<port>), and compose services reach one another by " +
            "name (use network_mode: host in compose files).")] bool docker = false,
        [Description("Images of the server to load into the session's engine before it is ready, e.g. [\"sandbox-postgres:latest\"] (no registry " +
            "is needed; the server's Sandbox:Docker:AllowedImages says which). docker_load_image adds more later. Optional.")] string[]? docker_images = null,
        [Description("The session's engine's storage in MiB (optional; memory-backed, counted in the session's memory).")] int? docker_storage_mb = null,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var request = new CreateSessionRequest
        {
            Image = image,
            Limits = new LimitsDto { MemoryMb = memory_mb, Cpus = cpus, Pids = pids, WorkspaceMb = workspace_mb },
            IdleTimeoutSeconds = ttl_seconds,
            Isolation = isolation,
            Network = network_allow is null && network_secrets is null ? null : new NetworkDto { Allow = network_allow ?? [], Secrets = network_secrets },
            FromSnapshot = from_snapshot,
            Git = git_url is null ? null : new GitRequestDto { Url = git_url, Ref = git_ref, Credentials = git_credentials, Shallow = git_shallow, Submodules = git_submodules },
            Setup = setup,
            Context = context,
            ContextArchives = context_archives, Metadata = metadata, Env = env,
            Name = name, Volumes = volumes,
            Docker = docker ? true : null, DockerImages = docker_images, DockerStorageMb = docker_storage_mb,
        };
        var s = (await service.CreateAsync(request.ToSpec(), Owner, cancellationToken)).ToDto();
        return McpToolResults.Ok($"Session {s.Id} is ready (image {s.Image}; isolation {s.Isolation}; memory {s.Limits.MemoryMb} MiB, cpus {s.Limits.Cpus}, pids {s.Limits.Pids}, workspace {s.Limits.WorkspaceMb} MiB; {NetworkTools.Describe(s.Network)}{(s.Git is { } g ? $"; cloned {g.Url} at {g.BaseCommit[..12]}{(g.Branch is null ? "" : " on " + g.Branch)}" : "")}{(s.Context is { Count: > 0 } c ? "; context: " + string.Join(", ", c.Select(n => "/context/" + n)) : "")}{(s.Docker is { } d ? $"; its own Docker engine at DOCKER_HOST={d.Host}, images: {(d.Images.Count == 0 ? "none" : string.Join(", ", d.Images))}" : "")}). Use session_id \"{s.Id}\" with execute_code.",
            new { session_id = s.Id, session = s });
    });

    /// <summary>close_session.</summary>
    [McpServerTool(Name = "close_session", Title = "Close a session", Destructive = true, OpenWorld = false)]
    [Description("Closes a session: its container and all its files are removed.")]
    public Task<CallToolResult> CloseSession([Description("The session_id.")] string session_id, CancellationToken cancellationToken = default) => Run(async () =>
    {
        await service.CloseAsync(session_id, Owner, cancellationToken);
        return McpToolResults.Ok($"Session {session_id} closed.", new { closed = session_id });
    });

    /// <summary>list_sessions.</summary>
    [McpServerTool(Name = "list_sessions", Title = "List sessions", ReadOnly = true, OpenWorld = false)]
    [Description("Lists your live sessions (those whose metadata has every given key and value, with metadata).")]
    public Task<CallToolResult> ListSessions(
        [Description("Keep only sessions whose metadata has these keys and values, e.g. {\"task\": \"t1\"} (optional).")] Dictionary<string, string>? metadata = null,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var sessions = (await cluster.ListAsync(Owner, cancellationToken, metadata is { Count: > 0 } ? metadata : null)).Select(s => s.ToDto()).ToList();
        var text = sessions.Count == 0 ? "No sessions." : string.Join('\n', sessions.Select(s => $"{s.Id} {s.Image} {s.Isolation} {s.Status} executions={s.ExecutionCount} expires={s.ExpiresAt:O}{(s.Node is null ? "" : " node=" + s.Node)}"));
        return McpToolResults.Ok(text, new { sessions });
    });

    /// <summary>update_session.</summary>
    [McpServerTool(Name = "update_session", Title = "Change a session's metadata or environment", Destructive = false, Idempotent = true, OpenWorld = false)]
    [Description("Replaces a session's metadata and/or environment variables (what you give replaces all of it; leave one out to keep it). " +
        "A new environment reaches every later execution, process and terminal; the Python interpreter restarts with it (its variables are lost).")]
    public Task<CallToolResult> UpdateSession(
        [Description("The session_id.")] string session_id,
        [Description("New metadata (optional).")] Dictionary<string, string>? metadata = null,
        [Description("New environment variables (optional).")] Dictionary<string, string>? env = null,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var s = (await service.UpdateAsync(session_id, Owner, metadata, env, cancellationToken)).ToDto();
        return McpToolResults.Ok($"Session {s.Id}: metadata {{{string.Join(", ", s.Metadata.Select(m => m.Key + "=" + m.Value))}}}, environment {{{string.Join(", ", s.Env.Keys)}}}.", new { session = s });
    });

    /// <summary>get_session_info.</summary>
    [McpServerTool(Name = "get_session_info", Title = "Describe a session", ReadOnly = true, OpenWorld = false)]
    [Description("Returns a session's status, limits, age and expiry.")]
    public Task<CallToolResult> GetSessionInfo([Description("The session_id.")] string session_id) => Run(() =>
    {
        var s = service.Get(session_id, Owner).ToDto();
        return Task.FromResult(McpToolResults.Ok(JsonSerializer.Serialize(s, SandboxJson.Options), new { session = s }));
    });

    /// <summary>get_session_history.</summary>
    [McpServerTool(Name = "get_session_history", Title = "Session history", ReadOnly = true, OpenWorld = false)]
    [Description("Returns a session's audit log, oldest first: created/paused/resumed/closed/lost events and every execution with its language, " +
        "code hash and size, exit code, error type, duration and the first characters of its output.")]
    public Task<CallToolResult> GetSessionHistory([Description("The session_id.")] string session_id, [Description("Most recent entries to return (default 100).")] int limit = 100,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var history = (await service.GetHistoryAsync(session_id, Owner, limit, cancellationToken)).Select(h => h.ToDto()).ToList();
        var text = string.Join('\n', history.Select(h => $"{h.At:O} {h.Kind}{(h.Language is null ? "" : $" {h.Language} exit={h.ExitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-"} {h.DurationMs:0.#} ms")}{(h.ErrorType is null ? "" : $" {h.ErrorType}")}"));
        return McpToolResults.Ok(history.Count == 0 ? "No history." : text, new { history });
    });

    /// <summary>restart_session.</summary>
    [McpServerTool(Name = "restart_session", Title = "Restart a session", Destructive = true, OpenWorld = false)]
    [Description("Recreates a session on its image as it is now (an operator's rebuilt image is taken), keeping its files, the agents' home and " +
        "conversations, its name, repository, limits and network. It gets a new session_id; the old one is closed, and what ran in it (Python " +
        "variables, processes, terminals) does not come along.")]
    public Task<CallToolResult> RestartSession([Description("The session_id.")] string session_id, CancellationToken cancellationToken = default) => Run(async () =>
    {
        var s = (await service.RestartAsync(session_id, Owner, cancellationToken)).ToDto();
        return McpToolResults.Ok($"Session {session_id} restarted as {s.Id}: use session_id \"{s.Id}\" from now on.", new { session_id = s.Id, session = s });
    });

    /// <summary>pause_session.</summary>
    [McpServerTool(Name = "pause_session", Title = "Pause a session", Destructive = false, OpenWorld = false)]
    [Description("Freezes a session so it costs no CPU while idle; variables and files are kept. The next execute_code or file operation resumes " +
        "it automatically.")]
    public Task<CallToolResult> PauseSession([Description("The session_id.")] string session_id, CancellationToken cancellationToken = default) => Run(async () =>
    {
        var s = (await service.PauseAsync(session_id, Owner, cancellationToken)).ToDto();
        return McpToolResults.Ok($"Session {s.Id} is {s.Status}.", new { session = s });
    });

    /// <summary>resume_session.</summary>
    [McpServerTool(Name = "resume_session", Title = "Resume a session", Destructive = false, OpenWorld = false)]
    [Description("Thaws a paused session (execute_code and file operations also do this on their own).")]
    public Task<CallToolResult> ResumeSession([Description("The session_id.")] string session_id, CancellationToken cancellationToken = default) => Run(async () =>
    {
        var s = (await service.ResumeAsync(session_id, Owner, cancellationToken)).ToDto();
        return McpToolResults.Ok($"Session {s.Id} is {s.Status}.", new { session = s });
    });

    /// <summary>get_health.</summary>
    [McpServerTool(Name = "get_health", Title = "Server health", ReadOnly = true, OpenWorld = false)]
    [Description("Reports whether the container engine answers and the sandbox images are present.")]
    public Task<CallToolResult> GetHealth(CancellationToken cancellationToken = default) => Run(async () =>
    {
        var h = (await service.GetHealthAsync(cancellationToken)).ToDto();
        return McpToolResults.Ok($"{h.Status}: engine {(h.Engine.Reachable ? h.Engine.Version : "unreachable")}, isolation {h.Isolation?.Default ?? "?"} (available: {string.Join(", ", h.Isolation?.Available ?? [])}), images {string.Join(", ", h.Images.Select(i => i.Name + (i.Present ? "" : " (missing)")))}, {h.Sessions} sessions", h);
    });
}
