using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Sandbox.Client.Contracts;
using Sandbox.Server.Hosting;
using Microsoft.AspNetCore.StaticFiles;
using Sandbox.Files;

namespace Sandbox.Server.Api;

/// <summary>REST endpoints of the workspace files area.</summary>
internal static class FileEndpoints
{
    private static readonly FileExtensionContentTypeProvider ContentTypes = new();

    public static void Map(RouteGroupBuilder api)
    {
        api.MapGet("/sessions/{id}/search", async (string id, [FromQuery] string pattern, [FromQuery] string? path, [FromQuery] bool? @fixed,
                [FromQuery(Name = "ignore_case")] bool? ignoreCase, [FromQuery(Name = "max_matches")] int? maxMatches, CodeSearch search, HttpContext http, CancellationToken ct) =>
            {
                var found = await search.SearchAsync(id, CallerContext.Get(http), pattern, path, @fixed ?? false, ignoreCase ?? false, maxMatches ?? 200, ct);
                return TypedResults.Ok(new CodeSearchDto(found.Matches.Select(m => new CodeMatchDto(m.Path, m.Line, m.Text)).ToList(), found.Truncated));
            })
            .WithName("SearchCode").WithDescription("Lines of the workspace's text files matching ?pattern= (an extended regular expression; ?fixed=true for plain text), "
                + "under ?path=, at most ?max_matches= (200; up to 1000). .git, .sandbox and node_modules are left out.");

        api.MapGet("/sessions/{id}/files", async (string id, [FromQuery] string? dir, [FromQuery] bool? recursive, WorkspaceFileService files, HttpContext http, CancellationToken ct) =>
        {
            if (recursive == true)
            {
                var (entries, truncated) = await files.TreeAsync(id, CallerContext.Get(http), dir, ct);
                return Results.Ok(new FileTreeDto(entries.Select(f => f.ToDto()).ToList(), truncated));
            }
            return Results.Ok((await files.ListAsync(id, CallerContext.Get(http), dir, ct)).Select(f => f.ToDto()).ToList());
        })
            .WithName("ListFiles").WithTags("files")
            .WithDescription("A directory's entries; with recursive=true every entry below it as {entries, truncated} (at most 10,000; .git listed but not entered).");

        api.MapPut("/sessions/{id}/files/{**path}", async (string id, string path, WorkspaceFileService files, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok((await files.UploadAsync(id, CallerContext.Get(http), path, http.Request.Body, ct)).ToDto()))
            .WithName("UploadFile").WithTags("files")
            .WithDescription("Request body: the raw file bytes (any content type).");

        api.MapGet("/sessions/{id}/files/{**path}", async (string id, string path, WorkspaceFileService files, HttpContext http, CancellationToken ct) =>
        {
            var file = await files.DownloadAsync(id, CallerContext.Get(http), path, ct);
            var name = file.Path.Length == 0 ? "workspace" : file.Path.Split('/')[^1];
            if (file.IsDirectory)
            {
                return Results.File(file.Content, "application/x-tar", name + ".tar");
            }
            var type = ContentTypes.TryGetContentType(name, out var t) ? t : "application/octet-stream";
            return Results.File(file.Content, type, name);
        }).WithName("DownloadFile").WithTags("files");

        api.MapDelete("/sessions/{id}/files/{**path}", async (string id, string path, WorkspaceFileService files, HttpContext http, CancellationToken ct) =>
        {
            await files.DeleteAsync(id, CallerContext.Get(http), path, ct);
            return TypedResults.NoContent();
        }).WithName("DeleteFile").WithTags("files");
    }
}
