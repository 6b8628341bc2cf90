using Microsoft.Extensions.Options;
using Sandbox.Client.Contracts;
using Sandbox.Git;
using Sandbox.Links;
using Sandbox.Server.Hosting;

namespace Sandbox.Server.Api;

/// <summary>REST endpoints of git sessions: export and push of the session's work.</summary>
internal static class GitEndpoints
{
    public static void Map(RouteGroupBuilder api)
    {
        api.MapPost("/sessions/{id}/git/export", async (string id, ExportChangesRequest? body, GitService git, LinkService links, IOptions<ServerOptions> server,
                HttpContext http, CancellationToken ct) =>
            {
                var owner = CallerContext.Get(http);
                var export = await git.ExportAsync(id, owner, string.IsNullOrEmpty(body?.Format) ? "patch" : body.Format, body?.CommitMessage, ct);
                return TypedResults.Ok(export.ToDto(PublicLinks.ExportLink(links, id, owner, export.Path, http, server.Value)));
            })
            .WithName("ExportChanges").WithDescription("The session's commits since it was cloned, as a patch (git am) or a bundle (git fetch), kept in the workspace and linked.");
        api.MapPost("/sessions/{id}/git/push", async (string id, PushChangesRequest body, GitService git, HttpContext http, CancellationToken ct) =>
                TypedResults.Ok((await git.PushAsync(id, CallerContext.Get(http), body.RemoteBranch ?? "", body.Force, body.CommitMessage, ct)).ToDto()))
            .WithName("PushChanges").WithDescription("Pushes the session's current commit to a branch of the repository it was cloned from, with the operator's credentials; protected branches are refused.");
    }
}
