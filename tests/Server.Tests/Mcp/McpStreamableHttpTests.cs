using System.Text;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using Sandbox.Server.Tests.Common;
using Sandbox.Testing;

namespace Sandbox.Server.Tests.Mcp;

[Collection(ServerCollection.Name)]
public sealed class McpStreamableHttpTests(ServerFixture server)
{
    public static readonly string[] ToolNames =
    [
        "create_session", "execute_code", "upload_file", "download_file", "list_files", "search_code", "delete_file", "close_session",
        "list_sessions", "update_session", "get_session_info", "get_health", "get_packages", "run_agent", "continue_agent", "get_agent_run", "list_agent_runs", "run_agent_job", "get_agent_job", "list_skills", "session_diff", "session_summary", "open_terminal", "list_terminals", "close_terminal", "install_packages", "update_network", "get_execution", "cancel_execution", "list_executions", "read_output", "grep_output", "start_process", "list_processes", "get_process_output", "send_input", "kill_process", "get_file_url", "snapshot_session", "list_snapshots", "delete_snapshot", "fork_session", "expose_port", "open_preview", "unexpose_port", "export_changes", "push_changes", "restart_session", "upload_archive", "download_archive", "import_git_bundle", "update_git_base", "review_changes", "commit_changes",
        "create_volume", "list_volumes", "delete_volume", "docker_load_image",
    ];

    [Fact]
    public async Task Full_session_over_mcp_http()
    {
        await using var client = await server.CreateMcpClientAsync();
        var tools = await client.ListToolsAsync();
        foreach (var name in ToolNames)
        {
            var tool = Assert.Single(tools, t => t.Name == name);
            Assert.False(string.IsNullOrWhiteSpace(tool.Description));
        }
        var execute = tools.Single(t => t.Name == "execute_code").JsonSchema;
        Assert.True(execute.GetProperty("properties").TryGetProperty("session_id", out _));
        Assert.True(execute.GetProperty("properties").TryGetProperty("timeout_seconds", out _));

        var created = await client.CallOkAsync("create_session", new() { ["ttl_seconds"] = 600 });
        var id = created.GetProperty("session_id").GetString()!;

        await client.CallOkAsync("execute_code", new() { ["session_id"] = id, ["code"] = "x = 41" });
        var r = await client.CallToolAsync("execute_code", new Dictionary<string, object?> { ["session_id"] = id, ["code"] = "print(x + 1)" });
        Assert.Equal("42\n", McpExtensions.Structured(r).GetProperty("stdout").GetString());
        Assert.Contains("42", McpExtensions.Text(r));

        var payload = Convert.ToBase64String(Encoding.UTF8.GetBytes("a,b\n1,2\n"));
        await client.CallOkAsync("upload_file", new() { ["session_id"] = id, ["path"] = "data/in.csv", ["content_base64"] = payload });
        var pandas = await client.CallOkAsync("execute_code", new()
        {
            ["session_id"] = id, ["code"] = "import pandas as pd\ndf = pd.read_csv('data/in.csv')\nprint(int(df.a.sum() + df.b.sum()))",
        });
        Assert.Equal("3\n", pandas.GetProperty("stdout").GetString());

        var text = await client.CallToolAsync("download_file", new Dictionary<string, object?> { ["session_id"] = id, ["path"] = "data/in.csv" });
        Assert.Equal("a,b\n1,2\n", Assert.IsType<TextContentBlock>(Assert.Single(text.Content)).Text);

        await client.CallOkAsync("execute_code", new()
        {
            ["session_id"] = id, ["code"] = "import matplotlib.pyplot as plt\nplt.plot([1,2])\nplt.savefig('plot.png')\nplt.close()\nopen('blob.bin','wb').write(bytes(range(256)))",
        });
        var png = await client.CallToolAsync("download_file", new Dictionary<string, object?> { ["session_id"] = id, ["path"] = "plot.png" });
        Assert.True(png.IsError is not true, McpExtensions.Text(png));
        var image = Assert.IsType<ImageContentBlock>(Assert.Single(png.Content));
        Assert.Equal("image/png", image.MimeType);
        var blob = await client.CallToolAsync("download_file", new Dictionary<string, object?> { ["session_id"] = id, ["path"] = "blob.bin" });
        var resource = Assert.IsType<BlobResourceContents>(Assert.IsType<EmbeddedResourceBlock>(Assert.Single(blob.Content)).Resource);
        Assert.Equal(Enumerable.Range(0, 256).Select(i => (byte)i).ToArray(), resource.DecodedData.ToArray());

        var files = await client.CallOkAsync("list_files", new() { ["session_id"] = id });
        Assert.Contains(files.GetProperty("files").EnumerateArray(), f => f.GetProperty("name").GetString() == "plot.png");

        var plot = await client.CallToolAsync("execute_code", new Dictionary<string, object?>
        {
            ["session_id"] = id, ["code"] = "plt.plot([3,1])\nplt.show()",
        });
        Assert.Single(plot.Content.OfType<ImageContentBlock>());

        await client.CallOkAsync("close_session", new() { ["session_id"] = id });
        Assert.Equal("session_not_found", await client.CallErrorCodeAsync("execute_code", new() { ["session_id"] = id, ["code"] = "1" }));
    }

