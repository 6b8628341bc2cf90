using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.Extensions.Options;
using ModelContextProtocol.Protocol;
using Sandbox.Cluster;
using Sandbox.Links;
using Sandbox.Server.Api;
using Sandbox.Server.Mcp;
using Yarp.ReverseProxy.Forwarder;

namespace Sandbox.Server.Hosting;

/// <summary>
/// In a cluster, sends a request to the node that serves it, with YARP's forwarder (bodies, streams, server-sent
/// events and WebSockets pass through unchanged, the caller's credentials included): a request about another node's
/// session (REST under <c>/api/sessions/{id}</c>, an MCP <c>tools/call</c> with that <c>session_id</c>, a signed link),
/// and a new session that placement gives to another node. A forwarded request carries
/// <see cref="ForwardedHeader"/> and is always served where it arrives, so nothing is forwarded twice. Which node
/// serves what is decided by the engine's <see cref="ClusterService"/>; this is only the HTTP half.
/// </summary>
public sealed partial class ClusterForwardingMiddleware(
    RequestDelegate next, ClusterService cluster, LinkService links, IHttpForwarder forwarder, IOptions<SandboxOptions> options,
    IOptions<ClusterOptions> clusterOptions, ILogger<ClusterForwardingMiddleware> logger)
{
    /// <summary>Marks a request one node forwarded to another (its value: the forwarding node's id).</summary>
    public const string ForwardedHeader = "X-Sandbox-Forwarded-By";

    /// <summary>Names the node that served a request (on every answer in a cluster, forwarded ones included).</summary>
    public const string NodeHeader = "X-Sandbox-Node";

    private static readonly HttpMessageInvoker Client = new(new SocketsHttpHandler
    {
        UseProxy = false, AllowAutoRedirect = false, AutomaticDecompression = DecompressionMethods.None, UseCookies = false,
        ConnectTimeout = TimeSpan.FromSeconds(5), PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2), EnableMultipleHttp2Connections = true,
        ActivityHeadersPropagator = null, ConnectCallback = ConnectToNodeAsync,
    });

    /// <summary>
    /// Connections to other nodes notice a node that died: a killed machine answers nothing, so a request sent on a
    /// kept-alive connection to it would otherwise wait for its answer as long as a forward may (an hour) while TCP
    /// retransmits. Unacknowledged data or keep-alive probes unanswered for 10 s end the connection (the caller gets
    /// node_unavailable, then session_lost once the node is declared gone); a live node that takes long to answer keeps
    /// its connection, since its kernel acknowledges both.
    /// </summary>
    private static async ValueTask<Stream> ConnectToNodeAsync(SocketsHttpConnectionContext context, CancellationToken ct)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, 5);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, 2);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, 3);
            if (OperatingSystem.IsLinux())
            {
                // TCP_USER_TIMEOUT (IPPROTO_TCP 6, option 18), in milliseconds.
                socket.SetRawSocketOption(6, 18, BitConverter.GetBytes(10_000));
            }
            await socket.ConnectAsync(context.DnsEndPoint, ct).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Handles one request.</summary>
    public async Task InvokeAsync(HttpContext context)
    {
        if (!cluster.Enabled)
        {
            await next(context).ConfigureAwait(false);
            return;
        }
        if (context.Request.Headers.ContainsKey(ForwardedHeader))
        {
            context.Response.Headers[NodeHeader] = cluster.NodeId;
            await next(context).ConfigureAwait(false);
            return;
        }
        var isMcp = context.Request.Path.StartsWithSegments("/mcp") && HttpMethods.IsPost(context.Request.Method);
        var (target, rpcId, answered) = await TargetAsync(context, isMcp).ConfigureAwait(false);
        if (answered)
        {
            return;
        }
        if (target is null)
        {
            context.Response.Headers[NodeHeader] = cluster.NodeId;
            await next(context).ConfigureAwait(false);
            return;
        }
        var error = await forwarder.SendAsync(context, target.Url, Client,
            new ForwarderRequestConfig { ActivityTimeout = clusterOptions.Value.ForwardTimeout }, new MarkForwarded(cluster.NodeId)).ConfigureAwait(false);
        if (error != ForwarderError.None && !context.Response.HasStarted)
        {
            LogForwardFailed(logger, target.Id, error);
            var unavailable = new SandboxException(SandboxErrorCodes.NodeUnavailable,
                $"The node {target.Id} that holds this session did not answer ({error}). Retry in a moment; a node that stays silent has its sessions reported lost.");
            if (isMcp && rpcId is not null)
            {
                await WriteToolErrorAsync(context, rpcId.Value, unavailable).ConfigureAwait(false);
                return;
            }
            throw unavailable;
        }
    }

    /// <summary>The node to forward to (null: serve here), for an MCP tool call its JSON-RPC id, and whether the request
    /// was answered already (an MCP tool call whose session is lost gets its tool error here; REST errors are thrown).</summary>
    private async Task<(NodeRecord? Node, JsonElement? RpcId, bool Answered)> TargetAsync(HttpContext context, bool isMcp)
    {
        var request = context.Request;
        var owner = CallerContext.Get(context);
        var ct = context.RequestAborted;
        if (isMcp)
        {
            using var call = await ReadJsonAsync(context).ConfigureAwait(false);
            if (call?.RootElement is not { ValueKind: JsonValueKind.Object } root
                || !root.TryGetProperty("method", out var method) || method.GetString() != "tools/call"
                || !root.TryGetProperty("id", out var id) || !root.TryGetProperty("params", out var p) || p.ValueKind != JsonValueKind.Object)
            {
                return (null, null, false);
            }
            var rpcId = id.Clone();
            var name = p.TryGetProperty("name", out var n) ? n.GetString() : null;
            var args = p.TryGetProperty("arguments", out var a) && a.ValueKind == JsonValueKind.Object ? a : default;
            try
            {
                if (name == "create_session")
                {
                    return (PlaceNew(Text(args, "image"), Text(args, "from_snapshot")), rpcId, false);
                }
                return (Text(args, "session_id") is { } session ? (await cluster.RouteAsync(session, owner, ct).ConfigureAwait(false)).Node : null, rpcId, false);
            }
            catch (SandboxException e)
            {
                await WriteToolErrorAsync(context, rpcId, e).ConfigureAwait(false);
                return (null, rpcId, true);
            }
        }
        var segments = request.Path.Value?.Split('/', StringSplitOptions.RemoveEmptyEntries) ?? [];
        if (segments is ["api", "sessions"] && HttpMethods.IsPost(request.Method))
        {
            using var body = await ReadJsonAsync(context).ConfigureAwait(false);
            var root = body?.RootElement is { ValueKind: JsonValueKind.Object } r ? r : default;
            return (PlaceNew(Text(root, "image"), Text(root, "from_snapshot")), null, false);
        }
        if (segments.Length >= 3 && segments[0] == "api" && segments[1] == "sessions")
        {
            return ((await cluster.RouteAsync(Uri.UnescapeDataString(segments[2]), owner, ct).ConfigureAwait(false)).Node, null, false);
        }
        if (segments.Length >= 2 && segments[0] == "links" && links.Peek(Uri.UnescapeDataString(segments[1])) is { } grant)
        {
            return ((await cluster.RouteAsync(grant.SessionId, grant.Owner, ct).ConfigureAwait(false)).Node, null, false);
        }
        return (null, null, false);
    }

    /// <summary>Where a new session goes; one made from a snapshot stays where the snapshot is (this node).</summary>
    private NodeRecord? PlaceNew(string? image, string? fromSnapshot) =>
        string.IsNullOrEmpty(fromSnapshot) ? cluster.Place(string.IsNullOrEmpty(image) ? options.Value.DefaultImage : image) : null;

    private static string? Text(JsonElement obj, string name) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>Reads a JSON body and rewinds it for whoever serves the request; null when it is not JSON.</summary>
    private static async Task<JsonDocument?> ReadJsonAsync(HttpContext context)
    {
        context.Request.EnableBuffering();
        try
        {
            return await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted).ConfigureAwait(false);
        }
        catch (JsonException)
        {
            return null; // not ours to judge: whoever serves it answers the bad request
        }
        finally
        {
            context.Request.Body.Position = 0;
        }
    }

    /// <summary>Answers an MCP tool call with a tool error (the same shape every tool's errors have).</summary>
    private static async Task WriteToolErrorAsync(HttpContext context, JsonElement id, SandboxException e)
    {
        var body = new System.Buffers.ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(body))
        {
            json.WriteStartObject();
            json.WriteString("jsonrpc", "2.0");
            json.WritePropertyName("id");
            id.WriteTo(json);
            json.WritePropertyName("result");
            JsonSerializer.Serialize(json, McpToolResults.Error(e), ModelContextProtocol.McpJsonUtilities.DefaultOptions);
            json.WriteEndObject();
        }
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = body.WrittenCount;
        await context.Response.Body.WriteAsync(body.WrittenMemory, context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>Copies the request as YARP does by default, keeps the caller's Host (links and origins the serving node
    /// derives from it stay the ones the caller used) and marks it forwarded.</summary>
    private sealed class MarkForwarded(string nodeId) : HttpTransformer
    {
        public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
        {
            await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken).ConfigureAwait(false);
            proxyRequest.Headers.Host = httpContext.Request.Host.Value;
            proxyRequest.Headers.TryAddWithoutValidation(ForwardedHeader, nodeId);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Forwarding to node {NodeId} failed: {Error}")]
    private static partial void LogForwardFailed(ILogger logger, string nodeId, ForwarderError error);
}
