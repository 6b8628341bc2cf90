using Microsoft.AspNetCore.Routing.Patterns;

namespace Sandbox.Server.Hosting;

/// <summary>How a route's requests find the node that serves them in a cluster.</summary>
public enum ClusterAffinityKind
{
    /// <summary>The node that holds the session named by a route value.</summary>
    Session,
    /// <summary>The node placement picks for a new session (from the request's image).</summary>
    NewSession,
    /// <summary>The node that holds the session a signed link (a route value) is for.</summary>
    Link,
    /// <summary>An MCP request: a tool call goes where its <c>session_id</c> lives, a session-creating tool where
    /// placement says; everything else is served here.</summary>
    McpCall,
    /// <summary>A preview: the node that holds the session its host names (<see cref="PreviewTarget"/>).</summary>
    Preview,
}

/// <summary>Endpoint metadata: the request belongs to the node that <see cref="ClusterForwardingMiddleware"/> finds for
/// it. Routes without it are always served where they arrive.</summary>
/// <param name="Kind">How the node is found.</param>
/// <param name="RouteValue">The route value that names the session or the link, where one does.</param>
public sealed record ClusterAffinity(ClusterAffinityKind Kind, string? RouteValue = null)
{
    /// <summary>Marks the REST routes of the API group: every route under <c>sessions/{id}</c> belongs to that session's
    /// node, <c>POST sessions</c> to the node placement picks.</summary>
    public static void Mark(RouteGroupBuilder api)
    {
        ArgumentNullException.ThrowIfNull(api);
        ((IEndpointConventionBuilder)api).Add(builder =>
        {
            if (builder is not RouteEndpointBuilder route)
            {
                return;
            }
            if (route.RoutePattern.GetParameter("id") is not null && IsUnder(route.RoutePattern, "sessions"))
            {
                route.Metadata.Add(new ClusterAffinity(ClusterAffinityKind.Session, "id"));
            }
            else if (route.RoutePattern.PathSegments.Count == 2 && IsUnder(route.RoutePattern, "sessions")
                     && route.Metadata.OfType<HttpMethodMetadata>().Any(m => m.HttpMethods.Contains(HttpMethods.Post)))
            {
                route.Metadata.Add(new ClusterAffinity(ClusterAffinityKind.NewSession));
            }
        });
    }

    // /api/sessions/...: the second literal segment.
    private static bool IsUnder(RoutePattern pattern, string literal) =>
        pattern.PathSegments.Count >= 2 && pattern.PathSegments[1].Parts is [RoutePatternLiteralPart part] && part.Content == literal;
}
