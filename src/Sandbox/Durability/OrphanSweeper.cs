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
public sealed class OrphanSweeper
{
    private readonly ISandboxBackend _backend;
    private readonly IAgentNetwork _network;
    private readonly Egress.IEgressNetwork _egress;
    private readonly SessionRegistry _registry;
    private readonly WarmPool _pool;
    private readonly AgentRunTracker _runs;
    private readonly SandboxOptions _options;
    private readonly TimeSpan _agentRunLife;
    private readonly TimeProvider _time;

    /// <summary>Creates the sweeper.</summary>
    public OrphanSweeper(ISandboxBackend backend, IAgentNetwork network, Egress.IEgressNetwork egress, SessionRegistry registry, WarmPool pool, AgentRunTracker runs,
        IOptions<SandboxOptions> options, IOptions<AgentOptions> agents, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(agents);
        _agentRunLife = agents.Value.MaxTimeout + TimeSpan.FromHours(1);
        _backend = backend;
        _network = network;
        _egress = egress;
        _registry = registry;
        _pool = pool;
        _runs = runs;
        _options = options.Value;
        _time = time;
    }

    /// <summary>Removes the orphans. Returns how many sandboxes and networks were removed.</summary>
    public async Task<int> SweepAsync(CancellationToken ct)
    {
        var removed = 0;
        var now = _time.GetUtcNow();
        foreach (var sandbox in await _backend.ListSandboxesAsync(ct).ConfigureAwait(false))
        {
            if (_registry.Contains(sandbox.SessionId) || _pool.Holds(sandbox.SessionId)
                || !sandbox.IsOrphan(_options.InstanceId, now, _options.MaxLifetime + TimeSpan.FromHours(1)))
            {
                continue;
            }
            await _backend.RemoveSandboxAsync(sandbox.SessionId, ct).ConfigureAwait(false);
            await _network.CloseAsync(sandbox.SessionId, null, ct).ConfigureAwait(false);
            await _egress.CloseAsync(sandbox.SessionId, null, ct).ConfigureAwait(false);
            removed++;
        }
        foreach (var network in await _network.ListAsync(ct).ConfigureAwait(false))
        {
            if (_runs.IsRunningIn(network.SessionId) || !network.IsOrphan(_options.InstanceId, now, _agentRunLife))
            {
                continue;
            }
            var containerId = _registry.TryFind(network.SessionId, out var session) ? session.ContainerId : null;
            await _network.CloseAsync(network.SessionId, containerId, ct).ConfigureAwait(false);
            removed++;
        }
        foreach (var network in await _egress.ListAsync(ct).ConfigureAwait(false))
        {
            if (_registry.Contains(network.SessionId) || _pool.Holds(network.SessionId)
                || !network.IsOrphan(_options.InstanceId, now, _options.MaxLifetime + TimeSpan.FromHours(1)))
            {
                continue;
            }
            await _egress.CloseAsync(network.SessionId, null, ct).ConfigureAwait(false);
            removed++;
        }
        return removed;
    }
}
