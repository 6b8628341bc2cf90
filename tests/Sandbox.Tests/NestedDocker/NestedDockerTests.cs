using System.Net;
using System.Net.Sockets;
using Docker.DotNet.Models;
using Sandbox.Backend;
using Sandbox.Execution;
using Sandbox.Isolation;
using Sandbox.Sessions;
using Sandbox.Tests.Common;

namespace Sandbox.Tests.NestedDocker;

/// <summary>A session's own Docker engine against the real engine, under gVisor: docker run of an image from the host's
/// engine, a build, a compose stack whose services find each other by name, a service reached from the session, and
/// the red-team checks (the host's engine, processes, files and network out of reach; disk and memory held at the
/// session's limits; nothing left on the host's engine after close).</summary>
[Collection(EngineCollection.Name)]
public sealed class NestedDockerTests(EngineFixture fixture)
{
    private const string Busybox = "sandbox-test-busybox:latest";

    private static async Task<ExecutionResult> Bash(SandboxEngine engine, string session, string script, int timeoutSeconds = 120) =>
        await engine.Executions.ExecuteAsync(session, Owners.Alice,
            new ExecutionRequest { Code = script, Language = "bash", Timeout = TimeSpan.FromSeconds(timeoutSeconds) }, CancellationToken.None);

    private SandboxEngine Engine() => fixture.CreateEngine(o =>
    {
        o.Pool.Size = 0;
        o.Docker.AllowedImages = ["sandbox-test-*"];
        o.Docker.StorageMb = 512;
    });

