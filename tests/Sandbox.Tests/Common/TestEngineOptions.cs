using Microsoft.Extensions.DependencyInjection;
using Sandbox.Agents;
using Sandbox.Cluster;
using Sandbox.Durability;
using Sandbox.Egress;
using Sandbox.Execution;
using Sandbox.Files;
using Sandbox.Git;
using Sandbox.Isolation;
using Sandbox.Links;
using Sandbox.Packages;
using Sandbox.Pool;
using Sandbox.Processes;
using Sandbox.Safety;
using Sandbox.Setup;
using Sandbox.Snapshots;

namespace Sandbox.Tests.Common;

/// <summary>Every component's options side by side, so a test says what its engine differs in with one lambda
/// (<c>o =&gt; { o.Pool.Size = 0; o.Safety.Mode = SafetyMode.Off; }</c>). <see cref="EngineFixture"/> applies the lambda
/// to each component's options after binding, so every section is still validated as the server validates it.</summary>
public sealed class TestEngineOptions
{
    /// <summary>The engine's own section.</summary>
    public SandboxOptions Engine { get; private init; } = new();
    public IsolationOptions Isolation { get; private init; } = new();
    public EgressOptions Egress { get; private init; } = new();
    public ExecutionOptions Execution { get; private init; } = new();
    public SnapshotOptions Snapshots { get; private init; } = new();
    public LinkOptions Links { get; private init; } = new();
    public GitOptions Git { get; private init; } = new();
    public SetupOptions Setup { get; private init; } = new();
    public ContextOptions Context { get; private init; } = new();
    public ClusterOptions Cluster { get; private init; } = new();
    public ProcessOptions Processes { get; private init; } = new();
    public WorkspaceFileOptions Files { get; private init; } = new();
    public PoolOptions Pool { get; private init; } = new();
    public DurabilityOptions Durability { get; private init; } = new();
    public AgentOptions Agents { get; private init; } = new();
    public PackageOptions Packages { get; private init; } = new();
    public SafetyOptions Safety { get; private init; } = new();
    public Sandbox.Volumes.VolumeOptions Volumes { get; private init; } = new();
    public Sandbox.NestedDocker.NestedDockerOptions Docker { get; private init; } = new();

    /// <summary>Registers <paramref name="configure"/> for every section: each time it runs on a view whose slot for
    /// that section is the real (bound) options object and whose other slots are scratch copies.</summary>
    public static void Apply(SandboxBuilder builder, Action<TestEngineOptions> configure)
    {
        builder.Configure<SandboxOptions>(o => configure(new TestEngineOptions { Engine = o }));
        builder.Configure<IsolationOptions>(o => configure(new TestEngineOptions { Isolation = o }));
        builder.Configure<EgressOptions>(o => configure(new TestEngineOptions { Egress = o }));
        builder.Configure<ExecutionOptions>(o => configure(new TestEngineOptions { Execution = o }));
        builder.Configure<SnapshotOptions>(o => configure(new TestEngineOptions { Snapshots = o }));
        builder.Configure<LinkOptions>(o => configure(new TestEngineOptions { Links = o }));
        builder.Configure<GitOptions>(o => configure(new TestEngineOptions { Git = o }));
        builder.Configure<SetupOptions>(o => configure(new TestEngineOptions { Setup = o }));
        builder.Configure<ContextOptions>(o => configure(new TestEngineOptions { Context = o }));
        builder.Configure<ClusterOptions>(o => configure(new TestEngineOptions { Cluster = o }));
        builder.Configure<ProcessOptions>(o => configure(new TestEngineOptions { Processes = o }));
        builder.Configure<WorkspaceFileOptions>(o => configure(new TestEngineOptions { Files = o }));
        builder.Configure<PoolOptions>(o => configure(new TestEngineOptions { Pool = o }));
        builder.Configure<DurabilityOptions>(o => configure(new TestEngineOptions { Durability = o }));
        builder.Configure<AgentOptions>(o => configure(new TestEngineOptions { Agents = o }));
        builder.Configure<PackageOptions>(o => configure(new TestEngineOptions { Packages = o }));
        builder.Configure<SafetyOptions>(o => configure(new TestEngineOptions { Safety = o }));
        builder.Configure<Sandbox.Volumes.VolumeOptions>(o => configure(new TestEngineOptions { Volumes = o }));
        builder.Configure<Sandbox.NestedDocker.NestedDockerOptions>(o => configure(new TestEngineOptions { Docker = o }));
    }
}
