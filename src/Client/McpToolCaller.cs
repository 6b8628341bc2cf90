using System.Text.Json;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Sandbox.Client.Contracts;

namespace Sandbox.Client;

/// <summary>The MCP client's transport: a tool call with its arguments (nulls left out), its structured answer read as
/// contracts, and a tool error turned into a <see cref="SandboxClientException"/> with the server's code.</summary>
internal sealed class McpToolCaller(McpClient mcp)
{
    /// <summary>The MCP client.</summary>
    public McpClient Mcp { get; } = mcp;

    /// <summary>Calls <paramref name="tool"/> and reads <paramref name="property"/> of its structured answer.</summary>
    public async Task<T> CallAsync<T>(string tool, Dictionary<string, object?> args, string property, CancellationToken ct) =>
        Get<T>(await CallAsync(tool, args, ct).ConfigureAwait(false), property);

    /// <summary>Calls <paramref name="tool"/> and returns its structured answer.</summary>
    public async Task<JsonElement> CallAsync(string tool, Dictionary<string, object?> args, CancellationToken ct) =>
        Structured(await CallRawAsync(tool, args, null, ct).ConfigureAwait(false));

    /// <summary>Calls <paramref name="tool"/>, reporting its progress notifications, and returns its whole result.</summary>
    public async Task<CallToolResult> CallRawAsync(string tool, Dictionary<string, object?> args, IProgress<ProgressNotificationValue>? progress, CancellationToken ct)
    {
        CallToolResult result;
        try
        {
            result = await Mcp.CallToolAsync(tool, args.Where(kv => kv.Value is not null).ToDictionary(), progress, cancellationToken: ct).ConfigureAwait(false);
        }
        catch (McpException e)
        {
            throw new SandboxClientException("protocol_error", e.Message, inner: e);
        }
        if (result.IsError == true)
        {
            var structured = result.StructuredContent is null ? (JsonElement?)null : JsonSerializer.SerializeToElement(result.StructuredContent);
            if (structured is { } s && s.TryGetProperty("error", out var error) && error.TryGetProperty("code", out var code))
            {
                throw new SandboxClientException(code.GetString() ?? "error", error.TryGetProperty("message", out var m) ? m.GetString() ?? "" : "");
            }
            throw new SandboxClientException("tool_error", string.Join("\n", result.Content.OfType<TextContentBlock>().Select(t => t.Text)));
        }
        return result;
    }

    /// <summary>A result's structured content.</summary>
    public static JsonElement Structured(CallToolResult result) => result.StructuredContent is null
        ? throw new SandboxClientException("protocol_error", "The tool returned no structured content.")
        : JsonSerializer.SerializeToElement(result.StructuredContent);

    /// <summary>One property of a structured answer, as a contract.</summary>
    public static T Get<T>(JsonElement e, string property) =>
        e.GetProperty(property).Deserialize<T>(SandboxJson.Options) ?? throw new SandboxClientException("protocol_error", $"Missing {property}.");
}
