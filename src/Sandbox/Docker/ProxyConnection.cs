using System.Buffers;
using System.Text;
using System.Text.Json;
using Docker.DotNet;

namespace Sandbox.Docker;

/// <summary>
/// The engine's end of a running proxy container (a session's egress proxy, an agent run's model proxy): JSON lines
/// to its stdin (its configuration, secrets included, never an environment variable or a file), its stdout and stderr
/// read line by line and handed to the proxy's own handle, and the moment it listens. Nothing read is trusted or
/// buffered without bound.
/// </summary>
internal abstract class ProxyConnection : IAsyncDisposable
{
    private const int MaxPendingChars = 256 * 1024;

    private readonly MultiplexedStream _stream;
    private readonly string _what;
    private readonly CancellationTokenSource _cts = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly Task _readLoop;

    /// <param name="stream">The proxy container's attached stdin/stdout/stderr.</param>
    /// <param name="what">The proxy as errors name it (<c>egress proxy</c>, <c>model proxy</c>).</param>
    protected ProxyConnection(MultiplexedStream stream, string what)
    {
        _stream = stream;
        _what = what;
        _readLoop = Task.Run(ReadLoopAsync);
    }

    /// <summary>Completes once the proxy listens; fails when it stops first.</summary>
    public Task Ready => _ready.Task;

    /// <summary>A line the proxy wrote to stdout (its protocol).</summary>
    protected abstract void OnStdout(string line);

    /// <summary>A line the proxy wrote to stderr (its log).</summary>
    protected abstract void OnStderr(string line);

    /// <summary>Call from <see cref="OnStdout"/> when the proxy says it listens.</summary>
    protected void MarkReady() => _ready.TrySetResult();

    /// <summary>Sends one JSON line; the serialized bytes are cleared after (they may hold a secret).</summary>
    protected async Task SendAsync(Dictionary<string, object?> message, CancellationToken ct)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(message);
        var line = new byte[json.Length + 1];
        json.CopyTo(line, 0);
        line[^1] = (byte)'\n';
        await _writeLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await _stream.WriteAsync(line, 0, line.Length, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            throw new SandboxException(SandboxErrorCodes.Internal, $"The {_what} is gone: {e.Message}", e);
        }
        finally
        {
            _writeLock.Release();
            Array.Clear(line);
            Array.Clear(json);
        }
    }

    private async Task ReadLoopAsync()
    {
        var buffer = ArrayPool<byte>.Shared.Rent(16384);
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        try
        {
            while (true)
            {
                var result = await _stream.ReadOutputAsync(buffer, 0, buffer.Length, _cts.Token).ConfigureAwait(false);
                if (result.EOF)
                {
                    break;
                }
                var isStdout = result.Target != MultiplexedStream.TargetStream.StandardError;
                var target = isStdout ? stdout : stderr;
                target.Append(Encoding.UTF8.GetString(buffer, 0, result.Count));
                if (target.Length > MaxPendingChars)
                {
                    target.Clear(); // a proxy's lines are short; never buffer without bound
                }
                for (var nl = target.IndexOf('\n'); nl >= 0; nl = target.IndexOf('\n'))
                {
                    var line = target.ToString(0, nl);
                    target.Remove(0, nl + 1);
                    if (isStdout)
                    {
                        OnStdout(line);
                    }
                    else
                    {
                        OnStderr(line);
                    }
                }
            }
            _ready.TrySetException(new SandboxException(SandboxErrorCodes.Internal,
                $"The {_what} stopped before it was ready" + (stderr.Length > 0 ? ": " + SafeText.Shorten(stderr.ToString(), 500) : ".")));
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
            _ready.TrySetException(new SandboxException(SandboxErrorCodes.Internal, $"The {_what} connection ended: {e.Message}"));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Stops reading and closes the stream (the container is removed by its network's close).</summary>
    public async ValueTask DisposeAsync()
    {
        await _cts.CancelAsync().ConfigureAwait(false);
        _stream.Dispose();
        try
        {
            await _readLoop.ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
        }
        _cts.Dispose();
        _writeLock.Dispose();
        GC.SuppressFinalize(this);
    }
}
