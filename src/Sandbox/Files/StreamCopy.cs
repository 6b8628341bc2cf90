namespace Sandbox.Files;

/// <summary>Copies with a size cap enforced while reading: a huge stream never lands whole in memory or on disk.</summary>
internal static class StreamCopy
{
    /// <summary>Copies <paramref name="from"/> into <paramref name="to"/>; past <paramref name="cap"/> bytes it throws
    /// <c>file_too_large</c> with <paramref name="tooLarge"/> as the message.</summary>
    public static async Task<long> CopyCappedAsync(Stream from, Stream to, long cap, Func<string> tooLarge, CancellationToken ct)
    {
        var buffer = new byte[81920];
        long total = 0;
        int read;
        while ((read = await from.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
        {
            total += read;
            if (total > cap)
            {
                throw new SandboxException(SandboxErrorCodes.FileTooLarge, tooLarge());
            }
            await to.WriteAsync(buffer.AsMemory(0, read), ct).ConfigureAwait(false);
        }
        return total;
    }

    /// <summary>A temporary file deleted when closed.</summary>
    public static FileStream TempFile() =>
        new(Path.GetTempFileName(), FileMode.Open, FileAccess.ReadWrite, FileShare.None, 81920, FileOptions.DeleteOnClose);
}
