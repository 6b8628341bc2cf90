using Microsoft.Extensions.Options;
using Sandbox.Client.Contracts;
using Sandbox.Git;
using Sandbox.Links;
using Sandbox.Server.Hosting;

namespace Sandbox.Server.Api;

/// <summary>REST endpoints of git sessions: a caller's bundle in, review, commit, export and push of the session's work.</summary>
internal static class GitEndpoints
{
    public static void Map(RouteGroupBuilder api)
    {
        api.MapPost("/sessions/{id}/git/import", async (string id, ImportGitBundleRequest body, GitWorkService work, HttpContext http, CancellationToken ct) =>
                TypedResults.Ok((await work.ImportBundleAsync(id, CallerContext.Get(http), body.Path ?? "", body.Ref, body.Branch, body.Origin, ct)).ToDto()))
            .WithName("ImportGitBundle").WithDescription("Makes a git bundle already in the workspace (upload it first) the session's repository: a repository the server cannot reach, "
                + "worked on here and pushed from the caller's machine.");
        api.MapPost("/sessions/{id}/git/update", async (string id, UpdateGitBaseRequest body, GitWorkService work, HttpContext http, CancellationToken ct) =>
                TypedResults.Ok((await work.UpdateBaseAsync(id, CallerContext.Get(http), body.Path ?? "", body.Ref ?? "", ct)).ToDto()))
            .WithName("UpdateGitBase").WithDescription("Rebases an imported git session's work onto a newer base that arrives as a bundle in the workspace; a conflict changes nothing (409 git_conflict).");
        api.MapGet("/sessions/{id}/git/review", async (string id, int? max_diff_chars, GitWorkService work, HttpContext http, CancellationToken ct) =>
                TypedResults.Ok((await work.ReviewAsync(id, CallerContext.Get(http), max_diff_chars ?? 200_000, ct)).ToDto()))
            .WithName("ReviewChanges").WithDescription("The work in a git session since its base: branch, commits, uncommitted changes, diff stat and the diff (uncommitted and new files included).");
        api.MapPost("/sessions/{id}/git/commit", async (string id, CommitChangesRequest body, GitWorkService work, HttpContext http, CancellationToken ct) =>
                TypedResults.Ok((await work.CommitAsync(id, CallerContext.Get(http), body.Message ?? "", ct)).ToDto()))
            .WithName("CommitChanges").WithDescription("Commits every change in a git session's workspace (new files too); nothing to commit is not an error.");
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
