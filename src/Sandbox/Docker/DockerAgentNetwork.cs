using System.Globalization;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Agents;
using Sandbox.Backend;

namespace Sandbox.Docker;

/// <summary>
/// Agent networking. For the length of one run, the session container leaves network <c>none</c> for an internal
/// Docker network (no route anywhere) whose only other member is the run's model proxy, which also joins the egress
/// network and forwards to the one configured model endpoint, adding the API key itself. After the run the session is
/// back on <c>none</c> and the proxy and network are gone. Every piece carries our labels, so a crash mid-run leaves
/// nothing the next start cannot find and remove.
/// </summary>
public sealed partial class DockerAgentNetwork(DockerBackend backend, IOptions<SandboxOptions> options, ILogger<DockerAgentNetwork> logger) : IAgentNetwork
{
    private readonly IDockerClient _client = backend.Client;
    private readonly SandboxOptions _options = options.Value;
    private readonly ILogger _logger = logger;

    /// <summary>The host name of the model proxy on a run's internal network.</summary>
    public const string ModelProxyHost = "model-proxy";

    /// <summary>The port the model proxy listens on.</summary>
    public const int ModelProxyPort = 8080;

    /// <inheritdoc />
    public string ProxyHost => ModelProxyHost;

    /// <inheritdoc />
    public int ProxyPort => ModelProxyPort;

    /// <summary>Name of a session's agent network.</summary>
    public static string AgentNetworkName(string sessionId) => "sandbox-agent-" + sessionId;

    /// <summary>Name of a session's model proxy container.</summary>
    public static string ModelProxyName(string sessionId) => "sandbox-proxy-" + sessionId;

