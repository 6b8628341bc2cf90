using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Sandbox.Client.Contracts;
using Sandbox.Server.Hosting;
using Sandbox.Agents;

namespace Sandbox.Server.Api;

/// <summary>REST endpoints of the agents area.</summary>
internal static class AgentEndpoints
{
    public static void Map(RouteGroupBuilder api)
    {
        var group = api.MapGroup("/sessions/{id}/agent-runs").WithTags("agents");

        group.MapPost("", StartAgentRunAsync).WithName("RunAgent")
            .WithDescription("Starts a coding agent in the session's workspace. Answers 202 with the running run (poll its Location) by default; "
                + "?wait=true answers 200 with the finished run; with Accept: text/event-stream or application/x-ndjson the steps stream as the agent works. "
                + "Closing a waiting or streaming request cancels the run.");

        group.MapGet("", async (string id, AgentRunService agents, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok((await agents.ListAsync(id, CallerContext.Get(http), ct)).Select(r => r.ToDto(trajectory: false)).ToList()))
            .WithName("ListAgentRuns").WithDescription("The session's agent runs, newest first, without trajectories.");

        group.MapGet("/{runId}", GetAgentRunAsync).WithName("GetAgentRun")
            .WithDescription("A run with its status, steps, trajectory and diff. With Accept: text/event-stream or application/x-ndjson: its steps so far, then live ones, then the result.");

        group.MapPost("/{runId}/continue", ContinueAgentRunAsync).WithName("ContinueAgentRun")
            .WithDescription("Continues the run's conversation with a new message (body: the prompt and, optionally, the run's other settings): "
                + "the same agent resumes it in a new run, answered as a started run is (202, ?wait=true or a stream).");

        group.MapPost("/{runId}/cancel", async (string id, string runId, AgentRunService agents, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok((await agents.CancelAsync(id, CallerContext.Get(http), runId, ct)).ToDto()))
            .WithName("CancelAgentRun").WithDescription("Kills the agent and returns the ended run.");
    }

    private static async Task<IResult> StartAgentRunAsync(string id, RunAgentRequest body, [FromQuery] bool? wait, [FromQuery] bool? trajectory,
        AgentRunService agents, HttpContext http, CancellationToken ct)
    {
        var request = body.ToEngine();
        var owner = CallerContext.Get(http);
        if (Streaming.WantsStream(http, out var sse))
        {
            return await Streaming.StreamAsync(agents.RunStreamingAsync(id, owner, request, ct), sse, AgentLine, AgentError, ct);
        }
        if (wait == true)
        {
            return Results.Json((await agents.RunAsync(id, owner, request, ct)).ToDto(trajectory ?? true), SandboxJson.Options);
        }
        var run = await agents.StartAsync(id, owner, request, ct);
        return new Streaming.LocatedResult(Results.Json(run.ToDto(), SandboxJson.Options, statusCode: StatusCodes.Status202Accepted),
            $"/api/sessions/{Uri.EscapeDataString(id)}/agent-runs/{run.Id}");
    }

    private static Task<IResult> ContinueAgentRunAsync(string id, string runId, RunAgentRequest body, [FromQuery] bool? wait, [FromQuery] bool? trajectory,
        AgentRunService agents, HttpContext http, CancellationToken ct) =>
        StartAgentRunAsync(id, body with { Continue = runId }, wait, trajectory, agents, http, ct);

    private static async Task<IResult> GetAgentRunAsync(string id, string runId, [FromQuery] bool? trajectory, AgentRunService agents, HttpContext http, CancellationToken ct)
    {
        var owner = CallerContext.Get(http);
        if (Streaming.WantsStream(http, out var sse))
        {
            await agents.GetAsync(id, owner, runId, ct); // unknown run: a plain 404 before any stream starts
            return await Streaming.StreamAsync(agents.WatchAsync(id, owner, runId, ct), sse, AgentLine, AgentError, ct);
        }
        return Results.Json((await agents.GetAsync(id, owner, runId, ct)).ToDto(trajectory ?? true), SandboxJson.Options);
    }

    /// <summary>An agent run's event as a stream line (runs and jobs stream the same events).</summary>
    internal static (string Type, object Wire) AgentLine(AgentRunEvent e)
    {
        var line = e.ToDto();
        return (line.Type, line);
    }

    /// <summary>The stream line of a failure.</summary>
    internal static AgentRunStreamEvent AgentError(ErrorDto error) => new() { Type = "error", Error = error };
}
