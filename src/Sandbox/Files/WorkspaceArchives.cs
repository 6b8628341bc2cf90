using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using Sandbox.Backend;
using Sandbox.Runner;
using Sandbox.Sessions;
using static Sandbox.Runner.RunnerJson;

namespace Sandbox.Files;

/// <summary>What an uploaded archive became.</summary>
/// <param name="Path">The workspace directory it was unpacked into (empty: the workspace itself).</param>
/// <param name="Files">Regular files written.</param>
/// <param name="Directories">Directories in it.</param>
/// <param name="Links">Symbolic links (each pointing inside it).</param>
/// <param name="Bytes">Bytes written.</param>
public sealed record ArchiveExtraction(string Path, int Files, int Directories, int Links, long Bytes);

/// <summary>The formats a directory leaves the workspace in.</summary>
public enum ArchiveFormat
{
    /// <summary>A zip (regular files and directories; links are left out, zip has no portable form for them).</summary>
    Zip,
    /// <summary>A gzip-compressed tar (links kept).</summary>
    TarGz,
}

/// <summary>
/// Whole directories in and out of a workspace. In: an archive (zip, tar, tar.gz, tar.bz2, tar.xz) is written into the
/// session's hidden <c>.sandbox/</c> folder, then unpacked by the runner as the sandbox user, checked entry by entry
/// (no absolute names, no <c>..</c>, links only inside, no special files, bounded entries and bytes) and staged, so a
/// refused archive writes nothing. Out: a directory as a zip or tar.gz, streamed from the engine's archive of it,
/// without the session's own <c>.sandbox/</c> folder.
/// </summary>
public sealed class WorkspaceArchives(SessionRegistry registry, WorkspaceStreams streams, ISandboxBackend backend, IOptions<WorkspaceFileOptions> options, TimeProvider time)
{
    private readonly WorkspaceFileOptions _options = options.Value;

    /// <summary>Unpacks <paramref name="length"/> bytes of <paramref name="archive"/> into <paramref name="directory"/>
    /// (created when missing; files of the same name are replaced, directories merge).</summary>
    public async Task<ArchiveExtraction> UploadAsync(string sessionId, string owner, string directory, Stream archive, long length, CancellationToken ct)
    {
        var dest = WorkspacePath.Normalize(directory, allowRoot: true);
        if (dest.Split('/')[0] is ".git" or ".sandbox")
        {
            throw new SandboxException(SandboxErrorCodes.InvalidPath, "An archive is not unpacked into .git or .sandbox.");
        }
        var temp = $".sandbox/uploads/{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}.archive";
        await streams.WriteAsync(sessionId, owner, temp, archive, length, _options.MaxUploadBytes, ct).ConfigureAwait(false);
        var session = registry.Get(sessionId, owner);
        var space = await session.Live.AskAsync(new SpaceRequest(), TimeSpan.FromSeconds(10), "space", ct).ConfigureAwait(false);
        var room = Math.Max(0, Long(space.Body, "free") - (1 << 20));
        var reply = await session.Live.AskAsync(new ExtractRequest(temp, dest, _options.MaxArchiveEntries, Math.Min(_options.MaxArchiveBytes, room)),
            TimeSpan.FromMinutes(10), "extract", ct).ConfigureAwait(false);
        session.Touch(time.GetUtcNow());
        if (reply.Type == "error")
        {
            var code = Str(reply.Body, "code") switch
            {
                SandboxErrorCodes.InvalidArchive => SandboxErrorCodes.InvalidArchive,
                SandboxErrorCodes.UnsafeArchive => SandboxErrorCodes.UnsafeArchive,
                SandboxErrorCodes.LimitExceeded => SandboxErrorCodes.LimitExceeded,
                SandboxErrorCodes.WorkspaceFull => SandboxErrorCodes.WorkspaceFull,
                _ => SandboxErrorCodes.InvalidPath,
            };
            throw new SandboxException(code, $"The archive was not unpacked (nothing was written): {SafeText.Shorten(Str(reply.Body, "message"), 500)}");
        }
        return new ArchiveExtraction(Str(reply.Body, "path") ?? dest, Int(reply.Body, "files") ?? 0, Int(reply.Body, "dirs") ?? 0, Int(reply.Body, "links") ?? 0,
            Long(reply.Body, "bytes"));
    }

