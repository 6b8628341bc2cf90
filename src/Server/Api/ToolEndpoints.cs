using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Mvc;
using ModelContextProtocol.Protocol;
using Sandbox.Server.Hosting;
using Sandbox.Server.Mcp;
using Sandbox.Sessions;

namespace Sandbox.Server.Api;

/// <summary>REST endpoints for agent frameworks that call functions instead of speaking MCP: the tool definitions in
/// OpenAI's or Anthropic's shape and one endpoint that runs a tool call by name (<see cref="ToolCatalog"/>).</summary>
internal static class ToolEndpoints
{
    public static void Map(RouteGroupBuilder api)
    {
        const string Tools = "?tools=a,b names the tools (default: running code, files, search, processes and ports; all: every MCP tool); "
            + "?format=anthropic gives {name, description, input_schema} instead of OpenAI's {type: function, function: {name, description, parameters}}.";
        api.MapGet("/tools/openai", (ToolCatalog catalog, [FromQuery] string? format, [FromQuery] string? tools) =>
                Results.Json(catalog.Definitions(format ?? "openai", Names(tools), sessionBound: false)))
            .WithName("ListFrameworkTools").WithTags("tools")
            .WithDescription("The sandbox's tools as function definitions for a non-MCP agent framework; each takes session_id. " + Tools);
        api.MapGet("/sessions/{id}/tools/openai", (string id, ToolCatalog catalog, SessionService sessions, HttpContext http, [FromQuery] string? format, [FromQuery] string? tools) =>
            {
                sessions.Get(id, CallerContext.Get(http));
                return Results.Json(catalog.Definitions(format ?? "openai", Names(tools), sessionBound: true));
            })
            .WithName("ListSessionFrameworkTools").WithTags("tools")
            .WithDescription("The tool definitions bound to this session: no session_id parameter; call them through /sessions/{id}/tools/call. " + Tools);

        api.MapPost("/tools/call", (ToolCatalog catalog, HttpContext http, JsonObject body, CancellationToken ct) => CallAsync(catalog, http, body, null, ct))
            .WithName("CallFrameworkTool").WithTags("tools")
            .WithDescription("Runs one tool call by name. The body is a call as a framework gives it: {name, arguments} with arguments as an object or "
                + "a JSON string (OpenAI), {function: {name, arguments}} (an OpenAI tool_call), or {name, input} (Anthropic tool_use). The answer is "
                + "{name, is_error, content (text for the model), structured}; a tool's own error (a missing file, a refused option) is is_error with "
                + "its code, so the model can read it.");
        api.MapPost("/sessions/{id}/tools/call", (string id, ToolCatalog catalog, HttpContext http, JsonObject body, CancellationToken ct) => CallAsync(catalog, http, body, id, ct))
            .WithName("CallSessionFrameworkTool").WithTags("tools")
            .WithDescription("Runs one tool call by name with this session as its session_id (same body and answer as /tools/call).");
    }

    private static IReadOnlyList<string>? Names(string? tools) =>
        string.IsNullOrWhiteSpace(tools) ? null : tools.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static async Task<IResult> CallAsync(ToolCatalog catalog, HttpContext http, JsonObject body, string? session, CancellationToken ct)
    {
        var call = body["function"] as JsonObject ?? body;
        var name = call["name"] is JsonValue n && n.GetValueKind() == JsonValueKind.String ? n.GetValue<string>()
            : throw new SandboxException(SandboxErrorCodes.InvalidArgument, "The call needs a name: {name, arguments}.");
        var arguments = (call["arguments"] ?? call["input"]) switch
        {
            null => [],
            JsonObject o => o.DeepClone().AsObject(),
            JsonValue v when v.GetValueKind() == JsonValueKind.String => Parse(v.GetValue<string>()),
            _ => throw new SandboxException(SandboxErrorCodes.InvalidArgument, "arguments must be an object or a JSON string of one."),
        };
        var result = await catalog.CallAsync(http.RequestServices, name, arguments, session, ct);
        var text = string.Join('\n', result.Content.Select(c => c switch
        {
            TextContentBlock t => t.Text,
            ImageContentBlock i => $"[image {i.MimeType}]",
            EmbeddedResourceBlock r => $"[binary {r.Resource.MimeType} {r.Resource.Uri}: read it with a download link (get_file_url)]",
            _ => $"[{c.Type}]",
        }));
        return Results.Json(new JsonObject
        {
            ["name"] = name,
            ["is_error"] = result.IsError == true,
            ["content"] = text,
            ["structured"] = result.StructuredContent is { } s ? JsonNode.Parse(s.GetRawText()) : null,
        });
    }

    private static JsonObject Parse(string text)
    {
        try
        {
            return JsonNode.Parse(text.Length == 0 ? "{}" : text) as JsonObject
                ?? throw new SandboxException(SandboxErrorCodes.InvalidArgument, "arguments must be a JSON object.");
        }
        catch (JsonException)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "arguments is not valid JSON.");
        }
    }
}
