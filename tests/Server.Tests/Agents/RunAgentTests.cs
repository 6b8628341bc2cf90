using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using Sandbox.Client.Contracts;
using Sandbox.Server.Tests.Common;
using Sandbox.Testing;

namespace Sandbox.Server.Tests.Agents;

/// <summary>run_agent through both faces with the real Claude Code CLI in a real session; only the model is scripted.</summary>
public sealed class RunAgentTests(AgentServerFixture server) : IClassFixture<AgentServerFixture>
{
    [Fact]
    public async Task Mcp_run_agent_writes_and_runs_hello_py_with_progress_diff_and_trajectory()
    {
        await using var client = await server.CreateMcpClientAsync();
        var id = (await client.CallOkAsync("create_session", new() { ["image"] = "agent" })).GetProperty("session_id").GetString()!;
        var progress = new List<ProgressNotificationValue>();
        var result = await client.CallToolAsync("run_agent", new Dictionary<string, object?>
        {
            ["session_id"] = id, ["prompt"] = "Write hello.py that prints a greeting, then run it.", ["timeout_seconds"] = 180,
        }, new SyncProgress(v => { lock (progress) { progress.Add(v); } }));
        var text = string.Join("\n", result.Content.OfType<TextContentBlock>().Select(t => t.Text));
        Assert.True(result.IsError is not true, text);
        var run = McpExtensions.Structured(result).GetProperty("run").Deserialize<AgentRunDto>(SandboxJson.Options)!;
        Assert.Equal("succeeded", run.Status);
        Assert.Contains(run.Changes, c => c.Path == "hello.py" && c.Change == "added");
        Assert.Contains("+print('hello from the agent')", run.Diff);
        Assert.Contains("added hello.py", text);
        Assert.Equal("Done: hello.py prints a greeting.", run.FinalMessage);
        Assert.Null(run.Trajectory); // kept out of the model's context unless asked for
        lock (progress)
        {
            Assert.Contains(progress, p => p.Message?.Contains("Write /workspace/hello.py", StringComparison.Ordinal) == true);
            Assert.Contains(progress, p => p.Message?.Contains("Bash python3 hello.py", StringComparison.Ordinal) == true);
        }

        // What the agent wrote is in the workspace for download_file.
        var file = await client.CallToolAsync("download_file", new Dictionary<string, object?> { ["session_id"] = id, ["path"] = "hello.py" });
        Assert.Equal("print('hello from the agent')\n", Assert.IsType<TextContentBlock>(file.Content[0]).Text);

        // The stored trajectory has every stream-json event, the Write and Bash tool calls among them.
        var full = (await client.CallOkAsync("get_agent_run", new() { ["session_id"] = id, ["run_id"] = run.Id, ["include_trajectory"] = true }))
            .GetProperty("run").Deserialize<AgentRunDto>(SandboxJson.Options)!;
        var toolCalls = full.Trajectory!.Where(e => e.GetProperty("type").GetString() == "assistant")
            .SelectMany(e => e.GetProperty("message").GetProperty("content").EnumerateArray())
            .Where(b => b.GetProperty("type").GetString() == "tool_use").Select(b => b.GetProperty("name").GetString()).ToList();
        Assert.Equal(["Write", "Bash"], toolCalls);
        var listed = await client.CallOkAsync("list_agent_runs", new() { ["session_id"] = id });
        Assert.Equal(run.Id, listed.GetProperty("runs")[0].GetProperty("id").GetString());
        await client.CallOkAsync("close_session", new() { ["session_id"] = id });
    }

