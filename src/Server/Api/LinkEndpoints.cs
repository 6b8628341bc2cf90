using System.Globalization;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Sandbox.Client.Contracts;
using Sandbox.Files;
using Sandbox.Links;
using Sandbox.Server.Hosting;

namespace Sandbox.Server.Api;

/// <summary>File links: created through the API (bearer token), used at <c>/links/{token}/{path}</c> without one.
/// Downloads answer ranges (resumable), with an ETag and the file's SHA-256; uploads stream into the workspace.</summary>
internal static class LinkEndpoints
{
    public static void Map(RouteGroupBuilder api)
    {
        api.MapPost("/sessions/{id}/links", (string id, CreateLinkRequest body, LinkService links, HttpContext http, IOptions<ServerOptions> server) =>
        {
            var link = links.Create(id, CallerContext.Get(http), body.Path, body.Method ?? "GET",
                body.ExpiresSeconds is { } s ? TimeSpan.FromSeconds(s) : null, body.SingleUse ?? false);
            return TypedResults.Ok(link.ToDto(PublicLinks.BaseUrl(http, server.Value)));
        }).WithName("CreateFileLink").WithDescription("A short-lived link to one file: GET downloads it (Range, ETag, SHA-256), PUT uploads it; no bearer token needed.");
    }

    public static async Task ServeAsync(string token, string? path, HttpContext http, LinkService links, WorkspaceStreams files,
        IOptionsMonitor<ServerOptions> server, IOptions<Sandbox.Links.LinkOptions> linkOptions, CancellationToken ct)
    {
        var origin = http.Request.Headers.Origin.ToString();
        if (origin.Length > 0 && !RequestGuardMiddleware.IsAllowedOrigin(origin, http, server.CurrentValue))
        {
            throw new SandboxException(SandboxErrorCodes.Forbidden, "This Origin is not allowed (DNS-rebinding protection).");
        }
        var grant = await links.RedeemAsync(token, http.Request.Method, path ?? "", ct);
        http.Response.Headers.CacheControl = "no-store";
        if (HttpMethods.IsPut(http.Request.Method))
        {
            var cap = linkOptions.Value.MaxUploadBytes;
            if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            {
                limit.MaxRequestBodySize = cap;
            }
            if (http.Request.ContentLength is not { } length)
            {
                http.Response.StatusCode = StatusCodes.Status411LengthRequired;
                await http.Response.WriteAsJsonAsync(new ErrorDto("invalid_argument", "An upload through a link needs a Content-Length."), ct);
                return;
            }
            var (file, sha) = await files.WriteAsync(grant.SessionId, grant.Owner, grant.Path, http.Request.Body, length, cap, ct);
            http.Response.StatusCode = StatusCodes.Status201Created;
            http.Response.Headers["X-Content-SHA256"] = sha;
            await http.Response.WriteAsJsonAsync(file.ToDto(), SandboxJson.Options, ct);
            return;
        }
        var info = await files.StatAsync(grant.SessionId, grant.Owner, grant.Path, ct);
        var name = info.Path.Length == 0 ? "workspace" : info.Path.Split('/')[^1];
        if (info.IsDirectory)
        {
            http.Response.ContentType = "application/x-tar";
            http.Response.Headers.ContentDisposition = new ContentDispositionHeaderValue("attachment") { FileNameStar = name + ".tar" }.ToString();
            if (!HttpMethods.IsHead(http.Request.Method))
            {
                await files.CopyToAsync(grant.SessionId, grant.Owner, info, 0, 0, http.Response.Body, ct);
            }
            return;
        }
        var etag = new EntityTagHeaderValue($"\"{info.Sha256}\"");
        http.Response.Headers.ETag = etag.ToString();
        http.Response.Headers.AcceptRanges = "bytes";
        http.Response.Headers["X-Content-SHA256"] = info.Sha256;
        http.Response.Headers["Repr-Digest"] = $"sha-256=:{Convert.ToBase64String(Convert.FromHexString(info.Sha256!))}:";
        http.Response.Headers.ContentDisposition = new ContentDispositionHeaderValue("attachment") { FileNameStar = name }.ToString();
        http.Response.ContentType = "application/octet-stream";
        if (info.Modified is { } modified)
        {
            http.Response.Headers.LastModified = modified.ToString("R", CultureInfo.InvariantCulture);
        }
        var headers = http.Request.GetTypedHeaders();
        if (headers.IfNoneMatch.Any(t => t.Compare(etag, useStrongComparison: false)))
        {
            http.Response.StatusCode = StatusCodes.Status304NotModified;
            return;
        }
        long offset = 0, count = info.Size;
        var range = headers.Range;
        var ifRange = headers.IfRange;
        if (range is { Ranges.Count: 1 } && (ifRange?.EntityTag is null || ifRange.EntityTag.Compare(etag, useStrongComparison: true)))
        {
            var r = range.Ranges.First();
            var (from, to) = r.From is { } f ? (f, Math.Min(r.To ?? info.Size - 1, info.Size - 1)) : (Math.Max(0, info.Size - (r.To ?? 0)), info.Size - 1);
            if (from >= info.Size || from > to)
            {
                http.Response.StatusCode = StatusCodes.Status416RangeNotSatisfiable;
                http.Response.Headers.ContentRange = $"bytes */{info.Size}";
                return;
            }
            offset = from;
            count = to - from + 1;
            http.Response.StatusCode = StatusCodes.Status206PartialContent;
            http.Response.Headers.ContentRange = $"bytes {from}-{to}/{info.Size}";
        }
        http.Response.ContentLength = count;
        if (!HttpMethods.IsHead(http.Request.Method))
        {
            await files.CopyToAsync(grant.SessionId, grant.Owner, info, offset, count, http.Response.Body, ct);
        }
    }
}
