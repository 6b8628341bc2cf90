using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Sandbox.Server.Hosting;

namespace Sandbox.Server.Tests.Hosting;

/// <summary>In a cluster the routes say which node their requests belong to: every route of a session, a new session,
/// a link, the MCP endpoint; nothing else is forwarded. Read from the server as built (not started: no engine needed).</summary>
public sealed class ClusterAffinityTests
{
    [Fact]
    public async Task Every_session_route_and_only_those_carry_the_cluster_affinity()
    {
        await using var app = ServerProgram.BuildHttp(["--urls", "http://127.0.0.1:0"]);
        var routes = ((IEndpointRouteBuilder)app).DataSources.SelectMany(d => d.Endpoints).OfType<RouteEndpoint>()
            .Select(e => (Pattern: e.RoutePattern.RawText ?? "", Methods: e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()?.HttpMethods ?? [],
                Affinity: e.Metadata.GetMetadata<ClusterAffinity>()))
            .ToList();
        var sessionRoutes = routes.Where(r => r.Pattern.StartsWith("/api/sessions/{id}", StringComparison.Ordinal)).ToList();
        Assert.True(sessionRoutes.Count >= 30, $"{sessionRoutes.Count} session routes among {string.Join(" ", routes.Take(12).Select(r => r.Pattern))}");
        Assert.All(sessionRoutes, r => Assert.Equal(new ClusterAffinity(ClusterAffinityKind.Session, "id"), r.Affinity));
        Assert.Contains(routes, r => r.Pattern == "/api/sessions" && r.Methods.Contains("POST") && r.Affinity?.Kind == ClusterAffinityKind.NewSession);
        Assert.Contains(routes, r => r.Pattern == "/api/sessions" && r.Methods.Contains("GET") && r.Affinity is null);
        Assert.Contains(routes, r => r.Pattern.StartsWith("/links/{token}", StringComparison.Ordinal) && r.Affinity == new ClusterAffinity(ClusterAffinityKind.Link, "token"));
        Assert.Contains(routes, r => r.Pattern.StartsWith("/mcp", StringComparison.Ordinal) && r.Affinity?.Kind == ClusterAffinityKind.McpCall);
        Assert.DoesNotContain(routes, r => r.Affinity is not null && !r.Pattern.StartsWith("/api/sessions", StringComparison.Ordinal)
            && !r.Pattern.StartsWith("/links/", StringComparison.Ordinal) && !r.Pattern.StartsWith("/mcp", StringComparison.Ordinal));
    }
}
