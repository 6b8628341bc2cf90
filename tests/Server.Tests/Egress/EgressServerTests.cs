using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Sandbox.Client.Contracts;
using Sandbox.Server.Tests.Agents;
using Sandbox.Server.Tests.Common;
using Sandbox.Testing;
using Serilog.Core;

namespace Sandbox.Server.Tests.Egress;

/// <summary>A server whose sessions may reach decoys on a network this fixture creates, with a secret for one of them
/// set through the environment, and every log event (verbose) captured.</summary>
public sealed class EgressServerFixture : ServerFixture
{
    private Sandbox.Docker.DockerBackend? _backend;

    public EgressDecoy Decoy { get; private set; } = null!;

    public AgentServerFixture.CapturingSink Logs { get; } = new();

    protected override IEnumerable<string> ExtraArgs =>
    [
        "--Sandbox:Pool:Size=0",
        "--Sandbox:Egress:Allow:0=*.decoy.test",
        $"--Sandbox:Egress:Network={Decoy.Network.Name}",
        $"--Sandbox:Egress:PermittedAddresses:0={Decoy.Address}/32",
        $"--Sandbox:Egress:UpstreamCaFile={Decoy.CaFile}",
        "--Sandbox:Egress:Secrets:decoy:Host=secret.decoy.test",
        "--Sandbox:Egress:Secrets:decoy:Header=Authorization",
        "--Serilog:MinimumLevel:Default=Verbose",
    ];

    protected override void Configure(WebApplicationBuilder builder) => builder.Services.AddSingleton<ILogEventSink>(Logs);

    public override async Task InitializeAsync()
    {
        _backend = new Sandbox.Docker.DockerBackend(Microsoft.Extensions.Options.Options.Create(new Sandbox.SandboxOptions()),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<Sandbox.Docker.DockerBackend>.Instance);
        Decoy = await EgressDecoy.StartAsync(_backend.Client, "sandbox-python:latest");
        await base.InitializeAsync();
    }

    // The value comes from the environment, as in production (Sandbox__Egress__Secrets__NAME__Value); a complete,
    // valid secret (its host as well), since a server another test starts meanwhile sees it too.
    protected override IReadOnlyDictionary<string, string> StartEnvironment => new Dictionary<string, string>
    {
        ["Sandbox__Egress__Secrets__decoy__Host"] = "secret.decoy.test", ["Sandbox__Egress__Secrets__decoy__Value"] = EgressDecoy.Secret,
    };

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await Decoy.DisposeAsync();
        _backend?.Dispose();
    }
}

public sealed class EgressServerTests(EgressServerFixture server) : IClassFixture<EgressServerFixture>
{
    private const string Fetch = "import urllib.request, urllib.error\ndef get(url):\n    try: print(urllib.request.urlopen(url, timeout=20).read().decode())\n" +
                                 "    except urllib.error.HTTPError as e: print('HTTP', e.code, e.read().decode().strip())\n";

    [Fact]
    public async Task Rest_and_mcp_sessions_reach_allowed_hosts_with_the_secret_which_no_log_or_store_holds()
    {
        using var http = server.CreateHttpClient();
        var created = await http.PostAsJsonAsync("/api/sessions", new { network = new { allow = new[] { "allowed.decoy.test" }, secrets = new[] { "decoy" } } });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var session = (await created.Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!;
        Assert.Equal(["allowed.decoy.test"], session.Network!.Allow);
        Assert.Equal(["decoy"], session.Network.Secrets);
        Assert.Equal("http://egress-proxy:3128", session.Network.Proxy);

        var run = await http.PostAsJsonAsync($"/api/sessions/{session.Id}/execute", new
        {
            code = Fetch + "get('http://allowed.decoy.test/a')\nget('https://secret.decoy.test/b')\nget('http://other.decoy.test/c')", timeout_seconds = 60,
        });
        var text = (await run.Content.ReadFromJsonAsync<ExecutionResultDto>(SandboxJson.Options))!.Stdout;
        Assert.Contains("\"server\": \"main\"", text, StringComparison.Ordinal);
        Assert.Contains("\"auth\": \"secret\"", text, StringComparison.Ordinal);
        Assert.Contains("other.decoy.test:80 is not on this session's allow list", text, StringComparison.Ordinal);

        // Changed while it runs.
        var put = await http.PutAsJsonAsync($"/api/sessions/{session.Id}/network", new { allow = Array.Empty<string>() });
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        var after = await http.PostAsJsonAsync($"/api/sessions/{session.Id}/execute", new { code = "get('http://allowed.decoy.test/a')", timeout_seconds = 60 });
        Assert.Contains("allowed.decoy.test:80 is not on this session's allow list", (await after.Content.ReadFromJsonAsync<ExecutionResultDto>(SandboxJson.Options))!.Stdout, StringComparison.Ordinal);
        var outside = await http.PutAsJsonAsync($"/api/sessions/{session.Id}/network", new { allow = new[] { "example.org" } });
        Assert.Equal(HttpStatusCode.Forbidden, outside.StatusCode);
        Assert.Contains("egress_not_permitted", await outside.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var history = await http.GetStringAsync($"/api/sessions/{session.Id}/history");
        Assert.Contains("allowed CONNECT secret.decoy.test:443 (secret decoy added)", history, StringComparison.Ordinal);
        Assert.Contains("refused GET other.decoy.test:80", history, StringComparison.Ordinal);

        // Over MCP: the same engine call.
        await using var mcp = await server.CreateMcpClientAsync();
        var viaMcp = await mcp.CallOkAsync("create_session", new() { ["network_allow"] = new[] { "allowed.decoy.test" } });
        var mcpId = viaMcp.GetProperty("session_id").GetString()!;
        var mcpRun = await mcp.CallToolAsync("execute_code", new Dictionary<string, object?> { ["session_id"] = mcpId, ["code"] = Fetch + "get('http://allowed.decoy.test/m')" });
        Assert.Contains("\"server\": \"main\"", McpExtensions.Structured(mcpRun).GetProperty("stdout").GetString(), StringComparison.Ordinal);
        var changed = await mcp.CallOkAsync("update_network", new() { ["session_id"] = mcpId, ["allow"] = Array.Empty<string>() });
        Assert.Equal(0, changed.GetProperty("session").GetProperty("network").GetProperty("allow").GetArrayLength());
        await mcp.CallOkAsync("close_session", new() { ["session_id"] = mcpId });
        (await http.DeleteAsync($"/api/sessions/{session.Id}")).EnsureSuccessStatusCode();

        // The secret's value is in no log line (verbose) and nowhere in the store's files.
        Assert.True(server.Logs.Count > 0);
        Assert.Contains(session.Id, server.Logs.All, StringComparison.Ordinal);
        Assert.DoesNotContain(EgressDecoy.Secret, server.Logs.All, StringComparison.Ordinal);
        Assert.DoesNotContain("sk-egress-secret", server.Logs.All, StringComparison.Ordinal);
        foreach (var file in Directory.EnumerateFiles(server.DataDirectory, "*", SearchOption.AllDirectories))
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            Assert.DoesNotContain("sk-egress-secret", await reader.ReadToEndAsync(), StringComparison.Ordinal);
        }
    }
}
