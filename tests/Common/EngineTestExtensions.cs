using Docker.DotNet;

using Sandbox.Docker;

namespace Sandbox;

/// <summary>Test access to the raw Docker client behind an engine (tests inspect the real containers it made).</summary>
public static class EngineTestExtensions
{
    public static IDockerClient DockerClient(this SandboxEngine engine) => ((DockerBackend)engine.Backend).Client;
}
