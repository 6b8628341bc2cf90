using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.AspNetCore.Builder;
using ModelContextProtocol.Client;
using Sandbox.Client.Contracts;
using Sandbox.Server.Hosting;

/// <summary>
/// The cluster's costs, measured on this machine: three servers sharing a PostgreSQL store (a container of
/// sandbox-postgres, built by deploy/build-images.sh cluster), each in this process on its own loopback port. Execute
/// p50/p99 on a session held by the node that answers vs one forwarded from another node (REST and MCP), and session
/// creates per second with one node vs three (all on this one machine and engine: a third of the hardware each, so
/// the ratio shows the cost or gain of spreading, not of more machines).
/// </summary>
internal static class ClusterBench
{
    public static async Task<List<string>> RunAsync(IDockerClient docker, int iterations)
    {
        var lines = new List<string>();
        var pg = await docker.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Image = "sandbox-postgres:latest", Env = ["POSTGRES_PASSWORD=bench-pg-password", "POSTGRES_FSYNC=off"],
            Labels = new Dictionary<string, string> { ["dev.sandbox.test"] = "true" },
        });
        var apps = new List<WebApplication>();
        var data = Directory.CreateTempSubdirectory("sandbox-bench-cluster-").FullName;
        try
        {
            await docker.Containers.StartContainerAsync(pg.ID, new ContainerStartParameters());
            var address = (await docker.Containers.InspectContainerAsync(pg.ID)).NetworkSettings!.Networks!["bridge"].IPAddress;
            var connection = $"Host={address};Username=sandbox;Password=bench-pg-password;Database=sandbox";
            await WaitForPostgresAsync(connection);

            // Three nodes; then forwarded vs local calls.
            var prefix = "bench-cl-" + Guid.NewGuid().ToString("N")[..6];
            var urls = new List<Uri>();
            for (var i = 0; i < 3; i++)
            {
                var (app, url) = await StartNodeAsync($"{prefix}-{i}", connection, Path.Combine(data, i.ToString(CultureInfo.InvariantCulture)), 0);
                apps.Add(app);
                urls.Add(url);
            }
            await WaitForNodesAsync(urls[0], 3);
            var http = urls.Select(u => new HttpClient { BaseAddress = u }).ToList();
            var created = await http[0].PostAsJsonAsync("/api/sessions", new { isolation = "container" });
            created.EnsureSuccessStatusCode();
            var id = (await created.Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!.Id;
            var owner = created.Headers.GetValues("X-Sandbox-Node").Single();
            var local = http[int.Parse(owner[^1..], CultureInfo.InvariantCulture)];
            var remote = http.First(h => h != local);
            var rows = new List<(string Name, double[] Ms)>
            {
                ("REST execute, session on the answering node", await Timing.SampleAsync(iterations, () => ExecuteAsync(local, id))),
                ("REST execute, forwarded to the session's node", await Timing.SampleAsync(iterations, () => ExecuteAsync(remote, id))),
            };
            await using (var mcpLocal = await McpAsync(local.BaseAddress!))
            await using (var mcpRemote = await McpAsync(remote.BaseAddress!))
            {
                rows.Add(("MCP execute_code, session on the answering node", await Timing.SampleAsync(iterations, () => McpExecuteAsync(mcpLocal, id))));
                rows.Add(("MCP execute_code, forwarded to the session's node", await Timing.SampleAsync(iterations, () => McpExecuteAsync(mcpRemote, id))));
            }
            await http[0].DeleteAsync($"/api/sessions/{id}");
            var creates3 = await CreateThroughputAsync(http);
            foreach (var c in http)
            {
                c.Dispose();
            }
            foreach (var app in apps)
            {
                await app.StopAsync();
                await app.DisposeAsync();
            }
            apps.Clear();

            // One node alone, same store, same load.
            var (single, singleUrl) = await StartNodeAsync($"{prefix}-solo", connection, Path.Combine(data, "solo"), 0);
            apps.Add(single);
            using var singleHttp = new HttpClient { BaseAddress = singleUrl };
            var creates1 = await CreateThroughputAsync([singleHttp]);

            lines.Add("Cluster (three servers in one process on loopback sharing one PostgreSQL, one engine; container tier, no warm pool):");
            lines.Add("");
            lines.Add("| path | p50 ms | p99 ms |");
            lines.Add("|---|---:|---:|");
            foreach (var (name, ms) in rows)
            {
                lines.Add(string.Create(CultureInfo.InvariantCulture, $"| {name} | {Timing.P(ms, 50):0.00} | {Timing.P(ms, 99):0.00} |"));
            }
            lines.Add("");
            lines.Add("| nodes | sessions created (8 concurrent clients) | seconds | creates/s |");
            lines.Add("|---:|---:|---:|---:|");
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"| 1 | {creates1.Count} | {creates1.Seconds:0.0} | {creates1.Count / creates1.Seconds:0.0} |"));
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"| 3 | {creates3.Count} | {creates3.Seconds:0.0} | {creates3.Count / creates3.Seconds:0.0} |"));
            return lines;
        }
        finally
        {
            foreach (var app in apps)
            {
                await app.StopAsync();
                await app.DisposeAsync();
            }
            await docker.Containers.RemoveContainerAsync(pg.ID, new ContainerRemoveParameters { Force = true, RemoveVolumes = true });
            Directory.Delete(data, recursive: true);
        }
    }

    /// <summary>24 sessions created by 8 concurrent clients spread over the given nodes, then closed.</summary>
    private static async Task<(int Count, double Seconds)> CreateThroughputAsync(IReadOnlyList<HttpClient> nodes)
    {
        var ids = new System.Collections.Concurrent.ConcurrentBag<(HttpClient Via, string Id)>();
        var sw = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, 8).Select(client => Task.Run(async () =>
        {
            var via = nodes[client % nodes.Count];
            for (var i = 0; i < 3; i++)
            {
                var r = await via.PostAsJsonAsync("/api/sessions", new { isolation = "container" });
                r.EnsureSuccessStatusCode();
                ids.Add((via, (await r.Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!.Id));
            }
        })));
        var seconds = sw.Elapsed.TotalSeconds;
        foreach (var (via, id) in ids)
        {
            await via.DeleteAsync($"/api/sessions/{id}");
        }
        return (ids.Count, seconds);
    }

    private static async Task<(WebApplication App, Uri Url)> StartNodeAsync(string instance, string connection, string data, int pool)
    {
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        var app = ServerProgram.BuildHttp(
        [
            "--urls", $"http://127.0.0.1:{port}", $"--Sandbox:InstanceId={instance}", $"--Sandbox:Durability:DataDirectory={data}",
            "--Sandbox:Durability:Store=Postgres", $"--Sandbox:Durability:ConnectionString={connection}", "--Sandbox:Cluster:Enabled=true",
            $"--Sandbox:Cluster:AdvertiseUrl=http://127.0.0.1:{port}", "--Sandbox:Cluster:HeartbeatInterval=00:00:00.5",
            $"--Sandbox:Pool:Size={pool}", "--Sandbox:MaxSessions=40", "--Serilog:MinimumLevel:Default=Warning",
            "--Serilog:MinimumLevel:Override:Microsoft.Hosting.Lifetime=Warning",
        ]);
        await app.StartAsync();
        return (app, new Uri($"http://127.0.0.1:{port}"));
    }

    private static async Task WaitForPostgresAsync(string connection)
    {
        for (var i = 0; ; i++)
        {
            try
            {
                await using var db = new Npgsql.NpgsqlConnection(connection);
                await db.OpenAsync();
                return;
            }
            catch (Exception e) when (i < 300 && e is Npgsql.NpgsqlException or SocketException or TimeoutException)
            {
                await Task.Delay(200);
            }
        }
    }

    private static async Task WaitForNodesAsync(Uri node, int count)
    {
        using var http = new HttpClient { BaseAddress = node };
        for (var i = 0; i < 200; i++)
        {
            var cluster = await http.GetFromJsonAsync<ClusterDto>("/api/cluster", SandboxJson.Options);
            if (cluster!.Nodes.Count(n => n.Alive) == count)
            {
                return;
            }
            await Task.Delay(100);
        }
        throw new InvalidOperationException("the benchmark's cluster did not form");
    }

    private static async Task ExecuteAsync(HttpClient http, string id)
    {
        using var r = await http.PostAsJsonAsync($"/api/sessions/{id}/execute", new { code = "print(1)" });
        var body = await r.Content.ReadAsStringAsync();
        if (!r.IsSuccessStatusCode || !body.Contains("\"stdout\":\"1\\n\"", StringComparison.Ordinal))
        {
            throw new InvalidOperationException(body);
        }
    }

    private static async Task McpExecuteAsync(McpClient mcp, string id)
    {
        var r = await mcp.CallToolAsync("execute_code", new Dictionary<string, object?> { ["session_id"] = id, ["code"] = "print(1)" });
        if (r.IsError == true)
        {
            throw new InvalidOperationException("tool error");
        }
    }

    private static Task<McpClient> McpAsync(Uri node) => McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
    {
        Endpoint = new Uri(node, "/mcp"), TransportMode = HttpTransportMode.StreamableHttp,
    }));
}
