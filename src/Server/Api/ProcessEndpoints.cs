using Microsoft.AspNetCore.Mvc;
using Sandbox.Client.Contracts;
using Sandbox.Processes;
using Sandbox.Server.Hosting;

namespace Sandbox.Server.Api;

/// <summary>REST endpoints of background processes.</summary>
internal static class ProcessEndpoints
{
    public static void Map(RouteGroupBuilder api)
    {
        api.MapPost("/sessions/{id}/processes", async (string id, StartProcessRequest body, ProcessService processes, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok((await processes.StartAsync(id, CallerContext.Get(http), body.ToEngine(), ct)).ToDto()))
            .WithName("StartProcess").WithDescription("Starts a background process (a bash line or argv) beside the session's interpreter.");
        api.MapGet("/sessions/{id}/processes", async (string id, ProcessService processes, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok((await processes.ListAsync(id, CallerContext.Get(http), ct)).Select(p => p.ToDto()).ToList())).WithName("ListProcesses");
        api.MapGet("/sessions/{id}/processes/{pid}/output", async (string id, string pid, [FromQuery(Name = "stdout_cursor")] long? stdoutCursor,
                [FromQuery(Name = "stderr_cursor")] long? stderrCursor, [FromQuery(Name = "wait_seconds")] double? waitSeconds, [FromQuery(Name = "max_bytes")] int? maxBytes,
                ProcessService processes, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok((await processes.GetOutputAsync(id, CallerContext.Get(http), pid, stdoutCursor ?? 0, stderrCursor ?? 0,
                ContractValidation.Wait(waitSeconds) ?? TimeSpan.Zero, maxBytes ?? 1 << 20, ct)).ToDto()))
            .WithName("GetProcessOutput").WithDescription("Output since the cursors (byte offsets); waits up to wait_seconds for news while it runs.");
        api.MapPost("/sessions/{id}/processes/{pid}/input", async (string id, string pid, ProcessInputRequest body, ProcessService processes, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok(new { written = await processes.SendInputAsync(id, CallerContext.Get(http), pid, body.Text, body.Close, ct) }))
            .WithName("SendProcessInput");
        api.MapDelete("/sessions/{id}/processes/{pid}", async (string id, string pid, ProcessService processes, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok((await processes.KillAsync(id, CallerContext.Get(http), pid, ct)).ToDto()))
            .WithName("KillProcess").WithDescription("Kills the process and everything it started.");
    }
}
