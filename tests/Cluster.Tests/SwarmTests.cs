using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Docker.DotNet.Models;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Sandbox.Client.Contracts;
using Sandbox.Cluster.Tests.Infrastructure;

namespace Sandbox.Cluster.Tests;

/// <summary>
/// The product on a real three-node Docker Swarm (Docker-in-Docker nodes, deploy/cluster/stack.yaml, PostgreSQL): 30
/// sessions spread over all nodes, each used through a node other than its owner over REST and MCP; a single-use link
/// used through one node and refused through the others; one node killed:
/// its sessions answer session_lost from the others within seconds while the rest keep state and files; the node
/// comes back, reconciles, and leaves no orphan.
/// </summary>
[Trait("Category", "Swarm")]
[Collection(SwarmCollection.Name)]
public sealed class SwarmTests(SwarmCluster cluster)
{
    private const int Sessions = 30;

    private static async Task<JsonElement> McpCallAsync(McpClient client, string tool, Dictionary<string, object?> args)
    {
        var result = await client.CallToolAsync(tool, args);
        return JsonSerializer.SerializeToElement(result.StructuredContent);
    }

    private static async Task<HttpResponseMessage> ExecuteAsync(HttpClient http, string id, string code) =>
        await http.PostAsJsonAsync($"/api/sessions/{id}/execute", new { code });

