using Sandbox.Backend;

namespace Sandbox.Agents;

/// <summary>What the model proxy of one agent run forwards to, and with which credential.</summary>
/// <param name="Upstream">The model endpoint URL.</param>
/// <param name="AuthHeader"><c>x-api-key</c> or <c>authorization</c>.</param>
/// <param name="ApiKey">The key; null to forward without one.</param>
/// <param name="AllowedPaths">Paths forwarded (trailing <c>*</c>: prefix); empty: all.</param>
public sealed record ModelProxyConfig(Uri Upstream, string AuthHeader, string? ApiKey, IReadOnlyList<string> AllowedPaths);

/// <summary>A running model proxy; disposing it stops listening to it (the network is closed separately).</summary>
public interface IModelProxy : IAsyncDisposable
{
    /// <summary>Requests the proxy forwarded or refused so far.</summary>
    int Requests { get; }
}

/// <summary>
/// The network of an agent run: for the run's length the session leaves "no network" for a private network whose only
/// other member is a model proxy holding the API key, which forwards to the one allowed model endpoint. Implemented
/// per backend (<see cref="Docker.DockerAgentNetwork"/>).
/// </summary>
public interface IAgentNetwork
{
    /// <summary>The host name agents reach the proxy at.</summary>
    string ProxyHost { get; }

    /// <summary>The port agents reach the proxy at.</summary>
    int ProxyPort { get; }

    /// <summary>Creates the network and proxy, then moves the session onto it. On failure nothing is left.</summary>
    Task<IModelProxy> OpenAsync(string sessionId, string containerId, string proxyImage, ModelProxyConfig config, string egressNetwork, CancellationToken ct);

    /// <summary>Puts the session back on no network (when <paramref name="containerId"/> is given) and removes the
    /// proxy and network. Idempotent.</summary>
    Task CloseAsync(string sessionId, string? containerId, CancellationToken ct);

    /// <summary>Agent networks of every server instance (for the orphan sweep).</summary>
    Task<IReadOnlyList<ManagedResource>> ListAsync(CancellationToken ct);
}
