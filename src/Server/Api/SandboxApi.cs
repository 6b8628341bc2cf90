using Sandbox.Server.Api;

namespace Microsoft.AspNetCore.Builder;

/// <summary>The REST face: every endpoint translates to one engine call; endpoints are grouped by area like the MCP tools.</summary>
public static class SandboxApi
{
    /// <summary>Maps <c>/api/...</c> and <c>/healthz</c>.</summary>
    public static IEndpointRouteBuilder MapSandboxApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var api = app.MapGroup("/api").WithTags("sessions");
        SessionEndpoints.Map(app, api);
        ExecutionEndpoints.Map(api);
        ProcessEndpoints.Map(api);
        FileEndpoints.Map(api);
        AgentEndpoints.Map(api);
        PackageEndpoints.Map(api);
        return app;
    }
}
