using System.Text;
using Sandbox.Execution;

namespace Sandbox.Server.Mcp;

/// <summary>The MCP tools of the executions area.</summary>
[McpServerToolType]
public sealed class ExecutionTools(ExecutionService executions, IHttpContextAccessor http, ILogger<ExecutionTools> logger) : SandboxToolsBase(http, logger)
{
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
        await foreach (var e in executions.ExecuteStreamingAsync(session_id, Owner, request, cancellationToken))
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
        return McpToolResults.Result(blocks, dto with { Images = dto.Images.Select(i => i with { Base64 = $"<{i.Base64.Length} base64 chars, see image content>" }).ToList() });
    });

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
