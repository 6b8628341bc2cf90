using System.Net.Http.Json;
using System.Text.Json;
using Docker.DotNet;
using Docker.DotNet.Models;
using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Networks;
using Sandbox.Testing;

namespace Sandbox.Cluster.Tests.Infrastructure;

/// <summary>
/// A three-node Docker Swarm on this machine, running the product as an operator would: a registry the test starts
/// serves the server, PostgreSQL and python images (the server image built from this checkout), and
/// <c>docker stack deploy -c deploy/cluster/stack.yaml</c> runs a server on every node and PostgreSQL on the manager.
/// Only the test network's addresses are used. The nodes and registry are the test's own and removed afterwards.
/// </summary>
public sealed class SwarmCluster : IAsyncLifetime
{
    public const string Stack = "sandbox";
    public static readonly TimeSpan NodeTimeout = TimeSpan.FromSeconds(5);

    public IDockerClient Host { get; } = new DockerClientBuilder().WithEndpoint(new Uri(Sandbox.Docker.DockerBackend.ResolveEndpoint(null))).WithApiVersion(new System.Version(1, 41)).Build();
    public INetwork Network { get; private set; } = null!;
    public string NetworkName { get; } = "sbx-test-swarm-" + Guid.NewGuid().ToString("N")[..8];
    public TestRegistry Registry { get; private set; } = null!;
    public List<DindNode> Nodes { get; } = [];
    private readonly List<DindNode> _extra = [];

    /// <summary>A node's server.</summary>
    public Uri Server(DindNode node) => new($"http://{node.Address}:8080");

    public async Task InitializeAsync()
    {
        foreach (var image in new[] { "sandbox-node:latest", "sandbox-registry:latest", "sandbox-postgres:latest", "sandbox-python:latest" })
        {
            try
            {
                await Host.Images.InspectImageAsync(image);
            }
            catch (DockerImageNotFoundException)
            {
                throw new InvalidOperationException($"{image} is missing: run deploy/build-images.sh cluster (deploy/test.sh does).");
            }
        }
        // The server image from this checkout (cached layers make this quick when nothing changed).
        await Shell.CheckAsync(Path.Combine(RepoPaths.Root, "deploy", "build-images.sh"), ["compose"], TimeSpan.FromMinutes(10), workingDirectory: RepoPaths.Root);
        await Shell.CheckAsync("docker-compose", ["build", "sandbox"], TimeSpan.FromMinutes(15), workingDirectory: RepoPaths.Root);

        Network = new NetworkBuilder().WithName(NetworkName).WithLabel("dev.sandbox.test", "true").Build();
        await Network.CreateAsync();
        Registry = await TestRegistry.StartAsync(Network, Host);
        var starting = new[] { "node1", "node2", "node3" }.Select(n => DindNode.StartAsync(n, Network, NetworkName, Host)).ToList();
        foreach (var image in new[] { "sandbox-server", "sandbox-postgres", "sandbox-python" })
        {
            await Registry.PushAsync(image);
        }
        Exception? failure = null;
        foreach (var start in starting)
        {
            try
            {
                Nodes.Add(await start); // the nodes that did start are kept so they are removed
            }
            catch (Exception e)
            {
                failure ??= e;
            }
        }
        if (failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
        }

        // The swarm: node1 manages, the others join.
        var manager = Nodes[0];
        await manager.Engine.Swarm.InitSwarmAsync(new SwarmInitParameters { ListenAddr = "0.0.0.0:2377", AdvertiseAddr = manager.Address });
        var swarm = await manager.Engine.Swarm.InspectSwarmAsync();
        foreach (var node in Nodes.Skip(1))
        {
            await node.Engine.Swarm.JoinSwarmAsync(new SwarmJoinParameters
            {
                ListenAddr = "0.0.0.0:2377", AdvertiseAddr = node.Address, RemoteAddrs = [manager.Address + ":2377"], JoinToken = swarm.JoinTokens.Worker,
            });
        }
        // Session images are pulled on each node beforehand (the stack file says so); the server's image Swarm pulls.
        await Task.WhenAll(Nodes.Select(n => n.PullAsync(TestRegistry.Reference("sandbox-python"))));

        var password = "pg-" + Guid.NewGuid().ToString("N");
        var key = new byte[32];
        System.Security.Cryptography.RandomNumberGenerator.Fill(key);
        foreach (var (name, data) in new[]
                 {
                     ("sandbox_pg_password", System.Text.Encoding.UTF8.GetBytes(password)),
                     ("Sandbox__Durability__ConnectionString", System.Text.Encoding.UTF8.GetBytes($"Host=postgres;Username=sandbox;Password={password};Database=sandbox")),
                     ("sandbox_link_key", key),
                 })
        {
            await manager.Engine.Secrets.CreateAsync(new SwarmSecretSpec { Name = name, Data = data });
        }
        await Shell.CheckAsync("docker", ["-H", manager.Endpoint.ToString(), "stack", "deploy", "-c", "deploy/cluster/stack.yaml", Stack], TimeSpan.FromMinutes(2),
            new Dictionary<string, string>
            {
                ["DOCKER_API_VERSION"] = "1.41", ["SANDBOX_REGISTRY"] = TestRegistry.InNetwork, ["SANDBOX_POOL_SIZE"] = "0",
                ["SANDBOX_NODE_TIMEOUT"] = NodeTimeout.ToString(),
            }, RepoPaths.Root);
        await WaitForNodesAsync(Nodes, TimeSpan.FromMinutes(4));
    }

