using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Sandbox.Agents;
using Sandbox.Client.Contracts;
using Sandbox.Server.Contracts;
using Sandbox.Server.Hosting;
using Sandbox.Terminals;

namespace Sandbox.Server.Api;

/// <summary>
/// A session's interactive terminals. The WebSocket at <c>/api/sessions/{id}/terminal?cols=&amp;rows=</c> opens a new
/// one and attaches to it; with <c>terminal=ID</c> (and <c>mode=read</c> to watch) it attaches to one that runs. The
/// server first sends a text frame <c>{"type":"attached","terminal_id":"…","writer":true}</c>, then the terminal's
/// output as binary frames (raw bytes for xterm.js: the screen as it is, then live), and at the end a text frame
/// <c>{"type":"exit","exit_code":N}</c>; the client sends text frames <c>{"type":"input","data":"…"}</c> (keys, pastes,
/// Ctrl-C as <c>\u0003</c>) and <c>{"type":"resize","cols":C,"rows":R}</c>. Closing the socket, or typing Ctrl-P
/// Ctrl-Q (answered with <c>{"type":"detached"}</c>), detaches: the terminal goes on. Authentication and the Origin
/// check are the API's (a browser, which cannot set a header on a WebSocket, sends the dashboard's token cookie).
/// </summary>
internal static partial class TerminalEndpoints
{
    private static readonly TimeSpan SendTimeout = TimeSpan.FromSeconds(20);

