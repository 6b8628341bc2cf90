using System.Globalization;
using Docker.DotNet;
using Docker.DotNet.Models;
using Sandbox.Backend;
using Sandbox.Docker;
using Sandbox.Sessions;
using Sandbox.Tests.Common;

namespace Sandbox.Tests.Durability;

[Collection(EngineCollection.Name)]
public sealed class OrphanSweeperTests(EngineFixture fixture)
{
    [Fact]
    public async Task A_crashed_instances_sandboxes_and_agent_networks_are_removed_and_other_instances_are_left_alone()
    {
        var instance = "test-orphans-" + Guid.NewGuid().ToString("N")[..8];
        // The "crashed" server: its session stays, but the next process of the same instance does not know it.
        var crashed = fixture.CreateEngine(o => o.Engine.InstanceId = instance);
        var s = await crashed.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        var client = crashed.DockerClient();
        var ghost = "orphan-" + Guid.NewGuid().ToString("N")[..8];
        var network = DockerAgentNetwork.AgentNetworkName(ghost);
        await client.Networks.CreateNetworkAsync(new NetworksCreateParameters
        {
            Name = network, Internal = true,
            Labels = new Dictionary<string, string>
            {
                [SandboxLabels.Product] = SandboxLabels.ProductValue, [SandboxLabels.Instance] = instance,
                [SandboxLabels.SessionId] = ghost, [SandboxLabels.Role] = SandboxLabels.RoleAgentNetwork,
                [SandboxLabels.CreatedAt] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture),
            },
        });
        try
        {
            // Another instance's fresh resources are not its to remove.
            var neighbour = fixture.CreateEngine(o => o.Engine.InstanceId = instance + "-other");
            await neighbour.Orphans.SweepAsync(CancellationToken.None);
            Assert.NotNull(await client.Containers.InspectContainerAsync(DockerBackend.ContainerName(s.Id)));
            Assert.Contains(await client.Networks.ListNetworksAsync(new NetworksListParameters()), n => n.Name == network);

            // The restarted process of the crashed instance removes both.
            var restarted = fixture.CreateEngine(o => o.Engine.InstanceId = instance);
            Assert.True(await restarted.Orphans.SweepAsync(CancellationToken.None) >= 2);
            await Assert.ThrowsAsync<DockerContainerNotFoundException>(() => client.Containers.InspectContainerAsync(DockerBackend.ContainerName(s.Id)));
            Assert.DoesNotContain(await client.Networks.ListNetworksAsync(new NetworksListParameters()), n => n.Name == network);
            var volumes = await client.Volumes.ListAsync(CancellationToken.None);
            Assert.DoesNotContain(volumes.Volumes ?? [], v => v.Name == DockerBackend.ContainerName(s.Id));

            // The live engine that held the session now finds it lost, not hanging.
            for (var i = 0; i < 100 && crashed.Sessions.Get(s.Id, Owners.Alice).Status != SessionStatus.Lost; i++)
            {
                await Task.Delay(100);
            }
            var e = await Assert.ThrowsAsync<SandboxException>(() => crashed.Executions.ExecuteAsync(s.Id, Owners.Alice,
                new Sandbox.Execution.ExecutionRequest { Code = "1" }, CancellationToken.None));
            Assert.Equal(SandboxErrorCodes.SessionLost, e.Code);
        }
        finally
        {
            try
            {
                await client.Networks.DeleteNetworkAsync(network);
            }
            catch (DockerNetworkNotFoundException)
            {
            }
        }
    }
}
