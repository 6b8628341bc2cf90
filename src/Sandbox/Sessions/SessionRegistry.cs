using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Backend;
using Sandbox.Durability;

namespace Sandbox.Sessions;

/// <summary>What a claim of a session is for: each kind has its own server-wide number of slots.</summary>
internal enum SessionWork
{
    /// <summary>A code execution (<see cref="Execution.ExecutionOptions.MaxConcurrent"/>).</summary>
    Execution,
    /// <summary>An agent run (<see cref="Agents.AgentOptions.MaxConcurrentRuns"/>).</summary>
    AgentRun,
}

/// <summary>
/// The session core every capability shares: the live sessions, looked up by owner; the capacity reservation; the
/// claim and release of a session's gate and the server-wide slots; the busy and lost state; thawing a paused
/// session before use. Nothing else is shared between the services.
/// </summary>
public sealed partial class SessionRegistry : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, Session> _sessions = new(StringComparer.Ordinal);
    private readonly SandboxOptions _options;
    private readonly int _maxExecutions;
    private readonly int _maxAgentRuns;
    private readonly ISandboxBackend _backend;
    private readonly SessionJournal _journal;
    private readonly TimeProvider _time;
    private readonly ILogger<SessionRegistry> _logger;
    private readonly SemaphoreSlim _executionSlots;
    private readonly SemaphoreSlim _agentSlots;
    private int _reserved;
    private volatile bool _detaching;

    /// <summary>Creates the registry.</summary>
    public SessionRegistry(IOptions<SandboxOptions> options, IOptions<Execution.ExecutionOptions> execution, IOptions<Agents.AgentOptions> agents,
        ISandboxBackend backend, SessionJournal journal, TimeProvider time, ILogger<SessionRegistry> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(execution);
        ArgumentNullException.ThrowIfNull(agents);
        _options = options.Value;
        _maxExecutions = execution.Value.MaxConcurrent;
        _maxAgentRuns = agents.Value.MaxConcurrentRuns;
        _backend = backend;
        _journal = journal;
        _time = time;
        _logger = logger;
        _executionSlots = new SemaphoreSlim(_maxExecutions, _maxExecutions);
        _agentSlots = new SemaphoreSlim(_maxAgentRuns, _maxAgentRuns);
    }

    /// <summary>Number of live sessions of all callers.</summary>
    public int Count => _sessions.Count;

    internal IEnumerable<Session> All => _sessions.Values;

    internal bool Contains(string sessionId) => _sessions.ContainsKey(sessionId);

    internal bool TryFind(string sessionId, out Session session) => _sessions.TryGetValue(sessionId, out session!);

    /// <summary>The caller's session; another caller's behaves like an unknown one.</summary>
    internal Session Get(string sessionId, string owner)
    {
        ArgumentNullException.ThrowIfNull(owner);
        if (string.IsNullOrEmpty(sessionId) || !_sessions.TryGetValue(sessionId, out var session) || session.Owner != owner)
        {
            throw new SandboxException(SandboxErrorCodes.SessionNotFound,
                $"No session '{SafeText.Shorten(sessionId)}'. It may have been closed or expired; create a new one with create_session.");
        }
        return session;
    }

    /// <summary>The caller's session, ready for a call: usable, and thawed if it was paused.</summary>
    internal async Task<Session> GetRunningAsync(string sessionId, string owner, CancellationToken ct)
    {
        var session = Get(sessionId, owner);
        session.EnsureUsable();
        await EnsureRunningAsync(session, ct).ConfigureAwait(false);
        return session;
    }

    /// <summary>Reserves room for one more session, or throws <c>capacity_exceeded</c>. <see cref="Unreserve"/> gives it back.</summary>
    internal void Reserve()
    {
        if (Interlocked.Increment(ref _reserved) > _options.MaxSessions)
        {
            Interlocked.Decrement(ref _reserved);
            throw new SandboxException(SandboxErrorCodes.CapacityExceeded,
                $"The server already runs its maximum of {_options.MaxSessions} sessions. Close a session you no longer need and retry.");
        }
    }

    internal void Unreserve() => Interlocked.Decrement(ref _reserved);

    private readonly HashSet<(string Owner, string Name)> _namesBeingCreated = [];

    /// <summary>Holds <paramref name="name"/> for a session of <paramref name="owner"/> being created, until the result
    /// is disposed (by then the session is in the registry, or the create failed). Throws <c>name_taken</c> when an open
    /// session of the owner (other than <paramref name="replacing"/>, which a restart closes next), or another create, has the name.</summary>
    internal IDisposable ReserveName(string owner, string name, Session? replacing = null)
    {
        lock (_namesBeingCreated)
        {
            var holder = _sessions.Values.FirstOrDefault(s => s.Owner == owner && s.Name == name && s.Status != SessionStatus.Closed && s != replacing);
            if (holder is not null || !_namesBeingCreated.Add((owner, name)))
            {
                throw new SandboxException(SandboxErrorCodes.NameTaken, holder is null
                    ? $"Another session named '{name}' is being created."
                    : $"Session {holder.Id} is already named '{name}': close it or pick another name.");
            }
        }
        return new NameReservation(this, (owner, name));
    }

    private sealed class NameReservation(SessionRegistry registry, (string, string) key) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                lock (registry._namesBeingCreated)
                {
                    registry._namesBeingCreated.Remove(key);
                }
            }
        }
    }

    /// <summary>A session name: lower-case letters, digits, <c>.</c> <c>_</c> <c>-</c>, starting with a letter or digit, at most 63.</summary>
    internal static bool IsName(string name) => name.Length is > 0 and <= 63 && (char.IsAsciiLetterLower(name[0]) || char.IsAsciiDigit(name[0]))
        && name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '.' or '_' or '-');

    /// <summary>Adds a session (its room reserved) and watches its runner: when the runner ends, the session is lost.</summary>
    internal void Add(Session session)
    {
        _sessions[session.Id] = session;
        if (session.Runner is { } runner)
        {
            _ = runner.Completion.ContinueWith(_ => OnRunnerEnded(session), CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    /// <summary>Adds a session loaded from the store at start-up: it had its room before the restart, so the
    /// capacity is not checked again.</summary>
    internal void Restore(Session session)
    {
        Interlocked.Increment(ref _reserved);
        Add(session);
    }

    /// <summary>Takes a session out (once); its room is given back. False when it was already out.</summary>
    internal bool TryRemove(Session session)
    {
        if (!_sessions.TryRemove(session.Id, out _))
        {
            return false;
        }
        Interlocked.Decrement(ref _reserved);
        return true;
    }

    /// <summary>Forgets every session without closing it (the server detaches at shutdown and leaves them running).</summary>
    /// <summary>Whether the server is letting go of its sessions (shutdown, keeping them for the next start).</summary>
    internal bool Detaching => _detaching;

    internal void Detach()
    {
        _detaching = true;
        _sessions.Clear();
    }

    /// <summary>Claims a session for one execution or agent run and one server-wide slot: refused at once
    /// (<c>session_busy</c>, <c>capacity_exceeded</c>), never queued. <see cref="Release"/> gives both back.</summary>
    internal void Claim(Session session, SessionWork work, string busyMessage)
    {
        var slots = Slots(work);
        if (!session.Gate.Wait(0))
        {
            throw new SandboxException(SandboxErrorCodes.SessionBusy, busyMessage);
        }
        if (!slots.Wait(0))
        {
            session.Gate.Release();
            throw new SandboxException(SandboxErrorCodes.CapacityExceeded, work == SessionWork.Execution
                ? $"The server already runs its maximum of {_maxExecutions} executions. Retry shortly."
                : $"The server already runs its maximum of {_maxAgentRuns} agent runs. Retry later.");
        }
        session.BeginWork();
    }

    /// <summary>Ends what <see cref="Claim"/> began: the session is idle again (one call more) and the slot is free.</summary>
    internal void Release(Session session, SessionWork work)
    {
        session.EndWork(_time.GetUtcNow());
        Slots(work).Release();
        session.Gate.Release();
    }

    /// <summary>Takes a session's gate without a slot (installs, pause), or throws <c>session_busy</c>.</summary>
    internal void Lock(Session session, string busyMessage)
    {
        if (!session.Gate.Wait(0))
        {
            throw new SandboxException(SandboxErrorCodes.SessionBusy, busyMessage);
        }
    }

    /// <summary>Unpauses a paused session before it is used.</summary>
    internal async Task EnsureRunningAsync(Session session, CancellationToken ct)
    {
        if (session.Status != SessionStatus.Paused)
        {
            return;
        }
        await _backend.UnpauseAsync(session.ContainerId, ct).ConfigureAwait(false);
        session.MarkResumed();
        _journal.Record(session, "resumed");
    }

    /// <summary>Marks a session lost and kills its sandbox (its runner stopped answering).</summary>
    internal async Task KillHungAsync(Session session)
    {
        session.MarkLost("the sandbox stopped answering after a timeout and was stopped");
        LogHung(_logger, session.Id);
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _backend.KillAsync(session.ContainerId, cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SandboxException or OperationCanceledException)
        {
            LogKillFailed(_logger, session.Id, e.Message);
        }
    }

    private SemaphoreSlim Slots(SessionWork work) => work == SessionWork.Execution ? _executionSlots : _agentSlots;

    private void OnRunnerEnded(Session session)
    {
        if (_detaching)
        {
            return; // the server is shutting down and leaves the container running for the next start
        }
        // Lost at once (calls fail fast; a session already lost, e.g. a hung one that was killed, stays so); the reason
        // is then refined from the engine's view of the sandbox, and recorded.
        session.MarkLost(session.Runner?.ClosedReason ?? "the container stopped");
        if (session.Status == SessionStatus.Lost)
        {
            _ = RecordLossAsync(session);
        }
    }

    private async Task RecordLossAsync(Session session)
    {
        session.ExplainLoss(await ExplainLossAsync(session).ConfigureAwait(false));
        LogLost(_logger, session.Id, session.LostReason);
        _journal.Record(session, "lost", session.LostReason);
        await _journal.PersistQuietlyAsync(session).ConfigureAwait(false);
    }

    /// <summary>Why a session's sandbox ended, as the engine saw it: out of memory, removed, or what the runner's
    /// connection said. Asked once per session: the recorder and a waiting execution share the answer.</summary>
    private Task<string> ExplainLossAsync(Session session)
    {
        return session.ExplainLossOnce(fallback => Task.Run(() => InspectLossAsync(session, fallback)));
    }

    private async Task<string> InspectLossAsync(Session session, string fallback)
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            var state = await _backend.GetStateAsync(session.ContainerId, cts.Token).ConfigureAwait(false);
            // The runner's stream can end a moment before the engine has recorded why the container stopped.
            for (var i = 0; i < 20 && state is { Running: true, OomKilled: false }; i++)
            {
                await Task.Delay(100, cts.Token).ConfigureAwait(false);
                state = await _backend.GetStateAsync(session.ContainerId, cts.Token).ConfigureAwait(false);
            }
            if (state is null)
            {
                return "its container was removed";
            }
            if (state.OomKilled)
            {
                return $"it ran out of memory (its limit is {session.Limits.MemoryMb} MiB)"
                       + (session.Isolation == Isolation.IsolationTier.Gvisor
                           ? "; under gVisor the host stopped the whole sandbox: its memory grew faster than the session's own watch could stop it"
                           : "");
            }
            return fallback;
        }
        catch (Exception e) when (e is SandboxException or OperationCanceledException)
        {
            return fallback;
        }
    }

    /// <summary>A <c>session_lost</c> error that says why, when the engine can tell.</summary>
    internal async Task<SandboxException> ExplainAsync(Session session, SandboxException lost)
    {
        var reason = await ExplainLossAsync(session).ConfigureAwait(false);
        session.ExplainLoss(reason);
        return new SandboxException(SandboxErrorCodes.SessionLost, $"The session is no longer usable: {reason}. Create a new session.", lost);
    }

    /// <summary>Closes every live session's runner connection (the sandboxes themselves are not touched).</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var session in _sessions.Values)
        {
            if (session.Runner is { } runner)
            {
                await runner.DisposeAsync().ConfigureAwait(false);
            }
        }
        _executionSlots.Dispose();
        _agentSlots.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId} lost: {Reason}")]
    internal static partial void LogLost(ILogger logger, string sessionId, string? reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: runner did not stop the code within the grace; container killed")]
    private static partial void LogHung(ILogger logger, string sessionId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: killing its container failed: {Error}")]
    private static partial void LogKillFailed(ILogger logger, string sessionId, string error);
}
