using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Time.Testing;
using Sandbox.Docker;
using Sandbox.Execution;
using Sandbox.Sessions;
using Sandbox.Tests.Common;

namespace Sandbox.Tests.Sessions;

[Collection(EngineCollection.Name)]
public sealed class SessionLifecycleTests(EngineFixture fixture)
{
    [Fact]
    public async Task Close_removes_the_container_and_its_volume()
    {
        var engine = fixture.CreateManager();
        var s = await engine.CreateSessionAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        var client = engine.Backend.Client;
        var name = DockerBackend.ContainerName(s.Id);
        var inspect = await client.Containers.InspectContainerAsync(name, CancellationToken.None);
        Assert.NotNull(inspect.Config);
        Assert.NotNull(inspect.HostConfig);
        Assert.Equal("sandbox", inspect.Config.Labels[SandboxLabels.Product]);
        Assert.Equal(s.Id, inspect.Config.Labels[SandboxLabels.SessionId]);
        Assert.Equal(Owners.Alice, inspect.Config.Labels[SandboxLabels.Owner]);
        Assert.True(inspect.Config.Labels.ContainsKey(SandboxLabels.CreatedAt));
        Assert.True(inspect.HostConfig.ReadonlyRootfs);
        Assert.Equal(512L << 20, inspect.HostConfig.Memory);
        Assert.Equal(inspect.HostConfig.Memory, inspect.HostConfig.MemorySwap);
        Assert.Equal(128, inspect.HostConfig.PidsLimit);
        Assert.Contains("no-new-privileges", inspect.HostConfig.SecurityOpt ?? []);

        await engine.CloseSessionAsync(s.Id, Owners.Alice, CancellationToken.None);
        await Assert.ThrowsAsync<DockerContainerNotFoundException>(() => client.Containers.InspectContainerAsync(name, CancellationToken.None));
        var volumes = await client.Volumes.ListAsync(CancellationToken.None);
        Assert.DoesNotContain(volumes.Volumes ?? [], v => v.Name == name);
        // Closing again is a clean not-found, and close works even when the container vanished first.
        Assert.Equal(SandboxErrorCodes.SessionNotFound, (await Assert.ThrowsAsync<SandboxException>(() => engine.CloseSessionAsync(s.Id, Owners.Alice, CancellationToken.None))).Code);
        var s2 = await engine.CreateSessionAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        await client.Containers.RemoveContainerAsync(DockerBackend.ContainerName(s2.Id), new ContainerRemoveParameters { Force = true }, CancellationToken.None);
        await engine.CloseSessionAsync(s2.Id, Owners.Alice, CancellationToken.None);
    }

