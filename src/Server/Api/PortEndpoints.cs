using System.Net;
using Sandbox.Client.Contracts;
using Sandbox.Ports;
using Microsoft.Extensions.Options;
using Sandbox.Server.Contracts;
using Sandbox.Server.Hosting;
using Yarp.ReverseProxy.Forwarder;

namespace Sandbox.Server.Api;

/// <summary>Preview ports: expose a port of a session, ask for a grant to it, and serve it on its own origin
/// (<c>{port}-{session}.{preview domain}</c>, HTTP and WebSocket), forwarded by YARP over a connection the engine carries
/// into the sandbox. The API's origin serves no preview.</summary>
internal static class PortEndpoints
{
    public static void Map(RouteGroupBuilder api)
    {
        api.MapPost("/sessions/{id}/expose", async (string id, ExposeRequest body, PortService ports, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok((await ports.ExposeAsync(id, CallerContext.Get(http), body.Port, ct)).ToDto()))
            .WithName("ExposePort")
            .WithDescription("Makes a port the session listens on reachable on a preview origin of its own (the session gets no network).");
        api.MapDelete("/sessions/{id}/expose/{port:int}", async (string id, int port, PortService ports, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok((await ports.UnexposeAsync(id, CallerContext.Get(http), port, ct)).ToDto()))
            .WithName("UnexposePort");
        api.MapPost("/sessions/{id}/ports/{port:int}/grant", (string id, int port, PortService ports, HttpContext http, IOptions<ServerOptions> server) =>
            TypedResults.Ok(ports.Grant(id, CallerContext.Get(http), port).ToDto(http, server.Value)))
            .WithName("GrantPreview")
            .WithDescription("A short-lived link that opens the preview of an exposed port in a browser (and nothing else); its grant also opens it for a program, in the X-Sandbox-Preview-Grant header.");
    }

    // Servers in sessions speak plain HTTP/1.1 (WebSockets included, which HTTP/2 would carry differently).
    private static readonly ForwarderRequestConfig Http11 = new()
    {
        Version = HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionExact, ActivityTimeout = TimeSpan.FromMinutes(30),
    };

    /// <summary>Body of an expose request.</summary>
    public sealed record ExposeRequest(int Port);

    /// <summary>Serves a request on a preview's host (<see cref="PreviewHostMiddleware"/>), once the guard let it in.</summary>
    public static async Task ServePreviewAsync(HttpContext http)
    {
        var target = http.Features.Get<PreviewTarget>() ?? throw new InvalidOperationException("A preview request without its target.");
        var services = http.RequestServices;
        var ports = services.GetRequiredService<PortService>();
        var (id, port, owner) = (target.SessionId, target.Port, CallerContext.Get(http));
        ports.EnsureExposed(id, owner, port);
        using var handler = new SocketsHttpHandler
        {
            UseProxy = false, AllowAutoRedirect = false, AutomaticDecompression = DecompressionMethods.None, UseCookies = false,
            ConnectTimeout = TimeSpan.FromSeconds(15), ActivityHeadersPropagator = null,
            ConnectCallback = async (_, ct) => await ports.ConnectAsync(id, owner, port, ct).ConfigureAwait(false),
        };
        using var invoker = new HttpMessageInvoker(handler);
        var forwarder = services.GetRequiredService<IHttpForwarder>();
        var error = await forwarder.SendAsync(http, $"http://127.0.0.1:{port}", invoker, Http11, PreviewTransformer.Instance);
        if (error != ForwarderError.None)
        {
            var failure = http.Features.Get<IForwarderErrorFeature>()?.Exception;
            services.GetRequiredService<ILoggerFactory>().CreateLogger("Sandbox.Server.PreviewPorts")
                .LogWarning("Session {SessionId} port {Port}: {Error} {Failure}", id, port, error, failure?.Message);
        }
        if (error != ForwarderError.None && !http.Response.HasStarted)
        {
            http.Response.StatusCode = StatusCodes.Status502BadGateway;
            await http.Response.WriteAsJsonAsync(new ErrorDto("bad_gateway", $"Nothing answered on port {port} in the session ({error})."));
        }
    }

    /// <summary>Sends the request to the session's port with its own path and query, and never a credential of ours:
    /// no Authorization header, no grant (cookie or header), no token cookie.</summary>
    private sealed class PreviewTransformer : HttpTransformer
    {
        public static readonly PreviewTransformer Instance = new();

        private static readonly string[] OurCookies = [RequestGuardMiddleware.PreviewCookie + "=", RequestGuardMiddleware.TerminalCookie + "="];

        public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
        {
            await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);
            proxyRequest.Headers.Authorization = null;
            proxyRequest.Headers.Remove(RequestGuardMiddleware.GrantHeader);
            if (proxyRequest.Headers.TryGetValues("Cookie", out var cookies))
            {
                var kept = cookies.SelectMany(c => c.Split(';')).Select(c => c.Trim())
                    .Where(c => c.Length > 0 && !OurCookies.Any(ours => c.StartsWith(ours, StringComparison.Ordinal))).ToList();
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