    /// <summary>Unpacks a caller's context archive of a session being created at <c>/context/&lt;name&gt;</c>: written
    /// into the workspace's hidden folder through the engine, then unpacked by the runner as root (so the sandbox user
    /// can read and not change it), checked and staged as every archive is.</summary>
    internal async Task UnpackContextAsync(Session session, string name, ReadOnlyMemory<byte> archive, CancellationToken ct)
    {
        if (archive.Length > _options.MaxUploadBytes)
        {
            throw new SandboxException(SandboxErrorCodes.FileTooLarge, $"Context archive '{name}' is {archive.Length} bytes, above the upload cap of {_options.MaxUploadBytes} bytes.");
        }
        var temp = $".sandbox/uploads/{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}.context";
        using (var body = new MemoryStream(archive.ToArray(), writable: false))
        await using (var tar = TarStreams.Wrap([".sandbox", ".sandbox/uploads"], temp, body, body.Length, time.GetUtcNow()))
        {
            await backend.PutArchiveAsync(session.ContainerId, WorkspacePath.Root, tar, ct).ConfigureAwait(false);
        }
        var reply = await session.Live.AskAsync(new ExtractContextRequest(temp, name, _options.MaxArchiveEntries, _options.MaxArchiveBytes),
            TimeSpan.FromMinutes(10), "context archive", ct).ConfigureAwait(false);
        if (reply.Type == "error")
        {
            var code = Str(reply.Body, "code") is SandboxErrorCodes.UnsafeArchive or SandboxErrorCodes.LimitExceeded or SandboxErrorCodes.WorkspaceFull or SandboxErrorCodes.InvalidPath
                ? Str(reply.Body, "code")! : SandboxErrorCodes.InvalidArchive;
            throw new SandboxException(code, $"Context archive '{name}' was not unpacked (the session was not created): {SafeText.Shorten(Str(reply.Body, "message"), 500)}");
        }
    }

