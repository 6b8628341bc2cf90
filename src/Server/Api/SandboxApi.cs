using Sandbox.Server.Api;
using Sandbox.Server.Hosting;

namespace Microsoft.AspNetCore.Builder;

/// <summary>The REST face: every endpoint translates to one engine call; endpoints are grouped by area like the MCP tools.</summary>
public static class SandboxApi
{
    /// <summary>Maps <c>/api/...</c>, <c>/links/...</c> and <c>/healthz</c>.</summary>
    public static IEndpointRouteBuilder MapSandboxApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var api = app.MapGroup("/api").WithTags("sessions");
        ClusterAffinity.Mark(api);
        SessionEndpoints.Map(app, api);
        ExecutionEndpoints.Map(api);
        ProcessEndpoints.Map(api);
        FileEndpoints.Map(api);
        ArchiveEndpoints.Map(api);
        LinkEndpoints.Map(api);
        SnapshotEndpoints.Map(api);
        GitEndpoints.Map(api);
        TerminalEndpoints.Map(api);
        PortEndpoints.Map(api);
        app.MapMethods("/links/{token}/{**path}", ["GET", "HEAD", "PUT"], LinkEndpoints.ServeAsync).WithName("UseFileLink").ExcludeFromDescription()
            .WithMetadata(new ClusterAffinity(ClusterAffinityKind.Link, "token"));
        app.MapMethods("/volume-links/{token}/{**path}", ["GET", "HEAD", "PUT"], VolumeEndpoints.ServeAsync).WithName("UseVolumeFileLink").ExcludeFromDescription();
        AgentEndpoints.Map(api);
        JobEndpoints.Map(api);
        PackageEndpoints.Map(api);
        ToolEndpoints.Map(api);
        VolumeEndpoints.Map(api);
        ClusterEndpoints.Map(app, api);
        return app;
    }
}
