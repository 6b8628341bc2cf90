using Sandbox.Client.Contracts;
using Sandbox.Links;
using Sandbox.Server.Hosting;

namespace Sandbox.Server.Contracts;

/// <summary>Addresses the server hands out (file links, export links, preview ports), the same from both faces.</summary>
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

    /// <summary>Where an exposed port of a session answers.</summary>
    public static string PortUrl(string sessionId, int port, HttpContext? http, ServerOptions server) =>
        $"{BaseUrl(http, server)}/api/sessions/{Uri.EscapeDataString(sessionId)}/ports/{port}/";
}
