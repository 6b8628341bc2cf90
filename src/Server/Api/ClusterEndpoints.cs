using System.Net;
using Sandbox.Client.Contracts;
using Sandbox.Cluster;

namespace Sandbox.Server.Api;

/// <summary>The cluster as this node sees it, and draining (an operator's action on the node itself).</summary>
internal static class ClusterEndpoints
{
    public static void Map(IEndpointRouteBuilder app, RouteGroupBuilder api)
    {
        api.MapGet("/cluster", (ClusterService cluster) => TypedResults.Ok(new ClusterDto(cluster.Enabled, cluster.NodeId,
                cluster.Nodes.Select(n => new ClusterNodeDto(n.Id, n.State.ToString().ToLowerInvariant(), cluster.IsAlive(n), n.Sessions, n.Capacity, n.Images, n.LastSeen)).ToList())))
            .WithName("GetCluster").WithTags("cluster").WithDescription("The nodes sharing this server's store, with their state and load.");

        // Loopback only: an operator drains a node from the node itself (`Sandbox.Server --drain`), never over the network.
        app.MapPost("/admin/drain", (HttpContext http, ClusterService cluster, CancellationToken ct) => SetDraining(http, cluster, true, ct))
            .WithName("DrainNode").WithTags("cluster").ExcludeFromDescription();
        app.MapPost("/admin/undrain", (HttpContext http, ClusterService cluster, CancellationToken ct) => SetDraining(http, cluster, false, ct))
            .WithName("UndrainNode").WithTags("cluster").ExcludeFromDescription();
    }

    private static async Task<IResult> SetDraining(HttpContext http, ClusterService cluster, bool draining, CancellationToken ct)
    {
        if (http.Connection.RemoteIpAddress is not { } ip || !IPAddress.IsLoopback(ip) || http.Request.Headers.ContainsKey(Hosting.ClusterForwardingMiddleware.ForwardedHeader))
        {
            throw new SandboxException(SandboxErrorCodes.Forbidden, "Draining is done on the node itself (from 127.0.0.1), e.g. `Sandbox.Server --drain`.");
        }
        if (!cluster.Enabled)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "This server is not part of a cluster (Sandbox:Cluster:Enabled).");
        }
        await cluster.SetDrainingAsync(draining, ct);
        return TypedResults.Ok(new { node = cluster.NodeId, state = cluster.State.ToString().ToLowerInvariant() });
    }
}
