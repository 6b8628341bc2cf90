using Microsoft.AspNetCore.Mvc;
using Sandbox.Agents;
using Sandbox.Client.Contracts;
using Sandbox.Server.Hosting;

namespace Sandbox.Server.Api;

/// <summary>REST endpoints of agent jobs (a session, its input and one agent run in one request), the session-level
/// diff and summary, and the bundled skills.</summary>
internal static class JobEndpoints
{
    public static void Map(RouteGroupBuilder api)
    {
        var jobs = api.MapGroup("/jobs").WithTags("jobs");
        jobs.MapPost("", StartJobAsync).WithName("RunAgentJob")
            .WithDescription("Creates a session (image 'agent' unless named), unpacks editable_archive_base64 into it, and starts the agent with its options, "
                + "skills and MCP servers. Answers 202 with the running job and its Location; ?wait=true answers 200 with the finished job; with "
                + "Accept: text/event-stream or application/x-ndjson its steps stream (closing the stream does not cancel a job). Anything that fails "
                + "before the run closes the session again and is the answer.");
        jobs.MapGet("/{jobId}", GetJobAsync).WithName("GetAgentJob")
            .WithDescription("A job: status, tokens, cost, duration, final message, summary, and links to the workspace (zip, tar.gz), the diff, the "
                + "summary and the run with its conversation. ?wait=true waits for the end; Accept: text/event-stream follows it.");

        api.MapGet("/skills", (AgentSetup setup) => TypedResults.Ok(setup.ListBundled().Select(s => new AgentSkillDto(s.Name, s.Description, s.Source)).ToList()))
            .WithTags("agents").WithName("ListSkills").WithDescription("The bundled skills this server offers (name, description), for a run's skills.");

        var session = api.MapGroup("/sessions/{id}").WithTags("agents");
        session.MapGet("/diff", (string id, [FromQuery] string? against, SessionChanges changes, HttpContext http, CancellationToken ct) => DiffAsync(id, null, against, changes, http, ct))
            .WithName("GetSessionDiff").WithDescription("The workspace against its state before the session's first agent run (or, with ?against=SNAPSHOT_ID, "
                + "against one of your snapshots): files changed, unified diff, counts.");
        session.MapGet("/diff/{**path}", (string id, string path, [FromQuery] string? against, SessionChanges changes, HttpContext http, CancellationToken ct) => DiffAsync(id, path, against, changes, http, ct))
            .WithName("GetSessionFileDiff").WithDescription("The same for one file (or the files under a folder).");
        session.MapGet("/summary", async (string id, SessionChanges changes, HttpContext http, CancellationToken ct) =>
                Results.Json((await changes.GetAsync(id, CallerContext.Get(http), null, includeDiff: false, ct)).ToDto(), SandboxJson.Options))
            .WithName("GetSessionSummary").WithDescription("What the session's agents changed since before the first run (files, lines, commits) and the newest final message.");
    }

    private static async Task<IResult> DiffAsync(string id, string? path, string? against, SessionChanges changes, HttpContext http, CancellationToken ct) =>
        Results.Json((await changes.GetAsync(id, CallerContext.Get(http), path, includeDiff: true, ct, against)).ToDto(), SandboxJson.Options);

    private static async Task<IResult> StartJobAsync(RunAgentJobRequest body, [FromQuery] bool? wait, [FromQuery] bool? trajectory, AgentJobService jobs,
        HttpContext http, CancellationToken ct)
    {
        var owner = CallerContext.Get(http);
        var run = await jobs.StartAsync(body.ToEngine(), owner, ct);
        if (Streaming.WantsStream(http, out var sse))
        {
            return await Streaming.StreamAsync(jobs.WatchAsync(run.Id, owner, ct), sse, AgentEndpoints.AgentLine, AgentEndpoints.AgentError, ct);
        }
        if (wait == true)
        {
            return Results.Json((await jobs.WaitAsync(run.Id, owner, ct)).ToJobDto(trajectory ?? false), SandboxJson.Options);
        }
        return new Streaming.LocatedResult(Results.Json(run.ToJobDto(), SandboxJson.Options, statusCode: StatusCodes.Status202Accepted), "/api/jobs/" + run.Id);
    }

    private static async Task<IResult> GetJobAsync(string jobId, [FromQuery] bool? wait, [FromQuery] bool? trajectory, AgentJobService jobs,
        HttpContext http, CancellationToken ct)
    {
        var owner = CallerContext.Get(http);
        if (Streaming.WantsStream(http, out var sse))
        {
            await jobs.GetAsync(jobId, owner, ct); // unknown job: a plain 404 before any stream starts
            return await Streaming.StreamAsync(jobs.WatchAsync(jobId, owner, ct), sse, AgentEndpoints.AgentLine, AgentEndpoints.AgentError, ct);
        }
        var run = wait == true ? await jobs.WaitAsync(jobId, owner, ct) : await jobs.GetAsync(jobId, owner, ct);
        return Results.Json(run.ToJobDto(trajectory ?? false), SandboxJson.Options);
    }
}
