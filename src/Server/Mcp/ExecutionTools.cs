using System.Text;
using Sandbox.Execution;

namespace Sandbox.Server.Mcp;

/// <summary>The MCP tools of the executions area.</summary>
[McpServerToolType]
public sealed class ExecutionTools(ExecutionService executions, OutputLog outputs, IHttpContextAccessor http, ILogger<ExecutionTools> logger) : SandboxToolsBase(http, logger)
{
    /// <summary>execute_code.</summary>
    [McpServerTool(Name = "execute_code", Title = "Execute code in a session", Destructive = false, OpenWorld = false)]
    [Description("Runs code in a session and returns stdout, stderr, exit_code, and any error with Python's traceback. Python runs in a persistent " +
        "interpreter (like a notebook: variables and imports are kept; the value of a last bare expression is printed); matplotlib figures come " +
        "back as PNG images. bash runs as a new process each call in /workspace. Output streams as progress notifications. If the code is not " +
        "finished after wait_seconds, the answer has status 'running', the output so far and an execution_id: the code keeps running; read on with " +
        "get_execution. Long output comes back as head and tail (max_output_chars) and is kept whole for read_output and grep_output. If the " +
        "static safety check refuses the code, the error lists rule ids you may pass in 'allow' if the code is intended.")]
    public Task<CallToolResult> ExecuteCode(
        [Description("The session_id from create_session.")] string session_id,
        [Description("The code to run.")] string code,
        [Description("'python' (default, stateful), 'bash', or 'node' (JavaScript; in 'agent' sessions, which have Node.js).")] string language = "python",
        [Description("Wall-clock limit in seconds (default 30). On timeout the code is stopped and the session stays usable.")] double? timeout_seconds = null,
        [Description("Python only: run in a new interpreter that does not see the session's variables.")] bool fresh = false,
        [Description("Safety rule ids or names to allow for this call, e.g. ['PY001'] or ['subprocess.*'].")] string[]? allow = null,
        [Description("Seconds to wait for the code to finish (default 25, under common client time limits); if it is still running then, you get " +
            "status 'running' and an execution_id, and it keeps running.")] double? wait_seconds = null,
        [Description("Most characters of stdout and of stderr in the answer (default 16000); longer output is shown as head and tail, and kept " +
            "whole.")] int? max_output_chars = null,
        [Description("python and node: first install what the code imports and the session lacks (e.g. 'import yaml' installs PyYAML), " +
            "through install_packages' policy; the answer lists what was installed.")] bool auto_install = false,
        [Description("Import or package names auto_install leaves alone (e.g. a module of your own).")] string[]? auto_install_ignore = null,
        RequestContext<CallToolRequestParams>? context = null,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var request = new ExecuteRequest
        {
            Code = code, Language = language, TimeoutSeconds = timeout_seconds, Fresh = fresh, Allow = allow,
            WaitSeconds = wait_seconds ?? DefaultWaitSeconds, MaxOutputChars = max_output_chars ?? OutputBudget.McpDefault,
            AutoInstall = auto_install, AutoInstallIgnore = auto_install_ignore,
        }.ToEngine();
        var progress = new ProgressBudget(context, request.MaxOutputChars!.Value);
        if (!progress.Wanted)
        {
            // No progress token: nobody to stream to, so no event-by-event follow (the same result, fewer hops).
            return Answer(await executions.ExecuteAsync(session_id, Owner, request, cancellationToken));
        }
        ExecutionResult? result = null;
        await foreach (var e in executions.ExecuteStreamingAsync(session_id, Owner, request, cancellationToken))
        {
            switch (e)
            {
                case OutputEvent o:
                    await progress.SendAsync(o, cancellationToken);
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
        return Answer(result);
    });

    /// <summary>The wait of execute_code and get_execution when the call names none: under the 45–60 s after which
    /// common MCP clients give up on a call.</summary>
    public const double DefaultWaitSeconds = 25;

    /// <summary>get_execution.</summary>
    [McpServerTool(Name = "get_execution", Title = "Read on from a running execution", ReadOnly = true, OpenWorld = false)]
    [Description("Returns an execution's output since 'cursor' (the cursor of the previous answer; 0 for everything) and its status: 'running', " +
        "'finished', 'failed' or 'cancelled'. Waits up to wait_seconds for new output while it runs.")]
    public Task<CallToolResult> GetExecution(
        [Description("The session_id.")] string session_id,
        [Description("The execution_id from execute_code.")] string execution_id,
        [Description("Where to read on from: the previous answer's cursor (0: from the start).")] int cursor = 0,
        [Description("Seconds to wait for new output while it runs (default 25).")] double? wait_seconds = null,
        [Description("Most characters of stdout and of stderr in the answer (default 16000).")] int? max_output_chars = null,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var wait = ContractValidation.Wait(wait_seconds ?? DefaultWaitSeconds) ?? TimeSpan.Zero;
        var result = await executions.GetAsync(session_id, Owner, execution_id, cursor, wait, max_output_chars ?? OutputBudget.McpDefault, cancellationToken);
        return Answer(result);
    });