    /// <summary>
    /// Creates the run's internal network and model proxy, then moves the session container onto that network.
    /// On failure everything created so far is removed again.
    /// </summary>
    public async Task<IModelProxy> OpenAsync(string sessionId, string sessionContainerId, string proxyImage,
        ModelProxyConfig config, string egressNetwork, CancellationToken ct)
    {
        var network = AgentNetworkName(sessionId);
        var labels = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [SandboxLabels.Product] = SandboxLabels.ProductValue,
            [SandboxLabels.Instance] = _options.InstanceId,
            [SandboxLabels.SessionId] = sessionId,
            [SandboxLabels.CreatedAt] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture),
        };
        MultiplexedStream? stream = null;
        try
        {
            // Leftovers of a run that crashed would make the names clash.
            await CloseAsync(sessionId, sessionContainerId, ct).ConfigureAwait(false);
            await Call(() => _client.Networks.CreateNetworkAsync(new NetworksCreateParameters
            {
                Name = network,
                Driver = "bridge",
                Internal = true,
                Attachable = false,
                // An internal network still routes to the host itself (the bridge's gateway address answers for every
                // host address, so any host service would be reachable). Without an address on the bridge the host is
                // not reachable at all; the members of the network (the session and its proxy) still reach each other.
                Options = new Dictionary<string, string> { ["com.docker.network.bridge.inhibit_ipv4"] = "true" },
                Labels = new Dictionary<string, string>(labels) { [SandboxLabels.Role] = SandboxLabels.RoleAgentNetwork },
            }, ct)).ConfigureAwait(false);

            var created = await Call(() => _client.Containers.CreateContainerAsync(new CreateContainerParameters
            {
                Name = ModelProxyName(sessionId),
                Image = proxyImage,
                Cmd = ["python3", "-I", "-u", "-c", EmbeddedScript.ModelProxy.Value],
                Entrypoint = [],
                User = "65534:65534",
                WorkingDir = "/",
                Env = ["PYTHONDONTWRITEBYTECODE=1"],
                Labels = new Dictionary<string, string>(labels) { [SandboxLabels.Role] = SandboxLabels.RoleModelProxy },
                AttachStdin = true, AttachStdout = true, AttachStderr = true, OpenStdin = true, StdinOnce = false, Tty = false,
                HostConfig = new HostConfig
                {
                    Init = true,
                    NetworkMode = network,
                    Memory = 128L << 20, MemorySwap = 128L << 20, NanoCPUs = 500_000_000, PidsLimit = 64,
                    ReadonlyRootfs = true, CapDrop = ["ALL"], SecurityOpt = ["no-new-privileges"],
                    Tmpfs = new Dictionary<string, string> { ["/tmp"] = "rw,nosuid,nodev,size=8m" },
                    LogConfig = new LogConfig { Type = "none" },
                    RestartPolicy = new RestartPolicy { Name = RestartPolicyKind.No },
                },
                NetworkingConfig = new NetworkingConfig
                {
                    EndpointsConfig = new Dictionary<string, EndpointSettings>
                    {
                        [network] = new EndpointSettings { Aliases = [ModelProxyHost] },
                    },
                },
            }, ct)).ConfigureAwait(false);
            await Call(() => _client.Networks.ConnectNetworkAsync(egressNetwork, new NetworkConnectParameters { Container = created.ID }, ct))
                .ConfigureAwait(false);
            stream = await Call(() => _client.Containers.AttachContainerAsync(created.ID, new ContainerAttachParameters
            {
                Stream = true, Stdin = true, Stdout = true, Stderr = true,
            }, ct)).ConfigureAwait(false);
            await Call(() => _client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters(), ct)).ConfigureAwait(false);
            var handle = new ModelProxyHandle(stream, sessionId, _logger);
            stream = null;
            try
            {
                // The configuration, key included, travels over the attached stdin: no environment, no file, no inspect.
                await handle.SendConfigAsync(config, ModelProxyPort, ct).ConfigureAwait(false);
                using var ready = CancellationTokenSource.CreateLinkedTokenSource(ct);
                ready.CancelAfter(TimeSpan.FromSeconds(20));
                await handle.Ready.WaitAsync(ready.Token).ConfigureAwait(false);

                // Only now does the session get a network: the internal one, where the proxy is all there is.
                await Call(() => _client.Networks.DisconnectNetworkAsync("none", new NetworkDisconnectParameters { Container = sessionContainerId, Force = true }, ct))
                    .ConfigureAwait(false);
                await Call(() => _client.Networks.ConnectNetworkAsync(network, new NetworkConnectParameters { Container = sessionContainerId }, ct))
                    .ConfigureAwait(false);
                return handle;
            }
            catch
            {
                await handle.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
        catch (Exception e)
        {
            stream?.Dispose();
            using var cleanup = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await CloseAsync(sessionId, sessionContainerId, cleanup.Token).ConfigureAwait(false);
            }
            catch (Exception cleanupError) when (cleanupError is SandboxException or DockerApiException or OperationCanceledException)
            {
                LogAgentNetworkCleanup(_logger, sessionId, cleanupError.Message);
            }
            if (e is DockerImageNotFoundException)
            {
                throw new SandboxException(SandboxErrorCodes.ImageNotFound, $"The model proxy image '{proxyImage}' is not present on the engine.", e);
            }
            if (e is DockerNetworkNotFoundException || e is DockerApiException { StatusCode: System.Net.HttpStatusCode.NotFound } && e.Message.Contains("network", StringComparison.OrdinalIgnoreCase))
            {
                throw new SandboxException(SandboxErrorCodes.Internal, $"The agent egress network '{egressNetwork}' does not exist on the engine (Sandbox:Agents:EgressNetwork).", e);
            }
            throw;
        }
    }

    /// <summary>
    /// Puts the session container back on network <c>none</c> and removes the run's proxy and network.
    /// Idempotent: absent pieces are fine (used after every run, at start-up and when closing a session).
    /// </summary>
    public async Task CloseAsync(string sessionId, string? sessionContainerId, CancellationToken ct)
    {
        var network = AgentNetworkName(sessionId);
        try
        {
            await Call(() => _client.Containers.RemoveContainerAsync(ModelProxyName(sessionId), new ContainerRemoveParameters { Force = true }, ct))
                .ConfigureAwait(false);
        }
        catch (DockerContainerNotFoundException)
        {
        }
        catch (DockerApiException e) when (e.StatusCode == System.Net.HttpStatusCode.Conflict)
        {
        }
        if (sessionContainerId is not null)
        {
            await IsolateAsync(sessionContainerId, ct).ConfigureAwait(false);
        }
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await Call(() => _client.Networks.DeleteNetworkAsync(network, ct)).ConfigureAwait(false);
                return;
            }
            catch (DockerNetworkNotFoundException)
            {
                return;
            }
            catch (DockerApiException e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
            {
                return;
            }
            catch (DockerApiException e) when (e.StatusCode is System.Net.HttpStatusCode.Conflict or System.Net.HttpStatusCode.Forbidden && attempt < 20)
            {
                // Endpoints still being torn down.
                await Task.Delay(100, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Moves a session container off every network and back onto <c>none</c> (no-op when it is there).</summary>
    private async Task IsolateAsync(string containerId, CancellationToken ct)
    {
        ContainerInspectResponse inspect;
        try
        {
            inspect = await Call(() => _client.Containers.InspectContainerAsync(containerId, ct)).ConfigureAwait(false);
        }
        catch (DockerContainerNotFoundException)
        {
            return;
        }
        var networks = inspect.NetworkSettings?.Networks?.Keys.ToList() ?? [];
        if (networks.Count == 1 && networks[0] == "none")
        {
            return;
        }
        foreach (var name in networks.Where(n => n != "none"))
        {
            try
            {
                await Call(() => _client.Networks.DisconnectNetworkAsync(name, new NetworkDisconnectParameters { Container = containerId, Force = true }, ct))
                    .ConfigureAwait(false);
            }
            catch (DockerApiException e) when (e.StatusCode is System.Net.HttpStatusCode.NotFound)
            {
            }
        }
        if (!networks.Contains("none"))
        {
            await Call(() => _client.Networks.ConnectNetworkAsync("none", new NetworkConnectParameters { Container = containerId }, ct)).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<ManagedResource>> ListAsync(CancellationToken ct)
    {
        var networks = await Call(() => _client.Networks.ListNetworksAsync(new NetworksListParameters
        {
            Filters = new Dictionary<string, IDictionary<string, bool>>
            {
                ["label"] = new Dictionary<string, bool> { [$"{SandboxLabels.Product}={SandboxLabels.ProductValue}"] = true },
            },
        }, ct)).ConfigureAwait(false);
        return networks.Select(n => ManagedResource.FromLabels(n.Labels)).OfType<ManagedResource>().ToList();
    }

    private static Task<T> Call<T>(Func<Task<T>> call) => DockerCall.Run(call);

    private static Task Call(Func<Task> call) => DockerCall.Run(call);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: could not remove the agent network or proxy: {Error}")]
    private static partial void LogAgentNetworkCleanup(ILogger logger, string sessionId, string error);
}

