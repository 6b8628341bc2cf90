using Sandbox.Backend;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Time.Testing;
using Sandbox.Docker;
using Sandbox.Execution;
using Sandbox.Sessions;
using Sandbox.Tests.Common;

namespace Sandbox.Tests.Pool;

[Collection(EngineCollection.Name)]
public sealed class WarmPoolTests(EngineFixture fixture)
{
    [Fact]
    public async Task Pooled_containers_are_paused_serve_one_session_and_are_refilled()
    {
        var engine = fixture.CreateEngine(o => o.Pool.Size = 1);
        Assert.Equal(1, await engine.Pool.FillAsync(CancellationToken.None));
        Assert.Equal(1, engine.Pool.Count);
        var pooledName = (await engine.DockerClient().Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{SandboxLabels.Instance}={fixture.InstanceId}"] = true } },
        }, CancellationToken.None)).Where(c => c.State == "paused").Select(c => c.Names[0].TrimStart('/')).Single();

        var sw = System.Diagnostics.Stopwatch.StartNew();
        var s = await engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        sw.Stop();
        Assert.Equal(pooledName, DockerBackend.ContainerName(s.Id));
        var r = await engine.Executions.ExecuteAsync(s.Id, Owners.Alice, new ExecutionRequest { Code = "print('from the pool')" }, CancellationToken.None);
        Assert.Equal("from the pool\n", r.Stdout);

        // Refilled in the background with a new container; the used one is destroyed with its session.
        for (var i = 0; i < 100 && engine.Pool.Count == 0; i++)
        {
            await Task.Delay(100);
        }
        Assert.Equal(1, engine.Pool.Count);
        await engine.Sessions.CloseAsync(s.Id, Owners.Alice, CancellationToken.None);
        await Assert.ThrowsAsync<DockerContainerNotFoundException>(() => engine.DockerClient().Containers.InspectContainerAsync(pooledName, CancellationToken.None));

        // Requests with other limits do not take pooled containers.
        var custom = await engine.Sessions.CreateAsync(new SessionSpec { Limits = new LimitsRequest { MemoryMb = 300 } }, Owners.Alice, CancellationToken.None);
        Assert.Equal(1, engine.Pool.Count);
        Assert.Equal(300, custom.Limits.MemoryMb);
    }
}
