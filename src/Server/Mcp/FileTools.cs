using System.Text;
using Sandbox.Files;

namespace Sandbox.Server.Mcp;

/// <summary>The MCP tools of the workspace files area.</summary>
[McpServerToolType]
public sealed class FileTools(WorkspaceFileService workspace, Sandbox.Files.CodeSearch search, Sandbox.Links.LinkService links, Microsoft.Extensions.Options.IOptions<Sandbox.Server.Hosting.ServerOptions> server,
    Microsoft.Extensions.Options.IOptions<Sandbox.Links.LinkOptions> linkOptions, IHttpContextAccessor http, ILogger<FileTools> logger) : SandboxToolsBase(http, logger)
{
    /// <summary>get_file_url.</summary>
    [McpServerTool(Name = "get_file_url", Title = "Get a link to a session file", Destructive = false, OpenWorld = false)]
    [Description("Returns a short-lived URL for one file of the session, for data too big for a tool argument: GET downloads it (resumable with " +
        "Range; a directory comes as tar), PUT uploads it (curl -T FILE URL). It needs no token, works only for that session, path and method, and " +
        "dies with the session or at expiry.")]
    public Task<CallToolResult> GetFileUrl(
        [Description("The session_id.")] string session_id,
        [Description("Path relative to /workspace.")] string path,
        [Description("'GET' (download, default) or 'PUT' (upload).")] string method = "GET",
        [Description("Seconds until the link expires (default 900).")] int? expires_seconds = null,
        [Description("Whether the link works only once.")] bool single_use = false) => Run(() =>
    {
        var link = links.Create(session_id, Owner, path, method, expires_seconds is { } s ? TimeSpan.FromSeconds(s) : null, single_use);
        var dto = link.ToDto(PublicLinks.BaseUrl(Request, server.Value));
        var how = dto.Method == "PUT" ? $"curl -T LOCAL_FILE '{dto.Url}'" : $"curl -o FILE '{dto.Url}'";
        return Task.FromResult(McpToolResults.Ok($"{dto.Method} {dto.Url}\n(expires {dto.ExpiresAt:O}{(dto.SingleUse ? ", single use" : "")}; e.g. {how})", dto));
    });

    /// <summary>upload_file.</summary>
    [McpServerTool(Name = "upload_file", Title = "Upload a file to a session", Destructive = true, OpenWorld = false)]
    [Description("Writes a file into the session's /workspace (parent folders are created, an existing file is replaced). The path is relative to " +
        "/workspace; absolute paths and '..' are refused. For files over about 1 MB use get_file_url with method 'PUT' and upload out of band.")]
    public Task<CallToolResult> UploadFile(
        [Description("The session_id.")] string session_id,
        [Description("Path relative to /workspace, e.g. 'data/input.csv'.")] string path,
        [Description("The file's bytes, base64-encoded.")] string content_base64,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var bytes = FromBase64(content_base64);
        using var stream = new MemoryStream(bytes, writable: false);
        var f = (await workspace.UploadAsync(session_id, Owner, path, stream, cancellationToken)).ToDto();
        return McpToolResults.Ok($"Wrote {f.Size} bytes to /workspace/{f.Path}.", new { file = f });
    });

    /// <summary>download_file.</summary>
    [McpServerTool(Name = "download_file", Title = "Download a file from a session", ReadOnly = true, OpenWorld = false)]
    [Description("Reads a file from the session's /workspace. Text files come back as text, PNG/JPEG/GIF as images, other binary files as an " +
        "embedded blob resource; a directory comes back as a tar archive. A file over about 1 MB comes back as a download link instead.")]
    public Task<CallToolResult> DownloadFile(
        [Description("The session_id.")] string session_id,
        [Description("Path relative to /workspace.")] string path,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var size = await workspace.SizeAsync(session_id, Owner, path, cancellationToken);
        if (size > linkOptions.Value.InlineMaxBytes && Request is not null)
        {
            // Too big for a tool answer: a link instead.
            var link = links.Create(session_id, Owner, path, "GET", null, false);
            var dto = link.ToDto(PublicLinks.BaseUrl(Request, server.Value));
            return McpToolResults.Ok($"/workspace/{dto.Path} is {size} bytes, more than an answer carries ({linkOptions.Value.InlineMaxBytes}). Download it from {dto.Url} (expires {dto.ExpiresAt:O}).",
                new { path = dto.Path, size, link = dto });
        }
        var file = await workspace.DownloadAsync(session_id, Owner, path, cancellationToken);
        var name = file.Path.Length == 0 ? "workspace" : file.Path.Split('/')[^1];
        var mime = file.IsDirectory ? "application/x-tar" : ContentTypes.TryGetContentType(name, out var t) ? t : "application/octet-stream";
        var meta = new { path = file.Path, size = file.Content.Length, mime_type = mime, is_directory = file.IsDirectory };
        if (!file.IsDirectory && mime.StartsWith("image/", StringComparison.Ordinal) && mime is "image/png" or "image/jpeg" or "image/gif" or "image/webp")
        {
            return McpToolResults.Result([ImageContentBlock.FromBytes(file.Content, mime)], meta);
        }
        if (!file.IsDirectory && TryText(file.Content) is { } text)
        {
            return McpToolResults.Result([new TextContentBlock { Text = text }], meta);
        }
        var uri = $"sandbox://sessions/{session_id}/files/{Uri.EscapeDataString(file.Path).Replace("%2F", "/", StringComparison.Ordinal)}";
        return McpToolResults.Result([new EmbeddedResourceBlock { Resource = BlobResourceContents.FromBytes(file.Content, uri, mime) }], meta);
    });

    /// <summary>search_code.</summary>
    [McpServerTool(Name = "search_code", Title = "Search the workspace's code", ReadOnly = true, OpenWorld = false)]
    [Description("Finds the lines of the session's text files that match a pattern (an extended regular expression, or plain text with fixed): " +
        "path, line number and the line, at most max_matches (.git, .sandbox and node_modules are left out).")]
    public Task<CallToolResult> SearchCode(
        [Description("The session_id.")] string session_id,
        [Description("What to look for: an extended regular expression (e.g. 'def \\w+_test'), or plain text with fixed.")] string pattern,
        [Description("A file or folder relative to /workspace (optional; default everything).")] string? path = null,
        [Description("Take the pattern as plain text.")] bool @fixed = false,
        [Description("Ignore case.")] bool ignore_case = false,
        [Description("Most matches to return (default 200, at most 1000).")] int max_matches = 200,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var found = await search.SearchAsync(session_id, Owner, pattern, path, @fixed, ignore_case, max_matches, cancellationToken);
        var result = new CodeSearchDto(found.Matches.Select(m => new CodeMatchDto(m.Path, m.Line, m.Text)).ToList(), found.Truncated);
        var text = result.Matches.Count == 0 ? "No matches." : string.Join('\n', result.Matches.Select(m => $"{m.Path}:{m.Line}: {m.Text}"))
            + (result.Truncated ? "\n(more matches were left out; narrow the pattern or the path)" : "");
        return McpToolResults.Ok(text, new { search = result });
    });

    /// <summary>list_files.</summary>
    [McpServerTool(Name = "list_files", Title = "List files in a session", ReadOnly = true, OpenWorld = false)]
    [Description("Lists a directory of the session's /workspace: name, kind (file, directory, symlink), size; with recursive, every entry below it " +
        "(at most 10,000; .git listed but not entered).")]
    public Task<CallToolResult> ListFiles(
        [Description("The session_id.")] string session_id,
        [Description("Directory relative to /workspace; empty for the workspace itself.")] string? path = null,
        [Description("Every entry below the directory, not only its own (optional).")] bool recursive = false,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        if (recursive)
        {
            var (entries, truncated) = await workspace.TreeAsync(session_id, Owner, path, cancellationToken);
            var tree = new FileTreeDto(entries.Select(f => f.ToDto()).ToList(), truncated);
            var lines = string.Join('\n', tree.Entries.Select(f => $"{(f.Kind == "directory" ? "d" : f.Kind == "symlink" ? "l" : "-")} {f.Size,10} {f.Path}"));
            return McpToolResults.Ok((lines.Length == 0 ? "(empty)" : lines) + (truncated ? "\n(more entries were left out)" : ""), new { tree });
        }
        var files = (await workspace.ListAsync(session_id, Owner, path, cancellationToken)).Select(f => f.ToDto()).ToList();
        var text = files.Count == 0 ? "(empty)" : string.Join('\n', files.Select(f => $"{(f.Kind == "directory" ? "d" : f.Kind == "symlink" ? "l" : "-")} {f.Size,10} {f.Path}"));
        return McpToolResults.Ok(text, new { files });
    });

    /// <summary>delete_file.</summary>
    [McpServerTool(Name = "delete_file", Title = "Delete a file in a session", Destructive = true, OpenWorld = false)]
    [Description("Deletes a file or a directory tree in the session's /workspace.")]
    public Task<CallToolResult> DeleteFile(
        [Description("The session_id.")] string session_id,
        [Description("Path relative to /workspace.")] string path,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        await workspace.DeleteAsync(session_id, Owner, path, cancellationToken);
        return McpToolResults.Ok($"Deleted /workspace/{path}.", new { deleted = path });
    });

    private static readonly Microsoft.AspNetCore.StaticFiles.FileExtensionContentTypeProvider ContentTypes = new();
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    internal static string? TryText(byte[] bytes)
    {
        if (Array.IndexOf(bytes, (byte)0) >= 0)
        {
            return null;
        }
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }
}
