using System.Diagnostics;
using Docker.DotNet;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Sandbox.Agents;
using Sandbox.Cluster;
using Sandbox.Durability;
using Sandbox.Sessions;
using Sandbox.Storage;
using Sandbox.Testing;

namespace Sandbox.Tests.Storage;

/// <summary>One PostgreSQL server for the store tests (a real one, in a container).</summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    public IDockerClient Client { get; } = new DockerClientBuilder().WithEndpoint(new Uri(Sandbox.Docker.DockerBackend.ResolveEndpoint(null))).WithApiVersion(new System.Version(1, 41)).Build();
    public PostgresServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await PostgresServer.StartAsync(Client);

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        Client.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresFixture>
{
    public const string Name = "postgres";
}

/// <summary>The same contract, run against every store: SQLite (the embedded default), PostgreSQL (a cluster's shared
/// store) and memory. Then what only a networked store can do: migrate once when nodes start together, and fail with
/// <c>store_unavailable</c> (never hang, never half-write) while the database is away.</summary>
[Collection(PostgresCollection.Name)]
public sealed class SessionStoreTests(PostgresFixture pg) : IAsyncDisposable
{
    private readonly string _data = Directory.CreateTempSubdirectory("sandbox-store-").FullName;
    private readonly List<ISessionStore> _stores = [];

    public static TheoryData<string> Kinds => new() { "sqlite", "postgres", "memory" };

    private async Task<ISessionStore> OpenAsync(string kind, string instance = "node-a", string? connection = null)
    {
        var options = Options.Create(new SandboxOptions { InstanceId = instance });
        var durability = Options.Create(new DurabilityOptions
        {
            DataDirectory = _data,
            ConnectionString = connection ?? (kind == "postgres" ? await pg.Server.CreateDatabaseAsync() : null),
        });
        ISessionStore store = kind switch
        {
            "sqlite" => new SqliteSessionStore(options, durability, NullLogger<SqliteSessionStore>.Instance),
            "postgres" => new PostgresSessionStore(options, durability, NullLogger<PostgresSessionStore>.Instance),
            _ => new InMemorySessionStore(instance),
        };
        await store.InitializeAsync(CancellationToken.None);
        _stores.Add(store);
        return store;
    }

    private static SessionRecord Record(string id, SessionStatus status = SessionStatus.Ready, DateTimeOffset? created = null) => new(
        id, "alice", "sandbox-python:latest", new SandboxLimits { MemoryMb = 300 }, TimeSpan.FromMinutes(5), "c-" + id, status, null,
        created ?? DateTimeOffset.Parse("2026-12-01T10:00:00+00:00"), DateTimeOffset.Parse("2026-12-01T10:05:00+00:00"), 3,
        Sandbox.Isolation.IsolationTier.Gvisor, new Sandbox.Egress.SessionNetwork(["pypi.org"], ["pypi-token"], "http://proxy:3128"), null, ["docs"]);

    [Theory, MemberData(nameof(Kinds))]
    public async Task Sessions_are_saved_updated_and_loaded_back_the_same(string kind)
    {
        var store = await OpenAsync(kind);
        await store.SaveSessionAsync(Record("s1"), CancellationToken.None);
        await store.SaveSessionAsync(Record("s2", created: DateTimeOffset.Parse("2026-12-01T11:00:00+00:00")), CancellationToken.None);
        await store.SaveSessionAsync(Record("s3", SessionStatus.Closed), CancellationToken.None);
        await store.SaveSessionAsync(Record("s1") with
        {
            Status = SessionStatus.Lost, LostReason = "gone", ExecutionCount = 9, Ports = [3000, 8000],
            Metadata = new Dictionary<string, string> { ["task"] = "t1" }, Env = new Dictionary<string, string> { ["MODE"] = "ci" },
        }, CancellationToken.None);

        var open = await store.LoadOpenSessionsAsync(CancellationToken.None);
        Assert.Equal(["s1", "s2"], open.Select(s => s.Id));
        var s1 = open[0];
        Assert.Equal((SessionStatus.Lost, "gone", 9), (s1.Status, s1.LostReason, s1.ExecutionCount));
        Assert.Equal(300, s1.Limits.MemoryMb);
        Assert.Equal(TimeSpan.FromMinutes(5), s1.IdleTimeout);
        Assert.Equal(Sandbox.Isolation.IsolationTier.Gvisor, s1.Isolation);
        Assert.Equal(["pypi.org"], s1.Network!.Allow);
        Assert.Equal(["pypi-token"], s1.Network!.Secrets);
        Assert.Equal(["docs"], s1.Context!);
        Assert.Equal([3000, 8000], s1.Ports!);
        Assert.Null(open[1].Ports);
        Assert.Equal(("t1", "ci"), (s1.Metadata!["task"], s1.Env!["MODE"]));
        Assert.Null(open[1].Metadata);
        Assert.Equal(DateTimeOffset.Parse("2026-12-01T10:00:00+00:00"), s1.CreatedAt);
    }

