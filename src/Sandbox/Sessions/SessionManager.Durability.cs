using System.Security.Cryptography;
using System.Text;
using Docker.DotNet;
using Microsoft.Extensions.Logging;
using Sandbox.Docker;
using Sandbox.Execution;
using Sandbox.Storage;

namespace Sandbox.Sessions;

public sealed partial class SessionManager
{
    /// <summary>
    /// Opens the store and reconciles it with the engine: running containers of stored sessions are reconnected (their
    /// interpreter and files are intact), sessions whose container is gone or stopped are marked lost, and containers
    /// labelled as this instance's that no session owns are removed.
    /// </summary>
    public async Task InitializeAsync(CancellationToken ct)
    {
        await _store.InitializeAsync(ct).ConfigureAwait(false);
        foreach (var record in await _store.LoadOpenSessionsAsync(ct).ConfigureAwait(false))
        {
            var session = new Session
            {
                Id = record.Id, Image = record.Image, Owner = record.Owner, Limits = record.Limits, CreatedAt = record.CreatedAt,
                IdleTimeout = record.IdleTimeout, ContainerId = record.ContainerId, LastUsedAt = record.LastUsedAt,
                ExecutionCount = record.ExecutionCount, Status = record.Status, LostReason = record.LostReason,
            };
            if (record.Status != SessionStatus.Lost)
            {
                var reason = await ReconnectAsync(session, ct).ConfigureAwait(false);
                if (reason is not null)
                {
                    session.Status = SessionStatus.Lost;
                    session.LostReason = reason;
                    await _backend.RemoveSessionAsync(session.Id, ct).ConfigureAwait(false);
                    _store.AppendHistory(new HistoryEntry(session.Id, session.Owner, "lost", _time.GetUtcNow(), Output: reason));
                    await PersistAsync(session, ct).ConfigureAwait(false);
                    LogLost(_logger, session.Id, reason);
                }
                else
                {
                    _store.AppendHistory(new HistoryEntry(session.Id, session.Owner, "resumed", _time.GetUtcNow(), Output: "reconnected after a server restart"));
                    LogResumed(_logger, session.Id);
                }
            }
            _sessions[session.Id] = session;
            Interlocked.Increment(ref _reserved);
            if (session.Runner is { } runner)
            {
                _ = runner.Completion.ContinueWith(_ => OnRunnerEnded(session), CancellationToken.None,
                    TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
        }
        await ReconcileAgentRunsAsync(ct).ConfigureAwait(false);
        await RemoveOrphansAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Reattaches to a stored session's container. Returns why that is impossible, or null on success.</summary>
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
            var pong = await AskRunnerAsync(session, new() { ["op"] = "ping" }, TimeSpan.FromSeconds(10), "ping", ct).ConfigureAwait(false);
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

    /// <summary>At shutdown: keep containers for the next start (store is durable and keeping is configured), else close all.</summary>
    public async Task ShutdownAsync(CancellationToken ct)
    {
        await StopAgentRunsAsync("the server is shutting down").ConfigureAwait(false);
        await DrainPoolAsync(ct).ConfigureAwait(false);
        if (_options.KeepSessionsOnShutdown && _options.Store != StoreKind.Memory)
        {
            _detaching = true;
            foreach (var session in _sessions.Values)
            {
                await PersistAsync(session, ct).ConfigureAwait(false);
                if (session.Runner is { } runner)
                {
                    // Detach only: the container and its interpreter keep running for the next server process.
                    await runner.DisposeAsync().ConfigureAwait(false);
                }
            }
            _sessions.Clear();
            return;
        }
        await CloseAllAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Saves every live session's counters (the reaper calls this periodically).</summary>
    public async Task PersistAllAsync(CancellationToken ct)
    {
        foreach (var session in _sessions.Values)
        {
            await PersistAsync(session, ct).ConfigureAwait(false);
        }
    }

    /// <summary>The caller's session history (audit log), oldest first.</summary>
    public async Task<IReadOnlyList<HistoryEntry>> GetHistoryAsync(string sessionId, string owner, int limit, CancellationToken ct)
    {
        var session = Get(sessionId, owner);
        return await _store.GetHistoryAsync(session.Id, Math.Clamp(limit, 1, 10_000), ct).ConfigureAwait(false);
    }

    /// <summary>Freezes a session's processes so an idle session costs no CPU. Its state and files are kept.</summary>
    public async Task<SessionInfo> PauseSessionAsync(string sessionId, string owner, CancellationToken ct)
    {
        var session = Get(sessionId, owner);
        session.EnsureUsable();
        if (!await session.Gate.WaitAsync(0, ct).ConfigureAwait(false))
        {
            throw new SandboxException(SandboxErrorCodes.SessionBusy, $"Session {session.Id} is running an execution; pause it when it is idle.");
        }
        try
        {
            if (session.Status == SessionStatus.Ready)
            {
                await _backend.PauseAsync(session.ContainerId, ct).ConfigureAwait(false);
                lock (session.Sync)
                {
                    session.Status = SessionStatus.Paused;
                }
                _store.AppendHistory(new HistoryEntry(session.Id, owner, "paused", _time.GetUtcNow()));
                await PersistAsync(session, ct).ConfigureAwait(false);
            }
            return session.ToInfo(_options.MaxLifetime);
        }
        finally
        {
            session.Gate.Release();
        }
    }

    /// <summary>Thaws a paused session (executions and file operations also do this on their own).</summary>
    public async Task<SessionInfo> ResumeSessionAsync(string sessionId, string owner, CancellationToken ct)
    {
        var session = Get(sessionId, owner);
        session.EnsureUsable();
        await EnsureRunningAsync(session, ct).ConfigureAwait(false);
        return session.ToInfo(_options.MaxLifetime);
    }

    /// <summary>Unpauses a paused session before it is used.</summary>
    private async Task EnsureRunningAsync(Session session, CancellationToken ct)
    {
        if (session.Status != SessionStatus.Paused)
        {
            return;
        }
        try
        {
            await _backend.UnpauseAsync(session.ContainerId, ct).ConfigureAwait(false);
        }
        catch (DockerApiException e) when (e.StatusCode == System.Net.HttpStatusCode.Conflict || e.StatusCode == System.Net.HttpStatusCode.InternalServerError && e.Message.Contains("not paused", StringComparison.OrdinalIgnoreCase))
        {
            // Already running (another call resumed it first).
        }
        lock (session.Sync)
        {
            if (session.Status == SessionStatus.Paused)
            {
                session.Status = SessionStatus.Ready;
            }
        }
        _store.AppendHistory(new HistoryEntry(session.Id, session.Owner, "resumed", _time.GetUtcNow()));
    }

    private void RecordExecution(Session session, ExecutionRequest request, ExecutionResult? result, SandboxException? error)
    {
        var output = result is null ? error?.Message
            : Head(result.Stdout) + (result.Stderr.Length > 0 ? "\n[stderr] " + Head(result.Stderr) : "");
        _store.AppendHistory(new HistoryEntry(session.Id, session.Owner, error?.Code == SandboxErrorCodes.UnsafeCode ? "refused" : "execution",
            _time.GetUtcNow(), request.Language, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(request.Code))),
            request.Code.Length, result?.ExitCode, result?.Error?.Type ?? error?.Code, result?.TimedOut ?? false, result?.DurationMs, output));
    }

    private static string Head(string text) => text.Length <= 1000 ? text : text[..1000] + "…";

    private async Task PersistAsync(Session session, CancellationToken ct)
    {
        SessionRecord record;
        lock (session.Sync)
        {
            record = new SessionRecord(session.Id, session.Owner, session.Image, session.Limits, session.IdleTimeout, session.ContainerId,
                session.Status, session.LostReason, session.CreatedAt, session.LastUsedAt, session.ExecutionCount);
        }
        await _store.SaveSessionAsync(record, ct).ConfigureAwait(false);
    }

    private async Task PersistQuietlyAsync(Session session)
    {
        try
        {
            await PersistAsync(session, CancellationToken.None).ConfigureAwait(false);
        }
        catch (SandboxException e)
        {
            LogCleanupFailed(_logger, session.Id, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId} reconnected after restart")]
    private static partial void LogResumed(ILogger logger, string sessionId);
}
