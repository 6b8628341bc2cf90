using ModelContextProtocol.Client;
using Sandbox.Server.Tests.Common;
using Sandbox.Testing;

namespace Sandbox.Server.Tests.Mcp;

/// <summary>The real server binary in <c>--stdio</c> mode, spawned by the official client's stdio transport.</summary>
public sealed class McpStdioTests
{
    internal static string ServerDll() => RepoPaths.BuiltDll(Path.Combine("src", "Server"), "Sandbox.Server.dll");

    [Fact]
    public async Task Full_session_over_stdio()
    {
        var instance = "stdiotest-" + Guid.NewGuid().ToString("N")[..8];
        var transport = new StdioClientTransport(new StdioClientTransportOptions
        {
            Name = "sandbox",
            Command = "dotnet",
            Arguments = [ServerDll(), "--stdio", $"--Sandbox:InstanceId={instance}"],
            ShutdownTimeout = TimeSpan.FromSeconds(20),
        });
        await using var client = await McpClient.CreateAsync(transport);
        var tools = await client.ListToolsAsync();
        foreach (var name in McpStreamableHttpTests.ToolNames)
        {
            Assert.Contains(tools, t => t.Name == name);
        }
        var id = (await client.CallOkAsync("create_session", new())).GetProperty("session_id").GetString()!;
        await client.CallOkAsync("execute_code", new() { ["session_id"] = id, ["code"] = "x = 41" });
        var r = await client.CallOkAsync("execute_code", new() { ["session_id"] = id, ["code"] = "print(x + 1)" });
        Assert.Equal("42\n", r.GetProperty("stdout").GetString());
        await client.CallOkAsync("upload_file", new() { ["session_id"] = id, ["path"] = "in.txt", ["content_base64"] = Convert.ToBase64String("hi"u8.ToArray()) });
        var file = await client.CallToolAsync("download_file", new Dictionary<string, object?> { ["session_id"] = id, ["path"] = "in.txt" });
        Assert.Equal("hi", McpExtensions.Text(file));
        await client.CallOkAsync("close_session", new() { ["session_id"] = id });
    }
}
