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
        MultiplexedStream? stream = null;
        try
        {
            // Leftovers of a run that crashed would make the names clash.
            await CloseAsync(sessionId, sessionContainerId, ct).ConfigureAwait(false);
            await ProxyPlumbing.CreateNetworkAsync(_client, network, ProxyPlumbing.Labels(_options.InstanceId, sessionId, SandboxLabels.RoleAgentNetwork), ct)
                .ConfigureAwait(false);
            stream = await ProxyPlumbing.StartProxyAsync(_client, ModelProxyName(sessionId), proxyImage, EmbeddedScript.ModelProxy.Value, network,
                ModelProxyHost, egressNetwork, null, ProxyPlumbing.Labels(_options.InstanceId, sessionId, SandboxLabels.RoleModelProxy), ct).ConfigureAwait(false);
            var handle = new ModelProxyHandle(stream, sessionId, _logger);
            stream = null;
            try
            {
                // The configuration, key included, travels over the attached stdin: no environment, no file, no inspect.
                await handle.SendConfigAsync(config, ModelProxyPort, ct).ConfigureAwait(false);
                using var ready = CancellationTokenSource.CreateLinkedTokenSource(ct);
                ready.CancelAfter(TimeSpan.FromSeconds(20));
                await handle.Ready.WaitAsync(ready.Token).ConfigureAwait(false);

                // Only now does the session get a network: the internal one, where the proxy is all there is (a session
                // with an egress allow list stays on its egress network too).
                await ProxyPlumbing.JoinAsync(_client, sessionContainerId, network, ct).ConfigureAwait(false);
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
    /// Takes the session container off the run's network (back on <c>none</c> unless it has another) and removes the
    /// run's proxy and network.
    /// Idempotent: absent pieces are fine (used after every run, at start-up and when closing a session).
    /// </summary>
    public async Task CloseAsync(string sessionId, string? sessionContainerId, CancellationToken ct)
    {
        var network = AgentNetworkName(sessionId);
        await ProxyPlumbing.RemoveContainerAsync(_client, ModelProxyName(sessionId), ct).ConfigureAwait(false);
        if (sessionContainerId is not null)
        {
            await ProxyPlumbing.LeaveAsync(_client, sessionContainerId, network, ct).ConfigureAwait(false);
        }
        await ProxyPlumbing.DeleteNetworkAsync(_client, network, ct).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<ManagedResource>> ListAsync(CancellationToken ct) =>
        ProxyPlumbing.ListNetworksAsync(_client, SandboxLabels.RoleAgentNetwork, ct);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: could not remove the agent network or proxy: {Error}")]
    private static partial void LogAgentNetworkCleanup(ILogger logger, string sessionId, string error);
}

