using Sandbox.Testing;

namespace Sandbox.Tests.Common;

/// <summary>An engine whose agents (Claude Code and Codex) talk to a scripted model endpoint on a network of the test's own (no
/// warm pool: agent sessions use image <c>agent</c>). Disposing removes the endpoint and the network.</summary>
public sealed class ScriptedAgentEngine : IAsyncDisposable
{
    private ScriptedAgentEngine(SandboxEngine engine, TestNetwork network, ScriptedModelEndpoint model) =>
        (Engine, Network, Model) = (engine, network, model);

    public SandboxEngine Engine { get; }

    public TestNetwork Network { get; }

    public ScriptedModelEndpoint Model { get; }

    /// <summary>With <paramref name="hang"/>, the model never answers (for time limits and cancellation).</summary>
    public static async Task<ScriptedAgentEngine> CreateAsync(EngineFixture fixture, string apiKey, IReadOnlyList<ScriptedTurn> script,
        Action<TestEngineOptions>? configure = null, bool hang = false, Microsoft.Extensions.Logging.ILoggerProvider? logs = null)
    {
        var network = await TestNetwork.CreateAsync(fixture.CreateEngine().DockerClient(), "model");
        var model = new ScriptedModelEndpoint(network.Gateway, script, hang);
        var engine = fixture.CreateEngine(o =>
        {
            o.Pool.Size = 0;
            o.Agents.ModelEndpoint = model.Url;
            o.Agents.EgressNetwork = network.Name;
            o.Agents.ApiKey = apiKey;
            o.Agents.OpenAI.ModelEndpoint = model.Url; // the scripted endpoint speaks OpenAI's Responses API too (Codex)
            o.Agents.OpenAI.ApiKey = apiKey;
            configure?.Invoke(o);
        }, logs: logs);
        return new ScriptedAgentEngine(engine, network, model);
    }

    public async ValueTask DisposeAsync()
    {
        await Model.DisposeAsync();
        await Network.DisposeAsync();
    }
}