    public static void Map(RouteGroupBuilder api)
    {
        api.Map("/sessions/{id}/terminal", async (string id, string? terminal, string? mode, int? cols, int? rows, HttpContext http, TerminalService terminals,
            ILoggerFactory logs, CancellationToken ct) =>
        {
            if (!http.WebSockets.IsWebSocketRequest)
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument, "This endpoint is a WebSocket: connect with a WebSocket client (the dashboard's terminal does).");
            }
            var how = mode switch
            {
                null or "write" => TerminalMode.Write,
                "read" => TerminalMode.Read,
                _ => throw new SandboxException(SandboxErrorCodes.InvalidArgument, "mode is write or read."),
            };
            // Opened and attached before the upgrade, so a refusal (no such session or terminal, too many terminals)
            // is an ordinary HTTP error.
            var owner = CallerContext.Get(http);
            var terminalId = terminal ?? (await terminals.OpenAsync(id, owner, cols ?? 80, rows ?? 24, ct)).Id;
            await using var attachment = terminals.Attach(id, owner, terminalId, how);
            if (terminal is not null && attachment.IsWriter && cols is { } c && rows is { } r)
            {
                await attachment.ResizeAsync(c, r, ct);
            }
            using var socket = await http.WebSockets.AcceptWebSocketAsync();
            await RunAsync(socket, attachment, logs.CreateLogger("Sandbox.Server.Terminal"), ct);
        }).WithName("SessionTerminal").ExcludeFromDescription();
        api.MapGet("/sessions/{id}/terminals", (string id, TerminalService terminals, HttpContext http) =>
            TypedResults.Ok(terminals.List(id, CallerContext.Get(http)).Select(t => t.ToDto()).ToList()))
            .WithName("ListTerminals").WithDescription("The session's terminals: they run until closed, whether or not a client is attached.");
        api.MapPost("/sessions/{id}/terminals", async (string id, OpenTerminalRequest? body, TerminalService terminals, InteractiveAgentService agents,
            HttpContext http, CancellationToken ct) =>
        {
            var (owner, cols, rows) = (CallerContext.Get(http), body?.Cols ?? 80, body?.Rows ?? 24);
            var info = body?.Agent is { Length: > 0 }
                ? await agents.StartAsync(id, owner, body.ToInteractiveAgent(), cols, rows, ct)
                : await terminals.OpenAsync(id, owner, cols, rows, ct);
            return TypedResults.Ok(info.ToDto());
        }).WithName("OpenTerminal").WithDescription("Opens a terminal: a shell as the sandbox user, or with agent (claude-code) that agent's own interface, "
            + "which works on while nobody is attached; attach to it with the terminal WebSocket and terminal=ID.");
        api.MapDelete("/sessions/{id}/terminals/{terminalId}", async (string id, string terminalId, TerminalService terminals, HttpContext http, CancellationToken ct) =>
        {
            await terminals.CloseAsync(id, CallerContext.Get(http), terminalId, ct);
            return TypedResults.NoContent();
        }).WithName("CloseTerminal").WithDescription("Closes a terminal: its shell and what it started are killed.");
    }


    private static async Task RunAsync(WebSocket socket, TerminalAttachment terminal, ILogger logger, CancellationToken ct)
    {
        // Input and output run side by side. Whichever ends first ends the other: the client's close (or its detach
        // keys) stops the output; the shell's end sends the exit frame and a close the client answers. A pending
        // receive is never cancelled while the socket should close cleanly (cancelling it aborts the connection).
        using var outputStop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var inputStop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        await SendTextAsync(socket, new { type = "attached", terminal_id = terminal.Id, writer = terminal.IsWriter }, ct);
        var input = Task.Run(() => ReceiveAsync(socket, terminal, inputStop.Token), CancellationToken.None);
        var output = Task.Run(() => SendAsync(socket, terminal, outputStop.Token), CancellationToken.None);
        string? why = null;
        try
        {
            if (await Task.WhenAny(input, output) == input)
            {
                await outputStop.CancelAsync();
                await Quietly(output);
                using var closing = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                if (await input && socket.State == WebSocketState.Open)
                {
                    await SendTextAsync(socket, new { type = "detached" }, closing.Token);
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "detached", closing.Token);
                    await Quietly(DrainAsync(socket, closing.Token));
                }
                else if (socket.State == WebSocketState.CloseReceived)
                {
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
            // The client went away: it is detached, the terminal goes on.
        }
        finally
        {
            await inputStop.CancelAsync();
            await outputStop.CancelAsync();
            await Quietly(input);
            await Quietly(output);
            LogDetached(logger, terminal.Id, terminal.ExitCode);
        }
    }

    private static Task SendTextAsync(WebSocket socket, object message, CancellationToken ct) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(message)), WebSocketMessageType.Text, true, ct);

    /// <summary>Reads what the client still sends until it answers our close.</summary>
    private static async Task DrainAsync(WebSocket socket, CancellationToken ct)
    {
        var buffer = new byte[4096];
        while (socket.State == WebSocketState.CloseSent)
        {
            await socket.ReceiveAsync(buffer, ct);
        }
    }

    /// <summary>Sends the terminal's output until its shell ends, then the exit frame; returns why it ended early, if it did.</summary>
    private static async Task<string?> SendAsync(WebSocket socket, TerminalAttachment terminal, CancellationToken ct)
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

    /// <summary>Takes the client's input until it closes (false) or types the detach keys (true). A watching client's
    /// keys and resizes are ignored.</summary>
    private static async Task<bool> ReceiveAsync(WebSocket socket, TerminalAttachment terminal, CancellationToken ct)
    {
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        while (!ct.IsCancellationRequested)
        {
            var result = await socket.ReceiveAsync(buffer, ct);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return false;
            }
            message.Write(buffer, 0, result.Count);
            if (message.Length > 1 << 20)
            {
                await socket.CloseAsync(WebSocketCloseStatus.MessageTooBig, "at most 1 MiB per message", ct);
                return false;
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
                    var text = data.GetString()!;
                    if (!terminal.IsWriter)
                    {
                        if (text.Contains(TerminalAttachment.DetachKeys, StringComparison.Ordinal))
                        {
                            return true;
                        }
                        break;
                    }
                    if (!await terminal.WriteAsync(text, ct))
                    {
                        return true;
                    }
                    break;
                case "resize" when terminal.IsWriter && root.TryGetProperty("cols", out var c) && c.TryGetInt32(out var cols)
                                   && root.TryGetProperty("rows", out var r) && r.TryGetInt32(out var rows):
                    await terminal.ResizeAsync(cols, rows, ct);
                    break;
            }
        }
        return false;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Terminal {TerminalId}: a client detached (exit status {ExitCode})")]
    private static partial void LogDetached(ILogger logger, string terminalId, int? exitCode);
}
