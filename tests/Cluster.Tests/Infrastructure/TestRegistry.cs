using Docker.DotNet;
using Docker.DotNet.Models;
using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Containers;
using DotNet.Testcontainers.Networks;

namespace Sandbox.Cluster.Tests.Infrastructure;

/// <summary>
/// The image registry of a test cluster: Debian's docker-registry (<c>sandbox-registry:latest</c>, built by
/// <c>deploy/build-images.sh cluster</c>) on the test network as <c>registry:5000</c>, where the nodes pull from. This
/// machine's engine pushes to it through a port published on 127.0.0.1 only (an engine treats loopback registries as
/// plain HTTP without configuration).
/// </summary>
public sealed class TestRegistry : IAsyncDisposable
{
    public const string Alias = "registry";
    private readonly IContainer _container;
    private readonly IDockerClient _host;

    private TestRegistry(IContainer container, IDockerClient host)
    {
        _container = container;
        _host = host;
    }

    /// <summary>The address the nodes use.</summary>
    public static string InNetwork => Alias + ":5000";

    /// <summary>An image as the nodes name it.</summary>
    public static string Reference(string name) => $"{InNetwork}/{name}:latest";

    public static async Task<TestRegistry> StartAsync(INetwork network, IDockerClient host)
    {
        var container = new ContainerBuilder("sandbox-registry:latest")
            .WithName("sbx-test-registry-" + Guid.NewGuid().ToString("N")[..8])
            .WithNetwork(network)
            .WithNetworkAliases(Alias)
            .WithLabel("dev.sandbox.test", "true")
            .WithCreateParameterModifier(p =>
            {
                p.ExposedPorts = new Dictionary<string, EmptyStruct> { ["5000/tcp"] = default };
                p.HostConfig ??= new HostConfig();
                p.HostConfig.PortBindings = new Dictionary<string, IList<PortBinding>> { ["5000/tcp"] = [new PortBinding { HostIP = "127.0.0.1", HostPort = "" }] };
            })
            .Build();
        await container.StartAsync();
        var registry = new TestRegistry(container, host);
        await registry.WaitUntilAnsweringAsync(TimeSpan.FromSeconds(60));
        return registry;
    }

    // The container runs before the registry listens: a push at once was reset (seen in a full run).
    private async Task WaitUntilAnsweringAsync(TimeSpan limit)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var url = new Uri($"http://127.0.0.1:{await HostPortAsync()}/v2/");
        using var deadline = new CancellationTokenSource(limit);
        while (true)
        {
            try
            {
                using var response = await http.GetAsync(url, deadline.Token);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException) when (!deadline.IsCancellationRequested)
            {
            }
            if (deadline.IsCancellationRequested)
            {
                throw new TimeoutException($"the test registry did not answer {url} within {limit.TotalSeconds} s");
            }
            await Task.Delay(200, CancellationToken.None);
        }
    }

    private async Task<string> HostPortAsync()
    {
        var inspect = await _host.Containers.InspectContainerAsync(_container.Id);
        return inspect.NetworkSettings!.Ports!["5000/tcp"].First().HostPort;
    }

    /// <summary>Pushes this machine's image <paramref name="name"/>:latest (e.g. sandbox-python) to the registry.</summary>
    public async Task PushAsync(string name)
    {
        var repository = $"127.0.0.1:{await HostPortAsync()}/{name}";
        await _host.Images.TagImageAsync(name + ":latest", new ImageTagParameters { RepositoryName = repository, Tag = "latest" });
        var errors = new PullErrors();
        try
        {
            await _host.Images.PushImageAsync(repository, new ImagePushParameters { Tag = "latest" }, new AuthConfig(), errors);
        }
        finally
        {
            await _host.Images.DeleteImageAsync(repository + ":latest", new ImageDeleteParameters { NoPrune = true });
        }
        errors.ThrowIfAny($"pushing {name}");
    }

    public async ValueTask DisposeAsync() => await _container.DisposeAsync();
}
