using System.Text.Json;
using Docker.DotNet;
using Microsoft.Extensions.Logging;
using Sandbox.Egress;

namespace Sandbox.Docker;

/// <summary>The engine's end of a running egress proxy: sends its configuration and allow-list updates, hears every
/// connection it allowed or refused (host, port, verdict: never a header, a body or a secret).</summary>
internal sealed partial class EgressProxyHandle(MultiplexedStream stream, string sessionId, Action<EgressEvent> onEvent, ILogger logger)
    : ProxyConnection(stream, "egress proxy"), IEgressProxy
{
    private TaskCompletionSource? _updated;

    private static List<Dictionary<string, object?>> Patterns(IReadOnlyList<EgressPattern> allow) =>
        allow.Select(p => new Dictionary<string, object?> { ["host"] = p.Host, ["port"] = p.AnyPort ? "*" : p.Port }).ToList();

    /// <summary>The proxy's one configuration line: where to listen, the allow list, address rules and secrets.</summary>
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

    /// <inheritdoc />
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

    protected override void OnStdout(string line)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            switch (root.TryGetProperty("type", out var type) ? type.GetString() : null)
            {
                case "ready":
                    MarkReady();
                    break;
                case "updated":
                    Volatile.Read(ref _updated)?.TrySetResult();
                    break;
                case "conn":
                    onEvent(new EgressEvent(
                        Text(root, "method") ?? "?", Text(root, "host") ?? "", root.TryGetProperty("port", out var p) && p.TryGetInt32(out var port) ? port : 0,
                        root.TryGetProperty("allowed", out var a) && a.ValueKind == JsonValueKind.True, Text(root, "reason"), Text(root, "secret")));
                    break;
            }
        }
        catch (JsonException)
        {
            LogProxyError(logger, sessionId, SafeText.Shorten(line, 300));
        }
    }

    protected override void OnStderr(string line) => LogProxyError(logger, sessionId, SafeText.Shorten(line, 300));

    private static string? Text(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? SafeText.Shorten(v.GetString() ?? "", 300) : null;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId} egress proxy: {Line}")]
    private static partial void LogProxyError(ILogger logger, string sessionId, string line);
}
