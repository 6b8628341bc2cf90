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
public sealed class DockerAgentNetwork : IAgentNetwork
{
    /// <summary>The host name of the model proxy on a run's internal network.</summary>
    public const string ModelProxyHost = "model-proxy";

    /// <summary>The port the model proxy listens on.</summary>
    public const int ModelProxyPort = 8080;

    private const string NetworkPrefix = "sandbox-agent-";

    private readonly ProxiedNetwork _network;
    private readonly ILogger _logger;

    /// <summary>Agent networks on the backend's engine.</summary>
    public DockerAgentNetwork(DockerBackend backend, IOptions<SandboxOptions> options, ILogger<DockerAgentNetwork> logger)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(options);
        _logger = logger;
        _network = new ProxiedNetwork(backend.Client, options.Value.InstanceId,
            new ProxiedNetworkShape(NetworkPrefix, "sandbox-proxy-", SandboxLabels.RoleAgentNetwork, SandboxLabels.RoleModelProxy, ModelProxyHost,
                EmbeddedScript.ModelProxy.Value, TimeSpan.FromSeconds(20), "model proxy", "Sandbox:Agents:EgressNetwork"), logger);
    }

    /// <inheritdoc />
    public string ProxyHost => ModelProxyHost;

    /// <inheritdoc />
    public int ProxyPort => ModelProxyPort;

    /// <summary>Name of a session's agent network.</summary>
    public static string AgentNetworkName(string sessionId) => NetworkPrefix + sessionId;

    /// <summary>
    /// Creates the run's internal network and model proxy (the configuration, key included, travels over the proxy's
    /// stdin), then moves the session container onto that network (a session with an egress allow list stays on its
    /// egress network too). On failure everything created so far is removed again.
    /// </summary>
    public async Task<IModelProxy> OpenAsync(string sessionId, string sessionContainerId, string proxyImage,
        ModelProxyConfig config, string egressNetwork, CancellationToken ct) =>
        await _network.OpenAsync(sessionId, sessionContainerId, proxyImage, egressNetwork, null,
            stream => new ModelProxyHandle(stream, sessionId, _logger),
            (handle, token) => handle.SendConfigAsync(config, ModelProxyPort, token), ct).ConfigureAwait(false);

    /// <summary>
    /// Takes the session container off the run's network (back on <c>none</c> unless it has another) and removes the
    /// run's proxy and network. Idempotent: absent pieces are fine (used after every run, at start-up and when closing
    /// a session).
    /// </summary>
    public Task CloseAsync(string sessionId, string? sessionContainerId, CancellationToken ct) => _network.CloseAsync(sessionId, sessionContainerId, ct);

    /// <inheritdoc />
    public Task<IReadOnlyList<ManagedResource>> ListAsync(CancellationToken ct) => _network.ListAsync(ct);
}
