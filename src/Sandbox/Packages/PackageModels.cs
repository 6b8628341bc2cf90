namespace Sandbox.Packages;

/// <summary>A request to install packages into a session.</summary>
public sealed record PackageInstallRequest
{
    /// <summary><c>pip</c> or <c>npm</c>.</summary>
    public string Manager { get; init; } = "pip";

    /// <summary>Package specs: <c>name</c> or <c>name==1.2.3</c> (pip), <c>name</c> or <c>name@1.2.3</c> (npm). Exact versions only.</summary>
    public required IReadOnlyList<string> Packages { get; init; }
}

/// <summary>One installed package.</summary>
/// <param name="Name">Package name.</param>
/// <param name="Version">Installed version.</param>
/// <param name="Manager"><c>pip</c> or <c>npm</c>.</param>
/// <param name="Cached">Whether it came from the shared cache without a fetch.</param>
/// <param name="Bytes">Bytes copied into the session (with its dependencies).</param>
public sealed record InstalledPackage(string Name, string Version, string Manager, bool Cached, long Bytes);

/// <summary>The outcome of an install.</summary>
/// <param name="Manager"><c>pip</c> or <c>npm</c>.</param>
/// <param name="Installed">What was installed.</param>
/// <param name="Location">Where in the workspace (<c>node_modules</c> or <c>.packages/python</c>).</param>
/// <param name="DurationMs">Duration in milliseconds.</param>
public sealed record PackageInstallResult(string Manager, IReadOnlyList<InstalledPackage> Installed, string Location, double DurationMs);