    /// <summary>cancel_execution.</summary>
    [McpServerTool(Name = "cancel_execution", Title = "Stop a running execution", Destructive = true, OpenWorld = false)]
    [Description("Stops a running execution (Python gets a KeyboardInterrupt first, so the session keeps its variables) and returns how it ended.")]
    public Task<CallToolResult> CancelExecution([Description("The session_id.")] string session_id, [Description("The execution_id.")] string execution_id,
        [Description("Most characters of stdout and of stderr in the answer (default 16000).")] int? max_output_chars = null,
        CancellationToken cancellationToken = default) => Run(async () =>
        Answer(OutputBudget.Apply(await executions.CancelAsync(session_id, Owner, execution_id, cancellationToken), max_output_chars ?? OutputBudget.McpDefault)));

    /// <summary>list_executions.</summary>
    [McpServerTool(Name = "list_executions", Title = "List a session's executions", ReadOnly = true, OpenWorld = false)]
    [Description("A session's recent executions, newest first: id, language, status, start, duration.")]
    public Task<CallToolResult> ListExecutions([Description("The session_id.")] string session_id) => Run(() =>
    {
        var list = executions.List(session_id, Owner).Select(e => e.ToDto()).ToList();
        var text = list.Count == 0 ? "No executions." : string.Join('\n', list.Select(e => $"{e.ExecutionId} {e.Language} {e.Status} started {e.StartedAt:O} {e.DurationMs:0} ms"));
        return Task.FromResult(McpToolResults.Ok(text, new { executions = list }));
    });

