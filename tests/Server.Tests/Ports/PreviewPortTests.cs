using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using Sandbox.Client.Contracts;
using Sandbox.Ports;
using Sandbox.Testing;

namespace Sandbox.Server.Tests.Ports;

/// <summary>Preview ports against the real engine: HTTP and WebSocket servers in a session reached through the server on
/// an origin of their own, while the session itself still has no network; with tokens, a preview opens for its grant
/// only, and nothing of ours reaches the session's server.</summary>
[Collection(ServerCollection.Name)]
public sealed class PreviewPortTests(ServerFixture open, AuthServerFixture auth)
{
    /// <summary>Answers plain HTTP with the request's headers, and a WebSocket with "echo: " and the first message.</summary>
    private const string EchoServer = """
        import base64, hashlib, socket, struct, sys, threading
        def serve(c):
            data = b''
            while b'\r\n\r\n' not in data:
                more = c.recv(4096)
                if not more:
                    return
                data += more
            head = data.split(b'\r\n\r\n')[0].decode('latin1')
            lines = head.split('\r\n')
            if 'upgrade: websocket' not in head.lower():
                body = ('\n'.join(lines)).encode()
                c.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n' % len(body) + body)
                c.close()
                return
            key = [l.split(':', 1)[1].strip() for l in lines if l.lower().startswith('sec-websocket-key')][0]
            accept = base64.b64encode(hashlib.sha1((key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').encode()).digest()).decode()
            c.sendall(('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n' % accept).encode())
            def rd(n):
                b = b''
                while len(b) < n:
                    b += c.recv(n - len(b))
                return b
            h = rd(2)
            n = h[1] & 127
            if n == 126:
                n = struct.unpack('>H', rd(2))[0]
            mask = rd(4)
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(rd(n)))
            msg = b'echo: ' + payload
            c.sendall(bytes([0x81, len(msg)]) + msg)
            rd(2)
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(('127.0.0.1', int(sys.argv[1])))
        s.listen()
        print('listening', flush=True)
        while True:
            c, _ = s.accept()
            threading.Thread(target=serve, args=(c,), daemon=True).start()
        """;

