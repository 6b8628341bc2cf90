using System.ComponentModel.DataAnnotations;

namespace Sandbox.Pool;

/// <summary>Warm pool settings, bound from <c>Sandbox:Pool</c>.</summary>
public sealed class PoolOptions : ISandboxOptionsSection
{
    /// <inheritdoc />
    public static string SectionName => "Sandbox:Pool";

    /// <summary>Started sandboxes with a ready interpreter kept for sessions of the default image with the default limits
    /// (0 disables). A pooled sandbox serves one session and is destroyed with it.</summary>
    [Range(0, 100)] public int Size { get; set; } = 2;

    /// <summary>Freeze waiting sandboxes (the cgroup freezer), so nothing in them can run until a session takes one,
    /// at the cost of an unpause on every create from the pool (~20 ms in the container tier and ~40–50 ms under
    /// gVisor, measured). Off by default: a waiting runner and its interpreter sleep until their first request and use
    /// no CPU, and a create from the pool then takes under a millisecond.</summary>
    public bool Pause { get; set; }
}
