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

/// <summary>An installed package of an image.</summary>
/// <param name="Name">Package name.</param>
/// <param name="Version">Installed version.</param>
/// <param name="Manager">Where it comes from: <c>python</c> (importable distribution), <c>tool</c> (a command such as
/// <c>claude</c> or <c>node</c>, version as it reports it) or <c>system</c>.</param>
public sealed record PackageInfo(string Name, string Version, string Manager);

/// <summary>What an image offers.</summary>
/// <param name="Image">Image short name.</param>
/// <param name="Reference">Image reference.</param>
/// <param name="Languages">Languages execute accepts for it.</param>
/// <param name="Packages">Installed packages.</param>
public sealed record ImagePackages(string Image, string Reference, IReadOnlyList<string> Languages, IReadOnlyList<PackageInfo> Packages);
