using Sandbox.Backend;

namespace Sandbox.Egress;

/// <summary>What a session's egress proxy is told: the allow list, address rules and secrets (values included: this
/// travels only to the proxy, over its stdin).</summary>
/// <param name="Allow">Allowed patterns.</param>
/// <param name="PermittedAddresses">Private ranges an allowed name may resolve to.</param>
/// <param name="Secrets">Secrets with their host, header, value and the leaf certificate the proxy terminates TLS with.</param>
/// <param name="UpstreamCaPem">Extra CAs for the proxy's own TLS, or null.</param>
/// <param name="MaxConnections">Connections at once.</param>
public sealed record EgressProxyConfig(IReadOnlyList<EgressPattern> Allow, IReadOnlyList<string> PermittedAddresses,
    IReadOnlyList<EgressProxySecret> Secrets, string? UpstreamCaPem, int MaxConnections);

/// <summary>One secret as the proxy gets it.</summary>
public sealed record EgressProxySecret(string Name, string Host, string Header, string Value, string CertificatePem, string KeyPem);

/// <summary>One connection the proxy allowed or refused.</summary>
/// <param name="Method"><c>CONNECT</c> or the HTTP method.</param>
/// <param name="Host">The host asked for.</param>
/// <param name="Port">The port.</param>
/// <param name="Allowed">Whether it went out.</param>
/// <param name="Reason">Why it was refused.</param>
/// <param name="Secret">The secret added, by name.</param>
public sealed record EgressEvent(string Method, string Host, int Port, bool Allowed, string? Reason, string? Secret);

/// <summary>A session's running egress proxy.</summary>
public interface IEgressProxy : IAsyncDisposable
{
    /// <summary>Replaces the allow list; completes when the proxy confirmed it.</summary>
    Task UpdateAsync(IReadOnlyList<EgressPattern> allow, CancellationToken ct);
}

/// <summary>
/// The network of a session with an allow list: an internal network whose only other member is the session's egress
/// proxy, the one way out. Implemented per backend (<see cref="Docker.DockerEgressNetwork"/>).
/// </summary>
public interface IEgressNetwork
{
    /// <summary>The proxy URL as the sandbox reaches it.</summary>
    string ProxyUrl { get; }

    /// <summary>Creates the network and the proxy (told <paramref name="config"/>), then moves the session onto the
    /// network; <paramref name="onEvent"/> hears every connection. On failure nothing is left.</summary>
    Task<IEgressProxy> OpenAsync(string sessionId, string containerId, string proxyImage, EgressProxyConfig config,
        Action<EgressEvent> onEvent, CancellationToken ct);

    /// <summary>Removes the proxy and network (taking the session off it when <paramref name="containerId"/> is given). Idempotent.</summary>
    Task CloseAsync(string sessionId, string? containerId, CancellationToken ct);

    /// <summary>Egress networks of every server instance (for the orphan sweep).</summary>
    Task<IReadOnlyList<ManagedResource>> ListAsync(CancellationToken ct);
}