    /// <summary>read_output.</summary>
    [McpServerTool(Name = "read_output", Title = "Read part of an execution's output", ReadOnly = true, OpenWorld = false)]
    [Description("Reads bytes offset..offset+length of an execution's whole stdout or stderr (kept in /workspace/.outputs), for output an answer cut.")]
    public Task<CallToolResult> ReadOutput(
        [Description("The session_id.")] string session_id,
        [Description("The execution_id.")] string execution_id,
        [Description("'stdout' (default) or 'stderr'.")] string stream = "stdout",
        [Description("Byte offset to start at (default 0).")] long offset = 0,
        [Description("Bytes to read (default 16000, at most 1048576).")] int length = OutputBudget.McpDefault,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var slice = (await outputs.ReadAsync(session_id, Owner, execution_id, stream, offset, length, cancellationToken)).ToDto();
        return McpToolResults.Ok($"{slice.Stream} of {slice.ExecutionId}, bytes {slice.Offset}..{slice.Offset + slice.Length} of {slice.TotalBytes}:\n{slice.Text}", slice);
    });

    /// <summary>grep_output.</summary>
    [McpServerTool(Name = "grep_output", Title = "Search an execution's output", ReadOnly = true, OpenWorld = false)]
    [Description("The lines of an execution's whole stdout or stderr that match a regular expression, with line numbers and byte offsets (for read_output).")]
    public Task<CallToolResult> GrepOutput(
        [Description("The session_id.")] string session_id,
        [Description("The execution_id.")] string execution_id,
        [Description("A regular expression (.NET syntax), e.g. 'ERROR|Traceback'.")] string pattern,
        [Description("'stdout' (default) or 'stderr'.")] string stream = "stdout",
        [Description("Most lines to return (default 100).")] int max_matches = 100,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var found = (await outputs.GrepAsync(session_id, Owner, execution_id, stream, pattern, max_matches, cancellationToken)).ToDto();
        var text = found.Matches.Count == 0 ? "No line matches." : string.Join('\n', found.Matches.Select(m => $"{m.Line} (byte {m.Offset}): {m.Text}"))
            + (found.More ? "\n[more lines match; raise max_matches or narrow the pattern]" : "");
        return McpToolResults.Ok(text, found);
    });

    private static CallToolResult Answer(ExecutionResult result)
    {
        var dto = result.ToDto();
        var blocks = new List<ContentBlock> { new TextContentBlock { Text = Describe(dto) } };
        blocks.AddRange(result.Images.Select(i => ImageContentBlock.FromBytes(Convert.FromBase64String(i.Base64), "image/png")));
        return McpToolResults.Result(blocks, dto with { Images = dto.Images.Select(i => i with { Base64 = $"<{i.Base64.Length} base64 chars, see image content>" }).ToList() });
    }

    private static string Describe(ExecutionResultDto r)
    {
        var sb = new StringBuilder();
        if (r.AutoInstalled.Count > 0)
        {
            sb.AppendLine($"Installed first (auto_install): {string.Join(", ", r.AutoInstalled.Select(i => $"{i.Name} {i.Version}"))}");
        }
        if (r.Status == "running")
        {
            sb.AppendLine($"RUNNING (execution_id {r.ExecutionId}, {r.DurationMs / 1000:0.#} s so far): the code keeps running. Call get_execution with execution_id \"{r.ExecutionId}\" and cursor {r.Cursor} to read on, or cancel_execution to stop it.");
        }
        else if (r.Failure is { } failure)
        {
            sb.AppendLine($"{r.Status.ToUpperInvariant()} ({failure.Code}): {failure.Message}");
        }
        else
        {
            sb.Append(r.TimedOut ? "TIMED OUT" : r.Error is not null ? $"ERROR {r.Error.Type}" : "OK");
            sb.Append($" (exit_code {r.ExitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}, {r.DurationMs:0.#} ms)");
            if (r.StateLost)
            {
                sb.Append(" — the Python process was restarted: variables and imports are lost (files remain)");
            }
            if (r.Truncated)
            {
                sb.Append(" — output was cut (see the marker)");
            }
            sb.AppendLine();
        }
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

/// <summary>Progress notifications of an execution's output, bounded by the call's output budget: past it, one
/// notification says the rest is not streamed (it is in the answer's head and tail, and kept whole).</summary>
internal sealed class ProgressBudget(RequestContext<CallToolRequestParams>? context, int budget)
{
    private int _sent;
    private int _chunks;
    private bool _capped;

    /// <summary>The caller asked for progress notifications (its request carries a progress token).</summary>
    public bool Wanted => context?.Params?.ProgressToken is not null;

    public async Task SendAsync(OutputEvent o, CancellationToken ct)
    {
        if (context?.Params?.ProgressToken is not { } token || _capped)
        {
            return;
        }
        var text = o.Text;
        if (_sent + text.Length > budget)
        {
            text = text[..Math.Max(0, budget - _sent)] + "\n[... further output is not streamed: the answer shows its head and tail, and read_output reads it all]";
            _capped = true;
        }
        _sent += text.Length;
        // Awaited one by one (not IProgress, which does not wait) so notifications keep their order.
        await context.Server.NotifyProgressAsync(token, new ProgressNotificationValue { Progress = ++_chunks, Message = $"[{o.Stream}] {text}" },
            cancellationToken: ct);
    }
}
