using Sandbox.Backend;
using System.Text;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Sandbox.Docker;
using Sandbox.Tests.Common;

namespace Sandbox.Tests.Docker;

/// <summary>The foundation check: the image runs code in a hardened container through Docker.DotNet.</summary>
[Collection(EngineCollection.Name)]
public sealed class HardenedContainerTests(EngineFixture fixture)
{
    [Fact]
    public async Task Python_image_runs_code_in_a_hardened_container()
    {
        using var backend = new DockerBackend(Options.Create(new SandboxOptions()), NullLogger<DockerBackend>.Instance);
        var client = backend.Client;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var created = await client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Image = "sandbox-python:latest",
            Cmd = ["python3", "-c", "import os; print(6*7); print(os.getuid())"],
            User = "1000:1000",
            AttachStdout = true,
            AttachStderr = true,
            Labels = new Dictionary<string, string>
            {
                [SandboxLabels.Product] = SandboxLabels.ProductValue, [SandboxLabels.Instance] = fixture.InstanceId,
                [SandboxLabels.SessionId] = "foundation-test",
            },
            HostConfig = new HostConfig
            {
                NetworkMode = "none", Memory = 256L << 20, MemorySwap = 256L << 20, PidsLimit = 64, NanoCPUs = 1_000_000_000,
                ReadonlyRootfs = true, CapDrop = ["ALL"], SecurityOpt = ["no-new-privileges"],
                Tmpfs = new Dictionary<string, string> { ["/tmp"] = "rw,nosuid,size=64m" },
            },
        }, cts.Token);
        try
        {
            using var stream = await client.Containers.AttachContainerAsync(created.ID,
                new ContainerAttachParameters { Stream = true, Stdout = true, Stderr = true }, cts.Token);
            await client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters(), cts.Token);
            var (stdout, stderr) = await stream.ReadOutputToEndAsync(cts.Token);
            var exit = await client.Containers.WaitContainerAsync(created.ID, cts.Token);
            Assert.Equal("", stderr);
            Assert.Equal("42\n1000\n", stdout);
            Assert.Equal(0, exit.StatusCode);
            var inspect = await client.Containers.InspectContainerAsync(created.ID, cts.Token);
            Assert.True(inspect.HostConfig?.ReadonlyRootfs);
            Assert.Equal("none", inspect.HostConfig?.NetworkMode);
            Assert.Contains("ALL", inspect.HostConfig?.CapDrop ?? []);
        }
        finally
        {
            await client.Containers.RemoveContainerAsync(created.ID, new ContainerRemoveParameters { Force = true }, CancellationToken.None);
        }
        await Assert.ThrowsAsync<DockerContainerNotFoundException>(() => client.Containers.InspectContainerAsync(created.ID, CancellationToken.None));
    }
}
