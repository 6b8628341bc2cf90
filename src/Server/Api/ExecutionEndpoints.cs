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
            .WithDescription("Runs code. JSON result by default; with Accept: text/event-stream or application/x-ndjson the output streams as it is produced.");
    }

    private static async Task<IResult> ExecuteAsync(string id, ExecuteRequest body, ExecutionService executions, HttpContext http, CancellationToken ct)
    {
        var request = body.ToEngine();
        var owner = CallerContext.Get(http);
        if (Streaming.WantsStream(http, out var sse))
        {
            return await Streaming.StreamAsync(executions.ExecuteStreamingAsync(id, owner, request, ct), sse, ExecutionLine,
                error => new ExecutionStreamEvent { Type = "error", Error = error }, ct);
        }
        var result = await executions.ExecuteAsync(id, owner, request, ct);
        return Results.Json(result.ToDto(), SandboxJson.Options);
    }

    private static (string Type, object Wire) ExecutionLine(ExecutionEvent e)
    {
        var line = e.ToDto();
        return (line.Type, line);
    }
}
