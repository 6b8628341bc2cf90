using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using Sandbox.Backend;
using Sandbox.Runner;
using Sandbox.Sessions;
using static Sandbox.Runner.RunnerJson;

namespace Sandbox.Files;

/// <summary>A file (or directory) opened for streaming out of a workspace.</summary>
/// <param name="Path">Workspace-relative path.</param>
/// <param name="IsDirectory">Whether it is a directory (streamed as a tar archive, no ranges).</param>
/// <param name="Size">Bytes (files).</param>
/// <param name="Sha256">SHA-256, hex (files).</param>
/// <param name="Modified">Modification time (files).</param>
public sealed record WorkspaceStreamInfo(string Path, bool IsDirectory, long Size, string? Sha256, DateTimeOffset? Modified);

/// <summary>
/// Files of any size in and out of a workspace without holding them: downloads stream out of the engine's archive
/// API (a byte range skips ahead), uploads stream in as a tar made on the fly around the body, under a temporary name
/// renamed into place only when complete, so a failed or refused upload leaves no partial file.
/// </summary>
public sealed class WorkspaceStreams(SessionRegistry registry, ISandboxBackend backend, TimeProvider time)
{
    private readonly TimeProvider _time = time;

    /// <summary>What is at <paramref name="path"/>: size, SHA-256 and time of a file (for ETag and digest headers).</summary>
    public async Task<WorkspaceStreamInfo> StatAsync(string sessionId, string owner, string path, CancellationToken ct)
    {
        var session = await UsableAsync(sessionId, owner, ct).ConfigureAwait(false);
        var relative = WorkspacePath.Normalize(path, allowRoot: true);
        var resolved = await WorkspaceResolver.ResolveAsync(backend, session.ContainerId, relative, ct).ConfigureAwait(false);
        if (resolved.Stat is not { } stat)
        {
            throw new SandboxException(SandboxErrorCodes.FileNotFound, $"No file '{SafeText.Shorten(relative)}' in the workspace.");
        }
        if (stat.IsDirectory)
        {
            return new WorkspaceStreamInfo(resolved.Relative, true, 0, null, null);
        }
        var reply = await session.Live.AskAsync(new HashRequest(resolved.Relative), TimeSpan.FromMinutes(5), "hash", ct).ConfigureAwait(false);
        if (reply.Type == "error")
        {
            throw new SandboxException(SandboxErrorCodes.InvalidPath, $"Cannot read '{SafeText.Shorten(resolved.Relative)}': {SafeText.Shorten(Str(reply.Body, "message"))}");
        }
        var modified = reply.Body.TryGetProperty("mtime", out var m) && m.TryGetDouble(out var seconds)
            ? DateTimeOffset.FromUnixTimeMilliseconds((long)(seconds * 1000)) : (DateTimeOffset?)null;
        return new WorkspaceStreamInfo(resolved.Relative, false, Long(reply.Body, "size"), Str(reply.Body, "sha256"), modified);
    }

