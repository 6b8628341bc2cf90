using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Sandbox.Client.Contracts;

namespace Sandbox.Server.Hosting;

/// <summary>
/// DNS-rebinding protection and authentication for the REST API and <c>/mcp</c>: a foreign <c>Origin</c> gets 403, a
/// missing or wrong bearer token (when tokens are configured) gets 401. <c>/healthz</c> stays open.
/// </summary>
public sealed partial class RequestGuardMiddleware(RequestDelegate next, IOptionsMonitor<ServerOptions> options, ILogger<RequestGuardMiddleware> logger)
{
    /// <summary>Handles one request.</summary>
    public async Task InvokeAsync(HttpContext context)
    {
        var path = context.Request.Path;
        var guarded = path.StartsWithSegments("/api") || path.StartsWithSegments("/mcp");
        if (!guarded)
        {
            await next(context).ConfigureAwait(false);
            return;
        }
        var o = options.CurrentValue;
        var origin = context.Request.Headers.Origin.ToString();
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
            if (header.Length == 0 && (IsPreviewPort(path) || IsTerminal(path, origin)) && context.Request.Cookies.TryGetValue(Api.PortEndpoints.TokenCookie, out var cookie))
            {
                // A browser opening a preview port, or the dashboard's terminal WebSocket, cannot send a header: the
                // dashboard puts the token in a cookie (SameSite=Strict, for /api/sessions/ only; a foreign Origin is
                // refused above, and a WebSocket must show its Origin to use the cookie).
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

    private static bool IsPreviewPort(PathString path)
    {
        var parts = (path.Value ?? "").Split('/', 6);
        return parts.Length >= 5 && parts[1] == "api" && parts[2] == "sessions" && parts[4] == "ports";
    }

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
