using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Agents;
using Sandbox.Durability;
using Sandbox.Runner;
using Sandbox.Sessions;
using Sandbox.Storage;

namespace Sandbox.Egress;

/// <summary>
/// Session networks: a session created with an allow list gets its own egress proxy, the only way out of its internal
/// network, which lets exactly the allowed names and ports out (HTTP and HTTPS), adds the operator secrets the session
/// asked for by name, and reports every connection to the session's history. The allow list is checked against the
/// operator's ceiling (<c>Sandbox:Egress:Allow</c>) at create and on every change.
/// </summary>
public sealed partial class EgressService(SessionRegistry registry, IEgressNetwork network, IAgentNetwork agentNetwork, SessionJournal journal,
    IOptions<SandboxOptions> options, IOptions<EgressOptions> egress, TimeProvider time, ILogger<EgressService> logger) : ISessionCloseListener
{
    /// <summary>Most entries in one allow list.</summary>
    public const int MaxEntries = 100;

    /// <summary>Where the runner writes the session CA, and the bundle of it and the system CAs (see the runner's set_env, Runner/py/main.py).</summary>
    public const string CaBundlePath = "/tmp/.sandbox/ca-bundle.pem";

    private readonly IEgressNetwork _network = network;
    private readonly SandboxOptions _options = options.Value;
    private readonly EgressOptions _egress = egress.Value;
    private readonly ILogger<EgressService> _logger = logger;
    private readonly IReadOnlyList<EgressPattern> _ceiling = egress.Value.Allow.Select(EgressPattern.Parse).ToList();
    private readonly ConcurrentDictionary<string, Attached> _proxies = new(StringComparer.Ordinal);

    private sealed class Attached(IEgressProxy proxy)
    {
        public IEgressProxy Proxy { get; } = proxy;
        public int Recorded;
        public SemaphoreSlim Updates { get; } = new(1, 1);
    }

    /// <summary>Whether this server lets sessions have a network at all.</summary>
    public bool Enabled => _ceiling.Count > 0;

    /// <summary>Checks an allow list (and secret names) against the ceiling; null for no network.</summary>
    internal EgressGrant? Validate(NetworkRequest? request)
    {
        if (request is null)
        {
            return null;
        }
        if (!Enabled)
        {
            throw new SandboxException(SandboxErrorCodes.EgressNotPermitted,
                "Sessions on this server have no network: egress is disabled (the operator sets Sandbox:Egress:Allow to enable it).");
        }
        var entries = request.Allow ?? [];
        var secrets = (request.Secrets ?? []).Distinct(StringComparer.Ordinal).ToList();
        if (entries.Count > MaxEntries || secrets.Count > MaxEntries)
        {
            throw new SandboxException(SandboxErrorCodes.LimitExceeded, $"A network allow list takes at most {MaxEntries} entries and {MaxEntries} secrets.");
        }
        var allow = new List<EgressPattern>();
        foreach (var entry in entries)
        {
            var pattern = EgressPattern.Parse(entry);
            if (!_ceiling.Any(c => c.Covers(pattern)))
            {
                throw new SandboxException(SandboxErrorCodes.EgressNotPermitted,
                    $"Network allow entry '{pattern}' is outside what this server permits ({string.Join(", ", _ceiling)}).");
            }
            if (!allow.Contains(pattern))
            {
                allow.Add(pattern);
            }
        }
        var requested = allow.Select(p => p.ToString()).ToList();
        foreach (var name in secrets)
        {
            if (!_egress.Secrets.TryGetValue(name, out var secret))
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                    $"Unknown secret '{SafeText.Shorten(name, 64)}'. This server has: {(_egress.Secrets.Count == 0 ? "none" : string.Join(", ", _egress.Secrets.Keys.Order(StringComparer.Ordinal)))}.");
            }
            // Asking for a secret allows its host (on the web's ports unless the list names another).
            var host = EgressPattern.Parse(secret.Host);
            if (!allow.Any(p => p.Host == host.Host))
            {
                allow.Add(host);
            }
        }
        return new EgressGrant(allow, requested, secrets);
    }

    /// <summary>The whole environment of a session's code: the caller's variables, then, with a network, the proxy's
    /// (and, with secrets, the CA bundle's, since hosts with a secret answer with the session CA's certificates).</summary>
    internal Dictionary<string, string> EnvironmentOf(Session session, bool network, bool secrets)
    {
        var env = new Dictionary<string, string>(session.Env, StringComparer.Ordinal);
        if (network)
        {
            var proxyUrl = _network.ProxyUrl;
            (env["HTTP_PROXY"], env["HTTPS_PROXY"], env["http_proxy"], env["https_proxy"]) = (proxyUrl, proxyUrl, proxyUrl, proxyUrl);
            env["NO_PROXY"] = env["no_proxy"] = $"{agentNetwork.ProxyHost},localhost,127.0.0.1";
        }
        if (network && secrets)
        {
            foreach (var name in new[] { "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT", "GIT_SSL_CAINFO" })
            {
                env[name] = CaBundlePath;
            }
            env["NODE_EXTRA_CA_CERTS"] = "/tmp/.sandbox/ca.pem";
        }
        return env;
    }

    /// <summary>Gives the session's runner its whole environment again (after the caller's variables changed); the
    /// interpreter restarts with it before the next execution.</summary>
    internal async Task ApplyEnvironmentAsync(Session session, CancellationToken ct)
    {
        var network = session.Network;
        var reply = await session.Live.AskAsync(new EnvRequest(EnvironmentOf(session, network is not null, network is { Secrets.Count: > 0 }), null),
            TimeSpan.FromSeconds(15), "environment", ct).ConfigureAwait(false);
        if (reply.Type == "error")
        {
            throw new SandboxException(SandboxErrorCodes.Internal, "The sandbox could not take its environment: "
                + (reply.Body.TryGetProperty("message", out var m) ? m.GetString() : "no reason given"));
        }
    }

    /// <summary>Opens a new session's egress proxy and points the sandbox's code at it. On failure nothing is left
    /// (the caller removes the sandbox).</summary>
    internal async Task AttachAsync(Session session, EgressGrant grant, CancellationToken ct)
    {
        var secrets = grant.Secrets.Select(n => (Name: n, Options: _egress.Secrets[n])).ToList();
        var (caPem, leaves) = SessionCertificates.Create(session.Id, secrets.Select(s => s.Options.Host.ToLowerInvariant()),
            _options.MaxLifetime);
        var config = new EgressProxyConfig(grant.Allow, _egress.PermittedAddresses,
            secrets.Select(s =>
            {
                var leaf = leaves.First(l => l.Host == s.Options.Host.ToLowerInvariant());
                return new EgressProxySecret(s.Name, leaf.Host, s.Options.Header, s.Options.Value, leaf.CertificatePem, leaf.KeyPem);
            }).ToList(),
            string.IsNullOrEmpty(_egress.UpstreamCaFile) ? null : await File.ReadAllTextAsync(_egress.UpstreamCaFile, ct).ConfigureAwait(false),
            _egress.MaxConnections);
        var image = string.IsNullOrEmpty(_egress.ProxyImage) ? _options.Images[_options.DefaultImage] : _egress.ProxyImage;
        var proxy = await _network.OpenAsync(session.Id, session.ContainerId, image, config, e => OnEvent(session, e), ct).ConfigureAwait(false);
        var attached = new Attached(proxy);
        if (_proxies.TryRemove(session.Id, out var old))
        {
            await old.Proxy.DisposeAsync().ConfigureAwait(false);
        }
        _proxies[session.Id] = attached;
        try
        {
            var proxyUrl = _network.ProxyUrl;
            var env = EnvironmentOf(session, network: true, secrets: secrets.Count > 0);
            var reply = await session.Live.AskAsync(new EnvRequest(env, secrets.Count > 0 ? caPem : null),
                TimeSpan.FromSeconds(15), "network set-up", ct).ConfigureAwait(false);
            if (reply.Type == "error")
            {
                throw new SandboxException(SandboxErrorCodes.Internal, "The sandbox could not take its network settings: "
                    + (reply.Body.TryGetProperty("message", out var m) ? m.GetString() : "no reason given"));
            }
            session.Network = new SessionNetwork(grant.Requested, grant.Secrets, proxyUrl);
            LogAttached(_logger, session.Id, grant.Allow.Count, grant.Secrets.Count);
        }
        catch
        {
            await DetachAsync(session.Id, session.ContainerId, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Replaces a session's allow list while it runs (its secrets stay as they were).</summary>
    public async Task<SessionInfo> UpdateAsync(string sessionId, string owner, NetworkRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var session = registry.Get(sessionId, owner);
        session.EnsureUsable();
        var current = session.Network ?? throw new SandboxException(SandboxErrorCodes.InvalidArgument,
            $"Session {session.Id} was created without a network, so it has no proxy to change. Create a session with network.allow (an empty list starts with nothing allowed).");
        if (request.Secrets is { Count: > 0 } asked && !asked.ToHashSet(StringComparer.Ordinal).SetEquals(current.Secrets))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "A session's secrets are fixed when it is created; update_network changes the allow list only.");
        }
        var grant = Validate(new NetworkRequest { Allow = request.Allow, Secrets = current.Secrets })!;
        if (!_proxies.TryGetValue(session.Id, out var attached))
        {
            throw new SandboxException(SandboxErrorCodes.SessionLost, $"Session {session.Id} has lost its egress proxy. Close it and create a new session.");
        }
        await attached.Updates.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await attached.Proxy.UpdateAsync(grant.Allow, ct).ConfigureAwait(false);
            session.Network = current with { Allow = grant.Requested };
        }
        finally
        {
            attached.Updates.Release();
        }
        journal.Record(session, "network", "allow: " + (grant.Requested.Count == 0 ? "(nothing)" : string.Join(", ", grant.Requested)));
        await journal.PersistAsync(session, ct).ConfigureAwait(false);
        return session.ToInfo();
    }

    /// <summary>After a server restart: a fresh proxy (and session CA) for a session that had a network.</summary>
    internal async Task ReattachAsync(Session session, CancellationToken ct)
    {
        var network = session.Network;
        if (network is null)
        {
            return;
        }
        await registry.EnsureRunningAsync(session, ct).ConfigureAwait(false);
        // The ceiling may have shrunk since: the list is checked again, and a list that no longer passes is refused.
        await AttachAsync(session, Validate(new NetworkRequest { Allow = network.Allow, Secrets = network.Secrets })!, ct).ConfigureAwait(false);
    }

    private async Task DetachAsync(string sessionId, string? containerId, CancellationToken ct)
    {
        if (_proxies.TryRemove(sessionId, out var attached))
        {
            await attached.Proxy.DisposeAsync().ConfigureAwait(false);
            attached.Updates.Dispose();
        }
        await _network.CloseAsync(sessionId, containerId, ct).ConfigureAwait(false);
    }

    private void OnEvent(Session session, EgressEvent e)
    {
        if (!_proxies.TryGetValue(session.Id, out var attached))
        {
            return;
        }
        var n = Interlocked.Increment(ref attached.Recorded);
        LogConnection(_logger, session.Id, e.Allowed ? "allowed" : "refused", e.Method, e.Host, e.Port, e.Reason);
        if (n > _egress.MaxHistoryEntries + 1)
        {
            return;
        }
        var text = n == _egress.MaxHistoryEntries + 1
            ? $"more connections than {_egress.MaxHistoryEntries}: the rest are not recorded (the allow list is still enforced)"
            : (e.Allowed ? "allowed " : "refused ") + $"{e.Method} {e.Host}:{e.Port}" + (e.Secret is null ? "" : $" (secret {e.Secret} added)")
              + (e.Reason is null ? "" : ": " + e.Reason);
        journal.Record(new HistoryEntry(session.Id, session.Owner, "egress", time.GetUtcNow(), ErrorType: e.Allowed ? null : "egress_refused", Output: text));
    }

    void ISessionCloseListener.OnClosing(Session session, string reason)
    {
    }

    async Task ISessionCloseListener.OnClosedAsync(Session session, CancellationToken ct) =>
        await DetachAsync(session.Id, null, ct).ConfigureAwait(false);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: egress proxy up ({Patterns} allowed patterns, {Secrets} secrets)")]
    private static partial void LogAttached(ILogger logger, string sessionId, int patterns, int secrets);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Session {SessionId} egress {Verdict}: {Method} {Host}:{Port} {Reason}")]
    private static partial void LogConnection(ILogger logger, string sessionId, string verdict, string method, string host, int port, string? reason);
}
