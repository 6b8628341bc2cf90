using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Sandbox.Client.Contracts;
using Sandbox.Server.Tests.Common;
using Sandbox.Testing;

namespace Sandbox.Server.Tests.Mcp;

/// <summary>Long work over MCP and REST: handles that outlive a client's own time limit, output within a budget,
/// a dropped event stream that resumes without gaps or duplicates.</summary>
[Collection(ServerCollection.Name)]
public sealed class McpLongWorkTests(ServerFixture server)
{
    [Fact]
    public async Task A_40_second_computation_outlives_a_client_that_gives_up_after_10_seconds()
    {
        await using var client = await server.CreateMcpClientAsync(requestTimeout: TimeSpan.FromSeconds(10));
        var created = await client.CallOkAsync("create_session", new() { ["ttl_seconds"] = 600 });
        var id = created.GetProperty("session_id").GetString()!;
        var started = await client.CallOkAsync("execute_code", new()
        {
            ["session_id"] = id, ["timeout_seconds"] = 120, ["wait_seconds"] = 5,
            ["code"] = "import time\nfor i in range(40):\n    print('step', i, flush=True)\n    time.sleep(1)\nanswer = 42\nprint('done')",
        });
        Assert.Equal("running", started.GetProperty("status").GetString());
        var executionId = started.GetProperty("execution_id").GetString()!;
        var output = new StringBuilder(started.GetProperty("stdout").GetString());
        var cursor = started.GetProperty("cursor").GetInt32();
        JsonElement next;
        do
        {
            next = await client.CallOkAsync("get_execution", new() { ["session_id"] = id, ["execution_id"] = executionId, ["cursor"] = cursor, ["wait_seconds"] = 5 });
            output.Append(next.GetProperty("stdout").GetString());
            cursor = next.GetProperty("cursor").GetInt32();
        }
        while (next.GetProperty("status").GetString() == "running");
        Assert.Equal("finished", next.GetProperty("status").GetString());
        Assert.Equal(string.Concat(Enumerable.Range(0, 40).Select(i => $"step {i}\n")) + "done\n", output.ToString());
        var whole = await client.CallOkAsync("get_execution", new() { ["session_id"] = id, ["execution_id"] = executionId, ["wait_seconds"] = 0 });
        Assert.Equal(output.ToString(), whole.GetProperty("stdout").GetString());
        var state = await client.CallOkAsync("execute_code", new() { ["session_id"] = id, ["code"] = "print(answer)" });
        Assert.Equal("42\n", state.GetProperty("stdout").GetString());
        var list = await client.CallOkAsync("list_executions", new() { ["session_id"] = id });
        Assert.Equal(2, list.GetProperty("executions").GetArrayLength());
        await client.CallOkAsync("close_session", new() { ["session_id"] = id });
    }

    [Fact]
    public async Task Five_megabytes_reach_a_model_as_the_budget_and_the_rest_is_read_by_slice_and_pattern()
    {
        await using var client = await server.CreateMcpClientAsync();
        var id = (await client.CallOkAsync("create_session", new())).GetProperty("session_id").GetString()!;
        var result = await client.CallToolAsync("execute_code", new Dictionary<string, object?>
        {
            ["session_id"] = id, ["language"] = "bash", ["code"] = "for i in $(seq -w 1 50000); do printf '%s %093d\\n' $i 0; done", ["timeout_seconds"] = 120,
        });
        var structured = McpExtensions.Structured(result);
        var text = McpExtensions.Text(result);
        Assert.True(text.Length < 20_000, $"{text.Length} characters reached the model");
        Assert.Contains("stdout left out here (5000000 bytes in all", text, StringComparison.Ordinal);
        Assert.StartsWith("00001 ", structured.GetProperty("stdout").GetString(), StringComparison.Ordinal);
        Assert.EndsWith("50000 " + new string('0', 93) + "\n", structured.GetProperty("stdout").GetString(), StringComparison.Ordinal);
        var executionId = structured.GetProperty("execution_id").GetString()!;
        var slice = await client.CallOkAsync("read_output", new() { ["session_id"] = id, ["execution_id"] = executionId, ["offset"] = 2_500_000, ["length"] = 200 });
        Assert.Equal("25001 " + new string('0', 93) + "\n" + "25002 " + new string('0', 93) + "\n", slice.GetProperty("text").GetString());
        var found = await client.CallOkAsync("grep_output", new() { ["session_id"] = id, ["execution_id"] = executionId, ["pattern"] = "^4242[0-1] " });
        Assert.Equal(2, found.GetProperty("matches").GetArrayLength());
        Assert.Equal(42420, found.GetProperty("matches")[0].GetProperty("line").GetInt32());
        await client.CallOkAsync("close_session", new() { ["session_id"] = id });
    }

    [Fact]
    public async Task A_dropped_event_stream_resumes_from_its_last_event_without_gaps_or_duplicates()
    {
        using var http = server.CreateHttpClient();
        var session = (await (await http.PostAsJsonAsync("/api/sessions", new { })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!;
        var start = await http.PostAsJsonAsync($"/api/sessions/{session.Id}/execute", new
        {
            language = "bash", code = "for i in $(seq 1 40); do echo line$i; sleep 0.1; done", wait_seconds = 0.2,
        });
        var handle = (await start.Content.ReadFromJsonAsync<ExecutionResultDto>(SandboxJson.Options))!;
        Assert.Equal("running", handle.Status);
        var url = $"/api/sessions/{session.Id}/executions/{handle.ExecutionId}";
        var text = new StringBuilder();
        string? lastId = null;
        // First connection: read a few events, then drop it.
        using (var request = new HttpRequestMessage(HttpMethod.Get, url))
        {
            request.Headers.Accept.ParseAdd("text/event-stream");
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            var events = 0;
            await foreach (var (id, type, data) in Sse(reader))
            {
                Assert.Equal("output", type);
                text.Append(JsonDocument.Parse(data).RootElement.GetProperty("text").GetString());
                lastId = id;
                if (++events == 5)
                {
                    break;
                }
            }
        }
        Assert.NotNull(lastId);
        // Second connection: from the last event seen, to the end.
        using (var request = new HttpRequestMessage(HttpMethod.Get, url))
        {
            request.Headers.Accept.ParseAdd("text/event-stream");
            request.Headers.Add("Last-Event-ID", lastId);
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            var ended = false;
            await foreach (var (_, type, data) in Sse(reader))
            {
                if (type == "result")
                {
                    Assert.Equal("finished", JsonDocument.Parse(data).RootElement.GetProperty("result").GetProperty("status").GetString());
                    ended = true;
                    break;
                }
                text.Append(JsonDocument.Parse(data).RootElement.GetProperty("text").GetString());
            }
            Assert.True(ended);
        }
        Assert.Equal(string.Concat(Enumerable.Range(1, 40).Select(i => $"line{i}\n")), text.ToString());
        (await http.DeleteAsync($"/api/sessions/{session.Id}")).EnsureSuccessStatusCode();
    }

    private static async IAsyncEnumerable<(string? Id, string Type, string Data)> Sse(StreamReader reader)
    {
        string? id = null, type = null, data = null;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.Length == 0)
            {
                if (type is not null && data is not null)
                {
                    yield return (id, type, data);
                }
                id = type = data = null;
            }
            else if (line.StartsWith("id: ", StringComparison.Ordinal))
            {
                id = line[4..];
            }
            else if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                type = line[7..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data = line[6..];
            }
        }
    }
}
