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

        api.MapGet("/packages", async ([FromQuery] string? image, SessionManager engine, CancellationToken ct) =>
            TypedResults.Ok((await engine.GetPackagesAsync(image, ct)).ToDto())).WithName("GetPackages").WithTags("packages");

        return app;
    }

    private static async Task<IResult> ExecuteAsync(string id, ExecuteRequest body, SessionManager engine, HttpContext http, CancellationToken ct)
    {
        var request = body.ToEngine();
        var owner = CallerContext.Get(http);
        var accept = http.Request.Headers.Accept.ToString();
        var sse = accept.Contains("text/event-stream", StringComparison.OrdinalIgnoreCase);
        var ndjson = accept.Contains("application/x-ndjson", StringComparison.OrdinalIgnoreCase);
        if (!sse && !ndjson)
        {
            var result = await engine.ExecuteAsync(id, owner, request, ct);
            return Results.Json(result.ToDto(), SandboxJson.Options);
        }

        // Errors before the first event are still plain problem details: start the stream only once it runs.
        var events = engine.ExecuteStreamingAsync(id, owner, request, ct).GetAsyncEnumerator(ct);
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
        return new StreamResult(events, has, sse);
    }

    private sealed class StreamResult(IAsyncEnumerator<Sandbox.Execution.ExecutionEvent> events, bool has, bool sse) : IResult
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
                        await Write(http, events.Current.ToDto(), ct);
                        has = await events.MoveNextAsync();
                    }
                }
                catch (SandboxException e)
                {
                    await Write(http, new ExecutionStreamEvent { Type = "error", Error = e.ToError() }, ct);
                }
            }
        }

        private async Task Write(HttpContext http, ExecutionStreamEvent e, CancellationToken ct)
        {
            var json = JsonSerializer.Serialize(e, SandboxJson.Options);
            var text = sse ? $"event: {e.Type}\ndata: {json}\n\n" : json + "\n";
            await http.Response.WriteAsync(text, ct);
            await http.Response.Body.FlushAsync(ct);
        }
    }
}
