using Sandbox.Runner;
using Sandbox.Sessions;

namespace Sandbox.Backend;

/// <summary>
/// The seam between the engine's services and a container engine: everything a session needs from its sandbox
/// (lifecycle with limits and a runtime, the runner's stream, the archive API, pause and resume). Services use only
/// this interface and see only <see cref="SandboxException"/>s; an implementation maps its engine's failures to those.
/// <see cref="Docker.DockerBackend"/> is the one implementation today; another (a remote node, Kubernetes) plugs in
/// here without touching the services.
/// </summary>
public interface ISandboxBackend
{
    /// <summary>Engine reachability and version.</summary>
    Task<EngineStatus> GetEngineStatusAsync(CancellationToken ct);

    /// <summary>The container runtimes the engine can run (for the isolation tiers: <c>runc</c>, <c>runsc</c>…).</summary>
    Task<IReadOnlySet<string>> GetRuntimesAsync(CancellationToken ct);

    /// <summary>Readies an image named by reference (<see cref="SandboxSpec.ForeignImage"/>): pulls it when the engine
    /// lacks it and prepares the runner's runtime; <c>image_not_found</c> when neither can be had.</summary>
    Task PrepareForeignImageAsync(string reference, CancellationToken ct);

    /// <summary>The cores and memory the engine's machine has (what <c>docker info</c> reports).</summary>
    Task<HostResources> GetHostResourcesAsync(CancellationToken ct);

    /// <summary>Presence of every configured image.</summary>
    Task<IReadOnlyList<ImageStatus>> GetImageStatusAsync(CancellationToken ct);

    /// <summary>Presence of one image.</summary>
    Task<ImageStatus> GetImageStatusAsync(string name, string reference, CancellationToken ct);

    /// <summary>Creates and starts a session's sandbox (its bounded workspace included) with the runner attached.
    /// On failure nothing is left behind. Throws <c>image_not_found</c> when the image is missing.</summary>
    Task<SandboxHandle> CreateSandboxAsync(SandboxSpec spec, CancellationToken ct);

    /// <summary>Removes a session's sandbox and workspace. Idempotent: absent resources are fine.</summary>
    Task RemoveSandboxAsync(string sessionId, CancellationToken ct);

    /// <summary>Attaches to a running sandbox's runner again (after a server restart).</summary>
    Task<RunnerStream> AttachAsync(string containerId, CancellationToken ct);

    /// <summary>Whether a sandbox exists, runs and is paused; null when it does not exist.</summary>
    Task<SandboxState?> GetStateAsync(string containerId, CancellationToken ct);

    /// <summary>Freezes every process of a sandbox; its runner stream stays open.</summary>
    Task PauseAsync(string containerId, CancellationToken ct);

    /// <summary>Thaws a sandbox. One that is not paused is fine.</summary>
    Task UnpauseAsync(string containerId, CancellationToken ct);

    /// <summary>Kills a sandbox's processes (when its runner stops answering). One that is gone is fine.</summary>
    Task KillAsync(string containerId, CancellationToken ct);

    /// <summary>Sandboxes labelled as this product's, of every server instance (for the orphan sweep).</summary>
    Task<IReadOnlyList<ManagedResource>> ListSandboxesAsync(CancellationToken ct);

    /// <summary>Stat of a path in the sandbox, or null when it does not exist.</summary>
    Task<SandboxPathStat?> StatAsync(string containerId, string path, CancellationToken ct);

    /// <summary>Extracts a tar stream into a directory of the sandbox. A full workspace is <c>limit_exceeded</c>.</summary>
    Task PutArchiveAsync(string containerId, string directory, Stream tar, CancellationToken ct);

    /// <summary>A byte stream to a TCP port the sandbox listens on at its loopback address, carried by the engine
    /// (the sandbox gets no network for it). The caller disposes it, which closes the connection.</summary>
    Task<Stream> ConnectPortAsync(string containerId, int port, CancellationToken ct);

    /// <summary>A tar stream of a path in the sandbox. The caller disposes it.</summary>
    Task<Stream> GetArchiveAsync(string containerId, string path, CancellationToken ct);

    /// <summary>Runs a command to completion in a throw-away hardened sandbox (no network, read-only) and returns its
    /// standard output: for short read-only queries such as listing an image's packages.</summary>
    Task<string> RunOneShotAsync(string imageReference, IList<string> command, TimeSpan timeout, CancellationToken ct);

    /// <summary>Saves an image of this engine and loads it into the Docker engine that runs inside a sandbox (a
    /// <c>docker: true</c> session), at <paramref name="dockerHost"/> as the sandbox sees it.</summary>
    Task LoadIntoNestedEngineAsync(string containerId, string imageReference, string dockerHost, CancellationToken ct);
}
