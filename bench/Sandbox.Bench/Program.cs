// Measures, in one run and under the same conditions, how long a trivial execution takes through the engine,
// REST and MCP on a warm session, against `docker exec <container> python3 -c 'print(1)'` (the per-call exec that
// AgentRun-style servers pay) and creating a session against `docker run --rm`. Prints a markdown table of
// percentiles and ratios. Ratios, not absolute times, are what to compare: machines are shared and noisy.
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using ModelContextProtocol.Client;
using Sandbox;
using Sandbox.Docker;
using Sandbox.Execution;
using Sandbox.Isolation;
using Sandbox.Server.Hosting;
using Sandbox.Sessions;

// Arguments: [executions per path] [--quick: only the warm-execution rows and the floors, for iterating on the hot path]
// [--idle: only what 50 idle gVisor sessions and the warm pool cost the host's CPU] [--load: only the 20-client load]
var quick = args.Contains("--quick");
var iterations = args.FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal)) is { } count ? int.Parse(count, CultureInfo.InvariantCulture) : 200;
var createIterations = Math.Max(5, iterations / 20);
const string Owner = "anonymous";
var instance = "bench-" + Guid.NewGuid().ToString("N")[..8];

await using var app = ServerProgram.BuildHttp(["--urls", "http://127.0.0.1:0", $"--Sandbox:InstanceId={instance}", "--Serilog:MinimumLevel:Default=Warning", "--Serilog:MinimumLevel:Override:Microsoft.Hosting.Lifetime=Warning", "--Sandbox:Safety:Mode=Enforce", "--Sandbox:Pool:Size=2", "--Sandbox:MaxSessions=80", "--Sandbox:Execution:MaxConcurrent=128", "--Sandbox:Durability:Store=Memory"]);
await app.StartAsync();
var baseUri = new Uri(app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First());
var engine = app.Services.GetRequiredService<SandboxEngine>();
if (args.Contains("--idle"))
{
    await IdleBench.RunAsync(engine, Owner, 50, TimeSpan.FromSeconds(60));
    await app.StopAsync();
    return;
}
if (args.Contains("--load"))
{
    var only = new List<LoadBench.Result>();
    foreach (var tier in new[] { IsolationTier.Gvisor, IsolationTier.Container })
    {
        only.Add(await LoadBench.RunAsync(baseUri, tier));
    }
    await app.StopAsync();
    Console.WriteLine($"Machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}; {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
    Console.WriteLine();
    LoadBench.Print(only);
    Console.WriteLine();
    LoadBench.PrintCpu(only);
    return;
}
// One warm session per isolation tier; the docker exec baseline runs in the container tier's (runc, what peers use).
var tiers = new[] { IsolationTier.Gvisor, IsolationTier.Container };
var sessions = new Dictionary<IsolationTier, SessionInfo>();
foreach (var tier in tiers)
{
    sessions[tier] = await engine.Sessions.CreateAsync(new SessionSpec { Isolation = tier }, Owner, CancellationToken.None);
}
var session = sessions[IsolationTier.Container];
var container = DockerBackend.ContainerName(session.Id);
using var http = new HttpClient { BaseAddress = baseUri };
await using var mcp = await McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions { Endpoint = new Uri(baseUri, "/mcp"), TransportMode = HttpTransportMode.StreamableHttp }));

var request = new ExecutionRequest { Code = "print(1)" };
var rows = new List<(string Name, double[] Ms)>();
var bursts = new List<(string Tier, int Warm, double Seconds)>();
var breakdowns = new List<(string Tier, double[] Totals, List<(double Check, double Run, double Engine)> Stages)>();
var sweep = new List<(string Tier, int Clients, double[] Ms, int Errors, double PerSecond)>();
var stdioRss = new List<double>();

async Task<double[]> Measure(string name, Func<Task> op, int n)
{
    var samples = await Timing.SampleAsync(n, op);
    rows.Add((name, samples));
    Console.Error.WriteLine($"  {name}: p50 {P(samples, 50):0.00} ms");
    return samples;
}

