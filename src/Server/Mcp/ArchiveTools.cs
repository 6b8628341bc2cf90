using Sandbox.Files;

namespace Sandbox.Server.Mcp;

/// <summary>The MCP tools for whole directories: an archive in (unpacked safely), a directory out as zip or tar.gz.</summary>
[McpServerToolType]
public sealed class ArchiveTools(WorkspaceArchives archives, WorkspaceFileService workspace, Sandbox.Links.LinkService links,
    Microsoft.Extensions.Options.IOptions<Sandbox.Server.Hosting.ServerOptions> server, Microsoft.Extensions.Options.IOptions<Sandbox.Links.LinkOptions> linkOptions,
    IHttpContextAccessor http, ILogger<ArchiveTools> logger) : SandboxToolsBase(http, logger)
{
    /// <summary>upload_archive.</summary>
    [McpServerTool(Name = "upload_archive", Title = "Upload a directory as an archive", Destructive = true, OpenWorld = false)]
    [Description("Unpacks a zip, tar or compressed tar into a directory of the session's /workspace (created when missing; files of the same name are " +
        "replaced, directories merge), as the sandbox user. Entries with absolute names, '..', links pointing outside, special files, and archives " +
        "above the entry or size limits are refused, and then nothing is written. For archives over about 1 MB use get_file_url with method 'PUT' " +
        "on a file, or REST PUT /api/sessions/{id}/archive/{path}.")]
    public Task<CallToolResult> UploadArchive(
        [Description("The session_id.")] string session_id,
        [Description("The directory to unpack into, relative to /workspace ('' for /workspace itself).")] string path,
        [Description("The archive's bytes, base64-encoded.")] string content_base64,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var bytes = FromBase64(content_base64);
        using var stream = new MemoryStream(bytes, writable: false);
        var a = (await archives.UploadAsync(session_id, Owner, path ?? "", stream, bytes.Length, cancellationToken)).ToDto();
        return McpToolResults.Ok($"Unpacked {a.Files} files, {a.Directories} directories and {a.Links} links ({a.Bytes} bytes) into /workspace/{a.Path}.", new { archive = a });
    });

    /// <summary>download_archive.</summary>
    [McpServerTool(Name = "download_archive", Title = "Download a directory as an archive", ReadOnly = false, Destructive = false, OpenWorld = false)]
    [Description("A directory of the session's /workspace (or all of it) as a zip or tar.gz, without the session's own .sandbox folder. It is kept at " +
        "/workspace/.sandbox/exports/; a small one comes back inline (an embedded blob), a larger one as a download link.")]
    public Task<CallToolResult> DownloadArchive(
        [Description("The session_id.")] string session_id,
        [Description("The directory, relative to /workspace ('' for all of it).")] string? path = null,
        [Description("'zip' (default) or 'tar.gz'.")] string format = "zip",
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var kind = format switch
        {
            "zip" => ArchiveFormat.Zip,
            "tar.gz" or "tgz" => ArchiveFormat.TarGz,
            _ => throw new SandboxException(SandboxErrorCodes.InvalidArgument, "format is 'zip' or 'tar.gz'."),
        };
        var (saved, size) = await archives.SaveAsync(session_id, Owner, path ?? "", kind, cancellationToken);
        var mime = kind == ArchiveFormat.Zip ? "application/zip" : "application/gzip";
        if (size > linkOptions.Value.InlineMaxBytes && Request is not null)
        {
            var dto = links.Create(session_id, Owner, saved, "GET", null, false).ToDto(PublicLinks.BaseUrl(Request, server.Value));
            return McpToolResults.Ok($"The archive is /workspace/{saved} ({size} bytes): download it from {dto.Url} (expires {dto.ExpiresAt:O}).",
                new { path = saved, size, mime_type = mime, link = dto });
        }
        var file = await workspace.DownloadAsync(session_id, Owner, saved, cancellationToken);
        var uri = $"sandbox://sessions/{session_id}/files/{Uri.EscapeDataString(saved).Replace("%2F", "/", StringComparison.Ordinal)}";
        return McpToolResults.Result([new EmbeddedResourceBlock { Resource = BlobResourceContents.FromBytes(file.Content, uri, mime) }], new { path = saved, size, mime_type = mime });
    });
}
