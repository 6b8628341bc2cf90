using System.ComponentModel.DataAnnotations;

namespace Sandbox.Pool;

/// <summary>Warm pool settings, bound from <c>Sandbox:Pool</c>.</summary>
public sealed class PoolOptions
{
    /// <summary>Started, paused sandboxes kept ready for sessions of the default image with the default limits
    /// (0 disables). A pooled sandbox serves one session and is destroyed with it.</summary>
    [Range(0, 100)] public int Size { get; set; } = 2;
}