static double P(double[] sorted, double p) => Timing.P(sorted, p);

static async Task Run(string file, params string[] arguments)
{
    var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
    foreach (var a in arguments)
    {
        psi.ArgumentList.Add(a);
    }
    using var p = Process.Start(psi)!;
    var output = await p.StandardOutput.ReadToEndAsync();
    await p.WaitForExitAsync();
    if (p.ExitCode != 0 || output.Trim() is not ("1" or ""))
    {
        throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} failed: {await p.StandardError.ReadToEndAsync()}");
    }
}

Console.Error.WriteLine($"Measuring {iterations} executions per path...");
var dockerExec = await Measure("docker exec python3 -c 'print(1)' (baseline)", () => Run("docker", "exec", "-u", "1000", container, "python3", "-c", "print(1)"), iterations);
foreach (var tier in tiers)
{
    var id = sessions[tier].Id;
    var t = IsolationPolicy.Name(tier);
    await Measure($"{t}: engine execute (in-process)", async () =>
    {
        var r = await engine.Executions.ExecuteAsync(id, Owner, request, CancellationToken.None);
        if (r.Stdout != "1\n") throw new InvalidOperationException(r.Stderr);
    }, iterations);
    var stages = new List<(double Check, double Run, double Engine)>();
    var totals = await Measure($"{t}: REST POST /execute", async () =>
    {
        using var r = await http.PostAsJsonAsync($"/api/sessions/{id}/execute", new { code = "print(1)" });
        r.EnsureSuccessStatusCode();
        stages.Add(Timing.ServerTiming(r));
    }, iterations);
    breakdowns.Add((t, totals, stages.Skip(stages.Count - iterations).ToList()));
    // The same call with its body's length given (what curl and Python clients send) instead of chunked (PostAsJsonAsync).
    var body = System.Text.Encoding.UTF8.GetBytes("{\"code\":\"print(1)\"}");
    await Measure($"{t}: REST POST /execute (Content-Length body)", async () =>
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        using var r = await http.PostAsync($"/api/sessions/{id}/execute", content);
        r.EnsureSuccessStatusCode();
    }, iterations);
    // HTTP's own share: a REST call that asks the engine for next to nothing (the session's description).
    await Measure($"{t}: REST GET /sessions/{{id}} (HTTP floor)", async () =>
    {
        using var r = await http.GetAsync($"/api/sessions/{id}");
        r.EnsureSuccessStatusCode();
    }, iterations);
    // Code never run before in the session: the safety check's round trip to the runner is part of every call.
    var unique = 0;
    await Measure($"{t}: REST POST /execute, new code each call", async () =>
    {
        using var r = await http.PostAsJsonAsync($"/api/sessions/{id}/execute", new { code = $"print({++unique} - {unique} + 1)" });
        r.EnsureSuccessStatusCode();
    }, iterations);
    await Measure($"{t}: MCP execute_code", async () =>
    {
        var r = await mcp.CallToolAsync("execute_code", new Dictionary<string, object?> { ["session_id"] = id, ["code"] = "print(1)" });
        if (r.IsError == true) throw new InvalidOperationException("tool error");
    }, iterations);
}

// The wire's limit: a JSON line into a long-lived Python loop over the engine's attached stream and back, per runtime.
foreach (var (label, runtime) in new[] { ("gvisor", (string?)"runsc"), ("container", (string?)null) })
{
    await using (var floor = await AttachFloor.StartAsync(((DockerBackend)engine.Backend).Client, "sandbox-python:latest", runtime))
    {
        await Measure($"{label}: attach-stream floor (JSON line echo)", floor.RoundTripAsync, iterations);
    }
    await using var bare = await AttachFloor.StartAsync(((DockerBackend)engine.Backend).Client, "sandbox-python:latest", runtime, runner: true);
    await Measure($"{label}: runner alone over the attached stream (no engine)", bare.RoundTripAsync, iterations);
}

