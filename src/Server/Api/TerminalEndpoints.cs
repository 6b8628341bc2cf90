using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Sandbox.Server.Hosting;
using Sandbox.Terminals;

namespace Sandbox.Server.Api;

/// <summary>
/// A session's interactive terminal over a WebSocket at <c>/api/sessions/{id}/terminal?cols=&amp;rows=</c>: the server
/// sends the terminal's output as binary frames (raw bytes for xterm.js) and, at the end, a text frame
/// <c>{"type":"exit","exit_code":N}</c>; the client sends text frames <c>{"type":"input","data":"…"}</c> (keys, pastes,
/// Ctrl-C as <c>\u0003</c>) and <c>{"type":"resize","cols":C,"rows":R}</c>. Authentication and the Origin check are
/// the API's (a browser, which cannot set a header on a WebSocket, sends the dashboard's token cookie).
/// </summary>
internal static partial class TerminalEndpoints
{
    private static readonly TimeSpan SendTimeout = TimeSpan.FromSeconds(20);

    public static void Map(RouteGroupBuilder api) =>
        api.Map("/sessions/{id}/terminal", async (string id, int? cols, int? rows, HttpContext http, TerminalService terminals, ILoggerFactory logs, CancellationToken ct) =>
        {
            if (!http.WebSockets.IsWebSocketRequest)
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument, "This endpoint is a WebSocket: connect with a WebSocket client (the dashboard's terminal does).");
            }
            // Opened before the upgrade, so a refusal (no such session, too many terminals) is an ordinary HTTP error.
            await using var terminal = await terminals.OpenAsync(id, CallerContext.Get(http), cols ?? 80, rows ?? 24, ct);
            using var socket = await http.WebSockets.AcceptWebSocketAsync();
            await RunAsync(socket, terminal, logs.CreateLogger("Sandbox.Server.Terminal"), ct);
        }).WithName("SessionTerminal").ExcludeFromDescription();

    private static async Task RunAsync(WebSocket socket, Terminal terminal, ILogger logger, CancellationToken ct)
    {
        // Input and output run side by side. Whichever ends first ends the other: the client's close stops the output
        // (and the terminal); the shell's end sends the exit frame and a close the client answers. A pending receive
        // is never cancelled while the socket should close cleanly (cancelling it aborts the connection).
        using var outputStop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var inputStop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var input = Task.Run(() => ReceiveAsync(socket, terminal, inputStop.Token), CancellationToken.None);
        var output = Task.Run(() => SendAsync(socket, terminal, outputStop.Token), CancellationToken.None);
        string? why = null;
        try
        {
            if (await Task.WhenAny(input, output) == input)
            {
                await outputStop.CancelAsync();
                await Quietly(output);
                if (socket.State == WebSocketState.CloseReceived)
                {
                    using var closing = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "closed", closing.Token);
                }
                return;
            }
            why = await output;
            if (socket.State == WebSocketState.Open)
            {
                using var closing = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, why is null ? "terminal ended" : SafeText.Shorten(why, 100), closing.Token);
            }
            if (await Task.WhenAny(input, Task.Delay(TimeSpan.FromSeconds(5), CancellationToken.None)) != input)
            {
                await inputStop.CancelAsync();
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or IOException)
        {
            // The client went away: the terminal closes with the connection.
        }
        finally
        {
            await inputStop.CancelAsync();
            await outputStop.CancelAsync();
            await Quietly(input);
            await Quietly(output);
            LogClosed(logger, terminal.Id, terminal.ExitCode);
        }
    }

    /// <summary>Sends the terminal's output until its shell ends, then the exit frame; returns why it ended early, if it did.</summary>
    private static async Task<string?> SendAsync(WebSocket socket, Terminal terminal, CancellationToken ct)
    {
        try
        {
            await foreach (var chunk in terminal.ReadAsync(ct))
            {
                using var slow = CancellationTokenSource.CreateLinkedTokenSource(ct);
                slow.CancelAfter(SendTimeout);
                // A client that does not take output within the timeout loses its terminal (it would hold the session up).
                await socket.SendAsync(chunk, WebSocketMessageType.Binary, true, slow.Token);
            }
            var exit = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { type = "exit", exit_code = terminal.ExitCode }));
            await socket.SendAsync(exit, WebSocketMessageType.Text, true, ct);
            return null;
        }
        catch (SandboxException e)
        {
            return e.Message;
        }
    }

    private static async Task Quietly(Task task)
    {
        try
        {
            await task;
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or IOException or SandboxException or JsonException)
        {
        }
    }

    private static async Task ReceiveAsync(WebSocket socket, Terminal terminal, CancellationToken ct)
    {
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        while (!ct.IsCancellationRequested)
        {
            var result = await socket.ReceiveAsync(buffer, ct);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return;
            }
            message.Write(buffer, 0, result.Count);
            if (message.Length > 1 << 20)
            {
                await socket.CloseAsync(WebSocketCloseStatus.MessageTooBig, "at most 1 MiB per message", ct);
                return;
            }
            if (!result.EndOfMessage)
            {
                continue;
            }
            var frame = message.ToArray();
            message.SetLength(0);
            if (result.MessageType != WebSocketMessageType.Text)
            {
                continue;
            }
            using var doc = JsonDocument.Parse(frame);
            var root = doc.RootElement;
            switch (root.TryGetProperty("type", out var type) ? type.GetString() : null)
            {
                case "input" when root.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.String:
                    await terminal.WriteAsync(data.GetString()!, ct);
                    break;
                case "resize" when root.TryGetProperty("cols", out var c) && c.TryGetInt32(out var cols) && root.TryGetProperty("rows", out var r) && r.TryGetInt32(out var rows):
                    await terminal.ResizeAsync(cols, rows, ct);
                    break;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Terminal {TerminalId} closed (exit status {ExitCode})")]
    private static partial void LogClosed(ILogger logger, string terminalId, int? exitCode);
}
