namespace Sandbox.Egress;

/// <summary>What a session may reach: host patterns and the operator secrets its proxy adds.</summary>
public sealed record NetworkRequest
{
    /// <summary>Host patterns (<c>api.example.com</c>, <c>*.example.org</c>, <c>host:8443</c>); each must be within the
    /// server's ceiling (<c>Sandbox:Egress:Allow</c>).</summary>
    public IReadOnlyList<string> Allow { get; init; } = [];

    /// <summary>Names of operator secrets (<c>Sandbox:Egress:Secrets</c>) the proxy adds on the way out; each secret's
    /// host is allowed with it.</summary>
    public IReadOnlyList<string> Secrets { get; init; } = [];
}

/// <summary>A session's network as faces report it (secret names only, never values).</summary>
/// <param name="Allow">The allow list in force.</param>
/// <param name="Secrets">Names of the secrets its proxy adds.</param>
/// <param name="Proxy">The proxy URL inside the sandbox (also in <c>HTTP_PROXY</c>/<c>HTTPS_PROXY</c>).</param>
public sealed record SessionNetwork(IReadOnlyList<string> Allow, IReadOnlyList<string> Secrets, string Proxy);

/// <summary>A validated allow list (and secret names) of one session: what is stored and sent to its proxy.</summary>
/// <param name="Allow">Parsed patterns, secret hosts included.</param>
/// <param name="Requested">The entries as the caller gave them (normalised).</param>
/// <param name="Secrets">Secret names.</param>
internal sealed record EgressGrant(IReadOnlyList<EgressPattern> Allow, IReadOnlyList<string> Requested, IReadOnlyList<string> Secrets);
