using Sandbox.Processes;

namespace Sandbox.Server.Mcp;

/// <summary>The MCP tools of background processes.</summary>
[McpServerToolType]
public sealed class ProcessTools(ProcessService processes, IHttpContextAccessor http, ILogger<ProcessTools> logger) : SandboxToolsBase(http, logger)
{
    /// <summary>start_process.</summary>
    [McpServerTool(Name = "start_process", Title = "Start a background process", Destructive = false, OpenWorld = false)]
    [Description("Starts a command that keeps running beside the session's interpreter (a dev server, a watcher, a long job): the session stays " +
        "free for execute_code. Read its output with get_process_output, write to its stdin with send_input, stop it with kill_process. It ends " +
        "with the session.")]
    public Task<CallToolResult> StartProcess(
        [Description("The session_id.")] string session_id,
        [Description("A bash command line, e.g. 'python3 -m http.server 8000'. Or give argv.")] string? command = null,
        [Description("The program and its arguments, run without a shell, e.g. ['npm', 'run', 'dev'].")] string[]? argv = null,
        [Description("Working directory relative to /workspace (optional).")] string? cwd = null,
        [Description("Extra environment variables (optional).")] Dictionary<string, string>? env = null,
        [Description("Safety rule ids or names to allow for the command line (optional).")] string[]? allow = null,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var p = (await processes.StartAsync(session_id, Owner, new StartProcessRequest { Command = command, Argv = argv, Cwd = cwd, Env = env, Allow = allow }.ToEngine(),
            cancellationToken)).ToDto();
        return McpToolResults.Ok($"Process {p.ProcessId} started ({p.Command}). Read its output with get_process_output.", new { process = p });
    });

    /// <summary>list_processes.</summary>
    [McpServerTool(Name = "list_processes", Title = "List background processes", ReadOnly = true, OpenWorld = false)]
    [Description("A session's background processes, running and recently ended, with exit codes.")]
    public Task<CallToolResult> ListProcesses([Description("The session_id.")] string session_id, CancellationToken cancellationToken = default) => Run(async () =>
    {
        var list = (await processes.ListAsync(session_id, Owner, cancellationToken)).Select(p => p.ToDto()).ToList();
        var text = list.Count == 0 ? "No background processes." : string.Join('\n', list.Select(p =>
            $"{p.ProcessId} {(p.Running ? "running" : $"exited {p.ExitCode}")} {p.Command}"));
        return McpToolResults.Ok(text, new { processes = list });
    });

    /// <summary>get_process_output.</summary>
    [McpServerTool(Name = "get_process_output", Title = "Read a background process's output", ReadOnly = true, OpenWorld = false)]
    [Description("Output of a background process since the cursors of the previous answer (0 for the start of what memory holds; the whole log is " +
        "in /workspace/.outputs), and whether it still runs. Waits up to wait_seconds for news.")]
    public Task<CallToolResult> GetProcessOutput(
        [Description("The session_id.")] string session_id,
        [Description("The process_id.")] string process_id,
        [Description("stdout_cursor of the previous answer (0 at first).")] long stdout_cursor = 0,
        [Description("stderr_cursor of the previous answer (0 at first).")] long stderr_cursor = 0,
        [Description("Seconds to wait for new output while it runs (default 5).")] double wait_seconds = 5,
        [Description("Most bytes of each stream in the answer (default 16000).")] int max_bytes = 16_000,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var o = (await processes.GetOutputAsync(session_id, Owner, process_id, stdout_cursor, stderr_cursor,
            ContractValidation.Wait(wait_seconds) ?? TimeSpan.Zero, max_bytes, cancellationToken)).ToDto();
        var head = o.Process.Running ? "running" : $"exited with {o.Process.ExitCode}";
        var text = $"{o.Process.ProcessId} {head}; next cursors: stdout_cursor={o.StdoutCursor}, stderr_cursor={o.StderrCursor}"
                   + (o.SkippedBytes > 0 ? $" ({o.SkippedBytes} older bytes are only in {o.Process.OutputLog})" : "") + "\n"
                   + (o.Stdout.Length > 0 ? "--- stdout ---\n" + o.Stdout + "\n" : "") + (o.Stderr.Length > 0 ? "--- stderr ---\n" + o.Stderr + "\n" : "");
        return McpToolResults.Ok(text, o);
    });

    /// <summary>send_input.</summary>
    [McpServerTool(Name = "send_input", Title = "Write to a background process's stdin", Destructive = false, OpenWorld = false)]
    [Description("Writes text to a background process's standard input (add '\\n' to end a line); close=true ends its input.")]
    public Task<CallToolResult> SendInput(
        [Description("The session_id.")] string session_id,
        [Description("The process_id.")] string process_id,
        [Description("The text to write.")] string text,
        [Description("Close its stdin afterwards.")] bool close = false,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var written = await processes.SendInputAsync(session_id, Owner, process_id, text, close, cancellationToken);
        return McpToolResults.Ok($"Wrote {written} bytes{(close ? " and closed its input" : "")}.", new { written });
    });

    /// <summary>kill_process.</summary>
    [McpServerTool(Name = "kill_process", Title = "Kill a background process", Destructive = true, OpenWorld = false)]
    [Description("Kills a background process and everything it started.")]
    public Task<CallToolResult> KillProcess([Description("The session_id.")] string session_id, [Description("The process_id.")] string process_id,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var p = (await processes.KillAsync(session_id, Owner, process_id, cancellationToken)).ToDto();
        return McpToolResults.Ok($"Process {p.ProcessId} killed (exit {p.ExitCode}).", new { process = p });
    });
}
