using System.Globalization;
using Sandbox.Runner;
using Sandbox.Sessions;

namespace Sandbox.Backend;

/// <summary>Facts about the container engine for health reports.</summary>
/// <param name="Reachable">Whether the engine answered.</param>
/// <param name="Version">Engine version, when reachable.</param>
/// <param name="ApiVersion">Engine API version, when reachable.</param>
/// <param name="Error">Why it is not reachable.</param>
public sealed record EngineStatus(bool Reachable, string? Version, string? ApiVersion, string? Error);

/// <summary>The machine an engine runs on, as the engine reports it.</summary>
/// <param name="Cpus">Logical cores.</param>
/// <param name="MemoryBytes">Total memory in bytes.</param>
public sealed record HostResources(int Cpus, long MemoryBytes);

/// <summary>Status of one configured session image.</summary>
/// <param name="Name">Short name callers use.</param>
/// <param name="Reference">Image reference.</param>
/// <param name="Present">Whether the engine has it.</param>
/// <param name="Id">Image id when present.</param>
/// <param name="InputsHash">The build-inputs hash label when present.</param>
public sealed record ImageStatus(string Name, string Reference, bool Present, string? Id, string? InputsHash);

/// <summary>What a backend needs to start one session's sandbox.</summary>
/// <param name="SessionId">The session it belongs to (names and labels derive from it).</param>
/// <param name="ImageReference">The image to run.</param>
/// <param name="Limits">Memory, CPU, processes, file and workspace sizes.</param>
/// <param name="Labels">Extra labels (owner, image name, creation time); the backend adds product, instance and session.</param>
/// <param name="Isolation">The isolation tier (the backend adapts limits to it: under gVisor the process limit is kept
/// inside the sandbox's own kernel).</param>
/// <param name="Runtime">The container runtime of that tier; null for the engine's default.</param>
/// <param name="Context">Host directories mounted read-only at <c>/context/&lt;name&gt;</c>.</param>
/// <param name="CallerContext">Whether the sandbox gets a <c>/context</c> volume of its own (root's, bounded like its
/// workspace) for the caller's context archives, removed with it.</param>
public sealed record SandboxSpec(string SessionId, string ImageReference, SandboxLimits Limits,
    IReadOnlyDictionary<string, string> Labels, Isolation.IsolationTier Isolation, string? Runtime, IReadOnlyList<ContextMount>? Context = null,
    bool CallerContext = false)
{
    /// <summary>An image named by reference (not one of this product's): the runner comes on its own runtime.</summary>
    public bool ForeignImage { get; init; }

    /// <summary>Named volumes' copies to mount (memory-backed, bounded, removed with the sandbox).</summary>
    public IReadOnlyList<Volumes.SandboxVolume> Volumes { get; init; } = [];

    /// <summary>With a value, the sandbox gets its own Docker engine (gVisor only) whose storage is this many MiB.</summary>
    public int? DockerStorageMb { get; init; }
}

/// <summary>A host directory an operator offers to sessions by name, mounted read-only.</summary>
/// <param name="Name">The name callers use; the mount is <c>/context/&lt;name&gt;</c>.</param>
/// <param name="HostPath">The directory on the engine's host.</param>
public sealed record ContextMount(string Name, string HostPath);

/// <summary>A started sandbox.</summary>
/// <param name="ContainerId">The backend's id for it.</param>
/// <param name="Runner">The attached stream to its runner; the caller owns it.</param>
public sealed record SandboxHandle(string ContainerId, RunnerStream Runner);

/// <summary>The state of an existing sandbox.</summary>
/// <param name="Running">Whether its processes run (paused counts as running).</param>
/// <param name="Paused">Whether it is frozen.</param>
/// <param name="OomKilled">Whether it ended because it ran out of memory.</param>
public sealed record SandboxState(bool Running, bool Paused, bool OomKilled = false);

/// <summary>What a stat of a path in a sandbox says.</summary>
/// <param name="IsDirectory">A directory.</param>
/// <param name="IsSymbolicLink">A symbolic link (not followed).</param>
/// <param name="Size">Size in bytes.</param>
/// <param name="LinkTarget">Where a link points, as written.</param>
public sealed record SandboxPathStat(bool IsDirectory, bool IsSymbolicLink, long Size, string? LinkTarget);

/// <summary>A resource carrying this product's labels (a sandbox, or an agent network).</summary>
/// <param name="SessionId">The session (or helper) id label.</param>
/// <param name="Instance">The server instance that made it.</param>
/// <param name="CreatedAt">When it was made, if labelled.</param>
public sealed record ManagedResource(string SessionId, string? Instance, DateTimeOffset? CreatedAt)
{
    /// <summary>From a resource's labels; null when it has no session id label.</summary>
    public static ManagedResource? FromLabels(IDictionary<string, string>? labels)
    {
        if (labels is null || !labels.TryGetValue(SandboxLabels.SessionId, out var sid))
        {
            return null;
        }
        labels.TryGetValue(SandboxLabels.Instance, out var instance);
        DateTimeOffset? created = labels.TryGetValue(SandboxLabels.CreatedAt, out var text)
                                  && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var at) ? at : null;
        return new ManagedResource(sid, instance, created);
    }

    /// <summary>Left behind: made by this instance (and not in use), or by any instance longer ago than <paramref name="maxAge"/>.</summary>
    public bool IsOrphan(string instanceId, DateTimeOffset now, TimeSpan maxAge) =>
        Instance == instanceId || CreatedAt is { } at && now - at > maxAge;
}
