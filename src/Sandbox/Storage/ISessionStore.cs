using Sandbox.Agents;
using Sandbox.Sessions;

namespace Sandbox.Storage;

/// <summary>A session as persisted: enough to list it, check ownership and reconnect to its container after a restart.</summary>
/// <param name="Id">Session id.</param>
/// <param name="Owner">Caller that owns it.</param>
/// <param name="Image">Image short name.</param>
/// <param name="Limits">Effective limits.</param>
/// <param name="IdleTimeout">Idle timeout.</param>
/// <param name="ContainerId">Docker container id.</param>
/// <param name="Status">Lifecycle state.</param>
/// <param name="LostReason">Why it is lost, if it is.</param>
/// <param name="CreatedAt">Creation time.</param>
/// <param name="LastUsedAt">Last use.</param>
/// <param name="ExecutionCount">Executions so far.</param>
/// <param name="Isolation">Its isolation tier (sessions stored before tiers existed ran in the container tier).</param>
/// <param name="Network">Its allow list and secret names (never values); null: no network.</param>
/// <param name="Git">The repository it was cloned from (no credential value); null for other sessions.</param>
/// <param name="Context">The context directories it mounts.</param>
/// <param name="Node">The node (instance) that holds it, when read from a store shared by a cluster.</param>
/// <param name="Ports">The preview ports it exposes.</param>
/// <param name="Name">Its name (a task name), if it has one.</param>
/// <param name="Metadata">The caller's labels.</param>
/// <param name="Env">The caller's environment variables for its code.</param>
public sealed record SessionRecord(
    string Id, string Owner, string Image, SandboxLimits Limits, TimeSpan IdleTimeout, string ContainerId,
    SessionStatus Status, string? LostReason, DateTimeOffset CreatedAt, DateTimeOffset LastUsedAt, int ExecutionCount,
    Isolation.IsolationTier Isolation = Isolation.IsolationTier.Container, Egress.SessionNetwork? Network = null,
    Git.GitWorkspace? Git = null, IReadOnlyList<string>? Context = null, string? Node = null, IReadOnlyList<int>? Ports = null, string? Name = null,
    IReadOnlyDictionary<string, string>? Metadata = null, IReadOnlyDictionary<string, string>? Env = null)
{
    /// <summary>Its own Docker engine (<c>docker: true</c>); null: none.</summary>
    public NestedDocker.NestedDockerInfo? Docker { get; init; }
}

/// <summary>One audit entry of a session's history.</summary>
/// <param name="SessionId">Session id.</param>
/// <param name="Owner">Caller.</param>
/// <param name="Kind"><c>created</c>, <c>execution</c>, <c>refused</c>, <c>closed</c>, <c>lost</c>, <c>resumed</c>, <c>paused</c>.</param>
/// <param name="At">When.</param>
/// <param name="Language">Execution language.</param>
/// <param name="CodeSha256">SHA-256 of the code (hex), never the code itself.</param>
/// <param name="CodeSize">Code length in characters.</param>
/// <param name="ExitCode">Exit status.</param>
/// <param name="ErrorType">Exception type or error code.</param>
/// <param name="TimedOut">Whether it timed out.</param>
/// <param name="DurationMs">Duration.</param>
/// <param name="Output">The first characters of stdout and stderr (truncated), or a note.</param>
public sealed record HistoryEntry(
    string SessionId, string Owner, string Kind, DateTimeOffset At, string? Language = null, string? CodeSha256 = null,
    int? CodeSize = null, int? ExitCode = null, string? ErrorType = null, bool TimedOut = false, double? DurationMs = null,
    string? Output = null);

/// <summary>Where sessions and their history live, so they survive a server restart: SQLite by default, PostgreSQL for a
/// cluster of servers sharing one store (which also records the nodes and where each session lives).</summary>
public interface ISessionStore : IAsyncDisposable
{
    /// <summary>Opens the store and migrates its schema; fails with a clear message when it cannot.</summary>
    Task InitializeAsync(CancellationToken ct);

    /// <summary>Inserts or replaces a session.</summary>
    Task SaveSessionAsync(SessionRecord session, CancellationToken ct);

    /// <summary>Sessions not closed (ready or lost).</summary>
    Task<IReadOnlyList<SessionRecord>> LoadOpenSessionsAsync(CancellationToken ct);

    /// <summary>Queues a history entry (written in the background; flushed on dispose).</summary>
    void AppendHistory(HistoryEntry entry);

    /// <summary>A session's history, oldest first (pending entries are flushed first).</summary>
    Task<IReadOnlyList<HistoryEntry>> GetHistoryAsync(string sessionId, int limit, CancellationToken ct);

    /// <summary>Inserts or replaces an agent run with its trajectory and diff (never a key: runs hold none).</summary>
    Task SaveAgentRunAsync(AgentRun run, CancellationToken ct);

    /// <summary>One agent run of a session, if the owner matches.</summary>
    Task<AgentRun?> GetAgentRunAsync(string sessionId, string owner, string runId, CancellationToken ct);

    /// <summary>The session of an agent run of the owner's, by the run's id alone (an agent job's id is its run's), or null.</summary>
    Task<string?> FindAgentRunSessionAsync(string owner, string runId, CancellationToken ct);

    /// <summary>A session's agent runs, newest first, without trajectories and diffs.</summary>
    Task<IReadOnlyList<AgentRun>> ListAgentRunsAsync(string sessionId, string owner, int limit, CancellationToken ct);

    /// <summary>Marks runs still recorded as running (the server stopped during them) as failed with <paramref name="reason"/>.</summary>
    Task<int> FailInterruptedAgentRunsAsync(string reason, DateTimeOffset at, CancellationToken ct);

    /// <summary>Inserts or replaces a node's row (its heartbeat).</summary>
    Task SaveNodeAsync(Cluster.NodeRecord node, CancellationToken ct);

    /// <summary>Every node that ever wrote a heartbeat, by id.</summary>
    Task<IReadOnlyList<Cluster.NodeRecord>> ListNodesAsync(CancellationToken ct);

    /// <summary>Where a session lives (any node's), or null when the store has never heard of it.</summary>
    Task<Cluster.SessionPlace?> LocateSessionAsync(string sessionId, CancellationToken ct);

    /// <summary>A caller's sessions on every node (not closed), each with its <see cref="SessionRecord.Node"/>.</summary>
    Task<IReadOnlyList<SessionRecord>> ListOwnerSessionsAsync(string owner, CancellationToken ct);

    /// <summary>Marks a node's live sessions lost with <paramref name="reason"/> (the node left); returns how many.</summary>
    Task<int> MarkNodeSessionsLostAsync(string node, string reason, CancellationToken ct);

    /// <summary>Records the one use of a single-use link (by its nonce): true the first time, false every time after,
    /// on every server sharing the store and after restarts. Records past <paramref name="expiresAt"/> may be forgotten
    /// (the link is refused as expired by then).</summary>
    Task<bool> UseLinkOnceAsync(string nonce, DateTimeOffset expiresAt, CancellationToken ct);
}
