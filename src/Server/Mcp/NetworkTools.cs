namespace Sandbox.Server.Mcp;

/// <summary>The MCP tools of a session's network (its egress allow list).</summary>
[McpServerToolType]
public sealed class NetworkTools(Sandbox.Egress.EgressService egress, IHttpContextAccessor http, ILogger<NetworkTools> logger) : SandboxToolsBase(http, logger)
{
    /// <summary>update_network.</summary>
    [McpServerTool(Name = "update_network", Title = "Change a session's allowed hosts", Destructive = false, OpenWorld = false)]
    [Description("Replaces the hosts a session may reach (only a session created with network_allow has a proxy to change). Takes effect for new " +
        "connections at once.")]
    public Task<CallToolResult> UpdateNetwork(
        [Description("The session_id.")] string session_id,
        [Description("The new allow list, e.g. [\"pypi.org\", \"*.pythonhosted.org\"]; [] allows nothing.")] string[] allow,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var s = (await egress.UpdateAsync(session_id, Owner, new Sandbox.Egress.NetworkRequest { Allow = allow ?? [] }, cancellationToken)).ToDto();
        return McpToolResults.Ok($"Session {s.Id}: {Describe(s.Network)}.", new { session = s });
    });

    /// <summary>A session's network in one phrase, for tool answers.</summary>
    internal static string Describe(NetworkDto? network) => network is null
        ? "no network"
        : "network through a proxy to " + (network.Allow.Count == 0 ? "nothing yet" : string.Join(", ", network.Allow))
          + (network.Secrets is { Count: > 0 } secrets ? "; secrets added for " + string.Join(", ", secrets) : "");
}
