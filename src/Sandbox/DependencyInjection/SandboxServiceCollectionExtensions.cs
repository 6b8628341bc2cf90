using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Sandbox;
using Sandbox.Agents;
using Sandbox.Backend;
using Sandbox.Cluster;
using Sandbox.Docker;
using Sandbox.Durability;
using Sandbox.Egress;
using Sandbox.Execution;
using Sandbox.Files;
using Sandbox.Git;
using Sandbox.Isolation;
using Sandbox.Links;
using Sandbox.Packages;
using Sandbox.Pool;
using Sandbox.Ports;
using Sandbox.Processes;
using Sandbox.Safety;
using Sandbox.Sessions;
using Sandbox.Setup;
using Sandbox.Snapshots;
using Sandbox.Storage;
using Sandbox.Terminals;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the sandbox engine.</summary>
public static class SandboxServiceCollectionExtensions
{
    /// <summary>
    /// Adds the engine: every component's options (bound from its own section of <see cref="IConfiguration"/> when the
    /// container has one, each validated at start by its own validator), the Docker backend, the safety policy, the
    /// session core, every capability service and the background lifecycle.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <returns>A builder to configure the engine's options further.</returns>
    public static SandboxBuilder AddSandbox(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        AddOptionsSections(services);
        services.TryAddSingleton(TimeProvider.System);
        services.AddSandboxDocker();
        services.TryAddSingleton<ISafetyPolicy, DefaultSafetyPolicy>();
        services.TryAddSingleton<SessionStoreFactory>();
        services.TryAddSingleton(sp => sp.GetRequiredService<SessionStoreFactory>().Create());

        // The session core every capability shares.
        services.TryAddSingleton<SessionJournal>();
        services.TryAddSingleton<SessionRegistry>();
        services.TryAddSingleton<IsolationPolicy>();
        services.TryAddSingleton<SandboxLauncher>();
        services.TryAddSingleton<WarmPool>();
        services.TryAddSingleton<SessionCloser>();
        services.TryAddSingleton<SessionCeiling>();
        services.TryAddSingleton<SessionCreator>();
        services.TryAddSingleton<SessionService>();

        // Capabilities. Those that keep per-session state are told when a session closes.
        services.TryAddSingleton<EgressService>();
        services.AddCloseListener<EgressService>();
        services.TryAddSingleton<GitService>();
        services.TryAddSingleton<GitWorkService>();
        services.TryAddSingleton<SetupService>();
        services.TryAddSingleton<TerminalService>();
        services.TryAddSingleton<ExecutionSafety>();
        services.TryAddSingleton<ExecutionService>();
        services.AddCloseListener<ExecutionService>();
        services.TryAddSingleton<OutputLog>();
        services.TryAddSingleton<ProcessService>();
        services.TryAddSingleton<WorkspaceFileService>();
        services.TryAddSingleton<WorkspaceStreams>();
        services.TryAddSingleton<WorkspaceArchives>();
        services.TryAddSingleton<CodeSearch>();
        services.TryAddSingleton<LinkService>();
        services.TryAddSingleton<SnapshotService>();
        services.TryAddSingleton<Sandbox.Volumes.VolumeService>();
        services.TryAddSingleton<Sandbox.NestedDocker.NestedDockerService>();
        services.AddSingleton<ISessionClosingWork>(sp => sp.GetRequiredService<Sandbox.Volumes.VolumeService>());
        services.TryAddSingleton<PortService>();
        services.TryAddSingleton<PackageCatalog>();
        services.TryAddSingleton<PackagePolicy>();
        services.TryAddSingleton<PackageInstaller>();
        services.TryAddSingleton<AutoInstaller>();
        services.TryAddSingleton<AgentRunTracker>();
        services.TryAddSingleton<AgentRequestValidator>();
        services.TryAddSingleton<AgentSetup>();
        services.TryAddSingleton<SessionChanges>();
        services.TryAddSingleton<AgentJobService>();
        services.TryAddSingleton<AgentModelAccess>();
        services.TryAddSingleton<AgentRunExecutor>();
        services.TryAddSingleton<AgentRunService>();
        services.TryAddSingleton<InteractiveAgentService>();
        services.AddCloseListener<AgentRunService>();

        // Durability and the background lifecycle.
        services.TryAddSingleton<OrphanSweeper>();
        services.TryAddSingleton<SessionRecovery>();
        services.TryAddSingleton<ClusterService>();
        services.TryAddSingleton<SandboxEngine>();
        services.AddHostedService<SessionReaper>();
        // After the reaper: the first heartbeat counts the sessions it recovered.
        services.AddHostedService<ClusterHeartbeat>();
        return new SandboxBuilder(services);
    }

