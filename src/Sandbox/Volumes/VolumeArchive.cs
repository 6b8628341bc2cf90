using System.Formats.Tar;
using Sandbox.Files;

namespace Sandbox.Volumes;

/// <summary>A volume's content as kept on disk: a tar archive of regular files, directories and symbolic links with
/// relative, normalized names. Every change writes a new archive beside the old one and renames it into place, so a
/// crash leaves either version, never half of one.</summary>
internal static class VolumeArchive
{
    /// <summary>What an archive holds.</summary>
    public sealed record Content(long Bytes, int Files);

    /// <summary>The entries of an archive (none for a missing one).</summary>
    public static async Task<List<VolumeEntry>> ListAsync(string archive, CancellationToken ct)
    {
        var list = new List<VolumeEntry>();
        if (!File.Exists(archive))
        {
            return list;
        }
        await using var stream = File.OpenRead(archive);
        using var reader = new TarReader(stream);
        while (await reader.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false) is { } e)
        {
            list.Add(new VolumeEntry(e.Name.TrimEnd('/'), e.EntryType == TarEntryType.Directory ? "directory" : e.EntryType == TarEntryType.SymbolicLink ? "symlink" : "file", e.Length));
        }
        return list;
    }

    /// <summary>Copies <paramref name="source"/> (a tar stream) into a new archive at <paramref name="target"/>, keeping
    /// files, directories and links only, names relative (stripping <paramref name="prefix"/>), normalized and owned by
    /// <paramref name="uid"/>; anything escaping (absolute, <c>..</c>) is refused. <paramref name="skip"/> leaves a path
    /// (and what is below it) out. Throws <c>limit_exceeded</c> past <paramref name="maxBytes"/> of file content.</summary>
    public static async Task<Content> CopyAsync(Stream source, string target, string prefix, int uid, long maxBytes, string? skip, CancellationToken ct,
        Func<TarWriter, Task<long>>? append = null)
    {
        long bytes = 0;
        var files = 0;
        await using (var output = new FileStream(target, FileMode.CreateNew, FileAccess.Write))
        await using (var writer = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true))
        {
            using var reader = new TarReader(source, leaveOpen: true);
            while (await reader.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false) is { } e)
            {
                var raw = e.Name.TrimEnd('/');
                if (prefix.Length > 0)
                {
                    if (raw == prefix.TrimEnd('/') || !raw.StartsWith(prefix, StringComparison.Ordinal))
                    {
                        continue;
                    }
                    raw = raw[prefix.Length..];
                }
                if (e.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.Directory or TarEntryType.SymbolicLink))
                {
                    continue;
                }
                var name = WorkspacePath.Normalize(raw);
                if (skip is not null && (name == skip || name.StartsWith(skip + "/", StringComparison.Ordinal)))
                {
                    continue;
                }
                var kind = e.EntryType == TarEntryType.V7RegularFile ? TarEntryType.RegularFile : e.EntryType;
                var copy = new PaxTarEntry(kind, name)
                {
                    Mode = kind == TarEntryType.Directory ? (UnixFileMode)0b111_101_101 : e.Mode & (UnixFileMode)0b111_101_101,
                    ModificationTime = e.ModificationTime, Uid = uid, Gid = uid,
                };
                if (kind == TarEntryType.RegularFile)
                {
                    bytes += e.Length;
                    copy.DataStream = e.DataStream;
                }
                else if (kind == TarEntryType.SymbolicLink)
                {
                    copy.LinkName = e.LinkName;
                }
                if (bytes > maxBytes)
                {
                    throw Full(maxBytes);
                }
                await writer.WriteEntryAsync(copy, ct).ConfigureAwait(false);
                files++;
            }
            if (append is not null)
            {
                bytes += await append(writer).ConfigureAwait(false);
                files++;
                if (bytes > maxBytes)
                {
                    throw Full(maxBytes);
                }
            }
        }
        return new Content(bytes, files);
    }

    /// <summary>The archive with its entries' owner set to <paramref name="uid"/> (what a mount of it is filled with).</summary>
    public static async Task<string> OwnedByAsync(string archive, int uid, CancellationToken ct)
    {
        var copy = Path.Combine(Path.GetTempPath(), "sandbox-volume-" + Guid.NewGuid().ToString("N") + ".tar");
        await using var source = File.OpenRead(archive);
        await CopyAsync(source, copy, "", uid, long.MaxValue, null, ct).ConfigureAwait(false);
        return copy;
    }

    /// <summary>One regular file of an archive, or null.</summary>
    public static async Task<byte[]?> ReadAsync(string archive, string path, long maxBytes, CancellationToken ct)
    {
        if (!File.Exists(archive))
        {
            return null;
        }
        await using var stream = File.OpenRead(archive);
        using var reader = new TarReader(stream);
        while (await reader.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false) is { } e)
        {
            if (e.Name.TrimEnd('/') != path || e.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile))
            {
                continue;
            }
            if (e.Length > maxBytes)
            {
                throw new SandboxException(SandboxErrorCodes.FileTooLarge, $"{path} is {e.Length} bytes, more than one download carries ({maxBytes}); download the volume's archive instead.");
            }
            using var buffer = new MemoryStream();
            if (e.DataStream is not null)
            {
                await e.DataStream.CopyToAsync(buffer, ct).ConfigureAwait(false);
            }
            return buffer.ToArray();
        }
        return null;
    }

    private static SandboxException Full(long maxBytes) =>
        new(SandboxErrorCodes.LimitExceeded, $"The volume is full: its files would pass its size of {maxBytes >> 20} MiB. Delete files or create a larger volume.");
}
