using Microsoft.Extensions.Options;
using Sandbox.Execution;
using Sandbox.Files;
using Sandbox.Server.Hosting;

namespace Sandbox.Server.Mcp;

/// <summary>Session files and execution output as MCP resources, so clients that show resources can attach a file
/// without a tool call and without base64 in arguments. Read-only; large content is read by range.</summary>
[McpServerResourceType]
public sealed class WorkspaceResources(WorkspaceFileService files, OutputLog outputs, IOptions<Sandbox.Links.LinkOptions> linkOptions, IHttpContextAccessor http)
{
    private static readonly Microsoft.AspNetCore.StaticFiles.FileExtensionContentTypeProvider ContentTypes = new();

    private string Owner => CallerContext.Get(http.HttpContext);

    /// <summary>A workspace file.</summary>
    [McpServerResource(UriTemplate = "sandbox://sessions/{session_id}/files/{+path}", Name = "workspace_file", Title = "A file in a session's /workspace")]
    [Description("A file in a session's /workspace: text as text, other files as a blob. Files over the inline limit are refused with a pointer to " +
        "get_file_url.")]
    public async Task<ResourceContents> ReadFile(string session_id, string path, CancellationToken cancellationToken)
    {
        var size = await files.SizeAsync(session_id, Owner, path, cancellationToken);
        if (size > linkOptions.Value.InlineMaxBytes)
        {
            throw new McpException($"/workspace/{path} is {size} bytes, more than a resource read carries ({linkOptions.Value.InlineMaxBytes}); use the get_file_url tool.");
        }
        var file = await files.DownloadAsync(session_id, Owner, path, cancellationToken);
        var uri = $"sandbox://sessions/{session_id}/files/{file.Path}";
        var mime = file.IsDirectory ? "application/x-tar" : ContentTypes.TryGetContentType(file.Path, out var t) ? t : "application/octet-stream";
        if (!file.IsDirectory && FileTools.TryText(file.Content) is { } text)
        {
            return new TextResourceContents { Uri = uri, MimeType = mime.StartsWith("text/", StringComparison.Ordinal) ? mime : "text/plain", Text = text };
        }
        return BlobResourceContents.FromBytes(file.Content, uri, mime);
    }

    /// <summary>A range of an execution's kept output.</summary>
    [McpServerResource(UriTemplate = "sandbox://sessions/{session_id}/executions/{execution_id}/{stream}{?offset,length}", Name = "execution_output",
        Title = "An execution's kept stdout or stderr", MimeType = "text/plain")]
    [Description("Bytes offset..offset+length (default 0..65536) of an execution's whole stdout or stderr, kept when its answer could not hold it all.")]
    public async Task<ResourceContents> ReadOutput(string session_id, string execution_id, string stream, long? offset, int? length, CancellationToken cancellationToken)
    {
        var slice = await outputs.ReadAsync(session_id, Owner, execution_id, stream, offset ?? 0, length ?? 65536, cancellationToken);
        return new TextResourceContents
        {
            Uri = $"sandbox://sessions/{session_id}/executions/{execution_id}/{stream}?offset={slice.Offset}&length={slice.Length}",
            MimeType = "text/plain", Text = slice.Text,
        };
    }
}
