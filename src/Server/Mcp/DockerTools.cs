using Sandbox.NestedDocker;

namespace Sandbox.Server.Mcp;

/// <summary>The MCP tools of a session's own Docker engine (starting one is create_session's <c>docker</c>).</summary>
[McpServerToolType]
public sealed class DockerTools(NestedDockerService docker, IHttpContextAccessor http, ILogger<DockerTools> logger) : SandboxToolsBase(http, logger)
{
    /// <summary>docker_load_image.</summary>
    [McpServerTool(Name = "docker_load_image", Title = "Load an image into a session's Docker engine", Destructive = false, Idempotent = true, OpenWorld = false)]
    [Description("Loads an image of the server (one Sandbox:Docker:AllowedImages allows, e.g. sandbox-postgres:latest) into the Docker engine of a " +
        "session created with docker: true, so docker run and compose find it without a registry.")]
    public Task<CallToolResult> LoadImage(
        [Description("The session_id.")] string session_id,
        [Description("The image reference, e.g. sandbox-postgres:latest.")] string image,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var s = (await docker.LoadImageAsync(session_id, Owner, image, cancellationToken)).ToDto();
        return McpToolResults.Ok($"Image {image} is in the Docker engine of {s.Id} (images: {string.Join(", ", s.Docker?.Images ?? [])}).", new { session = s });
    });
}
