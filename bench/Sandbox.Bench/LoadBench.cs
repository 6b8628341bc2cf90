using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using Sandbox.Isolation;

/// <summary>The load of one tier: 50 sessions, 100 executions each (5,000), from 20 concurrent REST clients; zero
/// errors expected. Each call's Server-Timing stages are kept, so the slowest calls say where their time went.</summary>
internal static class LoadBench
{
    /// <summary>One call: its round trip and the server's stages (check, run in the sandbox, engine).</summary>
    public sealed record Call(double Ms, double Check, double Run, double Engine);

    /// <summary>A tier's load: calls sorted by round trip, errors, seconds, and the host's MemAvailable (MB) before,
    /// with the sessions, and after.</summary>
    public sealed record Result(string Tier, Call[] Calls, int Errors, double Seconds, long Before, long During, long After, Dictionary<string, double> CpuMsPerCall)
    {
        /// <summary>Round trips in ms, sorted.</summary>
        public double[] Ms => [.. Calls.Select(c => c.Ms)];
    }

    /// <summary>Runs the load against the server at <paramref name="baseUri"/> in one tier.</summary>
    public static async Task<Result> RunAsync(Uri baseUri, IsolationTier tier)
    {
        using var http = new HttpClient { BaseAddress = baseUri };
        var before = MemAvailableMb();
        var sessions = new List<string>();
        for (var i = 0; i < 50; i++)
        {
            using var r = await http.PostAsJsonAsync("/api/sessions", new { isolation = IsolationPolicy.Name(tier), limits = new { memory_mb = 128 } });
            r.EnsureSuccessStatusCode();
            sessions.Add((await r.Content.ReadFromJsonAsync<Sandbox.Client.Contracts.SessionDto>(Sandbox.Client.Contracts.SandboxJson.Options))!.Id);
        }
        var calls = new ConcurrentBag<Call>();
        var errors = 0;
        var ticks = ProcessCpu.Snapshot();
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, 20).Select(client => Task.Run(async () =>
        {
            using var c = new HttpClient { BaseAddress = baseUri };
            var mine = sessions.Where((_, i) => i % 20 == client).ToList();
            for (var round = 0; round < 100; round++)
            {
                foreach (var id in mine)
                {
                    var sw = Stopwatch.StartNew();
                    using var r = await c.PostAsJsonAsync($"/api/sessions/{id}/execute", new { code = $"v = {round}\nprint(v * 2)" });
                    var body = await r.Content.ReadAsStringAsync();
                    var ms = sw.Elapsed.TotalMilliseconds;
                    var (check, run, engine) = Timing.ServerTiming(r);
                    calls.Add(new Call(ms, check, run, engine));
                    if (!r.IsSuccessStatusCode || !body.Contains($"\"stdout\":\"{round * 2}\\n\"", StringComparison.Ordinal))
                    {
                        Interlocked.Increment(ref errors);
                    }
                }
            }
        })));
        var seconds = watch.Elapsed.TotalSeconds;
        var cpu = ProcessCpu.SecondsByName(ticks, ProcessCpu.Snapshot()).ToDictionary(p => p.Key, p => p.Value * 1000 / calls.Count);
        var during = MemAvailableMb();
        foreach (var id in sessions)
        {
            using var r = await http.DeleteAsync($"/api/sessions/{id}");
        }
        return new Result(IsolationPolicy.Name(tier), [.. calls.OrderBy(c => c.Ms)], errors, seconds, before, during, MemAvailableMb(), cpu);
    }

    /// <summary>The loads' table, and where the slowest 1 % of each tier's calls spent their time.</summary>
    public static void Print(IEnumerable<Result> loads)
    {
        Console.WriteLine("Load: 50 sessions, 100 executions each (a different line each time), from 20 concurrent REST clients (keep-alive):");
        Console.WriteLine();
        Console.WriteLine("| tier | executions | seconds | errors | p50 ms | p95 ms | p99 ms | p99 / p50 | host MemAvailable MB before / with 50 sessions / after |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var l in loads)
        {
            var ms = l.Ms;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {l.Tier} | {ms.Length} | {l.Seconds:0.0} | {l.Errors} | {Timing.P(ms, 50):0.00} | {Timing.P(ms, 95):0.00} | {Timing.P(ms, 99):0.00} | {Timing.P(ms, 99) / Timing.P(ms, 50):0.0}× | {l.Before} / {l.During} / {l.After} |"));
        }
        Console.WriteLine();
        Console.WriteLine("Where the load's calls spent their time (means over each group; from Server-Timing):");
        Console.WriteLine();
        Console.WriteLine("| tier | calls | round trip ms | the engine's own (scheduling, handles) ms | safety check ms | run in the sandbox ms | HTTP, JSON and the rest ms |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|---:|");
        foreach (var l in loads)
        {
            var n = l.Calls.Length;
            foreach (var (what, group) in new[] { ("p45-p55", l.Calls[(n * 45 / 100)..(n * 55 / 100)]), ("slowest 1 %", l.Calls[(n * 99 / 100)..]) })
            {
                double Mean(Func<Call, double> f) => group.Length == 0 ? 0 : group.Average(f);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {l.Tier} | {what} | {Mean(c => c.Ms):0.0} | {Mean(c => c.Engine - c.Check - c.Run):0.0} | {Mean(c => c.Check):0.0} | {Mean(c => c.Run):0.0} | {Mean(c => c.Ms - c.Engine):0.0} |"));
            }
        }
    }

    /// <summary>The CPU each call cost, by process.</summary>
    public static void PrintCpu(IEnumerable<Result> loads)
    {
        Console.WriteLine("CPU per execution during the load, by process (ms; all processes of the host, by name):");
        Console.WriteLine();
        foreach (var l in loads)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"- {l.Tier}: {l.CpuMsPerCall.Values.Sum():0.00} in all; ") +
                string.Join(", ", l.CpuMsPerCall.OrderByDescending(p => p.Value).Take(8).Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Key} {p.Value:0.00}"))));
        }
    }

    private static long MemAvailableMb() =>
        long.Parse(File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemAvailable:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
}