if (quick)
{
    foreach (var s in sessions.Values)
    {
        await engine.Sessions.CloseAsync(s.Id, Owner, CancellationToken.None);
    }
    await app.StopAsync();
    PrintHeader();
    PrintRows();
    return;
}

// MCP over stdio: the server as Claude Desktop starts it (its own process, its own sessions), one session per tier.
{
    var serverDll = typeof(ServerProgram).Assembly.Location;
    var marker = "--Sandbox:InstanceId=" + instance + "-stdio";
    await using var stdio = await McpClient.CreateAsync(new StdioClientTransport(new StdioClientTransportOptions
    {
        Command = "dotnet", Arguments = [serverDll, "--stdio", "--Sandbox:Pool:Size=0", "--Serilog:MinimumLevel:Default=Warning", "--Sandbox:Safety:Mode=Enforce", "--Sandbox:MaxSessions=80", marker],
        Name = "sandbox-stdio",
    }));
    foreach (var tier in tiers)
    {
        var t = IsolationPolicy.Name(tier);
        var created = await stdio.CallToolAsync("create_session", new Dictionary<string, object?> { ["isolation"] = t });
        var sid = created.StructuredContent!.Value.GetProperty("session_id").GetString()!;
        await Measure($"{t}: MCP execute_code (stdio)", async () =>
        {
            var r = await stdio.CallToolAsync("execute_code", new Dictionary<string, object?> { ["session_id"] = sid, ["code"] = "print(1)" });
            if (r.IsError == true) throw new InvalidOperationException("tool error");
        }, iterations);
        await stdio.CallToolAsync("close_session", new Dictionary<string, object?> { ["session_id"] = sid });
    }
    // The server alone (its own process, no benchmark clients in it): memory idle, then with 50 live sessions.
    var server = ServerProcess(marker);
    stdioRss.Add(RssOf(server));
    var live = new List<string>();
    for (var i = 0; i < 50; i++)
    {
        var created = await stdio.CallToolAsync("create_session", new Dictionary<string, object?> { ["isolation"] = "container", ["memory_mb"] = 128 });
        var sid = created.StructuredContent!.Value.GetProperty("session_id").GetString()!;
        live.Add(sid);
        await stdio.CallToolAsync("execute_code", new Dictionary<string, object?> { ["session_id"] = sid, ["code"] = "print(1)" });
    }
    stdioRss.Add(RssOf(server));
    foreach (var sid in live)
    {
        await stdio.CallToolAsync("close_session", new Dictionary<string, object?> { ["session_id"] = sid });
    }
}

// The process started with a unique argument, and its resident memory in MB.
static int ServerProcess(string marker) => Directory.EnumerateDirectories("/proc").Select(d => Path.GetFileName(d))
    .Where(d => d.All(char.IsAsciiDigit)).Select(int.Parse)
    .First(pid => { try { return File.ReadAllText($"/proc/{pid}/cmdline").Split('\0').Contains(marker); } catch (IOException) { return false; } catch (UnauthorizedAccessException) { return false; } });
