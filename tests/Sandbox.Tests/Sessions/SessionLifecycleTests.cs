using Sandbox.Backend;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Time.Testing;
using Sandbox.Docker;
using Sandbox.Execution;
using Sandbox.Isolation;
using Sandbox.Sessions;
using Sandbox.Tests.Common;

namespace Sandbox.Tests.Sessions;

[Collection(EngineCollection.Name)]
public sealed class SessionLifecycleTests(EngineFixture fixture)
{
    [Fact]
    public async Task Metadata_and_env_are_kept_filtered_changed_and_reach_python_and_bash()
    {
        var engine = fixture.CreateEngine();
        var a = await engine.Sessions.CreateAsync(new SessionSpec
        {
            Metadata = new Dictionary<string, string> { ["task"] = "t1", ["user"] = "ann" },
            Env = new Dictionary<string, string> { ["GREETING"] = "hi there", ["MODE"] = "one" },
        }, Owners.Alice, CancellationToken.None);
        var b = await engine.Sessions.CreateAsync(new SessionSpec { Metadata = new Dictionary<string, string> { ["task"] = "t2" } }, Owners.Alice, CancellationToken.None);
        try
        {
            Assert.Equal(("t1", "hi there"), (a.Metadata!["task"], a.Env!["GREETING"]));
            Assert.Equal([a.Id], engine.Sessions.List(Owners.Alice, new Dictionary<string, string> { ["task"] = "t1" }).Select(s => s.Id));
            Assert.Empty(engine.Sessions.List(Owners.Alice, new Dictionary<string, string> { ["task"] = "t1", ["user"] = "bob" }));
            Assert.Empty(engine.Sessions.List(Owners.Bob, new Dictionary<string, string> { ["task"] = "t1" }));
            async Task<string> Seen(string language, string code) =>
                (await engine.Executions.ExecuteAsync(a.Id, Owners.Alice, new ExecutionRequest { Language = language, Code = code }, CancellationToken.None)).Stdout;
            Assert.Equal("hi there one\n", await Seen("python", "import os\nprint(os.environ['GREETING'], os.environ['MODE'])"));
            Assert.Equal("hi there one\n", await Seen("bash", "echo \"$GREETING\" \"$MODE\""));

            // Changed with a call: replaced whole, in every later execution; the metadata stays unless given.
            var changed = await engine.Sessions.UpdateAsync(a.Id, Owners.Alice, null, new Dictionary<string, string> { ["GREETING"] = "hello" }, CancellationToken.None);
            Assert.Equal(("t1", "hello", false), (changed.Metadata!["task"], changed.Env!["GREETING"], changed.Env.ContainsKey("MODE")));
            Assert.Equal("hello -\n", await Seen("python", "import os\nprint(os.environ['GREETING'], os.environ.get('MODE', '-'))"));
            Assert.Equal("hello\n", await Seen("bash", "echo \"$GREETING$MODE\""));
            changed = await engine.Sessions.UpdateAsync(a.Id, Owners.Alice, new Dictionary<string, string> { ["task"] = "t3" }, null, CancellationToken.None);
            Assert.Equal(("t3", "hello"), (changed.Metadata!["task"], changed.Env!["GREETING"]));

            var reserved = await Assert.ThrowsAsync<SandboxException>(() => engine.Sessions.UpdateAsync(a.Id, Owners.Alice, null,
                new Dictionary<string, string> { ["HTTPS_PROXY"] = "http://evil" }, CancellationToken.None));
            Assert.Equal(SandboxErrorCodes.InvalidArgument, reserved.Code);
            var many = await Assert.ThrowsAsync<SandboxException>(() => engine.Sessions.CreateAsync(new SessionSpec
            {
                Metadata = Enumerable.Range(0, 33).ToDictionary(i => "k" + i, i => "v"),
            }, Owners.Alice, CancellationToken.None));
            Assert.Equal(SandboxErrorCodes.LimitExceeded, many.Code);
        }
        finally
        {
            await engine.Sessions.CloseAsync(a.Id, Owners.Alice, CancellationToken.None);
            await engine.Sessions.CloseAsync(b.Id, Owners.Alice, CancellationToken.None);
        }
    }

