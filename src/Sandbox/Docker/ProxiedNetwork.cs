using Docker.DotNet;
using Microsoft.Extensions.Logging;
using Sandbox.Backend;

namespace Sandbox.Docker;

/// <summary>What tells one kind of proxied network from another (a session's egress, an agent run's model access).</summary>
/// <param name="NetworkPrefix">The internal network's name before the session id.</param>
/// <param name="ProxyPrefix">The proxy container's name before the session id.</param>
/// <param name="NetworkRole">The network's <see cref="SandboxLabels.Role"/>.</param>
/// <param name="ProxyRole">The proxy container's role.</param>
/// <param name="Alias">The proxy's host name on the internal network.</param>
/// <param name="Script">The proxy's program (passed to <c>python3 -c</c>).</param>
/// <param name="ReadyTimeout">How long the proxy may take to listen.</param>
/// <param name="What">The proxy as errors name it.</param>
/// <param name="EgressSetting">The setting that names the network the proxy goes out by, for the error when it is missing.</param>
internal sealed record ProxiedNetworkShape(string NetworkPrefix, string ProxyPrefix, string NetworkRole, string ProxyRole, string Alias,
    string Script, TimeSpan ReadyTimeout, string What, string EgressSetting);

/// <summary>
/// The one mechanism behind a session's egress network and an agent run's network: an internal Docker network (no
/// address on the host, no route anywhere) whose only other member is a hardened proxy container, which also joins
/// the operator's egress network. Opening creates the network, starts the proxy, sends its configuration over its
/// stdin, waits until it listens and only then moves the session container onto the network; a failure at any step
/// removes everything made so far. Every piece carries our labels, so a crash leaves nothing the next start cannot
/// find and remove.
/// </summary>
internal sealed partial class ProxiedNetwork(IDockerClient client, string instanceId, ProxiedNetworkShape shape, ILogger logger)
{
    /// <summary>The session's internal network.</summary>
    public string NetworkName(string sessionId) => shape.NetworkPrefix + sessionId;

    /// <summary>The session's proxy container.</summary>
    public string ProxyName(string sessionId) => shape.ProxyPrefix + sessionId;

    /// <summary>Opens the network with its proxy, configured by <paramref name="configure"/>, and joins the session to it.</summary>
    public async Task<THandle> OpenAsync<THandle>(string sessionId, string containerId, string proxyImage, string egressNetwork,
        IList<string>? extraHosts, Func<MultiplexedStream, THandle> connect, Func<THandle, CancellationToken, Task> configure, CancellationToken ct)
        where THandle : ProxyConnection
    {
        var network = NetworkName(sessionId);
        MultiplexedStream? stream = null;
        try
        {
            // Leftovers of a crash would make the names clash.
            await CloseAsync(sessionId, containerId, ct).ConfigureAwait(false);
            await ProxyPlumbing.CreateNetworkAsync(client, network, SandboxLabels.Of(instanceId, sessionId, shape.NetworkRole, DateTimeOffset.UtcNow), ct).ConfigureAwait(false);
            stream = await ProxyPlumbing.StartProxyAsync(client, ProxyName(sessionId), proxyImage, shape.Script, network, shape.Alias, egressNetwork,
                extraHosts, SandboxLabels.Of(instanceId, sessionId, shape.ProxyRole, DateTimeOffset.UtcNow), ct).ConfigureAwait(false);
            var handle = connect(stream);
            stream = null;
            try
            {
                await configure(handle, ct).ConfigureAwait(false);
                using var ready = CancellationTokenSource.CreateLinkedTokenSource(ct);
                ready.CancelAfter(shape.ReadyTimeout);
                await handle.Ready.WaitAsync(ready.Token).ConfigureAwait(false);
                // Only now does the session get the network, where the proxy is all there is.
                await ProxyPlumbing.JoinAsync(client, containerId, network, ct).ConfigureAwait(false);
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
                LogCleanupFailed(logger, sessionId, shape.What, cleanupError.Message);
            }
            if (e is DockerImageNotFoundException)
            {
                throw new SandboxException(SandboxErrorCodes.ImageNotFound, $"The {shape.What} image '{proxyImage}' is not present on the engine.", e);
            }
            if (e is DockerNetworkNotFoundException
                || e is DockerApiException { StatusCode: System.Net.HttpStatusCode.NotFound } && e.Message.Contains("network", StringComparison.OrdinalIgnoreCase))
            {
                throw new SandboxException(SandboxErrorCodes.Internal,
                    $"The network '{egressNetwork}' the {shape.What} goes out by does not exist on the engine ({shape.EgressSetting}).", e);
            }
            throw;
        }
    }

    /// <summary>Takes the session container off the network (back on <c>none</c> unless it has another) and removes the
    /// proxy and the network. Idempotent: absent pieces are fine.</summary>
    public async Task CloseAsync(string sessionId, string? containerId, CancellationToken ct)
    {
        var network = NetworkName(sessionId);
        await ProxyPlumbing.RemoveContainerAsync(client, ProxyName(sessionId), ct).ConfigureAwait(false);
        if (containerId is not null)
        {
            await ProxyPlumbing.LeaveAsync(client, containerId, network, ct).ConfigureAwait(false);
        }
        await ProxyPlumbing.DeleteNetworkAsync(client, network, ct).ConfigureAwait(false);
    }

    /// <summary>Our networks of this kind, for the orphan sweep.</summary>
    public Task<IReadOnlyList<ManagedResource>> ListAsync(CancellationToken ct) => ProxyPlumbing.ListNetworksAsync(client, shape.NetworkRole, ct);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: could not remove the {What}'s network or container: {Error}")]
    private static partial void LogCleanupFailed(ILogger logger, string sessionId, string what, string error);
}