    [Theory, MemberData(nameof(Kinds))]
    public async Task A_single_use_link_is_used_once_across_restarts_and_servers_sharing_the_store(string kind)
    {
        var connection = kind == "postgres" ? await pg.Server.CreateDatabaseAsync() : null;
        var ct = CancellationToken.None;
        var expires = DateTimeOffset.UtcNow.AddMinutes(5);
        var a = await OpenAsync(kind, "node-a", connection);
        Assert.True(await a.UseLinkOnceAsync("nonce-1", expires, ct));
        Assert.False(await a.UseLinkOnceAsync("nonce-1", expires, ct));
        // A record past its link's expiry may go (the link is refused as expired by then); a live one stays.
        Assert.True(await a.UseLinkOnceAsync("nonce-old", DateTimeOffset.UtcNow.AddSeconds(-1), ct));
        Assert.True(await a.UseLinkOnceAsync("nonce-old", DateTimeOffset.UtcNow.AddSeconds(-1), ct));
        if (kind == "memory")
        {
            return; // one server's memory: nothing outlives it
        }
        // Another server on the same store (a cluster node, or this one restarted) refuses it too.
        var b = await OpenAsync(kind, "node-b", connection);
        Assert.False(await b.UseLinkOnceAsync("nonce-1", expires, ct));
        Assert.True(await b.UseLinkOnceAsync("nonce-2", expires, ct));
        Assert.False(await a.UseLinkOnceAsync("nonce-2", expires, ct));
    }

    [Theory, MemberData(nameof(Kinds))]
    public async Task History_comes_back_oldest_first_and_limited_to_the_newest(string kind)
    {
        var store = await OpenAsync(kind);
        var at = DateTimeOffset.Parse("2026-12-01T10:00:00+00:00");
        for (var i = 0; i < 5; i++)
        {
            store.AppendHistory(new HistoryEntry("h1", "alice", i == 0 ? "created" : "execution", at.AddSeconds(i), "python", new string('a', 64), i, i % 2,
                null, i == 3, 1.5 * i, "out " + i));
        }
        store.AppendHistory(new HistoryEntry("other", "bob", "created", at));
        var all = await store.GetHistoryAsync("h1", 100, CancellationToken.None);
        Assert.Equal(["created", "execution", "execution", "execution", "execution"], all.Select(h => h.Kind));
        Assert.Equal(["out 0", "out 1", "out 2", "out 3", "out 4"], all.Select(h => h.Output));
        Assert.True(all[3].TimedOut);
        Assert.Equal(4.5, all[3].DurationMs);
        Assert.Equal(1, all[3].ExitCode);
        var last2 = await store.GetHistoryAsync("h1", 2, CancellationToken.None);
        Assert.Equal(["out 3", "out 4"], last2.Select(h => h.Output));
    }

