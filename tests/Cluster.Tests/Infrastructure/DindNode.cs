using Docker.DotNet;
using Docker.DotNet.Models;
using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Configurations;
using DotNet.Testcontainers.Containers;
using DotNet.Testcontainers.Networks;
using DotNet.Testcontainers.Volumes;

namespace Sandbox.Cluster.Tests.Infrastructure;

/// <summary>
/// A Docker engine of a test's own: a Docker-in-Docker container of <c>sandbox-node:latest</c> (Debian's docker.io and
/// runsc) on the test network, its <c>/var/lib/docker</c> on a volume so that a killed node comes back with its
/// images, containers and Swarm membership, as a machine would. Run with the flags shared/ENVIRONMENT.md found to work
/// without <c>--privileged</c>. The test talks to its engine at <c>tcp://ADDRESS:2375</c> on the test network only.
/// </summary>
public sealed class DindNode : IAsyncDisposable
{
    private readonly IContainer _container;
    private readonly IVolume _volume;
    private readonly IDockerClient _host;
    private readonly string _network;

    private DindNode(string name, IContainer container, IVolume volume, IDockerClient host, string network)
    {
        Name = name;
        _container = container;
        _volume = volume;
        _host = host;
        _network = network;
    }

    /// <summary>Its host name (a Swarm node's name, and the server's instance id in the stack).</summary>
    public string Name { get; }

    /// <summary>Its address on the test network.</summary>
    public string Address { get; private set; } = "";

    /// <summary>Its engine's endpoint.</summary>
    public Uri Endpoint => new($"tcp://{Address}:2375");

    /// <summary>A client of its engine (valid until the node stops).</summary>
    public IDockerClient Engine { get; private set; } = null!;

    public static async Task<DindNode> StartAsync(string name, INetwork network, string networkName, IDockerClient host)
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var volume = new VolumeBuilder().WithName($"sbx-test-node-{name}-{suffix}").WithLabel("dev.sandbox.test", "true").Build();
        await volume.CreateAsync();
        var container = new ContainerBuilder("sandbox-node:latest")
            .WithName($"sbx-test-node-{name}-{suffix}")
            .WithHostname(name)
            .WithNetwork(network)
            .WithNetworkAliases(name)
            .WithLabel("dev.sandbox.test", "true")
            .WithEnvironment("INSECURE_REGISTRIES", TestRegistry.InNetwork)
            .WithVolumeMount(volume, "/var/lib/docker")
            .WithBindMount("/sys/fs/cgroup", "/sys/fs/cgroup", AccessMode.ReadWrite)
            .WithCreateParameterModifier(p =>
            {
                p.HostConfig ??= new HostConfig();
                p.HostConfig.CapAdd = ["ALL"];
                p.HostConfig.CapDrop = ["SYS_RESOURCE"];
                p.HostConfig.SecurityOpt = ["seccomp=unconfined", "apparmor=unconfined"];
                // The API's form of --security-opt systempaths=unconfined: nothing of /proc or /sys masked or read-only.
                p.HostConfig.MaskedPaths = [];
                p.HostConfig.ReadonlyPaths = [];
                p.HostConfig.CgroupnsMode = "host";
                p.HostConfig.Memory = 6L << 30;
            })
            .Build();
        var node = new DindNode(name, container, volume, host, networkName);
        try
        {
            await container.StartAsync();
            await node.ConnectAsync();
            return node;
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }
    }

    /// <summary>Finds its address and waits until its engine answers.</summary>
    private async Task ConnectAsync()
    {
        var inspect = await _host.Containers.InspectContainerAsync(_container.Id);
        Address = inspect.NetworkSettings!.Networks![_network].IPAddress;
        Engine?.Dispose();
        Engine = new DockerClientBuilder().WithEndpoint(Endpoint).WithApiVersion(new System.Version(1, 41)).Build();
        for (var i = 0; i < 240; i++)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await Engine.System.PingAsync(cts.Token);
                return;
            }
            catch (Exception)
            {
                // Not up yet (Docker.DotNet reports a refused connection as an AggregateException).
                await Task.Delay(250);
            }
        }
        throw new InvalidOperationException($"node {Name}: its engine did not answer within 60 s");
    }

    /// <summary>Pulls an image from the test registry into this node's engine.</summary>
    public async Task PullAsync(string reference)
    {
        var errors = new PullErrors();
        var at = reference.LastIndexOf(':');
        await Engine.Images.CreateImageAsync(new ImagesCreateParameters { FromImage = reference[..at], Tag = reference[(at + 1)..] }, new AuthConfig(), errors);
        errors.ThrowIfAny($"node {Name}: pulling {reference}");
    }

    /// <summary>Kills the node at once (SIGKILL: everything in it stops, nothing is told).</summary>
    public async Task KillAsync()
    {
        await ThawAsync();
        await _host.Containers.KillContainerAsync(_container.Id, new ContainerKillParameters { Signal = "SIGKILL" });
    }

    /// <summary>Starts a killed node again (its engine comes back with what is on its disk).</summary>
    public async Task StartAgainAsync()
    {
        await _host.Containers.StartContainerAsync(_container.Id, new ContainerStartParameters());
        await ConnectAsync();
    }

    /// <summary>Stops and starts the node's engine (dockerd) inside it, as an engine restart on a machine; its
    /// containers stop with it.</summary>
    public async Task<string> StopEngineAsync() =>
        await Shell.CheckAsync("docker", ["exec", _container.Id, "sh", "-c", "kill $(cat /var/run/docker.pid) && for i in $(seq 1 300); do [ -e /proc/$(cat /var/run/docker.pid 2>/dev/null || echo 0) ] || exit 0; sleep 0.1; done; exit 1"],
            TimeSpan.FromSeconds(60));

    /// <summary>Starts the engine stopped by <see cref="StopEngineAsync"/> and waits for it.</summary>
    public async Task StartEngineAsync()
    {
        await Shell.CheckAsync("docker", ["exec", "-d", _container.Id, "sh", "-c", "exec /usr/local/bin/sandbox-node engine >>/var/log/dockerd.log 2>&1"], TimeSpan.FromSeconds(30));
        await ConnectAsync();
    }

    /// <summary>Thaws paused containers inside the node: a frozen process cannot be killed, and would keep the node's
    /// container from ever stopping.</summary>
    private async Task ThawAsync()
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            foreach (var c in await Engine.Containers.ListContainersAsync(new ContainersListParameters
                     {
                         All = true, Filters = new Dictionary<string, IDictionary<string, bool>> { ["status"] = new Dictionary<string, bool> { ["paused"] = true } },
                     }, cts.Token))
            {
                await Engine.Containers.UnpauseContainerAsync(c.ID, cts.Token);
            }
        }
        catch (Exception)
        {
            // The engine is not answering (stopped or gone): nothing of it is paused that it could thaw.
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Engine is not null)
        {
            await ThawAsync();
            Engine.Dispose();
        }
        await _container.DisposeAsync();
        await _volume.DeleteAsync();
        await _volume.DisposeAsync();
    }
}
