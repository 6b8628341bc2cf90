using Sandbox.Volumes;

namespace Sandbox.Server.Mcp;

/// <summary>The MCP tools of named volumes (mounting is create_session's <c>volumes</c>).</summary>
[McpServerToolType]
public sealed class VolumeTools(VolumeService volumes, IHttpContextAccessor http, ILogger<VolumeTools> logger) : SandboxToolsBase(http, logger)
{
    /// <summary>create_volume.</summary>
    [McpServerTool(Name = "create_volume", Title = "Create a named volume", Destructive = false, OpenWorld = false)]
    [Description("Creates an empty named volume: storage that outlives sessions (datasets, caches, model files). Mount it with create_session's " +
        "volumes; many sessions may read it at once, one at a time writes it (saved back when that session closes).")]
    public Task<CallToolResult> CreateVolume(
        [Description("Its name: lower-case letters, digits, '.', '_', '-'.")] string name,
        [Description("Its size limit in MiB (default 1024).")] int? size_mb = null,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var v = (await volumes.CreateAsync(Owner, name, size_mb, cancellationToken)).ToDto();
        return McpToolResults.Ok($"Volume {v.Name} created ({v.SizeMb} MiB). Mount it: create_session(volumes=[{{\"name\": \"{v.Name}\", \"path\": \"/data/{v.Name}\"}}]).", new { volume = v });
    });

    /// <summary>list_volumes.</summary>
    [McpServerTool(Name = "list_volumes", Title = "List your volumes", ReadOnly = true, OpenWorld = false)]
    [Description("Lists your named volumes: size limit, bytes used, files, and the sessions that mount them.")]
    public Task<CallToolResult> ListVolumes() => Run(() =>
    {
        var list = volumes.List(Owner).Select(v => v.ToDto()).ToList();
        var text = list.Count == 0 ? "You have no volumes (create_volume makes one)." : string.Join('\n', list.Select(v =>
            $"{v.Name}: {v.UsedBytes} of {(long)v.SizeMb << 20} bytes, {v.Files} entries{(v.Mounts.Count == 0 ? "" : ", mounted by " + string.Join(", ", v.Mounts.Select(m => $"{m.SessionId} at {m.Path}{(m.ReadOnly ? " (read-only)" : "")}")))}"));
        return Task.FromResult(McpToolResults.Ok(text, new { volumes = list }));
    });

    /// <summary>delete_volume.</summary>
    [McpServerTool(Name = "delete_volume", Title = "Delete a named volume", Destructive = true, OpenWorld = false)]
    [Description("Deletes a volume and its files. Refused while sessions mount it, unless force (they keep their copies; nothing is saved back).")]
    public Task<CallToolResult> DeleteVolume(
        [Description("The volume's name.")] string name,
        [Description("Delete even while sessions mount it.")] bool force = false,
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        await volumes.DeleteAsync(Owner, name, force, cancellationToken);
        return McpToolResults.Ok($"Volume {name} deleted.", new { deleted = name });
    });
}