    [Theory, MemberData(nameof(Kinds))]
    public async Task Agent_runs_are_kept_listed_without_trajectories_and_failed_when_interrupted(string kind)
    {
        var store = await OpenAsync(kind);
        AgentRun Run(string id, int minute, AgentRunStatus status) => new()
        {
            Id = id, SessionId = "s1", Owner = "alice", Agent = "claude-code", Prompt = "p", ModelEndpoint = "http://m", Status = status,
            StartedAt = DateTimeOffset.Parse("2026-12-01T10:00:00+00:00").AddMinutes(minute), Diff = "diff --git a b", Steps = [new AgentStep(0, "text", "hi", null)],
        };
        await store.SaveAgentRunAsync(Run("r1", 1, AgentRunStatus.Succeeded), CancellationToken.None);
        await store.SaveAgentRunAsync(Run("r2", 2, AgentRunStatus.Running), CancellationToken.None);
        var r1 = await store.GetAgentRunAsync("s1", "alice", "r1", CancellationToken.None);
        Assert.Equal("diff --git a b", r1!.Diff);
        Assert.Null(await store.GetAgentRunAsync("s1", "mallory", "r1", CancellationToken.None));
        var listed = await store.ListAgentRunsAsync("s1", "alice", 10, CancellationToken.None);
        Assert.Equal(["r2", "r1"], listed.Select(r => r.Id));
        Assert.All(listed, r => Assert.Equal("", r.Diff));
        Assert.Equal(1, await store.FailInterruptedAgentRunsAsync("the server stopped", DateTimeOffset.UtcNow, CancellationToken.None));
        var r2 = await store.GetAgentRunAsync("s1", "alice", "r2", CancellationToken.None);
        Assert.Equal((AgentRunStatus.Failed, "the server stopped"), (r2!.Status, r2.Error));
    }

    [Theory, MemberData(nameof(Kinds))]
    public async Task Nodes_beat_sessions_are_located_and_a_silent_nodes_live_sessions_are_marked_lost(string kind)
    {
        var store = await OpenAsync(kind);
        var seen = DateTimeOffset.Parse("2026-12-01T10:00:00+00:00");
        await store.SaveNodeAsync(new NodeRecord("node-a", "http://10.0.0.1:8080/", NodeState.Active, seen, seen, 2, 50, ["python"]), CancellationToken.None);
        await store.SaveNodeAsync(new NodeRecord("node-a", "http://10.0.0.1:8080/", NodeState.Draining, seen, seen.AddSeconds(2), 3, 50, ["agent", "python"]), CancellationToken.None);
        var node = Assert.Single(await store.ListNodesAsync(CancellationToken.None));
        Assert.Equal((NodeState.Draining, 3, seen.AddSeconds(2)), (node.State, node.Sessions, node.LastSeen));
        Assert.Equal(["agent", "python"], node.Images);

        await store.SaveSessionAsync(Record("live"), CancellationToken.None);
        await store.SaveSessionAsync(Record("paused", SessionStatus.Paused), CancellationToken.None);
        await store.SaveSessionAsync(Record("done", SessionStatus.Closed), CancellationToken.None);
        var place = await store.LocateSessionAsync("live", CancellationToken.None);
        Assert.Equal(new SessionPlace("live", "node-a", "alice", SessionStatus.Ready, null), place);
        Assert.Null(await store.LocateSessionAsync("never", CancellationToken.None));

        Assert.Equal(0, await store.MarkNodeSessionsLostAsync("node-z", "its node left", CancellationToken.None));
        Assert.Equal(2, await store.MarkNodeSessionsLostAsync("node-a", "its node left", CancellationToken.None));
        Assert.Equal((SessionStatus.Lost, "its node left"), ((await store.LocateSessionAsync("paused", CancellationToken.None))!.Status, (await store.LocateSessionAsync("paused", CancellationToken.None))!.LostReason));
        Assert.Equal(SessionStatus.Closed, (await store.LocateSessionAsync("done", CancellationToken.None))!.Status);
        Assert.Equal(0, await store.MarkNodeSessionsLostAsync("node-a", "again", CancellationToken.None));
    }

    [Fact]
    public async Task Servers_sharing_a_postgres_database_see_each_others_sessions_but_load_only_their_own()
    {
        var connection = await pg.Server.CreateDatabaseAsync();
        var a = await OpenAsync("postgres", "node-a", connection);
        var b = await OpenAsync("postgres", "node-b", connection);
        await a.SaveSessionAsync(Record("of-a"), CancellationToken.None);
        await b.SaveSessionAsync(Record("of-b"), CancellationToken.None);
        Assert.Equal(["of-a"], (await a.LoadOpenSessionsAsync(CancellationToken.None)).Select(s => s.Id));
        Assert.Equal("node-a", (await b.LocateSessionAsync("of-a", CancellationToken.None))!.Node);
        Assert.Equal("node-b", (await a.LocateSessionAsync("of-b", CancellationToken.None))!.Node);
    }

