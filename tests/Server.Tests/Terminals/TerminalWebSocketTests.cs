using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Sandbox.Client.Contracts;
using Sandbox.Server.Tests.Common;
using Sandbox.Testing;

namespace Sandbox.Server.Tests.Terminals;

/// <summary>The terminal WebSocket: a shell in the session, authenticated like the API, refused to foreign origins.</summary>
[Collection(ServerCollection.Name)]
public sealed class TerminalWebSocketTests(AuthServerFixture server)
{
    private Uri Socket(string sessionId) => new($"ws://{server.BaseAddress.Authority}/api/sessions/{sessionId}/terminal?cols=100&rows=30");

    private static async Task<string> ReadUntilAsync(ClientWebSocket ws, StringBuilder screen, Func<string, bool> done, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var buffer = new byte[16384];
        while (!done(screen.ToString()))
        {
            var r = await ws.ReceiveAsync(buffer, cts.Token);
            if (r.MessageType == WebSocketMessageType.Close)
            {
                break;
            }
            screen.Append(Encoding.UTF8.GetString(buffer, 0, r.Count));
        }
        return screen.ToString();
    }

    private static Task SendAsync(ClientWebSocket ws, object message) =>
        ws.SendAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(message)), WebSocketMessageType.Text, true, CancellationToken.None);

    [Fact]
    public async Task A_websocket_terminal_runs_commands_and_reports_the_shells_exit_and_only_the_owner_or_cookie_from_our_origin_gets_in()
    {
        using var http = server.CreateHttpClient();
        var session = (await (await http.PostAsJsonAsync("/api/sessions", new { })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!;

        using (var ws = new ClientWebSocket())
        {
            ws.Options.SetRequestHeader("Authorization", "Bearer " + ServerFixture.Token);
            await ws.ConnectAsync(Socket(session.Id), CancellationToken.None);
            var screen = new StringBuilder();
            await ReadUntilAsync(ws, screen, s => s.Contains('$', StringComparison.Ordinal), TimeSpan.FromSeconds(30));
            await SendAsync(ws, new { type = "input", data = "echo $((6*7)); stty size\r" });
            var text = await ReadUntilAsync(ws, screen, s => s.Contains("30 100", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
            Assert.Contains("42\r\n30 100", text, StringComparison.Ordinal);
            await SendAsync(ws, new { type = "resize", cols = 90, rows = 20 });
            await SendAsync(ws, new { type = "input", data = "stty size; exit 5\r" });
            text = await ReadUntilAsync(ws, screen, s => s.Contains("\"exit_code\":5", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
            Assert.Contains("20 90", text, StringComparison.Ordinal);
            Assert.Contains("{\"type\":\"exit\",\"exit_code\":5}", text, StringComparison.Ordinal);
        }

        // No token, another caller's token, a foreign Origin, or the cookie without an Origin: refused before any upgrade.
        async Task<HttpStatusCode> Refused(Action<ClientWebSocketOptions> setup)
        {
            using var ws = new ClientWebSocket();
            ws.Options.CollectHttpResponseDetails = true;
            setup(ws.Options);
            await Assert.ThrowsAsync<WebSocketException>(() => ws.ConnectAsync(Socket(session.Id), CancellationToken.None));
            return ws.HttpStatusCode;
        }
        Assert.Equal(HttpStatusCode.Unauthorized, await Refused(_ => { }));
        Assert.Equal(HttpStatusCode.NotFound, await Refused(o => o.SetRequestHeader("Authorization", "Bearer " + ServerFixture.OtherToken)));
        Assert.Equal(HttpStatusCode.Forbidden, await Refused(o =>
        {
            o.SetRequestHeader("Authorization", "Bearer " + ServerFixture.Token);
            o.SetRequestHeader("Origin", "http://evil.example");
        }));
        Assert.Equal(HttpStatusCode.Unauthorized, await Refused(o => o.SetRequestHeader("Cookie", "sandbox_token=" + ServerFixture.Token)));
        using (var ws = new ClientWebSocket())
        {
            // The dashboard's way: the cookie, from the server's own origin.
            ws.Options.CollectHttpResponseDetails = true;
            ws.Options.SetRequestHeader("Cookie", "sandbox_token=" + ServerFixture.Token);
            ws.Options.SetRequestHeader("Origin", $"http://{server.BaseAddress.Authority}");
            await ws.ConnectAsync(Socket(session.Id), CancellationToken.None);
            var screen = new StringBuilder();
            await ReadUntilAsync(ws, screen, s => s.Contains('$', StringComparison.Ordinal), TimeSpan.FromSeconds(30));
            await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
        }
        var plain = await http.GetAsync($"/api/sessions/{session.Id}/terminal");
        Assert.Equal(HttpStatusCode.BadRequest, plain.StatusCode);
        (await http.DeleteAsync($"/api/sessions/{session.Id}")).EnsureSuccessStatusCode();
    }
}