    /// <summary>Writes bytes <paramref name="offset"/>..+<paramref name="count"/> of a file (or a directory's tar
    /// archive, whole) to <paramref name="target"/>.</summary>
    public async Task CopyToAsync(string sessionId, string owner, WorkspaceStreamInfo info, long offset, long count, Stream target, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(info);
        ArgumentNullException.ThrowIfNull(target);
        var session = await UsableAsync(sessionId, owner, ct).ConfigureAwait(false);
        await using var archive = await backend.GetArchiveAsync(session.ContainerId, WorkspacePath.ToContainerPath(info.Path), ct).ConfigureAwait(false);
        if (info.IsDirectory)
        {
            await archive.CopyToAsync(target, ct).ConfigureAwait(false);
            return;
        }
        var (size, regular) = await TarStreams.ReadFileHeaderAsync(archive, ct).ConfigureAwait(false);
        if (!regular)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidPath, $"'{SafeText.Shorten(info.Path)}' is not a regular file.");
        }
        if (offset + count > size)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"'{SafeText.Shorten(info.Path)}' changed while it was read (now {size} bytes).");
        }
        await TarStreams.SkipAsync(archive, offset, ct).ConfigureAwait(false);
        var buffer = new byte[81920];
        while (count > 0)
        {
            var n = await archive.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, count)), ct).ConfigureAwait(false);
            if (n == 0)
            {
                throw new EndOfStreamException("The archive ended before the file did.");
            }
            await target.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
            count -= n;
        }
        session.Touch(_time.GetUtcNow());
    }

    /// <summary>Streams <paramref name="length"/> bytes of <paramref name="body"/> into a file. Refused before a byte is
    /// read when it cannot fit; on any failure nothing is left behind. Returns the file and the SHA-256 of what was written.</summary>
    public async Task<(FileEntry File, string Sha256)> WriteAsync(string sessionId, string owner, string path, Stream body, long length, long cap, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(body);
        if (length < 0)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "The upload needs its length (Content-Length).");
        }
        if (length > cap)
        {
            throw new SandboxException(SandboxErrorCodes.FileTooLarge, $"The file is {length} bytes, above the upload cap of {cap} bytes; nothing was written.");
        }
        var session = await UsableAsync(sessionId, owner, ct).ConfigureAwait(false);
        var relative = WorkspacePath.Normalize(path);
        var existing = await WorkspaceResolver.ResolveAsync(backend, session.ContainerId, relative, ct).ConfigureAwait(false);
        if (existing.Stat is { IsDirectory: true })
        {
            throw new SandboxException(SandboxErrorCodes.InvalidPath, $"'{relative}' is a directory; give a file path.");
        }
        var space = await session.Live.AskAsync(new SpaceRequest(), TimeSpan.FromSeconds(10), "space", ct).ConfigureAwait(false);
        var free = Long(space.Body, "free");
        if (length + (1 << 20) > free)
        {
            throw new SandboxException(SandboxErrorCodes.WorkspaceFull,
                $"The workspace has {free} bytes free; a {length}-byte file does not fit (nothing was written). Delete files or create the session with a larger workspace_mb.")
            {
                Details = new { free_bytes = free, needed_bytes = length },
            };
        }
        var target = existing.Relative;
        var segments = target.Split('/');
        var parents = Enumerable.Range(1, segments.Length - 1).Select(i => string.Join('/', segments[..i])).ToList();
        var temp = string.Join('/', segments[..^1].Append($".upload-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}.part"));
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using var hashing = new HashingStream(body, hash);
        try
        {
            await using var tar = TarStreams.Wrap(parents, temp, hashing, length, _time.GetUtcNow());
            await backend.PutArchiveAsync(session.ContainerId, WorkspacePath.Root, tar, ct).ConfigureAwait(false);
            var moved = await session.Live.AskAsync(new RenameRequest(temp, target), TimeSpan.FromSeconds(30), "rename", ct).ConfigureAwait(false);
            if (moved.Type == "error")
            {
                throw new SandboxException(SandboxErrorCodes.InvalidPath, $"Cannot write '{SafeText.Shorten(target)}': {SafeText.Shorten(Str(moved.Body, "message"))}");
            }
        }
        catch
        {
            // The engine may still be writing what it received when the call fails (a cut body): the temporary file
            // is removed now and again over the next seconds, until nothing of it can appear any more.
            await RemoveQuietlyAsync(session, temp).ConfigureAwait(false);
            _ = Task.Run(async () =>
            {
                foreach (var wait in new[] { 500, 1000, 2000, 4000 })
                {
                    await Task.Delay(wait).ConfigureAwait(false);
                    await RemoveQuietlyAsync(session, temp).ConfigureAwait(false);
                }
            });
            throw;
        }
        session.Touch(_time.GetUtcNow());
        return (new FileEntry(segments[^1], target, "file", length, _time.GetUtcNow()), Convert.ToHexStringLower(hash.GetHashAndReset()));
    }

    private static async Task RemoveQuietlyAsync(Session session, string path)
    {
        if (session.Runner is not { } runner || session.Status is SessionStatus.Closed or SessionStatus.Lost)
        {
            return;
        }
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await runner.AskAsync(new DeleteRequest(path), TimeSpan.FromSeconds(30), "delete", cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SandboxException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    private async Task<Session> UsableAsync(string sessionId, string owner, CancellationToken ct)
    {
        var session = registry.Get(sessionId, owner);
        session.EnsureUsable();
        await registry.EnsureRunningAsync(session, ct).ConfigureAwait(false);
        return session;
    }

    /// <summary>Hashes what is read through it.</summary>
    private sealed class HashingStream(Stream inner, IncrementalHash hash) : ForwardOnlyStream
    {
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var n = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            hash.AppendData(buffer.Span[..n]);
            return n;
        }
    }
}
