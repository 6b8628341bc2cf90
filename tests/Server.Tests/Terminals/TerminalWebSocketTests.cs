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
    private Uri Socket(string sessionId, string query = "") => new($"ws://{server.BaseAddress.Authority}/api/sessions/{sessionId}/terminal?cols=100&rows=30{query}");

    private async Task<ClientWebSocket> ConnectAsync(string sessionId, string query = "")
    {
        var ws = new ClientWebSocket();
        ws.Options.SetRequestHeader("Authorization", "Bearer " + ServerFixture.Token);
        await ws.ConnectAsync(Socket(sessionId, query), CancellationToken.None);
        return ws;
    }

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

    [Fact]
    public async Task A_terminal_goes_on_after_its_client_detaches_and_a_later_client_sees_its_screen_or_watches_read_only()
    {
        using var http = server.CreateHttpClient();
        var session = (await (await http.PostAsJsonAsync("/api/sessions", new { })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!;
        string id;
        using (var ws = await ConnectAsync(session.Id))
        {
            var screen = new StringBuilder();
            var attached = await ReadUntilAsync(ws, screen, s => s.Contains('$', StringComparison.Ordinal), TimeSpan.FromSeconds(30));
            using (var doc = JsonDocument.Parse(attached[..(attached.IndexOf('}') + 1)]))
            {
                Assert.Equal("attached", doc.RootElement.GetProperty("type").GetString());
                Assert.True(doc.RootElement.GetProperty("writer").GetBoolean());
                id = doc.RootElement.GetProperty("terminal_id").GetString()!;
            }
            await SendAsync(ws, new { type = "input", data = "echo one-$((1+1))\r" });
            await ReadUntilAsync(ws, screen, s => s.Contains("one-2", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
            // Ctrl-P Ctrl-Q detaches (the Docker convention); the server says so and closes.
            await SendAsync(ws, new { type = "input", data = "\u0010\u0011" });
            var text = await ReadUntilAsync(ws, screen, s => s.Contains("\"detached\"", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
            Assert.Contains("{\"type\":\"detached\"}", text, StringComparison.Ordinal);
        }
        var listed = Assert.Single((await http.GetFromJsonAsync<List<TerminalDto>>($"/api/sessions/{session.Id}/terminals", SandboxJson.Options))!);
        Assert.Equal((id, true), (listed.TerminalId, listed.Running));

        using var again = await ConnectAsync(session.Id, "&terminal=" + id);
        using var watcher = await ConnectAsync(session.Id, $"&terminal={id}&mode=read");
        var againScreen = new StringBuilder();
        var watched = new StringBuilder();
        await ReadUntilAsync(again, againScreen, s => s.Contains("one-2", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        var seen = await ReadUntilAsync(watcher, watched, s => s.Contains("one-2", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        Assert.Contains("\"writer\":false", seen, StringComparison.Ordinal);
        // The watcher's keys go nowhere; the writer's reach both.
        await SendAsync(watcher, new { type = "input", data = "echo ignored\r" });
        await SendAsync(again, new { type = "input", data = "echo two-$((2+2))\r" });
        await ReadUntilAsync(watcher, watched, s => s.Contains("two-4", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        Assert.DoesNotContain("ignored", watched.ToString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await http.DeleteAsync($"/api/sessions/{session.Id}/terminals/term-none")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync($"/api/sessions/{session.Id}/terminals/{id}")).StatusCode);
        var end = await ReadUntilAsync(again, againScreen, s => s.Contains("\"exit\"", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        Assert.Contains("{\"type\":\"exit\"", end, StringComparison.Ordinal);
        Assert.Empty((await http.GetFromJsonAsync<List<TerminalDto>>($"/api/sessions/{session.Id}/terminals", SandboxJson.Options))!);
        (await http.DeleteAsync($"/api/sessions/{session.Id}")).EnsureSuccessStatusCode();
    }
}
