namespace Microsoft.Extensions.DependencyInjection;

/// <summary>What <see cref="SandboxServiceCollectionExtensions.AddSandbox"/> returns: configures the engine's options
/// after they are bound from configuration.</summary>
/// <param name="services">The service collection the engine was added to.</param>
public sealed class SandboxBuilder(IServiceCollection services)
{
    /// <summary>The service collection.</summary>
    public IServiceCollection Services { get; } = services;

    /// <summary>Changes one component's options (e.g. <c>Configure&lt;PoolOptions&gt;(o =&gt; o.Size = 0)</c>); runs after binding.</summary>
    /// <typeparam name="TOptions">The component's options type.</typeparam>
    /// <param name="configure">The change.</param>
    public SandboxBuilder Configure<TOptions>(Action<TOptions> configure) where TOptions : class, Sandbox.ISandboxOptionsSection
    {
        ArgumentNullException.ThrowIfNull(configure);
        Services.Configure(configure);
        return this;
    }
}
