using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Backend;
using Sandbox.Egress;

namespace Sandbox.Docker;

/// <summary>
/// Egress of a session with an allow list. For the session's life its container sits on an internal Docker network
/// (no address on the host, no route anywhere) whose only other member is the session's egress proxy, which also
/// joins the operator's egress network and lets out exactly what the allow list says. The proxy's configuration,
/// secrets included, travels over its attached stdin. Every piece carries our labels, so a crash leaves nothing the
/// next start cannot find and remove.
/// </summary>
internal sealed class DockerEgressNetwork : IEgressNetwork
{
    /// <summary>The proxy's name on a session's egress network.</summary>
    public const string ProxyHost = "egress-proxy";

    /// <summary>The proxy's port.</summary>
    public const int ProxyPort = 3128;

    private readonly ProxiedNetwork _network;
    private readonly Egress.EgressOptions _egress;
    private readonly ILogger _logger;

    public DockerEgressNetwork(DockerBackend backend, IOptions<SandboxOptions> options, IOptions<Egress.EgressOptions> egress,
        ILogger<DockerEgressNetwork> logger)
    {
        _egress = egress.Value;
        _logger = logger;
        _network = new ProxiedNetwork(backend.Client, options.Value.InstanceId,
            new ProxiedNetworkShape("sandbox-egress-", "sandbox-egress-proxy-", SandboxLabels.RoleEgressNetwork, SandboxLabels.RoleEgressProxy, ProxyHost,
                EmbeddedScript.EgressProxy.Value, TimeSpan.FromSeconds(30), "egress proxy", "Sandbox:Egress:Network"), logger);
    }

    /// <inheritdoc />
    public string ProxyUrl => $"http://{ProxyHost}:{ProxyPort}";

    /// <inheritdoc />
    public async Task<IEgressProxy> OpenAsync(string sessionId, string containerId, string proxyImage, EgressProxyConfig config,
        Action<EgressEvent> onEvent, CancellationToken ct) =>
        await _network.OpenAsync(sessionId, containerId, proxyImage, _egress.Network,
            _egress.Hosts.Select(kv => $"{kv.Key.ToLowerInvariant()}:{kv.Value}").ToList(),
            stream => new EgressProxyHandle(stream, sessionId, onEvent, _logger),
            (handle, token) => handle.SendConfigAsync(config, ProxyPort, token), ct).ConfigureAwait(false);

    /// <inheritdoc />
    public Task CloseAsync(string sessionId, string? containerId, CancellationToken ct) => _network.CloseAsync(sessionId, containerId, ct);

    /// <inheritdoc />
    public Task<IReadOnlyList<ManagedResource>> ListAsync(CancellationToken ct) => _network.ListAsync(ct);
}
