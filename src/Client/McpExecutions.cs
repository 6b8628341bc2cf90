using System.Text.Json;
using System.Threading.Channels;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using Sandbox.Client.Contracts;

namespace Sandbox.Client;

/// <summary>Executions over MCP: the arguments of <c>execute_code</c> as the typed client means them, its result with
/// images from their content blocks, and its progress notifications as output events.</summary>
internal static class McpExecutions
{
    // The typed client means the same over both transports: no wait limit and no output budget unless asked for
    // (the MCP tools' defaults are made for models, not programs).
    public static Dictionary<string, object?> Args(string sessionId, ExecuteRequest r) => new()
    {
        ["session_id"] = sessionId, ["code"] = r.Code, ["language"] = r.Language ?? "python", ["timeout_seconds"] = r.TimeoutSeconds,
        ["fresh"] = r.Fresh ?? false, ["allow"] = r.Allow, ["wait_seconds"] = r.WaitSeconds ?? UntilDone, ["max_output_chars"] = r.MaxOutputChars ?? int.MaxValue,
        ["auto_install"] = r.AutoInstall ?? false, ["auto_install_ignore"] = r.AutoInstallIgnore,
    };

    private const double UntilDone = 3600;

    public static ExecutionResultDto ToResult(CallToolResult result)
    {
        var dto = McpToolCaller.Structured(result).Deserialize<ExecutionResultDto>(SandboxJson.Options)
                  ?? throw new SandboxClientException("protocol_error", "execute_code returned no result.");
        // Images travel as image content blocks (not duplicated in the structured content).
        var images = result.Content.OfType<ImageContentBlock>().Select(i => new ImageDto("png", Convert.ToBase64String(i.DecodedData.Span))).ToList();
        return dto with { Images = images };
    }

    public static ExecutionStreamEvent ToOutputEvent(ProgressNotificationValue v)
    {
        var message = v.Message ?? "";
        var stream = message.StartsWith("[stderr] ", StringComparison.Ordinal) ? "stderr" : "stdout";
        var prefix = $"[{stream}] ";
        return new ExecutionStreamEvent { Type = "output", Stream = stream, Text = message.StartsWith(prefix, StringComparison.Ordinal) ? message[prefix.Length..] : message };
    }

    /// <summary>Progress notifications into a channel the streaming call reads.</summary>
    public sealed class ChannelProgress(ChannelWriter<ProgressNotificationValue> writer) : IProgress<ProgressNotificationValue>
    {
        public void Report(ProgressNotificationValue value) => writer.TryWrite(value);
    }
}
