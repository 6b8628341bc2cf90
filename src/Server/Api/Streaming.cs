using System.Text.Json;
using Sandbox.Client.Contracts;

namespace Sandbox.Server.Api;

/// <summary>The REST face's one way to stream engine events (executions, agent runs) as SSE or NDJSON.</summary>
internal static class Streaming
{
    public static bool WantsStream(HttpContext http, out bool sse)
    {
        var accept = http.Request.Headers.Accept.ToString();
        sse = accept.Contains("text/event-stream", StringComparison.OrdinalIgnoreCase);
        return sse || accept.Contains("application/x-ndjson", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// A stream of events as SSE or NDJSON. Errors before the first event are still plain problem details: the stream
    /// starts only once the first event is there; an error after that becomes the stream's last event.
    /// </summary>
    public static async Task<IResult> StreamAsync<TEvent>(IAsyncEnumerable<TEvent> source, bool sse,
        Func<TEvent, (string Type, object Wire)> toWire, Func<ErrorDto, object> toError, CancellationToken ct, Func<TEvent, string?>? idOf = null)
    {
        var events = source.GetAsyncEnumerator(ct);
        bool has;
        try
        {
            has = await events.MoveNextAsync();
        }
        catch
        {
            await events.DisposeAsync();
            throw;
        }
        return new StreamResult<TEvent>(events, has, sse, toWire, toError, idOf);
    }

    public sealed class LocatedResult(IResult inner, string location) : IResult
    {
        public Task ExecuteAsync(HttpContext http)
        {
            http.Response.Headers.Location = location;
            return inner.ExecuteAsync(http);
        }
    }

    private sealed class StreamResult<TEvent>(IAsyncEnumerator<TEvent> events, bool has, bool sse,
        Func<TEvent, (string Type, object Wire)> toWire, Func<ErrorDto, object> toError, Func<TEvent, string?>? idOf) : IResult
    {
        public async Task ExecuteAsync(HttpContext http)
        {
            http.Response.ContentType = sse ? "text/event-stream" : "application/x-ndjson";
            http.Response.Headers.CacheControl = "no-cache";
            http.Response.Headers["X-Accel-Buffering"] = "no";
            var ct = http.RequestAborted;
            await using (events)
            {
                try
                {
                    while (has)
                    {
                        var (type, wire) = toWire(events.Current);
                        await Write(http, type, wire, ct, idOf?.Invoke(events.Current));
                        has = await events.MoveNextAsync();
                    }
                }
                catch (SandboxException e)
                {
                    await Write(http, "error", toError(e.ToError()), ct);
                }
            }
        }

        private async Task Write(HttpContext http, string type, object wire, CancellationToken ct, string? id = null)
        {
            var json = JsonSerializer.Serialize(wire, wire.GetType(), SandboxJson.Options);
            var text = sse ? (id is null ? "" : $"id: {id}\n") + $"event: {type}\ndata: {json}\n\n" : json + "\n";
            await http.Response.WriteAsync(text, ct);
            await http.Response.Body.FlushAsync(ct);
        }
    }
}
