using Microsoft.Extensions.DependencyInjection;

namespace Sandbox.Unit.Tests.DependencyInjection;

/// <summary>The engine is composed by the container alone: every service it registers can be built from the others
/// (one public constructor each, every parameter registered), checked without starting anything.</summary>
public sealed class CompositionTests
{
    [Fact]
    public async Task Every_registered_service_can_be_built_by_the_container()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSandbox().Configure<Sandbox.Durability.DurabilityOptions>(o => o.Store = Sandbox.Durability.StoreKind.Memory);
        await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
        Assert.NotNull(provider.GetRequiredService<SandboxEngine>());
    }

    [Fact]
    public async Task Close_listeners_are_the_capability_singletons_themselves()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSandbox().Configure<Sandbox.Durability.DurabilityOptions>(o => o.Store = Sandbox.Durability.StoreKind.Memory);
        await using var provider = services.BuildServiceProvider();
        var listeners = provider.GetServices<Sandbox.Sessions.ISessionCloseListener>().ToList();
        Assert.Equal(3, listeners.Count);
        Assert.Contains(provider.GetRequiredService<Sandbox.Egress.EgressService>(), listeners);
        Assert.Contains(provider.GetRequiredService<Sandbox.Execution.ExecutionService>(), listeners);
        Assert.Contains(provider.GetRequiredService<Sandbox.Agents.AgentRunService>(), listeners);
    }
}
