using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Agents;
using Sandbox.Backend;
using Sandbox.Pool;
using Sandbox.Runner;
using Sandbox.Sessions;

namespace Sandbox.Durability;

/// <summary>
/// Sessions across server restarts. At start: open the store, reconnect to the running sandboxes of stored sessions
/// (their interpreter and files are intact), mark the others lost, fail interrupted agent runs, sweep orphans. At
/// shutdown: stop agent runs, empty the pool, and either detach (durable store, sessions kept) or close everything.
/// </summary>
public sealed partial class SessionRecovery
{
    private readonly SessionRegistry _registry;
    private readonly SessionService _sessions;
    private readonly AgentRunService _agents;
    private readonly Egress.EgressService _egress;
    private readonly Execution.ExecutionService _executions;
    private readonly WarmPool _pool;
    private readonly OrphanSweeper _orphans;
    private readonly ISandboxBackend _backend;
    private readonly SessionJournal _journal;
    private readonly SandboxOptions _options;
    private readonly bool _clustered;
    private readonly DurabilityOptions _durability;
    private readonly ILogger<SessionRecovery> _logger;

    /// <summary>Creates the recovery.</summary>
    public SessionRecovery(SessionRegistry registry, SessionService sessions, AgentRunService agents, Egress.EgressService egress, Execution.ExecutionService executions,
        WarmPool pool, OrphanSweeper orphans, ISandboxBackend backend, SessionJournal journal, IOptions<SandboxOptions> options,
        IOptions<Cluster.ClusterOptions> cluster, IOptions<DurabilityOptions> durability, ILogger<SessionRecovery> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(durability);
        _clustered = cluster.Value.Enabled;
        _durability = durability.Value;
        _registry = registry;
        _sessions = sessions;
        _agents = agents;
        _egress = egress;
        _executions = executions;
        _pool = pool;
        _orphans = orphans;
        _backend = backend;
        _journal = journal;
        _options = options.Value;
        _logger = logger;
    }

    /// <summary>Opens the store and reconciles it with the engine (see the class summary).</summary>
    public async Task InitializeAsync(CancellationToken ct)
    {
        await _journal.Store.InitializeAsync(ct).ConfigureAwait(false);
        foreach (var record in await _journal.Store.LoadOpenSessionsAsync(ct).ConfigureAwait(false))
        {
            var session = Session.FromRecord(record, _options.MaxLifetime, _clustered ? _options.InstanceId : null);
            if (record.Status == SessionStatus.Lost)
            {
                // Lost while this server was away (in a cluster, another node reports a silent node's sessions lost):
                // whatever is left of its sandbox goes, so nothing orphaned stays on this engine.
                await _backend.RemoveSandboxAsync(session.Id, ct).ConfigureAwait(false);
            }
            else
            {
                var reason = await ReconnectAsync(session, ct).ConfigureAwait(false);
                if (reason is null && session.Network is not null)
                {
                    try
                    {
                        // The old proxy's stream died with the old server: a fresh proxy and session CA.
                        await _egress.ReattachAsync(session, ct).ConfigureAwait(false);
                    }
                    catch (SandboxException e)
                    {
                        reason = "its network proxy could not be restarted: " + e.Message;
                    }
                }
                if (reason is not null)
                {
                    session.Status = SessionStatus.Lost;
                    session.LostReason = reason;
                    await _backend.RemoveSandboxAsync(session.Id, ct).ConfigureAwait(false);
                    _journal.Record(session, "lost", reason);
                    await _journal.PersistAsync(session, ct).ConfigureAwait(false);
                    SessionRegistry.LogLost(_logger, session.Id, reason);
                }
                else
                {
                    _journal.Record(session, "resumed", "reconnected after a server restart");
                    LogResumed(_logger, session.Id);
                }
            }
            _registry.Restore(session);
            if (session.Status == SessionStatus.Ready)
            {
                try
                {
                    // An execution that ran on while no server was attached gets its handle back.
                    await _executions.ResumeAsync(session, ct).ConfigureAwait(false);
                }
                catch (SandboxException e)
                {
                    LogResumeFailed(_logger, session.Id, e.Message);
                }
            }
        }
        await _agents.ReconcileAsync(ct).ConfigureAwait(false);
        await _orphans.SweepAsync(ct).ConfigureAwait(false);
    }

    /// <summary>At shutdown: keep sandboxes for the next start (store is durable and keeping is configured), else close all.</summary>
    public async Task ShutdownAsync(CancellationToken ct)
    {
        await _agents.StopAllAsync("the server is shutting down").ConfigureAwait(false);
        await _pool.DrainAsync(ct).ConfigureAwait(false);
        if (_durability.KeepSessionsOnShutdown && _durability.Store != StoreKind.Memory)
        {
            var sessions = _registry.All.ToList();
            _registry.Detach();
            foreach (var session in sessions)
            {
                await _journal.PersistAsync(session, ct).ConfigureAwait(false);
                if (session.Runner is { } runner)
                {
                    // Detach only: the sandbox and its interpreter keep running for the next server process.
                    await runner.DisposeAsync().ConfigureAwait(false);
                }
            }
            return;
        }
        await _sessions.CloseAllAsync("server shutting down", ct).ConfigureAwait(false);
    }

    /// <summary>Saves every live session's counters (the reaper calls this periodically).</summary>
    public async Task PersistAllAsync(CancellationToken ct)
    {
        foreach (var session in _registry.All)
        {
            await _journal.PersistAsync(session, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Reattaches to a stored session's sandbox. Returns why that is impossible, or null on success.</summary>
    private async Task<string?> ReconnectAsync(Session session, CancellationToken ct)
    {
        if (await _backend.GetStateAsync(session.ContainerId, ct).ConfigureAwait(false) is not { } state)
        {
            return "its container was removed while the server was down";
        }
        if (!state.Running)
        {
            return "its container stopped while the server was down (its files were in memory and are gone)";
        }
        try
        {
            var stream = await _backend.AttachAsync(session.ContainerId, ct).ConfigureAwait(false);
            session.Runner = new RunnerConnection(stream, session.Id, _logger);
            if (state.Paused)
            {
                session.Status = SessionStatus.Paused;
                return null;
            }
            var pong = await session.Runner.AskAsync(new PingRequest(), TimeSpan.FromSeconds(10), "ping", ct).ConfigureAwait(false);
            session.Status = SessionStatus.Ready;
            return pong.Type == "pong" ? null : "its runner did not answer";
        }
        catch (SandboxException e)
        {
            if (session.Runner is { } r)
            {
                await r.DisposeAsync().ConfigureAwait(false);
                session.Runner = null;
            }
            return "its runner did not answer: " + e.Message;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: the execution that ran during the restart could not be taken up: {Error}")]
    private static partial void LogResumeFailed(ILogger logger, string sessionId, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId} reconnected after restart")]
    private static partial void LogResumed(ILogger logger, string sessionId);
}