    [Fact]
    public async Task Docker_true_is_refused_outside_gvisor_and_outside_the_allowed_images()
    {
        var engine = Engine();
        async Task<string> Refused(SessionSpec spec) =>
            (await Assert.ThrowsAsync<SandboxException>(() => engine.Sessions.CreateAsync(spec, Owners.Alice, CancellationToken.None))).Code;

        Assert.Equal(SandboxErrorCodes.DockerUnavailable, await Refused(new SessionSpec { Docker = true, Isolation = IsolationTier.Container }));
        Assert.Equal(SandboxErrorCodes.Forbidden, await Refused(new SessionSpec { Docker = true, DockerImages = ["sandbox-agent:latest"] }));
        Assert.Equal(SandboxErrorCodes.InvalidArgument, await Refused(new SessionSpec { DockerImages = [Busybox] }));
        Assert.Equal(SandboxErrorCodes.InvalidArgument, await Refused(new SessionSpec { Docker = true, Limits = new LimitsRequest { MemoryMb = 512 } }));
        // An image without an engine in it: the session is not made, and says why.
        var noEngine = await Assert.ThrowsAsync<SandboxException>(() => engine.Sessions.CreateAsync(
            new SessionSpec { Docker = true, Image = "python" }, Owners.Alice, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.DockerUnavailable, noEngine.Code);
        Assert.Contains("dockerd", noEngine.Message, StringComparison.Ordinal);
        Assert.Empty(engine.Sessions.List(Owners.Alice));
    }

    [Fact]
    public async Task A_session_runs_builds_and_composes_containers_that_stay_behind_its_wall_and_limits()
    {
        var engine = Engine();
        var docker = engine.DockerClient();
        var info = await engine.Sessions.CreateAsync(new SessionSpec { Docker = true, DockerImages = [Busybox] }, Owners.Alice, CancellationToken.None);
        var id = info.Id;
        var marker = Path.Combine(Path.GetTempPath(), "sandbox-host-marker-" + Guid.NewGuid().ToString("N"));
        await File.WriteAllTextAsync(marker, "host");
        // A host process with a name of its own, which no process of the sandbox can see.
        var hostSleep = "3600." + Random.Shared.Next(100000, 999999).ToString(System.Globalization.CultureInfo.InvariantCulture);
        using var hostProcess = System.Diagnostics.Process.Start("sleep", hostSleep);
        using var hostListener = new TcpListener(IPAddress.Any, 0);
        hostListener.Start();
        var hostPort = ((IPEndPoint)hostListener.LocalEndpoint).Port;
        // The host as the default bridge sees it (docker0's address), which a container with a network would reach.
        var bridge = System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces().FirstOrDefault(n => n.Name == "docker0")?
            .GetIPProperties().UnicastAddresses.FirstOrDefault(a => a.Address.AddressFamily == AddressFamily.InterNetwork)?.Address.ToString() ?? "172.17.0.1";
        try
        {
            Assert.Equal(IsolationTier.Gvisor, info.Isolation);
            Assert.NotNull(info.Docker);
            Assert.Equal([Busybox], info.Docker!.Images);
            Assert.Equal(512, info.Docker.StorageMb);

            // docker run of an image from the host's engine, with no registry.
            var run = await Bash(engine, id, $"docker run --rm {Busybox} echo hi 2>/dev/null");
            Assert.True(run.Stdout == "hi\n", run.Stdout + run.Stderr);

            // A two-line Dockerfile builds, and its image runs.
            var build = await Bash(engine, id, $"mkdir -p /workspace/app && cd /workspace/app && printf 'FROM {Busybox}\\nRUN echo built > /built.txt\\n' > Dockerfile " +
                "&& docker build -q -t mine . >/dev/null && docker run --rm mine cat /built.txt 2>/dev/null");
            Assert.True(build.ExitCode == 0, build.Stdout + build.Stderr);
            Assert.Equal("built\n", build.Stdout);

            // A compose file with two services: one reaches the other by name; a process of the session reaches it by port.
            var compose = await Bash(engine, id, $$"""
                mkdir -p /workspace/stack && cd /workspace/stack
                cat > compose.yaml <<'EOF'
                services:
                  web:
                    image: {{Busybox}}
                    network_mode: host
                    command: ["sh", "-c", "mkdir -p /www && echo hello-from-web > /www/index.html && httpd -f -p 18080 -h /www"]
                  client:
                    image: {{Busybox}}
                    network_mode: host
                    depends_on: [web]
                    command: ["sh", "-c", "for i in $$(seq 1 40); do wget -qO- http://web:18080/ && break; sleep 0.5; done; sleep 600"]
                EOF
                docker-compose up -d >/dev/null 2>&1 || docker-compose up -d
                for i in $(seq 1 60); do docker-compose logs client 2>/dev/null | grep -q hello-from-web && break; sleep 0.5; done
                docker-compose logs client 2>/dev/null | grep -o hello-from-web | head -1
                python3 -c "import urllib.request; print(urllib.request.urlopen('http://services:18080/', timeout=10).read().decode().strip())"
                """, 180);
            Assert.True(compose.ExitCode == 0, compose.Stdout + compose.Stderr);
            Assert.Equal("hello-from-web\nhello-from-web\n", compose.Stdout);

            // Red team. The host's engine socket is not there; a nested container (privileged or not) sees the session's
            // processes, files and network, not the host's.
            var wall = await Bash(engine, id, $"""
                for s in /var/run/docker.sock /run/docker.sock; do [ -S $s ] && echo "host socket $s"; done
                docker run --rm --pid host {Busybox} ps 2>/dev/null | grep -c '[s]leep {hostSleep}' || true
                docker run --rm -v /:/host {Busybox} sh -c 'cat /host{marker} 2>&1 || echo no-host-file; ls /host/workspace/app' 2>/dev/null
                docker run --rm --privileged -v /:/host {Busybox} sh -c 'cat /host{marker}' >/dev/null 2>&1 && echo privileged-saw-host-file
                docker run --rm {Busybox} sh -c 'echo x | nc -w 3 {bridge} {hostPort} && echo reached-host || echo host-unreachable' 2>/dev/null
                """);
            Assert.DoesNotContain("host socket", wall.Stdout, StringComparison.Ordinal);
            Assert.DoesNotContain("privileged-saw-host-file", wall.Stdout, StringComparison.Ordinal);
            Assert.Equal(["0", "cat: can't open '/host" + marker + "': No such file or directory", "no-host-file", "Dockerfile", "host-unreachable"],
                wall.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));

            // A nested container that fills its disk meets the engine's storage bound; one that takes too much memory is
            // stopped; the session answers after both, its files intact.
            var disk = await Bash(engine, id, $"docker run --rm {Busybox} dd if=/dev/zero of=/fill bs=1M count=700 2>&1 | grep -o 'No space left on device' | head -1");
            Assert.Equal("No space left on device\n", disk.Stdout);
            var memory = await Bash(engine, id, $"docker run --rm {Busybox} sh -c 'dd if=/dev/urandom bs=1300M count=1 iflag=fullblock >/dev/null' >/dev/null 2>&1; echo exit=$?");
            Assert.Equal("exit=137\n", memory.Stdout);
            var after = await Bash(engine, id, "cat /workspace/app/Dockerfile | head -1; docker ps -q | wc -l");
            if ($"FROM {Busybox}\n2\n" != after.Stdout)
            {
                var running = await Bash(engine, id, "docker ps --no-trunc --format '{{.Command}} {{.Status}}' 2>&1; ps -eo pid,user,rss,comm 2>&1");
                Assert.Fail($"{memory.Stdout}|{after.ExitCode}|{after.Stdout}|{after.Stderr}|{after.Error}|{running.Stdout}");
            }
            Assert.Equal(SessionStatus.Ready, engine.Sessions.Get(id, Owners.Alice).Status);

            // Another allowed image loads later; an image that is not allowed does not.
            Assert.Equal(SandboxErrorCodes.Forbidden, (await Assert.ThrowsAsync<SandboxException>(() =>
                engine.Docker.LoadImageAsync(id, Owners.Alice, "sandbox-agent:latest", CancellationToken.None))).Code);
            Assert.Equal(SandboxErrorCodes.SessionNotFound, (await Assert.ThrowsAsync<SandboxException>(() =>
                engine.Docker.LoadImageAsync(id, Owners.Bob, Busybox, CancellationToken.None))).Code);
            var tag = "t" + Guid.NewGuid().ToString("N")[..12];
            await docker.Images.TagImageAsync(Busybox, new ImageTagParameters { RepositoryName = "sandbox-test-busybox", Tag = tag }, CancellationToken.None);
            var again = "sandbox-test-busybox:" + tag;
            try
            {
                Assert.Equal([Busybox, again], (await engine.Docker.LoadImageAsync(id, Owners.Alice, again, CancellationToken.None)).Docker!.Images);
                Assert.Equal("again\n", (await Bash(engine, id, $"docker run --rm {again} echo again 2>/dev/null")).Stdout);
            }
            finally
            {
                await docker.Images.DeleteImageAsync(again, new ImageDeleteParameters(), CancellationToken.None);
            }
        }
        finally
        {
            File.Delete(marker);
            hostProcess.Kill();
            await engine.Sessions.CloseAsync(id, Owners.Alice, CancellationToken.None);
        }

        // Nothing of it is left on the host's engine: no container, volume or image it made.
        var label = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{SandboxLabels.SessionId}={id}"] = true } };
        Assert.Empty(await docker.Containers.ListContainersAsync(new ContainersListParameters { All = true, Filters = label }, CancellationToken.None));
        Assert.Empty((await docker.Volumes.ListAsync(new VolumesListParameters { Filters = label }, CancellationToken.None)).Volumes ?? []);
        Assert.DoesNotContain(await docker.Images.ListImagesAsync(new ImagesListParameters { All = true }, CancellationToken.None),
            i => (i.RepoTags ?? []).Any(t => t.StartsWith("mine:", StringComparison.Ordinal)));
    }
}