    [Fact]
    public async Task Rest_run_can_be_polled_and_the_key_is_nowhere_but_at_the_model_endpoint()
    {
        using var http = server.CreateHttpClient();
        var session = await (await http.PostAsJsonAsync("/api/sessions", new { image = "agent" })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options);
        var before = server.Model.Requests.Count;
        var start = await http.PostAsJsonAsync($"/api/sessions/{session!.Id}/agent-runs", new { prompt = "Write hello.py and run it.", timeout_seconds = 180 });
        Assert.Equal(HttpStatusCode.Accepted, start.StatusCode);
        var running = (await start.Content.ReadFromJsonAsync<AgentRunDto>(SandboxJson.Options))!;
        Assert.Equal("running", running.Status);
        Assert.Equal($"/api/sessions/{session.Id}/agent-runs/{running.Id}", start.Headers.Location?.OriginalString);

        // While it runs the session is busy: execute_code is refused rather than queued.
        var busy = await http.PostAsJsonAsync($"/api/sessions/{session.Id}/execute", new { code = "print(1)" });
        Assert.Equal(HttpStatusCode.Conflict, busy.StatusCode);

        AgentRunDto run;
        var deadline = DateTime.UtcNow.AddMinutes(3);
        do
        {
            await Task.Delay(500);
            run = (await http.GetFromJsonAsync<AgentRunDto>(start.Headers.Location, SandboxJson.Options))!;
        }
        while (run.Status == "running" && DateTime.UtcNow < deadline);
        Assert.True(run.Status == "succeeded", $"{run.Status}: {run.Error} {run.Stderr}");
        Assert.NotEmpty(run.Trajectory!);

        // The proxy added the real key to every model request.
        var requests = server.Model.Requests.Skip(before).Where(r => r.Path.StartsWith("/v1/messages", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(requests);
        Assert.All(requests, r => Assert.Equal(AgentServerFixture.ApiKey, r.Headers["x-api-key"]));
        // ...and it is nowhere else: not in the stored run (whose trajectory includes the agent's `env` output), not in
        // the sandbox's environment or files, not in any log line.
        var stored = await http.GetStringAsync(start.Headers.Location);
        Assert.Contains("hello from the agent", stored);
        Assert.Contains("ANTHROPIC_BASE_URL=http://model-proxy:8080", stored);
        Assert.DoesNotContain(AgentServerFixture.ApiKey, stored);
        var env = await http.PostAsJsonAsync($"/api/sessions/{session.Id}/execute", new { code = "import os\nprint(os.environ)" });
        var envText = await env.Content.ReadAsStringAsync();
        Assert.Contains("HOME", envText);
        Assert.DoesNotContain(AgentServerFixture.ApiKey, envText);
        var scan = await http.PostAsJsonAsync($"/api/sessions/{session.Id}/execute", new
        {
            // Where a sandbox can write (its root is read-only), and every process's environment and command line;
            // the key is put together at run time and reaches grep through a pipe, so the scan cannot find itself.
            language = "bash", timeout_seconds = 120,
            code = "k=sk-ant-server; k=\"$k-key-7d2e9b41c6a0\"; cat /proc/*/environ /proc/*/cmdline 2>/dev/null | tr '\\0' '\\n' | grep -cF -f <(printf '%s\\n' \"$k\"); " +
                "grep -rlsF -f <(printf '%s\\n' \"$k\") /workspace /tmp /dev/shm /run /var/tmp; echo scanned",
        });
        var scanText = await scan.Content.ReadAsStringAsync();
        Assert.Contains("\"stdout\":\"0\\nscanned\\n\"", scanText);
        Assert.DoesNotContain(AgentServerFixture.ApiKey, scanText);
        Assert.True(server.Logs.Count > 0);
        Assert.Contains(running.Id, server.Logs.All);
        Assert.DoesNotContain(AgentServerFixture.ApiKey, server.Logs.All);

        var list = await http.GetFromJsonAsync<List<AgentRunDto>>($"/api/sessions/{session.Id}/agent-runs", SandboxJson.Options);
        Assert.Contains(list!, r => r.Id == running.Id && r.Trajectory is null);
        var history = await http.GetStringAsync($"/api/sessions/{session.Id}/history");
        Assert.Contains("agent_run", history);
        (await http.DeleteAsync($"/api/sessions/{session.Id}")).EnsureSuccessStatusCode();
        // The run outlives its session in the store.
        var after = await http.GetAsync(start.Headers.Location);
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
    }

    [Fact]
    public async Task Rest_stream_carries_steps_then_the_result_and_unknown_runs_are_404()
    {
        using var http = server.CreateHttpClient();
        var session = await (await http.PostAsJsonAsync("/api/sessions", new { image = "agent" })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options);
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/sessions/{session!.Id}/agent-runs")
        {
            Content = JsonContent.Create(new { prompt = "Write hello.py and run it.", timeout_seconds = 180 }),
        };
        request.Headers.Accept.ParseAdd("application/x-ndjson");
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("application/x-ndjson", response.Content.Headers.ContentType?.MediaType);
        var events = new List<AgentRunStreamEvent>();
        using (var reader = new StreamReader(await response.Content.ReadAsStreamAsync()))
        {
            while (await reader.ReadLineAsync() is { } line)
            {
                events.Add(JsonSerializer.Deserialize<AgentRunStreamEvent>(line, SandboxJson.Options)!);
            }
        }
        Assert.Equal("started", events[0].Type);
        Assert.Contains(events, e => e.Type == "step" && e.Step!.Tool == "Write");
        Assert.Equal("result", events[^1].Type);
        Assert.Equal("succeeded", events[^1].Run!.Status);
        var missing = await http.GetAsync($"/api/sessions/{session.Id}/agent-runs/run_nope");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Contains("run_not_found", await missing.Content.ReadAsStringAsync());
        (await http.DeleteAsync($"/api/sessions/{session.Id}")).EnsureSuccessStatusCode();
    }

    private sealed class SyncProgress(Action<ProgressNotificationValue> report) : IProgress<ProgressNotificationValue>
    {
        public void Report(ProgressNotificationValue value) => report(value);
    }
}
