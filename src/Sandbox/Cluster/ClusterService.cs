using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Backend;
using Sandbox.Sessions;
using Sandbox.Storage;

namespace Sandbox.Cluster;

/// <summary>Where a request for a session is served.</summary>
/// <param name="Node">The node that holds the session; null: here.</param>
public sealed record SessionRoute(NodeRecord? Node)
{
    /// <summary>Served by this node.</summary>
    public static SessionRoute Here { get; } = new((NodeRecord?)null);
}

/// <summary>
/// This server as one node of a cluster sharing a store: its heartbeat (state, load, images), the other nodes as last
/// seen, where a session lives (here, on a live node, or lost with its node), where a new session goes (the
/// least-loaded live node that has the image and room), and draining. Faces ask it before serving a request and
/// forward to <see cref="SessionRoute.Node"/> when another node holds the session. Disabled, every route is here.
/// </summary>
public sealed partial class ClusterService(SessionRegistry registry, ISessionStore store, ISandboxBackend backend, IOptions<SandboxOptions> options,
    IOptions<ClusterOptions> cluster, TimeProvider time, ILogger<ClusterService> logger)
{
    private readonly ISessionStore _store = store;
    private readonly SandboxOptions _options = options.Value;
    private readonly ClusterOptions _cluster = cluster.Value;
    private readonly ILogger<ClusterService> _logger = logger;
    private readonly DateTimeOffset _startedAt = time.GetUtcNow();
    private readonly ConcurrentDictionary<string, (string Node, string Owner)> _places = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTimeOffset> _reportedLost = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _placedSinceBeat = new(StringComparer.Ordinal);
    private volatile IReadOnlyList<NodeRecord> _nodes = [];
    private IReadOnlyList<string> _images = [];
    private DateTimeOffset _imagesAt = DateTimeOffset.MinValue;
    private volatile NodeState _state = NodeState.Active;
    private DateTimeOffset _lastBeat;
    private Uri? _url;

    /// <summary>Whether this server is part of a cluster.</summary>
    public bool Enabled => _cluster.Enabled;

    /// <summary>This node's id.</summary>
    public string NodeId => _options.InstanceId;

    /// <summary>Whether this node takes new sessions.</summary>
    public NodeState State => _state;

    /// <summary>The nodes as of the last heartbeat (this one included).</summary>
    public IReadOnlyList<NodeRecord> Nodes => _nodes;

    /// <summary>Whether a node's last heartbeat is recent enough.</summary>
    public bool IsAlive(NodeRecord node)
    {
        ArgumentNullException.ThrowIfNull(node);
        return node.Id == NodeId || time.GetUtcNow() - node.LastSeen <= _cluster.NodeTimeout;
    }

    /// <summary>Resolves this node's URL and writes its first heartbeat (before it takes requests).</summary>
    public async Task StartAsync(CancellationToken ct)
    {
        if (!Enabled)
        {
            return;
        }
        _url = _cluster.ResolveAdvertiseUrl();
        await BeatAsync(ct).ConfigureAwait(false);
        LogJoined(_logger, NodeId, _url.ToString(), _nodes.Count);
    }

    /// <summary>One heartbeat: writes this node's row, reads the others', and reports the sessions of nodes that went
    /// silent as lost (whichever node notices first; the update is idempotent).</summary>
    public async Task BeatAsync(CancellationToken ct)
    {
        if (!Enabled || _url is null)
        {
            return;
        }
        var now = time.GetUtcNow();
        if (now - _imagesAt > TimeSpan.FromSeconds(30))
        {
            _images = (await backend.GetImageStatusAsync(ct).ConfigureAwait(false)).Where(i => i.Present).Select(i => i.Name).Order(StringComparer.Ordinal).ToList();
            _imagesAt = now;
        }
        await _store.SaveNodeAsync(Self(now), ct).ConfigureAwait(false);
        if (_lastBeat != default && now - _lastBeat > _cluster.NodeTimeout)
        {
            // This node was silent long enough for the others to report its sessions lost (a freeze, a partition):
            // what they reported holds, and the sandboxes go.
            await ReconcileAfterSilenceAsync(ct).ConfigureAwait(false);
        }
        _lastBeat = now;
        var nodes = await _store.ListNodesAsync(ct).ConfigureAwait(false);
        _placedSinceBeat.Clear();
        _nodes = nodes;
        foreach (var node in nodes.Where(n => !IsAlive(n)))
        {
            if (_reportedLost.TryGetValue(node.Id, out var seen) && seen == node.LastSeen)
            {
                continue;
            }
            var lost = await _store.MarkNodeSessionsLostAsync(node.Id, LeftReason(node), ct).ConfigureAwait(false);
            _reportedLost[node.Id] = node.LastSeen;
            if (lost > 0)
            {
                LogNodeLost(_logger, node.Id, lost, node.LastSeen);
            }
        }
    }

    private async Task ReconcileAfterSilenceAsync(CancellationToken ct)
    {
        foreach (var record in await _store.LoadOpenSessionsAsync(ct).ConfigureAwait(false))
        {
            if (record.Status != SessionStatus.Lost || !registry.TryFind(record.Id, out var session) || session.Status == SessionStatus.Lost)
            {
                continue;
            }
            var reason = record.LostReason ?? "the cluster reported it lost while this node was silent";
            session.SetLossExplanation(reason);
            session.MarkLost(reason);
            await backend.RemoveSandboxAsync(session.Id, ct).ConfigureAwait(false);
            LogReconciled(_logger, session.Id, reason);
        }
    }

    /// <summary>Where to serve a request for <paramref name="sessionId"/> by <paramref name="owner"/>. Throws
    /// <c>session_lost</c> (with the reason) when its node left the cluster.</summary>
    public async Task<SessionRoute> RouteAsync(string sessionId, string owner, CancellationToken ct)
    {
        if (!Enabled || registry.Contains(sessionId))
        {
            return SessionRoute.Here;
        }
        if (!_places.TryGetValue(sessionId, out var place))
        {
            var found = await _store.LocateSessionAsync(sessionId, ct).ConfigureAwait(false);
            if (found is null || found.Node == NodeId || found.Status == SessionStatus.Closed)
            {
                return SessionRoute.Here; // unknown here too: the engine answers session_not_found
            }
            if (found.Owner != owner)
            {
                return SessionRoute.Here; // never say that another caller's session exists
            }
            if (found.Status == SessionStatus.Lost)
            {
                throw Lost(found.LostReason ?? $"its node {found.Node} lost it");
            }
            place = (found.Node, found.Owner);
            if (_places.Count > 100_000)
            {
                _places.Clear();
            }
            _places[sessionId] = place;
        }
        if (place.Owner != owner)
        {
            return SessionRoute.Here;
        }
        var node = _nodes.FirstOrDefault(n => n.Id == place.Node);
        if (node is null)
        {
            throw Lost($"its node {place.Node} is not part of the cluster");
        }
        if (!IsAlive(node))
        {
            _places.TryRemove(sessionId, out _);
            await _store.MarkNodeSessionsLostAsync(node.Id, LeftReason(node), ct).ConfigureAwait(false);
            throw Lost(LeftReason(node));
        }
        return new SessionRoute(node);
    }

    /// <summary>The caller's sessions: this node's as they are now, and in a cluster those the other live nodes hold,
    /// as their last records say (counters and last use are saved every reaper pass), newest first.</summary>
    public async Task<IReadOnlyList<SessionInfo>> ListAsync(string owner, CancellationToken ct, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var here = registry.All.Where(s => s.Owner == owner).Select(s => s.ToInfo()).ToList();
        if (Enabled)
        {
            var live = _nodes.Where(n => n.Id != NodeId && IsAlive(n)).Select(n => n.Id).ToHashSet(StringComparer.Ordinal);
            foreach (var r in await _store.ListOwnerSessionsAsync(owner, ct).ConfigureAwait(false))
            {
                if (r.Node is { } node && live.Contains(node) && r.Status is SessionStatus.Ready or SessionStatus.Paused)
                {
                    here.Add(Session.FromRecord(r, _options.MaxLifetime, node).ToInfo());
                }
            }
        }
        return here.Where(s => SessionSettings.Matches(s.Metadata ?? new Dictionary<string, string>(), metadata)).OrderByDescending(s => s.CreatedAt).ToList();
    }

    /// <summary>Where a new session of <paramref name="image"/> goes: null for here, else the least-loaded live, active node
    /// with the image and room (this node wins ties). Throws <c>capacity_exceeded</c> when no node has room.</summary>
    public NodeRecord? Place(string image)
    {
        if (!Enabled)
        {
            return null;
        }
        NodeRecord? best = null;
        var bestLoad = double.MaxValue;
        // An image named by reference is on no node's list: any node may take it and pulls it.
        var byReference = !_options.Images.ContainsKey(image) && ImageReferences.Matches(image, _options.ImagePatterns);
        foreach (var node in _nodes.Select(n => n.Id == NodeId ? Self(time.GetUtcNow()) : n))
        {
            var pending = _placedSinceBeat.GetValueOrDefault(node.Id);
            if (!IsAlive(node) || node.State != NodeState.Active || !(byReference || node.Images.Contains(image)) || node.Sessions + pending >= node.Capacity)
            {
                continue;
            }
            var load = (node.Sessions + pending) / (double)Math.Max(1, node.Capacity);
            if (load < bestLoad || (load == bestLoad && node.Id == NodeId))
            {
                best = node;
                bestLoad = load;
            }
        }
        if (best is null)
        {
            if (_state == NodeState.Active && _nodes.Count == 0)
            {
                return null; // no heartbeat read yet: serve here
            }
            throw new SandboxException(SandboxErrorCodes.CapacityExceeded,
                $"No node of the cluster can take a session of image '{image}' now (all are full, draining, or lack the image).");
        }
        _placedSinceBeat.AddOrUpdate(best.Id, 1, (_, n) => n + 1);
        return best.Id == NodeId ? null : best;
    }

    /// <summary>Stops (or resumes) taking new sessions; existing ones keep working until they are closed or expire.</summary>
    public async Task SetDrainingAsync(bool draining, CancellationToken ct)
    {
        _state = draining ? NodeState.Draining : NodeState.Active;
        LogState(_logger, NodeId, _state);
        await BeatAsync(ct).ConfigureAwait(false);
    }

    /// <summary>At shutdown: says so in the store at once, so new sessions go elsewhere.</summary>
    public async Task LeaveAsync(CancellationToken ct)
    {
        if (!Enabled || _url is null)
        {
            return;
        }
        _state = NodeState.Left;
        await _store.SaveNodeAsync(Self(time.GetUtcNow()), ct).ConfigureAwait(false);
    }

    private NodeRecord Self(DateTimeOffset now) => new(NodeId, _url?.ToString() ?? "", _state, _startedAt, now,
        registry.All.Count(s => s.Status is SessionStatus.Creating or SessionStatus.Ready or SessionStatus.Paused), _options.MaxSessions, _images);

    private static string LeftReason(NodeRecord node) =>
        $"its node {node.Id} left the cluster (no heartbeat since {node.LastSeen.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC)";

    private static SandboxException Lost(string reason) =>
        new(SandboxErrorCodes.SessionLost, $"The session is no longer usable: {reason}. Create a new session.");

    [LoggerMessage(Level = LogLevel.Information, Message = "Cluster: node {NodeId} joined at {Url} ({Nodes} nodes known)")]
    private static partial void LogJoined(ILogger logger, string nodeId, string url, int nodes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cluster: node {NodeId} is silent since {LastSeen}; its {Sessions} sessions are now lost")]
    private static partial void LogNodeLost(ILogger logger, string nodeId, int sessions, DateTimeOffset lastSeen);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cluster: session {SessionId} was reported lost while this node was silent ({Reason}); its sandbox is removed")]
    private static partial void LogReconciled(ILogger logger, string sessionId, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Cluster: node {NodeId} is now {State}")]
    private static partial void LogState(ILogger logger, string nodeId, NodeState state);
}
