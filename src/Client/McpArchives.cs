using System.Text.Json;
using ModelContextProtocol.Protocol;
using Sandbox.Client.Contracts;

namespace Sandbox.Client;

/// <summary>Directories over MCP: an archive goes in as base64 (<c>upload_archive</c>); one comes out inline as an
/// embedded blob, or, when larger than an answer carries, as a signed link fetched with a plain HTTP GET.</summary>
internal static class McpArchives
{
    public static async Task<ArchiveExtractionDto> UploadAsync(McpToolCaller tools, string sessionId, string directory, Stream archive, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(archive);
        using var buffer = new MemoryStream();
        await archive.CopyToAsync(buffer, ct).ConfigureAwait(false);
        return await tools.CallAsync<ArchiveExtractionDto>("upload_archive", new()
        {
            ["session_id"] = sessionId, ["path"] = directory ?? "", ["content_base64"] = Convert.ToBase64String(buffer.GetBuffer(), 0, (int)buffer.Length),
        }, "archive", ct).ConfigureAwait(false);
    }

    public static async Task DownloadAsync(McpToolCaller tools, string sessionId, string directory, string format, Stream destination, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var result = await tools.CallRawAsync("download_archive", new() { ["session_id"] = sessionId, ["path"] = directory ?? "", ["format"] = format }, null, ct).ConfigureAwait(false);
        if (McpToolCaller.Structured(result).TryGetProperty("link", out var link) && link.GetProperty("url").GetString() is { } url)
        {
            using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
            using var r = await http.GetAsync(new Uri(url), HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            await RestTransport.EnsureSuccessAsync(r, ct).ConfigureAwait(false);
            await r.Content.CopyToAsync(destination, ct).ConfigureAwait(false);
            return;
        }
        var blob = result.Content.OfType<EmbeddedResourceBlock>().Select(b => b.Resource).OfType<BlobResourceContents>().FirstOrDefault()
                   ?? throw new SandboxClientException("protocol_error", "download_archive returned neither the archive nor a link.");
        await destination.WriteAsync(blob.DecodedData, ct).ConfigureAwait(false);
    }
}
