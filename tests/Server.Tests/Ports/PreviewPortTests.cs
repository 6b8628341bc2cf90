using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using Sandbox.Client.Contracts;
using Sandbox.Testing;

namespace Sandbox.Server.Tests.Ports;

/// <summary>Preview ports against the real engine: HTTP and WebSocket servers in a session reached through the server,
/// while the session itself still has no network.</summary>
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

    private static async Task<HttpResponseMessage> UntilUpAsync(Func<Task<HttpResponseMessage>> get)
    {
        for (var i = 0; ; i++)
        {
            var r = await get();
            if (r.StatusCode != HttpStatusCode.BadGateway || i > 50)
            {
                return r;
            }
            await Task.Delay(200);
        }
    }

    [Fact]
    public async Task Http_and_websocket_servers_in_a_session_answer_through_the_server_and_the_session_still_has_no_network()
    {
        using var http = open.CreateHttpClient();
        var session = await SessionWithServersAsync(http);
        var closed = await http.GetAsync($"/api/sessions/{session.Id}/ports/8000/index.html");
        Assert.Equal(HttpStatusCode.Forbidden, closed.StatusCode);

        var exposed = (await (await http.PostAsJsonAsync($"/api/sessions/{session.Id}/expose", new { port = 8000 })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!;
        Assert.Equal([8000], exposed.Ports);
        var page = await UntilUpAsync(() => http.GetAsync($"/api/sessions/{session.Id}/ports/8000/index.html"));
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("<h1>hello from the session</h1>", await page.Content.ReadAsStringAsync());

        (await http.PostAsJsonAsync($"/api/sessions/{session.Id}/expose", new { port = 8765 })).EnsureSuccessStatusCode();
        var echoed = await UntilUpAsync(() => http.GetAsync($"/api/sessions/{session.Id}/ports/8765/some/path?q=1"));
        var headers = await echoed.Content.ReadAsStringAsync();
        Assert.StartsWith("GET /some/path?q=1 HTTP/1.1", headers, StringComparison.Ordinal);

        using var ws = new ClientWebSocket();
        var wsUri = new UriBuilder(open.BaseAddress) { Scheme = "ws", Path = $"/api/sessions/{session.Id}/ports/8765/" }.Uri;
        await ws.ConnectAsync(wsUri, CancellationToken.None);
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
        Assert.Equal(HttpStatusCode.Forbidden, (await http.GetAsync($"/api/sessions/{session.Id}/ports/8000/index.html")).StatusCode);
        await http.DeleteAsync($"/api/sessions/{session.Id}");
    }

    [Fact]
    public async Task A_preview_port_needs_the_token_as_a_header_or_cookie_and_the_session_never_sees_it()
    {
        using var http = auth.CreateHttpClient();
        var session = await SessionWithServersAsync(http);
        (await http.PostAsJsonAsync($"/api/sessions/{session.Id}/expose", new { port = 8765 })).EnsureSuccessStatusCode();
        var url = $"/api/sessions/{session.Id}/ports/8765/";
        var withHeader = await UntilUpAsync(() => http.GetAsync(url));
        var seen = await withHeader.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, withHeader.StatusCode);
        Assert.DoesNotContain(AuthServerFixture.Token, seen, StringComparison.Ordinal);
        Assert.DoesNotContain("authorization", seen, StringComparison.OrdinalIgnoreCase);

        using var anonymous = new HttpClient { BaseAddress = auth.BaseAddress };
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync(url)).StatusCode);
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Add("Cookie", $"other=1; sandbox_token={AuthServerFixture.Token}");
        var withCookie = await anonymous.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, withCookie.StatusCode);
        var seenByCookie = await withCookie.Content.ReadAsStringAsync();
        Assert.Contains("other=1", seenByCookie, StringComparison.Ordinal);
        Assert.DoesNotContain(AuthServerFixture.Token, seenByCookie, StringComparison.Ordinal);
        // The cookie opens preview ports only, not the API.
        using var api = new HttpRequestMessage(HttpMethod.Get, $"/api/sessions/{session.Id}");
        api.Headers.Add("Cookie", $"sandbox_token={AuthServerFixture.Token}");
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.SendAsync(api)).StatusCode);
        await http.DeleteAsync($"/api/sessions/{session.Id}");
    }
}
