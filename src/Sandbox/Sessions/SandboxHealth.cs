using Sandbox.Backend;
using Sandbox.Isolation;

namespace Sandbox.Sessions;

/// <summary>Engine health as every face reports it.</summary>
/// <param name="Engine">Container engine status.</param>
/// <param name="Images">Configured images and whether they are present.</param>
/// <param name="Sessions">Live sessions of all callers.</param>
/// <param name="Isolation">The isolation tiers the engine can run and the default in force.</param>
public sealed record SandboxHealth(EngineStatus Engine, IReadOnlyList<ImageStatus> Images, int Sessions, IsolationStatus Isolation)
{
    /// <summary>True when the engine answers, every image is present, and the default isolation can be had (or may
    /// fall back).</summary>
    public bool Healthy => Engine.Reachable && Images.All(i => i.Present) && !(Isolation.Required && Isolation.Problem is not null);

    /// <summary>What is wrong, each with what to do about it (empty when healthy).</summary>
    public IReadOnlyList<string> Problems =>
        !Engine.Reachable
            ? [$"The Docker engine does not answer ({Engine.Error}). Start it (deploy/ensure-engine.sh) or set Sandbox:DockerEndpoint."]
            : Images.Where(i => !i.Present)
                .Select(i => $"Image '{i.Reference}' (for image name '{i.Name}') is missing: build it with deploy/build-images.sh (or docker compose up), or point Sandbox:Images:{i.Name} at an image that exists.")
                .Concat(Isolation.Required && Isolation.Problem is { } p ? [p] : [])
                .ToList();
}
