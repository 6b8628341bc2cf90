using System.Net;
using Docker.DotNet;
using Docker.DotNet.Models;
using Sandbox.Backend;

namespace Sandbox.Docker;

/// <summary>
/// What the agent network and the egress network share: an internal network with no address on the host, a hardened
/// proxy container on it (our script over <c>python3 -c</c>, configured over its attached stdin), and moving a session
/// container onto such a network and off it again.
/// </summary>
internal static class ProxyPlumbing
{
    /// <summary>Creates an internal network whose members reach each other and nothing else.</summary>
    public static Task CreateNetworkAsync(IDockerClient client, string name, Dictionary<string, string> labels, CancellationToken ct) =>
        DockerCall.Run(() => client.Networks.CreateNetworkAsync(new NetworksCreateParameters
        {
            Name = name,
            Driver = "bridge",
            Internal = true,
            Attachable = false,
            // An internal network still routes to the host itself (the bridge's gateway address answers for every
            // host address, so any host service would be reachable). Without an address on the bridge the host is
            // not reachable at all; the members of the network (the session and its proxy) still reach each other.
            Options = new Dictionary<string, string> { ["com.docker.network.bridge.inhibit_ipv4"] = "true" },
            Labels = labels,
        }, ct));

    /// <summary>Creates a hardened proxy container on <paramref name="network"/> (reachable there as <paramref name="alias"/>),
    /// joins it to <paramref name="egressNetwork"/>, attaches to its stdin/stdout and starts it.</summary>
    public static async Task<MultiplexedStream> StartProxyAsync(IDockerClient client, string name, string image, string script,
        string network, string alias, string egressNetwork, IList<string>? extraHosts, Dictionary<string, string> labels, CancellationToken ct)
    {
        var created = await DockerCall.Run(() => client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Name = name,
            Image = image,
            Cmd = ["python3", "-I", "-u", "-c", script],
            Entrypoint = [],
            User = "65534:65534",
            WorkingDir = "/",
            Env = ["PYTHONDONTWRITEBYTECODE=1"],
            Labels = labels,
            AttachStdin = true, AttachStdout = true, AttachStderr = true, OpenStdin = true, StdinOnce = false, Tty = false,
            HostConfig = new HostConfig
            {
                Init = true,
                NetworkMode = network,
                Memory = 128L << 20, MemorySwap = 128L << 20, NanoCPUs = 500_000_000, PidsLimit = 128,
                ReadonlyRootfs = true, CapDrop = ["ALL"], SecurityOpt = ["no-new-privileges"],
                Tmpfs = new Dictionary<string, string> { ["/tmp"] = "rw,nosuid,nodev,size=8m" },
                ExtraHosts = extraHosts ?? [],
                LogConfig = new LogConfig { Type = "none" },
                RestartPolicy = new RestartPolicy { Name = RestartPolicyKind.No },
            },
            NetworkingConfig = new NetworkingConfig
            {
                EndpointsConfig = new Dictionary<string, EndpointSettings> { [network] = new EndpointSettings { Aliases = [alias] } },
            },
        }, ct)).ConfigureAwait(false);
        await DockerCall.Run(() => client.Networks.ConnectNetworkAsync(egressNetwork, new NetworkConnectParameters { Container = created.ID }, ct))
            .ConfigureAwait(false);
        var stream = await DockerCall.Run(() => client.Containers.AttachContainerAsync(created.ID, new ContainerAttachParameters
        {
            Stream = true, Stdin = true, Stdout = true, Stderr = true,
        }, ct)).ConfigureAwait(false);
        try
        {
            await DockerCall.Run(() => client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters(), ct)).ConfigureAwait(false);
            return stream;
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Removes a container; absent is fine.</summary>
    public static async Task RemoveContainerAsync(IDockerClient client, string name, CancellationToken ct)
    {
        try
        {
            await DockerCall.Run(() => client.Containers.RemoveContainerAsync(name, new ContainerRemoveParameters { Force = true }, ct)).ConfigureAwait(false);
        }
        catch (DockerContainerNotFoundException)
        {
        }
        catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.Conflict)
        {
        }
    }

    /// <summary>Deletes a network once its endpoints are gone; absent is fine.</summary>
    public static async Task DeleteNetworkAsync(IDockerClient client, string name, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await DockerCall.Run(() => client.Networks.DeleteNetworkAsync(name, ct)).ConfigureAwait(false);
                return;
            }
            catch (DockerNetworkNotFoundException)
            {
                return;
            }
            catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
                return;
            }
            catch (DockerApiException e) when (e.StatusCode is HttpStatusCode.Conflict or HttpStatusCode.Forbidden && attempt < 20)
            {
                // Endpoints still being torn down.
                await Task.Delay(100, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Moves a session container onto <paramref name="network"/>, leaving <c>none</c> if it is there.</summary>
    public static async Task JoinAsync(IDockerClient client, string containerId, string network, CancellationToken ct)
    {
        var networks = await NetworksOfAsync(client, containerId, ct).ConfigureAwait(false);
        if (networks.Contains("none"))
        {
            await DockerCall.Run(() => client.Networks.DisconnectNetworkAsync("none", new NetworkDisconnectParameters { Container = containerId, Force = true }, ct))
                .ConfigureAwait(false);
        }
        if (!networks.Contains(network))
        {
            await DockerCall.Run(() => client.Networks.ConnectNetworkAsync(network, new NetworkConnectParameters { Container = containerId }, ct))
                .ConfigureAwait(false);
        }
    }

    /// <summary>Takes a session container off <paramref name="network"/>; with no network left it goes back on <c>none</c>.
    /// An absent container is fine.</summary>
    public static async Task LeaveAsync(IDockerClient client, string containerId, string network, CancellationToken ct)
    {
        List<string> networks;
        try
        {
            networks = await NetworksOfAsync(client, containerId, ct).ConfigureAwait(false);
        }
        catch (DockerContainerNotFoundException)
        {
            return;
        }
        if (networks.Remove(network))
        {
            try
            {
                await DockerCall.Run(() => client.Networks.DisconnectNetworkAsync(network, new NetworkDisconnectParameters { Container = containerId, Force = true }, ct))
                    .ConfigureAwait(false);
            }
            catch (DockerApiException e) when (e.StatusCode is HttpStatusCode.NotFound)
            {
            }
        }
        if (networks.Count == 0)
        {
            await DockerCall.Run(() => client.Networks.ConnectNetworkAsync("none", new NetworkConnectParameters { Container = containerId }, ct)).ConfigureAwait(false);
        }
    }

    private static async Task<List<string>> NetworksOfAsync(IDockerClient client, string containerId, CancellationToken ct)
    {
        var inspect = await DockerCall.Run(() => client.Containers.InspectContainerAsync(containerId, ct)).ConfigureAwait(false);
        return inspect.NetworkSettings?.Networks?.Keys.ToList() ?? [];
    }

    /// <summary>Our networks with the given role, as managed resources (for the orphan sweep).</summary>
    public static async Task<IReadOnlyList<ManagedResource>> ListNetworksAsync(IDockerClient client, string role, CancellationToken ct)
    {
        var networks = await DockerCall.Run(() => client.Networks.ListNetworksAsync(new NetworksListParameters
        {
            Filters = new Dictionary<string, IDictionary<string, bool>>
            {
                ["label"] = SandboxLabels.Selectors(role).ToDictionary(s => s, _ => true),
            },
        }, ct)).ConfigureAwait(false);
        return networks.Select(n => ManagedResource.FromLabels(n.Labels)).OfType<ManagedResource>().ToList();
    }
}
