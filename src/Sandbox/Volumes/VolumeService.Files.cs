using System.Formats.Tar;
using Sandbox.Files;

namespace Sandbox.Volumes;

/// <summary>The files of a volume without a session: they read its saved content, and change it (a new archive renamed
/// into place) only while no session mounts it read-write.</summary>
public sealed partial class VolumeService
{
    /// <summary>The entries of a volume's saved content.</summary>
    public async Task<IReadOnlyList<VolumeEntry>> ListFilesAsync(string owner, string name, CancellationToken ct)
    {
        Find(owner, name);
        return await VolumeArchive.ListAsync(ArchivePath(owner, name), ct).ConfigureAwait(false);
    }

    /// <summary>One file of a volume's saved content.</summary>
    public async Task<byte[]> DownloadAsync(string owner, string name, string path, long maxBytes, CancellationToken ct)
    {
        Find(owner, name);
        var normalized = WorkspacePath.Normalize(path);
        return await VolumeArchive.ReadAsync(ArchivePath(owner, name), normalized, maxBytes, ct).ConfigureAwait(false)
            ?? throw new SandboxException(SandboxErrorCodes.FileNotFound, $"Volume '{name}' has no file {normalized}.");
    }

    /// <summary>The saved content as a tar archive (the caller disposes the stream).</summary>
    public Stream OpenArchive(string owner, string name)
    {
        Find(owner, name);
        var path = ArchivePath(owner, name);
        return File.Exists(path) ? File.OpenRead(path) : new MemoryStream(EmptyTar());
    }

    /// <summary>Writes one file into a volume (replacing one at that path), while no session mounts it read-write.</summary>
    public Task<VolumeInfo> UploadAsync(string owner, string name, string path, Stream content, CancellationToken ct)
    {
        var normalized = WorkspacePath.Normalize(path);
        return ChangeAsync(owner, name, async (record, target) =>
        {
            await using var empty = new MemoryStream(EmptyTar());
            await using var old = File.Exists(ArchivePath(owner, name)) ? File.OpenRead(ArchivePath(owner, name)) : (Stream)empty;
            return await VolumeArchive.CopyAsync(old, target, "", 1000, (long)record.SizeMb << 20, normalized, ct, async writer =>
            {
                await using var staged = StreamCopy.TempFile();
                long length;
                try
                {
                    length = await StreamCopy.CopyCappedAsync(content, staged, (long)record.SizeMb << 20, () => "", ct).ConfigureAwait(false);
                }
                catch (SandboxException e) when (e.Code == SandboxErrorCodes.FileTooLarge)
                {
                    throw new SandboxException(SandboxErrorCodes.LimitExceeded, $"The file is larger than volume '{name}' ({record.SizeMb} MiB). Create a larger volume.");
                }
                staged.Position = 0;
                await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, normalized)
                {
                    DataStream = staged, Mode = (UnixFileMode)0b110_100_100, Uid = 1000, Gid = 1000, ModificationTime = time.GetUtcNow(),
                }, ct).ConfigureAwait(false);
                return length;
            }).ConfigureAwait(false);
        }, ct);
    }

    /// <summary>Replaces a volume's whole content with a tar archive, while no session mounts it read-write.</summary>
    public Task<VolumeInfo> ReplaceAsync(string owner, string name, Stream tar, CancellationToken ct) =>
        ChangeAsync(owner, name, (record, target) => VolumeArchive.CopyAsync(tar, target, "", 1000, (long)record.SizeMb << 20, null, ct), ct);

    private async Task<VolumeInfo> ChangeAsync(string owner, string name, Func<Record, string, Task<VolumeArchive.Content>> write, CancellationToken ct)
    {
        var gate = Lock(owner, name);
        await gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var record = Find(owner, name);
            if (Live(record.Mounts).FirstOrDefault(m => !m.ReadOnly) is { } writer)
            {
                throw new SandboxException(SandboxErrorCodes.VolumeBusy,
                    $"Volume '{name}' is mounted read-write by session {writer.SessionId}: change its files there (they are saved back when it closes).");
            }
            return Info(await CommitAsync(record, write, ct).ConfigureAwait(false));
        }
        finally
        {
            gate.Release();
        }
    }

    // Writes the new content beside the old and renames it into place; then the record.
    private async Task<Record> CommitAsync(Record record, Func<Record, string, Task<VolumeArchive.Content>> write, CancellationToken ct)
    {
        var archive = ArchivePath(record.Owner, record.Name);
        var staging = archive + "." + Guid.NewGuid().ToString("N")[..8] + ".new";
        try
        {
            var content = await write(record, staging).ConfigureAwait(false);
            File.Move(staging, archive, overwrite: true);
            var updated = record with { UsedBytes = content.Bytes, Files = content.Files, UpdatedAt = time.GetUtcNow() };
            await WriteRecordAsync(updated, ct).ConfigureAwait(false);
            return updated;
        }
        finally
        {
            File.Delete(staging);
        }
    }
}
