using System.Collections.Frozen;

namespace Sandbox.Server.Api;

/// <summary>The web dashboard at <c>/</c>: static files embedded in the server (no CDN; xterm.js comes from npm at build time), which
/// talk to the REST API with the same token as any client.</summary>
public static class DashboardEndpoints
{
    private static readonly FrozenDictionary<string, (string ContentType, byte[] Body)> Files = new Dictionary<string, (string, byte[])>
    {
        ["index.html"] = ("text/html; charset=utf-8", Load("index.html")),
        ["app.js"] = ("text/javascript; charset=utf-8", Load("app.js")),
        ["app.css"] = ("text/css; charset=utf-8", Load("app.css")),
        // xterm.js for the terminal, from npm at build time (deploy/vendor-dashboard.sh), never a CDN.
        ["vendor/xterm.js"] = ("text/javascript; charset=utf-8", Load("vendor.xterm.js")),
        ["vendor/xterm.css"] = ("text/css; charset=utf-8", Load("vendor.xterm.css")),
        ["vendor/addon-fit.js"] = ("text/javascript; charset=utf-8", Load("vendor.addon-fit.js")),
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>Maps <c>/</c> and <c>/ui/{file}</c>.</summary>
    public static IEndpointRouteBuilder MapDashboard(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGet("/", (HttpContext http) => Serve(http, "index.html")).ExcludeFromDescription();
        app.MapGet("/ui/{file}", (HttpContext http, string file) => Serve(http, file)).ExcludeFromDescription();
        app.MapGet("/ui/vendor/{file}", (HttpContext http, string file) => Serve(http, "vendor/" + file)).ExcludeFromDescription();
        return app;
    }

    private static IResult Serve(HttpContext http, string file)
    {
        if (!Files.TryGetValue(file, out var f))
        {
            return Results.NotFound();
        }
        var headers = http.Response.Headers;
        // Only our own script and styles run; sandbox output is inserted as text by app.js, never as markup.
        // The terminal's WebSocket goes to this same host (named explicitly: not every browser counts ws: as 'self');
        // xterm.js sets its theme and cell sizes through style elements it creates, hence 'unsafe-inline' for styles
        // only (scripts stay 'self').
        var host = http.Request.Host.HasValue ? http.Request.Host.Value : "localhost";
        headers.ContentSecurityPolicy = $"default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self' ws://{host} wss://{host}; img-src 'self' data: blob:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        headers.CacheControl = "no-cache";
        return Results.Bytes(f.Body, f.ContentType);
    }

    private static byte[] Load(string name)
    {
        using var stream = typeof(DashboardEndpoints).Assembly.GetManifestResourceStream("Sandbox.Server.Dashboard." + name)
                           ?? throw new InvalidOperationException($"dashboard file {name} is not embedded");
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }
}
