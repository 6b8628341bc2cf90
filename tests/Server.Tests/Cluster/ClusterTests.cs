using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Docker.DotNet;
using Sandbox.Client.Contracts;
using Sandbox.Server.Hosting;
using Sandbox.Server.Tests.Common;
using Sandbox.Testing;

namespace Sandbox.Server.Tests.Cluster;

/// <summary>
/// Three servers sharing a PostgreSQL store on this machine's engine: sessions spread over the nodes, each used through
/// the others over REST, MCP and links; a node that stops is reported lost by the others within seconds while their
/// sessions keep their state; when it comes back it removes what it held; a draining node takes no new session; a
/// store outage is a clear 503 that leaves nothing behind. (tests/Cluster.Tests/SwarmTests.cs runs the stack on a Swarm
/// of Docker-in-Docker nodes.)
/// </summary>
public sealed class ClusterTests : IAsyncLifetime
{
    private const int Sessions = 30;
    private readonly IDockerClient _docker = new DockerClientBuilder().WithEndpoint(new Uri(Sandbox.Docker.DockerBackend.ResolveEndpoint(null))).WithApiVersion(new System.Version(1, 41)).Build();
    private PostgresServer _pg = null!;

    public async Task InitializeAsync() => _pg = await PostgresServer.StartAsync(_docker);

