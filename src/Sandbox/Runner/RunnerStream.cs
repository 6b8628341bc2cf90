namespace Sandbox.Runner;

/// <summary>One read from a runner's stream.</summary>
/// <param name="Count">Bytes read into the buffer.</param>
/// <param name="IsStderr">The bytes came from the runner's standard error (else standard output).</param>
/// <param name="Eof">The stream has ended.</param>
public readonly record struct RunnerRead(int Count, bool IsStderr, bool Eof);

/// <summary>
/// The byte stream to a runner process inside a sandbox (its stdin, and its stdout and stderr told apart). A backend
/// provides it (Docker: the container's attached stream); <see cref="RunnerConnection"/> speaks the protocol over it.
/// </summary>
public abstract class RunnerStream : IDisposable
{
    /// <summary>Reads the next chunk of output.</summary>
    public abstract ValueTask<RunnerRead> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct);

    /// <summary>Writes to the runner's standard input.</summary>
    public abstract Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct);

    /// <summary>Reads both outputs to their end (for one-shot processes).</summary>
    public async Task<(string Stdout, string Stderr)> ReadToEndAsync(CancellationToken ct)
    {
        var buffer = new byte[16384];
        using var stdout = new MemoryStream();
        using var stderr = new MemoryStream();
        while (true)
        {
            var read = await ReadAsync(buffer, 0, buffer.Length, ct).ConfigureAwait(false);
            if (read.Eof)
            {
                break;
            }
            (read.IsStderr ? stderr : stdout).Write(buffer, 0, read.Count);
        }
        return (System.Text.Encoding.UTF8.GetString(stdout.ToArray()), System.Text.Encoding.UTF8.GetString(stderr.ToArray()));
    }

    /// <summary>Closes the stream.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases the underlying stream.</summary>
    protected abstract void Dispose(bool disposing);
}