    /// <summary>Waits until every given node's server answers and sees all of <see cref="Nodes"/> alive.</summary>
    public async Task WaitForNodesAsync(IEnumerable<DindNode> nodes, TimeSpan limit)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + limit;
        foreach (var node in nodes)
        {
            string last = "";
            while (true)
            {
                try
                {
                    using var doc = JsonDocument.Parse(await http.GetStringAsync(new Uri(Server(node), "/api/cluster")));
                    var alive = doc.RootElement.GetProperty("nodes").EnumerateArray().Count(n => n.GetProperty("alive").GetBoolean());
                    if (alive == Nodes.Count)
                    {
                        break;
                    }
                    last = $"{alive} of {Nodes.Count} nodes alive";
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException)
                {
                    last = e.Message;
                }
                if (DateTime.UtcNow > deadline)
                {
                    var services = await Shell.RunAsync("docker", ["-H", Nodes[0].Endpoint.ToString(), "service", "ps", "--no-trunc", $"{Stack}_server"], TimeSpan.FromSeconds(30),
                        new Dictionary<string, string> { ["DOCKER_API_VERSION"] = "1.41" });
                    throw new InvalidOperationException($"the server on {node.Name} is not ready: {last}\n{services.Output}");
                }
                await Task.Delay(500);
            }
        }
    }

    /// <summary>An extra node on the same network and registry, outside the swarm (for tests that break an engine).</summary>
    public async Task<DindNode> AddLooseNodeAsync(string name)
    {
        var node = await DindNode.StartAsync(name, Network, NetworkName, Host);
        _extra.Add(node);
        await node.PullAsync(TestRegistry.Reference("sandbox-python"));
        return node;
    }

    public async Task DisposeAsync()
    {
        // xunit disposes the fixture even when its start failed: whatever was made so far goes.
        foreach (var node in Nodes.Concat(_extra))
        {
            await node.DisposeAsync();
        }
        if (Registry is not null)
        {
            await Registry.DisposeAsync();
        }
        if (Network is not null)
        {
            await Network.DeleteAsync();
            await Network.DisposeAsync();
        }
        Host.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class SwarmCollection : ICollectionFixture<SwarmCluster>
{
    public const string Name = "swarm";
}
