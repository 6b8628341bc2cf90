using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.StaticFiles;
using Sandbox;
using Sandbox.Client.Contracts;
using Sandbox.Server.Api;
using Sandbox.Server.Hosting;
using Sandbox.Sessions;

namespace Microsoft.AspNetCore.Builder;

/// <summary>The REST face: every endpoint translates to one engine call.</summary>
public static class SandboxApi
{
    private static readonly FileExtensionContentTypeProvider ContentTypes = new();

    /// <summary>Maps <c>/api/...</c> and <c>/healthz</c>.</summary>
    public static IEndpointRouteBuilder MapSandboxApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGet("/healthz", async (SessionManager engine, CancellationToken ct) =>
        {
            var health = (await engine.GetHealthAsync(ct)).ToDto();
            return Results.Json(health, SandboxJson.Options, statusCode: health.Status == "ok" ? 200 : 503);
        }).WithName("Health").WithTags("health");

        var api = app.MapGroup("/api").WithTags("sessions");

        api.MapPost("/sessions", async Task<Created<SessionDto>> (CreateSessionRequest? body, SessionManager engine, HttpContext http, CancellationToken ct) =>
        {
            var session = await engine.CreateSessionAsync(body.ToSpec(), CallerContext.Get(http), ct);
            return TypedResults.Created($"/api/sessions/{session.Id}", session.ToDto());
        }).WithName("CreateSession");

        api.MapGet("/sessions", (SessionManager engine, HttpContext http) =>
            TypedResults.Ok(engine.ListSessions(CallerContext.Get(http)).Select(s => s.ToDto()).ToList())).WithName("ListSessions");

        api.MapGet("/sessions/{id}", (string id, SessionManager engine, HttpContext http) =>
            TypedResults.Ok(engine.GetSession(id, CallerContext.Get(http)).ToDto())).WithName("GetSession");

        api.MapDelete("/sessions/{id}", async (string id, SessionManager engine, HttpContext http, CancellationToken ct) =>
        {
            await engine.CloseSessionAsync(id, CallerContext.Get(http), ct);
            return TypedResults.NoContent();
        }).WithName("CloseSession");

