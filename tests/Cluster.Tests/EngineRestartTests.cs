using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Sandbox.Client.Contracts;
using Sandbox.Cluster.Tests.Infrastructure;
using Sandbox.Server.Hosting;

namespace Sandbox.Cluster.Tests;

/// <summary>
/// The Docker engine stops and starts while the server runs: calls fail fast with engine_unavailable while it is down
/// and work again afterwards, without restarting the server. The engine is a disposable one of this test's own (a
/// Docker-in-Docker node): the machine's engine, and everything else running on it, is never touched.
/// </summary>
[Trait("Category", "EngineRestart")]
[Collection(SwarmCollection.Name)]
public sealed class EngineRestartTests(SwarmCluster cluster)
{
    [Fact]
    public async Task Calls_fail_fast_while_the_engine_is_down_and_work_again_after()
    {
        var node = await cluster.AddLooseNodeAsync("engine-restart");
        var app = ServerProgram.BuildHttp(
        [
            "--urls", "http://127.0.0.1:0", "--Sandbox:InstanceId=srvtest-engine-restart", $"--Sandbox:DockerEndpoint={node.Endpoint}",
            $"--Sandbox:Images:python={TestRegistry.Reference("sandbox-python")}", "--Sandbox:Images:agent=", "--Sandbox:Durability:Store=Memory",
            "--Sandbox:Pool:Size=0", "--Serilog:MinimumLevel:Default=Warning",
        ]);
        await app.StartAsync();
        try
        {
            using var http = new HttpClient
            {
                BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()),
                Timeout = TimeSpan.FromSeconds(120),
            };
            var created = await http.PostAsJsonAsync("/api/sessions", new { });
            Assert.True(created.StatusCode == HttpStatusCode.Created, await created.Content.ReadAsStringAsync());
            var before = (await created.Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!;

            await node.StopEngineAsync();
            var sw = Stopwatch.StartNew();
            var create = await http.PostAsJsonAsync("/api/sessions", new { });
            Assert.Equal(HttpStatusCode.ServiceUnavailable, create.StatusCode);
            Assert.Contains("engine_unavailable", await create.Content.ReadAsStringAsync());
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"took {sw.Elapsed}");
            var health = await http.GetAsync("/healthz");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
            Assert.Contains("\"reachable\":false", await health.Content.ReadAsStringAsync());
            // The old session's container died with the engine: it is lost, with a clear error.
            var old = await http.PostAsJsonAsync($"/api/sessions/{before.Id}/execute", new { code = "print(1)" });
            Assert.Equal(HttpStatusCode.Gone, old.StatusCode);

            await node.StartEngineAsync();
            var again = await http.PostAsJsonAsync("/api/sessions", new { });
            Assert.Equal(HttpStatusCode.Created, again.StatusCode);
            var session = (await again.Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!;
            var r = await (await http.PostAsJsonAsync($"/api/sessions/{session.Id}/execute", new { code = "print('back')" })).Content.ReadFromJsonAsync<ExecutionResultDto>(SandboxJson.Options);
            Assert.Equal("back\n", r!.Stdout);
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz")).StatusCode);
            Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync($"/api/sessions/{before.Id}")).StatusCode);
            Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync($"/api/sessions/{session.Id}")).StatusCode);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