    [Fact]
    public async Task Sizes_follow_the_machine_the_engine_reports()
    {
        var engine = fixture.CreateEngine();
        var host = await engine.Backend.GetHostResourcesAsync(CancellationToken.None);
        var refused = await Assert.ThrowsAsync<SandboxException>(() => engine.Sessions.CreateAsync(
            new SessionSpec { Limits = new LimitsRequest { Cpus = host.Cpus + 1 } }, Owners.Alice, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.LimitExceeded, refused.Code);
        Assert.Contains($"this machine has {host.Cpus} cores", refused.Message);

        // All the machine's cores and more memory than the old fixed ceiling of 4096 MiB, where the machine has it.
        var memory = (int)Math.Min(8192, host.MemoryBytes / (1024 * 1024) - 1024);
        var s = await engine.Sessions.CreateAsync(new SessionSpec
        {
            Isolation = IsolationTier.Container, Limits = new LimitsRequest { Cpus = host.Cpus, MemoryMb = memory },
        }, Owners.Alice, CancellationToken.None);
        try
        {
            var inspect = await engine.DockerClient().Containers.InspectContainerAsync(DockerBackend.ContainerName(s.Id), CancellationToken.None);
            Assert.Equal(((long)memory << 20, host.Cpus * 1_000_000_000L), (inspect.HostConfig!.Memory, inspect.HostConfig.NanoCPUs));
        }
        finally
        {
            await engine.Sessions.CloseAsync(s.Id, Owners.Alice, CancellationToken.None);
        }
    }

    [Fact]
    public async Task Close_removes_the_container_and_its_volume()
    {
        var engine = fixture.CreateEngine();
        var s = await engine.Sessions.CreateAsync(new SessionSpec { Isolation = IsolationTier.Container }, Owners.Alice, CancellationToken.None);
        var client = engine.DockerClient();
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
        Assert.DoesNotContain(inspect.Config.Env, e => e.StartsWith("SANDBOX_NPROC=", StringComparison.Ordinal));
        // Under gVisor the session's process limit is kept inside (RLIMIT_NPROC: at most pids, one per 16 MiB), and the
        // host's pids bound leaves room for gVisor's own threads.
        var g = await engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        var gInspect = await client.Containers.InspectContainerAsync(DockerBackend.ContainerName(g.Id), CancellationToken.None);
        Assert.Contains("SANDBOX_NPROC=32", gInspect.Config!.Env);
        // An agent run (one CLI with many threads, which the limit counts too) may have 64; the host bound follows it.
        Assert.Contains("SANDBOX_AGENT_NPROC=64", gInspect.Config!.Env);
        Assert.Equal(64 * 32 + 512, gInspect.HostConfig!.PidsLimit);
        // The host's bound has headroom over the session's 512 MiB (a quarter, and 128 MiB for gVisor's kernel): the
        // session's own limit is kept inside, where running out costs one process, not the sandbox.
        Assert.Equal(768L << 20, gInspect.HostConfig.Memory);
        Assert.Contains("SANDBOX_MEMORY_LIMIT=" + (512L << 20), gInspect.Config.Env);
        Assert.Contains("SANDBOX_MEMORY_WATCH=1", gInspect.Config.Env);
        await engine.Sessions.CloseAsync(g.Id, Owners.Alice, CancellationToken.None);
        Assert.Contains("no-new-privileges", inspect.HostConfig.SecurityOpt ?? []);

        await engine.Sessions.CloseAsync(s.Id, Owners.Alice, CancellationToken.None);
        await Assert.ThrowsAsync<DockerContainerNotFoundException>(() => client.Containers.InspectContainerAsync(name, CancellationToken.None));
        var volumes = await client.Volumes.ListAsync(CancellationToken.None);
        Assert.DoesNotContain(volumes.Volumes ?? [], v => v.Name == name);
        // Closing again is a clean not-found, and close works even when the container vanished first.
        Assert.Equal(SandboxErrorCodes.SessionNotFound, (await Assert.ThrowsAsync<SandboxException>(() => engine.Sessions.CloseAsync(s.Id, Owners.Alice, CancellationToken.None))).Code);
        var s2 = await engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        await client.Containers.RemoveContainerAsync(DockerBackend.ContainerName(s2.Id), new ContainerRemoveParameters { Force = true }, CancellationToken.None);
        await engine.Sessions.CloseAsync(s2.Id, Owners.Alice, CancellationToken.None);
    }

    [Fact]
    public async Task Reaper_closes_idle_sessions_after_their_ttl()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var engine = fixture.CreateEngine(o => o.Engine.IdleTimeout = TimeSpan.FromMinutes(5), time);
        var idle = await engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        var shortTtl = await engine.Sessions.CreateAsync(new SessionSpec { IdleTimeout = TimeSpan.FromSeconds(30) }, Owners.Alice, CancellationToken.None);
        Assert.Equal(0, await engine.Sessions.ReapAsync(CancellationToken.None));
        time.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal(1, await engine.Sessions.ReapAsync(CancellationToken.None));
        Assert.Single(engine.Sessions.List(Owners.Alice), s => s.Id == idle.Id);
        await Assert.ThrowsAsync<DockerContainerNotFoundException>(() => engine.DockerClient().Containers.InspectContainerAsync(DockerBackend.ContainerName(shortTtl.Id), CancellationToken.None));
        // Use keeps a session alive.
        time.Advance(TimeSpan.FromMinutes(4));
        await engine.Executions.ExecuteAsync(idle.Id, Owners.Alice, new ExecutionRequest { Code = "1" }, CancellationToken.None);
        time.Advance(TimeSpan.FromMinutes(4));
        Assert.Equal(0, await engine.Sessions.ReapAsync(CancellationToken.None));
        time.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(1, await engine.Sessions.ReapAsync(CancellationToken.None));
        Assert.Empty(engine.Sessions.List(Owners.Alice));
    }

