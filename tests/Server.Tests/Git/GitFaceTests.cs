using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Sandbox.Client;
using Sandbox.Client.Contracts;
using Sandbox.Server.Tests.Agents;
using Sandbox.Server.Tests.Common;
using Sandbox.Testing;
using Serilog.Core;

namespace Sandbox.Server.Tests.Git;

/// <summary>A server that clones from a git server this fixture starts (git http-backend on a test network), with a
/// credential set through the environment, and every log event captured.</summary>
public sealed class GitServerFixture : ServerFixture
{
    private Sandbox.Docker.DockerBackend? _backend;

    public GitServer Git { get; private set; } = null!;

    public AgentServerFixture.CapturingSink Logs { get; } = new();

    protected override IEnumerable<string> ExtraArgs =>
    [
        "--Sandbox:Pool:Size=0",
        $"--Sandbox:Egress:Network={Git.Network.Name}",
        $"--Sandbox:Egress:PermittedAddresses:0={Git.Address}/32",
        $"--Sandbox:Git:Hosts:0={GitServer.Host}",
        "--Sandbox:Git:ProtectedBranches:0=main",
        "--Sandbox:Git:ProtectedBranches:1=release/*",
        "--Serilog:MinimumLevel:Default=Verbose",
    ];

    protected override void Configure(WebApplicationBuilder builder) => builder.Services.AddSingleton<ILogEventSink>(Logs);

    public override async Task InitializeAsync()
    {
        _backend = new Sandbox.Docker.DockerBackend(Microsoft.Extensions.Options.Options.Create(new Sandbox.SandboxOptions()),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<Sandbox.Docker.DockerBackend>.Instance);
        Git = await GitServer.StartAsync(_backend.Client, "sandbox-agent:latest");
        await base.InitializeAsync();
    }

    // The credential comes from the environment, as in production (Sandbox__Git__Credentials__NAME__Token); a complete,
    // valid one (host and user as well), since a server another test starts meanwhile sees it too.
    protected override IReadOnlyDictionary<string, string> StartEnvironment => new Dictionary<string, string>
    {
        ["Sandbox__Git__Credentials__forge__Host"] = GitServer.Host,
        ["Sandbox__Git__Credentials__forge__Username"] = GitServer.User,
        ["Sandbox__Git__Credentials__forge__Token"] = GitServer.Token,
    };

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await Git.DisposeAsync();
        _backend?.Dispose();
    }
}

public sealed class GitFaceTests(GitServerFixture server) : IClassFixture<GitServerFixture>
{
    private const string Commit = "printf 'def mul(a, b):\\n    return a * b\\n' >> app.py && git commit -qam 'Add mul' && git log --oneline | wc -l";