    /// <summary>Writes the workspace directory <paramref name="directory"/> (empty: all of it) to
    /// <paramref name="output"/> as a zip or tar.gz whose names are relative to it. The session's <c>.sandbox/</c>
    /// folder is left out. Refused (before a byte is written) for a path that is not a directory or leaves the
    /// workspace through a link.</summary>
    public async Task WriteAsync(string sessionId, string owner, string directory, ArchiveFormat format, Stream output, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(output);
        var session = registry.Get(sessionId, owner);
        session.EnsureUsable();
        await registry.EnsureRunningAsync(session, ct).ConfigureAwait(false);
        var relative = WorkspacePath.Normalize(directory, allowRoot: true);
        var resolved = await WorkspaceResolver.ResolveAsync(backend, session.ContainerId, relative, ct).ConfigureAwait(false);
        if (resolved.Stat is not { IsDirectory: true })
        {
            throw new SandboxException(resolved.Stat is null ? SandboxErrorCodes.FileNotFound : SandboxErrorCodes.InvalidPath,
                $"'{SafeText.Shorten(relative)}' is not a directory of the workspace.");
        }
        // The engine's archive is first copied whole into a temporary file (capped): its chunked stream does not
        // tolerate the partial reads a tar parser makes.
        await using var tar = new FileStream(System.IO.Path.GetTempFileName(), FileMode.Open, FileAccess.ReadWrite, FileShare.None, 81920, FileOptions.DeleteOnClose | FileOptions.Asynchronous);
        await using (var engine = await backend.GetArchiveAsync(session.ContainerId, WorkspacePath.ToContainerPath(resolved.Relative), ct).ConfigureAwait(false))
        {
            await StreamCopy.CopyCappedAsync(engine, tar, _options.MaxArchiveBytes, () =>
                $"'{SafeText.Shorten(relative)}' holds more than {_options.MaxArchiveBytes} bytes (Sandbox:Files:MaxArchiveBytes): archive a smaller directory.", ct).ConfigureAwait(false);
        }
        tar.Position = 0;
        var atRoot = resolved.Relative.Length == 0;
        await using var reader = new TarReader(tar, leaveOpen: true);
        if (format == ArchiveFormat.Zip)
        {
            await using var zip = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true);
            while (await reader.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false) is { } entry)
            {
                if (Inner(entry.Name, atRoot) is not { } name || entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.Directory))
                {
                    continue;
                }
                var item = zip.CreateEntry(entry.EntryType == TarEntryType.Directory ? name.TrimEnd('/') + "/" : name, CompressionLevel.Fastest);
                item.LastWriteTime = entry.ModificationTime;
                item.ExternalAttributes = ((int)entry.Mode | (entry.EntryType == TarEntryType.Directory ? 0x4000 : 0x8000)) << 16;
                if (entry.DataStream is { } data)
                {
                    await using var target = await item.OpenAsync(ct).ConfigureAwait(false);
                    await data.CopyToAsync(target, ct).ConfigureAwait(false);
                }
            }
        }
        else
        {
            await using var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true);
            await using var writer = new TarWriter(gzip, TarEntryFormat.Pax, leaveOpen: true);
            while (await reader.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false) is { } entry)
            {
                if (Inner(entry.Name, atRoot) is not { } name)
                {
                    continue;
                }
                var copy = new PaxTarEntry(entry.EntryType is TarEntryType.V7RegularFile ? TarEntryType.RegularFile : entry.EntryType, name)
                {
                    Mode = entry.Mode, ModificationTime = entry.ModificationTime, Uid = entry.Uid, Gid = entry.Gid,
                };
                if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile)
                {
                    copy.DataStream = entry.DataStream;
                }
                if (entry.EntryType is TarEntryType.SymbolicLink or TarEntryType.HardLink)
                {
                    copy.LinkName = entry.EntryType == TarEntryType.HardLink ? Inner(entry.LinkName, atRoot) ?? entry.LinkName : entry.LinkName;
                }
                await writer.WriteEntryAsync(copy, ct).ConfigureAwait(false);
            }
        }
        session.Touch(time.GetUtcNow());
    }

    /// <summary>Saves the directory as an archive under <c>.sandbox/exports/</c> in the workspace (for a link or an
    /// answer that cannot stream) and returns its workspace path and size.</summary>
    public async Task<(string Path, long Size)> SaveAsync(string sessionId, string owner, string directory, ArchiveFormat format, CancellationToken ct)
    {
        var relative = WorkspacePath.Normalize(directory, allowRoot: true);
        var temp = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"sandbox-archive-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}");
        try
        {
            await using (var file = File.Create(temp))
            {
                await WriteAsync(sessionId, owner, relative, format, file, ct).ConfigureAwait(false);
            }
            var name = (relative.Length == 0 ? "workspace" : relative.Split('/')[^1]) + "-" + time.GetUtcNow().ToString("yyyyMMdd-HHmmss", System.Globalization.CultureInfo.InvariantCulture)
                + (format == ArchiveFormat.Zip ? ".zip" : ".tar.gz");
            var path = ".sandbox/exports/" + name;
            await using var read = File.OpenRead(temp);
            await streams.WriteAsync(sessionId, owner, path, read, read.Length, long.MaxValue, ct).ConfigureAwait(false);
            return (path, read.Length);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>An engine archive entry's name relative to the directory asked for (its first part is the directory's
    /// own name), or null for the directory itself and for the session's <c>.sandbox/</c> folder.</summary>
    private static string? Inner(string name, bool atRoot)
    {
        var slash = name.IndexOf('/', StringComparison.Ordinal);
        var inner = slash < 0 ? "" : name[(slash + 1)..];
        if (inner.Length == 0 || inner == "/")
        {
            return null;
        }
        return atRoot && (inner == ".sandbox" || inner.StartsWith(".sandbox/", StringComparison.Ordinal)) ? null : inner;
    }
}
