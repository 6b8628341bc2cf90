using Sandbox.Backend;
using System.Formats.Tar;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using Docker.DotNet.Models;
using Microsoft.Extensions.DependencyInjection;
using Sandbox.Client.Contracts;
using Sandbox.Docker;
using Sandbox.Server.Tests.Common;
using Sandbox.Sessions;
using Sandbox.Testing;

namespace Sandbox.Server.Tests.RedTeam;

/// <summary>Hostile requests: malformed, oversized, guessed, concurrent, abandoned. Nothing outside the request changes.</summary>
public abstract class HostileRequestTests(RedTeamFixture server)
{
    private async Task<string> NewSession(HttpClient http) =>
        (await (await http.PostAsJsonAsync("/api/sessions", new { })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!.Id;

    public static TheoryData<string> BadPaths() =>
    [
        "../escape.txt", "/etc/cron.d/x", "a/../../x", "nul\0byte", "ctl\u001Bchar", "tab\tname", "bidi\u202Egnp.exe",
        "zero\u200Bwidth", "e\u0301", new string('a', 300), string.Join('/', Enumerable.Repeat("d", 600)), "back\\slash", "",
    ];

    [Theory]
    [MemberData(nameof(BadPaths))]
    public async Task Upload_with_a_hostile_name_writes_nothing(string path)
    {
        await using var mcp = await server.CreateMcpClientAsync();
        var id = (await mcp.CallOkAsync("create_session", new())).GetProperty("session_id").GetString()!;
        Assert.Equal("invalid_path", await mcp.CallErrorCodeAsync("upload_file", new() { ["session_id"] = id, ["path"] = path, ["content_base64"] = "aGk=" }));
        var files = await mcp.CallOkAsync("list_files", new() { ["session_id"] = id });
        Assert.Equal(0, files.GetProperty("files").GetArrayLength());
        await mcp.CallOkAsync("close_session", new() { ["session_id"] = id });
        await server.AssertUnaffectedAsync();
    }

    [Fact]
    public async Task Tar_with_traversal_entries_is_stored_as_an_opaque_file()
    {
        // Uploads are never extracted: the server wraps the bytes in its own one-entry archive under a validated name.
        var tar = new MemoryStream();
        await using (var w = new TarWriter(tar, leaveOpen: true))
        {
            await w.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, "../../etc/evil") { DataStream = new MemoryStream("x"u8.ToArray()) });
        }
        using var http = server.CreateHttpClient();
        var id = await NewSession(http);
        (await http.PutAsync($"/api/sessions/{id}/files/evil.tar", new ByteArrayContent(tar.ToArray()))).EnsureSuccessStatusCode();
        var r = await (await http.PostAsJsonAsync($"/api/sessions/{id}/execute", new { code = "import os\nprint(sorted(os.listdir('.')), os.path.exists('/etc/evil'))" })).Content.ReadFromJsonAsync<ExecutionResultDto>(SandboxJson.Options);
        Assert.Equal("['evil.tar'] False\n", r!.Stdout);
        await server.AssertUnaffectedAsync();
    }

