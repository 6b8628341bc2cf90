using Sandbox.Durability;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Sandbox;
using Sandbox.Docker;
using Sandbox.Safety;
using Sandbox.Sessions;

namespace Sandbox.Tests.Common;

/// <summary>A real engine for the tests. If no Docker engine answers, every test using it fails loudly (never skips).</summary>
public sealed class EngineFixture : IAsyncLifetime
{
    private readonly List<IServiceProvider> _providers = [];
    /// <summary>A data directory of this run (snapshots, link key).</summary>
    public string DataDirectory { get; } = Directory.CreateTempSubdirectory("sandbox-engine-test-").FullName;


    public string InstanceId { get; } = "test-" + Guid.NewGuid().ToString("N")[..12];

    public async Task InitializeAsync()
    {
        using var backend = new DockerBackend(Options.Create(new SandboxOptions()), NullLogger<DockerBackend>.Instance);
        var status = await backend.GetEngineStatusAsync(CancellationToken.None);
        if (!status.Reachable)
        {
            throw new InvalidOperationException(
                $"No Docker engine answers at {DockerBackend.ResolveEndpoint(null)} ({status.Error}). These tests need a real engine: run deploy/test.sh, which starts one.");
        }
        var runtimes = await backend.GetRuntimesAsync(CancellationToken.None);
        if (!runtimes.Contains("runsc"))
        {
            throw new InvalidOperationException(
                "The engine has no gVisor runtime 'runsc': the tests check both isolation tiers. Run deploy/ensure-engine.sh as root (deploy/test.sh does).");
        }
        var images = await backend.GetImageStatusAsync(CancellationToken.None);
        var missing = images.Where(i => !i.Present).Select(i => i.Reference).ToList();
        if (missing.Count > 0)
        {
            throw new InvalidOperationException($"Images missing: {string.Join(", ", missing)}. Run deploy/build-images.sh (deploy/test.sh does).");
        }
    }

    /// <summary>A new engine with its own options (the in-memory store unless <paramref name="configure"/> says
    /// otherwise), built as the server builds it; disposed (sessions closed, containers removed) with the fixture.</summary>
    public SandboxEngine CreateEngine(Action<TestEngineOptions>? configure = null, TimeProvider? time = null, Microsoft.Extensions.Logging.ILoggerProvider? logs = null)
    {
        var services = new ServiceCollection();
        services.AddLogging(b =>
        {
            if (logs is not null)
            {
                b.Services.AddSingleton(logs);
                b.Services.Configure<Microsoft.Extensions.Logging.LoggerFilterOptions>(f => f.MinLevel = Microsoft.Extensions.Logging.LogLevel.Trace);
            }
        });
        if (time is not null)
        {
            services.AddSingleton(time);
        }
        TestEngineOptions.Apply(services.AddSandbox(), o =>
        {
            o.Engine.InstanceId = InstanceId;
            o.Durability.Store = StoreKind.Memory;
            o.Durability.DataDirectory = DataDirectory; // snapshots and the link key of test engines
            configure?.Invoke(o);
        });
        var provider = services.BuildServiceProvider();
        lock (_providers)
        {
            _providers.Add(provider);
        }
        return provider.GetRequiredService<SandboxEngine>();
    }

    public async Task DisposeAsync()
    {
        foreach (var provider in _providers)
        {
            var engine = provider.GetRequiredService<SandboxEngine>();
            foreach (var s in engine.Sessions.ListAll())
            {
                try
                {
                    await engine.Sessions.CloseAsync(s.Id, s.Owner, CancellationToken.None);
                }
                catch (SandboxException)
                {
                }
            }
            await engine.Orphans.SweepAsync(CancellationToken.None);
            await ((IAsyncDisposable)provider).DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class EngineCollection : ICollectionFixture<EngineFixture>
{
    public const string Name = "engine";
}
