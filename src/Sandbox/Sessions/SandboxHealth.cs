using Sandbox.Backend;

namespace Sandbox.Sessions;

/// <summary>Engine health as every face reports it.</summary>
/// <param name="Engine">Container engine status.</param>
/// <param name="Images">Configured images and whether they are present.</param>
/// <param name="Sessions">Live sessions of all callers.</param>
public sealed record SandboxHealth(EngineStatus Engine, IReadOnlyList<ImageStatus> Images, int Sessions)
{
    /// <summary>True when the engine answers and every image is present.</summary>
    public bool Healthy => Engine.Reachable && Images.All(i => i.Present);

    /// <summary>What is wrong, each with what to do about it (empty when healthy).</summary>
    public IReadOnlyList<string> Problems =>
        !Engine.Reachable
            ? [$"The Docker engine does not answer ({Engine.Error}). Start it (deploy/ensure-engine.sh) or set Sandbox:DockerEndpoint."]
            : Images.Where(i => !i.Present)
                .Select(i => $"Image '{i.Reference}' (for image name '{i.Name}') is missing: build it with deploy/build-images.sh (or docker compose up), or point Sandbox:Images:{i.Name} at an image that exists.")
                .ToList();
}
