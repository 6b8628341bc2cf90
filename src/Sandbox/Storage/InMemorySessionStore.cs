using System.Collections.Concurrent;

namespace Sandbox.Storage;

/// <summary>A store that keeps nothing across restarts (<c>Sandbox:Store=Memory</c>), for tests and throw-away servers.</summary>
public sealed class InMemorySessionStore : ISessionStore
{
    private readonly ConcurrentDictionary<string, SessionRecord> _sessions = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<HistoryEntry> _history = new();

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
        Task.FromResult<IReadOnlyList<SessionRecord>>(_sessions.Values.Where(s => s.Status != Sessions.SessionStatus.Closed).ToList());

    /// <inheritdoc />
    public void AppendHistory(HistoryEntry entry) => _history.Enqueue(entry);

    /// <inheritdoc />
    public Task<IReadOnlyList<HistoryEntry>> GetHistoryAsync(string sessionId, int limit, CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<HistoryEntry>>(_history.Where(h => h.SessionId == sessionId).TakeLast(limit).ToList());

    /// <inheritdoc />
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
