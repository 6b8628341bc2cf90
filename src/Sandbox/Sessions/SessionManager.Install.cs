using System.Diagnostics;
using System.Formats.Tar;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Sandbox.Files;
using Sandbox.Packages;
using Sandbox.Storage;

namespace Sandbox.Sessions;

public sealed partial class SessionManager
{
    /// <summary>Where npm packages land in the workspace (Node resolves <c>require</c> from there).</summary>
    public const string NpmLocation = "node_modules";

    /// <summary>Where Python packages land in the workspace (on every interpreter's <c>PYTHONPATH</c>).</summary>
    public const string PythonLocation = ".packages/python";

    /// <summary>
    /// Installs packages into a session without giving it a network: a fetcher container on the fetcher network
    /// fetches them (with dependencies, running no package scripts) into the shared cache volume; the files are then
    /// copied into the session's workspace. Checked first against the allow and deny lists and version pins. All or
    /// nothing: if one package cannot be had, none is copied and the error names each failure.
    /// </summary>
    public async Task<PackageInstallResult> InstallPackagesAsync(string sessionId, string owner, PackageInstallRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var session = Get(sessionId, owner);
        session.EnsureUsable();
        var wanted = ResolvePackageSpecs(request);
        if (!session.Gate.Wait(0))
        {
            throw new SandboxException(SandboxErrorCodes.SessionBusy,
                $"Session {session.Id} is running an execution or agent run. Install packages when it is idle.");
        }
        var clock = Stopwatch.StartNew();
        try
        {
            await EnsureRunningAsync(session, ct).ConfigureAwait(false);
            var options = _options.Packages;
            var fetcherImage = string.IsNullOrWhiteSpace(options.FetcherImage)
                ? _options.Images.GetValueOrDefault("agent") ?? throw new SandboxException(SandboxErrorCodes.Internal, "No package fetcher image: set Sandbox:Packages:FetcherImage.")
                : options.FetcherImage;
            var fetchRequest = JsonSerializer.Serialize(new Dictionary<string, object?>
            {
                ["manager"] = request.Manager,
                ["packages"] = wanted.Select(w => new Dictionary<string, string?> { ["name"] = w.Name, ["version"] = w.Version }).ToList(),
                ["max_cache_bytes"] = (long)options.MaxCacheMb << 20,
                ["pip_index_url"] = string.IsNullOrWhiteSpace(options.PipIndexUrl) ? null : options.PipIndexUrl,
                ["npm_registry"] = string.IsNullOrWhiteSpace(options.NpmRegistry) ? null : options.NpmRegistry,
                ["find_links"] = string.IsNullOrWhiteSpace(options.WheelDirectory) ? null : "/wheels",
            });
            var (fetcher, stdout, stderr) = await _backend.RunFetcherAsync(fetcherImage, options.FetcherNetwork, options.CacheVolume,
                options.WheelDirectory, fetchRequest, options.FetchTimeout, ct).ConfigureAwait(false);
            try
            {
                var results = ParseFetch(stdout, stderr);
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
                    var bytes = await CopyFromCacheAsync(session, fetcher, r.Path!, location, ct).ConfigureAwait(false);
                    installed.Add(new InstalledPackage(r.Name, r.Version!, request.Manager, r.Cached, bytes));
                }
                var result = new PackageInstallResult(request.Manager, installed, location, clock.Elapsed.TotalMilliseconds);
                var summary = string.Join(", ", installed.Select(i => $"{i.Name} {i.Version}{(i.Cached ? " (cached)" : "")}"));
                _store.AppendHistory(new HistoryEntry(session.Id, owner, "install", _time.GetUtcNow(), request.Manager,
                    DurationMs: result.DurationMs, Output: summary));
                LogInstalled(_logger, session.Id, request.Manager, summary);
                return result;
            }
            finally
            {
                await _backend.RemoveContainerQuietlyAsync(fetcher).ConfigureAwait(false);
            }
        }
        catch (SandboxException e)
        {
            _store.AppendHistory(new HistoryEntry(session.Id, owner, "install", _time.GetUtcNow(), request.Manager,
                ErrorType: e.Code, DurationMs: clock.Elapsed.TotalMilliseconds, Output: Head(e.Message)));
            throw;
        }
        finally
        {
            session.Touch(_time.GetUtcNow());
            session.Gate.Release();
        }
    }

    private sealed record WantedPackage(string Name, string? Version);

    private sealed record FetchResult(string Name, string? Version, bool Ok, string? Path, bool Cached, string? Error);

    /// <summary>Parses and checks the specs against the policy; throws naming every refused package.</summary>
    private List<WantedPackage> ResolvePackageSpecs(PackageInstallRequest request)
    {
        var manager = request.Manager;
        if (manager is not ("pip" or "npm"))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"Unknown package manager '{Shorten(manager)}'. Use 'pip' or 'npm'.");
        }
        var options = _options.Packages;
        if (request.Packages is not { Count: > 0 } specs)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "packages is required: a list such as [\"requests==2.32.3\"] or [\"lodash@4.17.21\"].");
        }
        if (specs.Count > options.MaxPackagesPerCall)
        {
            throw new SandboxException(SandboxErrorCodes.LimitExceeded, $"At most {options.MaxPackagesPerCall} packages per call.");
        }
        var wanted = new List<WantedPackage>();
        var refused = new List<string>();
        foreach (var spec in specs)
        {
            var match = (manager == "npm" ? NpmSpec() : PipSpec()).Match(spec ?? "");
            if (!match.Success)
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument, manager == "npm"
                    ? $"'{Shorten(spec)}' is not an npm package spec: use name or name@1.2.3 (exact versions only)."
                    : $"'{Shorten(spec)}' is not a pip package spec: use name or name==1.2.3 (exact versions only).");
            }
            var name = match.Groups["name"].Value;
            var version = match.Groups["version"].Success ? match.Groups["version"].Value : null;
            var key = manager + ":" + name;
            if (options.Deny.Any(p => Glob(p, key)) || !options.Allow.Any(p => Glob(p, key)))
            {
                refused.Add($"{name} (not allowed on this server)");
                continue;
            }
            if ((manager == "npm" ? options.NpmPins : options.PipPins).TryGetValue(name, out var pin))
            {
                if (version is not null && version != pin)
                {
                    refused.Add($"{name} {version} (this server pins {name} to {pin})");
                    continue;
                }
                version = pin;
            }
            wanted.Add(new WantedPackage(name, version));
        }
        if (refused.Count > 0)
        {
            throw new SandboxException(SandboxErrorCodes.Forbidden,
                $"Refused by the server's package policy: {string.Join(", ", refused)}. Nothing was installed.");
        }
        return wanted;
    }

    private static bool Glob(string pattern, string text) =>
        Regex.IsMatch(text, "^" + Regex.Escape(pattern).Replace("\\*", ".*", StringComparison.Ordinal).Replace("\\?", ".", StringComparison.Ordinal) + "$",
            RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));

    private static List<FetchResult> ParseFetch(string stdout, string stderr)
    {
        var line = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault();
        if (line is null)
        {
            throw new SandboxException(SandboxErrorCodes.Internal, "The package fetcher ended without a result: " + Shorten(stderr.Length > 600 ? stderr[^600..] : stderr));
        }
        using var doc = JsonDocument.Parse(line);
        var list = new List<FetchResult>();
        foreach (var r in doc.RootElement.GetProperty("results").EnumerateArray())
        {
            list.Add(new FetchResult(Str(r, "name") ?? "?", Str(r, "version"), Bool(r, "ok"), Str(r, "path"), Bool(r, "cached"), Str(r, "error")));
        }
        return list;
    }

    /// <summary>Copies one cache entry into the workspace at <paramref name="location"/>, owned by the sandbox user.</summary>
    private async Task<long> CopyFromCacheAsync(Session session, string fetcher, string cachePath, string location, CancellationToken ct)
    {
        // Read whole (bounded by the workspace size) before parsing: the engine's stream does not take partial reads.
        using var raw = new MemoryStream();
        await using (var archive = await _backend.GetArchiveAsync(fetcher, cachePath + "/.", ct).ConfigureAwait(false))
        {
            await CopyCappedAsync(archive, raw, (long)session.Limits.WorkspaceMb << 20, location, ct).ConfigureAwait(false);
        }
        raw.Position = 0;
        using var tar = new MemoryStream();
        long bytes = 0;
        await using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            var now = _time.GetUtcNow();
            var parts = location.Split('/');
            for (var i = 1; i <= parts.Length; i++)
            {
                await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.Directory, string.Join('/', parts[..i]) + "/")
                {
                    Uid = 1000, Gid = 1000, Mode = (UnixFileMode)0b111_101_101, ModificationTime = now,
                }, ct).ConfigureAwait(false);
            }
            using var reader = new TarReader(raw, leaveOpen: true);
            while (await reader.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false) is { } entry)
            {
                // Entries come as "./x/y" (the directory's own content): re-root them under the location.
                var name = entry.Name.StartsWith("./", StringComparison.Ordinal) ? entry.Name[2..] : entry.Name;
                if (name.Length == 0 || name == "." || name == ".complete" || name.Split('/').Contains(".."))
                {
                    continue;
                }
                var target = location + "/" + name;
                PaxTarEntry copy;
                switch (entry.EntryType)
                {
                    case TarEntryType.Directory:
                        copy = new PaxTarEntry(TarEntryType.Directory, target.TrimEnd('/') + "/") { Mode = (UnixFileMode)0b111_101_101 };
                        break;
                    case TarEntryType.RegularFile or TarEntryType.V7RegularFile:
                        copy = new PaxTarEntry(TarEntryType.RegularFile, target)
                        {
                            Mode = (entry.Mode & UnixFileMode.UserExecute) != 0 ? (UnixFileMode)0b111_101_101 : (UnixFileMode)0b110_100_100,
                            DataStream = entry.DataStream,
                        };
                        bytes += entry.Length;
                        break;
                    case TarEntryType.SymbolicLink:
                        copy = new PaxTarEntry(TarEntryType.SymbolicLink, target) { LinkName = entry.LinkName, Mode = (UnixFileMode)0b111_111_111 };
                        break;
                    default:
                        continue; // no devices, fifos or hard links from a package
                }
                copy.Uid = 1000;
                copy.Gid = 1000;
                copy.ModificationTime = entry.ModificationTime;
                await writer.WriteEntryAsync(copy, ct).ConfigureAwait(false);
            }
        }
        tar.Position = 0;
        try
        {
            await _backend.PutArchiveAsync(session.ContainerId, WorkspacePath.Root, tar, ct).ConfigureAwait(false);
        }
        catch (global::Docker.DotNet.DockerApiException e) when (e.Message.Contains("no space left", StringComparison.OrdinalIgnoreCase))
        {
            throw new SandboxException(SandboxErrorCodes.LimitExceeded,
                $"The packages do not fit in the session's workspace ({session.Limits.WorkspaceMb} MiB); create a session with a larger workspace_mb.", e);
        }
        return bytes;
    }

    [GeneratedRegex(@"^(?<name>(@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]{0,213})(@(?<version>[0-9]+\.[0-9]+\.[0-9]+[0-9A-Za-z.+-]*))?$")]
    private static partial Regex NpmSpec();

    [GeneratedRegex(@"^(?<name>[A-Za-z0-9]([A-Za-z0-9._-]{0,98}[A-Za-z0-9])?)(==(?<version>[0-9][0-9A-Za-z.+!-]{0,63}))?$")]
    private static partial Regex PipSpec();

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: installed {Manager} packages {Packages}")]
    private static partial void LogInstalled(ILogger logger, string sessionId, string manager, string packages);
}