    [Fact]
    public async Task Failed_create_leaves_nothing_behind_and_caps_hold()
    {
        var instance = "failtest-" + Guid.NewGuid().ToString("N")[..8];
        var engine = fixture.CreateEngine(o => { o.Engine.Images["ghost"] = "sandbox-ghost:does-not-exist"; o.Engine.MaxSessions = 2; o.Engine.InstanceId = instance; });
        var e = await Assert.ThrowsAsync<SandboxException>(() => engine.Sessions.CreateAsync(new SessionSpec { Image = "ghost" }, Owners.Alice, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.ImageNotFound, e.Code);
        var labelFilter = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{SandboxLabels.Instance}={instance}"] = true } };
        Assert.Empty(await engine.DockerClient().Containers.ListContainersAsync(new ContainersListParameters { All = true, Filters = labelFilter }, CancellationToken.None));
        var volumes = await engine.DockerClient().Volumes.ListAsync(new VolumesListParameters { Filters = labelFilter }, CancellationToken.None);
        Assert.Empty(volumes.Volumes ?? []);
        // The failed create did not use up a slot.
        await engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        await engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        var full = await Assert.ThrowsAsync<SandboxException>(() => engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.CapacityExceeded, full.Code);
    }

    [Fact]
    public async Task Killed_container_makes_the_session_lost_with_a_clear_error()
    {
        var engine = fixture.CreateEngine();
        var s = await engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        var running = engine.Executions.ExecuteAsync(s.Id, Owners.Alice, new ExecutionRequest { Code = "import time\ntime.sleep(30)" }, CancellationToken.None);
        await Task.Delay(500);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        await engine.DockerClient().Containers.KillContainerAsync(DockerBackend.ContainerName(s.Id), new ContainerKillParameters(), CancellationToken.None);
        var e = await Assert.ThrowsAsync<SandboxException>(() => running);
        Assert.Equal(SandboxErrorCodes.SessionLost, e.Code);
        // Noticed when the stream ends, not when the 30-second sleep would have: a third of it is a generous bound on a
        // shared, loaded machine (a full run measured 0.2–1.7 s).
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"took {sw.Elapsed}");
        Assert.Equal(SessionStatus.Lost, engine.Sessions.Get(s.Id, Owners.Alice).Status);
        var again = await Assert.ThrowsAsync<SandboxException>(() => engine.Executions.ExecuteAsync(s.Id, Owners.Alice, new ExecutionRequest { Code = "1" }, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.SessionLost, again.Code);
        await engine.Sessions.CloseAsync(s.Id, Owners.Alice, CancellationToken.None);
    }
}
