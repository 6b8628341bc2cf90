using System.Buffers;
using System.Text;
using System.Text.Json;
using Docker.DotNet;
using Microsoft.Extensions.Logging;
using Sandbox.Agents;

namespace Sandbox.Docker;

/// <summary>The engine's end of a running model proxy: sends its configuration, waits until it listens, logs its
/// request lines (method, path, status: the proxy never prints headers or bodies).</summary>
internal sealed partial class ModelProxyHandle : IModelProxy
{
    private readonly MultiplexedStream _stream;
    private readonly string _sessionId;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _cts = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _readLoop;
    private int _requests;

    public ModelProxyHandle(MultiplexedStream stream, string sessionId, ILogger logger)
    {
        _stream = stream;
        _sessionId = sessionId;
        _logger = logger;
        _readLoop = Task.Run(ReadLoopAsync);
    }

    /// <summary>Completes once the proxy listens.</summary>
    public Task Ready => _ready.Task;

    /// <summary>Requests the proxy forwarded (or refused).</summary>
    public int Requests => Volatile.Read(ref _requests);

    public async Task SendConfigAsync(ModelProxyConfig config, int port, CancellationToken ct)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object?>
        {
            ["port"] = port,
            ["upstream"] = config.Upstream.GetLeftPart(UriPartial.Path),
            ["auth_header"] = config.AuthHeader,
            ["auth_value"] = config.ApiKey is null ? null : config.AuthHeader == "authorization" ? "Bearer " + config.ApiKey : config.ApiKey,
            ["allowed_paths"] = config.AllowedPaths,
        });
        var line = new byte[json.Length + 1];
        json.CopyTo(line, 0);
        line[^1] = (byte)'\n';
        await _stream.WriteAsync(line, 0, line.Length, ct).ConfigureAwait(false);
        Array.Clear(line);
        Array.Clear(json);
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
                var text = Encoding.UTF8.GetString(buffer, 0, result.Count);
                var target = result.Target == MultiplexedStream.TargetStream.StandardError ? stderr : stdout;
                target.Append(text);
                if (target.Length > 64 * 1024)
                {
                    target.Clear(); // a proxy does not print that much; never buffer without bound
                }
                for (var nl = target.IndexOf('\n'); nl >= 0; nl = target.IndexOf('\n'))
                {
                    var line = target.ToString(0, nl);
                    target.Remove(0, nl + 1);
                    if (ReferenceEquals(target, stdout))
                    {
                        if (line.Contains("\"ready\"", StringComparison.Ordinal))
                        {
                            _ready.TrySetResult();
                        }
                    }
                    else
                    {
                        Interlocked.Increment(ref _requests);
                        LogProxyLine(_logger, _sessionId, line.Length > 300 ? line[..300] : line);
                    }
                }
            }
            _ready.TrySetException(new SandboxException(SandboxErrorCodes.Internal,
                "The model proxy stopped before it was ready" + (stderr.Length > 0 ? ": " + SafeText.Shorten(stderr.ToString(), 500) : ".")));
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
            _ready.TrySetException(new SandboxException(SandboxErrorCodes.Internal, "The model proxy connection ended: " + e.Message));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

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
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId} model proxy: {Line}")]
    private static partial void LogProxyLine(ILogger logger, string sessionId, string line);
}
