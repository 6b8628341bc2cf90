using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Sandbox.Client.Contracts;
using Sandbox.Server.Hosting;
using Sandbox.Execution;

namespace Sandbox.Server.Api;

/// <summary>REST endpoints of the executions area.</summary>
internal static class ExecutionEndpoints
{
    public static void Map(RouteGroupBuilder api)
    {
        api.MapPost("/sessions/{id}/execute", ExecuteAsync).WithName("Execute")
            .WithDescription("Runs code. JSON result by default (with wait_seconds, status 'running' and the output so far when the code is not done by then: it keeps running); with Accept: text/event-stream or application/x-ndjson the output streams as it is produced.");
        api.MapGet("/sessions/{id}/executions", (string id, ExecutionService executions, HttpContext http) =>
            TypedResults.Ok(executions.List(id, CallerContext.Get(http)).Select(e => e.ToDto()).ToList())).WithName("ListExecutions");
        api.MapGet("/sessions/{id}/executions/{eid}", GetAsync).WithName("GetExecution")
            .WithDescription("An execution's output since ?cursor= and its status (waits up to ?wait_seconds= for news). With Accept: text/event-stream or application/x-ndjson: its events from the cursor (or Last-Event-ID) on, live until it ends; disconnecting does not stop the code.");
        api.MapPost("/sessions/{id}/executions/{eid}/cancel", async (string id, string eid, ExecutionService executions, HttpContext http, CancellationToken ct) =>
            Results.Json((await executions.CancelAsync(id, CallerContext.Get(http), eid, ct)).ToDto(), SandboxJson.Options)).WithName("CancelExecution");
        api.MapGet("/sessions/{id}/executions/{eid}/output", async (string id, string eid, [FromQuery] string? stream, [FromQuery] long? offset, [FromQuery] int? length,
                OutputLog outputs, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok((await outputs.ReadAsync(id, CallerContext.Get(http), eid, stream ?? "stdout", offset ?? 0, length ?? 65536, ct)).ToDto()))
            .WithName("ReadExecutionOutput").WithDescription("Bytes offset..offset+length of an execution's kept stdout or stderr.");
        api.MapGet("/sessions/{id}/executions/{eid}/grep", async (string id, string eid, [FromQuery] string pattern, [FromQuery] string? stream, [FromQuery] int? max,
                OutputLog outputs, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok((await outputs.GrepAsync(id, CallerContext.Get(http), eid, stream ?? "stdout", pattern, max ?? 100, ct)).ToDto()))
            .WithName("GrepExecutionOutput").WithDescription("The lines of an execution's kept output that match a regular expression.");
    }

    private static async Task<IResult> GetAsync(string id, string eid, [FromQuery] int? cursor, [FromQuery(Name = "wait_seconds")] double? waitSeconds,
        [FromQuery(Name = "max_output_chars")] int? maxOutputChars, ExecutionService executions, HttpContext http, CancellationToken ct)
    {
        var owner = CallerContext.Get(http);
        var from = cursor ?? 0;
        if (int.TryParse(http.Request.Headers["Last-Event-ID"].ToString(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var last))
        {
            from = last;
        }
        if (from < 0)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "cursor must be 0 or more.");
        }
        if (Streaming.WantsStream(http, out var sse))
        {
            var position = from;
            return await Streaming.StreamAsync(executions.FollowAsync(id, owner, eid, from, ct), sse, e =>
            {
                var line = e.ToDto();
                position = e is CompletedEvent c ? c.Result.Cursor : position + 1;
                return (line.Type, line with { Cursor = position });
            }, error => new ExecutionStreamEvent { Type = "error", Error = error }, ct,
            e => e is CompletedEvent ? null : position.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        var result = await executions.GetAsync(id, owner, eid, from, ContractValidation.Wait(waitSeconds) ?? TimeSpan.Zero, maxOutputChars, ct);
        return Results.Json(result.ToDto(), SandboxJson.Options);
    }

    private static async Task<IResult> ExecuteAsync(string id, ExecuteRequest body, ExecutionService executions, HttpContext http, CancellationToken ct)
    {
        var request = body.ToEngine();
        var owner = CallerContext.Get(http);
        if (Streaming.WantsStream(http, out var sse))
        {
            return await Streaming.StreamAsync(executions.ExecuteStreamingAsync(id, owner, request with { WaitFor = null }, ct), sse, ExecutionLine,
                error => new ExecutionStreamEvent { Type = "error", Error = error }, ct);
        }
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var result = await executions.ExecuteAsync(id, owner, request, ct);
        if (result.Timings is { } t)
        {
            // Where the time went (W3C Server-Timing; browsers' network panels show it): the safety check, the run in
            // the sandbox, and the engine's whole share of this request (the rest is HTTP and JSON).
            http.Response.Headers["Server-Timing"] = string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"check;dur={t.CheckMs:0.###}, run;dur={t.RunMs:0.###}, engine;dur={System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds:0.###}");
        }
        return Results.Json(result.ToDto(), SandboxJson.Options);
    }

    private static (string Type, object Wire) ExecutionLine(ExecutionEvent e)
    {
        var line = e.ToDto();
        return (line.Type, line);
    }
}
