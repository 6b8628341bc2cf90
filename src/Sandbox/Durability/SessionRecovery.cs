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
public sealed partial class SessionRecovery(SessionRegistry registry, SessionService sessions, AgentRunService agents, Egress.EgressService egress,
    Execution.ExecutionService executions, WarmPool pool, OrphanSweeper orphans, ISandboxBackend backend, SessionJournal journal,
    IOptions<SandboxOptions> options, IOptions<Cluster.ClusterOptions> cluster, IOptions<DurabilityOptions> durability, ILogger<SessionRecovery> logger)
{
    private readonly SessionService _sessions = sessions;
    private readonly SandboxOptions _options = options.Value;
    private readonly bool _clustered = cluster.Value.Enabled;
    private readonly DurabilityOptions _durability = durability.Value;
    private readonly ILogger<SessionRecovery> _logger = logger;

    /// <summary>Opens the store and reconciles it with the engine (see the class summary).</summary>
    public async Task InitializeAsync(CancellationToken ct)
    {
        await journal.Store.InitializeAsync(ct).ConfigureAwait(false);
        foreach (var record in await journal.Store.LoadOpenSessionsAsync(ct).ConfigureAwait(false))
        {
            var session = Session.FromRecord(record, _options.MaxLifetime, _clustered ? _options.InstanceId : null);
            if (record.Status == SessionStatus.Lost)
            {
                // Lost while this server was away (in a cluster, another node reports a silent node's sessions lost):
                // whatever is left of its sandbox goes, so nothing orphaned stays on this engine.
                await backend.RemoveSandboxAsync(session.Id, ct).ConfigureAwait(false);
            }
            else
            {
                var reason = await ReconnectAsync(session, ct).ConfigureAwait(false);
                if (reason is null && session.Network is not null)
                {
                    try
                    {
                        // The old proxy's stream died with the old server: a fresh proxy and session CA.
                        await egress.ReattachAsync(session, ct).ConfigureAwait(false);
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
                    await backend.RemoveSandboxAsync(session.Id, ct).ConfigureAwait(false);
                    journal.Record(session, "lost", reason);
                    await journal.PersistAsync(session, ct).ConfigureAwait(false);
                    SessionRegistry.LogLost(_logger, session.Id, reason);
                }
                else
                {
                    journal.Record(session, "resumed", "reconnected after a server restart");
                    LogResumed(_logger, session.Id);
                }
            }
            registry.Restore(session);
            if (session.Status == SessionStatus.Ready)
            {
                try
                {
                    // An execution that ran on while no server was attached gets its handle back.
                    await executions.ResumeAsync(session, ct).ConfigureAwait(false);
                }
                catch (SandboxException e)
                {
                    LogResumeFailed(_logger, session.Id, e.Message);
                }
            }
        }
        await agents.ReconcileAsync(ct).ConfigureAwait(false);
        await orphans.SweepAsync(ct).ConfigureAwait(false);
    }

    /// <summary>At shutdown: keep sandboxes for the next start (store is durable and keeping is configured), else close all.</summary>
    public async Task ShutdownAsync(CancellationToken ct)
    {
        await agents.StopAllAsync("the server is shutting down").ConfigureAwait(false);
        await pool.DrainAsync(ct).ConfigureAwait(false);
        if (_durability.KeepSessionsOnShutdown && _durability.Store != StoreKind.Memory)
        {
            var sessions = registry.All.ToList();
            registry.Detach();
            foreach (var session in sessions)
            {
                await journal.PersistAsync(session, ct).ConfigureAwait(false);
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
        foreach (var session in registry.All)
        {
            await journal.PersistAsync(session, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Reattaches to a stored session's sandbox. Returns why that is impossible, or null on success.</summary>
    private async Task<string?> ReconnectAsync(Session session, CancellationToken ct)
    {
        if (await backend.GetStateAsync(session.ContainerId, ct).ConfigureAwait(false) is not { } state)
        {
            return "its container was removed while the server was down";
        }
        if (!state.Running)
        {
            return "its container stopped while the server was down (its files were in memory and are gone)";
        }
        try
        {
            var stream = await backend.AttachAsync(session.ContainerId, ct).ConfigureAwait(false);
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
