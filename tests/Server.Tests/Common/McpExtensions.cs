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

public static class HttpExtensions
{
    /// <summary>Sends with <c>Expect: 100-continue</c> so that a body the server refuses by its length is never
    /// sent (otherwise the server's early 413 races the upload and the client may see a broken pipe instead).</summary>
    public static Task<HttpResponseMessage> SendExpectingContinueAsync(this HttpClient http, HttpMethod method, string uri, HttpContent content)
    {
        var request = new HttpRequestMessage(method, uri) { Content = content };
        request.Headers.ExpectContinue = true;
        return http.SendAsync(request);
    }
}
