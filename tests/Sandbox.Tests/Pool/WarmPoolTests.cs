using Sandbox.Backend;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Time.Testing;
using Sandbox.Docker;
using Sandbox.Execution;
using Sandbox.Isolation;
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
        // One pool per tier the engine can run.
        Assert.Equal(2, await engine.Pool.FillAsync(CancellationToken.None));
        Assert.Equal(1, engine.Pool.CountOf(IsolationTier.Gvisor));
        Assert.Equal(1, engine.Pool.CountOf(IsolationTier.Container));
        var paused = (await engine.DockerClient().Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{SandboxLabels.Instance}={fixture.InstanceId}"] = true } },
        }, CancellationToken.None)).Where(c => c.State == "paused").ToDictionary(c => c.Labels[SandboxLabels.Isolation], c => c.Names[0].TrimStart('/'));
        var pooledName = paused["gvisor"];

        var s = await engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        Assert.Equal(pooledName, DockerBackend.ContainerName(s.Id));
        Assert.Equal(IsolationTier.Gvisor, s.Isolation);
        var r = await engine.Executions.ExecuteAsync(s.Id, Owners.Alice, new ExecutionRequest { Code = "print('from the pool')" }, CancellationToken.None);
        Assert.Equal("from the pool\n", r.Stdout);
        var c = await engine.Sessions.CreateAsync(new SessionSpec { Isolation = IsolationTier.Container }, Owners.Alice, CancellationToken.None);
        Assert.Equal(paused["container"], DockerBackend.ContainerName(c.Id));
        Assert.Equal(IsolationTier.Container, c.Isolation);
        await engine.Sessions.CloseAsync(c.Id, Owners.Alice, CancellationToken.None);

        // Refilled in the background with new containers; the used one is destroyed with its session.
        for (var i = 0; i < 200 && engine.Pool.Count < 2; i++)
        {
            await Task.Delay(100);
        }
        Assert.Equal(1, engine.Pool.CountOf(IsolationTier.Gvisor));
        Assert.Equal(1, engine.Pool.CountOf(IsolationTier.Container));
        await engine.Sessions.CloseAsync(s.Id, Owners.Alice, CancellationToken.None);
        await Assert.ThrowsAsync<DockerContainerNotFoundException>(() => engine.DockerClient().Containers.InspectContainerAsync(pooledName, CancellationToken.None));

        // Requests with other limits do not take pooled containers.
        var custom = await engine.Sessions.CreateAsync(new SessionSpec { Limits = new LimitsRequest { MemoryMb = 300 } }, Owners.Alice, CancellationToken.None);
        Assert.Equal(2, engine.Pool.Count);
        Assert.Equal(300, custom.Limits.MemoryMb);
    }
}
