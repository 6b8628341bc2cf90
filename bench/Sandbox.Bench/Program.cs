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
using Sandbox.Docker;
using Sandbox.Execution;
using Sandbox.Server.Hosting;
using Sandbox.Sessions;

var iterations = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 200;
var createIterations = Math.Max(5, iterations / 20);
const string Owner = "anonymous";
var instance = "bench-" + Guid.NewGuid().ToString("N")[..8];

await using var app = ServerProgram.BuildHttp(["--urls", "http://127.0.0.1:0", $"--Sandbox:InstanceId={instance}", "--Serilog:MinimumLevel:Default=Warning", "--Sandbox:Safety:Mode=Enforce"]);
await app.StartAsync();
var baseUri = new Uri(app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First());
var engine = app.Services.GetRequiredService<SessionManager>();
var session = await engine.CreateSessionAsync(new SessionSpec(), Owner, CancellationToken.None);
var container = DockerBackend.ContainerName(session.Id);
using var http = new HttpClient { BaseAddress = baseUri };
await using var mcp = await McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions { Endpoint = new Uri(baseUri, "/mcp"), TransportMode = HttpTransportMode.StreamableHttp }));

var request = new ExecutionRequest { Code = "print(1)" };
var rows = new List<(string Name, double[] Ms)>();

async Task<double[]> Measure(string name, Func<Task> op, int n)
{
    for (var i = 0; i < Math.Min(10, n); i++)
    {
        await op(); // warm-up
    }
    var samples = new double[n];
    for (var i = 0; i < n; i++)
    {
        var sw = Stopwatch.StartNew();
        await op();
        samples[i] = sw.Elapsed.TotalMilliseconds;
    }
    Array.Sort(samples);
    rows.Add((name, samples));
    Console.Error.WriteLine($"  {name}: p50 {P(samples, 50):0.00} ms");
    return samples;
}

static double P(double[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p / 100 * sorted.Length) - 1)];

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
var engineRuns = await Measure("engine execute (in-process)", async () =>
{
    var r = await engine.ExecuteAsync(session.Id, Owner, request, CancellationToken.None);
    if (r.Stdout != "1\n") throw new InvalidOperationException(r.Stderr);
}, iterations);
var restRuns = await Measure("REST POST /execute", async () =>
{
    using var r = await http.PostAsJsonAsync($"/api/sessions/{session.Id}/execute", new { code = "print(1)" });
    r.EnsureSuccessStatusCode();
}, iterations);
var mcpRuns = await Measure("MCP execute_code", async () =>
{
    var r = await mcp.CallToolAsync("execute_code", new Dictionary<string, object?> { ["session_id"] = session.Id, ["code"] = "print(1)" });
    if (r.IsError == true) throw new InvalidOperationException("tool error");
}, iterations);

var dockerRun = await Measure("docker run --rm python3 -c 'print(1)' (baseline)", () => Run("docker", "run", "--rm", "--network", "none", "sandbox-python:latest", "python3", "-c", "print(1)"), createIterations);
var creates = await Measure("create_session (no pool) + close", async () =>
{
    var s = await engine.CreateSessionAsync(new SessionSpec(), Owner, CancellationToken.None);
    await engine.CloseSessionAsync(s.Id, Owner, CancellationToken.None);
}, createIterations);
await engine.CloseSessionAsync(session.Id, Owner, CancellationToken.None);

Console.WriteLine($"Machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}; {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {iterations} executions per path");
Console.WriteLine();
Console.WriteLine("| path | p50 ms | p95 ms | p99 ms | p50 ratio to baseline |");
Console.WriteLine("|---|---:|---:|---:|---:|");
foreach (var (name, ms) in rows)
{
    var baseline = name.StartsWith("docker run", StringComparison.Ordinal) || name.StartsWith("create_session", StringComparison.Ordinal) ? dockerRun : dockerExec;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {P(ms, 50):0.00} | {P(ms, 95):0.00} | {P(ms, 99):0.00} | {P(ms, 50) / P(baseline, 50):0.000}× |"));
}
await app.StopAsync();
