using System.ComponentModel.DataAnnotations;
using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Sandbox.Backend;
using Sandbox.Files;
using Sandbox.Sessions;

namespace Sandbox.Snapshots;

/// <summary>Snapshots of workspaces (<c>Sandbox:Snapshots</c>).</summary>
public sealed class SnapshotOptions : ISandboxOptionsSection
{
    /// <inheritdoc />
    public static string SectionName => "Sandbox:Snapshots";

    /// <summary>Where snapshots are kept. Empty: <c>snapshots</c> in the data directory.</summary>
    public string? Directory { get; set; }

    /// <summary>The largest snapshot (the workspace as an archive).</summary>
    [Range(1, long.MaxValue)] public long MaxBytes { get; set; } = 1L << 30;

    /// <summary>Snapshots one caller may keep.</summary>
    [Range(1, 10_000)] public int MaxPerOwner { get; set; } = 20;

    /// <summary>Sessions one fork call may make.</summary>
    [Range(1, 100)] public int MaxForks { get; set; } = 10;
}

/// <summary>A saved workspace.</summary>
/// <param name="SnapshotId">Its id.</param>
/// <param name="Name">The name it was given.</param>
/// <param name="SourceSessionId">The session it was taken from.</param>
/// <param name="Image">That session's image (sessions made from it use it unless they name another).</param>
/// <param name="SizeBytes">Size of the archive.</param>
/// <param name="Files">Files and directories in it.</param>
/// <param name="CreatedAt">When it was taken.</param>
public sealed record SnapshotInfo(string SnapshotId, string Name, string SourceSessionId, string Image, long SizeBytes, int Files, DateTimeOffset CreatedAt);

/// <summary>
/// Snapshots: a session's whole workspace (its files and what <c>install_packages</c> put there) saved as an archive in
/// the server's data directory, so they survive restarts; new sessions start from one, and a running session forks
/// into several in one call. What a snapshot does not hold is the Python interpreter's memory: a session made from one
/// starts with a fresh interpreter (its files are all there), and every answer says so.
/// </summary>
public sealed class SnapshotService
{
    private const string Prefix = "workspace/";
    private readonly SessionRegistry _registry;
    private readonly ISandboxBackend _backend;
    private readonly SnapshotOptions _options;
    private readonly Durability.DurabilityOptions _durability;
    private readonly TimeProvider _time;

    /// <summary>Creates the service.</summary>
    public SnapshotService(SessionRegistry registry, ISandboxBackend backend, IOptions<SnapshotOptions> options,
        IOptions<Durability.DurabilityOptions> durability, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(durability);
        _registry = registry;
        _backend = backend;
        _options = options.Value;
        _durability = durability.Value;
        _time = time;
    }

    private string Root => string.IsNullOrEmpty(_options.Directory)
        ? Path.Combine(_durability.ResolveDataDirectory(), "snapshots")
        : _options.Directory;

