using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Sandbox.Client.Contracts;
using Sandbox.Ports;

namespace Sandbox.Server.Hosting;

/// <summary>
/// DNS-rebinding protection and authentication for the REST API and <c>/mcp</c>: a foreign <c>Origin</c> (a preview's
/// above all) gets 403, a missing or wrong bearer token (when tokens are configured) gets 401. <c>/healthz</c> stays
/// open. A preview (<see cref="PreviewTarget"/>) is guarded by its own grant instead, never by the API token.
/// </summary>
public sealed partial class RequestGuardMiddleware(RequestDelegate next, IOptionsMonitor<ServerOptions> options, PortService ports,
    ILogger<RequestGuardMiddleware> logger)
{
    /// <summary>The query parameter a preview link carries its grant in (exchanged for <see cref="PreviewCookie"/>).</summary>
    public const string GrantParameter = "sandbox_grant";

    /// <summary>The cookie a browser holds a preview's grant in (on the preview's own host only).</summary>
    public const string PreviewCookie = "sandbox_preview";

    /// <summary>The header a program may send a preview's grant in instead.</summary>
    public const string GrantHeader = "X-Sandbox-Preview-Grant";

    /// <summary>The cookie the dashboard's terminal WebSocket carries the bearer token in (the dashboard sets it).</summary>
    public const string TerminalCookie = "sandbox_token";

    /// <summary>Handles one request.</summary>
    public async Task InvokeAsync(HttpContext context)
    {
        if (context.Features.Get<PreviewTarget>() is { } preview)
        {
            await GuardPreviewAsync(context, preview, options.CurrentValue).ConfigureAwait(false);
            return;
        }
        var path = context.Request.Path;
        var guarded = path.StartsWithSegments("/api") || path.StartsWithSegments("/mcp");
        if (!guarded)
        {
            await next(context).ConfigureAwait(false);
            return;
        }
        var o = options.CurrentValue;
        var origin = context.Request.Headers.Origin.ToString();
        if (origin.Length > 0 && PreviewHostMiddleware.FromOrigin(origin, o) is not null)
        {
            LogForeignOrigin(logger, SafeText.Shorten(origin, 200), path.Value ?? "");
            await WriteError(context, StatusCodes.Status403Forbidden, "forbidden",
                "Pages served by a session (previews) cannot call this server's API.").ConfigureAwait(false);
            return;
        }
        if (origin.Length > 0 && !IsAllowedOrigin(origin, context, o))
        {
            LogForeignOrigin(logger, SafeText.Shorten(origin, 200), path.Value ?? "");
            await WriteError(context, StatusCodes.Status403Forbidden, "forbidden",
                "This Origin is not allowed (DNS-rebinding protection). Add it to Server:AllowedOrigins if it is yours.").ConfigureAwait(false);
            return;
        }
        if (o.AuthEnabled)
        {
            var header = context.Request.Headers.Authorization.ToString();
            if (header.Length == 0 && IsTerminal(path, origin) && context.Request.Cookies.TryGetValue(TerminalCookie, out var cookie))
            {
                // The dashboard's terminal WebSocket cannot send a header: the dashboard puts the token in a cookie
                // (SameSite=Strict, for /api/sessions/ only, on the dashboard's host; a foreign Origin is refused
                // above, and a WebSocket must show its Origin to use the cookie).
                header = "Bearer " + cookie;
            }
            var owner = Authenticate(header, o);
            if (owner is null)
            {
                context.Response.Headers.WWWAuthenticate = "Bearer";
                await WriteError(context, StatusCodes.Status401Unauthorized, "unauthorized",
                    "A valid 'Authorization: Bearer <token>' header is required.").ConfigureAwait(false);
                return;
            }
            CallerContext.Set(context, owner);
        }
        else
        {
            CallerContext.Set(context, CallerContext.Anonymous);
        }
        await next(context).ConfigureAwait(false);
    }

    private static bool IsTerminal(PathString path, string origin)
    {
        var parts = (path.Value ?? "").Split('/');
        return origin.Length > 0 && parts.Length == 5 && parts[1] == "api" && parts[2] == "sessions" && parts[4] == "terminal";
    }

    /// <summary>A preview: a page of another session's preview may not call it; with tokens configured it opens for its
    /// grant only (a link's <see cref="GrantParameter"/>, exchanged here for a cookie on the preview's own host, the
    /// cookie, or <see cref="GrantHeader"/>).</summary>
    private async Task GuardPreviewAsync(HttpContext context, PreviewTarget preview, ServerOptions o)
    {
        var origin = context.Request.Headers.Origin.ToString();
        if (origin.Length > 0 && PreviewHostMiddleware.FromOrigin(origin, o) is { } from && from.SessionId != preview.SessionId)
        {
            LogForeignOrigin(logger, SafeText.Shorten(origin, 200), "(preview)");
            await WriteError(context, StatusCodes.Status403Forbidden, "forbidden",
                "A page of another session's preview cannot call this preview.").ConfigureAwait(false);
            return;
        }
        if (!o.AuthEnabled)
        {
            CallerContext.Set(context, CallerContext.Anonymous);
            await next(context).ConfigureAwait(false);
            return;
        }
        var query = context.Request.Query;
        var fromLink = query.TryGetValue(GrantParameter, out var linked) ? linked.ToString() : null;
        var grant = fromLink ?? NonEmpty(context.Request.Headers[GrantHeader].ToString())
                    ?? (context.Request.Cookies.TryGetValue(PreviewCookie, out var kept) ? kept : null);
        if (grant is null)
        {
            await WriteError(context, StatusCodes.Status401Unauthorized, "unauthorized",
                "This preview opens with a grant: open it from the dashboard, or ask the API for one (POST /api/sessions/{id}/ports/{port}/grant).")
                .ConfigureAwait(false);
            return;
        }
        string owner;
        try
        {
            owner = ports.Authorize(grant, preview.SessionId, preview.Port);
        }
        catch (SandboxException e)
        {
            await WriteError(context, StatusCodes.Status403Forbidden, e.Code, e.Message).ConfigureAwait(false);
            return;
        }
        if (fromLink is not null && (HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method)))
        {
            // The link's grant becomes a cookie of this host only (unreadable by the page's script), and the address
            // loses it, so it stays out of the page's history, referrers and the session's own server.
            var https = context.Request.IsHttps || string.Equals(context.Request.Scheme, "https", StringComparison.OrdinalIgnoreCase);
            context.Response.Cookies.Append(PreviewCookie, grant, new CookieOptions
            {
                HttpOnly = true, Secure = https, SameSite = SameSiteMode.Lax, Path = "/", IsEssential = true,
            });
            var rest = QueryString.Create(query.Where(q => q.Key != GrantParameter));
            context.Response.StatusCode = StatusCodes.Status303SeeOther;
            context.Response.Headers.Location = (context.Request.PathBase + context.Request.Path).ToUriComponent() + rest.ToUriComponent();
            context.Response.Headers.CacheControl = "no-store";
            return;
        }
        CallerContext.Set(context, owner);
        await next(context).ConfigureAwait(false);
    }

    private static string? NonEmpty(string value) => value.Length == 0 ? null : value;

    internal static bool IsAllowedOrigin(string origin, HttpContext context, ServerOptions o)
    {
        if (o.AllowedOrigins.Contains("*") || o.AllowedOrigins.Contains(origin, StringComparer.OrdinalIgnoreCase))
        {
            return true;
        }
        if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri))
        {
            return false;
        }
        // The server's own pages and loopback tools (Inspector, local dashboards) are same-machine origins.
        if (uri.IsLoopback)
        {
            return true;
        }
        var host = context.Request.Host;
        return host.HasValue && string.Equals(uri.Authority, host.Value, StringComparison.OrdinalIgnoreCase)
               && IsLoopbackHost(host.Host);
    }

    private static bool IsLoopbackHost(string host) =>
        host is "localhost" || System.Net.IPAddress.TryParse(host.Trim('[', ']'), out var ip) && System.Net.IPAddress.IsLoopback(ip);

    internal static string? Authenticate(string header, ServerOptions o)
    {
        const string prefix = "Bearer ";
        if (!header.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }
        var token = Encoding.UTF8.GetBytes(header[prefix.Length..].Trim());
        string? match = null;
        // Compare against every key in constant time so timing does not reveal which key nearly matched.
        if (!string.IsNullOrEmpty(o.AuthToken) && CryptographicOperations.FixedTimeEquals(token, Encoding.UTF8.GetBytes(o.AuthToken)))
        {
            match = "default";
        }
        foreach (var key in o.ApiKeys)
        {
            if (CryptographicOperations.FixedTimeEquals(token, Encoding.UTF8.GetBytes(key.Token)))
            {
                match ??= key.Name;
            }
        }
        return match;
    }

    private static Task WriteError(HttpContext context, int status, string code, string message) =>
        Results.Problem(title: code, detail: message, statusCode: status,
            extensions: new Dictionary<string, object?> { ["code"] = code }).ExecuteAsync(context);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused request to {Path} from foreign origin {Origin}")]
    private static partial void LogForeignOrigin(ILogger logger, string origin, string path);
}
