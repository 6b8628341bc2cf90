using Docker.DotNet;
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
internal sealed partial class DockerEgressNetwork(DockerBackend backend, IOptions<SandboxOptions> options, IOptions<Egress.EgressOptions> egress,
    ILogger<DockerEgressNetwork> logger) : IEgressNetwork
{
    private readonly IDockerClient _client = backend.Client;
    private readonly SandboxOptions _options = options.Value;
    private readonly Egress.EgressOptions _egress = egress.Value;
    private readonly ILogger _logger = logger;

    /// <summary>The proxy's name on a session's egress network.</summary>
    public const string ProxyHost = "egress-proxy";

    /// <summary>The proxy's port.</summary>
    public const int ProxyPort = 3128;

    /// <inheritdoc />
    public string ProxyUrl => $"http://{ProxyHost}:{ProxyPort}";

    /// <summary>Name of a session's egress network.</summary>
    public static string NetworkName(string sessionId) => "sandbox-egress-" + sessionId;

    /// <summary>Name of a session's egress proxy container.</summary>
    public static string ProxyName(string sessionId) => "sandbox-egress-proxy-" + sessionId;

    /// <inheritdoc />
    public async Task<IEgressProxy> OpenAsync(string sessionId, string containerId, string proxyImage, EgressProxyConfig config,
        Action<EgressEvent> onEvent, CancellationToken ct)
    {
        var network = NetworkName(sessionId);
        var egressNetwork = _egress.Network;
        MultiplexedStream? stream = null;
        try
        {
            await CloseAsync(sessionId, containerId, ct).ConfigureAwait(false);
            await ProxyPlumbing.CreateNetworkAsync(_client, network, ProxyPlumbing.Labels(_options.InstanceId, sessionId, SandboxLabels.RoleEgressNetwork), ct)
                .ConfigureAwait(false);
            var hosts = _egress.Hosts.Select(kv => $"{kv.Key.ToLowerInvariant()}:{kv.Value}").ToList();
            stream = await ProxyPlumbing.StartProxyAsync(_client, ProxyName(sessionId), proxyImage, EmbeddedScript.EgressProxy.Value, network, ProxyHost,
                egressNetwork, hosts, ProxyPlumbing.Labels(_options.InstanceId, sessionId, SandboxLabels.RoleEgressProxy), ct).ConfigureAwait(false);
            var handle = new EgressProxyHandle(stream, sessionId, onEvent, _logger);
            stream = null;
            try
            {
                await handle.SendConfigAsync(config, ProxyPort, ct).ConfigureAwait(false);
                using var ready = CancellationTokenSource.CreateLinkedTokenSource(ct);
                ready.CancelAfter(TimeSpan.FromSeconds(30));
                await handle.Ready.WaitAsync(ready.Token).ConfigureAwait(false);
                await ProxyPlumbing.JoinAsync(_client, containerId, network, ct).ConfigureAwait(false);
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
                await CloseAsync(sessionId, containerId, cleanup.Token).ConfigureAwait(false);
            }
            catch (Exception cleanupError) when (cleanupError is SandboxException or DockerApiException or OperationCanceledException)
            {
                LogCleanupFailed(_logger, sessionId, cleanupError.Message);
            }
            if (e is DockerImageNotFoundException)
            {
                throw new SandboxException(SandboxErrorCodes.ImageNotFound, $"The egress proxy image '{proxyImage}' is not present on the engine.", e);
            }
            if (e is DockerNetworkNotFoundException || e is DockerApiException { StatusCode: System.Net.HttpStatusCode.NotFound } && e.Message.Contains("network", StringComparison.OrdinalIgnoreCase))
            {
                throw new SandboxException(SandboxErrorCodes.Internal, $"The egress network '{egressNetwork}' does not exist on the engine (Sandbox:Egress:Network).", e);
            }
            throw;
        }
    }

    /// <inheritdoc />
    public async Task CloseAsync(string sessionId, string? containerId, CancellationToken ct)
    {
        var network = NetworkName(sessionId);
        await ProxyPlumbing.RemoveContainerAsync(_client, ProxyName(sessionId), ct).ConfigureAwait(false);
        if (containerId is not null)
        {
            await ProxyPlumbing.LeaveAsync(_client, containerId, network, ct).ConfigureAwait(false);
        }
        await ProxyPlumbing.DeleteNetworkAsync(_client, network, ct).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<ManagedResource>> ListAsync(CancellationToken ct) =>
        ProxyPlumbing.ListNetworksAsync(_client, SandboxLabels.RoleEgressNetwork, ct);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: could not remove the egress network or proxy: {Error}")]
    private static partial void LogCleanupFailed(ILogger logger, string sessionId, string error);
}
