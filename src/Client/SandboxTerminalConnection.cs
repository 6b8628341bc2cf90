using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Sandbox.Client;

/// <summary>What a terminal connection received: output bytes, or the end of the connection and why.</summary>
/// <param name="Output">Terminal output (raw bytes, escape sequences included); null for an end event.</param>
/// <param name="Ended">Null while the terminal runs; <c>detached</c> (this client detached, the terminal goes on),
/// <c>exited</c> (its program ended: <paramref name="ExitCode"/>) or <c>closed</c> (the server closed the connection).</param>
/// <param name="ExitCode">The program's exit status when it exited.</param>
public sealed record TerminalEvent(byte[]? Output, string? Ended = null, int? ExitCode = null);

/// <summary>
/// A client attached to a session's terminal over the terminal WebSocket (<c>/api/sessions/{id}/terminal</c>): the
/// screen as it is first, then live output; keys and resizes go to the terminal when this client is the writer. Typing
/// Ctrl-P Ctrl-Q (<see cref="DetachKeys"/>) or disposing detaches; the terminal and its program go on.
/// </summary>
public sealed class SandboxTerminalConnection : IAsyncDisposable
{
    /// <summary>The keys that detach (Ctrl-P Ctrl-Q, as <c>docker attach</c>).</summary>
    public const string DetachKeys = "\u0010\u0011";

    private readonly ClientWebSocket _socket;
    private readonly SemaphoreSlim _send = new(1, 1);

    private SandboxTerminalConnection(ClientWebSocket socket, string terminalId, bool isWriter)
    {
        _socket = socket;
        TerminalId = terminalId;
        IsWriter = isWriter;
    }

    /// <summary>The terminal's id.</summary>
    public string TerminalId { get; }

    /// <summary>Whether this client holds the keyboard (another writer makes it a watcher).</summary>
    public bool IsWriter { get; }

    /// <summary>Connects to <paramref name="terminalId"/> of <paramref name="sessionId"/> (null: opens a new shell
    /// terminal) on the server at <paramref name="baseAddress"/>.</summary>
    public static async Task<SandboxTerminalConnection> ConnectAsync(Uri baseAddress, string? token, string sessionId, string? terminalId, bool readOnly,
        int cols, int rows, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(baseAddress);
        var scheme = baseAddress.Scheme == Uri.UriSchemeHttps ? "wss" : "ws";
        var query = $"cols={cols}&rows={rows}&mode={(readOnly ? "read" : "write")}" + (terminalId is null ? "" : "&terminal=" + Uri.EscapeDataString(terminalId));
        var url = new UriBuilder(baseAddress) { Scheme = scheme, Port = baseAddress.Port }.Uri;
        url = new Uri(url, $"api/sessions/{Uri.EscapeDataString(sessionId)}/terminal?{query}");
        var socket = new ClientWebSocket();
        try
        {
            if (!string.IsNullOrEmpty(token))
            {
                socket.Options.SetRequestHeader("Authorization", "Bearer " + token);
            }
            socket.Options.CollectHttpResponseDetails = true;
            try
            {
                await socket.ConnectAsync(url, cancellationToken).ConfigureAwait(false);
            }
            catch (WebSocketException e) when (socket.HttpStatusCode != 0)
            {
                throw new SandboxClientException(socket.HttpStatusCode switch
                {
                    System.Net.HttpStatusCode.NotFound => "not_found",
                    System.Net.HttpStatusCode.Unauthorized => "unauthorized",
                    System.Net.HttpStatusCode.Forbidden => "forbidden",
                    System.Net.HttpStatusCode.Conflict => "session_busy",
                    _ => "http_" + (int)socket.HttpStatusCode,
                }, $"The server refused the terminal connection (HTTP {(int)socket.HttpStatusCode}).", (int)socket.HttpStatusCode, e);
            }
            // The first frame says which terminal this is and whether this client may type.
            var hello = await ReceiveTextAsync(socket, cancellationToken).ConfigureAwait(false);
            using var doc = JsonDocument.Parse(hello);
            var root = doc.RootElement;
            if (root.GetProperty("type").GetString() != "attached")
            {
                throw new SandboxClientException("protocol_error", "The terminal did not say it attached.");
            }
            return new SandboxTerminalConnection(socket, root.GetProperty("terminal_id").GetString() ?? "", root.GetProperty("writer").GetBoolean());
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Output as it arrives, then one end event.</summary>
    public async IAsyncEnumerable<TerminalEvent> ReadAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        while (_socket.State == WebSocketState.Open || _socket.State == WebSocketState.CloseSent)
        {
            WebSocketReceiveResult result;
            try
            {
                result = await _socket.ReceiveAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
            catch (WebSocketException)
            {
                break;
            }
            if (result.MessageType == WebSocketMessageType.Close)
            {
                break;
            }
            message.Write(buffer, 0, result.Count);
            if (!result.EndOfMessage)
            {
                continue;
            }
            var frame = message.ToArray();
            message.SetLength(0);
            if (result.MessageType == WebSocketMessageType.Binary)
            {
                yield return new TerminalEvent(frame);
                continue;
            }
            using var doc = JsonDocument.Parse(frame);
            switch (doc.RootElement.GetProperty("type").GetString())
            {
                case "detached":
                    yield return new TerminalEvent(null, "detached");
                    yield break;
                case "exit":
                    yield return new TerminalEvent(null, "exited", doc.RootElement.TryGetProperty("exit_code", out var code) && code.ValueKind == JsonValueKind.Number ? code.GetInt32() : null);
                    yield break;
            }
        }
        yield return new TerminalEvent(null, "closed");
    }

    /// <summary>Types <paramref name="text"/> (keys, a paste, control characters; <see cref="DetachKeys"/> detaches).</summary>
    public Task SendInputAsync(string text, CancellationToken cancellationToken = default) =>
        SendAsync(new { type = "input", data = text }, cancellationToken);

    /// <summary>Tells the terminal its new size.</summary>
    public Task ResizeAsync(int cols, int rows, CancellationToken cancellationToken = default) =>
        SendAsync(new { type = "resize", cols, rows }, cancellationToken);

    private async Task SendAsync(object message, CancellationToken ct)
    {
        await _send.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await _socket.SendAsync(JsonSerializer.SerializeToUtf8Bytes(message), WebSocketMessageType.Text, true, ct).ConfigureAwait(false);
        }
        finally
        {
            _send.Release();
        }
    }

    private static async Task<string> ReceiveTextAsync(ClientWebSocket socket, CancellationToken ct)
    {
        var buffer = new byte[16 * 1024];
        using var message = new MemoryStream();
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, ct).ConfigureAwait(false);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                throw new SandboxClientException("closed", "The server closed the terminal connection: " + (socket.CloseStatusDescription ?? "no reason given"));
            }
            message.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                return Encoding.UTF8.GetString(message.ToArray());
            }
        }
    }

    /// <summary>Detaches (the terminal goes on) and releases the connection.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_socket.State == WebSocketState.Open)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "detached", timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException)
            {
                // Already gone: detached all the same.
            }
        }
        _socket.Dispose();
        _send.Dispose();
    }
}
