using Microsoft.Extensions.Options;
using Sandbox.Ports;

namespace Sandbox.Server.Hosting;

/// <summary>The preview a request is for: its host named one (<see cref="PreviewHost"/>).</summary>
/// <param name="SessionId">The session.</param>
/// <param name="Port">The port.</param>
public sealed record PreviewTarget(string SessionId, int Port);

/// <summary>
/// Runs before routing: a request whose host names a preview (<c>{port}-{session}.{preview domain}</c>) belongs to that
/// preview whatever its path, so it gets the one preview endpoint and never an API route, the dashboard or
/// <c>/mcp</c>. <see cref="RequestGuardMiddleware"/> then asks for the preview's grant, not the API token, and
/// <see cref="ClusterForwardingMiddleware"/> sends it to the session's node.
/// </summary>
public sealed class PreviewHostMiddleware(RequestDelegate next, IOptionsMonitor<ServerOptions> options)
{
    /// <summary>The endpoint every preview request runs.</summary>
    public static readonly Endpoint Endpoint = new(Api.PortEndpoints.ServePreviewAsync,
        new EndpointMetadataCollection(new ClusterAffinity(ClusterAffinityKind.Preview)), "Preview");

    /// <summary>Handles one request.</summary>
    public Task InvokeAsync(HttpContext context)
    {
        if (Find(context, options.CurrentValue) is { } target)
        {
            context.Features.Set(target);
            context.SetEndpoint(Endpoint);
        }
        return next(context);
    }

    /// <summary>The preview the request's host names, or null.</summary>
    public static PreviewTarget? Find(HttpContext context, ServerOptions options) =>
        context.Request.Host.HasValue && PreviewHost.TryParse(context.Request.Host.Value, options.PreviewDomain, out var session, out var port)
            ? new PreviewTarget(session, port)
            : null;

    /// <summary>The preview an <c>Origin</c> header names, or null (any other origin, or none).</summary>
    public static PreviewTarget? FromOrigin(string origin, ServerOptions options) =>
        Uri.TryCreate(origin, UriKind.Absolute, out var uri) && PreviewHost.TryParse(uri.Host, options.PreviewDomain, out var session, out var port)
            ? new PreviewTarget(session, port)
            : null;
}
