using Sandbox.Backend;
using System.Text;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.DependencyInjection;
using Sandbox.Docker;
using Sandbox.Sessions;

namespace Sandbox.Server.Tests.RedTeam;

/// <summary>
/// A session cannot reach an address on a network this test creates, while a container on that network can (the
/// positive control proves the target is real). Traffic only ever targets the test's own network.
/// </summary>
public abstract class NetworkIsolationTests(RedTeamFixture server)
{
    [Fact]
    public async Task Session_cannot_reach_a_listener_on_a_test_network()
    {
        var client = server.App.Services.GetRequiredService<SandboxEngine>().DockerClient();
        var name = "sandbox-redteam-" + Guid.NewGuid().ToString("N")[..8];
        var labels = new Dictionary<string, string> { [SandboxLabels.Product] = SandboxLabels.ProductValue, [SandboxLabels.Instance] = server.InstanceId, [SandboxLabels.SessionId] = name };
        var network = await client.Networks.CreateNetworkAsync(new NetworksCreateParameters { Name = name, Labels = labels, Internal = true });
        var started = new List<string>();
        try
        {
            var listener = await client.Containers.CreateContainerAsync(new CreateContainerParameters
            {
                Name = name + "-listener", Image = "sandbox-python:latest", Labels = labels, User = "1000:1000",
                Cmd = ["python3", "-c", "import socket\ns = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('0.0.0.0', 8000))\ns.listen()\nwhile True:\n    c, _ = s.accept(); c.sendall(b'hello'); c.close()"],
                HostConfig = new HostConfig { NetworkMode = name, Memory = 64L << 20, ReadonlyRootfs = true, CapDrop = ["ALL"] },
            });
            started.Add(listener.ID);
            await client.Containers.StartContainerAsync(listener.ID, new ContainerStartParameters());
            var ip = (await client.Containers.InspectContainerAsync(listener.ID)).NetworkSettings?.Networks?[name]?.IPAddress;
            Assert.False(string.IsNullOrEmpty(ip));
            var probe = $"import socket, time\nfor i in range(20):\n    try:\n        print(socket.create_connection(('{ip}', 8000), timeout=2).recv(5).decode()); break\n    except OSError as e:\n        err = e; time.sleep(0.2)\nelse:\n    print('unreachable', type(err).__name__)";

            // Positive control: a container on the same network reaches the listener.
            var control = await client.Containers.CreateContainerAsync(new CreateContainerParameters
            {
                Name = name + "-control", Image = "sandbox-python:latest", Labels = labels, User = "1000:1000", Cmd = ["python3", "-c", probe],
                AttachStdout = true, AttachStderr = true, HostConfig = new HostConfig { NetworkMode = name, Memory = 64L << 20 },
            });
            started.Add(control.ID);
            using (var stream = await client.Containers.AttachContainerAsync(control.ID, new ContainerAttachParameters { Stream = true, Stdout = true, Stderr = true }))
            {
                await client.Containers.StartContainerAsync(control.ID, new ContainerStartParameters());
                var (stdout, stderr) = await stream.ReadOutputToEndAsync(CancellationToken.None);
                Assert.True(stdout.Trim() == "hello", $"control could not reach the listener: {stdout} {stderr}");
            }

            // The session, given the same code and every safety rule allowed, cannot.
            var (_, result) = await HostileCodeTests.Attack(server, probe, timeout: 20);
            Assert.StartsWith("unreachable", result.Stdout);
        }
        finally
        {
            foreach (var id in started)
            {
                await client.Containers.RemoveContainerAsync(id, new ContainerRemoveParameters { Force = true });
            }
            await client.Networks.DeleteNetworkAsync(network.ID);
        }
    }
}

[Collection(GvisorRedTeamCollection.Name)]
public sealed class NetworkIsolationTestsOnGvisor(GvisorRedTeamFixture server) : NetworkIsolationTests(server);

[Collection(ContainerRedTeamCollection.Name)]
public sealed class NetworkIsolationTestsInContainer(ContainerRedTeamFixture server) : NetworkIsolationTests(server);