    [Fact]
    public async Task Nodes_starting_together_migrate_a_new_database_once()
    {
        var connection = await pg.Server.CreateDatabaseAsync();
        var options = Enumerable.Range(0, 4).Select(i =>
        {
            var o = new SandboxOptions { InstanceId = "node-" + i };
            var durability = new DurabilityOptions { Store = StoreKind.Postgres, ConnectionString = connection };
            return new PostgresSessionStore(Options.Create(o), Options.Create(durability), NullLogger<PostgresSessionStore>.Instance);
        }).ToList();
        _stores.AddRange(options);
        await Task.WhenAll(options.Select(s => s.InitializeAsync(CancellationToken.None)));
        await using var db = new Npgsql.NpgsqlConnection(connection);
        await db.OpenAsync();
        await using var cmd = new Npgsql.NpgsqlCommand("SELECT version FROM schema_version", db);
        Assert.Equal(11, Convert.ToInt32(await cmd.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task An_unreachable_database_fails_the_start_quickly_with_store_unavailable_and_no_password()
    {
        var o = new SandboxOptions { InstanceId = "node-x" };
        var durability = new DurabilityOptions
        {
            Store = StoreKind.Postgres,
            // A closed port on an address of the test's own container network (the PostgreSQL container's, another port).
            ConnectionString = $"Host={pg.Server.Address};Port=5999;Username=sandbox;Password=secret-pw-4411;Database=sandbox",
        };
        await using var store = new PostgresSessionStore(Options.Create(o), Options.Create(durability), NullLogger<PostgresSessionStore>.Instance);
        var sw = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<SandboxException>(() => store.InitializeAsync(CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.StoreUnavailable, e.Code);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(15), $"took {sw.Elapsed}");
        Assert.Contains($"postgres://{pg.Server.Address}:5999/sandbox", e.Message);
        Assert.DoesNotContain("secret-pw-4411", e.Message);
    }

    [Fact]
    public async Task While_the_database_is_away_writes_fail_with_store_unavailable_and_their_latest_state_is_written_when_it_returns()
    {
        // An outage of its own: this test freezes and thaws a PostgreSQL server nobody else uses.
        await using var own = await PostgresServer.StartAsync(pg.Client);
        var store = await OpenAsync("postgres", connection: await own.CreateDatabaseAsync());
        await store.SaveSessionAsync(Record("before"), CancellationToken.None);
        await own.FreezeAsync();

        var sw = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<SandboxException>(() => store.SaveSessionAsync(Record("made"), CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.StoreUnavailable, e.Code);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(15), $"took {sw.Elapsed}");
        // What a create does when its record cannot be saved: it removes the session, whose closing cannot be saved
        // either. The first write may still reach the database when it returns; the closing must win.
        await Assert.ThrowsAsync<SandboxException>(() => store.SaveSessionAsync(Record("made", SessionStatus.Closed), CancellationToken.None));
        store.AppendHistory(new HistoryEntry("before", "alice", "execution", DateTimeOffset.UtcNow, Output: "written later"));
        await Assert.ThrowsAsync<SandboxException>(() => store.LocateSessionAsync("before", CancellationToken.None));

        await own.ThawAsync();
        await store.SaveSessionAsync(Record("after"), CancellationToken.None);
        var deadline = Stopwatch.StartNew();
        while ((await store.LocateSessionAsync("made", CancellationToken.None))?.Status != SessionStatus.Closed)
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(20), "the closing of 'made' was not written after the outage");
            await Task.Delay(200);
        }
        Assert.Equal(["after", "before"], (await store.LoadOpenSessionsAsync(CancellationToken.None)).Select(s => s.Id).Order());
        var history = await store.GetHistoryAsync("before", 10, CancellationToken.None);
        Assert.Equal("written later", Assert.Single(history).Output);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var store in _stores)
        {
            await store.DisposeAsync();
        }
        Directory.Delete(_data, recursive: true);
    }
}
