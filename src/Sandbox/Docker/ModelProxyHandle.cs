using Docker.DotNet;
using Microsoft.Extensions.Logging;
using Sandbox.Agents;

namespace Sandbox.Docker;

/// <summary>The engine's end of a running model proxy: sends its configuration, waits until it listens, logs its
/// request lines (method, path, status: the proxy never prints headers or bodies).</summary>
internal sealed partial class ModelProxyHandle(MultiplexedStream stream, string sessionId, ILogger logger)
    : ProxyConnection(stream, "model proxy"), IModelProxy
{
    private int _requests;

    /// <summary>Requests the proxy forwarded (or refused).</summary>
    public int Requests => Volatile.Read(ref _requests);

    /// <summary>The proxy's one configuration line: where to listen, the upstream, the key and the paths it forwards.</summary>
    public Task SendConfigAsync(ModelProxyConfig config, int port, CancellationToken ct) => SendAsync(new Dictionary<string, object?>
    {
        ["port"] = port,
        ["upstream"] = config.Upstream.GetLeftPart(UriPartial.Path),
        ["auth_header"] = config.AuthHeader,
        ["auth_value"] = config.ApiKey is null ? null : config.AuthHeader == "authorization" ? "Bearer " + config.ApiKey : config.ApiKey,
        ["allowed_paths"] = config.AllowedPaths,
    }, ct);

    protected override void OnStdout(string line)
    {
        if (line.Contains("\"ready\"", StringComparison.Ordinal))
        {
            MarkReady();
        }
    }

    protected override void OnStderr(string line)
    {
        Interlocked.Increment(ref _requests);
        LogProxyLine(logger, sessionId, line.Length > 300 ? line[..300] : line);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId} model proxy: {Line}")]
    private static partial void LogProxyLine(ILogger logger, string sessionId, string line);
}
