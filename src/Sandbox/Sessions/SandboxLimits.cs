using System.ComponentModel.DataAnnotations;

namespace Sandbox.Sessions;

/// <summary>Resource limits of one session's container. Every value is an upper bound enforced by the kernel.</summary>
public sealed record SandboxLimits
{
    /// <summary>Memory in MiB; swap is set equal, so there is no swap.</summary>
    [Range(32, 65536)] public int MemoryMb { get; init; } = 512;

    /// <summary>CPU cores (fractions allowed).</summary>
    [Range(0.05, 64)] public double Cpus { get; init; } = 1;

    /// <summary>Maximum number of processes and threads in the container.</summary>
    [Range(8, 32768)] public int Pids { get; init; } = 128;

    /// <summary>Open files per process (ulimit nofile).</summary>
    [Range(64, 1048576)] public int NoFile { get; init; } = 1024;

    /// <summary>Largest single file a process may write, in MiB (ulimit fsize).</summary>
    [Range(1, 65536)] public int FileSizeMb { get; init; } = 256;

    /// <summary>Size of the writable <c>/workspace</c> (memory-backed, bounded) in MiB.</summary>
    [Range(1, 65536)] public int WorkspaceMb { get; init; } = 256;

    /// <summary>Size of the writable <c>/tmp</c> in MiB.</summary>
    [Range(1, 65536)] public int TmpMb { get; init; } = 64;

    /// <summary>Returns the names and values of every limit for messages and results.</summary>
    public IEnumerable<(string Name, double Value)> Items()
    {
        yield return ("memory_mb", MemoryMb);
        yield return ("cpus", Cpus);
        yield return ("pids", Pids);
        yield return ("nofile", NoFile);
        yield return ("file_size_mb", FileSizeMb);
        yield return ("workspace_mb", WorkspaceMb);
        yield return ("tmp_mb", TmpMb);
    }
}

/// <summary>Limits a request asks for; unset values take the server defaults. None may exceed the server maxima.</summary>
public sealed record LimitsRequest
{
    /// <summary>Memory in MiB.</summary>
    public int? MemoryMb { get; init; }
    /// <summary>CPU cores.</summary>
    public double? Cpus { get; init; }
    /// <summary>Maximum processes.</summary>
    public int? Pids { get; init; }
    /// <summary>Open files per process.</summary>
    public int? NoFile { get; init; }
    /// <summary>Largest file in MiB.</summary>
    public int? FileSizeMb { get; init; }
    /// <summary>Workspace size in MiB.</summary>
    public int? WorkspaceMb { get; init; }
    /// <summary>/tmp size in MiB.</summary>
    public int? TmpMb { get; init; }

    /// <summary>Applies this request over <paramref name="defaults"/> and checks the result against <paramref name="maxima"/>.</summary>
    /// <param name="defaults">The limits of what the request leaves unset.</param>
    /// <param name="maxima">The highest limits.</param>
    /// <param name="reason">Why memory and cores have the maxima they have, added to a refusal of either (the machine's figures).</param>
    /// <exception cref="SandboxException"><c>limit_exceeded</c> naming the first limit above its maximum, or
    /// <c>invalid_argument</c> for a non-positive value.</exception>
    public SandboxLimits Resolve(SandboxLimits defaults, SandboxLimits maxima, string? reason = null)
    {
        ArgumentNullException.ThrowIfNull(defaults);
        ArgumentNullException.ThrowIfNull(maxima);
        var effective = new SandboxLimits
        {
            MemoryMb = MemoryMb ?? Math.Min(defaults.MemoryMb, maxima.MemoryMb),
            Cpus = Cpus ?? Math.Min(defaults.Cpus, maxima.Cpus),
            Pids = Pids ?? Math.Min(defaults.Pids, maxima.Pids),
            NoFile = NoFile ?? Math.Min(defaults.NoFile, maxima.NoFile),
            FileSizeMb = FileSizeMb ?? Math.Min(defaults.FileSizeMb, maxima.FileSizeMb),
            WorkspaceMb = WorkspaceMb ?? Math.Min(defaults.WorkspaceMb, maxima.WorkspaceMb),
            TmpMb = TmpMb ?? Math.Min(defaults.TmpMb, maxima.TmpMb),
        };
        var minima = new Dictionary<string, double>
        {
            ["memory_mb"] = 32, ["cpus"] = 0.05, ["pids"] = 8, ["nofile"] = 64,
            ["file_size_mb"] = 1, ["workspace_mb"] = 1, ["tmp_mb"] = 1,
        };
        foreach (var ((name, value), (_, max)) in effective.Items().Zip(maxima.Items()))
        {
            if (value > max)
            {
                var why = reason is not null && name is "memory_mb" or "cpus" ? $" ({reason})" : "";
                throw new SandboxException(SandboxErrorCodes.LimitExceeded,
                    $"Requested {name}={value} is above the server maximum of {max}{why}. Ask for {max} or less.");
            }
            if (value < minima[name])
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                    $"Requested {name}={value} is below the minimum of {minima[name]}.");
            }
        }
        return effective;
    }
}
