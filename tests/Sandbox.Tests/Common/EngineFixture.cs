using Microsoft.Extensions.Logging;
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
    private readonly List<SessionManager> _managers = [];
    private readonly List<DockerBackend> _backends = [];

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
        var images = await backend.GetImageStatusAsync(CancellationToken.None);
        var missing = images.Where(i => !i.Present).Select(i => i.Reference).ToList();
        if (missing.Count > 0)
        {
            throw new InvalidOperationException($"Images missing: {string.Join(", ", missing)}. Run deploy/build-images.sh (deploy/test.sh does).");
        }
    }

    /// <summary>A new engine with its own options; disposed (sessions closed, containers removed) with the fixture.</summary>
    public SessionManager CreateManager(Action<SandboxOptions>? configure = null, TimeProvider? time = null)
    {
        var options = new SandboxOptions { InstanceId = InstanceId };
        configure?.Invoke(options);
        var wrapped = Options.Create(options);
        var backend = new DockerBackend(wrapped, NullLogger<DockerBackend>.Instance);
        var manager = new SessionManager(backend, new DefaultSafetyPolicy(wrapped), wrapped, NullLogger<SessionManager>.Instance, time);
        lock (_managers)
        {
            _managers.Add(manager);
            _backends.Add(backend);
        }
        return manager;
    }

    public async Task DisposeAsync()
    {
        foreach (var manager in _managers)
        {
            foreach (var s in manager.ListAllSessions())
            {
                try
                {
                    await manager.CloseSessionAsync(s.Id, s.Owner, CancellationToken.None);
                }
                catch (SandboxException)
                {
                }
            }
            await manager.RemoveOrphansAsync(CancellationToken.None);
            await manager.DisposeAsync();
        }
        foreach (var b in _backends)
        {
            b.Dispose();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class EngineCollection : ICollectionFixture<EngineFixture>
{
    public const string Name = "engine";
}