        api.MapGet("/sessions/{id}/history", async (string id, [FromQuery] int? limit, SessionManager engine, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok((await engine.GetHistoryAsync(id, CallerContext.Get(http), limit ?? 1000, ct)).Select(h => h.ToDto()).ToList()))
            .WithName("GetSessionHistory").WithDescription("The session's audit log: lifecycle events and every execution (code hash and size, exit, duration, output head).");

        api.MapPost("/sessions/{id}/pause", async (string id, SessionManager engine, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok((await engine.PauseSessionAsync(id, CallerContext.Get(http), ct)).ToDto())).WithName("PauseSession");

        api.MapPost("/sessions/{id}/resume", async (string id, SessionManager engine, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok((await engine.ResumeSessionAsync(id, CallerContext.Get(http), ct)).ToDto())).WithName("ResumeSession");

        api.MapPost("/sessions/{id}/execute", ExecuteAsync).WithName("Execute")
            .WithDescription("Runs code. JSON result by default; with Accept: text/event-stream or application/x-ndjson the output streams as it is produced.");

        api.MapGet("/sessions/{id}/files", async (string id, [FromQuery] string? dir, SessionManager engine, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok((await engine.ListFilesAsync(id, CallerContext.Get(http), dir, ct)).Select(f => f.ToDto()).ToList()))
            .WithName("ListFiles").WithTags("files");

        api.MapPut("/sessions/{id}/files/{**path}", async (string id, string path, SessionManager engine, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok((await engine.UploadFileAsync(id, CallerContext.Get(http), path, http.Request.Body, ct)).ToDto()))
            .WithName("UploadFile").WithTags("files")
            .WithDescription("Request body: the raw file bytes (any content type).");

        api.MapGet("/sessions/{id}/files/{**path}", async (string id, string path, SessionManager engine, HttpContext http, CancellationToken ct) =>
        {
            var file = await engine.DownloadFileAsync(id, CallerContext.Get(http), path, ct);
            var name = file.Path.Length == 0 ? "workspace" : file.Path.Split('/')[^1];
            if (file.IsDirectory)
            {
                return Results.File(file.Content, "application/x-tar", name + ".tar");
            }
            var type = ContentTypes.TryGetContentType(name, out var t) ? t : "application/octet-stream";
            return Results.File(file.Content, type, name);
        }).WithName("DownloadFile").WithTags("files");

        api.MapDelete("/sessions/{id}/files/{**path}", async (string id, string path, SessionManager engine, HttpContext http, CancellationToken ct) =>
        {
            await engine.DeleteFileAsync(id, CallerContext.Get(http), path, ct);
            return TypedResults.NoContent();
        }).WithName("DeleteFile").WithTags("files");

        var agents = api.MapGroup("/sessions/{id}/agent-runs").WithTags("agents");

        agents.MapPost("", StartAgentRunAsync).WithName("RunAgent")
            .WithDescription("Starts a coding agent in the session's workspace. Answers 202 with the running run (poll its Location) by default; "
                + "?wait=true answers 200 with the finished run; with Accept: text/event-stream or application/x-ndjson the steps stream as the agent works. "
                + "Closing a waiting or streaming request cancels the run.");

        agents.MapGet("", async (string id, SessionManager engine, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok((await engine.ListAgentRunsAsync(id, CallerContext.Get(http), ct)).Select(r => r.ToDto(trajectory: false)).ToList()))
            .WithName("ListAgentRuns").WithDescription("The session's agent runs, newest first, without trajectories.");

        agents.MapGet("/{runId}", GetAgentRunAsync).WithName("GetAgentRun")
            .WithDescription("A run with its status, steps, trajectory and diff. With Accept: text/event-stream or application/x-ndjson: its steps so far, then live ones, then the result.");

        agents.MapPost("/{runId}/cancel", async (string id, string runId, SessionManager engine, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok((await engine.CancelAgentRunAsync(id, CallerContext.Get(http), runId, ct)).ToDto()))
            .WithName("CancelAgentRun").WithDescription("Kills the agent and returns the ended run.");

        api.MapPost("/sessions/{id}/packages", async (string id, InstallPackagesRequest body, SessionManager engine, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok((await engine.InstallPackagesAsync(id, CallerContext.Get(http), body.ToEngine(), ct)).ToDto()))
            .WithName("InstallPackages").WithTags("packages")
            .WithDescription("Installs pip or npm packages into the session (the session keeps no network: a fetcher container fetches them into a shared cache, then they are copied in). "
                + "Checked against the server's allow and deny lists and version pins; all or nothing.");

        api.MapGet("/packages", async ([FromQuery] string? image, SessionManager engine, CancellationToken ct) =>
            TypedResults.Ok((await engine.GetPackagesAsync(image, ct)).ToDto())).WithName("GetPackages").WithTags("packages");

        return app;
    }

    private static async Task<IResult> ExecuteAsync(string id, ExecuteRequest body, SessionManager engine, HttpContext http, CancellationToken ct)
    {
        var request = body.ToEngine();
        var owner = CallerContext.Get(http);
        if (WantsStream(http, out var sse))
        {
            return await StreamAsync(engine.ExecuteStreamingAsync(id, owner, request, ct), sse, ExecutionLine,
                error => new ExecutionStreamEvent { Type = "error", Error = error }, ct);
        }
        var result = await engine.ExecuteAsync(id, owner, request, ct);
        return Results.Json(result.ToDto(), SandboxJson.Options);
    }

    private static async Task<IResult> StartAgentRunAsync(string id, RunAgentRequest body, [FromQuery] bool? wait, [FromQuery] bool? trajectory,
        SessionManager engine, HttpContext http, CancellationToken ct)
    {
        var request = body.ToEngine();
        var owner = CallerContext.Get(http);
        if (WantsStream(http, out var sse))
        {
            return await StreamAsync(engine.RunAgentStreamingAsync(id, owner, request, ct), sse, AgentLine, AgentError, ct);
        }
        if (wait == true)
        {
            return Results.Json((await engine.RunAgentAsync(id, owner, request, ct)).ToDto(trajectory ?? true), SandboxJson.Options);
        }
        var run = await engine.StartAgentRunAsync(id, owner, request, ct);
        return new LocatedResult(Results.Json(run.ToDto(), SandboxJson.Options, statusCode: StatusCodes.Status202Accepted),
            $"/api/sessions/{Uri.EscapeDataString(id)}/agent-runs/{run.Id}");
    }

    private static async Task<IResult> GetAgentRunAsync(string id, string runId, [FromQuery] bool? trajectory, SessionManager engine, HttpContext http, CancellationToken ct)
    {
        var owner = CallerContext.Get(http);
        if (WantsStream(http, out var sse))
        {
            await engine.GetAgentRunAsync(id, owner, runId, ct); // unknown run: a plain 404 before any stream starts
            return await StreamAsync(engine.WatchAgentRunAsync(id, owner, runId, ct), sse, AgentLine, AgentError, ct);
        }
        return Results.Json((await engine.GetAgentRunAsync(id, owner, runId, ct)).ToDto(trajectory ?? true), SandboxJson.Options);
    }

    private static bool WantsStream(HttpContext http, out bool sse)
    {
        var accept = http.Request.Headers.Accept.ToString();
        sse = accept.Contains("text/event-stream", StringComparison.OrdinalIgnoreCase);
        return sse || accept.Contains("application/x-ndjson", StringComparison.OrdinalIgnoreCase);
    }

    private static (string Type, object Wire) ExecutionLine(Sandbox.Execution.ExecutionEvent e)
    {
        var line = e.ToDto();
        return (line.Type, line);
    }

    private static (string Type, object Wire) AgentLine(Sandbox.Agents.AgentRunEvent e)
    {
        var line = e.ToDto();
        return (line.Type, line);
    }

    private static AgentRunStreamEvent AgentError(ErrorDto error) => new() { Type = "error", Error = error };

    /// <summary>
    /// A stream of events as SSE or NDJSON. Errors before the first event are still plain problem details: the stream
    /// starts only once the first event is there; an error after that becomes the stream's last event.
    /// </summary>
    private static async Task<IResult> StreamAsync<TEvent>(IAsyncEnumerable<TEvent> source, bool sse,
        Func<TEvent, (string Type, object Wire)> toWire, Func<ErrorDto, object> toError, CancellationToken ct)
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
        return new StreamResult<TEvent>(events, has, sse, toWire, toError);
    }

    private sealed class LocatedResult(IResult inner, string location) : IResult
    {
        public Task ExecuteAsync(HttpContext http)
        {
            http.Response.Headers.Location = location;
            return inner.ExecuteAsync(http);
        }
    }

    private sealed class StreamResult<TEvent>(IAsyncEnumerator<TEvent> events, bool has, bool sse,
        Func<TEvent, (string Type, object Wire)> toWire, Func<ErrorDto, object> toError) : IResult
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
                        await Write(http, type, wire, ct);
                        has = await events.MoveNextAsync();
                    }
                }
                catch (SandboxException e)
                {
                    await Write(http, "error", toError(e.ToError()), ct);
                }
            }
        }

        private async Task Write(HttpContext http, string type, object wire, CancellationToken ct)
        {
            var json = JsonSerializer.Serialize(wire, wire.GetType(), SandboxJson.Options);
            var text = sse ? $"event: {type}\ndata: {json}\n\n" : json + "\n";
            await http.Response.WriteAsync(text, ct);
            await http.Response.Body.FlushAsync(ct);
        }
    }
}
