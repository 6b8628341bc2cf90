using System.Buffers;
using System.Text;
using System.Text.Json;
using Docker.DotNet;
using Microsoft.Extensions.Logging;
using Sandbox.Egress;

namespace Sandbox.Docker;

/// <summary>The engine's end of a running egress proxy: sends its configuration and allow-list updates, hears every
/// connection it allowed or refused (host, port, verdict: never a header, a body or a secret).</summary>
internal sealed partial class EgressProxyHandle : IEgressProxy
{
    private readonly MultiplexedStream _stream;
    private readonly string _sessionId;
    private readonly Action<EgressEvent> _onEvent;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _cts = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly Task _readLoop;
    private TaskCompletionSource? _updated;

    public EgressProxyHandle(MultiplexedStream stream, string sessionId, Action<EgressEvent> onEvent, ILogger logger)
    {
        _stream = stream;
        _sessionId = sessionId;
        _onEvent = onEvent;
        _logger = logger;
        _readLoop = Task.Run(ReadLoopAsync);
    }

    /// <summary>Completes once the proxy listens.</summary>
    public Task Ready => _ready.Task;

    private static List<Dictionary<string, object?>> Patterns(IReadOnlyList<EgressPattern> allow) =>
        allow.Select(p => new Dictionary<string, object?> { ["host"] = p.Host, ["port"] = p.AnyPort ? "*" : p.Port }).ToList();

    public Task SendConfigAsync(EgressProxyConfig config, int port, CancellationToken ct) => SendAsync(new Dictionary<string, object?>
    {
        ["port"] = port,
        ["allow"] = Patterns(config.Allow),
        ["permitted"] = config.PermittedAddresses,
        ["upstream_ca"] = config.UpstreamCaPem,
        ["max_connections"] = config.MaxConnections,
        ["secrets"] = config.Secrets.Select(s => new Dictionary<string, object?>
        {
            ["name"] = s.Name, ["host"] = s.Host, ["header"] = s.Header, ["value"] = s.Value, ["cert"] = s.CertificatePem, ["key"] = s.KeyPem,
        }).ToList(),
    }, ct);

    public async Task UpdateAsync(IReadOnlyList<EgressPattern> allow, CancellationToken ct)
    {
        var updated = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _updated, updated);
        await SendAsync(new Dictionary<string, object?> { ["type"] = "update", ["allow"] = Patterns(allow) }, ct).ConfigureAwait(false);
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bounded.CancelAfter(TimeSpan.FromSeconds(10));
        try
        {
            await updated.Task.WaitAsync(bounded.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new SandboxException(SandboxErrorCodes.Timeout, "The session's egress proxy did not confirm the new allow list within 10 s.");
        }
    }

    private async Task SendAsync(Dictionary<string, object?> message, CancellationToken ct)
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
            throw new SandboxException(SandboxErrorCodes.Internal, "The session's egress proxy is gone: " + e.Message, e);
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
                var target = result.Target == MultiplexedStream.TargetStream.StandardError ? stderr : stdout;
                target.Append(Encoding.UTF8.GetString(buffer, 0, result.Count));
                if (target.Length > 256 * 1024)
                {
                    target.Clear(); // lines are short; never buffer without bound
                }
                for (var nl = target.IndexOf('\n'); nl >= 0; nl = target.IndexOf('\n'))
                {
                    var line = target.ToString(0, nl);
                    target.Remove(0, nl + 1);
                    if (ReferenceEquals(target, stdout))
                    {
                        OnLine(line);
                    }
                    else
                    {
                        LogProxyError(_logger, _sessionId, SafeText.Shorten(line, 300));
                    }
                }
            }
            _ready.TrySetException(new SandboxException(SandboxErrorCodes.Internal,
                "The egress proxy stopped before it was ready" + (stderr.Length > 0 ? ": " + SafeText.Shorten(stderr.ToString(), 500) : ".")));
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
            _ready.TrySetException(new SandboxException(SandboxErrorCodes.Internal, "The egress proxy connection ended: " + e.Message));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void OnLine(string line)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            switch (root.TryGetProperty("type", out var type) ? type.GetString() : null)
            {
                case "ready":
                    _ready.TrySetResult();
                    break;
                case "updated":
                    Volatile.Read(ref _updated)?.TrySetResult();
                    break;
                case "conn":
                    _onEvent(new EgressEvent(
                        Text(root, "method") ?? "?", Text(root, "host") ?? "", root.TryGetProperty("port", out var p) && p.TryGetInt32(out var port) ? port : 0,
                        root.TryGetProperty("allowed", out var a) && a.ValueKind == JsonValueKind.True, Text(root, "reason"), Text(root, "secret")));
                    break;
            }
        }
        catch (JsonException)
        {
            LogProxyError(_logger, _sessionId, SafeText.Shorten(line, 300));
        }
    }

    private static string? Text(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? SafeText.Shorten(v.GetString() ?? "", 300) : null;

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
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId} egress proxy: {Line}")]
    private static partial void LogProxyError(ILogger logger, string sessionId, string line);
}