    /// <summary>The Docker implementation of the backend seam and of its collaborators (agent and egress networks, package
    /// fetcher, git helper). Another backend registers its own implementations of these interfaces instead.</summary>
    public static IServiceCollection AddSandboxDocker(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton<DockerBackend>();
        // One backend instance serves both its seam and the Docker collaborators that need the engine client.
        services.TryAddSingleton<ISandboxBackend>(sp => sp.GetRequiredService<DockerBackend>());
        services.TryAddSingleton<IAgentNetwork, DockerAgentNetwork>();
        services.TryAddSingleton<IEgressNetwork, DockerEgressNetwork>();
        services.TryAddSingleton<IPackageFetcher, DockerPackageFetcher>();
        services.TryAddSingleton<IGitHelper, DockerGitHelper>();
        return services;
    }

    /// <summary>Tells the singleton <typeparamref name="TService"/> when a session closes (a DI enumerable of
    /// <see cref="ISessionCloseListener"/>, as YARP's cluster-change listeners).</summary>
    public static IServiceCollection AddCloseListener<TService>(this IServiceCollection services) where TService : class, ISessionCloseListener
    {
        ArgumentNullException.ThrowIfNull(services);
        // The same instance as the capability itself, not a second one.
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ISessionCloseListener, TService>(sp => sp.GetRequiredService<TService>()));
        return services;
    }

    private static void AddOptionsSections(IServiceCollection services)
    {
        AddSection<SandboxOptions>(services);
        AddSection<IsolationOptions>(services);
        AddSection<EgressOptions>(services);
        AddSection<ExecutionOptions>(services);
        AddSection<SnapshotOptions>(services);
        AddSection<Sandbox.Volumes.VolumeOptions>(services);
        AddSection<Sandbox.NestedDocker.NestedDockerOptions>(services);
        AddSection<LinkOptions>(services);
        AddSection<GitOptions>(services);
        AddSection<SetupOptions>(services);
        AddSection<ContextOptions>(services);
        AddSection<ClusterOptions>(services);
        AddSection<ProcessOptions>(services);
        AddSection<WorkspaceFileOptions>(services);
        AddSection<PoolOptions>(services);
        AddSection<DurabilityOptions>(services);
        AddSection<AgentOptions>(services);
        AddSection<PackageOptions>(services);
        AddSection<SafetyOptions>(services);
        AddSection<Sandbox.Terminals.TerminalOptions>(services);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SandboxOptions>, MovedOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ClusterOptions>, ClusterStoreValidator>());
        // An image set to "" is not offered (configuration can add keys to the defaults but not remove them).
        services.PostConfigure<SandboxOptions>(o =>
        {
            foreach (var name in o.Images.Where(kv => string.IsNullOrWhiteSpace(kv.Value)).Select(kv => kv.Key).ToList())
            {
                o.Images.Remove(name);
            }
        });
    }

    /// <summary>One section: bound from its key when there is configuration, validated by its own validator at start.</summary>
    private static void AddSection<TOptions>(IServiceCollection services) where TOptions : class, ISandboxOptionsSection
    {
        services.AddOptions<TOptions>()
            .Configure<IServiceProvider>((options, sp) => sp.GetService<IConfiguration>()?.GetSection(TOptions.SectionName).Bind(options))
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TOptions>, SectionValidator<TOptions>>());
    }
}
