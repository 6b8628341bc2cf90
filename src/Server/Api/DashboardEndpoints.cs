using System.Collections.Frozen;

namespace Sandbox.Server.Api;

/// <summary>The web dashboard at <c>/</c>: three static files embedded in the server (no CDN, no build step), which
/// talk to the REST API with the same token as any client.</summary>
public static class DashboardEndpoints
{
    private static readonly FrozenDictionary<string, (string ContentType, byte[] Body)> Files = new Dictionary<string, (string, byte[])>
    {
        ["index.html"] = ("text/html; charset=utf-8", Load("index.html")),
        ["app.js"] = ("text/javascript; charset=utf-8", Load("app.js")),
        ["app.css"] = ("text/css; charset=utf-8", Load("app.css")),
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>Maps <c>/</c> and <c>/ui/{file}</c>.</summary>
    public static IEndpointRouteBuilder MapDashboard(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGet("/", (HttpContext http) => Serve(http, "index.html")).ExcludeFromDescription();
        app.MapGet("/ui/{file}", (HttpContext http, string file) => Serve(http, file)).ExcludeFromDescription();
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
        headers.ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data: blob:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
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