static double RssOf(int pid) =>
    long.Parse(File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;

await Measure("docker run --rm python3 -c 'print(1)' (baseline)", () => Run("docker", "run", "--rm", "--network", "none", "sandbox-python:latest", "python3", "-c", "print(1)"), createIterations);
// Per tier. Without the pool: non-default limits bypass it. With it: wait (untimed) until the background refill has one.
foreach (var tier in tiers)
{
    var t = IsolationPolicy.Name(tier);
    await Measure($"{t}: create_session (no pool)", async () =>
    {
        var s = await engine.Sessions.CreateAsync(new SessionSpec { Isolation = tier, Limits = new LimitsRequest { MemoryMb = 500 } }, Owner, CancellationToken.None);
        _ = engine.Sessions.CloseAsync(s.Id, Owner, CancellationToken.None);
    }, createIterations);
    var poolSamples = new List<double>();
    for (var i = 0; i < createIterations; i++)
    {
        for (var wait = 0; wait < 300 && engine.Pool.CountOf(tier) == 0; wait++)
        {
            await Task.Delay(100);
        }
        var sw = Stopwatch.StartNew();
        var s = await engine.Sessions.CreateAsync(new SessionSpec { Isolation = tier }, Owner, CancellationToken.None);
        poolSamples.Add(sw.Elapsed.TotalMilliseconds);
        await engine.Sessions.CloseAsync(s.Id, Owner, CancellationToken.None);
    }
    poolSamples.Sort();
    rows.Add(($"{t}: create_session (warm pool)", poolSamples.ToArray()));
    // What peers publish: from the create call to the first execution's answer, a warm pool container each time.
    var firstSamples = new List<double>();
    for (var i = 0; i < createIterations; i++)
    {
        for (var wait = 0; wait < 300 && engine.Pool.CountOf(tier) == 0; wait++)
        {
            await Task.Delay(100);
        }
        var sw = Stopwatch.StartNew();
        var s = await engine.Sessions.CreateAsync(new SessionSpec { Isolation = tier }, Owner, CancellationToken.None);
        var r = await engine.Executions.ExecuteAsync(s.Id, Owner, request, CancellationToken.None);
        firstSamples.Add(sw.Elapsed.TotalMilliseconds);
        if (r.Stdout != "1\n") throw new InvalidOperationException(r.Stderr);
        await engine.Sessions.CloseAsync(s.Id, Owner, CancellationToken.None);
    }
    firstSamples.Sort();
    rows.Add(($"{t}: create-to-first-execution (warm pool)", firstSamples.ToArray()));
    // 20 creates back to back (no waiting for the refill): how many found a warm container.
    for (var wait = 0; wait < 300 && engine.Pool.CountOf(tier) < 2; wait++)
    {
        await Task.Delay(100);
    }
    var burst = new List<SessionInfo>();
    var burstWatch = Stopwatch.StartNew();
    for (var i = 0; i < 20; i++)
    {
        burst.Add(await engine.Sessions.CreateAsync(new SessionSpec { Isolation = tier }, Owner, CancellationToken.None));
    }
    var burstSeconds = burstWatch.Elapsed.TotalSeconds;
    var warm = 0;
    foreach (var b in burst)
    {
        var history = await engine.Sessions.GetHistoryAsync(b.Id, Owner, 10, CancellationToken.None);
        warm += history.Any(h => h.Kind == "created" && (h.Output ?? "").Contains("warm pool", StringComparison.Ordinal)) ? 1 : 0;
        await engine.Sessions.CloseAsync(b.Id, Owner, CancellationToken.None);
    }
    bursts.Add((t, warm, burstSeconds));
}

// Server memory: idle, then with 50 live sessions (before the load generators below share this process).
static double RssMb()
{
    GC.Collect();
    GC.WaitForPendingFinalizers();
    GC.Collect();
    using var p = Process.GetCurrentProcess();
    return p.WorkingSet64 / 1048576.0;
}
var idleRss = RssMb();
var fifty = new List<string>();
for (var i = 0; i < 50; i++)
{
    fifty.Add((await engine.Sessions.CreateAsync(new SessionSpec { Limits = new LimitsRequest { MemoryMb = 128 } }, Owner, CancellationToken.None)).Id);
}
foreach (var id in fifty)
{
    await engine.Executions.ExecuteAsync(id, Owner, request, CancellationToken.None);
}
var fiftyRss = RssMb();
foreach (var id in fifty)
{
    await engine.Sessions.CloseAsync(id, Owner, CancellationToken.None);
}

// Concurrency: 1, 4, 16 and 64 REST clients (keep-alive, one session each) running print(1) back to back, per tier.
foreach (var tier in tiers)
{
    foreach (var n in new[] { 1, 4, 16, 64 })
    {
        var ids = new List<string>();
        for (var i = 0; i < n; i++)
        {
            ids.Add((await engine.Sessions.CreateAsync(new SessionSpec { Isolation = tier, Limits = new LimitsRequest { MemoryMb = 128 } }, Owner, CancellationToken.None)).Id);
        }
        var perClient = Math.Max(10, Math.Max(iterations, 400) / n);
        var latencies = new System.Collections.Concurrent.ConcurrentBag<double>();
        var errors = 0;
        var sw = Stopwatch.StartNew();
        await Task.WhenAll(ids.Select(id => Task.Run(async () =>
        {
            using var c = new HttpClient { BaseAddress = baseUri };
            for (var i = 0; i < perClient + 3; i++)
            {
                var one = Stopwatch.StartNew();
                using var r = await c.PostAsJsonAsync($"/api/sessions/{id}/execute", new { code = "print(1)" });
                var body = await r.Content.ReadAsStringAsync();
                if (i < 3)
                {
                    continue; // the client's connection warms up
                }
                latencies.Add(one.Elapsed.TotalMilliseconds);
                if (!r.IsSuccessStatusCode || !body.Contains("\"stdout\":\"1\\n\"", StringComparison.Ordinal))
                {
                    Interlocked.Increment(ref errors);
                }
            }
        })));
        var seconds = sw.Elapsed.TotalSeconds;
        var sorted = latencies.Order().ToArray();
        sweep.Add((IsolationPolicy.Name(tier), n, sorted, errors, sorted.Length / seconds));
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {IsolationPolicy.Name(tier)} x{n}: p50 {P(sorted, 50):0.00} ms, p99 {P(sorted, 99):0.00} ms"));
        foreach (var id in ids)
        {
            await engine.Sessions.CloseAsync(id, Owner, CancellationToken.None);
        }
    }
}

foreach (var s in sessions.Values)
{
    await engine.Sessions.CloseAsync(s.Id, Owner, CancellationToken.None);
}

// Load, per tier: 50 sessions, 100 executions each (5,000), from 20 concurrent REST clients; zero errors expected.
var loads = new List<LoadBench.Result>();
foreach (var tier in tiers)
{
    loads.Add(await LoadBench.RunAsync(baseUri, tier));
}
await app.StopAsync();

Console.Error.WriteLine("Measuring the cluster (three nodes sharing PostgreSQL)...");
var clusterLines = await ClusterBench.RunAsync(((DockerBackend)engine.Backend).Client, iterations);

PrintHeader();
PrintRows();
Console.WriteLine();
Console.WriteLine("Where a warm REST `print(1)` spends its time (medians; from the server's Server-Timing header):");
Console.WriteLine();
Console.WriteLine("| tier | client round trip ms | engine ms | safety check ms | run in the sandbox ms | HTTP, JSON and the rest ms | attach floor ms |");
Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
foreach (var (tier, totals, stages) in breakdowns)
{
    static double Median(IEnumerable<double> xs) { var a = xs.Order().ToArray(); return a.Length == 0 ? 0 : a[a.Length / 2]; }
    var floor = rows.First(r => r.Name.StartsWith(tier + ": attach-stream floor", StringComparison.Ordinal)).Ms;
    var engineMs = Median(stages.Select(x => x.Engine));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"| {tier} | {P(totals, 50):0.00} | {engineMs:0.00} | {Median(stages.Select(x => x.Check)):0.00} | {Median(stages.Select(x => x.Run)):0.00} | {P(totals, 50) - engineMs:0.00} | {P(floor, 50):0.00} |"));
}
Console.WriteLine();
Console.WriteLine("| tier | REST clients (one session each) | executions | errors | executions/s | p50 ms | p99 ms | p99 / p50 | p50 / attach floor |");
Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
foreach (var (tier, n, ms, errors, perSecond) in sweep)
{
    var floor = rows.First(r => r.Name.StartsWith(tier + ": attach-stream floor", StringComparison.Ordinal)).Ms;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"| {tier} | {n} | {ms.Length} | {errors} | {perSecond:0} | {P(ms, 50):0.00} | {P(ms, 99):0.00} | {P(ms, 99) / P(ms, 50):0.0}× | {P(ms, 50) / P(floor, 50):0.0}× |"));
}
Console.WriteLine();
foreach (var (tier, warm, seconds) in bursts)
{
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Warm pool, {tier}: 20 creates back to back took {seconds:0.0} s; {warm} of 20 found a warm container."));
}
Console.WriteLine();
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Server RSS, the server alone in its own process (stdio, container tier): {stdioRss[0]:0} MB with no live session (after 400 calls), {stdioRss[1]:0} MB with 50 live sessions (each has run code)."));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Benchmark process RSS (the HTTP server and the benchmark's clients together): {idleRss:0} MB idle, {fiftyRss:0} MB with 50 live sessions."));
Console.WriteLine();
LoadBench.Print(loads);
Console.WriteLine();
// The latency targets this server is held to, judged on this run's own figures (a guard that shows a regression as a
// "no" beside the number; nothing is asserted: the machine is shared and noisy).
Console.WriteLine("| target | tier | this run | met |");
Console.WriteLine("|---|---|---:|---|");
foreach (var tier in tiers.Select(IsolationPolicy.Name))
{
    double Row(string name) => P(rows.First(r => r.Name == $"{tier}: {name}").Ms, 50);
    var floor = Row("attach-stream floor (JSON line echo)");
    void Target(string target, string value, bool met) => Console.WriteLine($"| {target} | {tier} | {value} | {(met ? "yes" : "no")} |");
    var rest = Row("REST POST /execute") / floor;
    var mcpRatio = Row("MCP execute_code") / floor;
    var first = Row("create-to-first-execution (warm pool)");
    var load = loads.First(l => l.Tier == tier);
    var (p50, p99) = (P(load.Ms, 50), P(load.Ms, 99));
    Target("REST execute p50 ≤ 3× the attach floor", string.Create(CultureInfo.InvariantCulture, $"{rest:0.0}×"), rest <= 3);
    Target("MCP execute_code p50 ≤ 5× the attach floor", string.Create(CultureInfo.InvariantCulture, $"{mcpRatio:0.0}×"), mcpRatio <= 5);
    Target("load p99 ≤ 10× p50 and ≤ 50 ms, 0 errors", string.Create(CultureInfo.InvariantCulture, $"{p99 / p50:0.0}×, {p99:0} ms, {load.Errors} errors"), p99 <= 10 * p50 && p99 <= 50 && load.Errors == 0);
    Target("create-to-first-execution p50 ≤ 40 ms", string.Create(CultureInfo.InvariantCulture, $"{first:0.0} ms"), first <= 40);
}
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| server RSS ≤ 250 MB with 50 live sessions (server alone) | container | {stdioRss[1]:0} MB | {(stdioRss[1] <= 250 ? "yes" : "no")} |"));
Console.WriteLine();
foreach (var line in clusterLines)
{
    Console.WriteLine(line);
}

