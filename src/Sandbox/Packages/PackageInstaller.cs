using System.Diagnostics;
using System.Formats.Tar;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Backend;
using Sandbox.Durability;
using Sandbox.Files;
using Sandbox.Sessions;
using Sandbox.Storage;
using static Sandbox.Runner.RunnerJson;

namespace Sandbox.Packages;

/// <summary>
/// Installs packages into a session without giving it a network: the fetcher (a helper with registry access, never
/// the session) fetches them with dependencies, running no package scripts, into the shared cache; the files are then
/// copied into the session's workspace. Checked first by the <see cref="PackagePolicy"/>. All or nothing: if one
/// package cannot be had, none is copied and the error names each failure.
/// </summary>
public sealed partial class PackageInstaller(SessionRegistry registry, PackagePolicy policy, IPackageFetcher fetcher, ISandboxBackend backend,
    SessionJournal journal, IOptions<SandboxOptions> options, IOptions<PackageOptions> packageOptions, TimeProvider time, ILogger<PackageInstaller> logger)
{
    /// <summary>Where npm packages land in the workspace (Node resolves <c>require</c> from there).</summary>
    public const string NpmLocation = "node_modules";

    /// <summary>Where Python packages land in the workspace (on every interpreter's <c>PYTHONPATH</c>).</summary>
    public const string PythonLocation = ".packages/python";

    private readonly SandboxOptions _options = options.Value;

    private sealed record FetchResult(string Name, string? Version, bool Ok, string? Path, bool Cached, string? Error);

    /// <summary>Installs the packages of <paramref name="request"/> into the caller's session.</summary>
    public async Task<PackageInstallResult> InstallAsync(string sessionId, string owner, PackageInstallRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var session = registry.Get(sessionId, owner);
        session.EnsureUsable();
        var wanted = policy.Resolve(request);
        registry.Lock(session, $"Session {session.Id} is running an execution or agent run. Install packages when it is idle.");
        try
        {
            await registry.EnsureRunningAsync(session, ct).ConfigureAwait(false);
            return await InstallHeldAsync(session, owner, request, wanted, ct).ConfigureAwait(false);
        }
        finally
        {
            session.Touch(time.GetUtcNow());
            session.Gate.Release();
        }
    }

    /// <summary>Installs into a session whose gate the caller holds (an execution with auto_install): the same policy,
    /// fetch, copy and history entry as <see cref="InstallAsync"/>.</summary>
    internal Task<PackageInstallResult> InstallHeldAsync(Session session, string owner, PackageInstallRequest request, CancellationToken ct) =>
        InstallHeldAsync(session, owner, request, policy.Resolve(request), ct);

    private async Task<PackageInstallResult> InstallHeldAsync(Session session, string owner, PackageInstallRequest request,
        IReadOnlyList<WantedPackage> wanted, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            var packages = packageOptions.Value;
            var fetcherImage = string.IsNullOrWhiteSpace(packages.FetcherImage)
                ? _options.Images.GetValueOrDefault("agent") ?? throw new SandboxException(SandboxErrorCodes.Internal, "No package fetcher image: set Sandbox:Packages:FetcherImage.")
                : packages.FetcherImage;
            var fetchRequest = JsonSerializer.Serialize(new Dictionary<string, object?>
            {
                ["manager"] = request.Manager,
                ["packages"] = wanted.Select(w => new Dictionary<string, string?> { ["name"] = w.Name, ["version"] = w.Version }).ToList(),
                ["max_cache_bytes"] = (long)packages.MaxCacheMb << 20,
                ["pip_index_url"] = string.IsNullOrWhiteSpace(packages.PipIndexUrl) ? null : packages.PipIndexUrl,
                ["npm_registry"] = string.IsNullOrWhiteSpace(packages.NpmRegistry) ? null : packages.NpmRegistry,
                ["find_links"] = string.IsNullOrWhiteSpace(packages.WheelDirectory) ? null : "/wheels",
            });
            await using var fetched = await fetcher.FetchAsync(new PackageFetchRequest(fetcherImage, packages.FetcherNetwork, packages.CacheVolume,
                packages.WheelDirectory, fetchRequest, packages.FetchTimeout), ct).ConfigureAwait(false);
            var results = ParseFetch(fetched.Stdout, fetched.Stderr);
            var failures = results.Where(r => !r.Ok).Select(r => $"{r.Name}{(r.Version is null ? "" : " " + r.Version)}: {r.Error}").ToList();
            if (failures.Count > 0)
            {
                throw new SandboxException(SandboxErrorCodes.PackageUnavailable,
                    $"Nothing was installed: {string.Join("; ", failures)}. Check the names and versions, or install from what the image has (get_packages).");
            }
            var location = request.Manager == "npm" ? NpmLocation : PythonLocation;
            var installed = new List<InstalledPackage>();
            foreach (var r in results)
            {
                var bytes = await CopyFromCacheAsync(session, fetched, r.Path!, location, ct).ConfigureAwait(false);
                installed.Add(new InstalledPackage(r.Name, r.Version!, request.Manager, r.Cached, bytes));
            }
            var result = new PackageInstallResult(request.Manager, installed, location, clock.Elapsed.TotalMilliseconds);
            var summary = string.Join(", ", installed.Select(i => $"{i.Name} {i.Version}{(i.Cached ? " (cached)" : "")}"));
            journal.Record(new HistoryEntry(session.Id, owner, "install", time.GetUtcNow(), request.Manager, DurationMs: result.DurationMs, Output: summary));
            LogInstalled(logger, session.Id, request.Manager, summary);
            return result;
        }
        catch (SandboxException e)
        {
            journal.Record(new HistoryEntry(session.Id, owner, "install", time.GetUtcNow(), request.Manager,
                ErrorType: e.Code, DurationMs: clock.Elapsed.TotalMilliseconds, Output: SessionJournal.Head(e.Message)));
            throw;
        }
    }

    private static List<FetchResult> ParseFetch(string stdout, string stderr)
    {
        var line = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault()
                   ?? throw new SandboxException(SandboxErrorCodes.Internal,
                       "The package fetcher ended without a result: " + SafeText.Shorten(stderr.Length > 600 ? stderr[^600..] : stderr, 600));
        using var doc = JsonDocument.Parse(line);
        var list = new List<FetchResult>();
        foreach (var r in doc.RootElement.GetProperty("results").EnumerateArray())
        {
            list.Add(new FetchResult(Str(r, "name") ?? "?", Str(r, "version"), Bool(r, "ok"), Str(r, "path"), Bool(r, "cached"), Str(r, "error")));
        }
        return list;
    }

    /// <summary>Copies one cache entry into the workspace at <paramref name="location"/>, owned by the sandbox user.</summary>
    private async Task<long> CopyFromCacheAsync(Session session, IFetchedPackages fetched, string cachePath, string location, CancellationToken ct)
    {
        // Read whole (bounded by the workspace size) before parsing: the engine's stream does not take partial reads.
        using var raw = new MemoryStream();
        var cap = (long)session.Limits.WorkspaceMb << 20;
        await using (var archive = await fetched.GetArchiveAsync(cachePath, ct).ConfigureAwait(false))
        {
            await StreamCopy.CopyCappedAsync(archive, raw, cap, () => $"'{location}' is larger than the session's workspace ({cap} bytes).", ct).ConfigureAwait(false);
        }
        raw.Position = 0;
        using var tar = new MemoryStream();
        var bytes = await RerootAsync(raw, tar, location, ct).ConfigureAwait(false);
        tar.Position = 0;
        try
        {
            await backend.PutArchiveAsync(session.ContainerId, WorkspacePath.Root, tar, ct).ConfigureAwait(false);
        }
        catch (SandboxException e) when (e.Code == SandboxErrorCodes.WorkspaceFull)
        {
            throw new SandboxException(SandboxErrorCodes.WorkspaceFull,
                $"The packages do not fit in the session's workspace ({session.Limits.WorkspaceMb} MiB); create a session with a larger workspace_mb.", e);
        }
        return bytes;
    }

    /// <summary>Rewrites a cache entry's archive under <paramref name="location"/>: regular files, directories and
    /// links only, owned by the sandbox user. Returns the bytes of the files.</summary>
    private async Task<long> RerootAsync(Stream source, Stream target, string location, CancellationToken ct)
    {
        long bytes = 0;
        await using var writer = new TarWriter(target, TarEntryFormat.Pax, leaveOpen: true);
        var now = time.GetUtcNow();
        var parts = location.Split('/');
        for (var i = 1; i <= parts.Length; i++)
        {
            await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.Directory, string.Join('/', parts[..i]) + "/")
            {
                Uid = 1000, Gid = 1000, Mode = (UnixFileMode)0b111_101_101, ModificationTime = now,
            }, ct).ConfigureAwait(false);
        }
        using var reader = new TarReader(source, leaveOpen: true);
        while (await reader.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false) is { } entry)
        {
            // Entries come as "./x/y" (the directory's own content): re-root them under the location.
            var name = entry.Name.StartsWith("./", StringComparison.Ordinal) ? entry.Name[2..] : entry.Name;
            if (name.Length == 0 || name == "." || name == ".complete" || name.Split('/').Contains(".."))
            {
                continue;
            }
            var path = location + "/" + name;
            PaxTarEntry copy;
            switch (entry.EntryType)
            {
                case TarEntryType.Directory:
                    copy = new PaxTarEntry(TarEntryType.Directory, path.TrimEnd('/') + "/") { Mode = (UnixFileMode)0b111_101_101 };
                    break;
                case TarEntryType.RegularFile or TarEntryType.V7RegularFile:
                    copy = new PaxTarEntry(TarEntryType.RegularFile, path)
                    {
                        Mode = (entry.Mode & UnixFileMode.UserExecute) != 0 ? (UnixFileMode)0b111_101_101 : (UnixFileMode)0b110_100_100,
                        DataStream = entry.DataStream,
                    };
                    bytes += entry.Length;
                    break;
                case TarEntryType.SymbolicLink:
                    copy = new PaxTarEntry(TarEntryType.SymbolicLink, path) { LinkName = entry.LinkName, Mode = (UnixFileMode)0b111_111_111 };
                    break;
                default:
                    continue; // no devices, fifos or hard links from a package
            }
            copy.Uid = 1000;
            copy.Gid = 1000;
            copy.ModificationTime = entry.ModificationTime;
            await writer.WriteEntryAsync(copy, ct).ConfigureAwait(false);
        }
        return bytes;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: installed {Manager} packages {Packages}")]
    private static partial void LogInstalled(ILogger logger, string sessionId, string manager, string packages);
}