    public async Task DisposeAsync()
    {
        await _pg.DisposeAsync();
        _docker.Dispose();
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition, TimeSpan limit, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(sw.Elapsed < limit, $"{what}: not within {limit}");
            await Task.Delay(200);
        }
    }

    private static async Task<ClusterDto> ClusterAsync(HttpClient http) => (await http.GetFromJsonAsync<ClusterDto>("/api/cluster", SandboxJson.Options))!;

    private static async Task<(string Id, string Node)> CreateAsync(HttpClient http)
    {
        var r = await http.PostAsJsonAsync("/api/sessions", new { });
        Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        var s = (await r.Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!;
        return (s.Id, r.Headers.GetValues(ClusterForwardingMiddleware.NodeHeader).Single());
    }

    private static async Task<ExecutionResultDto> ExecuteAsync(HttpClient http, string id, string code)
    {
        var r = await http.PostAsJsonAsync($"/api/sessions/{id}/execute", new { code });
        Assert.True(r.IsSuccessStatusCode, $"{(int)r.StatusCode}: {await r.Content.ReadAsStringAsync()}");
        return (await r.Content.ReadFromJsonAsync<ExecutionResultDto>(SandboxJson.Options))!;
    }

    [Fact]
    public async Task Sessions_spread_over_three_nodes_work_through_any_node_survive_a_lost_node_and_leave_no_orphan()
    {
        await using var cluster = new ClusterNodes(await _pg.CreateDatabaseAsync());
        string[] names = ["a", "b", "c"];
        foreach (var name in names)
        {
            await cluster.StartAsync(name);
        }
        var http = names.ToDictionary(n => n, cluster.Http);
        var byId = names.ToDictionary(cluster.Id);
        await WaitForAsync(async () => (await ClusterAsync(http["a"])).Nodes.Count(n => n.Alive) == 3, TimeSpan.FromSeconds(20), "three live nodes");

        // Placement: every session is asked of node a; the least-loaded node takes each.
        var sessions = new List<(string Id, string Node)>();
        for (var i = 0; i < Sessions; i++)
        {
            sessions.Add(await CreateAsync(http["a"]));
        }
        var perNode = sessions.GroupBy(s => byId[s.Node]).ToDictionary(g => g.Key, g => g.Count());
        Assert.All(names, n => Assert.True(perNode.GetValueOrDefault(n) >= Sessions / 3 - 1, $"node {n} holds {perNode.GetValueOrDefault(n)} of {Sessions}"));

        // Any node lists every session, each with the node that holds it.
        var listed = (await http["b"].GetFromJsonAsync<List<SessionDto>>("/api/sessions", SandboxJson.Options))!;
        Assert.Equal(sessions.Select(s => (s.Id, s.Node)).Order(), listed.Select(s => (s.Id, s.Node!)).Order());

        // Each session used through the two nodes that do not hold it: REST on one, MCP on the other.
        var mcp = new Dictionary<string, ModelContextProtocol.Client.McpClient>();
        foreach (var n in names)
        {
            mcp[n] = await cluster.McpAsync(n);
        }
        try
        {
            for (var i = 0; i < sessions.Count; i++)
            {
                var (id, node) = sessions[i];
                var others = names.Where(n => cluster.Id(n) != node).ToArray();
                Assert.Equal("", (await ExecuteAsync(http[others[0]], id, $"x = {40 + i}")).Stderr);
                (await http[others[0]].PutAsync($"/api/sessions/{id}/files/kept.txt", new StringContent($"file {i}"))).EnsureSuccessStatusCode();
                var r = await mcp[others[1]].CallOkAsync("execute_code", new() { ["session_id"] = id, ["code"] = "print(x + 2, open('kept.txt').read())" });
                Assert.Equal($"{42 + i} file {i}\n", r.GetProperty("stdout").GetString());
                var get = await http[others[1]].GetAsync($"/api/sessions/{id}");
                Assert.Equal(node, get.Headers.GetValues(ClusterForwardingMiddleware.NodeHeader).Single());
            }

            // A signed link handed out by one node works through another (the nodes share the link key).
            var (linked, linkedNode) = sessions[0];
            var via = names.First(n => cluster.Id(n) != linkedNode);
            var link = await (await http[via].PostAsJsonAsync($"/api/sessions/{linked}/links", new { path = "kept.txt" })).Content.ReadFromJsonAsync<FileLinkDto>(SandboxJson.Options);
            var third = names.Last(n => cluster.Id(n) != linkedNode);
            using (var anonymous = new HttpClient())
            {
                Assert.Equal("file 0", await anonymous.GetStringAsync(new Uri(cluster.Url(third), new Uri(link!.Url).PathAndQuery)));
            }

            // The terminal WebSocket of a session, opened through a node that does not hold it.
            using (var ws = new System.Net.WebSockets.ClientWebSocket())
            {
                await ws.ConnectAsync(new Uri($"ws://{cluster.Url(via).Authority}/api/sessions/{linked}/terminal?cols=100&rows=30"), CancellationToken.None);
                var screen = new System.Text.StringBuilder();
                using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                var buffer = new byte[16384];
                async Task ReadUntil(string what)
                {
                    while (!screen.ToString().Contains(what, StringComparison.Ordinal))
                    {
                        var r = await ws.ReceiveAsync(buffer, deadline.Token);
                        Assert.NotEqual(System.Net.WebSockets.WebSocketMessageType.Close, r.MessageType);
                        screen.Append(System.Text.Encoding.UTF8.GetString(buffer, 0, r.Count));
                    }
                }
                await ReadUntil("$");
                await ws.SendAsync(System.Text.Encoding.UTF8.GetBytes("{\"type\":\"input\",\"data\":\"echo $((6*7))\\r\"}"),
                    System.Net.WebSockets.WebSocketMessageType.Text, true, CancellationToken.None);
                await ReadUntil("42\r\n");
                await ws.CloseAsync(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
            }

            // Node c stops. Within seconds a and b report its sessions lost (REST and MCP), and theirs keep working.
            var ofC = sessions.Where(s => s.Node == cluster.Id("c")).Select(s => s.Id).ToList();
            await cluster.StopAsync("c");
            var sw = Stopwatch.StartNew();
            await WaitForAsync(async () => (await http["a"].PostAsJsonAsync($"/api/sessions/{ofC[0]}/execute", new { code = "print(1)" })).StatusCode == HttpStatusCode.Gone,
                ClusterNodes.NodeTimeout + TimeSpan.FromSeconds(10), "node c's sessions reported lost");
            var lostAfter = sw.Elapsed;
            foreach (var id in ofC)
            {
                var lost = await http["b"].PostAsJsonAsync($"/api/sessions/{id}/execute", new { code = "print(1)" });
                Assert.Equal(HttpStatusCode.Gone, lost.StatusCode);
                var problem = await lost.Content.ReadAsStringAsync();
                Assert.Contains("session_lost", problem);
                Assert.Contains($"its node {cluster.Id("c")} left the cluster", problem);
                Assert.Equal("session_lost", await mcp["a"].CallErrorCodeAsync("execute_code", new() { ["session_id"] = id, ["code"] = "print(1)" }));
            }
            foreach (var (id, node) in sessions.Where(s => s.Node != cluster.Id("c")))
            {
                var i = sessions.FindIndex(s => s.Id == id);
                Assert.Equal($"{40 + i}\n", (await ExecuteAsync(http["a"], id, "print(x)")).Stdout);
                Assert.Equal($"file {i}", await http["b"].GetStringAsync($"/api/sessions/{id}/files/kept.txt"));
            }
            var remaining = (await http["a"].GetFromJsonAsync<List<SessionDto>>("/api/sessions", SandboxJson.Options))!;
            Assert.Equal(sessions.Where(s => !ofC.Contains(s.Id)).Select(s => s.Id).Order(), remaining.Select(s => s.Id).Order());
            var view = await ClusterAsync(http["a"]);
            Assert.False(view.Nodes.Single(n => n.Id == cluster.Id("c")).Alive);

            // New sessions avoid the silent node.
            for (var i = 0; i < 3; i++)
            {
                var (id, node) = await CreateAsync(http["b"]);
                Assert.NotEqual(cluster.Id("c"), node);
                sessions.Add((id, node));
            }

            // c comes back: it removes the sandboxes of its lost sessions (no orphan left) and answers for them too.
            Assert.NotEmpty(await ClusterNodes.ContainersOfAsync(cluster.Id("c")));
            await cluster.StartAsync("c");
            Assert.Empty(await ClusterNodes.ContainersOfAsync(cluster.Id("c")));
            Assert.Equal(HttpStatusCode.Gone, (await http["c"].PostAsJsonAsync($"/api/sessions/{ofC[0]}/execute", new { code = "print(1)" })).StatusCode);
            await WaitForAsync(async () => (await ClusterAsync(http["b"])).Nodes.Count(n => n.Alive) == 3, TimeSpan.FromSeconds(20), "c alive again");

            // b drains: new sessions asked of b go elsewhere; its own sessions keep working.
            Assert.Equal(HttpStatusCode.OK, (await http["b"].PostAsync("/admin/drain", null)).StatusCode);
            await WaitForAsync(async () => (await ClusterAsync(http["a"])).Nodes.Single(n => n.Id == cluster.Id("b")).State == "draining", TimeSpan.FromSeconds(10), "b draining");
            for (var i = 0; i < 3; i++)
            {
                var (id, node) = await CreateAsync(http["b"]);
                Assert.NotEqual(cluster.Id("b"), node);
                sessions.Add((id, node));
            }
            var onB = sessions.First(s => s.Node == cluster.Id("b"));
            Assert.Equal("2\n", (await ExecuteAsync(http["c"], onB.Id, "print(1 + 1)")).Stdout);
            Assert.Equal(HttpStatusCode.OK, (await http["b"].PostAsync("/admin/undrain", null)).StatusCode);

            // Every live session closes through a node that does not hold it.
            foreach (var (id, node) in sessions.Where(s => !ofC.Contains(s.Id)))
            {
                var other = names.First(n => cluster.Id(n) != node);
                Assert.Equal(HttpStatusCode.NoContent, (await http[other].DeleteAsync($"/api/sessions/{id}")).StatusCode);
            }
            foreach (var instance in cluster.InstanceIds)
            {
                Assert.Empty(await ClusterNodes.ContainersOfAsync(instance));
            }
            Console.Error.WriteLine($"[cluster] {Sessions} sessions over 3 nodes ({string.Join(", ", perNode.Select(kv => $"{kv.Key}: {kv.Value}"))}); lost node reported after {lostAfter.TotalSeconds:F1} s");
        }
        finally
        {
            foreach (var client in mcp.Values)
            {
                await client.DisposeAsync();
            }
            foreach (var client in http.Values)
            {
                client.Dispose();
            }
        }
    }

    [Fact]
    public async Task A_store_outage_is_a_clear_503_and_a_create_it_interrupts_leaves_nothing()
    {
        await using var own = await PostgresServer.StartAsync(_docker);
        await using var cluster = new ClusterNodes(await own.CreateDatabaseAsync());
        await cluster.StartAsync("solo");
        using var http = cluster.Http("solo");
        var (id, _) = await CreateAsync(http);
        Assert.Equal("1\n", (await ExecuteAsync(http, id, "print(1)")).Stdout);
        await own.FreezeAsync();

        var create = await http.PostAsJsonAsync("/api/sessions", new { });
        Assert.Equal(HttpStatusCode.ServiceUnavailable, create.StatusCode);
        using (var problem = JsonDocument.Parse(await create.Content.ReadAsStringAsync()))
        {
            Assert.Equal("store_unavailable", problem.RootElement.GetProperty("code").GetString());
        }
        // Only the session made before the outage has a container: the interrupted create left nothing.
        Assert.Single(await ClusterNodes.ContainersOfAsync(cluster.Id("solo")));
        // A session that exists keeps answering from memory while the store is away.
        Assert.Equal("2\n", (await ExecuteAsync(http, id, "print(2)")).Stdout);

        await own.ThawAsync();
        var (again, _) = await CreateAsync(http);
        Assert.Equal("3\n", (await ExecuteAsync(http, again, "print(3)")).Stdout);
    }
}
