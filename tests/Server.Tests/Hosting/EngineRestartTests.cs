using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Sandbox.Client.Contracts;
using Sandbox.Testing;

namespace Sandbox.Server.Tests.Hosting;

/// <summary>
/// The Docker engine stops and starts while the server runs: calls fail fast with engine_unavailable while it is down
/// and work again afterwards, without restarting the server. This stops dockerd for every container on the machine,
/// so deploy/test.sh runs it alone, after the other tests (category EngineRestart). It always restores the engine.
/// </summary>
[Trait("Category", "EngineRestart")]
public sealed class EngineRestartTests : IAsyncLifetime
{
    private readonly ServerFixture _server = new NoPoolServerFixture();

    private sealed class NoPoolServerFixture : ServerFixture
    {
        protected override IEnumerable<string> ExtraArgs => ["--Sandbox:Pool:Size=0"];
    }

    public Task InitializeAsync() => _server.InitializeAsync();

    public async Task DisposeAsync()
    {
        await EnsureEngineUpAsync();
        await _server.DisposeAsync();
    }

    private static async Task<(int Code, string Output)> Sh(string script, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        using var p = Process.Start(psi)!;
        using var cts = new CancellationTokenSource(timeout);
        var output = p.StandardOutput.ReadToEndAsync(cts.Token);
        await p.WaitForExitAsync(cts.Token);
        return (p.ExitCode, await output + await p.StandardError.ReadToEndAsync(cts.Token));
    }

    private static async Task<bool> EngineAnswersAsync() => (await Sh("timeout 5 docker info >/dev/null 2>&1", TimeSpan.FromSeconds(10))).Code == 0;

    private static async Task EnsureEngineUpAsync()
    {
        for (var i = 0; i < 90 && !await EngineAnswersAsync(); i++)
        {
            // Start it whenever no dockerd process exists (an exiting one may linger for a moment after a stop).
            await Sh("pgrep -x dockerd >/dev/null || (setsid dockerd >>/var/log/dockerd.log 2>&1 < /dev/null &)", TimeSpan.FromSeconds(10));
            await Task.Delay(1000);
        }
        Assert.True(await EngineAnswersAsync(), "could not restore the Docker engine");
    }

    [Fact]
    public async Task Calls_fail_fast_while_the_engine_is_down_and_work_again_after()
    {
        Assert.True((await Sh("id -u", TimeSpan.FromSeconds(5))).Output.Trim() == "0", "restarting dockerd needs root (CI runs as root)");
        using var http = _server.CreateHttpClient();
        var before = await (await http.PostAsJsonAsync("/api/sessions", new { })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options);
        try
        {
            var stop = await Sh("kill -TERM $(pidof dockerd); for i in $(seq 1 60); do pidof dockerd >/dev/null || exit 0; sleep 1; done; exit 1", TimeSpan.FromSeconds(90));
            Assert.True(stop.Code == 0, "dockerd did not stop: " + stop.Output);

            var sw = Stopwatch.StartNew();
            var create = await http.PostAsJsonAsync("/api/sessions", new { });
            Assert.Equal(HttpStatusCode.ServiceUnavailable, create.StatusCode);
            Assert.Contains("engine_unavailable", await create.Content.ReadAsStringAsync());
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"took {sw.Elapsed}");
            var health = await http.GetAsync("/healthz");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
            Assert.Contains("\"reachable\":false", await health.Content.ReadAsStringAsync());
            // The old session's container died with the engine: it is lost, with a clear error.
            var old = await http.PostAsJsonAsync($"/api/sessions/{before!.Id}/execute", new { code = "print(1)" });
            Assert.Equal(HttpStatusCode.Gone, old.StatusCode);
        }
        finally
        {
            await EnsureEngineUpAsync();
        }

        var again = await http.PostAsJsonAsync("/api/sessions", new { });
        Assert.Equal(HttpStatusCode.Created, again.StatusCode);
        var session = await again.Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options);
        var r = await (await http.PostAsJsonAsync($"/api/sessions/{session!.Id}/execute", new { code = "print('back')" })).Content.ReadFromJsonAsync<ExecutionResultDto>(SandboxJson.Options);
        Assert.Equal("back\n", r!.Stdout);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync($"/api/sessions/{before!.Id}")).StatusCode);
    }
}
