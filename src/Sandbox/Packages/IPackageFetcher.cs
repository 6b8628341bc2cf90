namespace Sandbox.Packages;

/// <summary>What one fetch asked for and where it may go.</summary>
/// <param name="Image">The image the fetcher runs in.</param>
/// <param name="Network">The network with registry access it joins (never a session's).</param>
/// <param name="CacheVolume">The shared package cache it fills.</param>
/// <param name="WheelDirectory">A host directory of wheels to install from, or null.</param>
/// <param name="RequestJson">The fetcher script's request.</param>
/// <param name="Timeout">How long the fetch may take.</param>
public sealed record PackageFetchRequest(string Image, string Network, string CacheVolume, string? WheelDirectory, string RequestJson, TimeSpan Timeout);

/// <summary>A finished fetch: its output, and read access to the cache until disposed.</summary>
public interface IFetchedPackages : IAsyncDisposable
{
    /// <summary>The fetcher's standard output (its JSON result is the last line).</summary>
    string Stdout { get; }

    /// <summary>The fetcher's standard error.</summary>
    string Stderr { get; }

    /// <summary>A tar stream of a directory in the cache. The caller disposes it.</summary>
    Task<Stream> GetArchiveAsync(string cachePath, CancellationToken ct);
}

/// <summary>Runs the package fetcher: a short-lived helper with registry access and the shared cache, never the
/// session itself. Implemented per backend (<see cref="Docker.DockerPackageFetcher"/>).</summary>
public interface IPackageFetcher
{
    /// <summary>Runs one fetch to completion (<c>timeout</c> past its limit).</summary>
    Task<IFetchedPackages> FetchAsync(PackageFetchRequest request, CancellationToken ct);
}
