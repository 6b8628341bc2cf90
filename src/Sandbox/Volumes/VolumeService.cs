using System.Collections.Concurrent;
using System.Formats.Tar;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Backend;
using Sandbox.Files;
using Sandbox.Sessions;

namespace Sandbox.Volumes;

/// <summary>
/// Named volumes: a caller's storage that outlives sessions. The durable copy is an archive in the data directory
/// (with its record beside it), so a volume survives server and engine restarts. A session that mounts one gets its
/// own memory-backed copy, bounded by the volume's size (ENOSPC inside when full): read-only mounts (any number at once)
/// are owned by root and readable by the sandbox user; a read-write mount (one at a time) belongs to the sandbox user
/// and is saved back into the volume when its session closes. Without a session, the files API reads the saved copy and
/// changes it while no session mounts it read-write.
/// </summary>
public sealed partial class VolumeService(SessionRegistry registry, ISandboxBackend backend, IOptions<VolumeOptions> options,
    IOptions<Durability.DurabilityOptions> durability, TimeProvider time, ILogger<VolumeService> logger) : ISessionClosingWork
{
    private readonly VolumeOptions _options = options.Value;
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _locks = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _pending = new(StringComparer.Ordinal);

    /// <summary>Mount points a volume may have: under these, never <c>/workspace</c> or a system path.</summary>
    public static readonly IReadOnlyList<string> MountRoots = ["/data", "/mnt", "/volumes"];

    private sealed record Record(string Name, string Owner, int SizeMb, long UsedBytes, int Files, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, List<VolumeMount> Mounts);

    private string Root => string.IsNullOrEmpty(_options.Directory) ? Path.Combine(durability.Value.ResolveDataDirectory(), "volumes") : _options.Directory;

    private string OwnerDir(string owner) => Path.Combine(Root, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(owner)))[..24]);

    private string RecordPath(string owner, string name) => Path.Combine(OwnerDir(owner), name + ".json");

    /// <summary>Where a volume's content is kept.</summary>
    internal string ArchivePath(string owner, string name) => Path.Combine(OwnerDir(owner), name + ".tar");

    private SemaphoreSlim Lock(string owner, string name) => _locks.GetOrAdd(owner + "\n" + name, _ => new SemaphoreSlim(1, 1));

    /// <summary>Creates an empty volume of <paramref name="sizeMb"/> MiB (default 1024, at most the server maximum).</summary>
    public async Task<VolumeInfo> CreateAsync(string owner, string name, int? sizeMb, CancellationToken ct)
    {
        CheckName(name);
        var size = sizeMb ?? Math.Min(1024, _options.MaxSizeMb);
        if (size < 1 || size > _options.MaxSizeMb)
        {
            throw new SandboxException(size < 1 ? SandboxErrorCodes.InvalidArgument : SandboxErrorCodes.LimitExceeded,
                $"A volume's size is 1 to {_options.MaxSizeMb} MiB; {size} was asked for.");
        }
        var gate = Lock(owner, name);
        await gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (File.Exists(RecordPath(owner, name)))
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"You have a volume named '{name}' already.");
            }
            if (List(owner).Count >= _options.MaxPerOwner)
            {
                throw new SandboxException(SandboxErrorCodes.LimitExceeded, $"You keep {_options.MaxPerOwner} volumes already (the most this server allows); delete one first.");
            }
            Directory.CreateDirectory(OwnerDir(owner));
            var now = time.GetUtcNow();
            var record = new Record(name, owner, size, 0, 0, now, now, []);
            await WriteRecordAsync(record, ct).ConfigureAwait(false);
            return Info(record);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>The caller's volumes, by name.</summary>
    public IReadOnlyList<VolumeInfo> List(string owner)
    {
        var dir = OwnerDir(owner);
        return !Directory.Exists(dir) ? []
            : Directory.EnumerateFiles(dir, "*.json").Select(f => ReadRecord(f)).OfType<Record>().Where(r => r.Owner == owner)
                .OrderBy(r => r.Name, StringComparer.Ordinal).Select(Info).ToList();
    }

    /// <summary>One of the caller's volumes.</summary>
    public VolumeInfo Get(string owner, string name) => Info(Find(owner, name));

    /// <summary>Deletes a volume: refused while sessions mount it unless <paramref name="force"/>, which detaches them first
    /// (they keep their copies until they close; nothing is saved back).</summary>
    public async Task DeleteAsync(string owner, string name, bool force, CancellationToken ct)
    {
        var gate = Lock(owner, name);
        await gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var record = Find(owner, name);
            var mounts = Live(record.Mounts);
            if (mounts.Count > 0 && !force)
            {
                throw new SandboxException(SandboxErrorCodes.VolumeBusy,
                    $"Volume '{name}' is mounted by session(s) {string.Join(", ", mounts.Select(m => m.SessionId))}. Close them, or delete with force.");
            }
            File.Delete(RecordPath(owner, name));
            File.Delete(ArchivePath(owner, name));
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Checks a new session's mounts before its sandbox is made: the volumes exist, the paths are allowed and
    /// distinct, no other session writes a volume to be written; returns what the backend mounts.</summary>
    internal IReadOnlyList<SandboxVolume> Plan(string owner, IReadOnlyList<VolumeMountRequest>? requests)
    {
        if (requests is not { Count: > 0 })
        {
            return [];
        }
        if (requests.Count > _options.MaxPerSession)
        {
            throw new SandboxException(SandboxErrorCodes.LimitExceeded, $"A session mounts at most {_options.MaxPerSession} volumes.");
        }
        var plan = new List<SandboxVolume>();
        var paths = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (r, i) in requests.Select((r, i) => (r, i)))
        {
            var record = Find(owner, r.Name);
            var path = MountPath(r.Path);
            if (!paths.Add(path) || paths.Any(p => p != path && (p.StartsWith(path + "/", StringComparison.Ordinal) || path.StartsWith(p + "/", StringComparison.Ordinal))))
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"Two volumes cannot share or nest mount paths ({path}).");
            }
            var writer = Live(record.Mounts).FirstOrDefault(m => !m.ReadOnly);
            if (!r.ReadOnly && (writer is not null || requests.Count(x => x.Name == r.Name && !x.ReadOnly) > 1))
            {
                throw new SandboxException(SandboxErrorCodes.VolumeBusy,
                    $"Volume '{r.Name}' is mounted read-write already{(writer is null ? "" : " by session " + writer.SessionId)}: one session writes a volume at a time. Mount it read-only, or close that session.");
            }
            plan.Add(new SandboxVolume(i.ToString(CultureInfo.InvariantCulture), path, r.ReadOnly, record.SizeMb));
        }
        return plan;
    }

    /// <summary>Records a new session's mounts (checking again that no other session writes them) and fills its copies
    /// from the volumes' saved content. On failure nothing stays recorded.</summary>
    internal async Task AttachAsync(Session session, IReadOnlyList<VolumeMountRequest> requests, CancellationToken ct)
    {
        _pending[session.Id] = 0;
        try
        {
            foreach (var r in requests)
            {
                var gate = Lock(session.Owner, r.Name);
                await gate.WaitAsync(ct).ConfigureAwait(false);
                try
                {
                    var record = Find(session.Owner, r.Name);
                    var mounts = Live(record.Mounts);
                    if (!r.ReadOnly && mounts.FirstOrDefault(m => !m.ReadOnly) is { } writer)
                    {
                        throw new SandboxException(SandboxErrorCodes.VolumeBusy, $"Volume '{r.Name}' was mounted read-write by session {writer.SessionId} meanwhile.");
                    }
                    await WriteRecordAsync(record with { Mounts = [.. mounts, new VolumeMount(session.Id, r.ReadOnly, MountPath(r.Path))] }, ct).ConfigureAwait(false);
                }
                finally
                {
                    gate.Release();
                }
                var archive = ArchivePath(session.Owner, r.Name);
                if (File.Exists(archive))
                {
                    var owned = await VolumeArchive.OwnedByAsync(archive, r.ReadOnly ? 0 : 1000, ct).ConfigureAwait(false);
                    try
                    {
                        await using var content = File.OpenRead(owned);
                        await backend.PutArchiveAsync(session.ContainerId, MountPath(r.Path), content, ct).ConfigureAwait(false);
                    }
                    finally
                    {
                        File.Delete(owned);
                    }
                }
            }
        }
        catch
        {
            await DetachAsync(session.Owner, session.Id, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
        finally
        {
            _pending.TryRemove(session.Id, out _);
        }
    }

    /// <summary>Before a session's sandbox is removed: its read-write volumes are saved back, and its mounts end.</summary>
    async Task ISessionClosingWork.BeforeRemoveAsync(Session session, CancellationToken ct)
    {
        foreach (var record in List(session.Owner).Select(v => Find(session.Owner, v.Name)))
        {
            if (record.Mounts.FirstOrDefault(m => m.SessionId == session.Id) is not { ReadOnly: false, Path: var path })
            {
                continue;
            }
            try
            {
                await SaveBackAsync(session, record.Name, path, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SandboxException or IOException or OperationCanceledException or InvalidDataException or FormatException)
            {
                LogSaveFailed(logger, record.Name, session.Id, e.Message);
            }
        }
        await DetachAsync(session.Owner, session.Id, ct).ConfigureAwait(false);
    }

    private async Task SaveBackAsync(Session session, string name, string path, CancellationToken ct)
    {
        var gate = Lock(session.Owner, name);
        await gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var record = Find(session.Owner, name);
            await registry.EnsureRunningAsync(session, ct).ConfigureAwait(false);
            await CommitAsync(record, async (r, target) =>
            {
                await using var raw = StreamCopy.TempFile();
                await using (var archive = await backend.GetArchiveAsync(session.ContainerId, path, ct).ConfigureAwait(false))
                {
                    await StreamCopy.CopyCappedAsync(archive, raw, ((long)r.SizeMb << 20) * 2 + (64L << 20),
                        () => $"Volume '{name}' came back larger than its size; nothing was saved.", ct).ConfigureAwait(false);
                }
                raw.Position = 0;
                return await VolumeArchive.CopyAsync(raw, target, path[(path.LastIndexOf('/') + 1)..] + "/", 1000, long.MaxValue, null, ct).ConfigureAwait(false);
            }, ct).ConfigureAwait(false);
        }
        finally
        {
            gate.Release();
        }
    }

    private async Task DetachAsync(string owner, string sessionId, CancellationToken ct)
    {
        foreach (var v in List(owner).Where(v => v.Mounts.Any(m => m.SessionId == sessionId)))
        {
            var gate = Lock(owner, v.Name);
            await gate.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                if (ReadRecord(RecordPath(owner, v.Name)) is { } record)
                {
                    await WriteRecordAsync(record with { Mounts = record.Mounts.Where(m => m.SessionId != sessionId).ToList() }, ct).ConfigureAwait(false);
                }
            }
            finally
            {
                gate.Release();
            }
        }
    }

    /// <summary>An allowed mount path, normalized: absolute, under <see cref="MountRoots"/> (not the root itself).</summary>
    public static string MountPath(string path)
    {
        var p = (path ?? "").Trim().TrimEnd('/');
        if (!p.StartsWith('/') || p.Split('/').Skip(1).Any(s => s is "" or "." or "..") || !MountPathShape().IsMatch(p)
            || !MountRoots.Any(root => p.StartsWith(root + "/", StringComparison.Ordinal)))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidPath,
                $"A volume's path is an absolute path below {string.Join(", ", MountRoots)} (e.g. /data/datasets), of letters, digits, '.', '_', '-' and '/'; '{SafeText.Shorten(path)}' is not.");
        }
        return p;
    }

    private static void CheckName(string name)
    {
        if (!NameShape().IsMatch(name ?? ""))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "A volume's name is lower-case letters, digits, '.', '_' or '-', starting with a letter or digit, at most 63 characters.");
        }
    }

    private Record Find(string owner, string name)
    {
        CheckName(name);
        return ReadRecord(RecordPath(owner, name)) is { } r && r.Owner == owner ? r
            : throw new SandboxException(SandboxErrorCodes.VolumeNotFound, $"You have no volume '{SafeText.Shorten(name, 64)}'. list_volumes shows yours.");
    }

    // Mounts of sessions that are gone (closed while this server was down, lost) no longer count.
    private List<VolumeMount> Live(IEnumerable<VolumeMount> mounts) =>
        mounts.Where(m => _pending.ContainsKey(m.SessionId) || registry.All.Any(s => s.Id == m.SessionId)).ToList();

    private VolumeInfo Info(Record r) => new(r.Name, r.SizeMb, r.UsedBytes, r.Files, r.CreatedAt, r.UpdatedAt, Live(r.Mounts));

    private static Record? ReadRecord(string path)
    {
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize<Record>(File.ReadAllText(path)) : null;
        }
        catch (Exception e) when (e is JsonException or IOException)
        {
            return null;
        }
    }

    private async Task WriteRecordAsync(Record record, CancellationToken ct)
    {
        var path = RecordPath(record.Owner, record.Name);
        var staging = path + ".new";
        await File.WriteAllTextAsync(staging, JsonSerializer.Serialize(record), ct).ConfigureAwait(false);
        File.Move(staging, path, overwrite: true);
    }

    private static byte[] EmptyTar() => new byte[1024];

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,62}$")]
    private static partial Regex NameShape();

    [GeneratedRegex("^[A-Za-z0-9._/-]{1,200}$")]
    private static partial Regex MountPathShape();

    [LoggerMessage(Level = LogLevel.Warning, Message = "Volume {Volume} could not be saved back from session {SessionId}: {Error}")]
    private static partial void LogSaveFailed(ILogger logger, string volume, string sessionId, string error);
}