void PrintHeader() =>
    Console.WriteLine($"Machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}; {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {iterations} executions per path");

void PrintRows()
{
    Console.WriteLine();
    Console.WriteLine("| path | p50 ms | p95 ms | p99 ms | p50 ratio to baseline | p50 ratio to attach floor |");
    Console.WriteLine("|---|---:|---:|---:|---:|---:|");
    foreach (var (name, ms) in rows)
    {
        var creates = name.StartsWith("docker run", StringComparison.Ordinal) || name.Contains("create", StringComparison.Ordinal);
        var baseline = creates ? rows.FirstOrDefault(r => r.Name.StartsWith("docker run", StringComparison.Ordinal)).Ms : dockerExec;
        var tierOf = name.Split(':')[0];
        var floor = rows.FirstOrDefault(r => r.Name == tierOf + ": attach-stream floor (JSON line echo)").Ms;
        var toFloor = creates || floor is null ? "" : string.Create(CultureInfo.InvariantCulture, $"{P(ms, 50) / P(floor, 50):0.0}×");
        var toBaseline = baseline is null ? "" : string.Create(CultureInfo.InvariantCulture, $"{P(ms, 50) / P(baseline, 50):0.000}×");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {P(ms, 50):0.00} | {P(ms, 95):0.00} | {P(ms, 99):0.00} | {toBaseline} | {toFloor} |"));
    }
}