    [Fact]
    public async Task Thirty_sessions_over_three_nodes_work_through_other_nodes_and_survive_a_killed_node_with_no_orphan_left()
    {
        var nodes = cluster.Nodes;
        var http = nodes.ToDictionary(n => n.Name, n => new HttpClient { BaseAddress = cluster.Server(n), Timeout = TimeSpan.FromSeconds(120) });
        var mcp = new Dictionary<string, McpClient>();
        foreach (var n in nodes)
        {
            mcp[n.Name] = await McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
            {
                Endpoint = new Uri(cluster.Server(n), "/mcp"), TransportMode = HttpTransportMode.StreamableHttp,
            }));
        }
        try
        {
            // Placement: all creates go to node1; the least-loaded node takes each.
            var sessions = new List<(string Id, string Node)>();
            for (var i = 0; i < Sessions; i++)
            {
                var r = await http["node1"].PostAsJsonAsync("/api/sessions", new { });
                Assert.True(r.StatusCode == HttpStatusCode.Created, await r.Content.ReadAsStringAsync());
                var s = (await r.Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!;
                sessions.Add((s.Id, r.Headers.GetValues("X-Sandbox-Node").Single()));
            }
            var perNode = sessions.GroupBy(s => s.Node).ToDictionary(g => g.Key, g => g.Count());
            Assert.All(nodes, n => Assert.True(perNode.GetValueOrDefault(n.Name) >= 5, $"{n.Name} holds {perNode.GetValueOrDefault(n.Name)} of {Sessions}"));

            // Each session through both nodes that do not hold it: REST (code, a file) on one, MCP on the other.
            for (var i = 0; i < sessions.Count; i++)
            {
                var (id, owner) = sessions[i];
                var others = nodes.Where(n => n.Name != owner).Select(n => n.Name).ToArray();
                var run = await ExecuteAsync(http[others[0]], id, $"x = {100 + i}");
                Assert.True(run.IsSuccessStatusCode, await run.Content.ReadAsStringAsync());
                Assert.Equal(owner, run.Headers.GetValues("X-Sandbox-Node").Single());
                (await http[others[0]].PutAsync($"/api/sessions/{id}/files/note.txt", new StringContent($"note {i}"))).EnsureSuccessStatusCode();
                var r = await McpCallAsync(mcp[others[1]], "execute_code", new() { ["session_id"] = id, ["code"] = "print(x + 1, open('note.txt').read())" });
                Assert.Equal($"{101 + i} note {i}\n", r.GetProperty("stdout").GetString());
            }

            // A single-use link is used once in the whole cluster: fetched through one node, refused through the others.
            var made = await http["node2"].PostAsJsonAsync($"/api/sessions/{sessions[0].Id}/links", new { path = "note.txt", method = "GET", single_use = true });
            Assert.True(made.IsSuccessStatusCode, await made.Content.ReadAsStringAsync());
            var link = new Uri((await made.Content.ReadFromJsonAsync<FileLinkDto>(SandboxJson.Options))!.Url).PathAndQuery;
            Assert.Equal("note 0", await http["node1"].GetStringAsync(link));
            foreach (var n in new[] { "node2", "node3" })
            {
                var used = await http[n].GetAsync(link);
                Assert.Equal(HttpStatusCode.Forbidden, used.StatusCode);
                Assert.Contains("used already", await used.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            }

            // node3 is killed. node1 and node2 report its sessions lost within seconds; theirs keep state and files.
            var node3 = nodes.Single(n => n.Name == "node3");
            var ofNode3 = sessions.Where(s => s.Node == "node3").Select(s => s.Id).ToList();
            await node3.KillAsync();
            var sw = Stopwatch.StartNew();
            while ((await ExecuteAsync(http["node1"], ofNode3[0], "print(1)")).StatusCode != HttpStatusCode.Gone)
            {
                Assert.True(sw.Elapsed < SwarmCluster.NodeTimeout + TimeSpan.FromSeconds(15), "node3's sessions were not reported lost in time");
                await Task.Delay(250);
            }
            var reportedAfter = sw.Elapsed;
            foreach (var id in ofNode3)
            {
                var lost = await ExecuteAsync(http["node2"], id, "print(1)");
                Assert.Equal(HttpStatusCode.Gone, lost.StatusCode);
                Assert.Contains("its node node3 left the cluster", await lost.Content.ReadAsStringAsync());
                var viaMcp = await mcp["node1"].CallToolAsync("execute_code", new Dictionary<string, object?> { ["session_id"] = id, ["code"] = "print(1)" });
                Assert.True(viaMcp.IsError);
                Assert.Equal("session_lost", JsonSerializer.SerializeToElement(viaMcp.StructuredContent).GetProperty("error").GetProperty("code").GetString());
            }
            for (var i = 0; i < sessions.Count; i++)
            {
                var (id, owner) = sessions[i];
                if (owner == "node3")
                {
                    continue;
                }
                var run = await ExecuteAsync(http[owner == "node1" ? "node2" : "node1"], id, "print(x, open('note.txt').read())");
                var result = (await run.Content.ReadFromJsonAsync<ExecutionResultDto>(SandboxJson.Options))!;
                Assert.Equal($"{100 + i} note {i}\n", result.Stdout);
            }

            // node3 comes back: its server restarts, reconciles with the store, and removes the sandboxes it held.
            await node3.StartAgainAsync();
            await cluster.WaitForNodesAsync(nodes, TimeSpan.FromMinutes(3));
            var left = await node3.Engine.Containers.ListContainersAsync(new ContainersListParameters
            {
                All = true, Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { ["dev.sandbox.product=sandbox"] = true } },
            });
            Assert.Empty(left);
            var again = await ExecuteAsync(http["node3"], ofNode3[0], "print(1)");
            Assert.Equal(HttpStatusCode.Gone, again.StatusCode);

            foreach (var (id, owner) in sessions.Where(s => s.Node != "node3"))
            {
                Assert.Equal(HttpStatusCode.NoContent, (await http["node3"].DeleteAsync($"/api/sessions/{id}")).StatusCode);
            }
            Console.Error.WriteLine($"[swarm] {Sessions} sessions: {string.Join(", ", perNode.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key} {kv.Value}"))}; killed node reported lost after {reportedAfter.TotalSeconds:F1} s");
        }
        finally
        {
            foreach (var c in mcp.Values)
            {
                await c.DisposeAsync();
            }
            foreach (var c in http.Values)
            {
                c.Dispose();
            }
        }
    }
}
