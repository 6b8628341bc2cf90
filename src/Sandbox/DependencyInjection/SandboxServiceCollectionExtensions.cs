using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Sandbox.Agents;
using Sandbox.Backend;
using Sandbox.Durability;
using Sandbox.Egress;
using Sandbox.Execution;
using Sandbox.Files;
using Sandbox.Isolation;
using Sandbox.Packages;
using Sandbox.Pool;
using Microsoft.Extensions.Options;
using Sandbox;
using Sandbox.Docker;
using Sandbox.Safety;
using Sandbox.Sessions;
using Sandbox.Storage;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the sandbox engine.</summary>
public static class SandboxServiceCollectionExtensions
{
    /// <summary>Adds the engine (Docker backend, safety policy, the session core, every capability service, the reaper)
    /// with validated options.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Optional extra configuration applied after binding.</param>
    public static OptionsBuilder<SandboxOptions> AddSandbox(this IServiceCollection services, Action<SandboxOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var builder = services.AddOptions<SandboxOptions>().ValidateDataAnnotations().ValidateOnStart();
        if (configure is not null)
        {
            builder.Configure(configure);
        }
        // An image set to "" is not offered (configuration can add keys to the defaults but not remove them).
        services.PostConfigure<SandboxOptions>(o =>
        {
            foreach (var name in o.Images.Where(kv => string.IsNullOrWhiteSpace(kv.Value)).Select(kv => kv.Key).ToList())
            {
                o.Images.Remove(name);
            }
        });
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SandboxOptions>, SandboxOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SandboxOptions>, MovedOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.AddSandboxDocker();
        services.TryAddSingleton<ISafetyPolicy, DefaultSafetyPolicy>();
        services.TryAddSingleton<ISessionStore>(sp => sp.GetRequiredService<IOptions<SandboxOptions>>().Value switch
        {
            { Durability.Store: StoreKind.Memory } o => new InMemorySessionStore(o.InstanceId),
            { Durability.Store: StoreKind.Postgres } => ActivatorUtilities.CreateInstance<PostgresSessionStore>(sp),
            _ => ActivatorUtilities.CreateInstance<SqliteSessionStore>(sp),
        });

        // The session core every capability shares.
        services.TryAddSingleton<SessionJournal>();
        services.TryAddSingleton<SessionRegistry>();
        services.TryAddSingleton<IsolationPolicy>();
        services.TryAddSingleton<SandboxLauncher>();
        services.TryAddSingleton<WarmPool>();
        services.TryAddSingleton(sp => new SessionService(sp.GetRequiredService<SessionRegistry>(), sp.GetRequiredService<SandboxLauncher>(),
            sp.GetRequiredService<WarmPool>(), sp.GetRequiredService<IsolationPolicy>(), sp.GetRequiredService<ISandboxBackend>(), sp.GetRequiredService<SessionJournal>(),
            sp.GetRequiredService<EgressService>(), sp.GetRequiredService<Sandbox.Snapshots.SnapshotService>(), sp.GetRequiredService<Sandbox.Git.GitService>(),
            sp.GetRequiredService<Sandbox.Setup.SetupService>(), [sp.GetRequiredService<ExecutionService>(), sp.GetRequiredService<AgentRunService>(), sp.GetRequiredService<EgressService>()], sp.GetRequiredService<IOptions<SandboxOptions>>(), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<SessionService>>()));

        // Capabilities.
        services.TryAddSingleton(sp => new EgressService(sp.GetRequiredService<SessionRegistry>(), sp.GetRequiredService<IEgressNetwork>(),
            sp.GetRequiredService<IAgentNetwork>(), sp.GetRequiredService<SessionJournal>(), sp.GetRequiredService<IOptions<SandboxOptions>>(),
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<EgressService>>()));
        services.TryAddSingleton(sp => new Sandbox.Git.GitService(sp.GetRequiredService<SessionRegistry>(), sp.GetRequiredService<Sandbox.Git.IGitHelper>(),
            sp.GetRequiredService<SessionJournal>(), sp.GetRequiredService<IOptions<SandboxOptions>>(), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<Sandbox.Git.GitService>>()));
        services.TryAddSingleton<Sandbox.Setup.SetupService>();
        services.TryAddSingleton<Sandbox.Terminals.TerminalService>();
        services.TryAddSingleton<ExecutionSafety>();
        services.TryAddSingleton<ExecutionService>();
        services.TryAddSingleton<OutputLog>();
        services.TryAddSingleton(sp => new Sandbox.Processes.ProcessService(sp.GetRequiredService<SessionRegistry>(), sp.GetRequiredService<ExecutionSafety>(),
            sp.GetRequiredService<SessionJournal>(), sp.GetRequiredService<IOptions<SandboxOptions>>(), sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton<WorkspaceFileService>();
        services.TryAddSingleton<WorkspaceStreams>();
        services.TryAddSingleton<Sandbox.Links.LinkService>();
        services.TryAddSingleton<Sandbox.Snapshots.SnapshotService>();
        services.TryAddSingleton(sp => new Sandbox.Ports.PortService(sp.GetRequiredService<SessionRegistry>(), sp.GetRequiredService<ISandboxBackend>(),
            sp.GetRequiredService<SessionJournal>()));
        services.TryAddSingleton<PackageCatalog>();
        services.TryAddSingleton<PackagePolicy>();
        services.TryAddSingleton<PackageInstaller>();
        services.TryAddSingleton(sp => ActivatorUtilities.CreateInstance<AgentRunTracker>(sp));
        services.TryAddSingleton(sp => ActivatorUtilities.CreateInstance<AgentRequestValidator>(sp));
        services.TryAddSingleton(sp => ActivatorUtilities.CreateInstance<AgentRunExecutor>(sp));
        services.TryAddSingleton(sp => new AgentRunService(sp.GetRequiredService<SessionRegistry>(), sp.GetRequiredService<AgentRunTracker>(),
            sp.GetRequiredService<AgentRunExecutor>(), sp.GetRequiredService<AgentRequestValidator>(), sp.GetRequiredService<IAgentNetwork>(),
            sp.GetRequiredService<SessionJournal>(), sp.GetRequiredService<IOptions<SandboxOptions>>(), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<AgentRunService>>()));

        // Durability and the background lifecycle.
        services.TryAddSingleton(sp => new OrphanSweeper(sp.GetRequiredService<ISandboxBackend>(), sp.GetRequiredService<IAgentNetwork>(), sp.GetRequiredService<IEgressNetwork>(),
            sp.GetRequiredService<SessionRegistry>(), sp.GetRequiredService<WarmPool>(), sp.GetRequiredService<AgentRunTracker>(),
            sp.GetRequiredService<IOptions<SandboxOptions>>(), sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton(sp => new SessionRecovery(sp.GetRequiredService<SessionRegistry>(), sp.GetRequiredService<SessionService>(),
            sp.GetRequiredService<AgentRunService>(), sp.GetRequiredService<EgressService>(), sp.GetRequiredService<ExecutionService>(), sp.GetRequiredService<WarmPool>(), sp.GetRequiredService<OrphanSweeper>(),
            sp.GetRequiredService<ISandboxBackend>(), sp.GetRequiredService<SessionJournal>(), sp.GetRequiredService<IOptions<SandboxOptions>>(),
            sp.GetRequiredService<ILogger<SessionRecovery>>()));
        services.TryAddSingleton(sp => new Sandbox.Cluster.ClusterService(sp.GetRequiredService<SessionRegistry>(), sp.GetRequiredService<ISessionStore>(),
            sp.GetRequiredService<ISandboxBackend>(), sp.GetRequiredService<IOptions<SandboxOptions>>(), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<Sandbox.Cluster.ClusterService>>()));
        services.TryAddSingleton<SandboxEngine>();
        services.AddHostedService<SessionReaper>();
        // After the reaper: the first heartbeat counts the sessions it recovered.
        services.AddHostedService<Sandbox.Cluster.ClusterHeartbeat>();
        return builder;
    }

    /// <summary>The Docker implementation of the backend seam and of its collaborators (agent and egress networks, package
    /// fetcher). Another backend registers its own implementations of these four interfaces instead.</summary>
    public static IServiceCollection AddSandboxDocker(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton<DockerBackend>();
        services.TryAddSingleton<ISandboxBackend>(sp => sp.GetRequiredService<DockerBackend>());
        services.TryAddSingleton<IAgentNetwork, DockerAgentNetwork>();
        services.TryAddSingleton<IEgressNetwork>(sp => ActivatorUtilities.CreateInstance<DockerEgressNetwork>(sp));
        services.TryAddSingleton<IPackageFetcher, DockerPackageFetcher>();
        services.TryAddSingleton<Sandbox.Git.IGitHelper>(sp => ActivatorUtilities.CreateInstance<DockerGitHelper>(sp));
        return services;
    }
}

/// <summary>Validates the nested limits and agent settings, which data annotations on the options object do not reach.</summary>
internal sealed class SandboxOptionsValidator : IValidateOptions<SandboxOptions>
{
    public ValidateOptionsResult Validate(string? name, SandboxOptions options)
    {
        var errors = new List<string>();
        foreach (var (label, limits) in new object[][] { ["DefaultLimits", options.DefaultLimits], ["MaxLimits", options.MaxLimits], ["Agents", options.Agents], ["Packages", options.Packages],
                     ["Isolation", options.Isolation], ["Execution", options.Execution], ["Files", options.Files], ["Pool", options.Pool], ["Durability", options.Durability], ["Egress", options.Egress], ["Processes", options.Processes], ["Links", options.Links], ["Snapshots", options.Snapshots], ["Git", options.Git], ["Setup", options.Setup], ["Context", options.Context], ["Cluster", options.Cluster] }
                     .Select(pair => ((string)pair[0], pair[1])))
        {
            var results = new List<System.ComponentModel.DataAnnotations.ValidationResult>();
            if (!System.ComponentModel.DataAnnotations.Validator.TryValidateObject(limits, new(limits), results, true))
            {
                errors.AddRange(results.Select(r => $"{label}: {r.ErrorMessage}"));
            }
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