    private static async Task<SessionDto> SessionWithServersAsync(HttpClient http)
    {
        var session = (await (await http.PostAsJsonAsync("/api/sessions", new { })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!;
        (await http.PutAsync($"/api/sessions/{session.Id}/files/site/index.html", new StringContent("<h1>hello from the session</h1>"))).EnsureSuccessStatusCode();
        (await http.PutAsync($"/api/sessions/{session.Id}/files/echo.py", new StringContent(EchoServer))).EnsureSuccessStatusCode();
        (await http.PostAsJsonAsync($"/api/sessions/{session.Id}/processes", new { argv = new[] { "python3", "-m", "http.server", "8000", "--bind", "127.0.0.1" }, cwd = "site" })).EnsureSuccessStatusCode();
        (await http.PostAsJsonAsync($"/api/sessions/{session.Id}/processes", new { argv = new[] { "python3", "echo.py", "8765" } })).EnsureSuccessStatusCode();
        return session;
    }

    private static Uri PreviewUri(ServerFixture server, string sessionId, int port, string pathAndQuery = "/") =>
        new($"http://{PreviewHost.Label(sessionId, port)}.localhost:{server.BaseAddress.Port}{pathAndQuery}");

    [Fact]
    public async Task Http_and_websocket_servers_in_a_session_answer_on_their_own_origin_and_the_session_still_has_no_network()
    {
        using var http = open.CreateHttpClient();
        using var previews = Previews.Client(open.BaseAddress);
        var session = await SessionWithServersAsync(http);
        Assert.Equal(HttpStatusCode.Forbidden, (await previews.GetAsync(PreviewUri(open, session.Id, 8000, "/index.html"))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await http.PostAsync($"/api/sessions/{session.Id}/ports/8000/grant", null)).StatusCode);

        var exposed = (await (await http.PostAsJsonAsync($"/api/sessions/{session.Id}/expose", new { port = 8000 })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!;
        Assert.Equal([8000], exposed.Ports);
        // Without tokens previews are open, like the API: the link is the origin itself.
        var grant = await Previews.GrantAsync(http, session.Id, 8000);
        Assert.Null(grant.Grant);
        Assert.Equal(PreviewUri(open, session.Id, 8000).ToString(), grant.Url);
        Assert.Equal(grant.Url, grant.Origin + "/");
        var page = await Previews.UntilUpAsync(() => previews.GetAsync(grant.Url + "index.html"));
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("<h1>hello from the session</h1>", await page.Content.ReadAsStringAsync());
        // The API's origin serves no preview, and a preview's host no API: every path there is the session's.
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/api/sessions/{session.Id}/ports/8000/index.html")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await previews.GetAsync(PreviewUri(open, session.Id, 8000, "/api/sessions"))).StatusCode);

        (await http.PostAsJsonAsync($"/api/sessions/{session.Id}/expose", new { port = 8765 })).EnsureSuccessStatusCode();
        var echoed = await Previews.UntilUpAsync(() => previews.GetAsync(PreviewUri(open, session.Id, 8765, "/some/path?q=1")));
        var headers = await echoed.Content.ReadAsStringAsync();
        Assert.StartsWith("GET /some/path?q=1 HTTP/1.1", headers, StringComparison.Ordinal);

        using var invoker = new HttpMessageInvoker(Previews.Handler(open.BaseAddress));
        using var ws = new ClientWebSocket();
        await ws.ConnectAsync(new UriBuilder(PreviewUri(open, session.Id, 8765)) { Scheme = "ws" }.Uri, invoker, CancellationToken.None);
        await ws.SendAsync("ping"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        var buffer = new byte[100];
        var got = await ws.ReceiveAsync(buffer, CancellationToken.None);
        Assert.Equal("echo: ping", Encoding.UTF8.GetString(buffer, 0, got.Count));

        // The session itself still reaches nothing: loopback is all it has.
        var net = await http.PostAsJsonAsync($"/api/sessions/{session.Id}/execute", new
        {
            code = "import socket\nprint(sorted(n for _, n in socket.if_nameindex()))", allow = new[] { "socket" },
        });
        Assert.Equal("['lo']\n", (await net.Content.ReadFromJsonAsync<ExecutionResultDto>(SandboxJson.Options))!.Stdout);

        (await http.DeleteAsync($"/api/sessions/{session.Id}/expose/8000")).EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.Forbidden, (await previews.GetAsync(PreviewUri(open, session.Id, 8000, "/index.html"))).StatusCode);
        await http.DeleteAsync($"/api/sessions/{session.Id}");
    }

    [Fact]
    public async Task A_preview_opens_for_its_own_grant_only_and_nothing_of_ours_reaches_the_session()
    {
        using var http = auth.CreateHttpClient();
        using var bob = auth.CreateHttpClient(AuthServerFixture.OtherToken);
        using var previews = Previews.Client(auth.BaseAddress);
        var session = await SessionWithServersAsync(http);
        (await http.PostAsJsonAsync($"/api/sessions/{session.Id}/expose", new { port = 8765 })).EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.NotFound, (await bob.PostAsync($"/api/sessions/{session.Id}/ports/8765/grant", null)).StatusCode);
        var preview = await Previews.GrantAsync(http, session.Id, 8765);
        Assert.NotNull(preview.Grant);
        Assert.Equal($"{preview.Origin}/?sandbox_grant={preview.Grant}", preview.Url);
        var root = PreviewUri(auth, session.Id, 8765);

        // The link trades its grant for a cookie of the preview's host that scripts cannot read, and drops it from the address.
        var opened = await previews.GetAsync(PreviewUri(auth, session.Id, 8765, $"/a/b?x=1&sandbox_grant={preview.Grant}"));
        Assert.Equal(HttpStatusCode.SeeOther, opened.StatusCode);
        Assert.Equal("/a/b?x=1", opened.Headers.Location!.OriginalString);
        var cookie = Assert.Single(opened.Headers.GetValues("Set-Cookie"));
        Assert.StartsWith($"sandbox_preview={preview.Grant}; path=/; samesite=lax; httponly", cookie, StringComparison.Ordinal);
        Assert.DoesNotContain("domain", cookie, StringComparison.OrdinalIgnoreCase);

        using var withCookie = new HttpRequestMessage(HttpMethod.Get, root);
        withCookie.Headers.Add("Cookie", $"other=1; sandbox_preview={preview.Grant}; sandbox_token={AuthServerFixture.Token}");
        var byCookie = await Previews.UntilUpAsync(() => previews.SendAsync(Clone(withCookie)));
        Assert.Equal(HttpStatusCode.OK, byCookie.StatusCode);
        var seen = await byCookie.Content.ReadAsStringAsync();
        Assert.Contains("other=1", seen, StringComparison.Ordinal);
        Assert.DoesNotContain(preview.Grant!, seen, StringComparison.Ordinal);
        Assert.DoesNotContain(AuthServerFixture.Token, seen, StringComparison.Ordinal);

        using var withHeader = new HttpRequestMessage(HttpMethod.Get, root);
        withHeader.Headers.Add("X-Sandbox-Preview-Grant", preview.Grant);
        var byHeader = await previews.SendAsync(withHeader);
        Assert.Equal(HttpStatusCode.OK, byHeader.StatusCode);
        var seenByHeader = await byHeader.Content.ReadAsStringAsync();
        Assert.DoesNotContain(preview.Grant!, seenByHeader, StringComparison.Ordinal);
        Assert.DoesNotContain("x-sandbox-preview-grant", seenByHeader, StringComparison.OrdinalIgnoreCase);

        // No grant, the API token, another port's grant, another session's grant: refused.
        Assert.Equal(HttpStatusCode.Unauthorized, (await previews.GetAsync(root)).StatusCode);
        using var withToken = new HttpRequestMessage(HttpMethod.Get, root);
        withToken.Headers.Authorization = new("Bearer", AuthServerFixture.Token);
        Assert.Equal(HttpStatusCode.Unauthorized, (await previews.SendAsync(withToken)).StatusCode);
        (await http.PostAsJsonAsync($"/api/sessions/{session.Id}/expose", new { port = 8000 })).EnsureSuccessStatusCode();
        var otherPort = await Previews.GrantAsync(http, session.Id, 8000);
        var bobs = (await (await bob.PostAsJsonAsync("/api/sessions", new { })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!;
        (await bob.PostAsJsonAsync($"/api/sessions/{bobs.Id}/expose", new { port = 8765 })).EnsureSuccessStatusCode();
        var otherSession = await Previews.GrantAsync(bob, bobs.Id, 8765);
        foreach (var wrong in new[] { otherPort.Grant!, otherSession.Grant! })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, root);
            request.Headers.Add("X-Sandbox-Preview-Grant", wrong);
            var refused = await previews.SendAsync(request);
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Contains("another preview", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // A page of a preview cannot call the API, with any credential, nor another session's preview.
        using var fromPreview = new HttpRequestMessage(HttpMethod.Get, "/api/sessions");
        fromPreview.Headers.Add("Origin", preview.Origin);
        Assert.Equal(HttpStatusCode.Forbidden, (await http.SendAsync(fromPreview)).StatusCode);
        using var crossPreview = new HttpRequestMessage(HttpMethod.Get, root);
        crossPreview.Headers.Add("Origin", otherSession.Origin);
        crossPreview.Headers.Add("X-Sandbox-Preview-Grant", preview.Grant);
        Assert.Equal(HttpStatusCode.Forbidden, (await previews.SendAsync(crossPreview)).StatusCode);
        await bob.DeleteAsync($"/api/sessions/{bobs.Id}");
        await http.DeleteAsync($"/api/sessions/{session.Id}");
    }

    private static HttpRequestMessage Clone(HttpRequestMessage request)
    {
        var copy = new HttpRequestMessage(request.Method, request.RequestUri);
        foreach (var (name, values) in request.Headers)
        {
            copy.Headers.TryAddWithoutValidation(name, values);
        }
        return copy;
    }
}
