using System.Globalization;

/// <summary>Every process's CPU time, from the kernel's counters (/proc/PID/stat): snapshots, and the CPU each process
/// name used between two of them.</summary>
internal static class ProcessCpu
{
    /// <summary>Clock ticks per second (USER_HZ), the unit of /proc/stat and /proc/PID/stat on Linux.</summary>
    public const double TicksPerSecond = 100;

    /// <summary>Every process's name and CPU time so far (user and system, in ticks).</summary>
    public static Dictionary<int, (string Name, long Ticks)> Snapshot()
    {
        var result = new Dictionary<int, (string, long)>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var close = stat.LastIndexOf(')');
                var name = stat[(stat.IndexOf('(') + 1)..close];
                var fields = stat[(close + 2)..].Split(' ');
                result[pid] = (name, long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException)
            {
                // the process ended while it was read
            }
        }
        return result;
    }

    /// <summary>CPU seconds each process name used from <paramref name="before"/> to <paramref name="after"/> (a
    /// process started in between counts from zero).</summary>
    public static Dictionary<string, double> SecondsByName(Dictionary<int, (string Name, long Ticks)> before, Dictionary<int, (string Name, long Ticks)> after)
    {
        var byName = new Dictionary<string, double>();
        foreach (var (pid, (name, ticks)) in after)
        {
            var start = before.TryGetValue(pid, out var p) ? p.Ticks : 0;
            byName[name] = byName.GetValueOrDefault(name) + (ticks - start) / TicksPerSecond;
        }
        return byName;
    }
}
