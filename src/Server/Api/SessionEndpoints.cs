using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Sandbox.Client.Contracts;
using Sandbox.Server.Hosting;
using Sandbox.Sessions;

namespace Sandbox.Server.Api;

/// <summary>REST endpoints of the sessions area (and health).</summary>
internal static class SessionEndpoints
{
    public static void Map(IEndpointRouteBuilder app, RouteGroupBuilder api)
    {
        app.MapGet("/healthz", async (SessionService sessions, CancellationToken ct) =>
        {
            var health = (await sessions.GetHealthAsync(ct)).ToDto();
            return Results.Json(health, SandboxJson.Options, statusCode: health.Status == "ok" ? 200 : 503);
        }).WithName("Health").WithTags("health");

        api.MapPost("/sessions", async Task<Created<SessionDto>> (CreateSessionRequest? body, SessionService sessions, HttpContext http, CancellationToken ct) =>
        {
            var session = await sessions.CreateAsync(body.ToSpec(), CallerContext.Get(http), ct);
            return TypedResults.Created($"/api/sessions/{session.Id}", session.ToDto());
        }).WithName("CreateSession");

        api.MapGet("/sessions", async (Sandbox.Cluster.ClusterService cluster, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok((await cluster.ListAsync(CallerContext.Get(http), ct, MetadataFilter(http.Request.Query))).Select(s => s.ToDto()).ToList()))
            .WithName("ListSessions").WithDescription("Your sessions; in a cluster, those of every live node. ?metadata.KEY=VALUE (repeatable) keeps those whose metadata has it.");

        api.MapMethods("/sessions/{id}", ["PATCH"], async (string id, UpdateSessionRequest body, SessionService sessions, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok((await sessions.UpdateAsync(id, CallerContext.Get(http), body.Metadata, body.Env, ct)).ToDto()))
            .WithName("UpdateSession").WithDescription("Replaces the session's metadata and/or environment (what the body gives). A new environment restarts the Python interpreter.");

        api.MapGet("/sessions/{id}", (string id, SessionService sessions, HttpContext http) =>
            TypedResults.Ok(sessions.Get(id, CallerContext.Get(http)).ToDto())).WithName("GetSession");

        api.MapDelete("/sessions/{id}", async (string id, SessionService sessions, HttpContext http, CancellationToken ct) =>
        {
            await sessions.CloseAsync(id, CallerContext.Get(http), ct);
            return TypedResults.NoContent();
        }).WithName("CloseSession");

        api.MapGet("/sessions/{id}/history", async (string id, [FromQuery] int? limit, SessionService sessions, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok((await sessions.GetHistoryAsync(id, CallerContext.Get(http), limit ?? 1000, ct)).Select(h => h.ToDto()).ToList()))
            .WithName("GetSessionHistory").WithDescription("The session's audit log: lifecycle events and every execution (code hash and size, exit, duration, output head).");

        api.MapPost("/sessions/{id}/pause", async (string id, SessionService sessions, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok((await sessions.PauseAsync(id, CallerContext.Get(http), ct)).ToDto())).WithName("PauseSession");

        api.MapPost("/sessions/{id}/restart", async (string id, SessionService sessions, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok((await sessions.RestartAsync(id, CallerContext.Get(http), ct)).ToDto())).WithName("RestartSession")
            .WithDescription("Recreates the session on its image as it is now, keeping its workspace (the agents' home and conversations with it), name, repository, limits and network; the old session is closed and its running processes and terminals end.");

        api.MapPost("/sessions/{id}/docker/images", async (string id, LoadDockerImageRequest body, Sandbox.NestedDocker.NestedDockerService docker, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok((await docker.LoadImageAsync(id, CallerContext.Get(http), body.Image, ct)).ToDto())).WithName("LoadDockerImage")
            .WithDescription("Loads an allowed image of the server's engine into the session's own Docker engine (a session created with docker: true).");

        api.MapPost("/sessions/{id}/resume", async (string id, SessionService sessions, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok((await sessions.ResumeAsync(id, CallerContext.Get(http), ct)).ToDto())).WithName("ResumeSession");

        api.MapPut("/sessions/{id}/network", async (string id, NetworkDto? body, Sandbox.Egress.EgressService egress, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok((await egress.UpdateAsync(id, CallerContext.Get(http),
                body.ToEngine() ?? throw new SandboxException(SandboxErrorCodes.InvalidArgument, "A body {\"allow\": [...]} is required."), ct)).ToDto()))
            .WithName("UpdateSessionNetwork")
            .WithDescription("Replaces the allow list of a session created with a network, while it runs (its secrets stay).");
    }

    /// <summary>The <c>metadata.KEY=VALUE</c> query parameters as a filter, or null when there are none.</summary>
    internal static IReadOnlyDictionary<string, string>? MetadataFilter(IQueryCollection query)
    {
        var filter = query.Where(q => q.Key.StartsWith("metadata.", StringComparison.Ordinal) && q.Key.Length > "metadata.".Length)
            .ToDictionary(q => q.Key["metadata.".Length..], q => q.Value.ToString(), StringComparer.Ordinal);
        return filter.Count == 0 ? null : filter;
    }
}
