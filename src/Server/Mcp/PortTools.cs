namespace Sandbox.Server.Mcp;

/// <summary>The MCP tools of preview ports: each translates its arguments to one engine call.</summary>
[McpServerToolType]
public sealed class PortTools(Sandbox.Ports.PortService ports, Microsoft.Extensions.Options.IOptions<Sandbox.Server.Hosting.ServerOptions> server,
    IHttpContextAccessor http, ILogger<PortTools> logger) : SandboxToolsBase(http, logger)
{
    /// <summary>expose_port.</summary>
    [McpServerTool(Name = "expose_port", Title = "Open a session's web server in the browser", Destructive = false, OpenWorld = false)]
    [Description("Makes a port a server in the session listens on (e.g. started with start_process) reachable through this server, HTTP and " +
        "WebSocket, on an origin of its own ({port}-{session}.{preview domain}). Returns a link that opens it in a browser for a while " +
        "(open_preview gives a fresh one). The session itself gets no network.")]
    public Task<CallToolResult> ExposePort(
        [Description("The session_id.")] string session_id,
        [Description("The port the server in the session listens on (on any address, 127.0.0.1 included).")] int port,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        RequireHttp();
        var s = (await ports.ExposeAsync(session_id, Owner, port, cancellationToken)).ToDto();
        var preview = ports.Grant(s.Id, Owner, port).ToDto(Request, server.Value);
        return McpToolResults.Ok($"Port {port} of {s.Id} opens at {preview.Url} (until {preview.ExpiresAt:u}).", new { url = preview.Url, port, preview, session = s });
    });

    /// <summary>open_preview.</summary>
    [McpServerTool(Name = "open_preview", Title = "Get a link to a session's web server", Destructive = false, OpenWorld = false, ReadOnly = true)]
    [Description("A fresh link that opens the preview of an exposed port in a browser, and nothing else, until it expires. Programs send its " +
        "grant as the X-Sandbox-Preview-Grant header instead.")]
    public Task<CallToolResult> OpenPreview(
        [Description("The session_id.")] string session_id, [Description("The exposed port.")] int port,
        CancellationToken cancellationToken = default) => Run(() =>
    {
        RequireHttp();
        var preview = ports.Grant(session_id, Owner, port).ToDto(Request, server.Value);
        return Task.FromResult(McpToolResults.Ok($"Port {port} of {preview.SessionId} opens at {preview.Url} (until {preview.ExpiresAt:u}).",
            new { url = preview.Url, preview }));
    });

    private void RequireHttp()
    {
        if (Request is null)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                "Previews are served by the HTTP server, and this one speaks MCP over stdio only. Connect through the HTTP endpoint (/mcp, or mcp-remote) to expose ports.");
        }
    }

    /// <summary>unexpose_port.</summary>
    [McpServerTool(Name = "unexpose_port", Title = "Close a preview port", Destructive = true, OpenWorld = false)]
    [Description("Stops a port of the session from being reachable through this server.")]
    public Task<CallToolResult> UnexposePort(
        [Description("The session_id.")] string session_id, [Description("The port.")] int port,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var s = (await ports.UnexposeAsync(session_id, Owner, port, cancellationToken)).ToDto();
        return McpToolResults.Ok($"Port {port} of {s.Id} is closed.", new { session = s });
    });
}
