using System.Collections.Concurrent;
using Sandbox.Agents;

namespace Sandbox.Storage;

/// <summary>A store that keeps nothing across restarts (<c>Sandbox:Durability:Store=Memory</c>), for tests and throw-away servers.</summary>
public sealed class InMemorySessionStore : ISessionStore
{
    private readonly ConcurrentDictionary<string, SessionRecord> _sessions = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<HistoryEntry> _history = new();
    private readonly ConcurrentDictionary<string, AgentRun> _runs = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Cluster.NodeRecord> _nodes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTimeOffset> _usedLinks = new(StringComparer.Ordinal);
    private readonly string _instance;

    /// <summary>Creates an empty store for one instance (its sessions are filed under <paramref name="instance"/>).</summary>
    public InMemorySessionStore(string instance = "default") => _instance = instance;

    /// <inheritdoc />
    public Task InitializeAsync(CancellationToken ct) => Task.CompletedTask;

    /// <inheritdoc />
    public Task SaveSessionAsync(SessionRecord session, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(session);
        _sessions[session.Id] = session;
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<SessionRecord>> LoadOpenSessionsAsync(CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<SessionRecord>>(_sessions.Values.Where(s => s.Status != Sessions.SessionStatus.Closed).Select(s => s with { Node = _instance }).ToList());

    /// <inheritdoc />
    public void AppendHistory(HistoryEntry entry) => _history.Enqueue(entry);

    /// <inheritdoc />
    public Task<IReadOnlyList<HistoryEntry>> GetHistoryAsync(string sessionId, int limit, CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<HistoryEntry>>(_history.Where(h => h.SessionId == sessionId).TakeLast(limit).ToList());

    /// <inheritdoc />
    public Task SaveAgentRunAsync(AgentRun run, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(run);
        _runs[run.Id] = run;
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<AgentRun?> GetAgentRunAsync(string sessionId, string owner, string runId, CancellationToken ct) =>
        Task.FromResult(_runs.TryGetValue(runId, out var run) && run.SessionId == sessionId && run.Owner == owner ? run : null);

    /// <inheritdoc />
    public Task<string?> FindAgentRunSessionAsync(string owner, string runId, CancellationToken ct) =>
        Task.FromResult(_runs.TryGetValue(runId, out var run) && run.Owner == owner ? run.SessionId : null);

    /// <inheritdoc />
    public Task<IReadOnlyList<AgentRun>> ListAgentRunsAsync(string sessionId, string owner, int limit, CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<AgentRun>>(_runs.Values.Where(r => r.SessionId == sessionId && r.Owner == owner)
            .OrderByDescending(r => r.StartedAt).Take(limit).Select(AgentRunStore.Summary).ToList());

    /// <inheritdoc />
    public Task<int> FailInterruptedAgentRunsAsync(string reason, DateTimeOffset at, CancellationToken ct)
    {
        var n = 0;
        foreach (var run in _runs.Values.Where(r => r.Status == AgentRunStatus.Running))
        {
            _runs[run.Id] = AgentRunStore.Interrupted(run, reason, at);
            n++;
        }
        return Task.FromResult(n);
    }

    /// <inheritdoc />
    public Task SaveNodeAsync(Cluster.NodeRecord node, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(node);
        _nodes[node.Id] = node;
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<Cluster.NodeRecord>> ListNodesAsync(CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<Cluster.NodeRecord>>(_nodes.Values.OrderBy(n => n.Id, StringComparer.Ordinal).ToList());

    /// <inheritdoc />
    public Task<Cluster.SessionPlace?> LocateSessionAsync(string sessionId, CancellationToken ct) =>
        Task.FromResult(_sessions.TryGetValue(sessionId, out var s) ? new Cluster.SessionPlace(s.Id, _instance, s.Owner, s.Status, s.LostReason) : null);

    /// <inheritdoc />
    public Task<IReadOnlyList<SessionRecord>> ListOwnerSessionsAsync(string owner, CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<SessionRecord>>(_sessions.Values.Where(s => s.Owner == owner && s.Status != Sessions.SessionStatus.Closed)
            .OrderBy(s => s.CreatedAt).Select(s => s with { Node = _instance }).ToList());

    /// <inheritdoc />
    public Task<int> MarkNodeSessionsLostAsync(string node, string reason, CancellationToken ct)
    {
        var n = 0;
        if (node == _instance)
        {
            foreach (var s in _sessions.Values.Where(s => s.Status is Sessions.SessionStatus.Creating or Sessions.SessionStatus.Ready or Sessions.SessionStatus.Paused))
            {
                _sessions[s.Id] = s with { Status = Sessions.SessionStatus.Lost, LostReason = reason };
                n++;
            }
        }
        return Task.FromResult(n);
    }

    /// <inheritdoc />
    public Task<bool> UseLinkOnceAsync(string nonce, DateTimeOffset expiresAt, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        foreach (var (old, until) in _usedLinks)
        {
            if (until < now)
            {
                _usedLinks.TryRemove(old, out _);
            }
        }
        return Task.FromResult(_usedLinks.TryAdd(nonce, expiresAt));
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
