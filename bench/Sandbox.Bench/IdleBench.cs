using System.Diagnostics;
using System.Globalization;
using Sandbox;
using Sandbox.Execution;
using Sandbox.Isolation;
using Sandbox.Sessions;

/// <summary>What idle gVisor sessions cost the host: its CPU over a window with the warm pool alone (the baseline, in
/// the same run), then with many idle sessions beside it, running and paused; with the processes that used it.</summary>
internal static class IdleBench
{

    /// <summary>Measures and prints a markdown table.</summary>
    public static async Task RunAsync(SandboxEngine engine, string owner, int count, TimeSpan window)
    {
        Console.Error.WriteLine($"Idle cost: the warm pool alone, then {count} idle gVisor sessions, {window.TotalSeconds:0} s each...");
        await Task.Delay(TimeSpan.FromSeconds(20)); // the warm pool fills
        var rows = new List<(string What, Sample Sample)> { ("warm pool alone (baseline)", await SampleAsync(window)) };
        var ids = new List<string>();
        try
        {
            for (var i = 0; i < count; i++)
            {
                var s = await engine.Sessions.CreateAsync(new SessionSpec { Isolation = IsolationTier.Gvisor }, owner, CancellationToken.None);
                ids.Add(s.Id);
                var r = await engine.Executions.ExecuteAsync(s.Id, owner, new ExecutionRequest { Code = "print(1)" }, CancellationToken.None);
                if (r.Stdout != "1\n")
                {
                    throw new InvalidOperationException($"session {s.Id}: {r.Stdout}{r.Stderr}");
                }
            }
            await Task.Delay(TimeSpan.FromSeconds(15)); // creation's after-effects settle
            rows.Add(($"{count} idle sessions (each ran print(1)) + warm pool", await SampleAsync(window)));
            var pause = Stopwatch.StartNew();
            foreach (var id in ids)
            {
                await engine.Sessions.PauseAsync(id, owner, CancellationToken.None);
            }
            var pauseMs = pause.Elapsed.TotalMilliseconds / ids.Count;
            await Task.Delay(TimeSpan.FromSeconds(5));
            rows.Add(($"the same {count}, paused + warm pool", await SampleAsync(window)));
            var resume = Stopwatch.StartNew();
            foreach (var id in ids)
            {
                var r = await engine.Executions.ExecuteAsync(id, owner, new ExecutionRequest { Code = "print(1)" }, CancellationToken.None);
                if (r.Stdout != "1\n")
                {
                    throw new InvalidOperationException($"session {id} after pause: {r.Stdout}{r.Stderr}");
                }
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Pause: {pauseMs:0} ms per session; the first print(1) after it (unpause included): {resume.Elapsed.TotalMilliseconds / ids.Count:0} ms per session."));
        }
        finally
        {
            foreach (var id in ids)
            {
                await engine.Sessions.CloseAsync(id, owner, CancellationToken.None);
            }
        }

        var baseline = rows[0].Sample;
        Console.WriteLine();
        Console.WriteLine($"| state ({window.TotalSeconds:0} s each) | host CPU, % of one core | the stack's processes | the stack's, per session above the baseline | busiest processes (% of one core) |");
        Console.WriteLine("|---|---:|---:|---:|---|");
        foreach (var (what, sample) in rows)
        {
            var per = ReferenceEquals(sample, baseline) ? "" : string.Create(CultureInfo.InvariantCulture, $"{(sample.Stack - baseline.Stack) / count:0.000} %");
            var busiest = string.Join(", ", sample.ByProcess.OrderByDescending(p => p.Value).Take(6)
                .Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Key} {p.Value:0.00}")));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {what} | {sample.CorePercent:0.00} | {sample.Stack:0.00} | {per} | {busiest} |"));
        }
        Console.WriteLine();
        Console.WriteLine("The stack's processes: gVisor's (runsc's sentry and gofer, shown as exe), the containerd shims, containerd, dockerd and");
        Console.WriteLine("this process (the server). The rest of the host's CPU is the machine's own (its init and agents, the kernel's threads).");
    }

    private static readonly string[] StackProcesses = ["exe", "runsc", "runsc-sandbox", "runsc-gofer", "containerd-shim", "containerd", "dockerd", "Sandbox.Bench"];

    private sealed record Sample(double CorePercent, Dictionary<string, double> ByProcess)
    {
        /// <summary>The share of the product's stack: gVisor, the container engine and the server.</summary>
        public double Stack => ByProcess.Where(p => StackProcesses.Contains(p.Key)).Sum(p => p.Value);
    }

    private static async Task<Sample> SampleAsync(TimeSpan window)
    {
        var (busy0, procs0) = (HostBusyTicks(), ProcessCpu.Snapshot());
        var clock = Stopwatch.StartNew();
        await Task.Delay(window);
        var (busy1, procs1) = (HostBusyTicks(), ProcessCpu.Snapshot());
        var seconds = clock.Elapsed.TotalSeconds;
        var byName = ProcessCpu.SecondsByName(procs0, procs1).ToDictionary(p => p.Key, p => p.Value / seconds * 100);
        return new Sample((busy1 - busy0) / ProcessCpu.TicksPerSecond / seconds * 100, byName);
    }

    /// <summary>The host's busy time so far: all of /proc/stat's first line but idle, iowait and steal.</summary>
    private static long HostBusyTicks()
    {
        var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();
        return fields.Sum() - fields[3] - fields[4] - fields[7] - (fields.Length > 9 ? fields[8] + fields[9] : 0); // guest time is in user already
    }
}