    [Fact]
    public async Task Reaper_closes_idle_sessions_after_their_ttl()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var engine = fixture.CreateManager(o => o.IdleTimeout = TimeSpan.FromMinutes(5), time);
        var idle = await engine.CreateSessionAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        var shortTtl = await engine.CreateSessionAsync(new SessionSpec { IdleTimeout = TimeSpan.FromSeconds(30) }, Owners.Alice, CancellationToken.None);
        Assert.Equal(0, await engine.ReapAsync(CancellationToken.None));
        time.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal(1, await engine.ReapAsync(CancellationToken.None));
        Assert.Single(engine.ListSessions(Owners.Alice), s => s.Id == idle.Id);
        await Assert.ThrowsAsync<DockerContainerNotFoundException>(() => engine.Backend.Client.Containers.InspectContainerAsync(DockerBackend.ContainerName(shortTtl.Id), CancellationToken.None));
        // Use keeps a session alive.
        time.Advance(TimeSpan.FromMinutes(4));
        await engine.ExecuteAsync(idle.Id, Owners.Alice, new ExecutionRequest { Code = "1" }, CancellationToken.None);
        time.Advance(TimeSpan.FromMinutes(4));
        Assert.Equal(0, await engine.ReapAsync(CancellationToken.None));
        time.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(1, await engine.ReapAsync(CancellationToken.None));
        Assert.Empty(engine.ListSessions(Owners.Alice));
    }

    [Fact]
    public async Task Failed_create_leaves_nothing_behind_and_caps_hold()
    {
        var instance = "failtest-" + Guid.NewGuid().ToString("N")[..8];
        var engine = fixture.CreateManager(o => { o.Images["ghost"] = "sandbox-ghost:does-not-exist"; o.MaxSessions = 2; o.InstanceId = instance; });
        var e = await Assert.ThrowsAsync<SandboxException>(() => engine.CreateSessionAsync(new SessionSpec { Image = "ghost" }, Owners.Alice, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.ImageNotFound, e.Code);
        var labelFilter = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{SandboxLabels.Instance}={instance}"] = true } };
        Assert.Empty(await engine.Backend.Client.Containers.ListContainersAsync(new ContainersListParameters { All = true, Filters = labelFilter }, CancellationToken.None));
        var volumes = await engine.Backend.Client.Volumes.ListAsync(new VolumesListParameters { Filters = labelFilter }, CancellationToken.None);
        Assert.Empty(volumes.Volumes ?? []);
        // The failed create did not use up a slot.
        await engine.CreateSessionAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        await engine.CreateSessionAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        var full = await Assert.ThrowsAsync<SandboxException>(() => engine.CreateSessionAsync(new SessionSpec(), Owners.Alice, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.CapacityExceeded, full.Code);
    }

    [Fact]
    public async Task Killed_container_makes_the_session_lost_with_a_clear_error()
    {
        var engine = fixture.CreateManager();
        var s = await engine.CreateSessionAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        var running = engine.ExecuteAsync(s.Id, Owners.Alice, new ExecutionRequest { Code = "import time\ntime.sleep(30)" }, CancellationToken.None);
        await Task.Delay(500);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        await engine.Backend.Client.Containers.KillContainerAsync(DockerBackend.ContainerName(s.Id), new ContainerKillParameters(), CancellationToken.None);
        var e = await Assert.ThrowsAsync<SandboxException>(() => running);
        Assert.Equal(SandboxErrorCodes.SessionLost, e.Code);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(1), $"took {sw.Elapsed}");
        Assert.Equal(SessionStatus.Lost, engine.GetSession(s.Id, Owners.Alice).Status);
        var again = await Assert.ThrowsAsync<SandboxException>(() => engine.ExecuteAsync(s.Id, Owners.Alice, new ExecutionRequest { Code = "1" }, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.SessionLost, again.Code);
        await engine.CloseSessionAsync(s.Id, Owners.Alice, CancellationToken.None);
    }
}

[Collection(EngineCollection.Name)]
public sealed class WarmPoolTests(EngineFixture fixture)
{
    [Fact]
    public async Task Pooled_containers_are_paused_serve_one_session_and_are_refilled()
    {
        var engine = fixture.CreateManager(o => o.WarmPoolSize = 1);
        Assert.Equal(1, await engine.FillPoolAsync(CancellationToken.None));
        Assert.Equal(1, engine.PooledCount);
        var pooledName = (await engine.Backend.Client.Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{SandboxLabels.Instance}={fixture.InstanceId}"] = true } },
        }, CancellationToken.None)).Where(c => c.State == "paused").Select(c => c.Names[0].TrimStart('/')).Single();

        var sw = System.Diagnostics.Stopwatch.StartNew();
        var s = await engine.CreateSessionAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        sw.Stop();
        Assert.Equal(pooledName, DockerBackend.ContainerName(s.Id));
        var r = await engine.ExecuteAsync(s.Id, Owners.Alice, new ExecutionRequest { Code = "print('from the pool')" }, CancellationToken.None);
        Assert.Equal("from the pool\n", r.Stdout);

        // Refilled in the background with a new container; the used one is destroyed with its session.
        for (var i = 0; i < 100 && engine.PooledCount == 0; i++)
        {
            await Task.Delay(100);
        }
        Assert.Equal(1, engine.PooledCount);
        await engine.CloseSessionAsync(s.Id, Owners.Alice, CancellationToken.None);
        await Assert.ThrowsAsync<DockerContainerNotFoundException>(() => engine.Backend.Client.Containers.InspectContainerAsync(pooledName, CancellationToken.None));

        // Requests with other limits do not take pooled containers.
        var custom = await engine.CreateSessionAsync(new SessionSpec { Limits = new LimitsRequest { MemoryMb = 300 } }, Owners.Alice, CancellationToken.None);
        Assert.Equal(1, engine.PooledCount);
        Assert.Equal(300, custom.Limits.MemoryMb);
    }
}
