using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using ModelContextProtocol.Protocol;
using Sandbox.Client.Contracts;
using Sandbox.Server.Tests.Common;
using Sandbox.Testing;

namespace Sandbox.Server.Tests.Api;

/// <summary>REST and MCP are two faces of one engine: sessions cross faces and errors carry the same codes.</summary>
[Collection(ServerCollection.Name)]
public sealed class CrossFaceTests(ServerFixture server)
{
    [Fact]
    public async Task Create_via_mcp_execute_via_rest_download_via_mcp_close_via_rest()
    {
        await using var mcp = await server.CreateMcpClientAsync();
        using var http = server.CreateHttpClient();
        var id = (await mcp.CallOkAsync("create_session", new())).GetProperty("session_id").GetString()!;

        var response = await http.PostAsJsonAsync($"/api/sessions/{id}/execute",
            new { code = "open('from_rest.txt', 'w').write('written via REST')\nprint('ok')" });
        response.EnsureSuccessStatusCode();
        var result = await response.Content.ReadFromJsonAsync<ExecutionResultDto>(SandboxJson.Options);
        Assert.Equal("ok\n", result!.Stdout);
        // Where the time went, for diagnostics: the check, the run, and the engine's whole share.
        var timing = string.Join(",", response.Headers.GetValues("Server-Timing"));
        Assert.Matches(@"^check;dur=[0-9.]+, run;dur=[0-9.]+, engine;dur=[0-9.]+$", timing);

        var file = await mcp.CallToolAsync("download_file", new Dictionary<string, object?> { ["session_id"] = id, ["path"] = "from_rest.txt" });
        Assert.Equal("written via REST", Assert.IsType<TextContentBlock>(Assert.Single(file.Content)).Text);

        var sessions = await http.GetFromJsonAsync<List<SessionDto>>("/api/sessions", SandboxJson.Options);
        Assert.Contains(sessions!, s => s.Id == id);

        Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync($"/api/sessions/{id}")).StatusCode);
        Assert.Equal("session_not_found", await mcp.CallErrorCodeAsync("get_session_info", new() { ["session_id"] = id }));
    }

    [Fact]
    public async Task Same_bad_input_gives_same_code_on_both_faces()
    {
        await using var mcp = await server.CreateMcpClientAsync();
        using var http = server.CreateHttpClient();
        var id = (await mcp.CallOkAsync("create_session", new())).GetProperty("session_id").GetString()!;

        async Task<(int Status, string Code)> Rest(HttpResponseMessage r)
        {
            using var doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
            return ((int)r.StatusCode, doc.RootElement.GetProperty("code").GetString()!);
        }

        var cases = new (Func<Task<HttpResponseMessage>> Call, string Tool, Dictionary<string, object?> Args, int Status, string Code)[]
        {
            (() => http.PostAsJsonAsync("/api/sessions/does-not-exist/execute", new { code = "1" }), "execute_code",
                new() { ["session_id"] = "does-not-exist", ["code"] = "1" }, 404, "session_not_found"),
            (() => http.PutAsync($"/api/sessions/{id}/files/bad%0Aname.txt", new ByteArrayContent([1])), "upload_file",
                new() { ["session_id"] = id, ["path"] = "bad\nname.txt", ["content_base64"] = "AQ==" }, 400, "invalid_path"),
            (() => http.PostAsJsonAsync($"/api/sessions/{id}/execute", new { code = "import os\nos.system('id')" }), "execute_code",
                new() { ["session_id"] = id, ["code"] = "import os\nos.system('id')" }, 422, "unsafe_code"),
            (() => http.PostAsJsonAsync($"/api/sessions/{id}/execute", new { code = "1", language = "cobol" }), "execute_code",
                new() { ["session_id"] = id, ["code"] = "1", ["language"] = "cobol" }, 400, "invalid_argument"),
            (() => http.PostAsJsonAsync("/api/sessions", new { limits = new { memory_mb = 9_999_999 } }), "create_session",
                new() { ["memory_mb"] = 9_999_999 }, 400, "limit_exceeded"),
            (() => http.GetAsync($"/api/sessions/{id}/files/missing.txt"), "download_file",
                new() { ["session_id"] = id, ["path"] = "missing.txt" }, 404, "file_not_found"),
            (() => http.PostAsJsonAsync("/api/sessions", new { image = "nope" }), "create_session",
                new() { ["image"] = "nope" }, 400, "image_not_found"),
        };
        foreach (var c in cases)
        {
            var (status, code) = await Rest(await c.Call());
            Assert.Equal((c.Status, c.Code), (status, code));
            Assert.Equal(c.Code, await mcp.CallErrorCodeAsync(c.Tool, c.Args));
        }
    }

    [Fact]
    public async Task Rest_file_endpoints_use_raw_bytes_and_directories_come_as_tar()
    {
        using var http = server.CreateHttpClient();
        var created = await (await http.PostAsJsonAsync("/api/sessions", new { })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options);
        var id = created!.Id;
        var bytes = Enumerable.Range(0, 1000).Select(i => (byte)(i % 251)).ToArray();
        (await http.PutAsync($"/api/sessions/{id}/files/d/raw.bin", new ByteArrayContent(bytes))).EnsureSuccessStatusCode();
        Assert.Equal(bytes, await http.GetByteArrayAsync($"/api/sessions/{id}/files/d/raw.bin"));
        var list = await http.GetFromJsonAsync<List<FileEntryDto>>($"/api/sessions/{id}/files?dir=d", SandboxJson.Options);
        Assert.Equal("raw.bin", Assert.Single(list!).Name);
        var tar = await http.GetAsync($"/api/sessions/{id}/files/d");
        Assert.Equal("application/x-tar", tar.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync($"/api/sessions/{id}/files/d/raw.bin")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/api/sessions/{id}/files/d/raw.bin")).StatusCode);
    }

    [Fact]
    public async Task Rest_execute_streams_ndjson_and_sse()
    {
        using var http = server.CreateHttpClient();
        var id = (await (await http.PostAsJsonAsync("/api/sessions", new { })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!.Id;
        foreach (var accept in new[] { "application/x-ndjson", "text/event-stream" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/sessions/{id}/execute")
            {
                // Long enough apart that a busy machine (tests run in parallel on 2 cores) cannot blur live and at-once.
                Content = JsonContent.Create(new { code = "import time\nprint('a', flush=True)\ntime.sleep(3)\nprint('b')" }),
            };
            request.Headers.Accept.ParseAdd(accept);
            var sw = System.Diagnostics.Stopwatch.StartNew();
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            response.EnsureSuccessStatusCode();
            Assert.Equal(accept, response.Content.Headers.ContentType?.MediaType);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            var firstOutputAt = TimeSpan.Zero;
            var events = new List<ExecutionStreamEvent>();
            while (await reader.ReadLineAsync() is { } line)
            {
                var json = accept == "text/event-stream" ? (line.StartsWith("data: ", StringComparison.Ordinal) ? line[6..] : null) : line;
                if (string.IsNullOrEmpty(json))
                {
                    continue;
                }
                var e = JsonSerializer.Deserialize<ExecutionStreamEvent>(json, SandboxJson.Options)!;
                if (e.Type == "output" && firstOutputAt == TimeSpan.Zero)
                {
                    firstOutputAt = sw.Elapsed;
                }
                events.Add(e);
            }
            var total = sw.Elapsed;
            Assert.Equal("result", events[^1].Type);
            Assert.Equal("a\nb\n", events[^1].Result!.Stdout);
            Assert.True(firstOutputAt < total - TimeSpan.FromMilliseconds(1500), $"{accept}: first output at {firstOutputAt}, end {total}");
        }
    }

    [Fact]
    public async Task Health_and_packages_and_openapi_are_served()
    {
        using var http = server.CreateHttpClient();
        var health = await http.GetFromJsonAsync<HealthDto>("/healthz", SandboxJson.Options);
        Assert.Equal("ok", health!.Status);
        Assert.True(health.Engine.Reachable);
        Assert.Contains(health.Images, i => i.Name == "python" && i.Present);
        var packages = await http.GetStringAsync("/api/packages?image=python");
        Assert.Contains("\"numpy\"", packages);
        Assert.Contains("\"pandas\"", packages);
        var openapi = await http.GetStringAsync("/openapi/v1.json");
        Assert.Contains("/api/sessions/{id}/execute", openapi);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/docs/index.html")).StatusCode);
    }
}
