namespace Sandbox.Server.Mcp;

/// <summary>The MCP tools of preview ports: each translates its arguments to one engine call.</summary>
[McpServerToolType]
public sealed class PortTools(Sandbox.Ports.PortService ports, Microsoft.Extensions.Options.IOptions<Sandbox.Server.Hosting.ServerOptions> server,
    IHttpContextAccessor http, ILogger<PortTools> logger) : SandboxToolsBase(http, logger)
{
    /// <summary>expose_port.</summary>
    [McpServerTool(Name = "expose_port", Title = "Open a session's web server in the browser", Destructive = false, OpenWorld = false)]
    [Description("Makes a port a server in the session listens on (e.g. started with start_process) reachable through this server, HTTP and " +
        "WebSocket, with the same token as the API. The session itself gets no network.")]
    public Task<CallToolResult> ExposePort(
        [Description("The session_id.")] string session_id,
        [Description("The port the server in the session listens on (on any address, 127.0.0.1 included).")] int port,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        if (Request is null)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                "Preview ports are served by the HTTP server, and this one speaks MCP over stdio only. Connect through the HTTP endpoint (/mcp, or mcp-remote) to expose ports.");
        }
        var s = (await ports.ExposeAsync(session_id, Owner, port, cancellationToken)).ToDto();
        var url = PublicLinks.PortUrl(s.Id, port, Request, server.Value);
        return McpToolResults.Ok($"Port {port} of {s.Id} is at {url} (send the API token; the dashboard does it for a browser).", new { url, port, session = s });
    });

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
