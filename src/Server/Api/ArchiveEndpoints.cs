using Sandbox.Client.Contracts;
using Sandbox.Files;
using Sandbox.Server.Contracts;
using Sandbox.Server.Hosting;

namespace Sandbox.Server.Api;

/// <summary>Whole directories in and out: <c>PUT /api/sessions/{id}/archive/{path}</c> unpacks an archive (zip, tar,
/// tar.gz) into a workspace directory safely; <c>GET /api/sessions/{id}/editable.zip</c> and <c>editable.tar.gz</c>
/// (<c>?path=</c> a sub-directory) stream a directory out.</summary>
internal static class ArchiveEndpoints
{
    public static void Map(RouteGroupBuilder api)
    {
        api.MapPut("/sessions/{id}/archive", (string id, WorkspaceArchives archives, HttpContext http, CancellationToken ct) => UploadAsync(id, "", archives, http, ct))
            .WithName("UploadArchiveToWorkspace").WithTags("files").WithDescription("Request body: a zip, tar or compressed tar, unpacked into /workspace.");
        api.MapPut("/sessions/{id}/archive/{**path}", (string id, string path, WorkspaceArchives archives, HttpContext http, CancellationToken ct) => UploadAsync(id, path, archives, http, ct))
            .WithName("UploadArchive").WithTags("files")
            .WithDescription("Request body: a zip, tar or compressed tar (Content-Length required), unpacked into the directory as the sandbox user. Absolute names, '..', "
                + "links pointing out, special files and archives above the entry or size limits are refused with nothing written.");
        api.MapGet("/sessions/{id}/editable.zip", (string id, string? path, WorkspaceArchives archives, HttpContext http, CancellationToken ct) =>
                DownloadAsync(id, path, ArchiveFormat.Zip, archives, http, ct))
            .WithName("DownloadZip").WithTags("files").WithDescription("The workspace (or ?path= a directory of it) as a zip; links are left out.");
        api.MapGet("/sessions/{id}/editable.tar.gz", (string id, string? path, WorkspaceArchives archives, HttpContext http, CancellationToken ct) =>
                DownloadAsync(id, path, ArchiveFormat.TarGz, archives, http, ct))
            .WithName("DownloadTarGz").WithTags("files").WithDescription("The workspace (or ?path= a directory of it) as a gzip-compressed tar.");
    }

    private static async Task<IResult> UploadAsync(string id, string path, WorkspaceArchives archives, HttpContext http, CancellationToken ct) =>
        TypedResults.Ok((await archives.UploadAsync(id, CallerContext.Get(http), path, http.Request.Body, http.Request.ContentLength ?? -1, ct)).ToDto());

    private static async Task<IResult> DownloadAsync(string id, string? path, ArchiveFormat format, WorkspaceArchives archives, HttpContext http, CancellationToken ct)
    {
        var name = (string.IsNullOrEmpty(path) ? "workspace" : path.TrimEnd('/').Split('/')[^1]) + (format == ArchiveFormat.Zip ? ".zip" : ".tar.gz");
        // Headers only once the archive starts: a refusal before that is an ordinary problem answer.
        http.Response.OnStarting(() =>
        {
            http.Response.ContentType = format == ArchiveFormat.Zip ? "application/zip" : "application/gzip";
            http.Response.Headers.ContentDisposition = new System.Net.Mime.ContentDisposition { FileName = name, DispositionType = "attachment" }.ToString();
            return Task.CompletedTask;
        });
        // The zip writer finishes its entries and central directory with synchronous writes.
        if (http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpBodyControlFeature>() is { } body)
        {
            body.AllowSynchronousIO = true;
        }
        await archives.WriteAsync(id, CallerContext.Get(http), path ?? "", format, http.Response.Body, ct);
        return Results.Empty;
    }
}
