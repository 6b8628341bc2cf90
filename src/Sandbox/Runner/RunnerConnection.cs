using System.Buffers;
using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Sandbox.Runner;

/// <summary>A message from the runner inside a session container. Untrusted: the sandbox may write anything.</summary>
internal sealed record RunnerMessage(string Type, string? Id, JsonElement Body);

/// <summary>
/// The engine's end of the JSON-lines protocol with the runner, over the container's attached stdin/stdout.
/// One long-lived stream per session: no docker exec per call. Requests are matched to answers by id.
/// </summary>
internal sealed partial class RunnerConnection : IAsyncDisposable
{
    /// <summary>Longest line accepted from the runner. Output is chunked by the runner, so only a broken or hostile
    /// runner sends more; the line is then dropped and the connection closed rather than buffered.</summary>
    internal const int MaxLineBytes = 32 * 1024 * 1024;

    private readonly RunnerStream _stream;
    private readonly ILogger _logger;
    private readonly string _sessionId;
    private readonly ConcurrentDictionary<string, Channel<RunnerMessage>> _subscribers = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly CancellationTokenSource _cts = new();
    private readonly Task _readLoop;
    private readonly TaskCompletionSource<RunnerMessage> _hello = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _nextId;

    public RunnerConnection(RunnerStream stream, string sessionId, ILogger logger)
    {
        _stream = stream;
        _sessionId = sessionId;
        _logger = logger;
        _readLoop = Task.Run(ReadLoopAsync);
    }

    /// <summary>Why the connection ended, once it has.</summary>
    public string? ClosedReason { get; private set; }

    /// <summary>Completes when the stream ends (container stopped, engine gone, or protocol violation).</summary>
    public Task Completion => _readLoop;

    public string NewId() => Interlocked.Increment(ref _nextId).ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Waits for the runner's first line (it is sent once at start).</summary>
    public Task<RunnerMessage> WaitHelloAsync(CancellationToken ct) => _hello.Task.WaitAsync(ct);

    /// <summary>Registers for the messages carrying <paramref name="id"/>; dispose the result to stop.</summary>
    public Subscription Subscribe(string id)
    {
        // The waiting reader goes on on the read loop's thread (it only turns a message into an event or a result and
        // awaits the next): one thread-pool hop less per message, which was a measurable share of a warm execution.
        var channel = Channel.CreateBounded<RunnerMessage>(new BoundedChannelOptions(256)
        {
            SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait, AllowSynchronousContinuations = true,
        });
        if (ClosedReason is { } reason)
        {
            channel.Writer.TryComplete(Lost(reason));
        }
        else if (!_subscribers.TryAdd(id, channel))
        {
            throw new InvalidOperationException($"duplicate runner request id {id}");
        }
        return new Subscription(this, id, channel.Reader);
    }

