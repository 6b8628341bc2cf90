using System.Text.Json;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

using Sandbox.Testing;

namespace Sandbox.Server.Tests.Common;

public static class McpExtensions
{
    public static async Task<JsonElement> CallOkAsync(this McpClient client, string tool, Dictionary<string, object?> args)
    {
        var result = await client.CallToolAsync(tool, args);
        Assert.True(result.IsError is not true, $"{tool} failed: {Text(result)}");
        return Structured(result);
    }

    public static JsonElement Structured(CallToolResult result)
    {
        Assert.NotNull(result.StructuredContent);
        return JsonSerializer.SerializeToElement(result.StructuredContent);
    }

    public static string Text(CallToolResult result) =>
        string.Join("\n", result.Content.OfType<TextContentBlock>().Select(t => t.Text));

    /// <summary>The stable error code of a failed tool call.</summary>
    public static async Task<string> CallErrorCodeAsync(this McpClient client, string tool, Dictionary<string, object?> args)
    {
        var result = await client.CallToolAsync(tool, args);
        Assert.True(result.IsError, $"{tool} unexpectedly succeeded: {Text(result)}");
        return Structured(result).GetProperty("error").GetProperty("code").GetString()!;
    }
}