    private string OwnerDir(string owner) => Path.Combine(Root, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(owner)))[..24]);

    /// <summary>Saves the session's workspace under <paramref name="name"/>.</summary>
    public async Task<SnapshotInfo> CreateAsync(string sessionId, string owner, string? name, CancellationToken ct)
    {
        var session = _registry.Get(sessionId, owner);
        session.EnsureUsable();
        if (List(owner).Count >= _options.MaxPerOwner)
        {
            throw new SandboxException(SandboxErrorCodes.LimitExceeded, $"You keep {_options.MaxPerOwner} snapshots already (the most this server allows); delete one first.");
        }
        var label = string.IsNullOrWhiteSpace(name) ? "snapshot of " + session.Id : name.Trim();
        if (label.Length > 200 || label.Any(char.IsControl))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "A snapshot's name is at most 200 characters, without control characters.");
        }
        var id = "snap-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var dir = OwnerDir(owner);
        Directory.CreateDirectory(dir);
        var archive = Path.Combine(dir, id + ".tar");
        try
        {
            var files = await SaveAsync(session, archive, ct).ConfigureAwait(false);
            var info = new SnapshotInfo(id, label, session.Id, session.Image, new FileInfo(archive).Length, files, _time.GetUtcNow());
            await File.WriteAllTextAsync(Path.Combine(dir, id + ".json"), JsonSerializer.Serialize(info), ct).ConfigureAwait(false);
            return info;
        }
        catch
        {
            File.Delete(archive);
            throw;
        }
    }

    /// <summary>The caller's snapshots, newest first.</summary>
    public IReadOnlyList<SnapshotInfo> List(string owner)
    {
        var dir = OwnerDir(owner);
        if (!Directory.Exists(dir))
        {
            return [];
        }
        return Directory.EnumerateFiles(dir, "snap-*.json")
            .Select(f =>
            {
                try
                {
                    return JsonSerializer.Deserialize<SnapshotInfo>(File.ReadAllText(f));
                }
                catch (Exception e) when (e is JsonException or IOException)
                {
                    return null;
                }
            })
            .OfType<SnapshotInfo>().Where(s => File.Exists(Path.Combine(dir, s.SnapshotId + ".tar")))
            .OrderByDescending(s => s.CreatedAt).ToList();
    }

    /// <summary>One of the caller's snapshots.</summary>
    public SnapshotInfo Get(string owner, string snapshotId) =>
        List(owner).FirstOrDefault(s => s.SnapshotId == snapshotId)
        ?? throw new SandboxException(SandboxErrorCodes.SnapshotNotFound, $"No snapshot '{SafeText.Shorten(snapshotId, 64)}'. list_snapshots shows yours.");

    /// <summary>Deletes one of the caller's snapshots.</summary>
    public void Delete(string owner, string snapshotId)
    {
        var info = Get(owner, snapshotId);
        File.Delete(Path.Combine(OwnerDir(owner), info.SnapshotId + ".json"));
        File.Delete(Path.Combine(OwnerDir(owner), info.SnapshotId + ".tar"));
    }

    /// <summary>Writes a snapshot's files into a new session's (empty) workspace.</summary>
    internal async Task RestoreAsync(string owner, string snapshotId, string containerId, CancellationToken ct)
    {
        var info = Get(owner, snapshotId);
        await using var archive = File.OpenRead(Path.Combine(OwnerDir(owner), info.SnapshotId + ".tar"));
        await _backend.PutArchiveAsync(containerId, WorkspacePath.Root, archive, ct).ConfigureAwait(false);
    }

    /// <summary>A snapshot's files as the runner's diff baseline (JSON <c>{"files": {path: [sha256, size, text|null]},
    /// "truncated": bool}</c>), by the rules of the runner's own snapshots: version-control internals, kept outputs and
    /// the session folder left out, the text of UTF-8 files up to 1 MiB kept (32 MiB in all), at most 20,000 files.</summary>
    internal async Task<byte[]> ManifestAsync(string owner, string snapshotId, CancellationToken ct)
    {
        var info = Get(owner, snapshotId);
        await using var archive = File.OpenRead(Path.Combine(OwnerDir(owner), info.SnapshotId + ".tar"));
        using var reader = new TarReader(archive);
        var files = new SortedDictionary<string, object?[]>(StringComparer.Ordinal);
        long budget = 32L << 20;
        var truncated = false;
        while (await reader.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false) is { } entry)
        {
            var name = entry.Name.TrimEnd('/');
            var parts = name.Split('/');
            if (entry.EntryType == TarEntryType.Directory || parts[..^1].Any(p => p is ".git" or ".outputs" or ".sandbox"))
            {
                continue;
            }
            if (files.Count >= 20_000)
            {
                truncated = true;
                break;
            }
            if (entry.EntryType == TarEntryType.SymbolicLink)
            {
                files[name] = ["link:" + entry.LinkName, 0L, null];
                continue;
            }
            if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || entry.DataStream is null)
            {
                continue;
            }
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var keep = entry.Length <= Math.Min(1 << 20, budget) ? new MemoryStream() : null;
            var buffer = new byte[81920];
            int n;
            while ((n = await entry.DataStream.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
            {
                hash.AppendData(buffer, 0, n);
                keep?.Write(buffer, 0, n);
            }
            string? text = null;
            if (keep is not null && keep.Length == entry.Length && Array.IndexOf(keep.GetBuffer(), (byte)0, 0, (int)Math.Min(keep.Length, 8192)) < 0)
            {
                try
                {
                    text = new UTF8Encoding(false, true).GetString(keep.GetBuffer(), 0, (int)keep.Length);
                    budget -= keep.Length;
                }
                catch (DecoderFallbackException)
                {
                    text = null;
                }
            }
            files[name] = [Convert.ToHexStringLower(hash.GetHashAndReset()), entry.Length, text];
        }
        return System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object> { ["files"] = files, ["truncated"] = truncated });
    }

    /// <summary>Saves a session's workspace to a temporary archive for forks; the caller deletes it.</summary>
    internal async Task<string> SaveTemporaryAsync(Session session, CancellationToken ct)
    {
        var path = Path.Combine(Path.GetTempPath(), "sandbox-fork-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)) + ".tar");
        try
        {
            await SaveAsync(session, path, ct).ConfigureAwait(false);
            return path;
        }
        catch
        {
            File.Delete(path);
            throw;
        }
    }

    /// <summary>Writes an archive to a session's workspace.</summary>
    internal async Task RestoreFileAsync(string archivePath, string containerId, CancellationToken ct)
    {
        await using var archive = File.OpenRead(archivePath);
        await _backend.PutArchiveAsync(containerId, WorkspacePath.Root, archive, ct).ConfigureAwait(false);
    }

    /// <summary>The workspace as an archive whose entries are relative to <c>/workspace</c>, owned by the sandbox user.</summary>
    private async Task<int> SaveAsync(Session session, string target, CancellationToken ct)
    {
        await _registry.EnsureRunningAsync(session, ct).ConfigureAwait(false);
        await using var raw = StreamCopy.TempFile();
        await using (var archive = await _backend.GetArchiveAsync(session.ContainerId, WorkspacePath.Root, ct).ConfigureAwait(false))
        {
            await StreamCopy.CopyCappedAsync(archive, raw, _options.MaxBytes,
                () => $"The workspace is larger than a snapshot may be ({_options.MaxBytes} bytes); nothing was saved.", ct).ConfigureAwait(false);
        }
        raw.Position = 0;
        var files = 0;
        await using var output = new FileStream(target, FileMode.CreateNew, FileAccess.Write);
        await using var writer = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true);
        using var reader = new TarReader(raw, leaveOpen: true);
        while (await reader.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false) is { } entry)
        {
            if (!entry.Name.StartsWith(Prefix, StringComparison.Ordinal) || entry.Name == Prefix)
            {
                continue;
            }
            if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.Directory or TarEntryType.SymbolicLink))
            {
                continue; // devices, fifos, hard links: not part of a workspace worth keeping
            }
            var copy = new PaxTarEntry(entry.EntryType is TarEntryType.V7RegularFile ? TarEntryType.RegularFile : entry.EntryType, entry.Name[Prefix.Length..])
            {
                Mode = entry.Mode, ModificationTime = entry.ModificationTime, Uid = 1000, Gid = 1000,
            };
            if (copy.EntryType == TarEntryType.RegularFile)
            {
                copy.DataStream = entry.DataStream;
            }
            if (entry.EntryType == TarEntryType.SymbolicLink)
            {
                copy.LinkName = entry.LinkName;
            }
            await writer.WriteEntryAsync(copy, ct).ConfigureAwait(false);
            files++;
        }
        return files;
    }
}