    [Fact]
    public async Task Progress_notifications_arrive_while_code_runs()
    {
        await using var client = await server.CreateMcpClientAsync();
        var id = (await client.CallOkAsync("create_session", new())).GetProperty("session_id").GetString()!;
        var seen = new List<(TimeSpan At, float Progress, string? Message)>();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var progress = new SyncProgress(v => { lock (seen) { seen.Add((sw.Elapsed, v.Progress, v.Message)); } });
        var result = await client.CallToolAsync("execute_code", new Dictionary<string, object?>
        {
            ["session_id"] = id, ["code"] = "import time\nfor i in range(3):\n    print('tick', i, flush=True)\n    time.sleep(1)",
        }, progress);
        var total = sw.Elapsed;
        Assert.True(result.IsError is not true);
        lock (seen)
        {
            Assert.True(seen.Count >= 3, $"only {seen.Count} progress notifications");
            // Progress values order the chunks (the transport may deliver notifications out of order).
            var text = string.Concat(seen.OrderBy(s => s.Progress).Select(s => s.Message?.Replace("[stdout] ", "", StringComparison.Ordinal)));
            Assert.Equal("tick 0\ntick 1\ntick 2\n", text);
            // The first one arrived well before the call returned: it streamed.
            Assert.True(seen.Min(s => s.At) < total - TimeSpan.FromSeconds(1.5), $"first at {seen.Min(s => s.At)}, total {total}");
        }
    }

    [Fact]
    public async Task Cancelling_a_tool_call_stops_the_code()
    {
        await using var client = await server.CreateMcpClientAsync();
        var id = (await client.CallOkAsync("create_session", new())).GetProperty("session_id").GetString()!;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.CallToolAsync("execute_code", new Dictionary<string, object?>
        {
            ["session_id"] = id, ["code"] = "import time\ntime.sleep(3)\nopen('after.txt', 'w').write('should not exist')",
        }, cancellationToken: cts.Token).AsTask());
        await Task.Delay(TimeSpan.FromSeconds(3));
        var files = await client.CallOkAsync("list_files", new() { ["session_id"] = id });
        Assert.DoesNotContain(files.GetProperty("files").EnumerateArray(), f => f.GetProperty("name").GetString() == "after.txt");
        var r = await client.CallOkAsync("execute_code", new() { ["session_id"] = id, ["code"] = "print('usable')" });
        Assert.Equal("usable\n", r.GetProperty("stdout").GetString());
    }

    [Fact]
    public async Task Tool_errors_carry_stable_codes_and_guidance()
    {
        await using var client = await server.CreateMcpClientAsync();
        Assert.Equal("session_not_found", await client.CallErrorCodeAsync("execute_code", new() { ["session_id"] = "nope", ["code"] = "1" }));
        var id = (await client.CallOkAsync("create_session", new())).GetProperty("session_id").GetString()!;
        var unsafeResult = await client.CallToolAsync("execute_code", new Dictionary<string, object?> { ["session_id"] = id, ["code"] = "import subprocess\nsubprocess.run(['ls'])" });
        Assert.True(unsafeResult.IsError);
        Assert.Contains("allow", McpExtensions.Text(unsafeResult));
        var error = McpExtensions.Structured(unsafeResult).GetProperty("error");
        Assert.Equal("unsafe_code", error.GetProperty("code").GetString());
        Assert.Equal("PY001", error.GetProperty("details")[0].GetProperty("rule_id").GetString());
        var allowed = await client.CallOkAsync("execute_code", new()
        {
            ["session_id"] = id, ["code"] = "import subprocess\nprint(subprocess.run(['echo', 'ok'], capture_output=True, text=True).stdout, end='')", ["allow"] = new[] { "subprocess.*" },
        });
        Assert.Equal("ok\n", allowed.GetProperty("stdout").GetString());
        Assert.Equal("invalid_argument", await client.CallErrorCodeAsync("upload_file", new() { ["session_id"] = id, ["path"] = "x", ["content_base64"] = "%%%" }));
        Assert.Equal("invalid_path", await client.CallErrorCodeAsync("upload_file", new() { ["session_id"] = id, ["path"] = "../x", ["content_base64"] = "AA==" }));
        Assert.Equal("limit_exceeded", await client.CallErrorCodeAsync("create_session", new() { ["memory_mb"] = 10_000_000 }));
    }

    private sealed class SyncProgress(Action<ProgressNotificationValue> report) : IProgress<ProgressNotificationValue>
    {
        public void Report(ProgressNotificationValue value) => report(value);
    }
}
