using Sandbox.Packages;

namespace Sandbox.Server.Mcp;

/// <summary>The MCP tools of the packages area.</summary>
[McpServerToolType]
public sealed class PackageTools(PackageCatalog catalog, PackageInstaller installer, IHttpContextAccessor http, ILogger<PackageTools> logger) : SandboxToolsBase(http, logger)
{
    /// <summary>get_packages.</summary>
    [McpServerTool(Name = "get_packages", Title = "List installed packages", ReadOnly = true, OpenWorld = false)]
    [Description("Lists what an image has installed (Python version and importable packages with versions). Sessions have no network, so only " +
        "these packages can be imported.")]
    public Task<CallToolResult> GetPackages([Description("Image name; 'python' by default.")] string? image = null, CancellationToken cancellationToken = default) => Run(async () =>
    {
        var p = (await catalog.GetAsync(image, cancellationToken)).ToDto();
        return McpToolResults.Ok($"{p.Image} ({p.Reference}): " + string.Join(", ", p.Packages.Select(x => $"{x.Name} {x.Version}")), p);
    });

    /// <summary>install_packages.</summary>
    [McpServerTool(Name = "install_packages", Title = "Install packages into a session", Destructive = false, OpenWorld = true)]
    [Description("Installs Python (pip) or JavaScript (npm) packages into a session; the session itself keeps no network (the server fetches them, " +
        "with dependencies and without running their install scripts, and copies them in). Python packages are importable at once (also in the " +
        "running interpreter); npm packages land in /workspace/node_modules for require() in node code ('agent' sessions have Node.js). Exact " +
        "versions only ('requests==2.32.3', 'lodash@4.17.21') or none for the latest. Packages the server's policy refuses, and unknown packages, " +
        "are errors; nothing is installed then. Check get_packages first: many packages are already there.")]
    public Task<CallToolResult> InstallPackages(
        [Description("The session_id.")] string session_id,
        [Description("Package specs, e.g. ['requests==2.32.3'] (pip) or ['lodash@4.17.21'] (npm).")] string[] packages,
        [Description("'pip' (default) or 'npm'.")] string manager = "pip",
        CancellationToken cancellationToken = default) => Run(async () =>
    {
        var r = (await installer.InstallAsync(session_id, Owner, new InstallPackagesRequest { Packages = packages, Manager = manager }.ToEngine(), cancellationToken)).ToDto();
        var list = string.Join(", ", r.Installed.Select(i => $"{i.Name} {i.Version}{(i.Cached ? " (cached)" : "")}"));
        return McpToolResults.Ok($"Installed into /workspace/{r.Location}: {list}.", new { result = r });
    });
}
