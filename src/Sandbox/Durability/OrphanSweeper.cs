using Microsoft.Extensions.Options;
using Sandbox.Agents;
using Sandbox.Backend;
using Sandbox.Pool;
using Sandbox.Sessions;

namespace Sandbox.Durability;

/// <summary>
/// Removes what a crash or a killed server left behind, found by our labels: sandboxes no live session owns (this
/// instance's, and any instance's past the maximum lifetime), agent networks (with their proxies) in which no run
/// is going on, and egress networks (with their proxies) of sessions that are gone.
/// </summary>
public sealed class OrphanSweeper(ISandboxBackend backend, IAgentNetwork network, Egress.IEgressNetwork egress, SessionRegistry registry, WarmPool pool,
    AgentRunTracker runs, IOptions<SandboxOptions> options, IOptions<AgentOptions> agents, TimeProvider time)
{
    private readonly IAgentNetwork _network = network;
    private readonly SandboxOptions _options = options.Value;
    private readonly TimeSpan _agentRunLife = agents.Value.MaxTimeout + TimeSpan.FromHours(1);

    /// <summary>Removes the orphans. Returns how many sandboxes and networks were removed.</summary>
    public async Task<int> SweepAsync(CancellationToken ct)
    {
        var removed = 0;
        var now = time.GetUtcNow();
        foreach (var sandbox in await backend.ListSandboxesAsync(ct).ConfigureAwait(false))
        {
            if (registry.Contains(sandbox.SessionId) || pool.Holds(sandbox.SessionId)
                || !sandbox.IsOrphan(_options.InstanceId, now, _options.MaxLifetime + TimeSpan.FromHours(1)))
            {
                continue;
            }
            await backend.RemoveSandboxAsync(sandbox.SessionId, ct).ConfigureAwait(false);
            await _network.CloseAsync(sandbox.SessionId, null, ct).ConfigureAwait(false);
            await egress.CloseAsync(sandbox.SessionId, null, ct).ConfigureAwait(false);
            removed++;
        }
        foreach (var network in await _network.ListAsync(ct).ConfigureAwait(false))
        {
            if (runs.IsRunningIn(network.SessionId) || !network.IsOrphan(_options.InstanceId, now, _agentRunLife))
            {
                continue;
            }
            var containerId = registry.TryFind(network.SessionId, out var session) ? session.ContainerId : null;
            await _network.CloseAsync(network.SessionId, containerId, ct).ConfigureAwait(false);
            removed++;
        }
        foreach (var network in await egress.ListAsync(ct).ConfigureAwait(false))
        {
            if (registry.Contains(network.SessionId) || pool.Holds(network.SessionId)
                || !network.IsOrphan(_options.InstanceId, now, _options.MaxLifetime + TimeSpan.FromHours(1)))
            {
                continue;
            }
            await egress.CloseAsync(network.SessionId, null, ct).ConfigureAwait(false);
            removed++;
        }
        return removed;
    }
}
