using System.Formats.Tar;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Sandbox.Backend;
using Sandbox.Runner;
using Sandbox.Sessions;
using static Sandbox.Runner.RunnerJson;

namespace Sandbox.Files;

/// <summary>
/// A session's workspace files: upload and download through the backend's archive API (paths checked, links that
/// leave the workspace refused, sizes capped while streaming), listing and deleting through the runner.
/// </summary>
public sealed class WorkspaceFileService
{
    private readonly SessionRegistry _registry;
    private readonly ISandboxBackend _backend;
    private readonly WorkspaceFileOptions _options;
    private readonly TimeProvider _time;

    /// <summary>Creates the service.</summary>
    public WorkspaceFileService(SessionRegistry registry, ISandboxBackend backend, IOptions<WorkspaceFileOptions> options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        _registry = registry;
        _backend = backend;
        _options = options.Value;
        _time = time;
    }

    /// <summary>Writes a file into the workspace (parents are created). Nothing is written when a check fails.</summary>
    public async Task<FileEntry> UploadAsync(string sessionId, string owner, string path, Stream content, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(content);
        var session = _registry.Get(sessionId, owner);
        session.EnsureUsable();
        var relative = WorkspacePath.Normalize(path);
        await _registry.EnsureRunningAsync(session, ct).ConfigureAwait(false);

        // Buffered to a temporary file with the cap enforced while reading: a huge body never reaches the engine.
        await using var data = StreamCopy.TempFile();
        var total = await StreamCopy.CopyCappedAsync(content, data, _options.MaxUploadBytes,
            () => $"The file is larger than the upload cap of {_options.MaxUploadBytes} bytes; nothing was written.", ct).ConfigureAwait(false);
        data.Position = 0;

        var existing = await WorkspaceResolver.ResolveAsync(_backend, session.ContainerId, relative, ct).ConfigureAwait(false);
        if (existing.Stat is { IsDirectory: true })
        {
            throw new SandboxException(SandboxErrorCodes.InvalidPath, $"'{relative}' is a directory; give a file path.");
        }
        var target = existing.Relative;
        await using var tar = StreamCopy.TempFile();
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

    /// <summary>The size of a file (0 for a directory), without reading it.</summary>
    public async Task<long> SizeAsync(string sessionId, string owner, string path, CancellationToken ct)
    {
        var session = _registry.Get(sessionId, owner);
        session.EnsureUsable();
        var relative = WorkspacePath.Normalize(path, allowRoot: true);
        await _registry.EnsureRunningAsync(session, ct).ConfigureAwait(false);
        var resolved = await WorkspaceResolver.ResolveAsync(_backend, session.ContainerId, relative, ct).ConfigureAwait(false);
        return resolved.Stat is { } stat
            ? stat.IsDirectory ? 0 : stat.Size
            : throw new SandboxException(SandboxErrorCodes.FileNotFound, $"No file '{SafeText.Shorten(relative)}' in the workspace. Use list_files to see what is there.");
    }

    /// <summary>Reads a file, or a directory as a tar archive.</summary>
    public async Task<DownloadedFile> DownloadAsync(string sessionId, string owner, string path, CancellationToken ct)
    {
        var session = _registry.Get(sessionId, owner);
        session.EnsureUsable();
        var relative = WorkspacePath.Normalize(path, allowRoot: true);
        await _registry.EnsureRunningAsync(session, ct).ConfigureAwait(false);
        var resolved = await WorkspaceResolver.ResolveAsync(_backend, session.ContainerId, relative, ct).ConfigureAwait(false);
        if (resolved.Stat is not { } stat)
        {
            throw new SandboxException(SandboxErrorCodes.FileNotFound, $"No file '{SafeText.Shorten(relative)}' in the workspace. Use list_files to see what is there.");
        }
        var isDir = stat.IsDirectory;
        if (!isDir && stat.Size > _options.MaxDownloadBytes)
        {
            throw new SandboxException(SandboxErrorCodes.FileTooLarge,
                $"'{SafeText.Shorten(relative)}' is {stat.Size} bytes, above the download cap of {_options.MaxDownloadBytes} bytes.");
        }
        // The archive is read whole (capped: file size plus tar framing) before parsing: the engine's chunked
        // stream does not tolerate the partial reads a tar parser makes.
        using var raw = new MemoryStream();
        await using (var archive = await _backend.GetArchiveAsync(session.ContainerId, WorkspacePath.ToContainerPath(resolved.Relative), ct).ConfigureAwait(false))
        {
            var cap = isDir ? _options.MaxDownloadBytes : _options.MaxDownloadBytes + 64 * 1024;
            await StreamCopy.CopyCappedAsync(archive, raw, cap, () => TooLarge(relative, cap), ct).ConfigureAwait(false);
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
                throw new SandboxException(SandboxErrorCodes.InvalidPath, $"'{SafeText.Shorten(relative)}' is not a regular file.");
            }
            if (entry.DataStream is not null)
            {
                await StreamCopy.CopyCappedAsync(entry.DataStream, output, _options.MaxDownloadBytes, () => TooLarge(relative, _options.MaxDownloadBytes), ct).ConfigureAwait(false);
            }
        }
        session.Touch(_time.GetUtcNow());
        return new DownloadedFile(resolved.Relative, isDir, output.ToArray());
    }

