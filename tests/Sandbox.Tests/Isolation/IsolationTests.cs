using Sandbox.Docker;
using Sandbox.Execution;
using Sandbox.Isolation;
using Sandbox.Sessions;
using Sandbox.Tests.Common;

namespace Sandbox.Tests.Isolation;

[Collection(EngineCollection.Name)]
public sealed class IsolationTests(EngineFixture fixture)
{
    private static ExecutionRequest Bash(string code) => new() { Code = code, Language = "bash" };

    [Fact]
    public async Task Sessions_run_on_gvisor_by_default_and_in_the_container_tier_when_asked()
    {
        var engine = fixture.CreateEngine(o => o.Safety.Mode = global::Sandbox.Safety.SafetyMode.Off);
        var gvisor = await engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        var container = await engine.Sessions.CreateAsync(new SessionSpec { Isolation = IsolationTier.Container }, Owners.Alice, CancellationToken.None);
        Assert.Equal(IsolationTier.Gvisor, gvisor.Isolation);
        Assert.Equal(IsolationTier.Container, container.Isolation);

        // Inside, the kernel says which one it is: gVisor's own boot messages, or the host kernel (which hides its log).
        var inGvisor = await engine.Executions.ExecuteAsync(gvisor.Id, Owners.Alice, Bash("dmesg 2>&1 | head -1; uname -r"), CancellationToken.None);
        var inContainer = await engine.Executions.ExecuteAsync(container.Id, Owners.Alice, Bash("dmesg 2>&1 | head -1; uname -r"), CancellationToken.None);
        Assert.Contains("Starting gVisor", inGvisor.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("gVisor", inContainer.Stdout, StringComparison.Ordinal);

        // File metadata and terminals behave as on the host kernel (gVisor's 2022 release answered statx with "Invalid
        // argument", and never told epoll that a terminal's other side had hung up, which hung Codex's commands); git
        // status under gVisor is in the git and agent tests, whose image has git.
        const string probes =
            "cd /workspace && echo a > f && touch -d 2020-01-01 old && ls -l f old | awk '{print $1, $5, $NF}'; ls missing 2>&1 | sed 's/^ls: //'; " +
            "stat -c '%s %F' f; find . -newer old -name f; " +
            "python3 -c \"import os, select, subprocess\nm, s = os.openpty()\np = subprocess.Popen(['true'], stdout=s)\nos.close(s)\np.wait()\n" +
            "e = select.epoll(); e.register(m, select.EPOLLIN)\nprint('pty hang-up seen' if e.poll(5) else 'pty hang-up NOT seen')\"";
        var probed = await Task.WhenAll(new[] { gvisor, container }.Select(s => engine.Executions.ExecuteAsync(s.Id, Owners.Alice, Bash(probes), CancellationToken.None)));
        Assert.Equal("-rw-r--r-- 2 f\n-rw-r--r-- 0 old\ncannot access 'missing': No such file or directory\n2 regular file\n./f\npty hang-up seen\n", probed[1].Stdout);
        Assert.Equal(probed[1].Stdout, probed[0].Stdout);

        var docker = engine.DockerClient();
        Assert.Equal("runsc", (await docker.Containers.InspectContainerAsync(DockerBackend.ContainerName(gvisor.Id))).HostConfig!.Runtime);
        Assert.Equal("runc", (await docker.Containers.InspectContainerAsync(DockerBackend.ContainerName(container.Id))).HostConfig!.Runtime);

        // Stateful Python, a timeout that keeps state, and files through the archive API work the same under gVisor.
        await engine.Executions.ExecuteAsync(gvisor.Id, Owners.Alice, new ExecutionRequest { Code = "kept = 41" }, CancellationToken.None);
        var timedOut = await engine.Executions.ExecuteAsync(gvisor.Id, Owners.Alice,
            new ExecutionRequest { Code = "while True: pass", Timeout = TimeSpan.FromSeconds(1) }, CancellationToken.None);
        Assert.True(timedOut.TimedOut);
        Assert.Equal("42\n", (await engine.Executions.ExecuteAsync(gvisor.Id, Owners.Alice, new ExecutionRequest { Code = "print(kept + 1)" }, CancellationToken.None)).Stdout);
        using (var upload = new MemoryStream("from the host"u8.ToArray()))
        {
            await engine.Files.UploadAsync(gvisor.Id, Owners.Alice, "in/data.txt", upload, CancellationToken.None);
        }
        var read = await engine.Executions.ExecuteAsync(gvisor.Id, Owners.Alice,
            new ExecutionRequest { Code = "print(open('in/data.txt').read())\nwritten = open('out.txt', 'w').write('from gVisor')" }, CancellationToken.None);
        Assert.Equal("from the host\n", read.Stdout);
        Assert.Equal("from gVisor"u8.ToArray(), (await engine.Files.DownloadAsync(gvisor.Id, Owners.Alice, "out.txt", CancellationToken.None)).Content);

        // Pause and resume keep the interpreter.
        Assert.Equal(SessionStatus.Paused, (await engine.Sessions.PauseAsync(gvisor.Id, Owners.Alice, CancellationToken.None)).Status);
        Assert.Equal("41\n", (await engine.Executions.ExecuteAsync(gvisor.Id, Owners.Alice, new ExecutionRequest { Code = "print(kept)" }, CancellationToken.None)).Stdout);
    }

    [Fact]
    public async Task Without_the_runtime_a_named_tier_is_refused_and_the_default_falls_back_and_says_so()
    {
        var engine = fixture.CreateEngine(o => o.Isolation.GvisorRuntime = "no-such-runtime");
        var named = await Assert.ThrowsAsync<SandboxException>(() =>
            engine.Sessions.CreateAsync(new SessionSpec { Isolation = IsolationTier.Gvisor }, Owners.Alice, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.IsolationUnavailable, named.Code);
        Assert.Contains("no-such-runtime", named.Message, StringComparison.Ordinal);

        var fallback = await engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        Assert.Equal(IsolationTier.Container, fallback.Isolation);
        var health = await engine.Sessions.GetHealthAsync(CancellationToken.None);
        Assert.Equal(IsolationTier.Container, health.Isolation.Default);
        Assert.Equal(IsolationTier.Gvisor, health.Isolation.Configured);
        Assert.Contains("container tier instead", health.Isolation.Problem, StringComparison.Ordinal);
        Assert.True(health.Healthy);
    }

    [Fact]
    public async Task Required_isolation_refuses_rather_than_falls_back_and_health_says_why()
    {
        var engine = fixture.CreateEngine(o =>
        {
            o.Isolation.GvisorRuntime = "no-such-runtime";
            o.Isolation.Required = true;
        });
        var e = await Assert.ThrowsAsync<SandboxException>(() => engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.IsolationUnavailable, e.Code);
        var health = await engine.Sessions.GetHealthAsync(CancellationToken.None);
        Assert.False(health.Healthy);
        Assert.Contains(health.Problems, p => p.Contains("refused", StringComparison.Ordinal));
        // A caller may still name the tier the engine has.
        Assert.Equal(IsolationTier.Container,
            (await engine.Sessions.CreateAsync(new SessionSpec { Isolation = IsolationTier.Container }, Owners.Alice, CancellationToken.None)).Isolation);
    }

    [Fact]
    public async Task An_image_can_have_its_own_default_tier()
    {
        var engine = fixture.CreateEngine(o => o.Isolation.Images["python"] = IsolationTier.Container);
        Assert.Equal(IsolationTier.Container, (await engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None)).Isolation);
        Assert.Equal(IsolationTier.Gvisor,
            (await engine.Sessions.CreateAsync(new SessionSpec { Isolation = IsolationTier.Gvisor }, Owners.Alice, CancellationToken.None)).Isolation);
    }

    [Theory]
    [InlineData("gvisor", IsolationTier.Gvisor)]
    [InlineData(" Container ", IsolationTier.Container)]
    [InlineData(null, null)]
    [InlineData("", null)]
    public void Tier_names_parse(string? text, IsolationTier? expected) => Assert.Equal(expected, IsolationPolicy.Parse(text));

    [Fact]
    public void An_unknown_tier_name_is_invalid() =>
        Assert.Equal(SandboxErrorCodes.InvalidArgument, Assert.Throws<SandboxException>(() => IsolationPolicy.Parse("firecracker")).Code);
}
