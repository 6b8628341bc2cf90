using Sandbox.Client.Contracts;
using Sandbox.Links;
using Sandbox.Ports;
using Sandbox.Server.Hosting;

namespace Sandbox.Server.Contracts;

/// <summary>Addresses the server hands out (file links, export links, previews), the same from both faces.</summary>
internal static class PublicLinks
{
    /// <summary>The server's address for links: <c>Server:PublicUrl</c>, else the request's own.</summary>
    public static string BaseUrl(HttpContext? http, ServerOptions server) =>
        !string.IsNullOrEmpty(server.PublicUrl) ? server.PublicUrl.TrimEnd('/')
        : http is null ? "http://127.0.0.1:8080"
        : $"{http.Request.Scheme}://{http.Request.Host}{http.Request.PathBase}";

    /// <summary>A link on the wire.</summary>
    public static FileLinkDto ToDto(this FileLink link, string baseUrl) => new(baseUrl + link.RelativeUrl, link.Path, link.Method, link.ExpiresAt, link.SingleUse);

    /// <summary>A download link to a git export (a signed link: no bearer token needed).</summary>
    public static string ExportLink(LinkService links, string sessionId, string owner, string path, HttpContext? http, ServerOptions server) =>
        links.Create(sessionId, owner, path, "GET", null, false).ToDto(BaseUrl(http, server)).Url;

    /// <summary>The origin of a preview: under <c>Server:PreviewUrl</c>'s host, else under <c>localhost</c> with the
    /// request's scheme and port.</summary>
    public static string PreviewOrigin(string hostLabel, HttpContext? http, ServerOptions server)
    {
        if (!string.IsNullOrEmpty(server.PreviewUrl))
        {
            var configured = new Uri(server.PreviewUrl);
            return $"{configured.Scheme}://{hostLabel}.{configured.IdnHost}{(configured.IsDefaultPort ? "" : ":" + configured.Port)}";
        }
        var scheme = http?.Request.Scheme ?? "http";
        var port = http is null ? 8080 : http.Request.Host.Port;
        return $"{scheme}://{hostLabel}.localhost{(port is null ? "" : ":" + port)}";
    }

    /// <summary>A preview grant on the wire.</summary>
    public static PreviewDto ToDto(this PreviewGrant grant, HttpContext? http, ServerOptions server)
    {
        var origin = PreviewOrigin(grant.HostLabel, http, server);
        return server.AuthEnabled
            ? new PreviewDto(grant.SessionId, grant.Port, origin, $"{origin}/?{RequestGuardMiddleware.GrantParameter}={Uri.EscapeDataString(grant.Token)}", grant.Token, grant.ExpiresAt)
            : new PreviewDto(grant.SessionId, grant.Port, origin, origin + "/", null, grant.ExpiresAt);
    }
}