    [Fact]
    public async Task Rest_mcp_and_both_clients_clone_export_and_push_and_refuse_protected_branches_without_the_credential_in_any_log()
    {
        using var http = server.CreateHttpClient();
        var created = await http.PostAsJsonAsync("/api/sessions", new
        {
            image = "agent", git = new { url = GitServer.Url("private"), credentials = "forge" }, setup = new[] { "git checkout -q -b work" },
        });
        Assert.True(created.StatusCode == HttpStatusCode.Created, await created.Content.ReadAsStringAsync());
        var session = (await created.Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!;
        Assert.Equal(GitServer.Url("private"), session.Git!.Url);
        Assert.Equal("forge", session.Git.Credentials);
        Assert.Equal(await server.Git.RevParseAsync("private", "main"), session.Git.BaseCommit);
        var run = await http.PostAsJsonAsync($"/api/sessions/{session.Id}/execute", new { code = Commit, language = "bash" });
        Assert.Equal("3\n", (await run.Content.ReadFromJsonAsync<ExecutionResultDto>(SandboxJson.Options))!.Stdout);

        // REST: a patch with its link (no bearer token needed for the link).
        var export = await http.PostAsJsonAsync($"/api/sessions/{session.Id}/git/export", new { format = "patch" });
        Assert.True(export.IsSuccessStatusCode, await export.Content.ReadAsStringAsync());
        var patch = (await export.Content.ReadFromJsonAsync<GitExportDto>(SandboxJson.Options))!;
        Assert.Equal("work", patch.Branch);
        Assert.Contains("Subject: [PATCH] Add mul", patch.Content, StringComparison.Ordinal);
        using (var anonymous = new HttpClient())
        {
            Assert.Equal(patch.Content, await anonymous.GetStringAsync(patch.Url));
        }
        var protectedPush = await http.PostAsJsonAsync($"/api/sessions/{session.Id}/git/push", new { remote_branch = "release/1.0" });
        Assert.Equal(HttpStatusCode.Forbidden, protectedPush.StatusCode);
        Assert.Contains("protected", await protectedPush.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // MCP: a bundle, then a push to a new branch; the REST client and the MCP client make the same calls.
        await using var mcp = await server.CreateMcpClientAsync();
        var bundle = (await mcp.CallOkAsync("export_changes", new() { ["session_id"] = session.Id, ["format"] = "bundle" })).GetProperty("export");
        Assert.Equal("bundle", bundle.GetProperty("format").GetString());
        Assert.StartsWith("http", bundle.GetProperty("url").GetString(), StringComparison.Ordinal);
        var pushed = (await mcp.CallOkAsync("push_changes", new() { ["session_id"] = session.Id, ["remote_branch"] = "agent/mcp" })).GetProperty("push");
        Assert.Equal(await server.Git.RevParseAsync("private", "agent/mcp"), pushed.GetProperty("commit").GetString());
        var refused = await mcp.CallToolAsync("push_changes", new Dictionary<string, object?> { ["session_id"] = session.Id, ["remote_branch"] = "main" });
        Assert.True(refused.IsError);
        Assert.Equal("forbidden", McpExtensions.Structured(refused).GetProperty("error").GetProperty("code").GetString());

        foreach (ISandboxClient client in new ISandboxClient[]
                 {
                     new SandboxRestClient(server.CreateHttpClient()),
                     await SandboxMcpClient.ConnectHttpAsync(new Uri(server.BaseAddress, "/mcp")),
                 })
        {
            await using var _ = client as IAsyncDisposable;
            var viaClient = await client.ExportChangesAsync(session.Id, new ExportChangesRequest { Format = "patch" });
            Assert.Equal(patch.HeadCommit, viaClient.HeadCommit);
            var branch = "agent/" + client.GetType().Name.ToLowerInvariant();
            var push = await client.PushChangesAsync(session.Id, new PushChangesRequest { RemoteBranch = branch });
            Assert.Equal(await server.Git.RevParseAsync("private", branch), push.Commit);
            var error = await Assert.ThrowsAsync<SandboxClientException>(() => client.PushChangesAsync(session.Id, new PushChangesRequest { RemoteBranch = "main" }));
            Assert.Equal("forbidden", error.Code);
        }
        (await http.DeleteAsync($"/api/sessions/{session.Id}")).EnsureSuccessStatusCode();

        // A clone that needs a credential and names none is a clear error; a failing setup command too.
        var unauthorized = await http.PostAsJsonAsync("/api/sessions", new { image = "agent", git = new { url = GitServer.Url("private") } });
        Assert.Equal(HttpStatusCode.BadGateway, unauthorized.StatusCode);
        Assert.Contains("git_auth_failed", await unauthorized.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var setupFails = await http.PostAsJsonAsync("/api/sessions", new { setup = new[] { "echo nope >&2; exit 7" } });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, setupFails.StatusCode);
        var problem = JsonDocument.Parse(await setupFails.Content.ReadAsStringAsync()).RootElement;
        Assert.Contains("setup_failed", problem.GetRawText(), StringComparison.Ordinal);
        Assert.Contains("nope", problem.GetRawText(), StringComparison.Ordinal);

        // The credential is in no log line (verbose) and nowhere in the store.
        Assert.Contains(session.Id, server.Logs.All, StringComparison.Ordinal);
        Assert.DoesNotContain(GitServer.Token, server.Logs.All, StringComparison.Ordinal);
        foreach (var file in Directory.EnumerateFiles(server.DataDirectory, "*", SearchOption.AllDirectories))
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            Assert.DoesNotContain(GitServer.Token, await reader.ReadToEndAsync(), StringComparison.Ordinal);
        }
    }
}
