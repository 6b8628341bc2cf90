using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using Sandbox.Client.Contracts;

namespace Sandbox.Testing;

/// <summary>Reaching previews the way a browser does, on their own hosts (<c>{port}-{session}.localhost:{port}</c>),
/// with every connection made to the test server's loopback port (a browser resolves <c>*.localhost</c> there itself;
/// the machine's resolver may not).</summary>
public static class Previews
{
    /// <summary>A handler that sends every request to <paramref name="server"/>'s port on loopback, keeps the host
    /// name, and neither follows redirects nor keeps cookies (tests look at both).</summary>
    public static SocketsHttpHandler Handler(Uri server) => new()
    {
        AllowAutoRedirect = false,
        UseCookies = false,
        ConnectCallback = async (_, ct) =>
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(IPAddress.Loopback, server.Port, ct);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    };

    /// <summary>A client for preview hosts of <paramref name="server"/>.</summary>
    public static HttpClient Client(Uri server) => new(Handler(server)) { Timeout = TimeSpan.FromSeconds(120) };

    /// <summary>Asks the API for a grant to <paramref name="port"/> of a session.</summary>
    public static async Task<PreviewDto> GrantAsync(HttpClient api, string sessionId, int port)
    {
        var response = await api.PostAsync($"/api/sessions/{Uri.EscapeDataString(sessionId)}/ports/{port}/grant", null);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<PreviewDto>(SandboxJson.Options))!;
    }

    /// <summary>Sends until the server in the session answers (it may still be starting: 502).</summary>
    public static async Task<HttpResponseMessage> UntilUpAsync(Func<Task<HttpResponseMessage>> send)
    {
        for (var i = 0; ; i++)
        {
            var r = await send();
            if (r.StatusCode != HttpStatusCode.BadGateway || i > 50)
            {
                return r;
            }
            r.Dispose();
            await Task.Delay(200);
        }
    }
}
