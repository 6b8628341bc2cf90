using System.Formats.Tar;
using System.Text.Json;
using System.Threading.Channels;
using Docker.DotNet.Models;
using Sandbox.Docker;
using Sandbox.Files;

namespace Sandbox.Sessions;

public sealed partial class SessionManager
{
    private const int MaxLinkHops = 8;

    /// <summary>Writes a file into the workspace (parents are created). Nothing is written when a check fails.</summary>
    public async Task<FileEntry> UploadFileAsync(string sessionId, string owner, string path, Stream content, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(content);
        var session = Get(sessionId, owner);
        session.EnsureUsable();
        var relative = WorkspacePath.Normalize(path);
        await EnsureRunningAsync(session, ct).ConfigureAwait(false);

        // Buffer to a temporary file with the cap enforced while reading: a huge body never reaches the engine.
        await using var data = new FileStream(Path.GetTempFileName(), FileMode.Open, FileAccess.ReadWrite, FileShare.None, 81920, FileOptions.DeleteOnClose);
        var buffer = new byte[81920];
        long total = 0;
        int read;
        while ((read = await content.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
        {
            total += read;
            if (total > _options.MaxUploadBytes)
            {
                throw new SandboxException(SandboxErrorCodes.FileTooLarge,
                    $"The file is larger than the upload cap of {_options.MaxUploadBytes} bytes; nothing was written.");
            }
            await data.WriteAsync(buffer.AsMemory(0, read), ct).ConfigureAwait(false);
        }
        data.Position = 0;

        var existing = await ResolveAsync(session, relative, ct).ConfigureAwait(false);
        if (existing.Stat is { } stat && IsDirectory(stat))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidPath, $"'{relative}' is a directory; give a file path.");
        }
        var target = existing.Relative;
        await using var tar = new FileStream(Path.GetTempFileName(), FileMode.Open, FileAccess.ReadWrite, FileShare.None, 81920, FileOptions.DeleteOnClose);
        await using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            var segments = target.Split('/');
            var now = _time.GetUtcNow();
            for (var i = 1; i < segments.Length; i++)
            {
                var dir = new PaxTarEntry(TarEntryType.Directory, string.Join('/', segments[..i]) + "/")
                {
                    Uid = 1000, Gid = 1000, Mode = (UnixFileMode)0b111_101_101, ModificationTime = now,
                };
                await writer.WriteEntryAsync(dir, ct).ConfigureAwait(false);
            }
            var entry = new PaxTarEntry(TarEntryType.RegularFile, target)
            {
                Uid = 1000, Gid = 1000, Mode = (UnixFileMode)0b110_100_100, ModificationTime = now, DataStream = data,
            };
            await writer.WriteEntryAsync(entry, ct).ConfigureAwait(false);
        }
        tar.Position = 0;
        await _backend.PutArchiveAsync(session.ContainerId, WorkspacePath.Root, tar, ct).ConfigureAwait(false);
        session.Touch(_time.GetUtcNow());
        return new FileEntry(target.Split('/')[^1], target, "file", total, _time.GetUtcNow());
    }

    /// <summary>Reads a file, or a directory as a tar archive.</summary>
    public async Task<DownloadedFile> DownloadFileAsync(string sessionId, string owner, string path, CancellationToken ct)
    {
        var session = Get(sessionId, owner);
        session.EnsureUsable();
        var relative = WorkspacePath.Normalize(path, allowRoot: true);
        await EnsureRunningAsync(session, ct).ConfigureAwait(false);
        var resolved = await ResolveAsync(session, relative, ct).ConfigureAwait(false);
        if (resolved.Stat is not { } stat)
        {
            throw new SandboxException(SandboxErrorCodes.FileNotFound, $"No file '{Shorten(relative)}' in the workspace. Use list_files to see what is there.");
        }
        var isDir = IsDirectory(stat);
        if (!isDir && stat.Size > _options.MaxDownloadBytes)
        {
            throw new SandboxException(SandboxErrorCodes.FileTooLarge,
                $"'{Shorten(relative)}' is {stat.Size} bytes, above the download cap of {_options.MaxDownloadBytes} bytes.");
        }
        // The archive is read whole (capped: file size plus tar framing) before parsing: the engine's chunked
        // stream does not tolerate the partial reads a tar parser makes.
        using var raw = new MemoryStream();
        await using (var archive = await _backend.GetArchiveAsync(session.ContainerId, WorkspacePath.ToContainerPath(resolved.Relative), ct).ConfigureAwait(false))
        {
            await CopyCappedAsync(archive, raw, isDir ? _options.MaxDownloadBytes : _options.MaxDownloadBytes + 64 * 1024, relative, ct).ConfigureAwait(false);
        }
        raw.Position = 0;
        using var output = new MemoryStream();
        if (isDir)
        {
            raw.CopyTo(output);
        }
        else
        {
            using var reader = new TarReader(raw, leaveOpen: true);
            var entry = await reader.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false);
            if (entry is null || entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile))
            {
                throw new SandboxException(SandboxErrorCodes.InvalidPath, $"'{Shorten(relative)}' is not a regular file.");
            }
            if (entry.DataStream is not null)
            {
                await CopyCappedAsync(entry.DataStream, output, _options.MaxDownloadBytes, relative, ct).ConfigureAwait(false);
            }
        }
        session.Touch(_time.GetUtcNow());
        return new DownloadedFile(resolved.Relative, isDir, output.ToArray());
    }

    /// <summary>Lists a workspace directory (not recursive).</summary>
    public async Task<IReadOnlyList<FileEntry>> ListFilesAsync(string sessionId, string owner, string? directory, CancellationToken ct)
    {
        var session = Get(sessionId, owner);
        session.EnsureUsable();
        var relative = WorkspacePath.Normalize(directory, allowRoot: true);
        await EnsureRunningAsync(session, ct).ConfigureAwait(false);
        var reply = await RunnerFileOpAsync(session, "list", relative, ct).ConfigureAwait(false);
        var list = new List<FileEntry>();
        if (reply.TryGetProperty("entries", out var entries) && entries.ValueKind == JsonValueKind.Array)
        {
            foreach (var e in entries.EnumerateArray())
            {
                if (Str(e, "name") is not { } name || name.Contains('/', StringComparison.Ordinal))
                {
                    continue;
                }
                var size = e.TryGetProperty("size", out var s) && s.TryGetInt64(out var sz) ? sz : 0;
                var mtime = e.TryGetProperty("mtime", out var m) && m.TryGetDouble(out var mt) ? mt : 0;
                list.Add(new FileEntry(name, relative.Length == 0 ? name : relative + "/" + name, Str(e, "kind") ?? "file", size,
                    DateTimeOffset.FromUnixTimeMilliseconds((long)(mtime * 1000))));
            }
        }
        session.Touch(_time.GetUtcNow());
        return list;
    }

    /// <summary>Deletes a file or a directory tree in the workspace.</summary>
    public async Task DeleteFileAsync(string sessionId, string owner, string path, CancellationToken ct)
    {
        var session = Get(sessionId, owner);
        session.EnsureUsable();
        var relative = WorkspacePath.Normalize(path);
        await EnsureRunningAsync(session, ct).ConfigureAwait(false);
        await RunnerFileOpAsync(session, "delete", relative, ct).ConfigureAwait(false);
        session.Touch(_time.GetUtcNow());
    }

    private async Task<JsonElement> RunnerFileOpAsync(Session session, string op, string relative, CancellationToken ct)
    {
        var reply = await AskRunnerAsync(session, new() { ["op"] = op, ["path"] = relative }, TimeSpan.FromSeconds(30), op, ct).ConfigureAwait(false);
        if (reply.Type == "error")
        {
            var code = Str(reply.Body, "code") == SandboxErrorCodes.FileNotFound ? SandboxErrorCodes.FileNotFound : SandboxErrorCodes.InvalidPath;
            throw new SandboxException(code, $"Cannot {op} '{Shorten(relative)}': {Shorten(Str(reply.Body, "message"))}");
        }
        return reply.Body;
    }

    /// <summary>One request to the session's runner and its single answer, bounded in time.</summary>
    private static async Task<RunnerMessage> AskRunnerAsync(Session session, Dictionary<string, object> request, TimeSpan timeout, string what, CancellationToken ct)
    {
        var id = session.Live.NewId();
        request["id"] = id;
        using var subscription = session.Live.Subscribe(id);
        await session.Live.SendAsync(request, ct).ConfigureAwait(false);
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bounded.CancelAfter(timeout);
        try
        {
            return await subscription.Reader.ReadAsync(bounded.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new SandboxException(SandboxErrorCodes.Timeout, $"The sandbox did not answer the {what} request within {timeout.TotalSeconds} s.");
        }
        catch (ChannelClosedException e) when (e.InnerException is SandboxException lost)
        {
            throw new SandboxException(lost.Code, lost.Message, e);
        }
    }

    /// <summary>
    /// Walks the path one component at a time with the engine's stat. A symbolic link is followed only when its target
    /// stays inside the workspace; otherwise the path is refused. Returns the link-free path and the stat of its end
    /// (null when it does not exist yet).
    /// </summary>
    private async Task<(string Relative, ContainerPathStatResponse? Stat)> ResolveAsync(Session session, string relative, CancellationToken ct)
    {
        var hops = 0;
        var segments = relative.Length == 0 ? [] : relative.Split('/').ToList();
        var i = 0;
        ContainerPathStatResponse? stat = relative.Length == 0
            ? await _backend.StatAsync(session.ContainerId, WorkspacePath.Root, ct).ConfigureAwait(false)
            : null;
        while (i < segments.Count)
        {
            var prefix = string.Join('/', segments.Take(i + 1));
            stat = await _backend.StatAsync(session.ContainerId, WorkspacePath.ToContainerPath(prefix), ct).ConfigureAwait(false);
            if (stat is null)
            {
                return (relative, null);
            }
            if (((uint)stat.Mode & (1u << 27)) != 0)
            {
                if (++hops > MaxLinkHops)
                {
                    throw new SandboxException(SandboxErrorCodes.InvalidPath, "Too many symbolic links in the path.");
                }
                var parent = WorkspacePath.ToContainerPath(string.Join('/', segments.Take(i)));
                var target = WorkspacePath.ResolveLink(parent, stat.LinkTarget ?? "");
                if (!WorkspacePath.IsInsideWorkspace(target) && target != WorkspacePath.Root)
                {
                    throw new SandboxException(SandboxErrorCodes.InvalidPath,
                        $"'{Shorten(relative)}' goes through a symbolic link that points outside the workspace; refused.");
                }
                var rest = segments.Skip(i + 1);
                var inside = target == WorkspacePath.Root ? [] : target[(WorkspacePath.Root.Length + 1)..].Split('/');
                segments = inside.Concat(rest).ToList();
                relative = string.Join('/', segments);
                i = 0;
                stat = null;
                continue;
            }
            i++;
        }
        return (relative, stat);
    }

    private static bool IsDirectory(ContainerPathStatResponse stat) => ((uint)stat.Mode & (1u << 31)) != 0;

    private static async Task CopyCappedAsync(Stream from, Stream to, long cap, string path, CancellationToken ct)
    {
        var buffer = new byte[81920];
        long total = 0;
        int read;
        while ((read = await from.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
        {
            total += read;
            if (total > cap)
            {
                throw new SandboxException(SandboxErrorCodes.FileTooLarge, $"'{Shorten(path)}' is larger than the download cap of {cap} bytes.");
            }
            await to.WriteAsync(buffer.AsMemory(0, read), ct).ConfigureAwait(false);
        }
    }
}
