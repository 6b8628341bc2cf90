using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Data.Sqlite;
using Sandbox.Client.Contracts;
using Sandbox.Testing;

namespace Sandbox.Server.Tests.Agents;

/// <summary>A finished run's conversation goes on after the server restarted: the run is in the store, the agent's
/// conversation in the session's container, which outlives the server.</summary>
public sealed class AgentConversationRestartTests : IAsyncLifetime
{
    private readonly string _data = Directory.CreateTempSubdirectory("sandbox-agent-restart-").FullName;
    private readonly string _instance = "srvtest-agentconv-" + Guid.NewGuid().ToString("N")[..8];
    private Sandbox.Docker.DockerBackend? _backend;
    private TestNetwork? _network;
    private ScriptedModelEndpoint? _model;

    public async Task InitializeAsync()
    {
        _backend = new Sandbox.Docker.DockerBackend(Microsoft.Extensions.Options.Options.Create(new Sandbox.SandboxOptions()),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<Sandbox.Docker.DockerBackend>.Instance);
        _network = await TestNetwork.CreateAsync(_backend.Client, "agents");
        _model = new ScriptedModelEndpoint(_network.Gateway,
        [
            ScriptedTurn.ToolUse("Write", new { file_path = "/workspace/notes.txt", content = "first\n" }),
            ScriptedTurn.Final("Turn done."),
        ]);
    }

    private Task<(WebApplication App, HttpClient Http)> StartServer() => Common.DurableServer.StartAsync(_instance, _data,
        $"--Sandbox:Agents:ModelEndpoint={_model!.Url}", $"--Sandbox:Agents:EgressNetwork={_network!.Name}", "--Sandbox:Agents:ApiKey=sk-ant-test-restart");

    [Fact]
    public async Task A_run_is_continued_after_a_server_restart_with_its_conversation()
    {
        var (first, http) = await StartServer();
        var session = (await (await http.PostAsJsonAsync("/api/sessions", new { image = "agent" })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!;
        var r = await http.PostAsJsonAsync($"/api/sessions/{session.Id}/agent-runs?wait=true", new { prompt = "Write notes.txt (ALPHA-3310)", timeout_seconds = 180 });
        var run = (await r.Content.ReadFromJsonAsync<AgentRunDto>(SandboxJson.Options))!;
        Assert.True(run.Status == "succeeded", $"{run.Status}: {run.Error}\n{run.Stderr}");
        Assert.NotNull(run.Conversation);
        await first.StopAsync();
        await first.DisposeAsync();
        http.Dispose();

        var (second, http2) = await StartServer();
        try
        {
            var seen = _model!.Requests.Count;
            r = await http2.PostAsJsonAsync($"/api/sessions/{session.Id}/agent-runs/{run.Id}/continue?wait=true", new { prompt = "Go on (BETA-8804)", timeout_seconds = 180 });
            var next = (await r.Content.ReadFromJsonAsync<AgentRunDto>(SandboxJson.Options))!;
            Assert.True(next.Status == "succeeded", $"{next.Status}: {next.Error}\n{next.Stderr}");
            Assert.Equal(run.Id, next.ContinuesRunId);
            Assert.Contains(_model.Requests.Skip(seen), q => q.Body.Contains("ALPHA-3310", StringComparison.Ordinal) && q.Body.Contains("BETA-8804", StringComparison.Ordinal));
            (await http2.DeleteAsync($"/api/sessions/{session.Id}")).EnsureSuccessStatusCode();
        }
        finally
        {
            await second.StopAsync();
            await second.DisposeAsync();
            http2.Dispose();
        }
    }

    public async Task DisposeAsync()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_data, recursive: true);
        if (_model is not null)
        {
            await _model.DisposeAsync();
        }
        if (_network is not null)
        {
            await _network.DisposeAsync();
        }
        _backend?.Dispose();
    }
}
