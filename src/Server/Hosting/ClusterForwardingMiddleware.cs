using System.Text.Json;
using Microsoft.Extensions.Options;
using ModelContextProtocol.Protocol;
using Sandbox.Cluster;
using Sandbox.Links;
using Sandbox.Server.Mcp;
using Yarp.ReverseProxy.Forwarder;

namespace Sandbox.Server.Hosting;

/// <summary>
/// In a cluster, sends a request to the node that serves it, with YARP's forwarder (bodies, streams, server-sent
/// events and WebSockets pass through unchanged, the caller's credentials included): a request about another node's
/// session (REST under <c>/api/sessions/{id}</c>, an MCP <c>tools/call</c> with that <c>session_id</c>, a signed link),
/// and a new session that placement gives to another node. A forwarded request carries
/// <see cref="ForwardedHeader"/> and is always served where it arrives, so nothing is forwarded twice. The routes say
/// what they belong to (<see cref="ClusterAffinity"/> metadata, read once routing has chosen the endpoint), which node
/// that is the engine's <see cref="ClusterService"/> decides, and the client is YARP's (<see cref="NodeClientFactory"/>);
/// this is only the HTTP half.
/// </summary>
public sealed partial class ClusterForwardingMiddleware(
    RequestDelegate next, ClusterService cluster, LinkService links, IHttpForwarder forwarder, NodeClientFactory clients,
    IOptions<SandboxOptions> options, IOptions<ClusterOptions> clusterOptions, ILogger<ClusterForwardingMiddleware> logger)
{
    /// <summary>Marks a request one node forwarded to another (its value: the forwarding node's id).</summary>
    public const string ForwardedHeader = "X-Sandbox-Forwarded-By";

    /// <summary>Names the node that served a request (on every answer in a cluster, forwarded ones included).</summary>
    public const string NodeHeader = "X-Sandbox-Node";

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
        var error = await forwarder.SendAsync(context, target.Url, clients.Client,
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
        // Which requests belong to which node is said by the routes themselves (ClusterAffinity metadata).
        var affinity = context.GetEndpoint()?.Metadata.GetMetadata<ClusterAffinity>();
        var owner = CallerContext.Get(context);
        var ct = context.RequestAborted;
        switch (affinity?.Kind)
        {
            case ClusterAffinityKind.McpCall when isMcp:
                return await McpTargetAsync(context, owner, ct).ConfigureAwait(false);
            case ClusterAffinityKind.NewSession:
            {
                using var body = await ReadJsonAsync(context).ConfigureAwait(false);
                var root = body?.RootElement is { ValueKind: JsonValueKind.Object } r ? r : default;
                return (PlaceNew(Text(root, "image"), Text(root, "from_snapshot"), Mounts(root)), null, false);
            }
            case ClusterAffinityKind.Session when context.GetRouteValue(affinity.RouteValue!) is string session:
                return ((await cluster.RouteAsync(session, owner, ct).ConfigureAwait(false)).Node, null, false);
            case ClusterAffinityKind.Preview when context.Features.Get<PreviewTarget>() is { } preview:
                return ((await cluster.RouteAsync(preview.SessionId, owner, ct).ConfigureAwait(false)).Node, null, false);
            case ClusterAffinityKind.Link when context.GetRouteValue(affinity.RouteValue!) is string token && links.Peek(token) is { } grant:
                return ((await cluster.RouteAsync(grant.SessionId, grant.Owner, ct).ConfigureAwait(false)).Node, null, false);
            default:
                return (null, null, false);
        }
    }

    /// <summary>An MCP tool call: one that creates a session goes where placement says, one with a <c>session_id</c>
    /// where that session lives; anything else (initialize, lists, notifications) is served here.</summary>
    private async Task<(NodeRecord? Node, JsonElement? RpcId, bool Answered)> McpTargetAsync(HttpContext context, string owner, CancellationToken ct)
    {
        using var call = await ReadJsonAsync(context).ConfigureAwait(false);
        if (call?.RootElement is not { ValueKind: JsonValueKind.Object } root
            || !root.TryGetProperty("method", out var method) || method.GetString() != RequestMethods.ToolsCall
            || !root.TryGetProperty("id", out var id) || !root.TryGetProperty("params", out var p) || p.ValueKind != JsonValueKind.Object)
        {
            return (null, null, false);
        }
        var rpcId = id.Clone();
        var name = p.TryGetProperty("name", out var n) ? n.GetString() : null;
        var args = p.TryGetProperty("arguments", out var a) && a.ValueKind == JsonValueKind.Object ? a : default;
        try
        {
            if (name == SessionTools.CreateSessionTool)
            {
                return (PlaceNew(Text(args, "image"), Text(args, "from_snapshot"), Mounts(args)), rpcId, false);
            }
            return (Text(args, "session_id") is { } session ? (await cluster.RouteAsync(session, owner, ct).ConfigureAwait(false)).Node : null, rpcId, false);
        }
        catch (SandboxException e)
        {
            await WriteToolErrorAsync(context, rpcId, e).ConfigureAwait(false);
            return (null, rpcId, true);
        }
    }

    /// <summary>Where a new session goes; one made from a snapshot stays where the snapshot is, and one that mounts
    /// volumes where the volumes are (this node: snapshots and volumes live in a node's data directory).</summary>
    private NodeRecord? PlaceNew(string? image, string? fromSnapshot, bool mountsVolumes) =>
        string.IsNullOrEmpty(fromSnapshot) && !mountsVolumes ? cluster.Place(string.IsNullOrEmpty(image) ? options.Value.DefaultImage : image) : null;

    private static bool Mounts(JsonElement obj) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty("volumes", out var v) && v.ValueKind == JsonValueKind.Array && v.GetArrayLength() > 0;

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
