using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Sessions;

namespace Sandbox.Agents;

/// <summary>
/// An agent's one way to its model, the same for a headless run and an interactive agent: what the agent is told (the
/// proxy's address, a placeholder key, its home), what the proxy is given (the allowed endpoint and the real key), and
/// opening and closing the session's private network with its proxy.
/// </summary>
public sealed class AgentModelAccess(IAgentNetwork network, IOptions<AgentOptions> agents, IOptions<SandboxOptions> sandbox, ILogger<AgentModelAccess> logger)
{
    /// <summary>The agents' home (their settings and conversations), in the session's workspace volume under
    /// <c>.sandbox/</c>, which git, review diffs and archives leave out: a server restart, a pause, a snapshot, a fork and
    /// a restart of the session keep it.</summary>
    internal const string AgentHome = "/workspace/.sandbox/home";

    /// <summary>What the agent holds instead of a key: the model proxy adds the real one to each request.</summary>
    internal const string PlaceholderKey = "sk-sandbox-proxy-holds-the-real-key";

    /// <summary>What an agent is started with: the proxy as its model endpoint, the placeholder key, its home.</summary>
    internal AgentContext Context(string? conversation, AgentGitPolicy gitPolicy) =>
        new($"http://{network.ProxyHost}:{network.ProxyPort}", PlaceholderKey, AgentHome, conversation, gitPolicy);

    /// <summary>The key the proxy adds (the caller's, else the server's for the agent's API), or null.</summary>
    internal string? ApiKey(IAgentRunner agent, AgentRunRequest request) =>
        string.IsNullOrEmpty(request.ApiKey) ? NullIfEmpty(agents.Value.Api(agent.ModelApi).ApiKey) : request.ApiKey;

    /// <summary>What the proxy forwards to, and with which key.</summary>
    internal ModelProxyConfig Config(IAgentRunner agent, Uri endpoint, string? apiKey)
    {
        var api = agents.Value.Api(agent.ModelApi);
        return new ModelProxyConfig(endpoint, api.AuthHeader, apiKey, api.Paths);
    }

    /// <summary>Opens the session's private network and its model proxy, bounded by <see cref="SandboxOptions.CreateTimeout"/>.</summary>
    internal async Task<IModelProxy> OpenAsync(Session session, ModelProxyConfig config, CancellationToken ct)
    {
        var proxyImage = string.IsNullOrWhiteSpace(agents.Value.ProxyImage) ? (sandbox.Value.Images.TryGetValue(session.Image, out var own) ? own : sandbox.Value.Images[sandbox.Value.DefaultImage]) : agents.Value.ProxyImage;
        using var opening = CancellationTokenSource.CreateLinkedTokenSource(ct);
        opening.CancelAfter(sandbox.Value.CreateTimeout);
        return await network.OpenAsync(session.Id, session.ContainerId, proxyImage, config, agents.Value.EgressNetwork, opening.Token).ConfigureAwait(false);
    }

    /// <summary>Stops the proxy and removes the network (the session back on no network). Never throws: a failure is
    /// logged, and the orphan sweep removes what is left.</summary>
    internal async Task CloseAsync(Session session, IModelProxy? proxy)
    {
        if (proxy is not null)
        {
            await proxy.DisposeAsync().ConfigureAwait(false);
        }
        using var cleanup = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await network.CloseAsync(session.Id, session.Runner is { ClosedReason: null } ? session.ContainerId : null, cleanup.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            SessionService.LogCleanupFailed(logger, session.Id, "agent network: " + e.Message);
        }
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
