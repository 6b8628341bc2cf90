using System.Net;
using System.Net.Http.Json;
using Sandbox.Client.Contracts;
using Sandbox.Server.Tests.Common;
using Sandbox.Testing;

namespace Sandbox.Server.Tests.Docker;

/// <summary>A server whose sessions may load the test images into their own engines.</summary>
public sealed class NestedDockerServerFixture : ServerFixture
{
    protected override IEnumerable<string> ExtraArgs =>
    [
        "--Sandbox:Pool:Size=0",
        "--Sandbox:Docker:AllowedImages:0=sandbox-test-*",
        "--Sandbox:Docker:StorageMb=256",
    ];
}

/// <summary>docker: true over REST (create, session info, load an image, errors) and MCP (create_session's docker
/// arguments, docker_load_image): the two faces reach the one engine operation.</summary>
public sealed class NestedDockerApiTests(NestedDockerServerFixture server) : IClassFixture<NestedDockerServerFixture>
{
    private const string Busybox = "sandbox-test-busybox:latest";

    [Fact]
    public async Task A_docker_session_is_made_and_given_images_over_rest_and_mcp()
    {
        using var http = server.CreateHttpClient();
        var refused = await http.PostAsJsonAsync("/api/sessions", new { docker = true, isolation = "container" });
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("docker_unavailable", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var created = await http.PostAsJsonAsync("/api/sessions", new { docker = true, docker_images = new[] { Busybox } });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var session = (await created.Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!;
        try
        {
            Assert.Equal("agent", session.Image);
            Assert.Equal(256, session.Docker!.StorageMb);
            Assert.Equal([Busybox], session.Docker.Images);
            Assert.Equal("unix:///run/sandbox-docker/docker.sock", session.Docker.Host);
            var info = (await http.GetFromJsonAsync<SessionDto>($"/api/sessions/{session.Id}", SandboxJson.Options))!;
            Assert.Equal(session.Docker.Images, info.Docker!.Images);
            Assert.Equal(session.Docker.StartedMs, info.Docker.StartedMs);

            var forbidden = await http.PostAsJsonAsync($"/api/sessions/{session.Id}/docker/images", new { image = "sandbox-agent:latest" });
            Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);

            await using var mcp = await server.CreateMcpClientAsync();
            Assert.Equal("forbidden", await mcp.CallErrorCodeAsync("docker_load_image", new() { ["session_id"] = session.Id, ["image"] = "nope:latest" }));
            var loaded = await mcp.CallOkAsync("docker_load_image", new() { ["session_id"] = session.Id, ["image"] = Busybox });
            Assert.Equal(Busybox, loaded.GetProperty("session").GetProperty("docker").GetProperty("images")[0].GetString());

            var run = await mcp.CallOkAsync("execute_code", new()
            {
                ["session_id"] = session.Id, ["language"] = "bash", ["code"] = $"echo $DOCKER_HOST; docker run --rm {Busybox} echo from-a-nested-container 2>/dev/null",
            });
            Assert.Equal("unix:///run/sandbox-docker/docker.sock\nfrom-a-nested-container\n", run.GetProperty("stdout").GetString());

            // A nested container's server is the session's port: the preview path serves it.
            await mcp.CallOkAsync("execute_code", new()
            {
                ["session_id"] = session.Id, ["language"] = "bash",
                ["code"] = $"docker run -d {Busybox} sh -c 'mkdir -p /www && echo nested-preview > /www/index.html && httpd -f -p 18081 -h /www' >/dev/null 2>&1",
            });
            (await http.PostAsJsonAsync($"/api/sessions/{session.Id}/expose", new { port = 18081 })).EnsureSuccessStatusCode();
            using var previews = Previews.Client(server.BaseAddress);
            var grant = await Previews.GrantAsync(http, session.Id, 18081);
            var page = await Previews.UntilUpAsync(() => previews.GetAsync(grant.Url + "index.html"));
            Assert.Equal("nested-preview\n", await page.Content.ReadAsStringAsync());
        }
        finally
        {
            await http.DeleteAsync($"/api/sessions/{session.Id}");
        }

        // Over MCP, create_session takes docker and its images too.
        await using (var mcp = await server.CreateMcpClientAsync())
        {
            var made = await mcp.CallOkAsync("create_session", new() { ["docker"] = true, ["docker_storage_mb"] = 300 });
            var id = made.GetProperty("session_id").GetString()!;
            Assert.Equal(300, made.GetProperty("session").GetProperty("docker").GetProperty("storage_mb").GetInt32());
            await mcp.CallOkAsync("close_session", new() { ["session_id"] = id });
        }
    }
}

/// <summary>A docker session across a server restart: its engine keeps running in its sandbox, and its info (the images
/// loaded into it) is kept in the store.</summary>
public sealed class NestedDockerRestartTests : IDisposable
{
    private readonly string _data = Directory.CreateTempSubdirectory("sandbox-docker-durable-").FullName;
    private readonly string _instance = "srvtest-docker-" + Guid.NewGuid().ToString("N")[..8];

    [Fact]
    public async Task A_docker_session_keeps_its_engine_and_images_across_a_server_restart()
    {
        const string busybox = "sandbox-test-busybox:latest";
        var (first, http) = await DurableServer.StartAsync(_instance, _data, "--Sandbox:Docker:AllowedImages:0=sandbox-test-*", "--Sandbox:Docker:StorageMb=256");
        var session = (await (await http.PostAsJsonAsync("/api/sessions", new { docker = true })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!;
        (await http.PostAsJsonAsync($"/api/sessions/{session.Id}/docker/images", new { image = busybox })).EnsureSuccessStatusCode();
        await first.StopAsync();
        await first.DisposeAsync();
        http.Dispose();

        var (second, http2) = await DurableServer.StartAsync(_instance, _data, "--Sandbox:Docker:AllowedImages:0=sandbox-test-*", "--Sandbox:Docker:StorageMb=256");
        try
        {
            var info = (await http2.GetFromJsonAsync<SessionDto>($"/api/sessions/{session.Id}", SandboxJson.Options))!;
            Assert.Equal([busybox], info.Docker!.Images);
            Assert.Equal(256, info.Docker.StorageMb);
            var run = await http2.PostAsJsonAsync($"/api/sessions/{session.Id}/execute", new { language = "bash", code = $"docker run --rm {busybox} echo still-here 2>/dev/null" });
            Assert.Equal("still-here\n", (await run.Content.ReadFromJsonAsync<ExecutionResultDto>(SandboxJson.Options))!.Stdout);
            (await http2.PostAsJsonAsync($"/api/sessions/{session.Id}/docker/images", new { image = busybox })).EnsureSuccessStatusCode();
        }
        finally
        {
            await http2.DeleteAsync($"/api/sessions/{session.Id}");
            await second.StopAsync();
            await second.DisposeAsync();
            http2.Dispose();
        }
    }

    public void Dispose() => Directory.Delete(_data, recursive: true);
}
