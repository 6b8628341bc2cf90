using System.ComponentModel;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.StaticFiles;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using Sandbox.Client.Contracts;
using Sandbox.Execution;
using Sandbox.Server.Api;
using Sandbox.Server.Hosting;
using Sandbox.Sessions;

namespace Sandbox.Server.Mcp;

/// <summary>The MCP face: each tool translates its arguments to one engine call and the result to text plus structured content.</summary>
[McpServerToolType]
public sealed partial class SandboxTools(SessionManager engine, IHttpContextAccessor http, ILogger<SandboxTools> logger)
{
    private static readonly FileExtensionContentTypeProvider ContentTypes = new();
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    private string Owner => CallerContext.Get(http.HttpContext);

    /// <summary>create_session.</summary>
    [McpServerTool(Name = "create_session", Title = "Create a sandbox session", Destructive = false, OpenWorld = false)]
    [Description("Creates an isolated sandbox (a container with no network) and returns its session_id. Python state (variables, imports, files in /workspace) persists across execute_code calls in the session. Close it with close_session when done; idle sessions are closed automatically.")]
    public Task<CallToolResult> CreateSession(
        [Description("Image to use: 'python' (default; numpy, pandas, matplotlib installed) or 'agent' (Claude Code CLI, Node, git, Python: for run_agent).")] string? image = null,
        [Description("Memory limit in MiB (optional; at most the server maximum).")] int? memory_mb = null,
        [Description("CPU cores (optional, e.g. 0.5).")] double? cpus = null,
        [Description("Maximum processes (optional).")] int? pids = null,
        [Description("Size of /workspace in MiB (optional).")] int? workspace_mb = null,
        [Description("Close the session after this many idle seconds (optional).")] int? ttl_seconds = null,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var request = new CreateSessionRequest
        {
            Image = image,
            Limits = new LimitsDto { MemoryMb = memory_mb, Cpus = cpus, Pids = pids, WorkspaceMb = workspace_mb },
            IdleTimeoutSeconds = ttl_seconds,
        };
        var s = (await engine.CreateSessionAsync(request.ToSpec(), Owner, cancellationToken)).ToDto();
        return Ok($"Session {s.Id} is ready (image {s.Image}; memory {s.Limits.MemoryMb} MiB, cpus {s.Limits.Cpus}, pids {s.Limits.Pids}, workspace {s.Limits.WorkspaceMb} MiB; no network). Use session_id \"{s.Id}\" with execute_code.",
            new { session_id = s.Id, session = s });
    });

    /// <summary>execute_code.</summary>
    [McpServerTool(Name = "execute_code", Title = "Execute code in a session", Destructive = false, OpenWorld = false)]
    [Description("Runs code in a session and returns stdout, stderr, exit_code, and any error with Python's traceback. Python runs in a persistent interpreter (like a notebook: variables and imports are kept; the value of a last bare expression is printed); matplotlib figures come back as PNG images. bash runs as a new process each call in /workspace. Output streams as progress notifications. If the static safety check refuses the code, the error lists rule ids you may pass in 'allow' if the code is intended.")]
    public Task<CallToolResult> ExecuteCode(
        [Description("The session_id from create_session.")] string session_id,
        [Description("The code to run.")] string code,
        [Description("'python' (default, stateful), 'bash', or 'node' (JavaScript; in 'agent' sessions, which have Node.js).")] string language = "python",
        [Description("Wall-clock limit in seconds (default 30). On timeout the code is stopped and the session stays usable.")] double? timeout_seconds = null,
        [Description("Python only: run in a new interpreter that does not see the session's variables.")] bool fresh = false,
        [Description("Safety rule ids or names to allow for this call, e.g. ['PY001'] or ['subprocess.*'].")] string[]? allow = null,
        RequestContext<CallToolRequestParams>? context = null,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var request = new ExecuteRequest { Code = code, Language = language, TimeoutSeconds = timeout_seconds, Fresh = fresh, Allow = allow }.ToEngine();
        ExecutionResult? result = null;
        var chunks = 0;
        await foreach (var e in engine.ExecuteStreamingAsync(session_id, Owner, request, cancellationToken))
        {
            switch (e)
            {
                case OutputEvent o when context?.Params?.ProgressToken is { } token:
                    // Awaited one by one (not IProgress, which does not wait) so notifications keep their order.
                    await context.Server.NotifyProgressAsync(token, new ProgressNotificationValue { Progress = ++chunks, Message = $"[{o.Stream}] {o.Text}" },
                        cancellationToken: cancellationToken);
                    break;
                case CompletedEvent c:
                    result = c.Result;
                    break;
            }
        }
        if (result is null)
        {
            throw new SandboxException(SandboxErrorCodes.Internal, "The execution ended without a result.");
        }
        var dto = result.ToDto();
        var blocks = new List<ContentBlock> { new TextContentBlock { Text = Describe(dto) } };
        blocks.AddRange(result.Images.Select(i => ImageContentBlock.FromBytes(Convert.FromBase64String(i.Base64), "image/png")));
        return Result(blocks, dto with { Images = dto.Images.Select(i => i with { Base64 = $"<{i.Base64.Length} base64 chars, see image content>" }).ToList() });
    });

    /// <summary>upload_file.</summary>
    [McpServerTool(Name = "upload_file", Title = "Upload a file to a session", Destructive = true, OpenWorld = false)]
    [Description("Writes a file into the session's /workspace (parent folders are created, an existing file is replaced). The path is relative to /workspace; absolute paths and '..' are refused.")]
    public Task<CallToolResult> UploadFile(
        [Description("The session_id.")] string session_id,
        [Description("Path relative to /workspace, e.g. 'data/input.csv'.")] string path,
        [Description("The file's bytes, base64-encoded.")] string content_base64,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(content_base64 ?? "");
        }
        catch (FormatException)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "content_base64 is not valid base64.");
        }
        using var stream = new MemoryStream(bytes, writable: false);
        var f = (await engine.UploadFileAsync(session_id, Owner, path, stream, cancellationToken)).ToDto();
        return Ok($"Wrote {f.Size} bytes to /workspace/{f.Path}.", new { file = f });
    });

    /// <summary>download_file.</summary>
    [McpServerTool(Name = "download_file", Title = "Download a file from a session", ReadOnly = true, OpenWorld = false)]
    [Description("Reads a file from the session's /workspace. Text files come back as text, PNG/JPEG/GIF as images, other binary files as an embedded blob resource; a directory comes back as a tar archive.")]
    public Task<CallToolResult> DownloadFile(
        [Description("The session_id.")] string session_id,
        [Description("Path relative to /workspace.")] string path,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var file = await engine.DownloadFileAsync(session_id, Owner, path, cancellationToken);
        var name = file.Path.Length == 0 ? "workspace" : file.Path.Split('/')[^1];
        var mime = file.IsDirectory ? "application/x-tar" : ContentTypes.TryGetContentType(name, out var t) ? t : "application/octet-stream";
        var meta = new { path = file.Path, size = file.Content.Length, mime_type = mime, is_directory = file.IsDirectory };
        if (!file.IsDirectory && mime.StartsWith("image/", StringComparison.Ordinal) && mime is "image/png" or "image/jpeg" or "image/gif" or "image/webp")
        {
            return Result([ImageContentBlock.FromBytes(file.Content, mime)], meta);
        }
        if (!file.IsDirectory && TryText(file.Content) is { } text)
        {
            return Result([new TextContentBlock { Text = text }], meta);
        }
        var uri = $"sandbox://sessions/{session_id}/files/{Uri.EscapeDataString(file.Path).Replace("%2F", "/", StringComparison.Ordinal)}";
        return Result([new EmbeddedResourceBlock { Resource = BlobResourceContents.FromBytes(file.Content, uri, mime) }], meta);
    });

    /// <summary>list_files.</summary>
    [McpServerTool(Name = "list_files", Title = "List files in a session", ReadOnly = true, OpenWorld = false)]
    [Description("Lists a directory of the session's /workspace (not recursive): name, kind (file, directory, symlink), size.")]
    public Task<CallToolResult> ListFiles(
        [Description("The session_id.")] string session_id,
        [Description("Directory relative to /workspace; empty for the workspace itself.")] string? path = null,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var files = (await engine.ListFilesAsync(session_id, Owner, path, cancellationToken)).Select(f => f.ToDto()).ToList();
        var text = files.Count == 0 ? "(empty)" : string.Join('\n', files.Select(f => $"{(f.Kind == "directory" ? "d" : f.Kind == "symlink" ? "l" : "-")} {f.Size,10} {f.Path}"));
        return Ok(text, new { files });
    });

    /// <summary>delete_file.</summary>
    [McpServerTool(Name = "delete_file", Title = "Delete a file in a session", Destructive = true, OpenWorld = false)]
    [Description("Deletes a file or a directory tree in the session's /workspace.")]
    public Task<CallToolResult> DeleteFile(
        [Description("The session_id.")] string session_id,
        [Description("Path relative to /workspace.")] string path,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        await engine.DeleteFileAsync(session_id, Owner, path, cancellationToken);
        return Ok($"Deleted /workspace/{path}.", new { deleted = path });
    });

    /// <summary>close_session.</summary>
    [McpServerTool(Name = "close_session", Title = "Close a session", Destructive = true, OpenWorld = false)]
    [Description("Closes a session: its container and all its files are removed.")]
    public Task<CallToolResult> CloseSession([Description("The session_id.")] string session_id, CancellationToken cancellationToken = default) => Run(async () =>
    {
        await engine.CloseSessionAsync(session_id, Owner, cancellationToken);
        return Ok($"Session {session_id} closed.", new { closed = session_id });
    });

    /// <summary>list_sessions.</summary>
    [McpServerTool(Name = "list_sessions", Title = "List sessions", ReadOnly = true, OpenWorld = false)]
    [Description("Lists your live sessions.")]
    public Task<CallToolResult> ListSessions() => Run(() =>
    {
        var sessions = engine.ListSessions(Owner).Select(s => s.ToDto()).ToList();
        var text = sessions.Count == 0 ? "No sessions." : string.Join('\n', sessions.Select(s => $"{s.Id} {s.Image} {s.Status} executions={s.ExecutionCount} expires={s.ExpiresAt:O}"));
        return Task.FromResult(Ok(text, new { sessions }));
    });

    /// <summary>get_session_info.</summary>
    [McpServerTool(Name = "get_session_info", Title = "Describe a session", ReadOnly = true, OpenWorld = false)]
    [Description("Returns a session's status, limits, age and expiry.")]
    public Task<CallToolResult> GetSessionInfo([Description("The session_id.")] string session_id) => Run(() =>
    {
        var s = engine.GetSession(session_id, Owner).ToDto();
        return Task.FromResult(Ok(JsonSerializer.Serialize(s, SandboxJson.Options), new { session = s }));
    });

    /// <summary>get_session_history.</summary>
    [McpServerTool(Name = "get_session_history", Title = "Session history", ReadOnly = true, OpenWorld = false)]
    [Description("Returns a session's audit log, oldest first: created/paused/resumed/closed/lost events and every execution with its language, code hash and size, exit code, error type, duration and the first characters of its output.")]
    public Task<CallToolResult> GetSessionHistory([Description("The session_id.")] string session_id, [Description("Most recent entries to return (default 100).")] int limit = 100,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var history = (await engine.GetHistoryAsync(session_id, Owner, limit, cancellationToken)).Select(h => h.ToDto()).ToList();
        var text = string.Join('\n', history.Select(h => $"{h.At:O} {h.Kind}{(h.Language is null ? "" : $" {h.Language} exit={h.ExitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-"} {h.DurationMs:0.#} ms")}{(h.ErrorType is null ? "" : $" {h.ErrorType}")}"));
        return Ok(history.Count == 0 ? "No history." : text, new { history });
    });

    /// <summary>pause_session.</summary>
    [McpServerTool(Name = "pause_session", Title = "Pause a session", Destructive = false, OpenWorld = false)]
    [Description("Freezes a session so it costs no CPU while idle; variables and files are kept. The next execute_code or file operation resumes it automatically.")]
    public Task<CallToolResult> PauseSession([Description("The session_id.")] string session_id, CancellationToken cancellationToken = default) => Run(async () =>
    {
        var s = (await engine.PauseSessionAsync(session_id, Owner, cancellationToken)).ToDto();
        return Ok($"Session {s.Id} is {s.Status}.", new { session = s });
    });

    /// <summary>resume_session.</summary>
    [McpServerTool(Name = "resume_session", Title = "Resume a session", Destructive = false, OpenWorld = false)]
    [Description("Thaws a paused session (execute_code and file operations also do this on their own).")]
    public Task<CallToolResult> ResumeSession([Description("The session_id.")] string session_id, CancellationToken cancellationToken = default) => Run(async () =>
    {
        var s = (await engine.ResumeSessionAsync(session_id, Owner, cancellationToken)).ToDto();
        return Ok($"Session {s.Id} is {s.Status}.", new { session = s });
    });

    /// <summary>get_health.</summary>
    [McpServerTool(Name = "get_health", Title = "Server health", ReadOnly = true, OpenWorld = false)]
    [Description("Reports whether the container engine answers and the sandbox images are present.")]
    public Task<CallToolResult> GetHealth(CancellationToken cancellationToken = default) => Run(async () =>
    {
        var h = (await engine.GetHealthAsync(cancellationToken)).ToDto();
        return Ok($"{h.Status}: engine {(h.Engine.Reachable ? h.Engine.Version : "unreachable")}, images {string.Join(", ", h.Images.Select(i => i.Name + (i.Present ? "" : " (missing)")))}, {h.Sessions} sessions", h);
    });

    /// <summary>get_packages.</summary>
    [McpServerTool(Name = "get_packages", Title = "List installed packages", ReadOnly = true, OpenWorld = false)]
    [Description("Lists what an image has installed (Python version and importable packages with versions). Sessions have no network, so only these packages can be imported.")]
    public Task<CallToolResult> GetPackages([Description("Image name; 'python' by default.")] string? image = null, CancellationToken cancellationToken = default) => Run(async () =>
    {
        var p = (await engine.GetPackagesAsync(image, cancellationToken)).ToDto();
        return Ok($"{p.Image} ({p.Reference}): " + string.Join(", ", p.Packages.Select(x => $"{x.Name} {x.Version}")), p);
    });

    /// <summary>install_packages.</summary>
    [McpServerTool(Name = "install_packages", Title = "Install packages into a session", Destructive = false, OpenWorld = true)]
    [Description("Installs Python (pip) or JavaScript (npm) packages into a session; the session itself keeps no network (the server fetches them, with dependencies and without running their install scripts, and copies them in). Python packages are importable at once (also in the running interpreter); npm packages land in /workspace/node_modules for require() in node code ('agent' sessions have Node.js). Exact versions only ('requests==2.32.3', 'lodash@4.17.21') or none for the latest. Packages the server's policy refuses, and unknown packages, are errors; nothing is installed then. Check get_packages first: many packages are already there.")]
    public Task<CallToolResult> InstallPackages(
        [Description("The session_id.")] string session_id,
        [Description("Package specs, e.g. ['requests==2.32.3'] (pip) or ['lodash@4.17.21'] (npm).")] string[] packages,
        [Description("'pip' (default) or 'npm'.")] string manager = "pip",
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var r = (await engine.InstallPackagesAsync(session_id, Owner, new InstallPackagesRequest { Packages = packages, Manager = manager }.ToEngine(), cancellationToken)).ToDto();
        var list = string.Join(", ", r.Installed.Select(i => $"{i.Name} {i.Version}{(i.Cached ? " (cached)" : "")}"));
        return Ok($"Installed into /workspace/{r.Location}: {list}.", new { result = r });
    });

    /// <summary>run_agent.</summary>
    [McpServerTool(Name = "run_agent", Title = "Run a coding agent in a session", Destructive = true, OpenWorld = true)]
    [Description("Runs a coding agent (Claude Code by default) unattended with full permissions inside the session's container, in /workspace: files uploaded before are its input, what it writes stays there for download_file and execute_code. Create the session with image 'agent' first. The agent can reach its model endpoint and nothing else; the API key stays outside the sandbox. Steps (messages, tool calls) stream as progress notifications; cancelling the call kills the agent. Returns the status, the agent's final message, the files it changed with a unified diff, turns and usage; the full trajectory is kept (get_agent_run).")]
    public Task<CallToolResult> RunAgent(
        [Description("The session_id from create_session (image 'agent').")] string session_id,
        [Description("The task for the agent, as you would type it to Claude Code.")] string prompt,
        [Description("'claude-code' (default) or 'command' (any CLI given in 'command').")] string agent = "claude-code",
        [Description("Model name for the agent (optional; the agent's default otherwise).")] string? model = null,
        [Description("Most agent turns (optional).")] int? max_turns = null,
        [Description("Wall-clock limit in seconds (default 600). At the limit the agent is killed and the run says so.")] double? timeout_seconds = null,
        [Description("Extra instructions appended to the agent's system prompt (optional).")] string? system_prompt = null,
        [Description("Extra environment variables for the agent process only (optional). Values are redacted from the trajectory.")] Dictionary<string, string>? env = null,
        [Description("For agent 'command': the program and its arguments, e.g. ['python3', 'my_agent.py'] (no shell). The prompt is in $AGENT_PROMPT.")] string[]? command = null,
        RequestContext<CallToolRequestParams>? context = null,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var request = new RunAgentRequest
        {
            Prompt = prompt, Agent = agent, Model = model, MaxTurns = max_turns, TimeoutSeconds = timeout_seconds,
            SystemPrompt = system_prompt, Env = env, Command = command,
        }.ToEngine();
        Sandbox.Agents.AgentRun? run = null;
        var steps = 0;
        await foreach (var e in engine.RunAgentStreamingAsync(session_id, Owner, request, cancellationToken))
        {
            switch (e)
            {
                case Sandbox.Agents.AgentStepEvent s when context?.Params?.ProgressToken is { } token:
                    await context.Server.NotifyProgressAsync(token, new ProgressNotificationValue
                    {
                        Progress = ++steps, Message = s.Step.Tool is null ? $"[{s.Step.Kind}] {s.Step.Text}" : $"[tool] {s.Step.Text}",
                    }, cancellationToken: cancellationToken);
                    break;
                case Sandbox.Agents.AgentCompletedEvent c:
                    run = c.Run;
                    break;
            }
        }
        if (run is null)
        {
            throw new SandboxException(SandboxErrorCodes.Internal, "The agent run ended without a result.");
        }
        var dto = run.ToDto(trajectory: false);
        return Ok(DescribeRun(dto), new { run = dto });
    });

    /// <summary>get_agent_run.</summary>
    [McpServerTool(Name = "get_agent_run", Title = "Get an agent run", ReadOnly = true, OpenWorld = false)]
    [Description("Returns an agent run of a session: status, final message, steps, changed files and diff; with include_trajectory, every event the agent printed (can be large).")]
    public Task<CallToolResult> GetAgentRun(
        [Description("The session_id.")] string session_id,
        [Description("The run id from run_agent or list_agent_runs.")] string run_id,
        [Description("Include the full trajectory (every agent event).")] bool include_trajectory = false,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var dto = (await engine.GetAgentRunAsync(session_id, Owner, run_id, cancellationToken)).ToDto(include_trajectory);
        return Ok(DescribeRun(dto), new { run = dto });
    });

    /// <summary>list_agent_runs.</summary>
    [McpServerTool(Name = "list_agent_runs", Title = "List agent runs", ReadOnly = true, OpenWorld = false)]
    [Description("Lists a session's agent runs, newest first: id, agent, status, duration, final message.")]
    public Task<CallToolResult> ListAgentRuns(
        [Description("The session_id.")] string session_id,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var runs = (await engine.ListAgentRunsAsync(session_id, Owner, cancellationToken)).Select(r => r.ToDto(trajectory: false)).ToList();
        var text = runs.Count == 0 ? "No agent runs in this session."
            : string.Join("\n", runs.Select(r => $"{r.Id} {r.Agent} {r.Status} {r.DurationMs / 1000:F1}s: {r.FinalMessage ?? r.Error}"));
        return Ok(text, new { runs });
    });

    private static string DescribeRun(AgentRunDto r)
    {
        var sb = new StringBuilder();
        sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"Agent run {r.Id} ({r.Agent}) {r.Status} in {r.DurationMs / 1000:F1} s");
        if (r.Turns is { } turns)
        {
            sb.Append(System.Globalization.CultureInfo.InvariantCulture, $", {turns} turns");
        }
        sb.AppendLine(".");
        if (r.Error is { } error)
        {
            sb.AppendLine(error);
        }
        if (r.FinalMessage is { } final)
        {
            sb.AppendLine("--- final message ---").AppendLine(final);
        }
        if (r.Changes.Count > 0)
        {
            sb.AppendLine("--- files changed ---");
            foreach (var c in r.Changes)
            {
                sb.AppendLine(System.Globalization.CultureInfo.InvariantCulture, $"{c.Change} {c.Path}");
            }
            var diff = r.Diff.Length > 20_000 ? r.Diff[..20_000] + "\n[diff cut here; download the files or call get_agent_run]" : r.Diff;
            sb.AppendLine("--- diff ---").Append(diff);
        }
        else if (r.Status != "running")
        {
            sb.AppendLine("No files changed in /workspace.");
        }
        return sb.ToString();
    }

    private async Task<CallToolResult> Run(Func<Task<CallToolResult>> body)
    {
        try
        {
            return await body();
        }
        catch (SandboxException e)
        {
            var error = e.ToError();
            return new CallToolResult
            {
                IsError = true,
                Content = [new TextContentBlock { Text = $"{e.Code}: {e.Message}" }],
                StructuredContent = JsonSerializer.SerializeToElement(new { error }, SandboxJson.Options),
            };
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogToolFailed(logger, e);
            throw;
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "MCP tool failed unexpectedly")]
    private static partial void LogToolFailed(ILogger logger, Exception exception);

    private static CallToolResult Ok(string text, object structured) => Result([new TextContentBlock { Text = text }], structured);

    private static CallToolResult Result(IList<ContentBlock> content, object structured) => new()
    {
        Content = content,
        StructuredContent = JsonSerializer.SerializeToElement(structured, SandboxJson.Options),
    };

    private static string? TryText(byte[] bytes)
    {
        if (Array.IndexOf(bytes, (byte)0) >= 0)
        {
            return null;
        }
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }

    private static string Describe(ExecutionResultDto r)
    {
        var sb = new StringBuilder();
        sb.Append(r.TimedOut ? "TIMED OUT" : r.Error is not null ? $"ERROR {r.Error.Type}" : "OK");
        sb.Append($" (exit_code {r.ExitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}, {r.DurationMs:0.#} ms)");
        if (r.StateLost)
        {
            sb.Append(" — the Python process was restarted: variables and imports are lost (files remain)");
        }
        if (r.Truncated)
        {
            sb.Append(" — output was truncated");
        }
        sb.AppendLine();
        if (r.Stdout.Length > 0)
        {
            sb.AppendLine("--- stdout ---").Append(r.Stdout);
            if (!r.Stdout.EndsWith('\n'))
            {
                sb.AppendLine();
            }
        }
        if (r.Stderr.Length > 0)
        {
            sb.AppendLine("--- stderr ---").Append(r.Stderr);
            if (!r.Stderr.EndsWith('\n'))
            {
                sb.AppendLine();
            }
        }
        if (r.Error is { Traceback: null } e)
        {
            sb.AppendLine($"{e.Type}: {e.Message}");
        }
        if (r.Images.Count > 0)
        {
            sb.AppendLine($"{r.Images.Count} image(s) attached.");
        }
        foreach (var f in r.Findings)
        {
            sb.AppendLine($"safety warning line {f.Line}: [{f.RuleId}] {f.Message}");
        }
        return sb.ToString();
    }
}