    [Fact]
    public async Task Oversized_upload_invalid_base64_and_bad_json_are_refused()
    {
        using var http = server.CreateHttpClient();
        var id = await NewSession(http);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await http.SendExpectingContinueAsync(HttpMethod.Put, $"/api/sessions/{id}/files/big", new ByteArrayContent(new byte[2_500_000]))).StatusCode);
        await using var mcp = await server.CreateMcpClientAsync();
        Assert.Equal("invalid_argument", await mcp.CallErrorCodeAsync("upload_file", new() { ["session_id"] = id, ["path"] = "x", ["content_base64"] = "not base64!!" }));
        foreach (var body in new[] { "{", "[]", "{\"code\": 5}", "null", "{\"code\":\"1\",\"timeout_seconds\":-3}" })
        {
            var r = await http.PostAsync($"/api/sessions/{id}/execute", new StringContent(body, Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        }
        var huge = await http.SendExpectingContinueAsync(HttpMethod.Post, $"/api/sessions/{id}/execute", new StringContent("{\"code\":\"" + new string('1', 2_500_000) + "\"}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, huge.StatusCode);
        var deep = await http.PostAsync("/api/sessions", new StringContent(new string('[', 5000) + new string(']', 5000), Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, deep.StatusCode);
        Assert.Empty(await http.GetFromJsonAsync<List<FileEntryDto>>($"/api/sessions/{id}/files", SandboxJson.Options) ?? []);
        await server.AssertUnaffectedAsync();
    }

    [Fact]
    public async Task What_user_code_does_to_its_workspace_is_a_clear_4xx_or_507_never_a_500()
    {
        using var http = server.CreateHttpClient();
        var created = await http.PostAsJsonAsync("/api/sessions", new { limits = new { workspace_mb = 8 } });
        var id = (await created.Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!.Id;
        var fill = await http.PostAsJsonAsync($"/api/sessions/{id}/execute", new
        {
            code = "open('a.txt', 'w').write('a file')\ntry:\n    with open('fill', 'wb') as f:\n        while True: f.write(b'x' * (1 << 20))\nexcept OSError as e: print(e.strerror)",
        });
        Assert.Contains("No space left", await fill.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var full = await http.PutAsync($"/api/sessions/{id}/files/more.bin", new ByteArrayContent(new byte[1 << 20]));
        Assert.Equal(HttpStatusCode.InsufficientStorage, full.StatusCode);
        Assert.Equal("workspace_full", await ProblemCode(full));

        var belowAFile = await http.PutAsync($"/api/sessions/{id}/files/a.txt/b.txt", new ByteArrayContent([1]));
        Assert.Equal(HttpStatusCode.BadRequest, belowAFile.StatusCode);
        Assert.Equal("invalid_path", await ProblemCode(belowAFile));
        var readBelowAFile = await http.GetAsync($"/api/sessions/{id}/files/a.txt/b.txt");
        Assert.Equal(HttpStatusCode.BadRequest, readBelowAFile.StatusCode);

        // Freed space can be used again, and the session still works.
        (await http.DeleteAsync($"/api/sessions/{id}/files/fill")).EnsureSuccessStatusCode();
        (await http.PutAsync($"/api/sessions/{id}/files/more.bin", new ByteArrayContent(new byte[1 << 20]))).EnsureSuccessStatusCode();
        (await http.DeleteAsync($"/api/sessions/{id}")).EnsureSuccessStatusCode();
        await server.AssertUnaffectedAsync();
    }

    private static async Task<string?> ProblemCode(HttpResponseMessage response)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return doc.RootElement.TryGetProperty("code", out var code) ? code.GetString() : null;
    }

    [Fact]
    public async Task Guessed_session_ids_find_nothing()
    {
        using var http = server.CreateHttpClient();
        foreach (var guess in new[] { "AAAAAAAAAAAAAAAAAAAAAA", server.CanaryId[..^1] + (server.CanaryId[^1] == 'A' ? 'B' : 'A'), "../" + server.CanaryId, "%00", "1" })
        {
            var r = await http.PostAsJsonAsync($"/api/sessions/{Uri.EscapeDataString(guess)}/execute", new { code = "print(1)" });
            Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
        }
        await server.AssertUnaffectedAsync();
    }

    [Fact]
    public async Task Two_hundred_concurrent_creates_respect_the_cap_and_leak_nothing()
    {
        using var http = server.CreateHttpClient();
        var engine = server.App.Services.GetRequiredService<SandboxEngine>();
        var before = engine.Sessions.Count;
        var responses = await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => http.PostAsJsonAsync("/api/sessions", new { })));
        var created = new List<string>();
        foreach (var r in responses)
        {
            if (r.StatusCode == HttpStatusCode.Created)
            {
                created.Add((await r.Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!.Id);
            }
            else
            {
                Assert.Equal(HttpStatusCode.TooManyRequests, r.StatusCode);
                Assert.Contains("capacity_exceeded", await r.Content.ReadAsStringAsync());
            }
        }
        Assert.Equal(20 - before, created.Count);
        Assert.Equal(20, engine.Sessions.Count);
        foreach (var id in created)
        {
            (await http.DeleteAsync($"/api/sessions/{id}")).EnsureSuccessStatusCode();
        }
        var containers = await engine.DockerClient().Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{SandboxLabels.Instance}={server.InstanceId}"] = true } },
        });
        Assert.Equal(engine.Sessions.Count, containers.Count);
        await server.AssertUnaffectedAsync();
    }

    [Fact]
    public async Task Client_disconnecting_mid_execution_stops_the_code()
    {
        using var http = server.CreateHttpClient();
        var id = await NewSession(http);
        using (var impatient = server.CreateHttpClient())
        {
            impatient.Timeout = TimeSpan.FromSeconds(1);
            await Assert.ThrowsAnyAsync<TaskCanceledException>(() => impatient.PostAsJsonAsync($"/api/sessions/{id}/execute",
                new { code = "import time\ntime.sleep(3)\nopen('late.txt', 'w').write('x')" }));
        }
        await Task.Delay(TimeSpan.FromSeconds(3.5));
        Assert.DoesNotContain(await http.GetFromJsonAsync<List<FileEntryDto>>($"/api/sessions/{id}/files", SandboxJson.Options) ?? [], f => f.Name == "late.txt");
        var r = await (await http.PostAsJsonAsync($"/api/sessions/{id}/execute", new { code = "print('ok')" })).Content.ReadFromJsonAsync<ExecutionResultDto>(SandboxJson.Options);
        Assert.Equal("ok\n", r!.Stdout);
        await server.AssertUnaffectedAsync();
    }

    [Fact]
    public async Task Close_during_execution_ends_it_and_removes_the_container()
    {
        using var http = server.CreateHttpClient();
        var id = await NewSession(http);
        var running = http.PostAsJsonAsync($"/api/sessions/{id}/execute", new { code = "import time\ntime.sleep(30)" });
        await Task.Delay(500);
        Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync($"/api/sessions/{id}")).StatusCode);
        var r = await running;
        Assert.False(r.IsSuccessStatusCode);
        Assert.Contains((int)r.StatusCode, new[] { 404, 410 });
        var engine = server.App.Services.GetRequiredService<SandboxEngine>();
        await Assert.ThrowsAsync<global::Docker.DotNet.DockerContainerNotFoundException>(() => engine.DockerClient().Containers.InspectContainerAsync(DockerBackend.ContainerName(id)));
        await server.AssertUnaffectedAsync();
    }
}

[Collection(GvisorRedTeamCollection.Name)]
public sealed class HostileRequestTestsOnGvisor(GvisorRedTeamFixture server) : HostileRequestTests(server);

[Collection(ContainerRedTeamCollection.Name)]
public sealed class HostileRequestTestsInContainer(ContainerRedTeamFixture server) : HostileRequestTests(server);