    /// <summary>Sends one request (its id already set) as one line.</summary>
    public async Task SendAsync(RunnerRequest request, CancellationToken ct)
    {
        var bytes = RunnerProtocolJson.Serialize(request);
        var line = new byte[bytes.Length + 1];
        bytes.CopyTo(line, 0);
        line[^1] = (byte)'\n';
        await _writeLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (ClosedReason is { } reason)
            {
                throw Lost(reason);
            }
            await _stream.WriteAsync(line, 0, line.Length, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            throw Lost("the connection to the session's runner broke: " + e.Message);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>One request and its single answer, bounded in time (<c>timeout</c> when the runner does not answer;
    /// <c>session_lost</c> when the connection ends meanwhile).</summary>
    public async Task<RunnerMessage> AskAsync(RunnerRequest request, TimeSpan timeout, string what, CancellationToken ct)
    {
        var id = NewId();
        request.Id = id;
        using var subscription = Subscribe(id);
        await SendAsync(request, ct).ConfigureAwait(false);
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bounded.CancelAfter(timeout);
        try
        {
            return await subscription.Reader.ReadAsync(bounded.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new SandboxException(SandboxErrorCodes.Timeout, $"The sandbox did not answer the {what} request within {timeout.TotalSeconds} s.");
        }
        catch (ChannelClosedException e) when (e.InnerException is SandboxException lost)
        {
            throw new SandboxException(lost.Code, lost.Message, e);
        }
    }

    private async Task ReadLoopAsync()
    {
        var buffer = ArrayPool<byte>.Shared.Rent(81920);
        var line = new ArrayBufferWriter<byte>(4096);
        var stderr = new StringBuilder();
        var skipping = false;
        var reason = "the session's container stopped";
        try
        {
            while (true)
            {
                var result = await _stream.ReadAsync(buffer, 0, buffer.Length, _cts.Token).ConfigureAwait(false);
                if (result.Eof)
                {
                    break;
                }
                if (result.IsStderr)
                {
                    LogRunnerStderr(stderr, buffer.AsSpan(0, result.Count));
                    continue;
                }
                var offset = 0;
                while (offset < result.Count)
                {
                    var nl = Array.IndexOf(buffer, (byte)'\n', offset, result.Count - offset);
                    var end = nl < 0 ? result.Count : nl;
                    if (!skipping)
                    {
                        if (line.WrittenCount + (end - offset) > MaxLineBytes)
                        {
                            LogOversizedLine(_logger, _sessionId, MaxLineBytes);
                            skipping = true;
                            line.ResetWrittenCount();
                        }
                        else
                        {
                            line.Write(buffer.AsSpan(offset, end - offset));
                        }
                    }
                    if (nl < 0)
                    {
                        break;
                    }
                    if (!skipping)
                    {
                        await DispatchAsync(line.WrittenMemory).ConfigureAwait(false);
                    }
                    skipping = false;
                    line.ResetWrittenCount();
                    offset = nl + 1;
                }
            }
        }
        catch (OperationCanceledException) when (_cts.IsCancellationRequested)
        {
            reason = "the session was closed";
        }
        catch (Exception e)
        {
            reason = "the connection to the session's runner broke: " + e.Message;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            ClosedReason = reason;
            _hello.TrySetException(Lost(reason));
            foreach (var (_, channel) in _subscribers)
            {
                channel.Writer.TryComplete(Lost(reason));
            }
        }
    }

    private async ValueTask DispatchAsync(ReadOnlyMemory<byte> line)
    {
        RunnerMessage message;
        try
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
            {
                return;
            }
            string? id = root.TryGetProperty("id", out var idEl) && idEl.ValueKind == JsonValueKind.String ? idEl.GetString() : null;
            message = new RunnerMessage(type.GetString()!, id, root.Clone());
        }
        catch (JsonException)
        {
            LogBadLine(_logger, _sessionId);
            return;
        }
        if (message.Type == "hello")
        {
            _hello.TrySetResult(message);
            return;
        }
        if (message.Id is { } mid && _subscribers.TryGetValue(mid, out var channel))
        {
            try
            {
                await channel.Writer.WriteAsync(message, _cts.Token).ConfigureAwait(false);
            }
            catch (ChannelClosedException)
            {
                // The caller stopped listening (timed out or cancelled); late messages are dropped.
            }
        }
    }

    private void LogRunnerStderr(StringBuilder pending, ReadOnlySpan<byte> chunk)
    {
        if (pending.Length < 8192)
        {
            pending.Append(Encoding.UTF8.GetString(chunk));
        }
        var text = pending.ToString();
        var nl = text.LastIndexOf('\n');
        if (nl < 0 && pending.Length < 8192)
        {
            return;
        }
        var complete = nl < 0 ? text : text[..nl];
        pending.Clear();
        if (nl >= 0)
        {
            pending.Append(text.AsSpan(nl + 1));
        }
        // Escaped and shortened: this text comes from inside the sandbox.
        LogRunnerSaid(_logger, _sessionId, JsonSerializer.Serialize(complete.Length > 2000 ? complete[..2000] : complete));
    }

    private void Unsubscribe(string id)
    {
        if (_subscribers.TryRemove(id, out var channel))
        {
            channel.Writer.TryComplete();
        }
    }

    internal static SandboxException Lost(string reason) => new(SandboxErrorCodes.SessionLost, $"The session is no longer usable: {reason}.");

    public async ValueTask DisposeAsync()
    {
        await _cts.CancelAsync().ConfigureAwait(false);
        _stream.Dispose();
        try
        {
            await _readLoop.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            // The loop ends on its own once the stream is disposed; nothing else holds resources.
        }
        _cts.Dispose();
        _writeLock.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: runner sent a line over {Max} bytes; dropped")]
    private static partial void LogOversizedLine(ILogger logger, string sessionId, int max);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: runner sent a line that is not JSON; dropped")]
    private static partial void LogBadLine(ILogger logger, string sessionId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Session {SessionId}: runner stderr {Text}")]
    private static partial void LogRunnerSaid(ILogger logger, string sessionId, string text);

    /// <summary>Messages for one request id.</summary>
    internal sealed class Subscription(RunnerConnection owner, string id, ChannelReader<RunnerMessage> reader) : IDisposable
    {
        public string Id { get; } = id;
        public ChannelReader<RunnerMessage> Reader { get; } = reader;
        public void Dispose() => owner.Unsubscribe(Id);
    }
}
