using System.Reflection;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Sandbox.Backend;
using Sandbox.Cluster;
using Sandbox.Durability;
using Sandbox.Sessions;
using Sandbox.Storage;

namespace Sandbox.Unit.Tests.Cluster;

/// <summary>Where a new session goes and where a request for a session is served, over a store holding the other
/// nodes' heartbeats (in memory) and a backend that only answers which images it has.</summary>
public sealed class ClusterRoutingTests : IAsyncDisposable
{
    private const string Here = "node-a";
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 4, 12, 0, 0, TimeSpan.Zero));
    private readonly PlacesStore _store = new(Here);
    private readonly ServiceProvider _provider;
    private readonly ClusterService _cluster;

    public ClusterRoutingTests()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<TimeProvider>(_time);
        services.AddSingleton<ISessionStore>(_store);
        services.AddSingleton(ImagesOnlyBackend.Create("python", "agent"));
        services.AddSandbox()
            .Configure<SandboxOptions>(o => { o.InstanceId = Here; o.MaxSessions = 10; })
            .Configure<ClusterOptions>(o => { o.Enabled = true; o.AdvertiseUrl = "http://10.0.0.1:8080"; })
            .Configure<DurabilityOptions>(o => o.Store = StoreKind.Sqlite);
        _provider = services.BuildServiceProvider();
        _cluster = _provider.GetRequiredService<ClusterService>();
    }

    private async Task BeatWithAsync(params NodeRecord[] others)
    {
        foreach (var node in others)
        {
            await _store.SaveNodeAsync(node, CancellationToken.None);
        }
        await _cluster.StartAsync(CancellationToken.None);
    }

    private NodeRecord Node(string id, int sessions, int capacity = 10, NodeState state = NodeState.Active, TimeSpan? silentFor = null, params string[] images) =>
        new(id, $"http://{id}:8080", state, _time.GetUtcNow().AddHours(-1), _time.GetUtcNow() - (silentFor ?? TimeSpan.Zero), sessions, capacity,
            images.Length == 0 ? ["python", "agent"] : images);

    [Fact]
    public async Task A_new_session_goes_to_the_least_loaded_live_node_with_the_image_and_room()
    {
        await BeatWithAsync(
            Node("node-b", sessions: 2),
            Node("node-c", sessions: 1, images: "agent"), // lacks python
            Node("node-d", sessions: 0, state: NodeState.Draining),
            Node("node-e", sessions: 0, silentFor: TimeSpan.FromMinutes(5)), // dead
            Node("node-f", sessions: 10)); // full
        // Only this node (0 of 10) and node-b (2 of 10) qualify for python. Placements since the last heartbeat count
        // as load: here 0, 1, then 2 against node-b's 2 (a tie goes here), then here has 3 and node-b takes one.
        Assert.Null(_cluster.Place("python"));
        Assert.Null(_cluster.Place("python"));
        Assert.Null(_cluster.Place("python"));
        Assert.Equal("node-b", _cluster.Place("python")?.Id);
        // For agent node-c qualifies too, and at 1 of 10 it is now the least loaded.
        Assert.Equal("node-c", _cluster.Place("agent")?.Id);
    }

    [Fact]
    public async Task Ties_go_to_this_node_and_no_room_anywhere_is_capacity_exceeded()
    {
        await BeatWithAsync(Node("node-b", sessions: 0));
        Assert.Null(_cluster.Place("python"));
        var e = Assert.Throws<SandboxException>(() => _cluster.Place("ruby"));
        Assert.Equal(SandboxErrorCodes.CapacityExceeded, e.Code);
        Assert.Contains("'ruby'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_draining_node_places_elsewhere()
    {
        await BeatWithAsync(Node("node-b", sessions: 5));
        await _cluster.SetDrainingAsync(true, CancellationToken.None);
        Assert.Equal("node-b", _cluster.Place("python")?.Id);
    }

    [Fact]
    public async Task A_request_goes_to_the_live_node_that_holds_the_session_and_never_reveals_another_callers()
    {
        await BeatWithAsync(Node("node-b", sessions: 1));
        _store.Places["s-1"] = new SessionPlace("s-1", "node-b", "alice", SessionStatus.Ready, null);
        Assert.Equal("node-b", (await _cluster.RouteAsync("s-1", "alice", CancellationToken.None)).Node?.Id);
        // Bob asking for Alice's session is served here, where the engine answers session_not_found.
        Assert.Null((await _cluster.RouteAsync("s-1", "bob", CancellationToken.None)).Node);
        // Unknown anywhere: here too.
        Assert.Null((await _cluster.RouteAsync("s-unknown", "alice", CancellationToken.None)).Node);
    }

    [Fact]
    public async Task A_session_whose_node_went_silent_is_lost_with_the_reason_and_the_store_is_told()
    {
        await BeatWithAsync(Node("node-b", sessions: 1));
        _store.Places["s-2"] = new SessionPlace("s-2", "node-b", "alice", SessionStatus.Ready, null);
        _time.Advance(TimeSpan.FromMinutes(1)); // past NodeTimeout without a heartbeat from node-b
        var e = await Assert.ThrowsAsync<SandboxException>(() => _cluster.RouteAsync("s-2", "alice", CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.SessionLost, e.Code);
        Assert.Contains("node-b left the cluster", e.Message, StringComparison.Ordinal);
        Assert.Contains("node-b", _store.MarkedLost);
    }

    [Fact]
    public async Task A_session_recorded_lost_is_session_lost_with_its_recorded_reason()
    {
        await BeatWithAsync(Node("node-b", sessions: 1));
        _store.Places["s-3"] = new SessionPlace("s-3", "node-b", "alice", SessionStatus.Lost, "its container ran out of memory");
        var e = await Assert.ThrowsAsync<SandboxException>(() => _cluster.RouteAsync("s-3", "alice", CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.SessionLost, e.Code);
        Assert.Contains("ran out of memory", e.Message, StringComparison.Ordinal);
    }

    public async ValueTask DisposeAsync() => await _provider.DisposeAsync();

    /// <summary>The in-memory store, with sessions placed on other nodes (which that store, being one server's, never has).</summary>
    private sealed class PlacesStore(string instance) : ISessionStore
    {
        private readonly InMemorySessionStore _inner = new(instance);
        public Dictionary<string, SessionPlace> Places { get; } = new(StringComparer.Ordinal);
        public List<string> MarkedLost { get; } = [];
        public Task InitializeAsync(CancellationToken ct) => _inner.InitializeAsync(ct);
        public Task SaveSessionAsync(SessionRecord session, CancellationToken ct) => _inner.SaveSessionAsync(session, ct);
        public Task<IReadOnlyList<SessionRecord>> LoadOpenSessionsAsync(CancellationToken ct) => _inner.LoadOpenSessionsAsync(ct);
        public void AppendHistory(HistoryEntry entry) => _inner.AppendHistory(entry);
        public Task<IReadOnlyList<HistoryEntry>> GetHistoryAsync(string sessionId, int limit, CancellationToken ct) => _inner.GetHistoryAsync(sessionId, limit, ct);
        public Task SaveAgentRunAsync(Sandbox.Agents.AgentRun run, CancellationToken ct) => _inner.SaveAgentRunAsync(run, ct);
        public Task<Sandbox.Agents.AgentRun?> GetAgentRunAsync(string sessionId, string owner, string runId, CancellationToken ct) =>
            _inner.GetAgentRunAsync(sessionId, owner, runId, ct);
        public Task<string?> FindAgentRunSessionAsync(string owner, string runId, CancellationToken ct) => _inner.FindAgentRunSessionAsync(owner, runId, ct);
        public Task<IReadOnlyList<Sandbox.Agents.AgentRun>> ListAgentRunsAsync(string sessionId, string owner, int limit, CancellationToken ct) =>
            _inner.ListAgentRunsAsync(sessionId, owner, limit, ct);
        public Task<int> FailInterruptedAgentRunsAsync(string reason, DateTimeOffset at, CancellationToken ct) => _inner.FailInterruptedAgentRunsAsync(reason, at, ct);
        public Task SaveNodeAsync(NodeRecord node, CancellationToken ct) => _inner.SaveNodeAsync(node, ct);
        public Task<IReadOnlyList<NodeRecord>> ListNodesAsync(CancellationToken ct) => _inner.ListNodesAsync(ct);
        public Task<SessionPlace?> LocateSessionAsync(string sessionId, CancellationToken ct) => Task.FromResult(Places.GetValueOrDefault(sessionId));
        public Task<IReadOnlyList<SessionRecord>> ListOwnerSessionsAsync(string owner, CancellationToken ct) => _inner.ListOwnerSessionsAsync(owner, ct);
        public Task<int> MarkNodeSessionsLostAsync(string node, string reason, CancellationToken ct)
        {
            MarkedLost.Add(node);
            return Task.FromResult(Places.Values.Count(p => p.Node == node));
        }
        public Task<bool> UseLinkOnceAsync(string nonce, DateTimeOffset expiresAt, CancellationToken ct) => _inner.UseLinkOnceAsync(nonce, expiresAt, ct);
        public ValueTask DisposeAsync() => _inner.DisposeAsync();
    }

    /// <summary>A backend that says which images it has and refuses everything else (the cluster asks nothing more).</summary>
    public class ImagesOnlyBackend : DispatchProxy
    {
        private string[] _images = [];

        public static ISandboxBackend Create(params string[] images)
        {
            var backend = Create<ISandboxBackend, ImagesOnlyBackend>();
            ((ImagesOnlyBackend)(object)backend)._images = images;
            return backend;
        }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) => targetMethod?.Name switch
        {
            nameof(ISandboxBackend.GetImageStatusAsync) when args?.Length == 1 =>
                Task.FromResult<IReadOnlyList<ImageStatus>>(_images.Select(i => new ImageStatus(i, i + ":latest", true, "sha256:" + i, null)).ToList()),
            nameof(IDisposable.Dispose) => null,
            _ => throw new NotSupportedException($"{targetMethod?.Name} is not part of what the cluster asks of a backend"),
        };
    }
}
