using Sandbox.Server.Hosting;

namespace Sandbox.Server.Mcp;

/// <summary>What every MCP tool class shares: the caller as owner, and the one mapping of results and errors.</summary>
public abstract class SandboxToolsBase(IHttpContextAccessor http, ILogger logger)
{
    /// <summary>The caller, whose sessions the tool may touch.</summary>
    protected string Owner => CallerContext.Get(http.HttpContext);

    /// <summary>The HTTP request of the call (null over stdio).</summary>
    protected HttpContext? Request => http.HttpContext;

    /// <summary>The bytes of a <c>content_base64</c> argument; anything but valid base64 is <c>invalid_argument</c>.</summary>
    protected static byte[] FromBase64(string? content) => Contracts.ContractValidation.Base64(content, "content_base64");

    /// <summary>Runs a tool body through <see cref="McpToolResults.RunAsync"/>.</summary>
    protected Task<CallToolResult> Run(Func<Task<CallToolResult>> body) => McpToolResults.RunAsync(logger, body);
}
