using Sandbox.Client.Contracts;
using Sandbox.Server.Hosting;
using Sandbox.Sessions;
using Sandbox.Snapshots;

namespace Sandbox.Server.Api;

/// <summary>REST endpoints of snapshots and forks.</summary>
internal static class SnapshotEndpoints
{
    public static void Map(RouteGroupBuilder api)
    {
        api.MapPost("/sessions/{id}/snapshots", async (string id, SnapshotRequest? body, SnapshotService snapshots, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok((await snapshots.CreateAsync(id, CallerContext.Get(http), body?.Name, ct)).ToDto()))
            .WithName("SnapshotSession").WithDescription("Saves the session's workspace; create sessions from it with from_snapshot.");
        api.MapGet("/snapshots", (SnapshotService snapshots, HttpContext http) =>
            TypedResults.Ok(snapshots.List(CallerContext.Get(http)).Select(s => s.ToDto()).ToList())).WithName("ListSnapshots");
        api.MapDelete("/snapshots/{sid}", (string sid, SnapshotService snapshots, HttpContext http) =>
        {
            snapshots.Delete(CallerContext.Get(http), sid);
            return TypedResults.NoContent();
        }).WithName("DeleteSnapshot");
        api.MapPost("/sessions/{id}/fork", async (string id, ForkRequest? body, SessionService sessions, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok((await sessions.ForkAsync(id, CallerContext.Get(http), body?.Count ?? 1, ct)).Select(s => s.ToDto()).ToList()))
            .WithName("ForkSession").WithDescription("New sessions with a copy of this one's workspace (fresh Python interpreters).");
    }

    /// <summary>Body of a snapshot request.</summary>
    public sealed record SnapshotRequest(string? Name);

    /// <summary>Body of a fork request.</summary>
    public sealed record ForkRequest(int? Count);
}
