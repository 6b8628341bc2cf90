using Sandbox.Backend;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Time.Testing;
using Sandbox.Docker;
using Sandbox.Execution;
using Sandbox.Isolation;
using Sandbox.Pool;
using Sandbox.Sessions;
using Sandbox.Tests.Common;

namespace Sandbox.Tests.Pool;

[Collection(EngineCollection.Name)]
public sealed class WarmPoolTests(EngineFixture fixture)
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Pooled_containers_wait_idle_or_frozen_serve_one_session_and_are_refilled(bool pause)
    {
        var engine = fixture.CreateEngine(o =>
        {
            o.Pool.Size = 1;
            o.Pool.Pause = pause;
        });
        // One pool per tier the engine can run.
        Assert.Equal(2, await engine.Pool.FillAsync(CancellationToken.None));
        Assert.Equal(1, engine.Pool.CountOf(IsolationTier.Gvisor));
        Assert.Equal(1, engine.Pool.CountOf(IsolationTier.Container));
        var waiting = (await engine.DockerClient().Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{SandboxLabels.Instance}={fixture.InstanceId}"] = true } },
        }, CancellationToken.None)).Where(c => c.Labels[SandboxLabels.Owner] == WarmPool.PoolOwner && c.State == (pause ? "paused" : "running")).ToDictionary(c => c.Labels[SandboxLabels.Isolation], c => c.Names[0].TrimStart('/'));
        var pooledName = waiting["gvisor"];
        if (!pause)
        {
            // Waiting without the freezer costs (next to) nothing: the runner and its interpreter sleep until a request.
            foreach (var name in waiting.Values)
            {
                var before = await CpuNanosAsync(engine.DockerClient(), name);
                await Task.Delay(TimeSpan.FromSeconds(2));
                var used = TimeSpan.FromTicks((long)((await CpuNanosAsync(engine.DockerClient(), name)) - before) / 100);
                Assert.True(used < TimeSpan.FromMilliseconds(100), $"{name} used {used.TotalMilliseconds} ms of CPU in 2 s while waiting in the pool");
            }
        }

        var s = await engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        Assert.Equal(pooledName, DockerBackend.ContainerName(s.Id));
        Assert.Equal(IsolationTier.Gvisor, s.Isolation);
        var r = await engine.Executions.ExecuteAsync(s.Id, Owners.Alice, new ExecutionRequest { Code = "print('from the pool')" }, CancellationToken.None);
        Assert.Equal("from the pool\n", r.Stdout);
        var c = await engine.Sessions.CreateAsync(new SessionSpec { Isolation = IsolationTier.Container }, Owners.Alice, CancellationToken.None);
        Assert.Equal(waiting["container"], DockerBackend.ContainerName(c.Id));
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

    private static async Task<ulong> CpuNanosAsync(IDockerClient docker, string name)
    {
        var last = new LastReport();
        await docker.Containers.GetContainerStatsAsync(name, new ContainerStatsParameters { Stream = false }, last, CancellationToken.None);
        return last.Value?.CPUStats?.CPUUsage?.TotalUsage ?? throw new InvalidOperationException($"no CPU figures for {name}");
    }

    /// <summary>Keeps the report it is given, at once (Progress&lt;T&gt; would hand it to the thread pool later).</summary>
    private sealed class LastReport : IProgress<ContainerStatsResponse>
    {
        public ContainerStatsResponse? Value { get; private set; }

        public void Report(ContainerStatsResponse value) => Value = value;
    }
}
