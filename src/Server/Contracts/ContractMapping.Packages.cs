using Sandbox.Client.Contracts;
using Sandbox.Packages;

namespace Sandbox.Server.Contracts;

/// <summary>Package installs and image package lists between the wire and the engine.</summary>
internal static partial class ContractMapping
{
    public static Sandbox.Packages.PackageInstallRequest ToEngine(this InstallPackagesRequest r) => new()
    {
        Manager = string.IsNullOrEmpty(r.Manager) ? "pip" : r.Manager,
        Packages = r.Packages ?? [],
    };

    public static PackageInstallResultDto ToDto(this Sandbox.Packages.PackageInstallResult r) => new(r.Manager,
        r.Installed.Select(i => new InstalledPackageDto(i.Name, i.Version, i.Manager, i.Cached, i.Bytes)).ToList(), r.Location, Math.Round(r.DurationMs, 3));

    public static PackagesDto ToDto(this ImagePackages p) =>
        new(p.Image, p.Reference, p.Languages, p.Packages.Select(x => new PackageDto(x.Name, x.Version, x.Manager)).ToList());
}
