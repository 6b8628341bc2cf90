using System.Net;
using Sandbox.Client.Contracts;
using Sandbox.Ports;
using Sandbox.Server.Hosting;
using Yarp.ReverseProxy.Forwarder;

namespace Sandbox.Server.Api;

/// <summary>Preview ports: expose a port of a session and reach it at <c>/api/sessions/{id}/ports/{port}/…</c> (HTTP and
/// WebSocket), forwarded by YARP over a connection the engine carries into the sandbox.</summary>
internal static class PortEndpoints
{
    /// <summary>The cookie a browser may carry the bearer token in, for preview ports only (the dashboard sets it).</summary>
    public const string TokenCookie = "sandbox_token";

    public static void Map(RouteGroupBuilder api)
    {
        api.MapPost("/sessions/{id}/expose", async (string id, ExposeRequest body, PortService ports, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok((await ports.ExposeAsync(id, CallerContext.Get(http), body.Port, ct)).ToDto()))
            .WithName("ExposePort").WithDescription("Makes a port the session listens on reachable at /api/sessions/{id}/ports/{port}/ (the session gets no network).");
        api.MapDelete("/sessions/{id}/expose/{port:int}", async (string id, int port, PortService ports, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok((await ports.UnexposeAsync(id, CallerContext.Get(http), port, ct)).ToDto()))
            .WithName("UnexposePort");
        api.Map("/sessions/{id}/ports/{port:int}/{**rest}", ProxyAsync).WithName("PreviewPort").ExcludeFromDescription();
    }

    // Servers in sessions speak plain HTTP/1.1 (WebSockets included, which HTTP/2 would carry differently).
    private static readonly ForwarderRequestConfig Http11 = new()
    {
        Version = HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionExact, ActivityTimeout = TimeSpan.FromMinutes(30),
    };

    /// <summary>Body of an expose request.</summary>
    public sealed record ExposeRequest(int Port);

    private static async Task ProxyAsync(string id, int port, string? rest, HttpContext http, IHttpForwarder forwarder, PortService ports, ILoggerFactory loggers)
    {
        var owner = CallerContext.Get(http);
        ports.EnsureExposed(id, owner, port);
        using var handler = new SocketsHttpHandler
        {
            UseProxy = false, AllowAutoRedirect = false, AutomaticDecompression = DecompressionMethods.None, UseCookies = false,
            ConnectTimeout = TimeSpan.FromSeconds(15), ActivityHeadersPropagator = null,
            ConnectCallback = async (_, ct) => await ports.ConnectAsync(id, owner, port, ct).ConfigureAwait(false),
        };
        using var invoker = new HttpMessageInvoker(handler);
        var error = await forwarder.SendAsync(http, $"http://127.0.0.1:{port}/", invoker, Http11, new PortTransformer(rest ?? ""));
        if (error != ForwarderError.None)
        {
            var failure = http.Features.Get<IForwarderErrorFeature>()?.Exception;
            loggers.CreateLogger("Sandbox.Server.PreviewPorts").LogWarning("Session {SessionId} port {Port}: {Error} {Failure}", id, port, error, failure?.Message);
        }
        if (error != ForwarderError.None && !http.Response.HasStarted)
        {
            http.Response.StatusCode = StatusCodes.Status502BadGateway;
            await http.Response.WriteAsJsonAsync(new ErrorDto("bad_gateway", $"Nothing answered on port {port} in the session ({error})."));
        }
    }

    /// <summary>Sends the request to the session's port with its own path and query, and never the caller's
    /// credentials: no Authorization header, no token cookie.</summary>
    private sealed class PortTransformer(string rest) : HttpTransformer
    {
        public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
        {
            await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);
            proxyRequest.RequestUri = new Uri(destinationPrefix + string.Join('/', rest.Split('/').Select(Uri.EscapeDataString)) + httpContext.Request.QueryString.Value);
            proxyRequest.Headers.Authorization = null;
            if (proxyRequest.Headers.TryGetValues("Cookie", out var cookies))
            {
                var kept = cookies.SelectMany(c => c.Split(';')).Select(c => c.Trim())
                    .Where(c => c.Length > 0 && !c.StartsWith(TokenCookie + "=", StringComparison.Ordinal)).ToList();
                proxyRequest.Headers.Remove("Cookie");
                if (kept.Count > 0)
                {
                    proxyRequest.Headers.TryAddWithoutValidation("Cookie", string.Join("; ", kept));
                }
            }
            proxyRequest.Headers.Host = null;
        }
    }
}
