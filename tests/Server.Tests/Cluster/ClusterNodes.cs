using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using ModelContextProtocol.Client;
using Sandbox.Backend;
using Sandbox.Server.Hosting;

namespace Sandbox.Server.Tests.Cluster;

/// <summary>
/// Servers of one cluster in this test process: each on its own loopback port, instance id and data directory, all
/// sharing one PostgreSQL database and one link key, all driving this machine's engine (each only its own containers,
/// found by its instance label). Fast heartbeats so a silent node is noticed in seconds.
/// </summary>
public sealed class ClusterNodes : IAsyncDisposable
{
    private readonly string _connection;
    private readonly string _root = Directory.CreateTempSubdirectory("sandbox-cluster-").FullName;
    private readonly Dictionary<string, (WebApplication? App, int Port)> _nodes = new(StringComparer.Ordinal);
    private readonly string _prefix = "srvtest-cl-" + Guid.NewGuid().ToString("N")[..6];

    public ClusterNodes(string connection) => _connection = connection;

    public static readonly TimeSpan NodeTimeout = TimeSpan.FromSeconds(3);

    /// <summary>The instance id (node id) of a node by its short name.</summary>
    public string Id(string name) => $"{_prefix}-{name}";

    public Uri Url(string name) => new($"http://127.0.0.1:{_nodes[name].Port}");

    public IEnumerable<string> InstanceIds => _nodes.Keys.Select(Id);

    /// <summary>Starts (or starts again, same id, port and data) the node <paramref name="name"/>.</summary>
    public async Task StartAsync(string name)
    {
        var port = _nodes.TryGetValue(name, out var known) ? known.Port : FreePort();
        var data = Path.Combine(_root, name);
        Directory.CreateDirectory(data);
        var app = ServerProgram.BuildHttp(
        [
            "--urls", $"http://127.0.0.1:{port}",
            $"--Sandbox:InstanceId={Id(name)}",
            $"--Sandbox:Durability:DataDirectory={data}",
            "--Sandbox:Durability:Store=Postgres",
            $"--Sandbox:Durability:ConnectionString={_connection}",
            "--Sandbox:Cluster:Enabled=true",
            $"--Sandbox:Cluster:AdvertiseUrl=http://127.0.0.1:{port}",
            "--Sandbox:Cluster:HeartbeatInterval=00:00:00.5",
            $"--Sandbox:Cluster:NodeTimeout={NodeTimeout}",
            $"--Sandbox:Links:KeyFile={Path.Combine(_root, "link-key")}",
            "--Sandbox:Pool:Size=0",
            "--Sandbox:Isolation:Default=Container",
            "--Serilog:MinimumLevel:Default=Warning",
        ]);
        await app.StartAsync();
        _nodes[name] = (app, port);
    }

    /// <summary>Stops a node (it keeps its sandboxes, as a server does at shutdown, and its heartbeat ends).</summary>
    public async Task StopAsync(string name)
    {
        var (app, port) = _nodes[name];
        if (app is not null)
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
        _nodes[name] = (null, port);
    }

    public HttpClient Http(string name) => new() { BaseAddress = Url(name), Timeout = TimeSpan.FromSeconds(120) };

    public Task<McpClient> McpAsync(string name) => McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
    {
        Endpoint = new Uri(Url(name), "/mcp"), TransportMode = HttpTransportMode.StreamableHttp,
    }));

    /// <summary>Containers of a node (by its instance label), running or not.</summary>
    public static async Task<IList<global::Docker.DotNet.Models.ContainerListResponse>> ContainersOfAsync(string instance)
    {
        using var backend = new Sandbox.Docker.DockerBackend(Microsoft.Extensions.Options.Options.Create(new SandboxOptions { InstanceId = instance }),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<Sandbox.Docker.DockerBackend>.Instance);
        return await backend.Client.Containers.ListContainersAsync(new global::Docker.DotNet.Models.ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{SandboxLabels.Instance}={instance}"] = true } },
        });
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var name in _nodes.Keys.ToList())
        {
            if (_nodes[name].App is { } app)
            {
                var engine = app.Services.GetRequiredService<SandboxEngine>();
                foreach (var s in engine.Sessions.ListAll())
                {
                    try
                    {
                        await engine.Sessions.CloseAsync(s.Id, s.Owner, CancellationToken.None);
                    }
                    catch (SandboxException)
                    {
                    }
                }
                await StopAsync(name);
            }
        }
        foreach (var instance in InstanceIds)
        {
            using var backend = new Sandbox.Docker.DockerBackend(Microsoft.Extensions.Options.Options.Create(new SandboxOptions { InstanceId = instance }),
                Microsoft.Extensions.Logging.Abstractions.NullLogger<Sandbox.Docker.DockerBackend>.Instance);
            foreach (var c in await ContainersOfAsync(instance))
            {
                Console.Error.WriteLine($"[cluster] removing leftover container {c.Names.FirstOrDefault()} ({c.State})");
                await backend.Client.Containers.RemoveContainerAsync(c.ID, new global::Docker.DotNet.Models.ContainerRemoveParameters { Force = true, RemoveVolumes = true });
            }
            var filter = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{SandboxLabels.Instance}={instance}"] = true } };
            foreach (var v in (await backend.Client.Volumes.ListAsync(new global::Docker.DotNet.Models.VolumesListParameters { Filters = filter })).Volumes ?? [])
            {
                await backend.Client.Volumes.RemoveAsync(v.Name, true);
            }
        }
        Directory.Delete(_root, recursive: true);
    }
}
