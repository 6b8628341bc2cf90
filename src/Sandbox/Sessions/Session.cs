using Sandbox.Isolation;
using Sandbox.Runner;

namespace Sandbox.Sessions;

/// <summary>The engine's live state of one session. Mutable fields are guarded by <see cref="Sync"/>.</summary>
internal sealed class Session
{
    public required string Id { get; init; }
    public required string Image { get; init; }

    /// <summary>In a cluster, the node that holds it (this server); null on a single server.</summary>
    public string? Node { get; init; }
    public required string Owner { get; init; }
    public required SandboxLimits Limits { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public required TimeSpan IdleTimeout { get; init; }
    public required string ContainerId { get; init; }
    public required IsolationTier Isolation { get; init; }
    /// <summary>The connection to the runner; null for a session loaded as lost from the store.</summary>
    public RunnerConnection? Runner { get; set; }

    /// <summary>The runner of a usable session.</summary>
    public RunnerConnection Live => Runner ?? throw RunnerConnection.Lost(LostReason ?? "its container is gone");

    public object Sync { get; } = new();
    public SemaphoreSlim Gate { get; } = new(1, 1);
    public DateTimeOffset LastUsedAt { get; set; }
    public SessionStatus Status { get; set; } = SessionStatus.Ready;
    public string? LostReason { get; set; }
    public int ExecutionCount { get; set; }
    public bool Busy { get; set; }
    /// <summary>The allow list and secrets of a session with a network; null: no network.</summary>
    public Egress.SessionNetwork? Network { get; set; }
    /// <summary>The repository the workspace was cloned from; null for other sessions.</summary>
    public Git.GitWorkspace? Git { get; set; }
    /// <summary>Context directories mounted read-only at <c>/context/&lt;name&gt;</c>.</summary>
    public IReadOnlyList<string> Context { get; init; } = [];
    /// <summary>Ports reachable through the server (preview ports). Guarded by <see cref="Sync"/>.</summary>
    public SortedSet<int> Ports { get; } = [];

    public SessionInfo ToInfo(TimeSpan maxLifetime)
    {
        lock (Sync)
        {
            var idleEnd = LastUsedAt + IdleTimeout;
            var lifeEnd = CreatedAt + maxLifetime;
            return new SessionInfo(Id, Image, Owner, Status, Limits, CreatedAt, LastUsedAt, IdleTimeout,
                idleEnd < lifeEnd ? idleEnd : lifeEnd, Busy, ExecutionCount, LostReason, Isolation, Network, Ports.ToList(), Git, Context.Count == 0 ? null : Context, Node);
        }
    }

    public void Touch(DateTimeOffset now)
    {
        lock (Sync)
        {
            LastUsedAt = now;
        }
    }

    /// <summary>Why the sandbox ended, once someone asked the engine (shared by everyone who asks).</summary>
    public Task<string>? LossExplanation { get; set; }

    public void MarkLost(string reason)
    {
        lock (Sync)
        {
            if (Status is SessionStatus.Ready or SessionStatus.Creating or SessionStatus.Paused)
            {
                Status = SessionStatus.Lost;
                LostReason = reason;
            }
        }
    }

    /// <summary>Replaces a lost session's reason with a better explanation found afterwards.</summary>
    public void ExplainLoss(string reason)
    {
        lock (Sync)
        {
            if (Status == SessionStatus.Lost)
            {
                LostReason = reason;
            }
        }
    }

    /// <summary>Throws unless the session can take calls.</summary>
    public void EnsureUsable()
    {
        lock (Sync)
        {
            switch (Status)
            {
                case SessionStatus.Ready:
                case SessionStatus.Paused:
                    return;
                case SessionStatus.Closed:
                    throw new SandboxException(SandboxErrorCodes.SessionNotFound, $"Session {Id} is closed. Create a new session.");
                default:
                    throw new SandboxException(SandboxErrorCodes.SessionLost,
                        $"Session {Id} is no longer usable ({LostReason}). Close it and create a new session.");
            }
        }
    }
}
