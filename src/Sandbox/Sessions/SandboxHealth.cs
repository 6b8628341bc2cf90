using Sandbox.Docker;

namespace Sandbox.Sessions;

/// <summary>Engine health as every face reports it.</summary>
/// <param name="Engine">Container engine status.</param>
/// <param name="Images">Configured images and whether they are present.</param>
/// <param name="Sessions">Live sessions of all callers.</param>
public sealed record SandboxHealth(EngineStatus Engine, IReadOnlyList<ImageStatus> Images, int Sessions)
{
    /// <summary>True when the engine answers and every image is present.</summary>
    public bool Healthy => Engine.Reachable && Images.All(i => i.Present);
}