    /// <summary>Lists a workspace directory (not recursive).</summary>
    public async Task<IReadOnlyList<FileEntry>> ListAsync(string sessionId, string owner, string? directory, CancellationToken ct)
    {
        var session = _registry.Get(sessionId, owner);
        session.EnsureUsable();
        var relative = WorkspacePath.Normalize(directory, allowRoot: true);
        var reply = await RunnerFileOpAsync(session, new ListRequest(relative), "list", relative, ct).ConfigureAwait(false);
        var list = new List<FileEntry>();
        if (reply.TryGetProperty("entries", out var entries) && entries.ValueKind == JsonValueKind.Array)
        {
            foreach (var e in entries.EnumerateArray())
            {
                if (Str(e, "name") is not { } name || name.Contains('/', StringComparison.Ordinal))
                {
                    continue;
                }
                var mtime = e.TryGetProperty("mtime", out var m) && m.TryGetDouble(out var mt) ? mt : 0;
                list.Add(new FileEntry(name, relative.Length == 0 ? name : relative + "/" + name, Str(e, "kind") ?? "file", Long(e, "size"),
                    DateTimeOffset.FromUnixTimeMilliseconds((long)(mtime * 1000))));
            }
        }
        session.Touch(_time.GetUtcNow());
        return list;
    }

    /// <summary>Every entry below a workspace directory (paths relative to the workspace), at most 10,000 (then
    /// <c>Truncated</c>); <c>.git</c> is listed but not entered, the session's own <c>.sandbox</c> folder is left out.</summary>
    public async Task<(IReadOnlyList<FileEntry> Entries, bool Truncated)> TreeAsync(string sessionId, string owner, string? directory, CancellationToken ct)
    {
        var session = _registry.Get(sessionId, owner);
        session.EnsureUsable();
        var relative = WorkspacePath.Normalize(directory, allowRoot: true);
        var reply = await RunnerFileOpAsync(session, new ListRequest(relative, Recursive: true), "list", relative, ct).ConfigureAwait(false);
        var list = new List<FileEntry>();
        if (reply.TryGetProperty("entries", out var entries) && entries.ValueKind == JsonValueKind.Array)
        {
            foreach (var e in entries.EnumerateArray())
            {
                if (Str(e, "name") is not { } name || name.Length == 0 || name.StartsWith('/') || name.Split('/').Any(p => p is "" or "." or ".."))
                {
                    continue;
                }
                var mtime = e.TryGetProperty("mtime", out var m) && m.TryGetDouble(out var mt) ? mt : 0;
                list.Add(new FileEntry(name.Split('/')[^1], relative.Length == 0 ? name : relative + "/" + name, Str(e, "kind") ?? "file", Long(e, "size"),
                    DateTimeOffset.FromUnixTimeMilliseconds((long)(mtime * 1000))));
            }
        }
        session.Touch(_time.GetUtcNow());
        return (list, reply.TryGetProperty("truncated", out var t) && t.ValueKind == JsonValueKind.True);
    }

    /// <summary>Deletes a file or a directory tree in the workspace.</summary>
    public async Task DeleteAsync(string sessionId, string owner, string path, CancellationToken ct)
    {
        var session = _registry.Get(sessionId, owner);
        session.EnsureUsable();
        var relative = WorkspacePath.Normalize(path);
        await RunnerFileOpAsync(session, new DeleteRequest(relative), "delete", relative, ct).ConfigureAwait(false);
        session.Touch(_time.GetUtcNow());
    }

    private async Task<JsonElement> RunnerFileOpAsync(Session session, RunnerRequest request, string op, string relative, CancellationToken ct)
    {
        await _registry.EnsureRunningAsync(session, ct).ConfigureAwait(false);
        var reply = await session.Live.AskAsync(request, TimeSpan.FromSeconds(30), op, ct).ConfigureAwait(false);
        if (reply.Type == "error")
        {
            var code = Str(reply.Body, "code") == SandboxErrorCodes.FileNotFound ? SandboxErrorCodes.FileNotFound : SandboxErrorCodes.InvalidPath;
            throw new SandboxException(code, $"Cannot {op} '{SafeText.Shorten(relative)}': {SafeText.Shorten(Str(reply.Body, "message"))}");
        }
        return reply.Body;
    }

    private static string TooLarge(string path, long cap) => $"'{SafeText.Shorten(path)}' is larger than the download cap of {cap} bytes.";
}
